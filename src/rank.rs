//! Ranking: which files matter for a task, fused from every signal the index has, each file
//! with the evidence for its place.
//!
//! Signals, all optional but BM25 (an index without a graph still ranks):
//! - **chunks**: BM25 over chunks, fused per file (best chunk + ½ second + ¼ third), normalised
//!   to the best file: finds the places that talk about the task;
//! - **whole file**: BM25 over whole files, normalised: files about the task as a whole;
//! - **symbols**: the task names an identifier (`verify_token`, `JoinSet::spawn`) that a file
//!   defines;
//! - **paths**: the task names a file or directory, or starts with a component (`tsdb: …`)
//!   that names a directory;
//! - **graph**: files linked (calls, references, imports) to the best lexical matches, by
//!   edge weight: what the matches use and what uses them;
//! - **vectors**: the task's embedding near the file's definitions (when the index has them);
//! - **history**: a prior for files that changed often lately (reorders, never adds);
//! - **past changes**: files changed by past commits whose subject reads like the task.
//!
//! The fused score is the weighted sum; each weight is a named constant whose value was chosen
//! on the development benchmark (`sextant eval` over tokio, mypy and prometheus, recorded in
//! benches/RESULTS.md), and `sextant eval` can vary them.
//!
//! This module holds the types, the weights and the fusion; each signal is computed in its own
//! submodule: `lexical` (chunks, whole files), `paths` (paths, scope), `graph_links` (symbols,
//! graph) and `semantic` (vectors).

pub mod explain;
mod graph_links;
pub mod history;
pub mod kind;
mod lexical;
pub mod pack;
pub mod past;
mod paths;
pub mod query;
pub mod reasons;
pub mod semantic;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use sextant_index::graph::CodeGraph;
use sextant_index::lexical::{LexicalIndex, term_set};
use sextant_index::store::Manifest;
use sextant_index::vector::VectorSnapshot;
use sextant_index::{Language, LineSpan};

use self::explain::Explanation;
pub use self::graph_links::{MAX_SYMBOL_FILES, graph_seeds, symbol_names};
use self::graph_links::{graph_signal, symbol_signal};
use self::kind::FileKind;
use self::lexical::{chunk_signal, whole_file_signal};
pub use self::paths::is_scope_entry;
use self::paths::path_signal;
use self::query::TaskQuery;
use self::semantic::vector_signal;

/// Default weight of whole-file BM25 (normalised to the best file) next to the normalised chunk
/// score. 2.0 gave the best mean Recall@10 of the weights tried (0, 0.5, 1, 2, 4) over tokio,
/// mypy and prometheus in round 1 of the development benchmark (benches/RESULTS.md): 0.750,
/// against 0.680 for chunks alone and 0.684 for whole-file BM25 alone.
pub const WHOLE_FILE_WEIGHT: f64 = 2.0;
/// Default weight of an exact definition of an identifier the task names (shared between the
/// files defining it): as much as the chunk signal. The development benchmark cannot tune it
/// (commit subjects rarely name identifiers: 0.5, 1 and 2 gave the same Recall@10 in round 2,
/// benches/RESULTS.md); the fixture tests hold the cases where it decides.
pub const SYMBOL_WEIGHT: f64 = 1.0;
/// Default weight of a file the task names by path or file name: as much as whole-file BM25,
/// since a user who names a file means it. Not tunable on the benchmark for the same reason.
pub const PATH_WEIGHT: f64 = 2.0;

/// Default weight of the vector signal (similarity of the task to a file's units, above the
/// similarity floor of the nearest units, normalised to the best file). Chosen on the
/// development benchmark, vectors round 1 (benches/RESULTS.md).
pub const VECTOR_WEIGHT: f64 = 1.0;
/// Weight of the history prior: how often a file changed lately (see [`history`]).
pub const HISTORY_WEIGHT: f64 = 0.5;
/// Default weight of the files changed by past commits like the task (see [`past`]).
pub const PAST_WEIGHT: f64 = 0.5;

/// Default weight of the graph signal (links to the best lexical files, normalised to the best
/// linked file). On the development benchmark, round 2 (benches/RESULTS.md), mean Recall@10 over
/// tokio, mypy and prometheus was 0.750 without it and 0.779 / 0.784 / 0.781 at 0.3 / 0.45 / 0.6
/// (3 seeds).
pub const GRAPH_WEIGHT: f64 = 0.45;

/// The indexes a ranking draws on.
pub struct Sources<'a> {
    /// BM25 over chunks and whole files.
    pub lexical: &'a LexicalIndex,
    /// Every indexed file (for path matches).
    pub manifest: &'a Manifest,
    /// The knowledge graph, when present.
    pub graph: Option<&'a CodeGraph>,
    /// The vector index and the task's embedding, when both exist.
    pub vectors: Option<(&'a VectorSnapshot, &'a [f32])>,
    /// The repository's recent history, when known.
    pub history: Option<&'a history::History>,
}

/// How much each signal counts next to the normalised chunk score (which counts 1).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Weights {
    /// Whole-file BM25, normalised to the best file.
    pub whole_file: f64,
    /// Exact definitions of identifiers the task names.
    pub symbol: f64,
    /// Files the task names.
    pub path: f64,
    /// Links to the best lexical files.
    pub graph: f64,
    /// Similarity of the task to the file's units.
    pub vector: f64,
    /// How often the file changed lately.
    pub history: f64,
    /// Changed by past commits like the task.
    pub past: f64,
    /// Factor on a test file's score (unless the task is about tests).
    pub test_factor: f64,
    /// Factor on the score of a file that is not code.
    pub non_code_factor: f64,
}

impl Default for Weights {
    fn default() -> Weights {
        Weights {
            whole_file: WHOLE_FILE_WEIGHT,
            symbol: SYMBOL_WEIGHT,
            path: PATH_WEIGHT,
            graph: GRAPH_WEIGHT,
            vector: VECTOR_WEIGHT,
            history: HISTORY_WEIGHT,
            past: PAST_WEIGHT,
            test_factor: kind::TEST_FACTOR,
            non_code_factor: kind::NON_CODE_FACTOR,
        }
    }
}

/// The unit most similar to the task in a file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SimilarUnit {
    /// Its symbol id or path.
    pub label: String,
    /// Its first line.
    pub line: u32,
    /// Cosine similarity to the task.
    pub similarity: f64,
}

/// A chunk that matched, kept as evidence.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChunkEvidence {
    /// Its lines.
    pub span: LineSpan,
    /// Its BM25 score.
    pub score: f64,
    /// Names it defines.
    pub symbols: Vec<String>,
}

/// A definition of a name the task mentions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SymbolMatch {
    /// The identifier as the task wrote it.
    pub query: String,
    /// The symbol's id.
    pub id: String,
    /// Where it starts.
    pub line: u32,
}

/// The strongest graph link from a file to one of the best lexical files.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GraphLink {
    /// The lexical file it links to.
    pub seed: String,
    /// What the link is: "`login` calls `verify_token` in auth/jwt.py".
    pub description: String,
    /// Line of the reference, when the link is one.
    pub line: Option<u32>,
}

/// Every signal's contribution to one file, before weighting.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FileSignals {
    /// Fused chunk BM25, normalised to the best file (0–1).
    pub chunks: f64,
    /// The best chunks.
    pub chunk_hits: Vec<ChunkEvidence>,
    /// Whole-file BM25, normalised to the best file (0–1).
    pub whole_file: f64,
    /// Share of the task's identifiers defined here.
    pub symbol: f64,
    /// The definitions found.
    pub symbols: Vec<SymbolMatch>,
    /// 1 when the task names this file.
    pub path: f64,
    /// The task's paths that name it, and its scope (`sync:`, see [`is_scope_entry`]).
    pub paths: Vec<String>,
    /// Link strength to the best lexical files, normalised to the best linked file (0–1).
    pub graph: f64,
    /// The strongest link.
    pub graph_link: Option<GraphLink>,
    /// Similarity to the task above the floor of the nearest units, normalised to the best
    /// file (0–1).
    pub vector: f64,
    /// The most similar unit.
    pub similar: Option<SimilarUnit>,
    /// How often the file changed lately (0–1, recency-weighted and log-scaled to the most
    /// changed file).
    pub history: f64,
    /// Commits among the recent history that changed it.
    pub recent_commits: u32,
    /// Credit from past commits like the task that changed it, relative to the best file
    /// (0–1).
    pub past: f64,
    /// The most similar of those commits.
    pub past_commit: Option<past::SimilarCommit>,
}

/// A file with its fused score and the signals behind it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RankedFile {
    /// Path relative to the repository root.
    pub path: String,
    /// Fused score.
    pub score: f64,
    /// Code, test or not code.
    pub kind: kind::FileKind,
    /// What it was fused from.
    pub signals: FileSignals,
}

impl RankedFile {
    /// The explanation tree of the score.
    pub fn explain(&self, weights: &Weights, query: &TaskQuery) -> Explanation {
        let s = &self.signals;
        let factor = kind_factor(self.kind, weights, kind::about_tests(query));
        let mut root = Explanation::new(
            self.score,
            if factor == 1.0 {
                "fused score, sum of:".to_string()
            } else {
                format!(
                    "fused score × {factor} for a {} file, sum of:",
                    match self.kind {
                        FileKind::Test => "test (the task is not about tests)",
                        _ => "non-code",
                    }
                )
            },
        );
        if s.chunks > 0.0 {
            let mut node = Explanation::new(
                s.chunks,
                "BM25 over chunks (best + ½ second + ¼ third, relative to the best file)",
            );
            for hit in &s.chunk_hits {
                let defines = if hit.symbols.is_empty() {
                    String::new()
                } else {
                    format!(", defines {}", hit.symbols.join(", "))
                };
                node.push(Explanation::evidence(format!(
                    "lines {}-{} (score {:.2}{defines})",
                    hit.span.start, hit.span.end, hit.score
                )));
            }
            root.push(node);
        }
        if s.whole_file > 0.0 {
            root.push(weighted(
                "BM25 over whole files",
                s.whole_file,
                weights.whole_file,
                [],
            ));
        }
        if s.symbol > 0.0 {
            root.push(weighted(
                "defines what the task names",
                s.symbol,
                weights.symbol,
                s.symbols.iter().map(|found| {
                    format!("`{}` at line {} ({})", found.query, found.line, found.id)
                }),
            ));
        }
        if s.path > 0.0 {
            let what = if s.paths.iter().all(|p| is_scope_entry(p)) {
                "in the task's scope"
            } else {
                "the task names it"
            };
            root.push(Explanation::new(
                weights.path * s.path,
                format!("{what}: {}", s.paths.join(", ")),
            ));
        }
        if s.graph > 0.0 {
            root.push(weighted(
                "linked to the best matches",
                s.graph,
                weights.graph,
                s.graph_link.iter().map(|link| link.description.clone()),
            ));
        }
        if s.vector > 0.0 {
            root.push(weighted(
                "similar in meaning",
                s.vector,
                weights.vector,
                s.similar.iter().map(|similar| {
                    format!(
                        "most similar: {} at line {} (cosine {:.3})",
                        similar.label, similar.line, similar.similarity
                    )
                }),
            ));
        }
        if s.history > 0.0 {
            root.push(weighted(
                &format!("changed often lately ({} recent commits)", s.recent_commits),
                s.history,
                weights.history,
                [],
            ));
        }
        if s.past > 0.0 {
            root.push(weighted(
                "changed by past commits like the task",
                s.past,
                weights.past,
                s.past_commit.iter().map(|commit| {
                    format!(
                        "most similar: {} \"{}\" (score {:.2})",
                        commit.id, commit.subject, commit.score
                    )
                }),
            ));
        }
        if root.details.is_empty() && !query.is_empty() {
            root.push(Explanation::evidence("no signal fired"));
        }
        root
    }
}

/// The signals that need the task's words only (BM25 over chunks and whole files, paths): the
/// first half of ranking, which a caller computes while the task is being embedded.
pub fn text_signals(
    sources: &Sources<'_>,
    weights: &Weights,
    query: &TaskQuery,
) -> anyhow::Result<BTreeMap<String, FileSignals>> {
    let text = query.search_text();
    let mut files: BTreeMap<String, FileSignals> = BTreeMap::new();
    if !text.trim().is_empty() {
        // The chunk and whole-file searches are independent: one core each.
        let mut whole_files = BTreeMap::new();
        std::thread::scope(|scope| {
            let whole = (weights.whole_file > 0.0).then(|| {
                scope.spawn(|| whole_file_signal(sources.lexical, text, &mut whole_files))
            });
            chunk_signal(sources.lexical, text, &mut files)?;
            match whole.map(|search| search.join()) {
                Some(Ok(found)) => found,
                Some(Err(panic)) => std::panic::resume_unwind(panic),
                None => Ok(()),
            }
        })?;
        for (path, signals) in whole_files {
            files.entry(path).or_default().whole_file = signals.whole_file;
        }
    }
    if weights.path > 0.0 {
        path_signal(sources.manifest, sources.history, query, &mut files);
    }
    Ok(files)
}

/// The second half of ranking: adds to what [`text_signals`] found the vector, symbol, graph
/// and history signals, fuses them, and keeps every file any signal found, best first (ties
/// by path), at most `limit`.
pub fn rank_found(
    sources: &Sources<'_>,
    weights: &Weights,
    query: &TaskQuery,
    mut files: BTreeMap<String, FileSignals>,
    limit: usize,
) -> Vec<RankedFile> {
    let text = query.search_text();
    if let Some((vectors, embedding)) = sources.vectors
        && weights.vector > 0.0
    {
        vector_signal(vectors, embedding, &mut files);
    }
    if let Some(graph) = sources.graph {
        if weights.symbol > 0.0 {
            symbol_signal(graph, query, &mut files);
        }
        if weights.graph > 0.0 {
            graph_signal(graph, weights, &term_set(text), &mut files);
        }
    }
    if let Some(history) = sources.history
        && weights.past > 0.0
        && !text.trim().is_empty()
    {
        let found = history.past_files(text, |path| sources.manifest.files.contains_key(path));
        for (path, found) in found {
            let entry = files.entry(path).or_default();
            entry.past = found.score;
            entry.past_commit = Some(found.commit);
        }
    }
    if let Some(history) = sources.history
        && weights.history > 0.0
    {
        // A prior, not a finder: it reorders what the other signals found.
        for (path, signals) in files.iter_mut() {
            signals.history = history.prior(path);
            signals.recent_commits = history.file(path).map_or(0, |f| f.commits);
        }
    }
    let about_tests = kind::about_tests(query);
    let mut ranked: Vec<RankedFile> = files
        .into_iter()
        .map(|(path, signals)| {
            let kind = sources.manifest.files.get(&path).map_or_else(
                || FileKind::of(&path, Language::from_path(Path::new(&path))),
                |record| FileKind::of(&path, record.language),
            );
            RankedFile {
                score: fused(&signals, weights) * kind_factor(kind, weights, about_tests),
                kind,
                path,
                signals,
            }
        })
        .collect();
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.path.cmp(&b.path)));
    ranked.truncate(limit);
    ranked
}

/// One weighted signal in an explanation: "what, 0.806 × weight 2", with its evidence.
fn weighted(
    what: &str,
    value: f64,
    weight: f64,
    evidence: impl IntoIterator<Item = String>,
) -> Explanation {
    let mut node = Explanation::new(
        weight * value,
        format!("{what}, {value:.3} × weight {weight}"),
    );
    for line in evidence {
        node.push(Explanation::evidence(line));
    }
    node
}

fn fused(signals: &FileSignals, weights: &Weights) -> f64 {
    signals.chunks
        + weights.whole_file * signals.whole_file
        + weights.symbol * signals.symbol
        + weights.path * signals.path
        + weights.graph * signals.graph
        + weights.vector * signals.vector
        + weights.history * signals.history
        + weights.past * signals.past
}

/// What a file's kind multiplies its score by.
fn kind_factor(kind: FileKind, weights: &Weights, about_tests: bool) -> f64 {
    match kind {
        FileKind::Code => 1.0,
        FileKind::Test if about_tests => 1.0,
        FileKind::Test => weights.test_factor,
        FileKind::NonCode => weights.non_code_factor,
    }
}

/// The lexical part of the score, which picks the graph's seeds.
fn lexical_score(signals: &FileSignals, weights: &Weights) -> f64 {
    signals.chunks + weights.whole_file * signals.whole_file
}

fn normalise(values: impl Iterator<Item = f64>) -> f64 {
    let best = values.fold(0.0, f64::max);
    if best > 0.0 { best } else { 1.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fused_score_is_the_weighted_sum() {
        let signals = FileSignals {
            chunks: 0.5,
            whole_file: 0.25,
            symbol: 1.0,
            path: 1.0,
            graph: 0.5,
            history: 0.5,
            ..FileSignals::default()
        };
        let weights = Weights {
            whole_file: 2.0,
            symbol: 1.0,
            path: 3.0,
            graph: 0.5,
            vector: 0.0,
            history: 0.5,
            ..Weights::default()
        };
        assert!((fused(&signals, &weights) - (0.5 + 0.5 + 1.0 + 3.0 + 0.25 + 0.25)).abs() < 1e-9);
        assert!((lexical_score(&signals, &weights) - 1.0).abs() < 1e-9);
    }
}
