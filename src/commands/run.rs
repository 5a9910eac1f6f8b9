//! `sextant run` and `sextant approve`: the plan-first workflow up to an approved plan.
//!
//! `run` analyses the repository (manifests + the index's ranking for the task), asks 2–4
//! specific questions, takes the answers (`--answers FILE` or the terminal), has the model
//! plan, validates the plan, writes TODO.md and commits it. `approve` re-reads TODO.md (the
//! user may have edited it), validates it again, shows what changed and records the approval.
//! Every stage goes through the run state machine, which refuses anything out of order.

use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::agent::analyse::{Analysis, analyse, indexed_languages};
use crate::agent::plan::{Plan, SPLIT_ABOVE};
use crate::agent::planner::{self, Planned};
use crate::agent::questions::{self, Question};
use crate::agent::state::{Evidence, Run, RunLock, RunState};
use crate::agent::templates;
use crate::cli::{ApproveArgs, GlobalArgs, ResumeArgs, RunArgs};
use crate::git::{git, git_as_sextant};
use crate::llm::Llm;
use crate::output::print;
use crate::rank::pack::{Budget, TokenCounter};
use crate::retrieval::Retrieval;
use crate::settings::{Overrides, Settings};

/// What a run keeps beside its state.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Record {
    pub(super) analysis: Option<serde_json::Value>,
    pub(super) relevant: Vec<(String, String)>,
    pub(super) questions: Vec<Question>,
    pub(super) answers: Vec<String>,
    pub(super) todo: String,
    /// blake3 of TODO.md as approved.
    pub(super) approved_hash: Option<String>,
    /// The commit execution started from.
    #[serde(default)]
    pub(super) base_commit: Option<String>,
    /// The branch execution started from (where the run's branch is merged back).
    #[serde(default)]
    pub(super) base_branch: Option<String>,
    /// What the model is told about the repository (analysis, relevant files, template).
    #[serde(default)]
    pub(super) context: String,
    /// The validation command a step gets by default.
    #[serde(default)]
    pub(super) test_command: String,
    /// TODO.md as sextant wrote it (approval shows the user's edits against it). The plan is
    /// not committed before approval: it is the first commit of the run's branch.
    #[serde(default)]
    pub(super) planned_todo: String,
    /// Every failed validation, whole (the terminal shows only its tail).
    #[serde(default)]
    pub(super) failed_validations: Vec<FailedValidation>,
    /// TODO.md as approved: execution checks the plan on the run's branch against it at every
    /// start (ticks aside), so no step or command changes after approval.
    #[serde(default)]
    pub(super) approved_todo: String,
}

/// A validation that failed during `execute`, kept in the run record.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(super) struct FailedValidation {
    pub(super) step: usize,
    pub(super) attempt: usize,
    pub(super) command: String,
    /// `exit 3`, `timed out`, ….
    pub(super) ending: String,
    /// The kept tail of stdout and stderr.
    pub(super) output: String,
}

pub(super) fn runs_dir(settings: &Settings) -> PathBuf {
    settings.index_dir.path().join("runs")
}

fn record_path(settings: &Settings, id: &str) -> PathBuf {
    Run::dir(&runs_dir(settings), id).join("record.json")
}

pub(super) fn save_record(settings: &Settings, id: &str, record: &Record) -> anyhow::Result<()> {
    let path = record_path(settings, id);
    std::fs::create_dir_all(path.parent().context("run dir")?)?;
    sextant_index::atomic::write(&path, &serde_json::to_vec_pretty(record)?)?;
    Ok(())
}

fn load_record(settings: &Settings, id: &str) -> anyhow::Result<Record> {
    let path = record_path(settings, id);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "run record {} is damaged\nhint: start a new run with `sextant run`, or restore the file",
            path.display()
        )
    })
}

/// The plan file of a run: TODO.md in the working tree, or, when the user is not on the
/// run's branch (where it was committed when execution started), as committed there.
pub(super) fn plan_text(settings: &Settings, id: &str, record: &Record) -> anyhow::Result<String> {
    let todo = Path::new(&record.todo);
    if let Ok(text) = std::fs::read_to_string(todo) {
        return Ok(text);
    }
    let relative = todo.strip_prefix(&settings.root).unwrap_or(todo);
    git(
        &settings.root,
        &["show", &format!("sextant/{id}:{}", relative.display())],
    )
    .with_context(|| format!("reading {} (the run's plan)", todo.display()))
}

/// Where the plan goes: a path inside the repository that resolves inside it (a symlinked
/// TODO.md or directory pointing out is refused), and not a file of the user's that is not a
/// sextant plan (it would be overwritten).
fn todo_path(root: &Path, relative: &Path) -> anyhow::Result<PathBuf> {
    let text = relative.to_string_lossy();
    let path = crate::edit::safe_path(root, &text).context("the plan file (--todo)")?;
    match std::fs::read_to_string(&path) {
        Ok(existing)
            if !existing.trim().is_empty() && !existing.trim_start().starts_with("# Plan:") =>
        {
            bail!(
                "{} exists and is not a sextant plan; it is left alone: give the plan another file with --todo PATH",
                relative.display()
            )
        }
        _ => Ok(path),
    }
}

fn run_id(task: &str) -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let slug: String = task
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(5)
        .collect::<Vec<_>>()
        .join("-");
    format!("{seconds}-{slug}")
}

/// Share of the model's context the code may take at most, whatever else is left: the
/// questions and the plan need room for the conversation around it.
const MAX_CODE_SHARE: f64 = 0.6;
/// Tokens kept free besides the reply: chat templates, the answers, the repair turns.
const PROMPT_MARGIN_TOKENS: usize = 1_024;
/// Below this many tokens of room, code is left out and only the file list is sent.
const MIN_CODE_TOKENS: usize = 500;

/// What retrieval gives the ask and plan stages: the files it selected, each with its one-line
/// reason, and their code packed into the room the model's context leaves.
struct SelectedCode {
    relevant: Vec<(String, String)>,
    sections: String,
    budget_tokens: usize,
}

/// Selects and packs the code for the task through the one retrieval path (vectors included
/// when installed), as `why-relevant --context` would, within the room the model's context
/// leaves after the reply, the fixed prompt and a margin. The budget is in the BPE tokens
/// `why-relevant` counts; it is also kept within what the server-side estimate of 3 bytes
/// per token allows, so no prompt is refused or cut for size.
fn selected_code(
    settings: &Settings,
    task: &str,
    llm: &crate::llm::config::LlmSettings,
    fixed_text: &str,
    secrets: &crate::secrets::SecretRules,
) -> anyhow::Result<SelectedCode> {
    let weights = settings.rank.weights;
    let mut retrieval = Retrieval::for_settings(settings, weights.vector > 0.0)
        .context("opening the index (run `sextant index` first)")?;
    let counter = TokenCounter::named(&settings.rank.tokenizer)?;
    let context = llm.context_size as usize;
    let room = context
        .saturating_sub(llm.max_tokens as usize)
        .saturating_sub(counter.count(fixed_text))
        .saturating_sub(PROMPT_MARGIN_TOKENS);
    // Code averages about 4 bytes per BPE token; the estimate counts 3, so 3/4 of the room.
    let budget_tokens = (room * 3 / 4).min((context as f64 * MAX_CODE_SHARE) as usize);
    // Too little room for code: the selection is still made (at the configured budget), and
    // only the list with its reasons is sent.
    let budget = Budget {
        tokens: if budget_tokens < MIN_CODE_TOKENS {
            settings.rank.budget.tokens
        } else {
            budget_tokens
        },
        ..settings.rank.budget
    };
    let answer = retrieval.answer(task, &weights, &counter, &budget, secrets)?;
    let relevant = answer
        .packed
        .files
        .iter()
        .filter_map(|file| {
            let ranked = answer.ranked.iter().find(|r| r.path == file.path)?;
            let reason =
                crate::rank::reasons::one_line(&ranked.signals, &std::collections::BTreeSet::new());
            Some((file.path.clone(), reason))
        })
        .collect();
    let sections = if budget_tokens < MIN_CODE_TOKENS {
        String::new()
    } else {
        answer
            .packed
            .files
            .iter()
            .map(|file| format!("{}\n", file.section))
            .collect()
    };
    Ok(SelectedCode {
        relevant,
        sections,
        budget_tokens,
    })
}

/// The model's reading of what the manifests left empty goes into the run's analysis (marked
/// as the model's) and into the context the planner gets.
fn add_model_reading(
    record: &mut Record,
    reading: &questions::ModelAnalysis,
) -> anyhow::Result<()> {
    let Some(value) = record.analysis.take() else {
        return Ok(());
    };
    let mut analysis: Analysis = serde_json::from_value(value)?;
    let added = analysis.add_model_reading(reading);
    if !added.is_empty() {
        record
            .context
            .push_str("\n\nThe model's reading of the repository:\n");
        for line in added {
            let _ = writeln!(record.context, "- {line}");
        }
    }
    record.analysis = Some(serde_json::to_value(&analysis)?);
    Ok(())
}

fn context_text(analysis: &Analysis, relevant: &[(String, String)]) -> String {
    let mut out = serde_json::to_string_pretty(analysis).unwrap_or_default();
    out.push_str("\n\nRelevant files:\n");
    for (path, reason) in relevant {
        let _ = writeln!(out, "- {path}: {reason}");
    }
    out
}

fn read_answers(file: Option<&Path>, questions: &[Question]) -> anyhow::Result<Vec<String>> {
    if let Some(file) = file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading answers from {}", file.display()))?;
        return questions::answers_from(&text, questions.len());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!("the questions need answers: give them with --answers FILE (one per line)");
    }
    let mut answers = Vec::new();
    let mut lines = stdin.lock().lines();
    for (index, question) in questions.iter().enumerate() {
        eprint!("answer {} > ", index + 1);
        std::io::stderr().flush()?;
        let line = lines.next().context("no answer")??;
        let line = line.trim();
        // A number picks an option.
        let answer = line
            .parse::<usize>()
            .ok()
            .and_then(|n| question.options.get(n.wrapping_sub(1)))
            .cloned()
            .unwrap_or_else(|| line.to_string());
        answers.push(answer);
    }
    Ok(answers)
}

pub(super) fn commit_todo(root: &Path, todo: &Path, message: &str) -> anyhow::Result<bool> {
    if !root.join(".git").exists() {
        return Ok(false);
    }
    let relative = todo.strip_prefix(root).unwrap_or(todo);
    let relative = relative.to_string_lossy();
    git(root, &["add", "--", &relative])?;
    let staged = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["diff", "--cached", "--quiet", "--", &relative])
        .status()?;
    if staged.success() {
        return Ok(false);
    }
    git_as_sextant(
        root,
        &[
            "commit", "--quiet", "--only", "-m", message, "--", &relative,
        ],
    )?;
    Ok(true)
}

pub(super) fn evidence(record: &Record, plan_steps: usize, todo_hash: Option<&str>) -> Evidence {
    Evidence {
        questions: record.questions.len(),
        answers: record.answers.len(),
        plan_steps,
        plan_unchanged_since_approval: todo_hash.is_some()
            && record.approved_hash.as_deref() == todo_hash,
    }
}

/// Runs `sextant run`.
pub fn run(args: &RunArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(args.repo.as_deref(), global, &Overrides::default())?;
    let todo = todo_path(
        &settings.root,
        args.todo.as_deref().unwrap_or(Path::new("TODO.md")),
    )?;
    // The task goes to the model verbatim: a secret pasted into it is refused, not sent.
    let secrets = settings.secret_rules()?;
    if let Some((rule, _)) = secrets.check_content(&args.task) {
        bail!(
            "the task holds what looks like a secret ({rule}); it would be sent to the model: leave it out"
        );
    }
    let runs = runs_dir(&settings);
    // A template is resolved before anything starts, so a wrong name costs nothing.
    let template = match &args.template {
        Some(name) => Some(templates::find(
            name,
            &settings.index_dir.path().join("templates"),
        )?),
        None => None,
    };
    let languages = settings
        .index_dir
        .open()
        .map(|s| indexed_languages(&s.manifest))
        .unwrap_or_default();
    let analysis = analyse(&settings.root, languages);
    let llm_settings = settings.llm(crate::commands::llm::flags_layer(&args.llm))?;
    // The fixed parts of the longest prompt (the plan's): its rules, the task, the analysis.
    let fixed = format!(
        "{}\n{}\n{}",
        crate::agent::planner::messages(&args.task, "", &[], &[], "")
            .iter()
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        args.task,
        serde_json::to_string_pretty(&analysis).unwrap_or_default()
    );
    let code = selected_code(&settings, &args.task, &llm_settings, &fixed, &secrets)?;
    let relevant = code.relevant.clone();
    let id = run_id(&args.task);
    let lock = Run::lock(&runs, &id)?;
    let run = Run::new(&id, &args.task);
    let mut context = context_text(&analysis, &relevant);
    if !code.sections.is_empty() {
        context.push_str(&format!(
            "\nThe code of those files, selected and packed by sextant ({} tokens at most):\n\n{}",
            code.budget_tokens, code.sections
        ));
    }
    if let Some(template) = &template {
        context.push('\n');
        context.push_str(&template.guidance());
    }
    let record = Record {
        analysis: Some(serde_json::to_value(&analysis)?),
        relevant: relevant.clone(),
        todo: todo.display().to_string(),
        context,
        test_command: analysis
            .test_commands
            .first()
            .cloned()
            .unwrap_or_else(|| "true".to_string()),
        ..Record::default()
    };
    run.save(&runs)?;
    save_record(&settings, &id, &record)?;
    eprintln!("run {id}: analysed ({} relevant files)", relevant.len());
    let mut open = OpenRun {
        settings,
        runs,
        id,
        run,
        record,
        _lock: lock,
    };
    continue_stages(&mut open, &args.llm, args.answers.as_deref())?;
    offer_approval(&mut open)
}

/// At a terminal, a freshly planned run can be approved on the spot with `y` (anything else
/// leaves it planned, for review or edits and `sextant approve`).
fn offer_approval(open: &mut OpenRun) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    if open.run.state != RunState::Planned || !stdin.is_terminal() {
        return Ok(());
    }
    let todo = std::fs::read_to_string(&open.record.todo).unwrap_or_default();
    eprint!(
        "{}\napprove this plan now? [y/N] ",
        crate::output::shown(&todo)
    );
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    if matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
        print(&approve_open(open)?)
    } else {
        Ok(())
    }
}

/// Runs `sextant resume`: a run interrupted before its plan continues from the stage it
/// reached (questions already asked are not asked again).
pub fn resume(args: &ResumeArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let mut open = open_run(args.repo.as_deref(), args.run.as_deref(), global)?;
    // A run that failed before its plan (a model server that was down, an unusable reply)
    // continues from the stage that failed.
    if let Some(RunState::Analysed | RunState::Asked | RunState::Answered) = open.run.failed_from()
    {
        let stage = open.run.recover()?.name();
        open.run.save(&open.runs)?;
        eprintln!("run {}: failed earlier; continuing from `{stage}`", open.id);
    }
    match open.run.state {
        RunState::Analysed | RunState::Asked | RunState::Answered => {}
        RunState::Failed { .. } => bail!(
            "run {} failed while {}: `sextant {}` continues it",
            open.id,
            open.run
                .failed_from()
                .map_or("finishing".into(), RunState::name),
            match open.run.failed_from() {
                Some(RunState::Planned) => "approve",
                Some(RunState::Approved | RunState::Executing { .. }) => "execute",
                _ => "run",
            }
        ),
        ref other => bail!(
            "run {} is {}: resume continues runs stopped before their plan (`sextant execute` resumes execution)",
            open.id,
            other.name()
        ),
    }
    continue_stages(&mut open, &args.llm, args.answers.as_deref())?;
    offer_approval(&mut open)
}

/// Takes a run from wherever it stands before planning up to a written plan.
fn continue_stages(
    open: &mut OpenRun,
    flags: &crate::cli::LlmFlags,
    answers_file: Option<&Path>,
) -> anyhow::Result<()> {
    let OpenRun {
        settings,
        runs,
        id,
        run,
        record,
        _lock: _held,
    } = open;
    let llm = Llm::new(
        settings.llm(crate::commands::llm::flags_layer(flags))?,
        Some(settings.llm_metrics_path()),
    )?
    .for_run(id);
    let task = run.task.clone();
    let fail = |run: &mut Run, reason: String| -> anyhow::Result<()> {
        run.advance(RunState::Failed { reason }, &Evidence::default())?;
        run.save(runs)
    };
    if run.state == RunState::Analysed {
        match questions::ask(&llm, &task, &record.context) {
            Ok(asked) => {
                record.questions = asked.questions;
                add_model_reading(record, &asked.analysis)?;
            }
            Err(error) => {
                fail(run, format!("{error:#}"))?;
                return Err(error);
            }
        }
        run.advance(RunState::Asked, &evidence(record, 0, None))?;
        save_record(settings, id, record)?;
        run.save(runs)?;
    }
    if run.state == RunState::Asked {
        let mut shown = String::new();
        for (index, question) in record.questions.iter().enumerate() {
            let _ = writeln!(
                shown,
                "{}. {} [{}]",
                index + 1,
                question.question,
                question.decision
            );
            for (n, option) in question.options.iter().enumerate() {
                let _ = writeln!(shown, "     {}) {option}", n + 1);
            }
        }
        eprint!("{}", crate::output::shown(&shown));
        record.answers = read_answers(answers_file, &record.questions)?;
        run.advance(RunState::Answered, &evidence(record, 0, None))?;
        save_record(settings, id, record)?;
        run.save(runs)?;
    }
    let planned = match planner::plan(
        &llm,
        &task,
        &record.context,
        &record.questions,
        &record.answers,
        &record.test_command,
    ) {
        Ok(planned) => planned,
        Err(error) => {
            fail(run, format!("{error:#}"))?;
            return Err(error);
        }
    };
    let plan = match planned {
        Planned::Plan(plan) => plan,
        Planned::TooBig { steps } => {
            let reason = format!(
                "the plan needs {steps} steps (more than {SPLIT_ABOVE}): split the task into sub-tasks and run `sextant run` for each"
            );
            fail(run, reason.clone())?;
            bail!("{reason}");
        }
    };
    let todo = PathBuf::from(&record.todo);
    let text = plan.render();
    crate::edit::write_file(
        &settings.root,
        &todo
            .strip_prefix(&settings.root)
            .unwrap_or(&todo)
            .to_string_lossy(),
        text.as_bytes(),
    )
    .with_context(|| format!("writing {}", todo.display()))?;
    record.planned_todo = text;
    run.advance(RunState::Planned, &evidence(record, plan.steps.len(), None))?;
    save_record(settings, id, record)?;
    run.save(runs)?;
    print(&format!(
        "run {id}: planned {} steps in {} (not committed: nothing lands on your branch before you approve; the plan is the first commit of branch sextant/{id})\nreview or edit it, then `sextant approve`\n",
        plan.steps.len(),
        todo.strip_prefix(&settings.root).unwrap_or(&todo).display(),
    ))
}

/// The newest run, by id (ids start with the creation time).
fn latest_run(runs: &Path) -> anyhow::Result<String> {
    const NO_RUNS: &str = "no runs yet: start one with `sextant run \"TASK\"`";
    let entries = match std::fs::read_dir(runs) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => bail!(NO_RUNS),
        Err(error) => {
            return Err(error).with_context(|| format!("reading runs in {}", runs.display()));
        }
    };
    let mut ids: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().join("run.json").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort_by_key(|id| {
        (
            id.split('-')
                .next()
                .and_then(|t| t.parse::<u64>().ok())
                .unwrap_or(0),
            id.clone(),
        )
    });
    ids.pop().context(NO_RUNS)
}

/// Where the newest run stands, for `sextant status`.
#[derive(Debug, Serialize)]
pub struct RunStatus {
    /// Run id.
    pub id: String,
    /// The task.
    pub task: String,
    /// State name (`planned`, `executing step 3`, `failed`, …).
    pub state: String,
    /// Why it failed, when it did.
    pub failure: Option<String>,
    /// Steps ticked in TODO.md, when it holds a readable plan.
    pub steps_done: Option<usize>,
    /// Steps in TODO.md, when it holds a readable plan.
    pub steps_total: Option<usize>,
    /// When the run last changed state (seconds since the Unix epoch).
    pub updated_at_unix: u64,
    /// What the user does next.
    pub next: String,
}

/// The newest run's status, or `None` when no run was started here.
pub(super) fn newest_run_status(settings: &Settings) -> anyhow::Result<Option<RunStatus>> {
    let runs = runs_dir(settings);
    if !runs.is_dir() {
        return Ok(None);
    }
    let Ok(id) = latest_run(&runs) else {
        return Ok(None);
    };
    let run = Run::load(&runs, &id)?;
    let record = load_record(settings, &id).unwrap_or_default();
    let plan = (!record.todo.is_empty())
        .then(|| plan_text(settings, &id, &record).ok())
        .flatten()
        .and_then(|text| Plan::parse(&text).ok());
    let next = match &run.state {
        RunState::Analysed | RunState::Asked => {
            "answer the questions: `sextant resume --answers FILE` (or at the terminal)".into()
        }
        RunState::Answered => "`sextant resume` writes the plan".into(),
        RunState::Planned => format!(
            "review or edit {}, then `sextant approve`",
            Path::new(&record.todo)
                .strip_prefix(&settings.root)
                .unwrap_or(Path::new(&record.todo))
                .display()
        ),
        RunState::Approved => "`sextant execute` (or `sextant execute --dry-run` first)".into(),
        RunState::Executing { step } => {
            format!("`sextant execute` continues at step {step}")
        }
        RunState::Reviewed => {
            format!("merge branch sextant/{id}; the next `sextant review` marks the run done")
        }
        RunState::Done | RunState::RolledBack => "nothing: the run is finished".into(),
        RunState::Failed { .. } => match run.failed_from() {
            Some(RunState::Analysed | RunState::Asked | RunState::Answered) => {
                "`sextant resume` continues from the stage that failed".into()
            }
            Some(RunState::Planned) => format!(
                "review or edit {}, then `sextant approve`",
                Path::new(&record.todo)
                    .strip_prefix(&settings.root)
                    .unwrap_or(Path::new(&record.todo))
                    .display()
            ),
            Some(RunState::Approved) => "`sextant execute` starts it again".into(),
            Some(RunState::Executing { step }) => format!(
                "`sextant execute` retries step {step}; `sextant rollback` reverts the steps committed so far"
            ),
            _ => "`sextant rollback` reverts its steps; start again with `sextant run`".into(),
        },
    };
    Ok(Some(RunStatus {
        failure: match &run.state {
            RunState::Failed { reason } => Some(reason.clone()),
            _ => None,
        },
        state: run.state.name(),
        steps_done: plan
            .as_ref()
            .map(|p| p.steps.iter().filter(|s| s.done).count()),
        steps_total: plan.as_ref().map(|p| p.steps.len()),
        updated_at_unix: run.history.last().map_or(0, |(at, _)| *at),
        id,
        task: run.task,
        next,
    }))
}

/// An existing run, opened for a later stage (and locked while open).
pub(super) struct OpenRun {
    pub(super) settings: Settings,
    pub(super) runs: PathBuf,
    pub(super) id: String,
    pub(super) run: Run,
    pub(super) record: Record,
    pub(super) _lock: RunLock,
}

/// Opens the run `id` (the newest when `None`) of the repository at `repo`.
pub(super) fn open_run(
    repo: Option<&Path>,
    id: Option<&str>,
    global: &GlobalArgs,
) -> anyhow::Result<OpenRun> {
    let settings = Settings::resolve(repo, global, &Overrides::default())?;
    let runs = runs_dir(&settings);
    let id = match id {
        Some(id) => id.to_string(),
        None => latest_run(&runs)?,
    };
    let lock = Run::lock(&runs, &id)?;
    let run = Run::load(&runs, &id)?;
    let record = load_record(&settings, &id)?;
    Ok(OpenRun {
        settings,
        runs,
        id,
        run,
        record,
        _lock: lock,
    })
}

/// Runs `sextant approve`.
pub fn approve(args: &ApproveArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let mut open = open_run(args.repo.as_deref(), args.run.as_deref(), global)?;
    print(&approve_open(&mut open)?)
}

/// Approves an open planned run: re-validates TODO.md, shows and commits the user's edits,
/// records the approved content. Returns what to print.
fn approve_open(open: &mut OpenRun) -> anyhow::Result<String> {
    let OpenRun {
        settings,
        runs,
        id,
        run,
        record,
        _lock: _held,
    } = open;
    if run.failed_from() == Some(&RunState::Planned) {
        run.recover()?;
    }
    if run.state != RunState::Planned {
        bail!(
            "run {id} is {}: only a planned run can be approved",
            run.state.name()
        );
    }
    let todo = PathBuf::from(&record.todo);
    // The plan approved is the one inside the repository: a TODO.md swapped for a link out
    // is refused.
    crate::edit::safe_path(
        &settings.root,
        &todo
            .strip_prefix(&settings.root)
            .unwrap_or(&todo)
            .to_string_lossy(),
    )
    .with_context(|| format!("{} cannot be approved", todo.display()))?;
    let text =
        std::fs::read_to_string(&todo).with_context(|| format!("reading {}", todo.display()))?;
    let plan =
        Plan::parse(&text).with_context(|| format!("{} cannot be approved", todo.display()))?;
    let mut out = String::new();
    let settings = &*settings;
    // What the user changed since sextant wrote it, if anything.
    if !record.planned_todo.is_empty() && record.planned_todo != text {
        let diff = similar::TextDiff::from_lines(&record.planned_todo, &text);
        let _ = writeln!(out, "TODO.md was edited; changes since it was written:");
        let _ = write!(
            out,
            "{}",
            diff.unified_diff()
                .context_radius(1)
                .header("planned", "approved")
        );
    }
    let hash = blake3::hash(text.as_bytes()).to_hex().to_string();
    run.advance(
        RunState::Approved,
        &evidence(record, plan.steps.len(), None),
    )?;
    record.approved_hash = Some(hash);
    record.approved_todo = text.clone();
    save_record(settings, id, record)?;
    run.save(runs)?;
    let _ = writeln!(out, "run {id}: approved {} steps", plan.steps.len());
    Ok(out)
}
