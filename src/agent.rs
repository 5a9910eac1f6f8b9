//! The plan-first agent: analyse → ask → plan (TODO.md) → approve → execute step by step →
//! review, enforced by a persisted state machine. This module holds the parts that need no
//! model: the state machine (`state`), the analysis read off manifests (`analyse`) and the
//! plan format with its validation (`plan`).

pub mod analyse;
pub mod manifests;
pub mod plan;
pub mod planner;
pub mod questions;
pub mod state;
pub mod templates;
pub mod validate;
