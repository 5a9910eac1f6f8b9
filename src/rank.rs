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

pub mod explain;
pub mod history;
pub mod kind;
pub mod pack;
pub mod past;
pub mod query;
pub mod reasons;
pub mod semantic;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use petgraph::Direction;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use serde::Serialize;
use sextant_index::graph::{CodeGraph, EdgeKind, Node};
use sextant_index::lexical::{DocKind, LexicalIndex, term_set};
use sextant_index::petgraph;
use sextant_index::store::Manifest;
use sextant_index::vector::VectorSnapshot;
use sextant_index::{Language, LineSpan};

use self::explain::Explanation;
use self::kind::FileKind;
use self::query::TaskQuery;

/// Chunk hits gathered per query before fusing them per file.
const CHUNK_HITS: usize = 200;
/// Weight of a file's second and third best chunk relative to its best: a file with several
/// matching places is more likely the one, but one strong match should still win.
const SECOND_CHUNK_WEIGHT: f64 = 0.5;
const THIRD_CHUNK_WEIGHT: f64 = 0.25;
/// BM25 signals are normalised to the best file, but never to less than this share of a
/// full match (every query term present): when even the best file matches only a sliver of
/// the task (a stray "the"), its text scores stay small and meaning and links decide.
/// 0.25 left every benchmark ranking as it was (mean Recall@10 0.784 at 0, 0.1 and 0.25, 0.781
/// at 0.5 — benches/RESULTS.md, round 3) while cutting a stray match's weight by 40 % on the
/// fixture ("add rate limiting to the API" against a file matching only "the" and "to").
const FULL_MATCH_SHARE: f64 = 0.25;
/// Chunks kept per file as evidence.
const EVIDENCE_CHUNKS: usize = 3;
/// A name defined in more files than this says little about which one is meant.
const MAX_SYMBOL_FILES: usize = 5;
/// Best lexical files whose graph neighbours are considered. Of 1, 2, 3, 5 and 10 seeds (graph
/// weight 0.45), 3 gave the best mean Recall@10 on the development benchmark, round 2
/// (benches/RESULTS.md): 0.754, 0.780, 0.784, 0.774, 0.767.
const GRAPH_SEEDS: usize = 3;

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
/// Share of the path signal for files in a directory named by the task's leading scope
/// (`tsdb: fix …` → files under a `tsdb/` directory). Of 0.1, 0.25, 0.5, 0.75 and 1.0, mean
/// Recall@10 was flat from 0.5 up (0.789–0.791 against 0.784 without; benches/RESULTS.md,
/// round 4); 0.75 had the best R@1 and MRR, and with vectors raised mean R@1 0.398 → 0.435.
const SCOPE_SHARE: f64 = 0.75;

/// Default weight of the vector signal (similarity of the task to a file's units, above the
/// similarity floor of the nearest units, normalised to the best file). Chosen on the
/// development benchmark, vectors round 1 (benches/RESULTS.md).
pub const VECTOR_WEIGHT: f64 = 1.0;
/// Weight of the history prior: how often a file changed lately (see [`history`]).
pub const HISTORY_WEIGHT: f64 = 0.5;
/// Default weight of the files changed by past commits like the task (see [`past`]).
pub const PAST_WEIGHT: f64 = 0.5;
/// Nearest units gathered for the vector signal.
const VECTOR_HITS: usize = 100;
/// Weight of a file's second most similar unit relative to its best.
const SECOND_UNIT_WEIGHT: f64 = 0.5;

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

/// Ranks files for a task: every file any signal found, best first (ties by path), at most
/// `limit`.
pub fn rank(
    sources: &Sources<'_>,
    weights: &Weights,
    query: &TaskQuery,
    limit: usize,
) -> anyhow::Result<Vec<RankedFile>> {
    let text = query.search_text();
    let mut files: BTreeMap<String, FileSignals> = BTreeMap::new();
    if !text.trim().is_empty() {
        chunk_signal(sources.lexical, text, &mut files)?;
        if weights.whole_file > 0.0 {
            whole_file_signal(sources.lexical, text, &mut files)?;
        }
    }
    if weights.path > 0.0 {
        path_signal(sources.manifest, sources.history, query, &mut files);
    }
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
    Ok(ranked)
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

fn chunk_signal(
    lexical: &LexicalIndex,
    text: &str,
    files: &mut BTreeMap<String, FileSignals>,
) -> anyhow::Result<()> {
    let mut per_file: BTreeMap<String, Vec<ChunkEvidence>> = BTreeMap::new();
    for hit in lexical.search_scores(text, CHUNK_HITS)? {
        per_file.entry(hit.path).or_default().push(ChunkEvidence {
            span: hit.span,
            score: f64::from(hit.score),
            symbols: hit.symbols,
        });
    }
    let fused: Vec<(String, f64, Vec<ChunkEvidence>)> = per_file
        .into_iter()
        .map(|(path, mut hits)| {
            // Hits arrive best first; keep that order.
            hits.sort_by(|a, b| b.score.total_cmp(&a.score));
            let share = [1.0, SECOND_CHUNK_WEIGHT, THIRD_CHUNK_WEIGHT];
            let score = hits.iter().zip(share).map(|(h, w)| h.score * w).sum();
            hits.truncate(EVIDENCE_CHUNKS);
            (path, score, hits)
        })
        .collect();
    let floor = FULL_MATCH_SHARE * f64::from(lexical.full_match_score(text, DocKind::Chunk)?);
    let best = normalise(fused.iter().map(|(_, s, _)| *s).chain([floor]));
    for (path, score, hits) in fused {
        let entry = files.entry(path).or_default();
        entry.chunks = score / best;
        entry.chunk_hits = hits;
    }
    Ok(())
}

fn whole_file_signal(
    lexical: &LexicalIndex,
    text: &str,
    files: &mut BTreeMap<String, FileSignals>,
) -> anyhow::Result<()> {
    let hits = lexical.search_files(text, CHUNK_HITS)?;
    let floor = FULL_MATCH_SHARE * f64::from(lexical.full_match_score(text, DocKind::File)?);
    let best = normalise(hits.iter().map(|h| f64::from(h.score)).chain([floor]));
    for hit in hits {
        files.entry(hit.path).or_default().whole_file = f64::from(hit.score) / best;
    }
    Ok(())
}

/// Files whose units are nearest to the task: per file, the best similarity plus half the
/// second, above the similarity of the farthest unit gathered (so a uniformly lukewarm
/// neighbourhood scores nothing), normalised to the best file.
fn vector_signal(
    vectors: &VectorSnapshot,
    embedding: &[f32],
    files: &mut BTreeMap<String, FileSignals>,
) {
    let hits = vectors.search(embedding, VECTOR_HITS);
    let Some(floor) = hits.last().map(|h| f64::from(h.similarity)) else {
        return;
    };
    let mut per_file: BTreeMap<&str, Vec<(f64, &sextant_index::vector::StoredUnit)>> =
        BTreeMap::new();
    for hit in &hits {
        per_file
            .entry(hit.unit.path.as_str())
            .or_default()
            .push((f64::from(hit.similarity), &hit.unit));
    }
    let scored: Vec<(&str, f64, SimilarUnit)> = per_file
        .into_iter()
        .filter_map(|(path, units)| {
            // Hits come best first.
            let (best, unit) = units[0];
            let second = units.get(1).map_or(floor, |u| u.0);
            let score = (best - floor) + SECOND_UNIT_WEIGHT * (second - floor);
            (score > 0.0).then(|| {
                (
                    path,
                    score,
                    SimilarUnit {
                        label: unit.label.clone(),
                        line: unit.line,
                        similarity: best,
                    },
                )
            })
        })
        .collect();
    let top = normalise(scored.iter().map(|(_, s, _)| *s));
    for (path, score, similar) in scored {
        let entry = files.entry(path.to_string()).or_default();
        entry.vector = score / top;
        entry.similar = Some(similar);
    }
}

/// How the task's scope is recorded among a file's `paths` (`sync:`), apart from the paths the
/// task names.
fn scope_entry(scope: &str) -> String {
    format!("{scope}:")
}

/// Whether an entry of a file's `paths` is the task's scope rather than a path it names.
pub fn is_scope_entry(entry: &str) -> bool {
    entry.ends_with(':')
}

/// Whether directory `dir` is the component `scope` names: the same name, or that name with
/// a `_`/`-` suffix (`time:` → `time/` and `time_alt/`; measured in RESULTS round 6).
fn names_scope(dir: &str, scope: &str) -> bool {
    dir.eq_ignore_ascii_case(scope)
        || (dir.len() > scope.len()
            && dir.is_char_boundary(scope.len())
            && dir[..scope.len()].eq_ignore_ascii_case(scope)
            && matches!(dir.as_bytes()[scope.len()], b'_' | b'-'))
}

fn path_signal(
    manifest: &Manifest,
    history: Option<&history::History>,
    query: &TaskQuery,
    files: &mut BTreeMap<String, FileSignals>,
) {
    for scope in &query.scopes {
        let mut named = false;
        for path in manifest.files.keys() {
            let mut directories = path.split('/').rev().skip(1);
            if directories.any(|d| names_scope(d, scope)) {
                named = true;
                let entry = files.entry(path.clone()).or_default();
                entry.path = entry.path.max(SCOPE_SHARE);
                entry.paths.push(scope_entry(scope));
            }
        }
        if let Some(history) = history
            && !named
            && !query::is_change_kind(scope)
        {
            scope_from_history(manifest, history, scope, files);
        }
    }
    for wanted in &query.paths {
        let wanted = wanted.trim_start_matches("./").trim_end_matches('/');
        let directory = format!("{wanted}/");
        let suffix = format!("/{wanted}");
        for path in manifest.files.keys() {
            if path == wanted || path.ends_with(&suffix) || path.starts_with(&directory) {
                let entry = files.entry(path.clone()).or_default();
                entry.path = 1.0;
                entry.paths.push(wanted.to_string());
            }
        }
    }
}

/// A scope that names no directory (`taskdump:`, `rt:`) is read from the history: the files
/// that past commits of the same scope changed, by how often, up to the scope's share.
/// Measured in RESULTS round 7: mean R@10 up 0.0 / 0.2 / 0.4 points on the three windows
/// (tokio's 100-query window +1.0), never down.
fn scope_from_history(
    manifest: &Manifest,
    history: &history::History,
    scope: &str,
    files: &mut BTreeMap<String, FileSignals>,
) {
    let mut counts: BTreeMap<&str, f64> = BTreeMap::new();
    for commit in history.past_in_scope(scope) {
        for file in commit
            .files
            .iter()
            .filter(|f| manifest.files.contains_key(*f))
        {
            *counts.entry(file.as_str()).or_default() += 1.0;
        }
    }
    let best = normalise(counts.values().copied());
    for (path, count) in counts {
        let entry = files.entry(path.to_string()).or_default();
        entry.path = entry.path.max(SCOPE_SHARE * count / best);
        entry.paths.push(scope_entry(scope));
    }
}

fn symbol_signal(graph: &CodeGraph, query: &TaskQuery, files: &mut BTreeMap<String, FileSignals>) {
    let names: Vec<&String> = query.identifiers.iter().filter(|i| i.len() > 2).collect();
    if names.is_empty() {
        return;
    }
    let share = 1.0 / names.len() as f64;
    for name in names {
        let found = graph.find_symbols(name);
        let defining: BTreeSet<&str> = found.iter().map(|n| graph.graph[*n].path()).collect();
        if defining.is_empty() || defining.len() > MAX_SYMBOL_FILES {
            continue;
        }
        let each = share / defining.len() as f64;
        for node in found {
            let Node::Symbol { id, path, span, .. } = &graph.graph[node] else {
                continue;
            };
            let entry = files.entry(path.clone()).or_default();
            // One definition per name and file is evidence enough (impl blocks repeat names).
            if entry.symbols.iter().any(|s| &s.query == name) {
                continue;
            }
            entry.symbol += each;
            entry.symbols.push(SymbolMatch {
                query: name.clone(),
                id: id.clone(),
                line: span.start,
            });
        }
    }
}

/// The file node and every symbol it defines, directly or nested.
fn file_nodes(graph: &CodeGraph, file: NodeIndex) -> Vec<NodeIndex> {
    let mut nodes = vec![file];
    let mut next = 0;
    while next < nodes.len() {
        let node = nodes[next];
        next += 1;
        for edge in graph.graph.edges_directed(node, Direction::Outgoing) {
            if matches!(edge.weight().kind, EdgeKind::Defines | EdgeKind::Contains) {
                nodes.push(edge.target());
            }
        }
    }
    nodes
}

fn short_name(graph: &CodeGraph, node: NodeIndex) -> String {
    match &graph.graph[node] {
        Node::File { path } => path.clone(),
        Node::Symbol { name, .. } => format!("`{name}`"),
    }
}

/// A link in words, from the linked file's side: "`login` in api/routes.py calls `verify_token`
/// defined here", "imported by api/routes.py".
fn link_description(
    graph: &CodeGraph,
    source: NodeIndex,
    target: NodeIndex,
    kind: EdgeKind,
    seed: &str,
    direction: Direction,
) -> String {
    let seed_is_source = direction == Direction::Outgoing;
    match (kind, seed_is_source) {
        (EdgeKind::Imports, true) => format!("imported by {seed}"),
        (EdgeKind::Imports, false) => format!("imports {seed}"),
        (_, true) => format!(
            "{} in {seed} {} {} defined here",
            short_name(graph, source),
            kind.name(),
            short_name(graph, target)
        ),
        (_, false) => format!(
            "{} here {} {} in {seed}",
            short_name(graph, source),
            kind.name(),
            short_name(graph, target)
        ),
    }
}

/// An edge that may be shown as a file's link to a seed.
#[derive(Clone, Copy)]
struct LinkEdge {
    source: NodeIndex,
    target: NodeIndex,
    kind: EdgeKind,
    /// `Outgoing` when the seed's side is the source.
    direction: Direction,
    line: u32,
}

impl LinkEdge {
    fn link(&self, graph: &CodeGraph, seed: &str) -> GraphLink {
        GraphLink {
            seed: seed.to_string(),
            description: link_description(
                graph,
                self.source,
                self.target,
                self.kind,
                seed,
                self.direction,
            ),
            line: (self.line > 0).then_some(self.line),
        }
    }
}

/// The edge shown for a linked file: how telling it is (× its seed's score), the seed, the edge.
type Shown<'s> = (f64, &'s str, LinkEdge);

/// How many of the task's terms a node's name holds (0 for files), remembered per node.
struct NamedTerms<'g> {
    graph: &'g CodeGraph,
    task: &'g BTreeSet<String>,
    seen: HashMap<NodeIndex, usize>,
}

impl NamedTerms<'_> {
    fn of(&mut self, node: NodeIndex) -> usize {
        let (graph, task) = (self.graph, self.task);
        *self
            .seen
            .entry(node)
            .or_insert_with(|| match &graph.graph[node] {
                Node::Symbol { name, .. } => term_set(name).intersection(task).count(),
                Node::File { .. } => 0,
            })
    }
}

/// Files linked to the best lexical files: for each seed, every cross-file edge of its symbols
/// counts for the file at the other end, combined as a noisy-or of edge weights (so many weak
/// links do not outweigh a strong one without bound) and scaled by the seed's lexical score.
///
/// The link shown for a file is the most telling edge: one whose ends are named with the
/// task's terms ("`typed_dict_get` here references `TypedDictType`" for a task about
/// TypedDict) before any other, then a call or reference before an import, then the heavier.
fn graph_signal(
    graph: &CodeGraph,
    weights: &Weights,
    task_terms: &BTreeSet<String>,
    files: &mut BTreeMap<String, FileSignals>,
) {
    let mut seeds: Vec<(String, f64)> = files
        .iter()
        .map(|(path, s)| (path.clone(), lexical_score(s, weights)))
        .filter(|(_, score)| *score > 0.0)
        .collect();
    seeds.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    seeds.truncate(GRAPH_SEEDS);
    let top = normalise(seeds.iter().map(|(_, s)| *s));
    let mut named = NamedTerms {
        graph,
        task: task_terms,
        seen: HashMap::new(),
    };
    // Per linked file: its strength, and the most telling edge over all seeds with its seed.
    let mut linked: BTreeMap<String, (f64, Option<Shown>)> = BTreeMap::new();
    for (seed, seed_score) in &seeds {
        let Some(seed_node) = graph.file(seed) else {
            continue;
        };
        // Per linked file: product of (1 - weight) over its edges with this seed, and the most
        // telling edge.
        let mut per_file: BTreeMap<&str, (f64, f64, LinkEdge)> = BTreeMap::new();
        for node in file_nodes(graph, seed_node) {
            for direction in [Direction::Outgoing, Direction::Incoming] {
                for edge in graph.graph.edges_directed(node, direction) {
                    let e = edge.weight();
                    if matches!(e.kind, EdgeKind::Defines | EdgeKind::Contains) {
                        continue;
                    }
                    let other = if direction == Direction::Outgoing {
                        edge.target()
                    } else {
                        edge.source()
                    };
                    let other_path = graph.graph[other].path();
                    if other_path == seed {
                        continue;
                    }
                    let weight = f64::from(e.weight).clamp(0.0, 1.0);
                    let candidate = LinkEdge {
                        source: edge.source(),
                        target: edge.target(),
                        kind: e.kind,
                        direction,
                        line: e.line,
                    };
                    let slot = per_file.entry(other_path).or_insert((1.0, -1.0, candidate));
                    slot.0 *= 1.0 - weight;
                    // Ordered as the doc comment says: weight is at most 1, the kind adds 2,
                    // each term named adds 4.
                    let not_import = if e.kind == EdgeKind::Imports {
                        0.0
                    } else {
                        1.0
                    };
                    let terms = named.of(edge.source()) + named.of(edge.target());
                    let telling = 4.0 * terms as f64 + 2.0 * not_import + weight;
                    if telling > slot.1 {
                        slot.1 = telling;
                        slot.2 = candidate;
                    }
                }
            }
        }
        for (path, (miss, telling, edge)) in per_file {
            let strength = (1.0 - miss) * seed_score / top;
            let slot = linked.entry(path.to_string()).or_insert((0.0, None));
            slot.0 += strength;
            let contribution = telling * seed_score;
            if slot.1.as_ref().is_none_or(|(c, _, _)| contribution > *c) {
                slot.1 = Some((contribution, seed.as_str(), edge));
            }
        }
    }
    let best = normalise(linked.values().map(|(s, _)| *s));
    for (path, (strength, link)) in linked {
        let entry = files.entry(path).or_default();
        entry.graph = strength / best;
        // Described once per file, for the edge shown.
        entry.graph_link = link.map(|(_, seed, edge)| edge.link(graph, seed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_names_its_directory_and_its_variants() {
        assert!(names_scope("time", "time"));
        assert!(names_scope("time_alt", "time"));
        assert!(names_scope("Sync-Util", "sync"));
        assert!(!names_scope("timer", "time"));
        assert!(!names_scope("runtime", "time"));
        assert!(!names_scope("é", "e"));
    }

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
