//! One module per subcommand; `dispatch` picks the one the command line asked for.

mod analyse;
mod check_graph;
mod eval;
mod execute;
pub(crate) mod graph;
pub(crate) mod index;
pub(crate) mod llm;
mod models;
mod run;
mod search;
mod stats;
mod status;
pub(crate) mod why_relevant;

use crate::cli::{Cli, Command};

/// Runs the subcommand.
pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Index(args) => index::run(&args, &cli.global),
        Command::Search(args) => search::run(&args, &cli.global),
        Command::WhyRelevant(args) => why_relevant::run(&args, &cli.global),
        Command::Status(args) => status::run(&args, &cli.global),
        Command::Graph(args) => graph::run(&args, &cli.global),
        Command::Eval(args) => eval::run(&args, &cli.global),
        Command::CheckGraph(args) => check_graph::run(&args, &cli.global),
        Command::Llm(command) => llm::run(&command, &cli.global),
        Command::Models(command) => models::run(&command),
        Command::Analyse(args) => analyse::run(&args, &cli.global),
        Command::Run(args) => run::run(&args, &cli.global),
        Command::Approve(args) => run::approve(&args, &cli.global),
        Command::Resume(args) => run::resume(&args, &cli.global),
        Command::Execute(args) => execute::run(&args, &cli.global),
        Command::Review(args) => execute::review(&args, &cli.global),
        Command::Rollback(args) => execute::rollback(&args, &cli.global),
        Command::Stats(args) => stats::run(&args, &cli.global),
        Command::Serve(args) => crate::serve::run(&args, &cli.global),
    }
}
