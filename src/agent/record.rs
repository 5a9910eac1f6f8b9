//! A run's record on disk and opening a run: what a run keeps beside its state machine
//! (analysis, questions, answers, the plan as written and as approved, failed validations),
//! where the newest run stands, and the plan file's place and commit.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sextant_index::store::IndexDir;

use super::plan::Plan;
use super::questions::Question;
use super::state::{Evidence, Run, RunLock, RunState};
use crate::git::{git, git_as_sextant};
use crate::settings::Settings;

/// What a run keeps beside its state.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Record {
    /// The analysis read off the manifests (and the model's reading, marked as such).
    pub analysis: Option<serde_json::Value>,
    /// The files retrieval selected for the task, each with its one-line reason.
    pub relevant: Vec<(String, String)>,
    /// The questions the model asked.
    pub questions: Vec<Question>,
    /// The user's answers, one per question.
    pub answers: Vec<String>,
    /// The plan file's absolute path.
    pub todo: String,
    /// blake3 of TODO.md as approved.
    pub approved_hash: Option<String>,
    /// The commit execution started from.
    #[serde(default)]
    pub base_commit: Option<String>,
    /// The branch execution started from (where the run's branch is merged back).
    #[serde(default)]
    pub base_branch: Option<String>,
    /// What the model is told about the repository (analysis, relevant files, template).
    #[serde(default)]
    pub context: String,
    /// The code retrieval selected and packed for the ask and plan stages (sent after
    /// `context`; re-packed smaller when a prompt does not fit the model's context).
    #[serde(default)]
    pub code: String,
    /// The validation command a step gets by default.
    #[serde(default)]
    pub test_command: String,
    /// TODO.md as sextant wrote it (approval shows the user's edits against it). The plan is
    /// not committed before approval: it is the first commit of the run's branch.
    #[serde(default)]
    pub planned_todo: String,
    /// Every failed validation, whole (the terminal shows only its tail).
    #[serde(default)]
    pub failed_validations: Vec<FailedValidation>,
    /// TODO.md as approved: execution checks the plan on the run's branch against it at every
    /// start (ticks aside), so no step or command changes after approval.
    #[serde(default)]
    pub approved_todo: String,
    /// What each stage's model calls were given of the code, and what was left out.
    #[serde(default)]
    pub context_use: Vec<super::context::ContextUse>,
    /// Every model call, in order, with the context it carried and its prompt's size.
    #[serde(default)]
    pub calls: Vec<super::context::ModelCall>,
}

/// A validation that failed during `execute`, kept in the run record.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FailedValidation {
    /// The step (1-based).
    pub step: usize,
    /// The attempt (1-based).
    pub attempt: usize,
    /// The validation command.
    pub command: String,
    /// `exit 3`, `timed out`, ….
    pub ending: String,
    /// The kept tail of stdout and stderr.
    pub output: String,
}

impl Record {
    /// What the ask and plan stages tell the model about the repository: the context, then
    /// the packed code.
    pub fn prompt_context(&self) -> String {
        format!("{}{}", self.context, self.code)
    }

    /// Keeps `calls` (taken from the client) in the record, each labelled with the context it
    /// carried: the newest [`ContextUse`](super::context::ContextUse).
    pub fn add_calls(&mut self, calls: Vec<crate::llm::CallMetrics>) {
        let context = self
            .context_use
            .last()
            .map(|usage| usage.stage.clone())
            .unwrap_or_default();
        let packing = self.context_use.len().checked_sub(1);
        self.calls.extend(
            calls
                .iter()
                .map(|metrics| super::context::ModelCall::new(metrics, &context, packing)),
        );
    }

    /// Writes run `id`'s record atomically.
    pub fn save(&self, index_dir: &IndexDir, id: &str) -> anyhow::Result<()> {
        std::fs::create_dir_all(index_dir.run_path(id))?;
        sextant_index::atomic::write(
            &index_dir.run_record_path(id),
            &serde_json::to_vec_pretty(self)?,
        )?;
        Ok(())
    }

    /// Reads run `id`'s record; a damaged one is an error with a hint.
    pub fn load(index_dir: &IndexDir, id: &str) -> anyhow::Result<Record> {
        let path = index_dir.run_record_path(id);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "run record {} is damaged\nhint: start a new run with `sextant run`, or restore the file",
                path.display()
            )
        })
    }

    /// What the state machine is shown to allow a stage: questions, answers, plan steps and
    /// whether TODO.md (`todo_hash`) is still the approved text.
    pub fn evidence(&self, plan_steps: usize, todo_hash: Option<&str>) -> Evidence {
        Evidence {
            questions: self.questions.len(),
            answers: self.answers.len(),
            plan_steps,
            plan_unchanged_since_approval: todo_hash.is_some()
                && self.approved_hash.as_deref() == todo_hash,
        }
    }

    /// The plan file relative to the repository root.
    pub fn todo_relative(&self, root: &Path) -> String {
        let todo = Path::new(&self.todo);
        todo.strip_prefix(root)
            .unwrap_or(todo)
            .to_string_lossy()
            .into_owned()
    }
}

/// The plan file of a run: TODO.md in the working tree, or, when the user is not on the
/// run's branch (where it was committed when execution started), as committed there.
pub fn plan_text(settings: &Settings, id: &str, record: &Record) -> anyhow::Result<String> {
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
pub fn todo_path(root: &Path, relative: &Path) -> anyhow::Result<PathBuf> {
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

/// A new run's id: its creation time, then the task's first words.
pub fn run_id(task: &str) -> String {
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

/// Commits the plan file alone (as sextant); `false` when there is no repository or nothing
/// changed.
pub fn commit_todo(root: &Path, todo: &Path, message: &str) -> anyhow::Result<bool> {
    if !root.join(".git").exists() {
        return Ok(false);
    }
    let relative = todo.strip_prefix(root).unwrap_or(todo);
    let relative = relative.to_string_lossy();
    git(root, &["add", "--", &relative])?;
    // `diff --quiet` succeeds when nothing is staged.
    if crate::git::succeeds(root, &["diff", "--cached", "--quiet", "--", &relative]) {
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

/// The newest run, by id (ids start with the creation time).
fn latest_run(index_dir: &IndexDir) -> anyhow::Result<String> {
    const NO_RUNS: &str = "no runs yet: start one with `sextant run \"TASK\"`";
    let runs = index_dir.runs_path();
    let entries = match std::fs::read_dir(&runs) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => bail!(NO_RUNS),
        Err(error) => {
            return Err(error).with_context(|| format!("reading runs in {}", runs.display()));
        }
    };
    let mut ids: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|id| index_dir.run_state_path(id).exists())
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
pub fn newest_run_status(settings: &Settings) -> anyhow::Result<Option<RunStatus>> {
    let index_dir = &settings.index_dir;
    if !index_dir.runs_path().is_dir() {
        return Ok(None);
    }
    let Ok(id) = latest_run(index_dir) else {
        return Ok(None);
    };
    let run = Run::load(index_dir, &id)?;
    let record = Record::load(index_dir, &id).unwrap_or_default();
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
pub struct OpenRun {
    /// The repository's settings.
    pub settings: Settings,
    /// The run's id.
    pub id: String,
    /// Its state machine.
    pub run: Run,
    /// What it keeps beside its state.
    pub record: Record,
    /// Held while the run is open: no other command works on it meanwhile.
    pub lock: RunLock,
}

impl OpenRun {
    /// Opens the run `id` (the newest when `None`) of the repository `settings` describe.
    pub fn open(settings: Settings, id: Option<&str>) -> anyhow::Result<OpenRun> {
        let index_dir = &settings.index_dir;
        let id = match id {
            Some(id) => id.to_string(),
            None => latest_run(index_dir)?,
        };
        let lock = Run::lock(index_dir, &id)?;
        let run = Run::load(index_dir, &id)?;
        let record = Record::load(index_dir, &id)?;
        Ok(OpenRun {
            settings,
            id,
            run,
            record,
            lock,
        })
    }

    /// Writes the run's state.
    pub fn save_run(&self) -> anyhow::Result<()> {
        self.run.save(&self.settings.index_dir)
    }

    /// Writes the run's record.
    pub fn save_record(&self) -> anyhow::Result<()> {
        self.record.save(&self.settings.index_dir, &self.id)
    }

    /// Writes both.
    pub fn save(&self) -> anyhow::Result<()> {
        self.save_record()?;
        self.save_run()
    }

    /// Marks the run failed with `error`'s chain as the reason, and keeps it.
    pub fn fail(&mut self, error: &anyhow::Error) -> anyhow::Result<()> {
        self.run.advance(
            RunState::Failed {
                reason: format!("{error:#}"),
            },
            &Evidence::default(),
        )?;
        self.save()
    }
}
