//! `sextant run`, `resume` and `approve`: the terminal side of the plan-first workflow up to
//! an approved plan (`agent::stages` does the work). `run` starts a run, shows the questions
//! and reads the answers (`--answers FILE` or the terminal); at a terminal a fresh plan can be
//! approved on the spot. `approve` shows the user's edits to TODO.md and records the approval.

use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, bail};

use crate::agent::questions::{self, Question};
use crate::agent::record::OpenRun;
use crate::agent::stages::{self, StartRequest};
use crate::agent::state::RunState;
use crate::cli::{ApproveArgs, GlobalArgs, LlmFlags, ResumeArgs, RunArgs};
use crate::output::print;
use crate::settings::{Overrides, Settings};

/// Shows the questions on stderr, then reads one answer per question from `file` or, at a
/// terminal, line by line (a number picks that option).
fn read_answers(file: Option<&Path>, questions: &[Question]) -> anyhow::Result<Vec<String>> {
    let mut shown = String::new();
    for (index, question) in questions.iter().enumerate() {
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

/// Runs the stages up to the plan, reading answers from `answers_file` or the terminal, and
/// offers approval.
fn continue_at_terminal(
    open: &mut OpenRun,
    flags: &LlmFlags,
    answers_file: Option<&Path>,
) -> anyhow::Result<()> {
    let llm = open.settings.llm(super::llm::flags_layer(flags))?;
    let planned = stages::continue_stages(open, llm, &mut |questions| {
        read_answers(answers_file, questions)
    })?;
    print(&planned)?;
    offer_approval(open)
}

/// Runs `sextant run`.
pub fn run(args: &RunArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(args.repo.as_deref(), global, &Overrides::default())?;
    let llm = settings.llm(super::llm::flags_layer(&args.llm))?;
    let mut open = stages::start(
        settings,
        &StartRequest {
            task: &args.task,
            todo: args.todo.as_deref().unwrap_or(Path::new("TODO.md")),
            template: args.template.as_deref(),
            llm: &llm,
        },
    )?;
    eprintln!(
        "run {}: analysed ({} relevant files)",
        open.id,
        open.record.relevant.len()
    );
    continue_at_terminal(&mut open, &args.llm, args.answers.as_deref())
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
        print(&stages::approve(open)?)
    } else {
        Ok(())
    }
}

/// Opens the run `id` (the newest when `None`) of the repository at `repo`.
pub(super) fn open_run(
    repo: Option<&Path>,
    id: Option<&str>,
    global: &GlobalArgs,
) -> anyhow::Result<OpenRun> {
    let settings = Settings::resolve(repo, global, &Overrides::default())?;
    OpenRun::open(settings, id)
}

/// Runs `sextant resume`: a run interrupted before its plan continues from the stage it
/// reached (questions already asked are not asked again).
pub fn resume(args: &ResumeArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let mut open = open_run(args.repo.as_deref(), args.run.as_deref(), global)?;
    if let Some(note) = stages::prepare_resume(&mut open)? {
        eprintln!("{note}");
    }
    continue_at_terminal(&mut open, &args.llm, args.answers.as_deref())
}

/// Runs `sextant approve`.
pub fn approve(args: &ApproveArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let mut open = open_run(args.repo.as_deref(), args.run.as_deref(), global)?;
    print(&stages::approve(&mut open)?)
}
