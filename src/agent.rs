//! The plan-first agent: analyse → ask → plan (TODO.md) → approve → execute step by step →
//! review, enforced by a persisted state machine (`state`). The workflow lives here, not in
//! the commands: `stages` takes a run up to an approved plan, `execution` runs the plan step
//! by step and reviews or rolls it back, `record` keeps what a run knows on disk; the
//! commands only read the terminal and print.

pub mod analyse;
pub mod context;
pub mod execution;
pub mod graph_context;
pub mod manifests;
pub mod plan;
pub mod planner;
pub mod questions;
pub mod record;
pub mod stages;
pub mod state;
pub mod templates;
pub mod validate;
