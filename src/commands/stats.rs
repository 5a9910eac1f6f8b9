//! `sextant stats`: how agent runs went — success rate, time to completion, failure types —
//! and what each stage cost in model calls, tokens, time and memory (the model server's, where
//! it reports it, and sextant's own peak), from the per-call metrics log.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::agent::record::Record;
use crate::agent::state::{Run, RunState};
use crate::cli::{GlobalArgs, StatsArgs};
use crate::llm::metrics::CallMetrics;
use crate::output::{print, print_json};
use crate::settings::{Overrides, Settings};

/// Totals for one workflow stage.
#[derive(Debug, Default, Serialize)]
struct StageCost {
    calls: usize,
    failed_calls: usize,
    prompt_tokens: u64,
    completion_tokens: u64,
    wall_ms: u64,
    tokens_per_second_median: Option<f64>,
    /// Most memory the model server reported holding for the model after a call.
    server_memory_bytes_max: Option<u64>,
    /// Most of it in GPU memory.
    server_vram_bytes_max: Option<u64>,
    /// sextant's own peak resident memory in the commands that ran this stage.
    sextant_peak_rss_bytes_max: Option<u64>,
    #[serde(skip)]
    speeds: Vec<f64>,
}

/// What one stage's calls were given of the code, over every run (from the run records).
#[derive(Debug, Default, Serialize)]
struct ContextStats {
    /// Times the code was selected and packed (a step's context, a re-packing).
    packings: usize,
    /// Model calls that carried it (runs recorded before calls were kept count none).
    calls: usize,
    /// Calls refused before sending because the model's context could not hold the prompt
    /// (each followed by a smaller packing).
    too_long: usize,
    tokens_median: Option<f64>,
    budget_tokens_median: Option<f64>,
    files_median: Option<f64>,
    /// Files considered and left out, summed.
    left_out: usize,
    #[serde(skip)]
    tokens: Vec<f64>,
    #[serde(skip)]
    budgets: Vec<f64>,
    #[serde(skip)]
    files: Vec<f64>,
}

/// The report.
#[derive(Debug, Default, Serialize)]
struct Stats {
    runs: usize,
    completed: usize,
    failed: usize,
    /// Runs stopped by something outside the agent's work (the model server unreachable,
    /// Ctrl-C): they resume from the stage that stopped, so they are not failures.
    interrupted: usize,
    rolled_back: usize,
    in_progress: usize,
    success_rate: Option<f64>,
    completion_seconds_median: Option<f64>,
    failure_types: BTreeMap<String, usize>,
    stages: BTreeMap<String, StageCost>,
    /// Code sent to the model per stage (`ask+plan`, `execute`).
    context: BTreeMap<String, ContextStats>,
}

/// Sorts a failure reason into a kind people can count.
fn failure_type(reason: &str) -> &'static str {
    let lower = reason.to_lowercase();
    if lower.contains("question") || lower.contains("ask reply") {
        "questions"
    } else if lower.contains("split the task") {
        "plan too big"
    } else if lower.contains("plan") {
        "plan"
    } else if lower.starts_with("step ") && lower.contains("failed") {
        "step validation"
    } else if lower.contains("connect") || lower.contains("timed out") || lower.contains("server") {
        "model server"
    } else {
        "other"
    }
}

/// Whether a failure reason says the run was stopped from outside (the model server could
/// not be reached, the user pressed Ctrl-C) rather than failed at its work.
fn interruption(reason: &str) -> bool {
    let lower = reason.to_lowercase();
    lower.contains("cannot reach the")
        || lower.contains("cancelled")
        || lower.contains("interrupted (ctrl-c)")
}

fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

/// Runs `sextant stats`.
pub fn run(args: &StatsArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(args.repo.as_deref(), global, &Overrides::default())?;
    let index_dir = &settings.index_dir;
    let mut stats = Stats::default();
    let mut durations = Vec::new();
    if let Ok(entries) = std::fs::read_dir(index_dir.runs_path()) {
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            let Ok(run) = Run::load(index_dir, &id) else {
                continue;
            };
            stats.runs += 1;
            let record = Record::load(index_dir, &id).ok();
            // `execute-3` and `execute-3 (shrunk 1)` count as `execute`.
            let stage_of =
                |name: &str| name.split(['-', ' ']).next().unwrap_or("other").to_string();
            for call in record.iter().flat_map(|r| &r.calls) {
                let context = stats.context.entry(stage_of(&call.context)).or_default();
                context.calls += 1;
                context.too_long += usize::from(call.outcome == "prompt_too_long");
            }
            for usage in record.iter().flat_map(|r| &r.context_use) {
                let context = stats.context.entry(stage_of(&usage.stage)).or_default();
                context.packings += 1;
                context.tokens.push(usage.tokens() as f64);
                context.budgets.push(usage.budget_tokens as f64);
                let files: std::collections::BTreeSet<&str> =
                    usage.sent.iter().map(|s| s.path.as_str()).collect();
                context.files.push(files.len() as f64);
                context.left_out += usage.left_out.len();
            }
            let started = run.history.first().map_or(0, |(t, _)| *t);
            let ended = run.history.last().map_or(0, |(t, _)| *t);
            let executed_all = run
                .history
                .iter()
                .any(|(_, s)| matches!(s, RunState::Executing { .. }))
                && record
                    .as_ref()
                    .and_then(|record| std::fs::read_to_string(&record.todo).ok())
                    .and_then(|text| crate::agent::plan::Plan::parse(&text).ok())
                    .is_some_and(|plan| plan.steps.iter().all(|s| s.done));
            match &run.state {
                RunState::Reviewed | RunState::Done => {
                    stats.completed += 1;
                    durations.push(ended.saturating_sub(started) as f64);
                }
                RunState::Executing { .. } if executed_all => {
                    stats.completed += 1;
                    durations.push(ended.saturating_sub(started) as f64);
                }
                RunState::Failed { reason } if interruption(reason) => stats.interrupted += 1,
                RunState::Failed { reason } => {
                    stats.failed += 1;
                    *stats
                        .failure_types
                        .entry(failure_type(reason).to_string())
                        .or_default() += 1;
                }
                RunState::RolledBack => stats.rolled_back += 1,
                _ => stats.in_progress += 1,
            }
        }
    }
    let finished = stats.completed + stats.failed;
    stats.success_rate = (finished > 0).then(|| stats.completed as f64 / finished as f64);
    stats.completion_seconds_median = median(&mut durations);
    if let Ok(log) = std::fs::read_to_string(settings.llm_metrics_path()) {
        for line in log.lines() {
            let Ok(call) = serde_json::from_str::<CallMetrics>(line) else {
                continue;
            };
            if call.run.is_none() {
                continue;
            }
            // `execute-3` counts as `execute`.
            let stage = call
                .stage
                .as_deref()
                .unwrap_or("other")
                .split('-')
                .next()
                .unwrap_or("other")
                .to_string();
            let cost = stats.stages.entry(stage).or_default();
            cost.calls += 1;
            if call.outcome != "ok" {
                cost.failed_calls += 1;
            }
            cost.prompt_tokens += u64::from(call.prompt_tokens.unwrap_or(0));
            cost.completion_tokens += u64::from(call.completion_tokens.unwrap_or(0));
            cost.wall_ms += call.wall_ms;
            cost.speeds.extend(call.tokens_per_second);
            let most = |a: Option<u64>, b: Option<u64>| a.max(b);
            cost.server_memory_bytes_max =
                most(cost.server_memory_bytes_max, call.server_memory_bytes);
            cost.server_vram_bytes_max = most(cost.server_vram_bytes_max, call.server_vram_bytes);
            cost.sextant_peak_rss_bytes_max =
                most(cost.sextant_peak_rss_bytes_max, call.sextant_peak_rss_bytes);
        }
    }
    for cost in stats.stages.values_mut() {
        cost.tokens_per_second_median = median(&mut cost.speeds);
    }
    for context in stats.context.values_mut() {
        context.tokens_median = median(&mut context.tokens);
        context.budget_tokens_median = median(&mut context.budgets);
        context.files_median = median(&mut context.files);
    }
    if args.json {
        return print_json(&stats);
    }
    let mut out = format!(
        "{} runs: {} completed, {} failed, {} interrupted (resumable), {} rolled back, {} in progress\n",
        stats.runs,
        stats.completed,
        stats.failed,
        stats.interrupted,
        stats.rolled_back,
        stats.in_progress
    );
    if let Some(rate) = stats.success_rate {
        let _ = writeln!(out, "success rate {:.0} %", rate * 100.0);
    }
    if let Some(seconds) = stats.completion_seconds_median {
        let _ = writeln!(out, "median time to completion {seconds:.0} s");
    }
    for (kind, count) in &stats.failure_types {
        let _ = writeln!(out, "failures: {count} × {kind}");
    }
    for (stage, cost) in &stats.stages {
        let _ = writeln!(
            out,
            "{stage:>8}: {} calls ({} failed), {} tokens in, {} out, {:.1} s{}",
            cost.calls,
            cost.failed_calls,
            cost.prompt_tokens,
            cost.completion_tokens,
            cost.wall_ms as f64 / 1000.0,
            cost.tokens_per_second_median
                .map_or(String::new(), |t| format!(", {t:.0} tokens/s median"))
        );
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        let mut memory = Vec::new();
        if let Some(bytes) = cost.server_memory_bytes_max {
            memory.push(match cost.server_vram_bytes_max {
                Some(vram) => format!(
                    "model server {:.0} MiB ({:.0} MiB GPU)",
                    mib(bytes),
                    mib(vram)
                ),
                None => format!("model server {:.0} MiB", mib(bytes)),
            });
        }
        if let Some(bytes) = cost.sextant_peak_rss_bytes_max {
            memory.push(format!("sextant peak {:.0} MiB", mib(bytes)));
        }
        if !memory.is_empty() {
            let _ = writeln!(out, "{:>8}  memory: {}", "", memory.join(", "));
        }
    }
    for (stage, context) in &stats.context {
        let _ = writeln!(
            out,
            "{stage:>8}: code sent to the model: median {:.0} of {:.0} tokens, {:.0} files, packed {} times for {} calls ({} too long for the model's context, packed again smaller); {} files left out",
            context.tokens_median.unwrap_or(0.0),
            context.budget_tokens_median.unwrap_or(0.0),
            context.files_median.unwrap_or(0.0),
            context.packings,
            context.calls,
            context.too_long,
            context.left_out
        );
    }
    print(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_sorted_into_kinds() {
        assert_eq!(
            failure_type("step 2 (Add f2) failed 3 times; earlier steps are committed"),
            "step validation"
        );
        assert_eq!(
            failure_type("the plan needs 16 steps (more than 15): split the task"),
            "plan too big"
        );
        assert_eq!(
            failure_type(
                "no acceptable ask reply after 3 attempts; last problem: Those questions are rejected"
            ),
            "questions"
        );
        assert_eq!(
            failure_type("no acceptable plan reply after 3 attempts"),
            "plan"
        );
        assert_eq!(
            failure_type("cannot connect to http://127.0.0.1:1"),
            "model server"
        );
    }
}
