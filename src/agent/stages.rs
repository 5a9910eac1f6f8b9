//! The workflow up to an approved plan: a run is started (analysis, the code retrieval
//! selects), asked about, answered, planned and approved, each stage through the run's state
//! machine. Nothing here reads the terminal: answers come from the caller, and what to show
//! comes back as text.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::analyse::{Analysis, analyse, indexed_languages};
use super::context::{
    ContextUse, LeftOut, MIN_CODE_TOKENS, SHRINKS, Sent, code_budget, smaller_budget,
};
use super::plan::{Plan, SPLIT_ABOVE};
use super::planner::{self, Planned};
use super::questions::{self, Question};
use super::record::{OpenRun, Record, run_id, todo_path};
use super::state::{Run, RunState};
use super::templates;
use crate::llm::Llm;
use crate::llm::config::LlmSettings;
use crate::rank::pack::{Budget, TokenCounter};
use crate::retrieval::Retrieval;
use crate::settings::Settings;

/// What retrieval gives the ask and plan stages: the files it selected, each with its one-line
/// reason, and their code packed into the room the model's context leaves.
struct SelectedCode {
    relevant: Vec<(String, String)>,
    code: String,
    usage: ContextUse,
}

/// Selects and packs the code for the task through the one retrieval path (vectors included
/// when installed), as `why-relevant --context` would, within `budget_tokens` (the room the
/// model's context leaves after the reply, the fixed prompt and a margin, in the BPE tokens
/// `why-relevant` counts). With too little room the selection is still made, and only the
/// list with its reasons is sent. `stage` names the account kept of it.
fn selected_code(
    settings: &Settings,
    task: &str,
    budget_tokens: usize,
    secrets: &crate::secrets::SecretRules,
    stage: &str,
) -> anyhow::Result<SelectedCode> {
    let weights = settings.rank.weights;
    let mut retrieval = Retrieval::for_settings(settings, weights.vector > 0.0)
        .context("opening the index (run `sextant index` first)")?;
    let counter = TokenCounter::named(&settings.rank.tokenizer)?;
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
    let code_sent = budget_tokens >= MIN_CODE_TOKENS;
    let usage = ContextUse {
        stage: stage.into(),
        budget_tokens,
        sent: answer
            .packed
            .files
            .iter()
            .filter(|_| code_sent)
            .map(|file| Sent {
                path: file.path.clone(),
                form: file.inclusion.name().to_string(),
                tokens: file.tokens,
            })
            .collect(),
        left_out: if code_sent {
            answer
                .packed
                .passed
                .iter()
                .map(|passed| LeftOut {
                    path: passed.path.clone(),
                    reason: passed.reason.clone(),
                })
                .collect()
        } else {
            answer
                .packed
                .files
                .iter()
                .map(|file| LeftOut {
                    path: file.path.clone(),
                    reason: format!(
                        "the model's context leaves {budget_tokens} tokens for code (under {MIN_CODE_TOKENS}): listed only"
                    ),
                })
                .collect()
        },
    };
    let sections: String = if code_sent {
        answer
            .packed
            .files
            .iter()
            .map(|file| format!("{}\n", file.section))
            .collect()
    } else {
        String::new()
    };
    let code = if sections.is_empty() {
        String::new()
    } else {
        format!(
            "\nThe code of those files, selected and packed by sextant ({budget_tokens} tokens at most):\n\n{sections}"
        )
    };
    Ok(SelectedCode {
        relevant,
        code,
        usage,
    })
}

/// The account name of the code the ask and plan stages carry.
const ASK_PLAN_CONTEXT: &str = "ask+plan";
/// Calls `call` with what the ask and plan stages tell the model (context and packed code),
/// keeps the calls it made in the run record, and, when the model's own tokenizer finds the
/// prompt longer than its context holds, packs the code again into less room and calls again
/// (at most [`SHRINKS`] times), so a prompt is neither cut by the server nor refused for
/// want of a smaller selection.
fn with_room<T>(
    open: &mut OpenRun,
    llm: &Llm,
    call: impl Fn(&Llm, &str) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    for shrink in 1..=SHRINKS + 1 {
        let result = call(llm, &open.record.prompt_context());
        let calls = llm.take_calls();
        // The refused prompt's size, whole (rules, task, questions and all).
        let prompt_bytes = calls.last().and_then(|c| c.prompt_bytes).unwrap_or(0) as usize;
        open.record.add_calls(calls);
        let error = match result {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let Some(over) = too_long(&error) else {
            return Err(error);
        };
        let sent = open.record.context_use.last().map_or(0, ContextUse::tokens);
        // A run recorded before the code was kept apart (inside `context`) cannot be re-packed.
        if shrink > SHRINKS || sent == 0 || open.record.code.is_empty() {
            return Err(error);
        }
        let budget = smaller_budget(
            sent,
            &over,
            open.record.code.len(),
            prompt_bytes.max(open.record.prompt_context().len()),
        );
        let secrets = open.settings.secret_rules()?;
        let code = selected_code(
            &open.settings,
            &open.run.task,
            budget,
            &secrets,
            &format!(
                "{ASK_PLAN_CONTEXT} (shrunk {})",
                open.record
                    .context_use
                    .iter()
                    .filter(|u| u.stage.starts_with(ASK_PLAN_CONTEXT))
                    .count()
            ),
        )?;
        open.record.code = code.code;
        open.record.context_use.push(code.usage);
        open.save()?;
    }
    unreachable!("the loop returns on its last turn")
}

/// The prompt the model's context could not hold, when that is what `error` is.
pub(crate) fn too_long(error: &anyhow::Error) -> Option<crate::llm::LlmError> {
    error.chain().find_map(
        |cause| match cause.downcast_ref::<crate::llm::LlmError>()? {
            crate::llm::LlmError::PromptTooLong {
                prompt_tokens,
                reply_tokens,
                context,
            } => Some(crate::llm::LlmError::PromptTooLong {
                prompt_tokens: *prompt_tokens,
                reply_tokens: *reply_tokens,
                context: *context,
            }),
            _ => None,
        },
    )
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

/// What starts a run.
pub struct StartRequest<'a> {
    /// The task, as the user wrote it.
    pub task: &'a str,
    /// The plan file, relative to the repository root.
    pub todo: &'a Path,
    /// A plan template's name, if one was asked for.
    pub template: Option<&'a str>,
    /// The model's settings (its context size decides how much code is sent).
    pub llm: &'a LlmSettings,
}

/// Starts a run: refuses a task holding a secret, analyses the repository, selects and packs
/// the code for the task, and records it all as the run's first stage (`analysed`).
pub fn start(settings: Settings, request: &StartRequest) -> anyhow::Result<OpenRun> {
    let todo = todo_path(&settings.root, request.todo)?;
    // The task goes to the model verbatim: a secret pasted into it is refused, not sent.
    let secrets = settings.secret_rules()?;
    if let Some((rule, _)) = secrets.check_content(request.task) {
        bail!(
            "the task holds what looks like a secret ({rule}); it would be sent to the model: leave it out"
        );
    }
    // A template is resolved before anything starts, so a wrong name costs nothing.
    let template = match request.template {
        Some(name) => Some(templates::find(name, &settings.index_dir.templates_path())?),
        None => None,
    };
    let languages = settings
        .index_dir
        .open()
        .map(|s| indexed_languages(&s.manifest))
        .unwrap_or_default();
    let analysis = analyse(&settings.root, languages);
    // The fixed parts of the longest prompt (the plan's): its rules, the task, the analysis.
    let fixed = format!(
        "{}\n{}\n{}",
        planner::messages(request.task, "", &[], &[], "")
            .iter()
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        request.task,
        serde_json::to_string_pretty(&analysis).unwrap_or_default()
    );
    let counter = TokenCounter::named(&settings.rank.tokenizer)?;
    let budget_tokens = code_budget(request.llm, &counter, &fixed);
    let code = selected_code(
        &settings,
        request.task,
        budget_tokens,
        &secrets,
        ASK_PLAN_CONTEXT,
    )?;
    let id = run_id(request.task);
    let lock = Run::lock(&settings.index_dir, &id)?;
    let run = Run::new(&id, request.task);
    let mut context = context_text(&analysis, &code.relevant);
    if let Some(template) = &template {
        context.push('\n');
        context.push_str(&template.guidance());
    }
    let record = Record {
        analysis: Some(serde_json::to_value(&analysis)?),
        relevant: code.relevant,
        context_use: vec![code.usage],
        todo: todo.display().to_string(),
        context,
        code: code.code,
        test_command: analysis
            .test_commands
            .first()
            .cloned()
            .unwrap_or_else(|| "true".to_string()),
        ..Record::default()
    };
    let open = OpenRun {
        settings,
        id,
        run,
        record,
        lock,
    };
    open.save()?;
    Ok(open)
}

/// Where `sextant resume` continues a run stopped before its plan: a run that failed before
/// its plan (a model server that was down, an unusable reply) goes back to the stage that
/// failed, named in the returned note. Any other state is refused with what continues it.
pub fn prepare_resume(open: &mut OpenRun) -> anyhow::Result<Option<String>> {
    let mut note = None;
    if let Some(RunState::Analysed | RunState::Asked | RunState::Answered) = open.run.failed_from()
    {
        let stage = open.run.recover()?.name();
        open.save_run()?;
        note = Some(format!(
            "run {}: failed earlier; continuing from `{stage}`",
            open.id
        ));
    }
    match open.run.state {
        RunState::Analysed | RunState::Asked | RunState::Answered => Ok(note),
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
}

/// Takes a run from wherever it stands before planning up to a written (uncommitted) plan.
/// `answer` is given the questions and returns one answer per question. Returns what to tell
/// the user.
pub fn continue_stages(
    open: &mut OpenRun,
    llm: LlmSettings,
    answer: &mut dyn FnMut(&[Question]) -> anyhow::Result<Vec<String>>,
) -> anyhow::Result<String> {
    let llm = Llm::new(llm, Some(open.settings.llm_metrics_path()))?.for_run(&open.id);
    let task = open.run.task.clone();
    if open.run.state == RunState::Analysed {
        match with_room(open, &llm, |llm, context| {
            questions::ask(llm, &task, context)
        }) {
            Ok(asked) => {
                open.record.questions = asked.questions;
                add_model_reading(&mut open.record, &asked.analysis)?;
            }
            Err(error) => {
                open.fail(&error)?;
                return Err(error);
            }
        }
        open.run
            .advance(RunState::Asked, &open.record.evidence(0, None))?;
        open.save()?;
    }
    if open.run.state == RunState::Asked {
        open.record.answers = answer(&open.record.questions)?;
        open.run
            .advance(RunState::Answered, &open.record.evidence(0, None))?;
        open.save()?;
    }
    // The graph of the last committed generation, for the plan's affected parts (a plan is
    // still written without one, and says so).
    let index_dir = &open.settings.index_dir;
    let graph = index_dir
        .open()
        .ok()
        .and_then(|snapshot| snapshot.read_graph(index_dir).ok());
    let root = open.settings.root.clone();
    let repository = planner::Repository {
        root: &root,
        graph: graph.as_ref(),
    };
    let (questions, answers, test_command) = (
        open.record.questions.clone(),
        open.record.answers.clone(),
        open.record.test_command.clone(),
    );
    let planned = match with_room(open, &llm, |llm, context| {
        planner::plan(
            llm,
            &repository,
            &task,
            context,
            &questions,
            &answers,
            &test_command,
        )
    }) {
        Ok(planned) => planned,
        Err(error) => {
            open.fail(&error)?;
            return Err(error);
        }
    };
    let plan = match planned {
        Planned::Plan(plan) => plan,
        Planned::TooBig { steps } => {
            let error = anyhow::anyhow!(
                "the plan needs {steps} steps (more than {SPLIT_ABOVE}): split the task into sub-tasks and run `sextant run` for each"
            );
            open.fail(&error)?;
            return Err(error);
        }
    };
    let root = &open.settings.root;
    let todo = PathBuf::from(&open.record.todo);
    let text = plan.render();
    crate::edit::write_file(root, &open.record.todo_relative(root), text.as_bytes())
        .with_context(|| format!("writing {}", todo.display()))?;
    open.record.planned_todo = text;
    open.run.advance(
        RunState::Planned,
        &open.record.evidence(plan.steps.len(), None),
    )?;
    open.save()?;
    Ok(format!(
        "run {id}: planned {} steps in {} (not committed: nothing lands on your branch before you approve; the plan is the first commit of branch sextant/{id})\nreview or edit it, then `sextant approve`\n",
        plan.steps.len(),
        open.record.todo_relative(root),
        id = open.id,
    ))
}

/// Approves an open planned run: re-validates TODO.md, shows and commits the user's edits,
/// records the approved content. Returns what to print.
pub fn approve(open: &mut OpenRun) -> anyhow::Result<String> {
    let OpenRun {
        settings,
        id,
        run,
        record,
        ..
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
    crate::edit::safe_path(&settings.root, &record.todo_relative(&settings.root))
        .with_context(|| format!("{} cannot be approved", todo.display()))?;
    let text =
        std::fs::read_to_string(&todo).with_context(|| format!("reading {}", todo.display()))?;
    let plan =
        Plan::parse(&text).with_context(|| format!("{} cannot be approved", todo.display()))?;
    let missing = plan.missing_files(&settings.root);
    if !missing.is_empty() {
        bail!(
            "{} cannot be approved: it names files that do not exist:\n{}",
            todo.display(),
            missing
                .iter()
                .map(|m| format!("  - {m}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    let mut out = String::new();
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
    run.advance(RunState::Approved, &record.evidence(plan.steps.len(), None))?;
    record.approved_hash = Some(hash);
    record.approved_todo = text.clone();
    record.save(&settings.index_dir, id)?;
    run.save(&settings.index_dir)?;
    let _ = writeln!(out, "run {id}: approved {} steps", plan.steps.len());
    Ok(out)
}
