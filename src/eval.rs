//! `sextant eval`: how good is the context sextant picks, on this repository's own history?
//!
//! Queries are the messages of recent commits that changed 1–4 existing non-test source files;
//! the answer is those files. Every query runs against one index of the repository as it was
//! just before the oldest selected commit, so no query can see its own change (nor any later
//! one); the price is that later queries see a slightly older tree than their own parent. Two
//! rankers run on the same rows: plain BM25 over whole files (the baseline) and sextant's
//! ranking ([`crate::rank`], exactly as `why-relevant` uses it).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

use anyhow::bail;
use serde::Serialize;
use sextant_index::Language;
use sextant_index::lexical::LexicalIndex;

use crate::git::git;
use crate::rank::kind::is_test_path;
use crate::rank::pack::Budget;

/// Most files a commit may change to be a query: more is a refactoring, not a task.
pub const MAX_GOLD_FILES: usize = 4;
/// Fewest words a commit subject needs to be a descriptive query.
pub const MIN_MESSAGE_WORDS: usize = 4;
/// Ranks evaluated.
const CUTOFFS: [usize; 4] = [1, 5, 10, 15];

/// One query: a commit, its message and the files it changed.
#[derive(Clone, Debug, Serialize)]
pub struct EvalQuery {
    /// Commit id.
    pub commit: String,
    /// The query text (the subject without a trailing PR number, and the body if asked).
    pub message: String,
    /// Files the commit modified.
    pub gold: Vec<String>,
}

/// What of a commit's message is the query.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QueryText {
    /// The subject line alone: a one-line task, the harder and default protocol.
    #[default]
    Subject,
    /// Subject and body, trailers and bare links dropped: a task described in a paragraph.
    Message,
}

/// The subject as a query: `rt: add foo (#123)` → `rt: add foo`.
fn query_text(subject: &str) -> String {
    let trimmed = subject.trim();
    let without_pr = match trimmed.rfind(" (#") {
        Some(at) if trimmed.ends_with(')') => &trimmed[..at],
        _ => trimmed,
    };
    without_pr.trim().to_string()
}

/// A commit body as task text: without trailers (`Signed-off-by: …`), bare links and blank
/// lines, which describe the commit's provenance rather than the task.
fn body_text(body: &str) -> String {
    let mut kept = Vec::new();
    for line in body.lines().map(str::trim) {
        let is_trailer = line
            .split_once(": ")
            .is_some_and(|(key, _)| key.ends_with("-by") || key.eq_ignore_ascii_case("Change-Id"));
        let is_link = line.starts_with("http://") || line.starts_with("https://");
        if !line.is_empty() && !is_trailer && !is_link {
            kept.push(line);
        }
    }
    kept.join("\n")
}

/// Picks up to `count` recent commits usable as queries, newest first, and the commit whose
/// tree the index is built from (the parent of the oldest one picked).
pub fn select_queries(
    repo: &Path,
    head: &str,
    count: usize,
    text: QueryText,
) -> anyhow::Result<(String, Vec<EvalQuery>)> {
    let log = git(
        repo,
        &[
            "log",
            "--first-parent",
            "--no-merges",
            "-n",
            "3000",
            "--format=%x1e%H%x1f%P%x1f%s%x1f%b",
            head,
        ],
    )?;
    let mut queries = Vec::new();
    let mut base = None;
    for record in log.split('\u{1e}') {
        let mut fields = record.trim_start().splitn(4, '\u{1f}');
        let (Some(commit), Some(parents), Some(subject)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let body = fields.next().unwrap_or_default();
        let Some(parent) = parents.split_whitespace().next() else {
            continue;
        };
        let message = query_text(subject);
        let lower = message.to_ascii_lowercase();
        let boring = [
            "merge",
            "bump",
            "revert",
            "release",
            "chore(deps)",
            "update dependencies",
            "prepare",
        ]
        .iter()
        .any(|p| lower.starts_with(p));
        if boring || message.split_whitespace().count() < MIN_MESSAGE_WORDS {
            continue;
        }
        let changes = git(
            repo,
            &["diff-tree", "--no-commit-id", "--name-status", "-r", commit],
        )?;
        let mut gold = Vec::new();
        let mut usable = true;
        for change in changes.lines() {
            let mut parts = change.split('\t');
            let (Some(status), Some(path)) = (parts.next(), parts.next()) else {
                continue;
            };
            if is_test_path(path) || Language::from_path(Path::new(path)) == Language::Text {
                continue;
            }
            // Only modified files can be found in the index of the parent tree.
            if status != "M" {
                usable = false;
                break;
            }
            gold.push(path.to_string());
        }
        if !usable || gold.is_empty() || gold.len() > MAX_GOLD_FILES {
            continue;
        }
        gold.sort();
        base = Some(parent.to_string());
        let message = match text {
            QueryText::Message => match body_text(body) {
                body if body.is_empty() => message,
                body => format!("{message}\n{body}"),
            },
            QueryText::Subject => message,
        };
        queries.push(EvalQuery {
            commit: commit.to_string(),
            message,
            gold,
        });
        if queries.len() == count {
            break;
        }
    }
    let Some(base) = base else {
        bail!("no commit in the history qualifies as a query")
    };
    Ok((base, queries))
}

/// Keeps only the gold files the indexed tree has: a commit late in the window may change a
/// file added after the base, which no ranker can find in the base's index. A query left with
/// no gold file is dropped. Returns the queries kept and the number of gold files dropped.
pub fn keep_reachable_gold(
    queries: Vec<EvalQuery>,
    tree: &BTreeSet<String>,
) -> (Vec<EvalQuery>, usize) {
    let mut dropped = 0;
    let kept = queries
        .into_iter()
        .filter_map(|mut query| {
            let before = query.gold.len();
            query.gold.retain(|path| tree.contains(path));
            dropped += before - query.gold.len();
            (!query.gold.is_empty()).then_some(query)
        })
        .collect();
    (kept, dropped)
}

/// Rank within which an answer counts as found when listing misses.
pub const MISS_CUTOFF: usize = 10;

/// An answer a query's ranking left outside the top [`MISS_CUTOFF`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Missed {
    /// The file.
    pub path: String,
    /// Its 1-based place in sextant's ranking, if ranked at all.
    pub hybrid_rank: Option<usize>,
    /// Its 1-based place in the BM25 baseline's ranking, if ranked at all.
    pub bm25_rank: Option<usize>,
}

/// The answers `hybrid` left outside its top [`MISS_CUTOFF`], with both rankers' places.
pub fn missed(gold: &[String], hybrid: &[String], baseline: &[String]) -> Vec<Missed> {
    let place = |ranking: &[String], path: &String| ranking.iter().position(|p| p == path);
    gold.iter()
        .filter_map(|path| {
            let hybrid_rank = place(hybrid, path);
            (hybrid_rank.is_none_or(|r| r >= MISS_CUTOFF)).then(|| Missed {
                path: path.clone(),
                hybrid_rank: hybrid_rank.map(|r| r + 1),
                bm25_rank: place(baseline, path).map(|r| r + 1),
            })
        })
        .collect()
}

/// Quality of one ranker over all queries.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Scores {
    /// Mean fraction of gold files in the top 1, 5, 10, 15.
    pub recall: BTreeMap<String, f64>,
    /// Share of queries with every gold file in the top 5.
    pub accuracy_at_5: f64,
    /// Mean reciprocal rank of the first gold file.
    pub mrr: f64,
    /// Median milliseconds per query.
    pub latency_p50_ms: f64,
}

/// The share of `gold` that `found` accepts.
fn share_found(gold: &[String], found: impl Fn(&String) -> bool) -> f64 {
    gold.iter().filter(|g| found(g)).count() as f64 / gold.len().max(1) as f64
}

/// Scores rankings against gold answers; `latencies` in milliseconds.
pub fn score(rows: &[(Vec<String>, Vec<String>)], latencies: &mut [f64]) -> Scores {
    let count = rows.len().max(1) as f64;
    let mut scores = Scores::default();
    for cutoff in CUTOFFS {
        let total: f64 = rows
            .iter()
            .map(|(ranked, gold)| {
                let top: BTreeSet<&String> = ranked.iter().take(cutoff).collect();
                share_found(gold, |g| top.contains(g))
            })
            .sum();
        scores.recall.insert(format!("@{cutoff}"), total / count);
    }
    scores.accuracy_at_5 = rows
        .iter()
        .filter(|(ranked, gold)| gold.iter().all(|g| ranked.iter().take(5).any(|r| r == g)))
        .count() as f64
        / count;
    scores.mrr = rows
        .iter()
        .map(|(ranked, gold)| {
            ranked
                .iter()
                .position(|r| gold.contains(r))
                .map_or(0.0, |p| 1.0 / (p as f64 + 1.0))
        })
        .sum::<f64>()
        / count;
    latencies.sort_by(f64::total_cmp);
    scores.latency_p50_ms = latencies.get(latencies.len() / 2).copied().unwrap_or(0.0);
    scores
}

/// Files ranked by plain BM25 over whole files: the baseline, given the raw message.
pub fn rank_whole_files(index: &LexicalIndex, query: &str) -> anyhow::Result<Vec<String>> {
    let hits = index.search_files(query, 50)?;
    Ok(hits.into_iter().map(|h| h.path).collect())
}

/// What the packed context held, over all queries: the end-to-end measure, since an agent
/// sees the context within its budget, not the ranking.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ContextScores {
    /// Tokens the context may use.
    pub budget_tokens: usize,
    /// Most files it may hold.
    pub max_files: usize,
    /// Mean fraction of the gold files the context holds (in any form).
    pub recall: f64,
    /// Median files in the context.
    pub files_p50: f64,
    /// Median tokens the context used.
    pub tokens_p50: f64,
    /// Median milliseconds packing took.
    pub pack_p50_ms: f64,
}

impl ContextScores {
    /// Scores `rows` of (files packed, gold files, tokens used, milliseconds).
    pub fn of(rows: &[(Vec<String>, Vec<String>, usize, f64)], budget: &Budget) -> ContextScores {
        let count = rows.len().max(1) as f64;
        let recall = rows
            .iter()
            .map(|(packed, gold, _, _)| share_found(gold, |g| packed.contains(g)))
            .sum::<f64>()
            / count;
        ContextScores {
            budget_tokens: budget.tokens,
            max_files: budget.max_files,
            recall,
            files_p50: median(rows.iter().map(|r| r.0.len() as f64).collect()),
            tokens_p50: median(rows.iter().map(|r| r.2 as f64).collect()),
            pack_p50_ms: median(rows.iter().map(|r| r.3).collect()),
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Times a ranking call in milliseconds.
pub fn timed<T>(work: impl FnOnce() -> T) -> (T, f64) {
    let started = Instant::now();
    let value = work();
    (value, started.elapsed().as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_text_drops_pull_request_numbers() {
        assert_eq!(query_text("rt: add the thing (#8364)"), "rt: add the thing");
        assert_eq!(query_text("plain subject"), "plain subject");
    }

    #[test]
    fn gold_files_the_indexed_tree_lacks_are_dropped_and_counted() {
        let query = |commit: &str, gold: &[&str]| EvalQuery {
            commit: commit.into(),
            message: "a descriptive enough subject".into(),
            gold: gold.iter().map(|g| g.to_string()).collect(),
        };
        let tree: BTreeSet<String> = ["a.rs", "b.rs"].iter().map(|p| p.to_string()).collect();
        let (kept, dropped) = keep_reachable_gold(
            vec![
                query("1", &["a.rs", "new.rs"]),
                query("2", &["newer.rs"]),
                query("3", &["b.rs"]),
            ],
            &tree,
        );
        assert_eq!(dropped, 2);
        assert_eq!(
            kept.iter()
                .map(|q| (q.commit.as_str(), q.gold.clone()))
                .collect::<Vec<_>>(),
            vec![
                ("1", vec!["a.rs".to_string()]),
                ("3", vec!["b.rs".to_string()])
            ]
        );
    }

    #[test]
    fn misses_are_answers_outside_the_top_ten_with_both_places() {
        let names = |n: std::ops::Range<usize>| n.map(|i| format!("f{i}")).collect::<Vec<_>>();
        let hybrid = names(0..12);
        let baseline: Vec<String> = names(0..12).into_iter().rev().collect();
        let gold = vec!["f3".to_string(), "f11".to_string(), "gone".to_string()];
        assert_eq!(
            missed(&gold, &hybrid, &baseline),
            vec![
                Missed {
                    path: "f11".into(),
                    hybrid_rank: Some(12),
                    bm25_rank: Some(1),
                },
                Missed {
                    path: "gone".into(),
                    hybrid_rank: None,
                    bm25_rank: None,
                },
            ]
        );
    }

    #[test]
    fn context_scores_count_answers_in_the_packed_files() {
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let rows = vec![
            (names(&["a", "b", "c"]), names(&["a", "z"]), 900, 4.0),
            (names(&["x"]), names(&["x"]), 100, 2.0),
        ];
        let scores = ContextScores::of(&rows, &Budget::default());
        assert_eq!(scores.recall, (0.5 + 1.0) / 2.0);
        assert_eq!(scores.files_p50, 2.0);
        assert_eq!(scores.tokens_p50, 500.0);
        assert_eq!(scores.pack_p50_ms, 3.0);
        assert_eq!(scores.budget_tokens, 32_000);
    }

    #[test]
    fn scores_follow_their_definitions() {
        let rows = vec![
            (
                vec!["a".to_string(), "b".to_string()],
                vec!["b".to_string()],
            ),
            (
                vec!["c".to_string()],
                vec!["x".to_string(), "c".to_string()],
            ),
        ];
        let scores = score(&rows, &mut [3.0, 1.0, 2.0]);
        assert_eq!(scores.recall["@1"], (0.0 + 0.5) / 2.0);
        assert_eq!(scores.recall["@5"], (1.0 + 0.5) / 2.0);
        assert_eq!(scores.accuracy_at_5, 0.5);
        assert_eq!(scores.mrr, (0.5 + 1.0) / 2.0);
        assert_eq!(scores.latency_p50_ms, 2.0);
    }
}
