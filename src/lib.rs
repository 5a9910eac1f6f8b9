//! sextant: a retrieval index and a plan-first agent for large repositories.
//!
//! This crate is the command-line side: argument parsing (`cli`), settings resolution
//! (`settings`), one module per subcommand (`commands`), and terminal output helpers. The index
//! itself lives in the `sextant-index` crate.

pub mod agent;
pub mod bounds;
pub mod cli;
pub mod commands;
pub mod edit;
pub mod eval;
pub mod git;
pub mod llm;
pub mod models;
pub mod output;
pub mod progress;
pub mod rank;
pub mod retrieval;
pub mod secrets;
pub mod serve;
pub mod settings;
pub mod watch;

use std::process::ExitCode;

use clap::Parser;

/// Exit code for success.
pub const EXIT_OK: u8 = 0;
/// Exit code for a failure (bad input, damaged index, I/O error).
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for bad usage (clap's own choice, kept).
pub const EXIT_USAGE: u8 = 2;
/// Exit code when another process holds the index lock: retrying later may succeed.
pub const EXIT_LOCKED: u8 = 3;

/// Runs the command line and returns the process exit code.
pub fn run() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::dispatch(cli) {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(error) => ExitCode::from(report_error(&error)),
    }
}

/// Prints an error with its causes and any hint, and picks the exit code.
fn report_error(error: &anyhow::Error) -> u8 {
    if output::is_broken_pipe(error) {
        return EXIT_OK;
    }
    let mut message = format!("error: {error}");
    for cause in error.chain().skip(1) {
        message.push_str(&format!("\n  caused by: {cause}"));
    }
    // Errors quote model replies and file names: never raw control sequences.
    eprintln!("{}", output::shown(&message));
    let store_error = error.chain().find_map(store_error_in);
    let llm_hint = error
        .chain()
        .find_map(|e| e.downcast_ref::<llm::LlmError>())
        .and_then(llm::LlmError::hint);
    if let Some(hint) = store_error
        .and_then(hint_for)
        .map(str::to_string)
        .or(llm_hint)
    {
        eprintln!("hint: {hint}");
    }
    if error.chain().any(|e| e.is::<bounds::UsageError>()) {
        return EXIT_USAGE;
    }
    match store_error {
        Some(sextant_index::store::StoreError::Locked(_)) => EXIT_LOCKED,
        _ => EXIT_FAILURE,
    }
}

/// The index-store error behind an error, whether raw or wrapped by an index run.
fn store_error_in<'e>(
    error: &'e (dyn std::error::Error + 'static),
) -> Option<&'e sextant_index::store::StoreError> {
    use sextant_index::update::IndexError;
    match error.downcast_ref::<IndexError>() {
        Some(IndexError::Store(inner)) => Some(inner),
        _ => error.downcast_ref(),
    }
}

fn hint_for(error: &sextant_index::store::StoreError) -> Option<&'static str> {
    use sextant_index::store::StoreError;
    match error {
        StoreError::Missing(_) => Some("run `sextant index` in the repository first"),
        StoreError::Corrupt { .. }
        | StoreError::Incompatible { .. }
        | StoreError::OtherVersion { .. } => {
            Some("run `sextant index` to rebuild the index from scratch")
        }
        StoreError::Locked(_) => {
            Some("wait for the other run to finish; the lock is released when that process exits")
        }
        _ => None,
    }
}
