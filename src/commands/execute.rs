//! `sextant execute`, `review` and `rollback`: the terminal side of executing an approved plan
//! (`agent::execution` does the work): step confirmations are asked here, and what happened
//! is printed.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use anyhow::bail;

use super::run::open_run;
use crate::agent::execution::{self, ExecuteOptions, StepHost};
use crate::cli::{ExecuteArgs, GlobalArgs, ReviewArgs, RollbackArgs};
use crate::output::print;

/// Execution at the terminal: confirmations read from stdin, notes on stderr.
struct Terminal;

impl StepHost for Terminal {
    fn confirm(&mut self, number: usize, total: usize, title: &str) -> anyhow::Result<bool> {
        eprint!(
            "{}",
            crate::output::shown(&format!("step {number}/{total}: {title} — run it? [y/N] "))
        );
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
    }

    fn note(&mut self, text: &str) {
        eprint!("{}", crate::output::shown(text));
    }
}

/// Runs `sextant execute`.
pub fn run(args: &ExecuteArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let open = open_run(args.repo.as_deref(), args.run.as_deref(), global)?;
    if args.confirm_steps && !std::io::stdin().is_terminal() {
        bail!("--confirm-steps needs a terminal to answer on");
    }
    let options = ExecuteOptions {
        dry_run: args.dry_run,
        confirm_steps: args.confirm_steps,
        attempts: args.attempts,
        timeout: Duration::from_secs_f64(args.timeout),
        llm: open.settings.llm(super::llm::flags_layer(&args.llm))?,
    };
    let executed = execution::execute(open, &options, &mut Terminal)?;
    print(&executed.report)?;
    executed.result
}

/// Runs `sextant review`: plan against what was done, then the diff; records the review.
pub fn review(args: &ReviewArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let open = open_run(args.repo.as_deref(), args.run.as_deref(), global)?;
    print(&execution::review(open, args.stat)?)
}

/// Runs `sextant rollback [STEP]`: reverts the commits of STEP and every later step (all steps
/// by default), newest first, as new commits; the run ends rolled back.
pub fn rollback(args: &RollbackArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let open = open_run(args.repo.as_deref(), args.run.as_deref(), global)?;
    print(&execution::rollback(open, args.step.unwrap_or(1))?)
}
