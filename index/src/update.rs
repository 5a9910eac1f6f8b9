//! Builds or updates the index of a repository: walk, compare with the manifest, extract only
//! what changed, and commit a new generation atomically.
//!
//! Incremental by default: unchanged files (same content hash) are not read twice, parsed or
//! re-indexed; vanished files are removed. The result equals a full rebuild of the same tree
//! (`tests/incremental.rs` checks this over random edit sequences).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rayon::prelude::*;
use serde::Serialize;

use crate::facts::FileFacts;
use crate::graph::records::{GraphCounts, GraphRecord, SymbolPositions};
use crate::graph::resolve::{
    FactsSource, PathEntry, StoredRelink, link_in_batches, relink_stored, relinkable_from_records,
};
use crate::graph::{CodeGraph, LinkFacts, ResolutionStats};
use crate::lang::Language;
use crate::lexical::{ChunkDocument, LexicalError, LexicalIndex, LexicalWriter, LinkTerms};
use crate::store::{
    FactsMap, FileRecord, IndexDir, Manifest, Snapshot, StoreError, WriteLock, chunk_id,
    decode_link_record, encode_graph_record, encode_link_record,
};
use crate::syntax::{ChunkLimits, LineIndex, extract};
use crate::vector::{
    VectorOptions, VectorState, VectorSummary, collect_units, update_vectors, vector_state,
};
use crate::walk::{Coverage, Skip, WalkError, WalkOptions, WalkedFile, read_source, walk};

/// Settings that shape what is indexed. A change to any of them (other than threads) forces a
/// full rebuild, so an index never mixes two configurations.
#[derive(Clone, Debug)]
pub struct IndexSettings {
    /// Largest file indexed, in bytes.
    pub max_file_size: u64,
    /// How files are chunked.
    pub chunk_limits: ChunkLimits,
    /// Worker threads for walking, parsing and indexing; 0 means one per core.
    pub threads: usize,
}

impl Default for IndexSettings {
    fn default() -> Self {
        IndexSettings {
            max_file_size: crate::walk::DEFAULT_MAX_FILE_SIZE,
            chunk_limits: ChunkLimits::default(),
            threads: 0,
        }
    }
}

impl IndexSettings {
    /// The part of the settings that, when changed, invalidates an index.
    pub fn fingerprint(&self) -> String {
        let limits = &self.chunk_limits;
        format!(
            "max_file_size={} max_lines={} text_window_lines={} small_lines={} group_max_lines={}",
            self.max_file_size,
            limits.max_lines,
            limits.text_window_lines,
            limits.small_lines,
            limits.group_max_lines
        )
    }

    fn effective_threads(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }
}

/// Reports progress of long phases; the CLI draws a bar, tests and CI pass [`NoProgress`].
pub trait Progress: Sync {
    /// A phase starts with `total` units of work.
    fn start(&self, phase: &'static str, total: u64);
    /// `units` more are done.
    fn advance(&self, units: u64);
    /// The phase is over.
    fn finish(&self);
}

/// Progress that goes nowhere.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _phase: &'static str, _total: u64) {}
    fn advance(&self, _units: u64) {}
    fn finish(&self) {}
}

/// Errors that stop an index run. Per-file problems are never errors: they are skips.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The root cannot be walked.
    #[error(transparent)]
    Walk(#[from] WalkError),
    /// The index directory cannot be used.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// tantivy failed.
    #[error(transparent)]
    Lexical(#[from] LexicalError),
    /// A link record this run encoded did not decode (a bug, never the disk's doing).
    #[error("{0}")]
    Lean(String),
    /// The thread pool could not start.
    #[error("cannot start worker threads: {0}")]
    Threads(String),
}

/// How many files each kind of change touched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FileCounts {
    /// New files indexed.
    pub added: usize,
    /// Files whose content changed and were re-indexed.
    pub changed: usize,
    /// Files no longer present (or now skipped), removed from the index.
    pub removed: usize,
    /// Files whose content hash matched the manifest.
    pub unchanged: usize,
}

impl FileCounts {
    /// Whether the index would change.
    pub fn any_change(&self) -> bool {
        self.added + self.changed + self.removed > 0
    }
}

/// A file that was indexed, but with a caveat.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct FileWarning {
    /// Path relative to the root.
    pub path: String,
    /// What to know about it.
    pub warning: String,
}

/// Wall time of each phase, in milliseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Timings {
    /// Taking the writer lock and opening and checking the previous generation.
    pub open_ms: u64,
    /// Walking the tree.
    pub walk_ms: u64,
    /// Reading and hashing every file.
    pub scan_ms: u64,
    /// Reading the previous generation's facts and graph (an incremental run with changes).
    pub load_ms: u64,
    /// Parsing changed files and adding their chunks.
    pub extract_ms: u64,
    /// Linking the knowledge graph.
    pub graph_ms: u64,
    /// Writing the manifest and graph, and committing (the lexical index, with the touched
    /// files' link records).
    pub commit_ms: u64,
    /// Embedding and building the vector index (after the commit).
    pub vectors_ms: u64,
    /// The whole run.
    pub total_ms: u64,
}

/// What an index run did.
#[derive(Clone, Debug, Serialize)]
pub struct IndexSummary {
    /// The current generation after the run.
    pub generation: u64,
    /// Whether a new generation was committed (false when nothing changed).
    pub committed: bool,
    /// Whether every file was re-indexed.
    pub full_rebuild: bool,
    /// Why a full rebuild happened without being asked for, if it did.
    pub rebuild_reason: Option<String>,
    /// Changes by kind.
    pub files: FileCounts,
    /// Files in the index after the run.
    pub indexed_files: usize,
    /// Chunks in the index after the run.
    pub indexed_chunks: usize,
    /// Lines in the index after the run.
    pub indexed_lines: u64,
    /// Files read and hashed to find what changed; the others kept the size and stamp they
    /// were indexed with.
    pub read_files: usize,
    /// Files read although unchanged (touched, checked out again) whose new stamps were
    /// stored, so the next run trusts them without reading them.
    pub restamped_files: usize,
    /// Damaged parts of the previous index that this run rebuilt, each with what was wrong.
    pub repaired: Vec<String>,
    /// Lines parsed in this run.
    pub extracted_lines: u64,
    /// Bytes parsed in this run.
    pub extracted_bytes: u64,
    /// Paths not indexed, with reasons.
    pub skipped: Vec<Skip>,
    /// Of the paths the run was limited to (`UpdateOptions::only`), those with nothing under
    /// them on disk or in the previous generation (a mistyped path, most likely).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmatched: Vec<String>,
    /// Indexed files with caveats (lossy UTF-8, syntax errors).
    pub warnings: Vec<FileWarning>,
    /// Size of the knowledge graph after the run (absent when nothing changed).
    pub graph: Option<GraphSummary>,
    /// What the vector step did, when it ran and succeeded.
    pub vectors: Option<VectorSummary>,
    /// Why the index has no current vectors, when it has none (vectors off, model missing,
    /// embedding failed): the lexical index and graph are committed regardless.
    pub vectors_missing: Option<String>,
    /// Time per phase.
    pub timings: Timings,
}

impl IndexSummary {
    /// Takes the index totals (files, chunks, lines) from the manifest of the current generation.
    fn record_totals(&mut self, manifest: &Manifest) {
        self.indexed_files = manifest.files.len();
        self.indexed_chunks = manifest.chunk_count();
        self.indexed_lines = manifest.line_count();
    }
}

/// The size of the knowledge graph and how its references resolved.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GraphSummary {
    /// File nodes.
    pub files: usize,
    /// Symbol nodes.
    pub symbols: usize,
    /// Edges of every kind.
    pub edges: usize,
    /// How references and imports resolved.
    pub resolution: ResolutionStats,
    /// Files whose references this run resolved: every file on a fresh link, only those a
    /// change can affect on an update.
    pub resolved_files: usize,
    /// Whether the run relinked from the stored records, reading only the facts of the files
    /// the change concerns (no file came or went, none that shapes imports changed).
    pub from_records: bool,
}

impl GraphSummary {
    /// Summarises the graph of a generation from its manifest's per-file counts (`resolved`:
    /// files the run resolved).
    pub fn of_manifest(manifest: &Manifest, resolved: usize, from_records: bool) -> GraphSummary {
        let mut summary = GraphSummary {
            files: manifest.files.len(),
            resolved_files: resolved,
            from_records,
            ..GraphSummary::default()
        };
        for record in manifest.files.values() {
            summary.symbols += record.symbol_count as usize;
            summary.edges += record.symbol_count as usize + record.graph.edges as usize;
            summary.resolution.add(&record.graph.resolution);
        }
        summary
    }
}

/// One re-indexed file: its manifest record and its facts for the linker.
struct Indexed {
    path: String,
    record: FileRecord,
    /// The file's link facts: without references when `lean` holds them.
    link: LinkFacts,
    lean: Option<LeanLink>,
}

/// What a full run keeps of a file's link facts besides their lean part
/// ([`LinkFacts::make_lean`]): the link record, encoded, and the words it is found by.
/// Held decoded for every file until the link, references, signatures and docs were most of
/// a cold index's memory at 26M lines. The link decodes them back a batch of files at a
/// time.
struct LeanLink {
    /// The link record, LZ4-compressed (a third of its size: at 26M lines ~250 MB less).
    record: Vec<u8>,
    defines: String,
    names: String,
    imports: String,
}

impl Indexed {
    /// The same, its facts lean and whole only in the encoded record.
    fn lean(mut self) -> Indexed {
        let join = |words: BTreeSet<&str>| words.into_iter().collect::<Vec<_>>().join(" ");
        let lean = LeanLink {
            record: lz4_flex::compress_prepend_size(&encode_link_record(&self.link)),
            defines: join(self.link.defined_names()),
            names: join(self.link.looked_up_names()),
            imports: join(self.link.import_words(&self.path)),
        };
        self.link.make_lean();
        self.lean = Some(lean);
        self
    }
}

/// The words of a [`LeanLink`] field.
fn words(joined: &str) -> impl Iterator<Item = &str> {
    joined.split(' ').filter(|word| !word.is_empty())
}

/// What a comparison of the tree with the manifest found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Files whose hash matches the manifest, with their records.
    pub unchanged: Vec<(String, FileRecord)>,
    /// Files to (re-)index, and whether each is new.
    pub to_index: Vec<(WalkedFile, bool)>,
    /// Paths in the manifest that are gone or now skipped.
    pub removed: Vec<String>,
    /// Paths not indexed, with reasons.
    pub skipped: Vec<Skip>,
    /// Time spent walking and reading, in milliseconds.
    pub walk_ms: u64,
    /// Time spent reading and hashing, in milliseconds.
    pub scan_ms: u64,
    /// Files read and hashed to tell whether they changed (the others kept their stamp).
    pub read_files: usize,
    /// Of the paths a limited scan was given, those with nothing under them on disk or in
    /// the previous generation.
    pub unmatched: Vec<String>,
}

impl Scan {
    /// The counts this scan implies.
    pub fn counts(&self) -> FileCounts {
        let added = self.to_index.iter().filter(|(_, new)| *new).count();
        FileCounts {
            added,
            changed: self.to_index.len() - added,
            removed: self.removed.len(),
            unchanged: self.unchanged.len(),
        }
    }
}

/// Walks the tree and hashes every file to find what differs from `previous`. With `only`
/// (and a `previous` manifest), only the files it covers are walked: every other file the
/// manifest holds is taken as unchanged without being looked at.
pub fn scan(
    root: &Path,
    dir: &IndexDir,
    settings: &IndexSettings,
    previous: Option<&Manifest>,
    only: Option<Arc<Coverage>>,
    progress: &dyn Progress,
) -> Result<Scan, IndexError> {
    let started = Instant::now();
    let only = only.filter(|_| previous.is_some());
    let options = WalkOptions {
        max_file_size: settings.max_file_size,
        threads: settings.effective_threads(),
        exclude_dir: Some(dir.path().to_path_buf()),
        only: only.clone(),
    };
    let walked = walk(root, &options)?;
    let walk_ms = elapsed_ms(started);
    let started = Instant::now();
    progress.start("scanning", walked.files.len() as u64);
    let empty = BTreeMap::new();
    let known = previous.map_or(&empty, |m| &m.files);
    // The manifest's paths the walk looked for: all of them, or those `only` covers (found
    // by range: a path and what lies under it sort together).
    let looked_for: Vec<&String> = match &only {
        None => known.keys().collect(),
        Some(only) => {
            // A file where a named path's directory would be is looked for too (it is gone
            // if that directory is there now).
            let in_the_way = only.paths().flat_map(|path| {
                path.match_indices('/')
                    .filter_map(|(at, _)| known.get_key_value(&path[..at]).map(|(p, _)| p))
            });
            // A file (or symlink) the walk found in the way of a named path stands where a
            // directory may have been: whatever the index holds under it is gone.
            let in_the_way_now = walked
                .files
                .iter()
                .map(|file| file.path.as_str())
                .chain(walked.skipped.iter().map(|skip| skip.path.as_str()))
                .filter(|path| !only.covers(path));
            let mut found: Vec<&String> = only
                .paths()
                .chain(in_the_way_now)
                .flat_map(|path| paths_at_or_under(known, path))
                .chain(in_the_way)
                .collect();
            found.sort_unstable();
            found.dedup();
            found
        }
    };
    // Named paths with nothing under them on disk or in the index: a typo, most likely.
    let unmatched: Vec<String> = match &only {
        None => Vec::new(),
        Some(only) => {
            let found: BTreeSet<&str> = looked_for
                .iter()
                .map(|path| path.as_str())
                .chain(walked.files.iter().map(|file| file.path.as_str()))
                .chain(walked.skipped.iter().map(|skip| skip.path.as_str()))
                .collect();
            only.paths()
                .filter(|named| {
                    let below = format!("{named}/");
                    !found.contains(named)
                        && found
                            .range(below.as_str()..)
                            .next()
                            .is_none_or(|path| !path.starts_with(&below))
                })
                .map(str::to_string)
                .collect()
        }
    };
    // Of those, the ones the walk did not find (both lists are sorted by path).
    let walked_paths = walked.files.iter().map(|file| (file.path.as_str(), ()));
    let mut removed: Vec<String> = looked_for
        .iter()
        .zip(matches_in_sorted(
            looked_for.iter().map(|path| path.as_str()),
            walked_paths,
        ))
        .filter(|(_, found)| found.is_none())
        .map(|(path, _)| (*path).clone())
        .collect();
    let read_files = std::sync::atomic::AtomicUsize::new(0);
    let now = std::time::SystemTime::now();
    // Each walked file's record, found by merging the two sorted lists (80k lookups in the
    // map compared paths all the way down the tree).
    let records: Vec<Option<&FileRecord>> = matches_in_sorted(
        walked.files.iter().map(|file| file.path.as_str()),
        known.iter().map(|(path, record)| (path.as_str(), record)),
    )
    .collect();
    let checked: Vec<Checked> = walked
        .files
        .into_par_iter()
        .zip(records)
        .map(|(file, record)| {
            let result = match record {
                // Same size and stamp as when it was read: unchanged, without reading it.
                Some(record)
                    if record.stamp.is_some()
                        && record.stamp == file.stamp
                        && record.size == file.size =>
                {
                    Checked::Unchanged(file.path, record.clone())
                }
                _ => {
                    read_files.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    match read_source(&file.absolute, settings.max_file_size) {
                        Err(reason) => Checked::Skipped(Skip {
                            path: file.path,
                            reason,
                        }),
                        Ok(source) => match record {
                            // Touched but the same: keep it, with the stamp it has now.
                            Some(record) if record.hash == source.hash => Checked::Unchanged(
                                file.path,
                                FileRecord {
                                    stamp: file.stamp.and_then(|s| s.settled(now)),
                                    ..record.clone()
                                },
                            ),
                            Some(_) => Checked::Changed(file, false),
                            None => Checked::Changed(file, true),
                        },
                    }
                }
            };
            progress.advance(1);
            result
        })
        .collect();
    progress.finish();
    let mut scan = Scan {
        skipped: walked.skipped,
        walk_ms,
        unmatched,
        read_files: read_files.into_inner(),
        ..Scan::default()
    };
    // What the walk did not look for stays as the manifest has it.
    if only.is_some() {
        let looked_for: std::collections::HashSet<&str> =
            looked_for.iter().map(|path| path.as_str()).collect();
        scan.unchanged.extend(
            known
                .iter()
                .filter(|(path, _)| !looked_for.contains(path.as_str()))
                .map(|(path, record)| (path.clone(), record.clone())),
        );
    }
    for checked in checked {
        match checked {
            Checked::Skipped(skip) => {
                // Found but no longer readable as source: it leaves the index.
                if known.contains_key(&skip.path) {
                    removed.push(skip.path.clone());
                }
                scan.skipped.push(skip);
            }
            Checked::Unchanged(path, record) => scan.unchanged.push((path, record)),
            Checked::Changed(file, new) => scan.to_index.push((file, new)),
        }
    }
    removed.sort_unstable();
    scan.removed = removed;
    scan.skipped.sort();
    scan.scan_ms = elapsed_ms(started);
    Ok(scan)
}

/// For each of `wanted` (sorted, distinct), the value `sorted` (sorted by key) holds under
/// it, in `wanted`'s order: one pass over both lists, as a merge does.
fn matches_in_sorted<'k, V>(
    wanted: impl Iterator<Item = &'k str>,
    sorted: impl Iterator<Item = (&'k str, V)>,
) -> impl Iterator<Item = Option<V>> {
    let mut sorted = sorted.peekable();
    wanted.map(move |key| {
        while sorted.next_if(|(other, _)| *other < key).is_some() {}
        sorted
            .next_if(|(other, _)| *other == key)
            .map(|(_, value)| value)
    })
}

/// The paths of `known` that are `path` or lie under it (they sort together: from `path`
/// up to, not including, `path` followed by `0`, the character after `/`).
fn paths_at_or_under<'k, V>(
    known: &'k BTreeMap<String, V>,
    path: &str,
) -> impl Iterator<Item = &'k String> {
    let below = format!("{path}/");
    let end = format!("{path}0");
    known
        .range::<str, _>((
            std::ops::Bound::Included(path),
            std::ops::Bound::Excluded(end.as_str()),
        ))
        .map(|(p, _)| p)
        .filter(move |p| p.as_str() == path || p.starts_with(&below))
}

enum Checked {
    Skipped(Skip),
    Unchanged(String, FileRecord),
    Changed(WalkedFile, bool),
}

/// What an index run should do beyond bringing the lexical index and graph up to date.
#[derive(Clone, Debug, Default)]
pub struct UpdateOptions {
    /// Re-index every file even if unchanged.
    pub full: bool,
    /// Build the vector index after the commit, with this model (`None`: no vectors).
    pub vectors: Option<VectorOptions>,
    /// When set, only the paths it covers can have changed since the previous generation
    /// (what a file watcher, a git hook or an agent that wrote the files knows): the walk
    /// visits only them, and every other file keeps its record without being looked at — a
    /// change costs what it touches, not a walk of the tree. Ignored for a full run or when
    /// there is no previous generation. A change it does not cover is missed until a run
    /// without it.
    pub only: Option<Arc<Coverage>>,
}

/// Brings the index in `dir` up to date with the tree at `root` and commits it.
pub fn update_index(
    root: &Path,
    dir: &IndexDir,
    settings: &IndexSettings,
    options: UpdateOptions,
    progress: &dyn Progress,
) -> Result<IndexSummary, IndexError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(settings.effective_threads())
        .build()
        .map_err(|e| IndexError::Threads(e.to_string()))?;
    pool.install(|| update_in_pool(root, dir, settings, options, progress))
}

/// Link records encoded at a time before they are handed to the writer.
const LINK_RECORD_BATCH: usize = 1024;

fn update_in_pool(
    root: &Path,
    dir: &IndexDir,
    settings: &IndexSettings,
    options: UpdateOptions,
    progress: &dyn Progress,
) -> Result<IndexSummary, IndexError> {
    let started = Instant::now();
    let lock = dir.lock()?;
    let mut rebuild_reason = None;
    let previous = match dir.open() {
        Ok(snapshot) => Some(snapshot),
        Err(StoreError::Missing(_)) => None,
        Err(error) if error.needs_rebuild() => {
            rebuild_reason = Some(format!("{error}; rebuilding from scratch"));
            dir.reset(&lock)?;
            None
        }
        Err(error) => return Err(error.into()),
    };
    if let Some(snapshot) = &previous
        && snapshot.manifest.settings_fingerprint != settings.fingerprint()
    {
        rebuild_reason = Some("index settings changed; rebuilding from scratch".to_string());
    }
    let mut full = options.full || rebuild_reason.is_some();
    let previous_manifest = previous.as_ref().map(|s| &s.manifest);
    // Link or graph records that do not match the manifest would otherwise go unnoticed
    // until a change needs them (and a no-op run would keep saying the index is up to date):
    // rebuild, saying why. (Damaged bytes are caught by the segments' checksums at open.)
    if !full
        && let Some(snapshot) = &previous
        && let Some(mismatch) = snapshot.records_mismatch()
    {
        rebuild_reason = Some(format!("{mismatch}; rebuilding from scratch"));
        full = true;
    }
    // Records that decode but do not fit are found only by reading them: a reader that did
    // left a report for this run.
    if !full
        && let Some(snapshot) = &previous
        && let Some(damage) = dir.reported_damage(snapshot.manifest.generation)
    {
        rebuild_reason = Some(format!(
            "a reader found the index damaged ({damage}); rebuilding from scratch"
        ));
        full = true;
    }
    let open_ms = elapsed_ms(started);
    let mut scan = scan(
        root,
        dir,
        settings,
        if full { None } else { previous_manifest },
        if full { None } else { options.only.clone() },
        progress,
    )?;
    // An incremental run with changes needs the previous generation's facts (every file's,
    // for the definitions the update resolves against: the link records of the snapshot's
    // lexical commit) and graph (to update), read side by side and only then: a no-op run
    // never pays for them. Without the facts it starts over; without the graph it links from
    // scratch.
    //
    // A change that touches no file that shapes other files' imports is relinked from the
    // stored records instead (`relink_stored`): it reads the touched files' earlier facts
    // now, and the records of the files the change concerns, found by name, when it links.
    let mut previous_facts = FactsMap::new();
    let mut previous_graph = None;
    let mut load_ms = 0;
    let mut stored_relink = false;
    if let Some(snapshot) = &previous
        && !full
        && scan.counts().any_change()
    {
        let load_started = Instant::now();
        stored_relink = scan
            .removed
            .iter()
            .all(|path| relinkable_from_records(path, true))
            && scan
                .to_index
                .iter()
                .all(|(file, new)| relinkable_from_records(&file.path, *new));
        let facts = if stored_relink {
            let touched: Vec<&str> = scan
                .to_index
                .iter()
                .map(|(f, _)| f.path.as_str())
                .chain(scan.removed.iter().map(String::as_str))
                .collect();
            snapshot
                .stored_facts(dir)
                .facts_of(&touched)
                .map(|found| found.into_iter().collect::<FactsMap>())
        } else {
            let (facts, graph) =
                rayon::join(|| snapshot.read_facts(dir), || snapshot.read_graph(dir));
            previous_graph = graph.ok();
            facts
        };
        load_ms = elapsed_ms(load_started);
        match facts {
            Ok(facts) => previous_facts = facts,
            Err(error) => {
                rebuild_reason = Some(format!("{error}; rebuilding from scratch"));
                full = true;
                stored_relink = false;
                let unchanged = std::mem::take(&mut scan.unchanged);
                scan.to_index
                    .extend(unchanged.into_iter().map(|(path, record)| {
                        let absolute = root.join(&path);
                        (
                            WalkedFile {
                                path,
                                absolute,
                                size: record.size,
                                stamp: record.stamp,
                            },
                            false,
                        )
                    }));
                scan.to_index.sort();
            }
        }
    }
    if full && let Some(manifest) = previous_manifest {
        // Everything is re-indexed; what is in the old manifest and not on disk is removed.
        let present: std::collections::HashSet<&str> =
            scan.to_index.iter().map(|(f, _)| f.path.as_str()).collect();
        scan.removed = manifest
            .files
            .keys()
            .filter(|p| !present.contains(p.as_str()))
            .cloned()
            .collect();
        for (file, new) in &mut scan.to_index {
            *new = !manifest.files.contains_key(&file.path);
        }
    }
    let counts = scan.counts();
    let previous_generation = previous_manifest.map_or(0, |m| m.generation);
    let mut summary = IndexSummary {
        generation: previous_generation,
        committed: false,
        full_rebuild: full,
        rebuild_reason,
        files: counts,
        indexed_files: 0,
        indexed_chunks: 0,
        indexed_lines: 0,
        read_files: scan.read_files,
        restamped_files: 0,
        repaired: Vec::new(),
        extracted_lines: 0,
        extracted_bytes: 0,
        skipped: std::mem::take(&mut scan.skipped),
        unmatched: std::mem::take(&mut scan.unmatched),
        warnings: Vec::new(),
        graph: None,
        vectors: None,
        vectors_missing: None,
        timings: Timings {
            open_ms,
            walk_ms: scan.walk_ms,
            scan_ms: scan.scan_ms,
            load_ms,
            ..Timings::default()
        },
    };
    if let Some(snapshot) = &previous
        && !full
        && !counts.any_change()
    {
        let manifest = &snapshot.manifest;
        summary.record_totals(manifest);
        summary.restamped_files = restamp(dir, &lock, manifest, &scan.unchanged)?;
        // A writer killed after its commit may have left older manifests behind.
        dir.collect_garbage(&lock, manifest.generation)?;
        // Vectors of this generation may be missing (first run with a model, or an
        // interrupted embedding): build them, resuming from the cache.
        let state = vector_state(dir, manifest.generation);
        match (&options.vectors, &state) {
            (Some(_), VectorState::Intact) => {}
            (Some(vectors), _) => match snapshot.read_facts(dir) {
                Ok(facts) => {
                    run_vectors(
                        dir,
                        &lock,
                        manifest,
                        &facts,
                        vectors,
                        progress,
                        &mut summary,
                    );
                    if let (VectorState::Damaged(damage), Some(_)) = (&state, &summary.vectors) {
                        summary.repaired.push(format!(
                            "vectors rebuilt from the embedding cache ({damage})"
                        ));
                    }
                }
                Err(error) => summary.vectors_missing = Some(format!("cannot read facts: {error}")),
            },
            (None, VectorState::Intact) => {}
            (None, _) => summary.vectors_missing = Some("vectors are off".to_string()),
        }
        summary.timings.total_ms = elapsed_ms(started);
        return Ok(summary);
    }
    if full {
        previous_graph = None;
    }
    // A relink from the stored records reads the previous generation as it links.
    let stored = if stored_relink { previous } else { None };
    // Without a previous graph to update (a cold or full run), every file is linked afresh,
    // and each file's facts are kept lean until then.
    let fresh_link = stored.is_none() && previous_graph.is_none();
    let lexical = LexicalIndex::open_or_create(&dir.lexical_path())?;
    let writer = lexical.writer(settings.effective_threads())?;
    if full {
        writer.remove_all()?;
    }
    for path in &scan.removed {
        writer.remove_file(path);
    }
    let extract_started = Instant::now();
    progress.start("indexing", scan.to_index.len() as u64);
    let warnings = Mutex::new(Vec::new());
    let indexed: Vec<Result<Option<Indexed>, LexicalError>> = scan
        .to_index
        .par_iter()
        .map(|(file, _)| {
            let result = index_file(file, settings, &writer, &warnings);
            progress.advance(1);
            // A fresh link reads every file's facts: each is kept lean until then.
            match result {
                Ok(Some(indexed)) if fresh_link => Ok(Some(indexed.lean())),
                other => other,
            }
        })
        .collect();
    progress.finish();
    // A failed file fails the run before anything more is written.
    let indexed = match indexed
        .into_iter()
        .collect::<Result<Vec<Option<Indexed>>, _>>()
    {
        Ok(indexed) => indexed,
        Err(error) => {
            writer.abandon()?;
            return Err(error.into());
        }
    };
    // Link records go in after every chunk, so they fill stored blocks of their own: reading
    // every file's facts then decompresses those blocks, not the chunks' text. Encoded a
    // batch at a time, so a cold run never holds every record at once.
    for batch in indexed.chunks(LINK_RECORD_BATCH) {
        let records: Vec<(&Indexed, Option<Vec<u8>>)> = batch
            .par_iter()
            .filter_map(|result| {
                let indexed = result.as_ref()?;
                let encoded = match &indexed.lean {
                    None => Some(encode_link_record(&indexed.link)),
                    Some(lean) => lz4_flex::decompress_size_prepended(&lean.record).ok(),
                };
                Some((indexed, encoded))
            })
            .collect();
        for (indexed, encoded) in &records {
            match (&indexed.lean, encoded) {
                (Some(lean), Some(record)) => writer.add_link(
                    &indexed.path,
                    record,
                    LinkTerms {
                        defines: words(&lean.defines),
                        names: words(&lean.names),
                        imports: words(&lean.imports),
                    },
                )?,
                (None, Some(record)) => writer.add_link(
                    &indexed.path,
                    record,
                    LinkTerms {
                        defines: indexed.link.defined_names(),
                        names: indexed.link.looked_up_names(),
                        imports: indexed.link.import_words(&indexed.path),
                    },
                )?,
                (Some(_), None) => {
                    return Err(IndexError::Lean(format!(
                        "the link record of {} did not decompress",
                        indexed.path
                    )));
                }
                (None, None) => {}
            }
        }
    }
    let mut files: BTreeMap<String, FileRecord> = scan.unchanged.into_iter().collect();
    let mut facts = if full {
        FactsMap::new()
    } else {
        previous_facts
    };
    // The touched paths and their earlier facts: what the graph update compares against.
    let mut touched = BTreeSet::new();
    let mut touched_before = FactsMap::new();
    for path in scan
        .removed
        .iter()
        .chain(scan.to_index.iter().map(|(file, _)| &file.path))
    {
        touched.insert(path.clone());
        if let Some(before) = facts.remove(path) {
            touched_before.insert(path.clone(), before);
        }
    }
    // The encoded link records of the files whose facts are kept lean.
    let mut lean_records: HashMap<String, Vec<u8>> = HashMap::new();
    for Indexed {
        path,
        record,
        link,
        lean,
    } in indexed.into_iter().flatten()
    {
        if let Some(lean) = lean {
            lean_records.insert(path.clone(), lean.record);
        }
        summary.extracted_lines += u64::from(record.line_count);
        summary.extracted_bytes += record.size;
        facts.insert(path.clone(), link);
        files.insert(path, record);
    }
    // A file that became unreadable or binary between scan and read is a skip; its old chunks
    // were removed along with the re-index attempt.
    let (warnings, late_skips): (Vec<_>, Vec<_>) = warnings
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .partition(|w: &Noted| w.skip.is_none());
    summary.warnings = warnings.into_iter().map(|w| w.warning).collect();
    summary.warnings.sort();
    summary
        .skipped
        .extend(late_skips.into_iter().filter_map(|w| w.skip));
    summary.skipped.sort();
    summary.timings.extract_ms = elapsed_ms(extract_started);
    let graph_started = Instant::now();
    // An incremental run updates the previous graph, re-resolving only what the change
    // touches (from the stored records when it can); a full run, or a previous graph that
    // cannot be read, links from scratch in batches, each batch's records written as it is
    // resolved.
    let linked = match (&stored, previous_graph) {
        (Some(snapshot), _) => {
            relink_from_records(dir, snapshot, &files, &mut facts, &touched_before, &touched)
                .map_err(IndexError::from)
                .and_then(|relinked| match relinked {
                    Relinked::Records(relink) => Ok(Linked {
                        counts: add_graph_records(&writer, relink.records, full)?,
                        resolved_files: relink.resolved_files,
                        from_records: true,
                    }),
                    Relinked::Graph(graph) => write_linked(&writer, &graph, full),
                })
        }
        (None, Some(previous)) => {
            let graph = previous.update(&facts, &touched_before, &touched);
            write_linked(&writer, &graph, full)
        }
        (None, None) => link_afresh(&writer, &facts, std::mem::take(&mut lean_records), full),
    };
    let linked = match linked {
        Ok(linked) => linked,
        Err(error) => {
            writer.abandon()?;
            return Err(error);
        }
    };
    drop(stored);
    for (path, counts) in linked.counts {
        if let Some(record) = files.get_mut(&path) {
            record.graph = counts;
        }
    }
    let resolved_files = linked.resolved_files;
    let from_records = linked.from_records;
    summary.timings.graph_ms = elapsed_ms(graph_started);
    // Every file's facts are the bulk of a large run's memory: they go as soon as nothing
    // needs them (they stay only for the vector step, when they are every file's).
    drop(touched_before);
    // (Lean facts lack the references the vector units name: the vector step reads them from
    // the generation committed, as after a relink from the records.)
    let facts = (options.vectors.is_some() && !stored_relink && !fresh_link).then_some(facts);
    let commit_started = Instant::now();
    let manifest = manifest_with(previous_generation + 1, settings, files);
    summary.record_totals(&manifest);
    summary.graph = Some(GraphSummary::of_manifest(
        &manifest,
        resolved_files,
        from_records,
    ));
    // Nothing written is used until the manifest and the lexical commit (which carries the
    // link and graph records) name this generation.
    dir.write_manifest(&lock, &manifest)?;
    failpoint("before-commit");
    writer.commit(&IndexDir::commit_payload(manifest.generation))?;
    failpoint("after-commit");
    dir.collect_garbage(&lock, manifest.generation)?;
    summary.generation = manifest.generation;
    summary.committed = true;
    summary.timings.commit_ms = elapsed_ms(commit_started);
    // The vector step needs every file's facts: those of a relink from the stored records
    // are read from the generation just committed.
    let facts = match (&options.vectors, facts) {
        (Some(_), None) => match dir.open().and_then(|snapshot| snapshot.read_facts(dir)) {
            Ok(facts) => Some(facts),
            Err(error) => {
                summary.vectors_missing = Some(format!("cannot read facts: {error}"));
                None
            }
        },
        (_, facts) => facts,
    };
    match (&options.vectors, &facts) {
        (Some(vectors), Some(facts)) => {
            run_vectors(
                dir,
                &lock,
                &manifest,
                facts,
                vectors,
                progress,
                &mut summary,
            );
        }
        (Some(_), None) => {}
        _ => summary.vectors_missing = Some("vectors are off".to_string()),
    }
    summary.timings.total_ms = elapsed_ms(started);
    Ok(summary)
}

/// What a relink of a change gave: the records of the files it resolved again, or, when it
/// could not relink from the records, the whole graph updated.
enum Relinked {
    Records(StoredRelink),
    Graph(CodeGraph),
}

/// Relinks a change from the previous generation's stored records ([`relink_stored`]):
/// `facts` holds the touched files' facts now. Should the change move imports or scopes after
/// all, or the records fail to read, every file's facts and the graph are read and the graph
/// updated as usual (`facts` then holds every file's).
fn relink_from_records(
    dir: &IndexDir,
    snapshot: &Snapshot,
    files: &BTreeMap<String, FileRecord>,
    facts: &mut FactsMap,
    touched_before: &FactsMap,
    touched: &BTreeSet<String>,
) -> Result<Relinked, StoreError> {
    let layout: Vec<PathEntry> = files
        .iter()
        .map(|(path, record)| PathEntry {
            path,
            language: Some(record.language),
            package: record.package.as_deref(),
        })
        .collect();
    let source = snapshot.stored_facts(dir);
    if let Ok(Some(relink)) = relink_stored(&source, &layout, facts, touched_before, touched) {
        return Ok(Relinked::Records(relink));
    }
    let (every, graph) = rayon::join(|| snapshot.read_facts(dir), || snapshot.read_graph(dir));
    let mut every = every?;
    every.retain(|path, _| !touched.contains(path));
    every.append(facts);
    *facts = every;
    Ok(Relinked::Graph(match graph {
        Ok(graph) => graph.update(facts, touched_before, touched),
        Err(_) => CodeGraph::build(facts),
    }))
}

/// What linking wrote: each re-resolved file's graph counts, how many files resolved, and
/// whether the link read only what it concerned from the stored records.
struct Linked {
    counts: Vec<(String, GraphCounts)>,
    resolved_files: usize,
    from_records: bool,
}

/// Adds the graph records of the files `graph`'s link re-resolved, each replacing the file's
/// previous record unless the writer was cleared (`full`). Encoded a batch at a time on
/// every core.
fn write_linked(
    writer: &LexicalWriter,
    graph: &CodeGraph,
    full: bool,
) -> Result<Linked, IndexError> {
    let positions = SymbolPositions::of(graph);
    let mut counts = Vec::with_capacity(graph.relinked.len());
    for batch in graph.relinked.chunks(LINK_RECORD_BATCH) {
        let records: Vec<(String, GraphRecord)> = batch
            .par_iter()
            .map(|path| (path.clone(), graph.record(path, &positions)))
            .collect();
        counts.extend(add_graph_records(writer, records, full)?);
    }
    Ok(Linked {
        counts,
        resolved_files: graph.resolved_files,
        from_records: false,
    })
}

/// Links every file of `facts` afresh ([`link_in_batches`]; the facts of the files in
/// `lean_records` lack their references, which are decoded from those records a batch at a
/// time), adding each batch's graph records as it is resolved (replacing earlier ones unless
/// the writer was cleared: `full`).
fn link_afresh(
    writer: &LexicalWriter,
    facts: &FactsMap,
    lean_records: HashMap<String, Vec<u8>>,
    full: bool,
) -> Result<Linked, IndexError> {
    let mut counts = Vec::with_capacity(facts.len());
    // Each record is let go once its file is linked.
    let lean_records = Mutex::new(lean_records);
    let whole = |path: &str| {
        let bytes = lean_records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(path);
        bytes.map_or(Ok(None), |bytes| {
            let lean = |error: String| {
                IndexError::Lean(format!("the link record of {path} just written: {error}"))
            };
            let bytes =
                lz4_flex::decompress_size_prepended(&bytes).map_err(|e| lean(e.to_string()))?;
            decode_link_record(&bytes)
                .map(Some)
                .map_err(|e| lean(e.to_string()))
        })
    };
    link_in_batches(facts, whole, LINK_RECORD_BATCH, |records| {
        counts.extend(add_graph_records(writer, records, full)?);
        Ok::<(), IndexError>(())
    })?;
    Ok(Linked {
        counts,
        resolved_files: facts.len(),
        from_records: false,
    })
}

/// Adds graph `records` (encoded on every core), each replacing the file's previous record
/// unless the writer was cleared (`full`); returns each one's counts.
fn add_graph_records(
    writer: &LexicalWriter,
    records: Vec<(String, GraphRecord)>,
    full: bool,
) -> Result<Vec<(String, GraphCounts)>, IndexError> {
    let encoded: Vec<(String, Vec<u8>, Vec<String>, GraphCounts)> = records
        .into_par_iter()
        .map(|(path, record)| {
            let targets = record.target_paths().map(str::to_string).collect();
            let counts = record.counts();
            (path, encode_graph_record(&record), targets, counts)
        })
        .collect();
    let mut counts = Vec::with_capacity(encoded.len());
    for (path, record, targets, record_counts) in encoded {
        if !full {
            writer.remove_graph(&path);
        }
        writer.add_graph(&path, &record, targets.iter().map(String::as_str))?;
        counts.push((path, record_counts));
    }
    Ok(counts)
}

/// The vector step after a commit: a failure is recorded in the summary, never fatal, since
/// the committed lexical index and graph serve retrieval without vectors.
fn run_vectors(
    dir: &IndexDir,
    lock: &WriteLock,
    manifest: &Manifest,
    facts: &FactsMap,
    options: &VectorOptions,
    progress: &dyn Progress,
    summary: &mut IndexSummary,
) {
    let started = Instant::now();
    // The model runtime and the HNSW library are foreign code; a panic in them must not take
    // the committed index with it, only the vectors.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let lexical = LexicalIndex::open(&dir.lexical_path()).map_err(|e| {
            crate::vector::VectorError::Ann(format!("opening the lexical index: {e}"))
        })?;
        let units = collect_units(options.design, facts, &lexical)?;
        update_vectors(
            dir,
            lock,
            manifest.generation,
            &manifest.files,
            units,
            options,
            progress,
        )
    }));
    match outcome {
        Ok(Ok(vectors)) => {
            if vectors.dropped_cache_records > 0 {
                summary.repaired.push(format!(
                    "{} damaged records dropped from the embedding cache and embedded again",
                    vectors.dropped_cache_records
                ));
            }
            summary.vectors = Some(vectors);
        }
        Ok(Err(error)) => summary.vectors_missing = Some(error.to_string()),
        Err(_) => summary.vectors_missing = Some("the vector step crashed".to_string()),
    }
    summary.timings.vectors_ms = elapsed_ms(started);
}

fn manifest_with(
    generation: u64,
    settings: &IndexSettings,
    files: BTreeMap<String, FileRecord>,
) -> Manifest {
    Manifest {
        generation,
        committed_at_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        settings_fingerprint: settings.fingerprint(),
        files,
    }
}

struct Noted {
    warning: FileWarning,
    skip: Option<Skip>,
}

/// Longest line of a file parsed with its grammar; past it the file is minified or generated
/// and indexed as plain text (hand-written code stays far below).
pub const MAX_PARSED_LINE_BYTES: usize = 10_000;

/// Reads, extracts and adds one file's chunks; `None` when the file turned out unindexable.
fn index_file(
    file: &WalkedFile,
    settings: &IndexSettings,
    writer: &LexicalWriter,
    notes: &Mutex<Vec<Noted>>,
) -> Result<Option<Indexed>, LexicalError> {
    let note = |warning: String, skip: Option<Skip>| {
        let noted = Noted {
            warning: FileWarning {
                path: file.path.clone(),
                warning,
            },
            skip,
        };
        notes.lock().unwrap_or_else(|e| e.into_inner()).push(noted);
    };
    writer.remove_file(&file.path);
    let source = match read_source(&file.absolute, settings.max_file_size) {
        Ok(source) => source,
        Err(reason) => {
            note(
                String::new(),
                Some(Skip {
                    path: file.path.clone(),
                    reason,
                }),
            );
            return Ok(None);
        }
    };
    let language = Language::from_path(Path::new(&file.path));
    // A minified or generated file (a line no one writes by hand) is indexed as text: parsing
    // and linking a 50 MB one-line bundle took minutes and gigabytes for facts nobody reads.
    let longest_line = source.text.lines().map(str::len).max().unwrap_or(0);
    let parsed_as = if language.grammar().is_some() && longest_line > MAX_PARSED_LINE_BYTES {
        note(
            format!(
                "a line of {longest_line} bytes (minified or generated?); indexed as plain text"
            ),
            None,
        );
        Language::Text
    } else {
        language
    };
    let facts = extract(parsed_as, &source.text, &settings.chunk_limits);
    if source.lossy {
        note("invalid UTF-8 replaced with U+FFFD".to_string(), None);
    }
    if let Some(line) = facts.first_syntax_error_line {
        note(
            format!("{language} syntax errors (the first at line {line}); facts may be incomplete"),
            None,
        );
    }
    let chunk_count = add_chunks(&file.path, language, &source.text, &facts, writer)?;
    writer.add_file(&file.path, language, facts.line_count, &source.text)?;
    let record = FileRecord {
        hash: source.hash,
        size: source.size,
        language,
        line_count: facts.line_count,
        symbol_count: facts.symbols.len() as u32,
        chunk_count,
        lossy_utf8: source.lossy,
        has_syntax_errors: facts.has_syntax_errors(),
        // Taken at the walk, before this read: a write in between changes it.
        stamp: file
            .stamp
            .and_then(|s| s.settled(std::time::SystemTime::now())),
        package: None,
        // Filled in once the file is linked.
        graph: Default::default(),
    };
    let link = LinkFacts {
        language: Some(language),
        symbols: facts.symbols,
        references: facts.references,
        imports: facts.imports,
        package: LinkFacts::manifest_package(&file.path, &source.text),
    };
    let record = FileRecord {
        package: link.package.clone(),
        ..record
    };
    Ok(Some(Indexed {
        path: file.path.clone(),
        record,
        link,
        lean: None,
    }))
}

fn add_chunks(
    path: &str,
    language: Language,
    text: &str,
    facts: &FileFacts,
    writer: &LexicalWriter,
) -> Result<u32, LexicalError> {
    let lines = LineIndex::new(text);
    // Names may repeat in a chunk (overloads, impl blocks); index each once.
    let mut seen: HashMap<&str, ()> = HashMap::new();
    for chunk in &facts.chunks {
        seen.clear();
        let mut symbols = String::new();
        for &index in &chunk.symbols {
            let name = facts.symbols[index as usize].name.as_str();
            if seen.insert(name, ()).is_none() {
                if !symbols.is_empty() {
                    symbols.push(' ');
                }
                symbols.push_str(name);
            }
        }
        let id = chunk_id(path, chunk.span, &chunk.hash);
        writer.add_chunk(&ChunkDocument {
            path,
            language,
            chunk_id: id,
            span: chunk.span,
            symbols,
            text: lines.slice(text, chunk.span),
        })?;
    }
    Ok(facts.chunks.len() as u32)
}

/// Stores the settled stamps of files that were read because their stamp changed but whose
/// content had not (a `touch`, a checkout back and forth), in the current generation's
/// manifest, replaced whole and atomically: only stamps differ, so a reader of either manifest
/// sees the same index. Without it a run that changes nothing would leave them to be read on
/// every later run until something else changed. Returns how many were restamped.
fn restamp(
    dir: &IndexDir,
    lock: &WriteLock,
    manifest: &Manifest,
    unchanged: &[(String, FileRecord)],
) -> Result<usize, IndexError> {
    let settled: Vec<&(String, FileRecord)> = unchanged
        .iter()
        .filter(|(path, record)| {
            record.stamp.is_some()
                && manifest
                    .files
                    .get(path)
                    .is_some_and(|known| known.stamp != record.stamp)
        })
        .collect();
    if settled.is_empty() {
        return Ok(0);
    }
    let mut refreshed = manifest.clone();
    for (path, record) in &settled {
        if let Some(known) = refreshed.files.get_mut(path) {
            known.stamp = record.stamp;
        }
    }
    dir.write_manifest(lock, &refreshed)?;
    Ok(settled.len())
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Environment variable naming a point at which an index run aborts, as if killed: lets tests
/// prove a crash at that point leaves a usable index. Unset in normal use.
pub const FAILPOINT_ENV: &str = "SEXTANT_FAILPOINT";

/// Aborts the process if the failpoint `name` is armed (see [`FAILPOINT_ENV`]).
pub(crate) fn failpoint(name: &str) {
    if std::env::var_os(FAILPOINT_ENV).is_some_and(|v| v == name) {
        std::process::abort();
    }
}
