//! The on-disk index: where each part lives, which generation is current, and how a new
//! generation is committed atomically.
//!
//! Layout of the index directory (`<repo>/.sextant/` by default):
//! ```text
//! lock                 held (flock) by the one writer
//! lexical/             tantivy index; its commit payload names the current generation
//! manifest-<N>.bin     the manifest of generation N
//! ```
//! **Invariant:** the tantivy commit is the single commit point. A new generation's manifest is
//! written (and synced) first, then tantivy commits with payload `generation:<N>`. A crash before
//! the commit leaves the previous payload, whose manifest is still on disk; a crash after it
//! leaves the new one complete. Manifests of other generations are garbage, removed by the next
//! writer. The manifest of a generation is written before the commit; every file's link facts
//! (symbols, references, imports) and its part of the graph (symbols and the edges leaving
//! them) are records in the lexical index beside its chunks, committed with them, so a change
//! writes the records of the files it touches or re-resolves and no more.

pub mod frame;
mod layout;
pub mod manifest;
pub mod verify;

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::graph::records::GraphRecord;
use crate::graph::resolve::FactsSource;
use crate::lexical::{LexicalError, LexicalIndex, RecordKey, RecordKind};
pub use frame::{FORMAT_VERSION, FrameError};
pub use manifest::{FileRecord, Manifest};

use crate::graph::{CodeGraph, LinkFacts};

/// Every file's link facts, by path: what the graph is rebuilt from when files change.
pub type FactsMap = std::collections::BTreeMap<String, LinkFacts>;

/// Default index directory name, inside the repository root.
pub const DEFAULT_INDEX_DIR: &str = ".sextant";

use layout::LEXICAL_DIR;
/// The index directory's own `.gitignore`: everything in it.
const IGNORE_EVERYTHING: &[u8] =
    b"# written by sextant: its index is never part of the repository\n*\n";
const PAYLOAD_PREFIX: &str = "generation:";

/// Errors reading or writing the index directory.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No index has been committed in this directory yet.
    #[error("no index at {0}")]
    Missing(PathBuf),
    /// The index exists but cannot be trusted.
    #[error("index at {dir} is damaged: {reason}")]
    Corrupt {
        /// The index directory.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The index was written by an incompatible sextant.
    #[error("index at {dir} has format {found}; this sextant reads format {expected}")]
    Incompatible {
        /// The index directory.
        dir: PathBuf,
        /// Format on disk.
        found: u32,
        /// Format this build reads.
        expected: u32,
    },
    /// The lexical index was written by a sextant with another schema (an older format).
    #[error("index at {dir} was written by another version of sextant ({detail})")]
    OtherVersion {
        /// The index directory.
        dir: PathBuf,
        /// What differs.
        detail: String,
    },
    /// Another process holds the write lock.
    #[error("another sextant process is updating the index at {0}")]
    Locked(PathBuf),
    /// A filesystem operation failed.
    #[error("{context} {path}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The lexical index failed.
    #[error(transparent)]
    Lexical(#[from] LexicalError),
}

impl StoreError {
    /// Whether rebuilding from scratch is the cure (damaged or incompatible index).
    pub fn needs_rebuild(&self) -> bool {
        matches!(
            self,
            StoreError::Corrupt { .. }
                | StoreError::Incompatible { .. }
                | StoreError::OtherVersion { .. }
        )
    }
}

fn io_error(context: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io {
        context,
        path,
        source,
    }
}

/// An index directory.
#[derive(Clone, Debug)]
pub struct IndexDir {
    path: PathBuf,
}

/// A committed generation opened for reading.
pub struct Snapshot {
    /// The manifest of the generation.
    pub manifest: Manifest,
    /// The lexical index at that generation.
    pub lexical: LexicalIndex,
}

impl Snapshot {
    /// Every file's link facts at this generation: the records the lexical index keeps beside
    /// each file's chunks. A record that does not decode, or a file of the manifest without
    /// one (or a record of a file the manifest lacks), makes the index damaged.
    pub fn read_facts(&self, dir: &IndexDir) -> Result<FactsMap, StoreError> {
        Ok(self
            .read_records::<LinkFacts>(dir, RecordKind::Link)?
            .into_iter()
            .collect())
    }

    /// The graph of this generation, assembled from every file's graph record. A record
    /// that does not decode or does not fit the others, or a file of the manifest without
    /// one, makes the index damaged.
    pub fn read_graph(&self, dir: &IndexDir) -> Result<CodeGraph, StoreError> {
        let records = self.read_records::<GraphRecord>(dir, RecordKind::Graph)?;
        CodeGraph::assemble(records).map_err(|reason| self.damaged(dir, reason))
    }

    /// The part of this generation's graph that `part` asks for, read from the records of
    /// the files it concerns alone (see [`GraphPart`]): what one query needs, without
    /// assembling the whole graph.
    pub fn read_graph_part(
        &self,
        dir: &IndexDir,
        part: &GraphPart<'_>,
    ) -> Result<CodeGraph, StoreError> {
        let corrupt = |reason: String| self.damaged(dir, reason);
        let decode = decode_graph;
        let lexical = &self.lexical;
        let mut wanted: std::collections::BTreeSet<&str> =
            part.files.iter().chain(&part.around).copied().collect();
        let mut unread_names = std::collections::BTreeSet::new();
        let mut definers = Vec::new();
        for name in &part.names {
            // An exact id (`setup.py::main`) names its file.
            for (at, _) in name.match_indices("::") {
                if self.manifest.files.contains_key(&name[..at]) {
                    wanted.insert(&name[..at]);
                }
            }
            let segments: Vec<&str> = name.split("::").filter(|s| !s.is_empty()).collect();
            let limit = if segments.len() > 1 {
                MAX_QUALIFIED_DEFINERS
            } else {
                part.max_definers
            };
            match lexical.files_defining_all(&segments, limit)? {
                Some(paths) => definers.extend(paths),
                None => {
                    unread_names.insert(name.to_string());
                }
            }
        }
        wanted.extend(definers.iter().map(String::as_str));
        let mut records: std::collections::BTreeMap<String, GraphRecord> = Default::default();
        let take = |records: &mut std::collections::BTreeMap<String, GraphRecord>,
                    found: Vec<(String, Result<GraphRecord, String>)>| {
            for (path, record) in found {
                records.insert(path, record.map_err(&corrupt)?);
            }
            Ok::<(), StoreError>(())
        };
        take(
            &mut records,
            lexical.records_of(RecordKind::Graph, wanted.iter().copied(), decode)?,
        )?;
        take(
            &mut records,
            lexical.records_with(RecordKey::PointsInto, part.around.iter().copied(), decode)?,
        )?;
        // The files the `around` files point at.
        let reached: std::collections::BTreeSet<String> = part
            .around
            .iter()
            .filter_map(|path| records.get(*path))
            .flat_map(|record| record.target_paths().map(str::to_string))
            .filter(|path| !records.contains_key(path))
            .collect();
        take(
            &mut records,
            lexical.records_of(
                RecordKind::Graph,
                reached.iter().map(String::as_str),
                decode,
            )?,
        )?;
        let mut graph = CodeGraph::assemble_part(records.into_iter().collect()).map_err(corrupt)?;
        graph.unread_names = unread_names;
        Ok(graph)
    }

    /// Every file's record of `kind`, decoded, sorted by path: exactly one per file of the
    /// manifest, or the index is damaged.
    fn read_records<T: serde::de::DeserializeOwned + Send>(
        &self,
        dir: &IndexDir,
        kind: RecordKind,
    ) -> Result<Vec<(String, T)>, StoreError> {
        let corrupt = |reason: String| self.damaged(dir, reason);
        let name = record_name(kind);
        let decoded = self
            .lexical
            .records(kind, |path, bytes| {
                frame::decode_body::<T>(bytes).map_err(|e| format!("the {name} of {path}: {e}"))
            })
            .map_err(|e| corrupt(e.to_string()))?;
        let mut records = Vec::with_capacity(decoded.len());
        for (path, decoded) in decoded {
            let decoded = decoded.map_err(&corrupt)?;
            if records
                .last()
                .is_some_and(|(last, _): &(String, T)| *last == path)
            {
                return Err(corrupt(format!("{path} has two {name}s")));
            }
            records.push((path, decoded));
        }
        if records.len() != self.manifest.files.len()
            || !records
                .iter()
                .map(|(path, _)| path)
                .eq(self.manifest.files.keys())
        {
            let have: std::collections::BTreeSet<&str> =
                records.iter().map(|(path, _)| path.as_str()).collect();
            let missing = self
                .manifest
                .files
                .keys()
                .find(|p| !have.contains(p.as_str()));
            let extra = have.iter().find(|p| !self.manifest.files.contains_key(**p));
            return Err(corrupt(format!(
                "{name}s do not match the manifest ({})",
                match (missing, extra) {
                    (Some(path), _) => format!("{path} has none"),
                    (None, Some(path)) => format!("{path} is not indexed"),
                    (None, None) => "counts differ".to_string(),
                }
            )));
        }
        Ok(records)
    }

    /// This generation's link records, fetched on demand.
    pub fn stored_facts<'s>(&'s self, dir: &'s IndexDir) -> StoredFacts<'s> {
        StoredFacts {
            snapshot: self,
            dir,
        }
    }

    /// Damage found in this generation's records: reported to the next writer, which rebuilds
    /// (records are checked by their segments' checksums, so only a writer's mistake gets
    /// this far), and returned as the error.
    fn damaged(&self, dir: &IndexDir, reason: String) -> StoreError {
        dir.report_damage(self.manifest.generation, &reason);
        StoreError::Corrupt {
            dir: dir.path.clone(),
            reason,
        }
    }

    /// Whether the lexical index holds one link record and one graph record per file of the
    /// manifest, by count (cheap: the `kind` postings): a no-op run checks it, so records
    /// that do not match are rebuilt before a change needs them.
    pub fn records_mismatch(&self) -> Option<String> {
        let files = self.manifest.files.len() as u64;
        let mismatches: Vec<String> = [RecordKind::Link, RecordKind::Graph]
            .into_iter()
            .filter_map(|kind| match self.lexical.record_count(kind) {
                Ok(count) if count == files => None,
                Ok(count) => Some(format!(
                    "{count} {}s for {files} indexed files",
                    record_name(kind)
                )),
                Err(error) => Some(format!("cannot count {}s: {error}", record_name(kind))),
            })
            .collect();
        (!mismatches.is_empty()).then(|| mismatches.join(", "))
    }
}

/// Most files a qualified name (`Type::name`) is looked for in: past that, which definition a
/// task means is not told by the graph (a plain name's limit is the caller's).
const MAX_QUALIFIED_DEFINERS: usize = 256;

/// What part of the graph one query reads ([`Snapshot::read_graph_part`]).
#[derive(Clone, Debug, Default)]
pub struct GraphPart<'a> {
    /// Files whose nodes are wanted (with the edges among everything read).
    pub files: Vec<&'a str>,
    /// Files whose every edge is wanted, both ways: with their records, the records of the
    /// files that point into them (found by the paths records index) and of the files they
    /// point at.
    pub around: Vec<&'a str>,
    /// Identifiers (`name`, or `Type::name`) whose definitions are wanted: read where a plain
    /// name is defined in at most `max_definers` files; the others are listed in the graph's
    /// [`CodeGraph::unread_names`].
    pub names: Vec<&'a str>,
    /// See `names`.
    pub max_definers: usize,
}

/// A generation's link records as a relink fetches them: a few files' at a time, by path or by
/// name, never every file's.
pub struct StoredFacts<'s> {
    snapshot: &'s Snapshot,
    dir: &'s IndexDir,
}

impl StoredFacts<'_> {
    fn corrupt(&self, reason: String) -> StoreError {
        StoreError::Corrupt {
            dir: self.dir.path.clone(),
            reason,
        }
    }

    fn decoded(
        &self,
        found: Result<Vec<(String, DecodedLink)>, LexicalError>,
    ) -> Result<Vec<(String, LinkFacts)>, StoreError> {
        found
            .map_err(|e| self.corrupt(e.to_string()))?
            .into_iter()
            .map(|(path, facts)| Ok((path, facts.map_err(|reason| self.corrupt(reason))?)))
            .collect()
    }
}

/// The leading fields of a link record (bincode encodes fields in order): what a file that
/// only defines names a relink looks up is needed for. Strings are borrowed from the record.
#[derive(serde::Deserialize)]
struct LinkSymbols<'r> {
    language: Option<crate::lang::Language>,
    #[serde(borrow)]
    symbols: Vec<SymbolPrefix<'r>>,
}

/// A symbol as [`crate::facts::Symbol`] encodes it, its strings borrowed.
#[derive(serde::Deserialize)]
struct SymbolPrefix<'r> {
    name: &'r str,
    kind: crate::facts::SymbolKind,
    span: crate::facts::LineSpan,
    container: Option<u32>,
    #[allow(dead_code)] // decoded to reach the next field; a definer's signature is not used
    signature: &'r str,
    #[allow(dead_code)]
    doc: Option<&'r str>,
}

/// A link record's language and symbols, the rest left undecoded (references and imports are
/// most of a record), and of each symbol what a definition is looked up by: its name, kind,
/// span and container, not its signature or doc (at 26M lines, 1,500 definers of a one-file
/// change hold ~150k symbols: owning their signatures and docs was most of their decoding).
fn decode_link_symbols(path: &str, bytes: &[u8]) -> DecodedLink {
    let (prefix, _): (LinkSymbols<'_>, usize) =
        bincode::serde::borrow_decode_from_slice(bytes, bincode::config::standard())
            .map_err(|e| format!("the link record of {path}: {e}"))?;
    Ok(LinkFacts {
        language: prefix.language,
        symbols: prefix
            .symbols
            .into_iter()
            .map(|symbol| crate::facts::Symbol {
                name: symbol.name.to_string(),
                kind: symbol.kind,
                span: symbol.span,
                container: symbol.container,
                signature: String::new(),
                doc: None,
            })
            .collect(),
        ..LinkFacts::default()
    })
}

/// A graph record decoded, or why it did not decode.
fn decode_graph(path: &str, bytes: &[u8]) -> Result<GraphRecord, String> {
    frame::decode_body::<GraphRecord>(bytes).map_err(|e| format!("the graph record of {path}: {e}"))
}

/// A link record decoded, or why it did not decode.
type DecodedLink = Result<LinkFacts, String>;

fn decode_link(path: &str, bytes: &[u8]) -> DecodedLink {
    frame::decode_body::<LinkFacts>(bytes).map_err(|e| format!("the link record of {path}: {e}"))
}

impl FactsSource for StoredFacts<'_> {
    type Error = StoreError;

    fn facts_of(&self, paths: &[&str]) -> Result<Vec<(String, LinkFacts)>, StoreError> {
        let lexical = &self.snapshot.lexical;
        self.decoded(lexical.records_of(RecordKind::Link, paths.iter().copied(), decode_link))
    }

    fn defining(&self, names: &[&str]) -> Result<Vec<(String, LinkFacts)>, StoreError> {
        let lexical = &self.snapshot.lexical;
        self.decoded(lexical.records_with(
            RecordKey::Defines,
            names.iter().copied(),
            decode_link_symbols,
        ))
    }

    fn naming(&self, names: &[&str]) -> Result<Vec<(String, LinkFacts)>, StoreError> {
        let lexical = &self.snapshot.lexical;
        self.decoded(lexical.records_with(RecordKey::Names, names.iter().copied(), decode_link))
    }

    fn count_naming(&self, names: &[&str]) -> Result<usize, StoreError> {
        Ok(self
            .snapshot
            .lexical
            .count_records_with(RecordKey::Names, names.iter().copied())?)
    }

    fn importing(&self, words: &[&str]) -> Result<Vec<(String, LinkFacts)>, StoreError> {
        let lexical = &self.snapshot.lexical;
        self.decoded(lexical.records_with(RecordKey::Imports, words.iter().copied(), decode_link))
    }

    fn scopes_of(&self, paths: &[&str]) -> Result<Vec<(String, u64)>, StoreError> {
        let found = self
            .snapshot
            .lexical
            .records_of(RecordKind::Graph, paths.iter().copied(), |path, bytes| {
                decode_graph(path, bytes).map(|record| record.scope())
            })
            .map_err(|e| self.corrupt(e.to_string()))?;
        found
            .into_iter()
            .map(|(path, scope)| Ok((path, scope.map_err(|reason| self.corrupt(reason))?)))
            .collect()
    }
}

/// What a record of `kind` is called in messages.
fn record_name(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Link => "link record",
        RecordKind::Graph => "graph record",
    }
}

/// Encodes a file's link facts as the record the lexical index keeps for it.
pub fn encode_link_record(facts: &LinkFacts) -> Vec<u8> {
    frame::encode_body(facts)
}

/// Decodes a link record [`encode_link_record`] made.
pub fn decode_link_record(bytes: &[u8]) -> Result<LinkFacts, frame::FrameError> {
    frame::decode_body(bytes)
}

/// Encodes a file's part of the graph as the record the lexical index keeps for it.
pub fn encode_graph_record(record: &GraphRecord) -> Vec<u8> {
    frame::encode_body(record)
}

/// The exclusive right to write an index directory; released when dropped (or when the
/// process dies, since it is an OS file lock, so a killed writer never leaves a stale lock).
pub struct WriteLock {
    _file: File,
}

impl IndexDir {
    /// The index directory at `path` (which need not exist yet).
    pub fn new(path: impl Into<PathBuf>) -> IndexDir {
        IndexDir { path: path.into() }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the write lock, failing at once if another process holds it.
    pub fn lock(&self) -> Result<WriteLock, StoreError> {
        std::fs::create_dir_all(&self.path)
            .map_err(io_error("creating index directory", &self.path))?;
        self.ignore_itself()?;
        let path = self.lock_path();
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_error("opening lock file", &path))?;
        match file.try_lock() {
            Ok(()) => Ok(WriteLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked(self.path.clone())),
            Err(std::fs::TryLockError::Error(source)) => Err(StoreError::Io {
                context: "locking",
                path,
                source,
            }),
        }
    }

    /// Writes `.gitignore` (`*`) into the index directory, as Python virtual environments do,
    /// so git never counts sextant's own files as the user's changes wherever the directory
    /// lives (issue 17: `execute` refused to start over `?? .sextant/` right after the
    /// README's own steps).
    fn ignore_itself(&self) -> Result<(), StoreError> {
        let path = self.gitignore_path();
        if std::fs::read(&path).is_ok_and(|bytes| bytes == IGNORE_EVERYTHING) {
            return Ok(());
        }
        std::fs::write(&path, IGNORE_EVERYTHING).map_err(io_error("writing", &path))
    }

    /// Opens the current generation for reading.
    pub fn open(&self) -> Result<Snapshot, StoreError> {
        // A writer may commit and delete the manifest we are about to read between our two
        // reads; the second attempt sees the newer generation.
        match self.open_once() {
            Err(StoreError::Corrupt { .. }) => self.open_once(),
            other => other,
        }
    }

    fn open_once(&self) -> Result<Snapshot, StoreError> {
        let lexical_path = self.lexical_path();
        if !self.lexical_meta_path().exists() {
            return Err(StoreError::Missing(self.path.clone()));
        }
        let corrupt = |reason: String| StoreError::Corrupt {
            dir: self.path.clone(),
            reason,
        };
        let mut lexical = LexicalIndex::open(&lexical_path).map_err(|e| match e {
            LexicalError::Schema(field) => StoreError::OtherVersion {
                dir: self.path.clone(),
                detail: format!("its lexical index has no field {field}"),
            },
            e => corrupt(e.to_string()),
        })?;
        // Searches read the commit the payload names, whatever is committed later.
        let payload = lexical.pin().map_err(|e| corrupt(e.to_string()))?;
        // A first run killed before its commit leaves an index that never committed: that is
        // no index yet, not a damaged one.
        let Some(payload) = payload else {
            return Err(StoreError::Missing(self.path.clone()));
        };
        let generation = Some(payload.as_str())
            .and_then(|p| p.strip_prefix(PAYLOAD_PREFIX))
            .and_then(|g| g.parse::<u64>().ok())
            .ok_or_else(|| corrupt(format!("lexical commit names no generation ({payload:?})")))?;
        self.verify_lexical(&lexical)?;
        lexical.keep_counts_in(self.counts_path());
        let manifest_path = self.manifest_path(generation);
        let bytes = std::fs::read(&manifest_path)
            .map_err(|e| corrupt(format!("cannot read {}: {e}", manifest_path.display())))?;
        let manifest = manifest::decode(&bytes).map_err(|e| self.frame_error(e))?;
        if manifest.generation != generation {
            return Err(corrupt(format!(
                "manifest is generation {} but the commit names {generation}",
                manifest.generation
            )));
        }
        Ok(Snapshot { manifest, lexical })
    }

    /// Checks every file of the committed lexical segments against tantivy's own checksum
    /// (those unchanged since they last passed are trusted by their stamp): a missing or
    /// damaged one makes the index damaged before tantivy parses a byte of it.
    fn verify_lexical(&self, lexical: &LexicalIndex) -> Result<(), StoreError> {
        let files = lexical.segment_files()?;
        let mut verifier = verify::Verifier::load(self);
        let lexical_path = self.lexical_path();
        let mut damage = None;
        for file in &files {
            let key = format!("{LEXICAL_DIR}/{}", file.display());
            let checked = verifier.check(&key, &lexical_path.join(file), || {
                match lexical.checksum_matches(file) {
                    Ok(true) => Ok(()),
                    Ok(false) => Err("its checksum does not match".to_string()),
                    Err(error) => Err(error),
                }
            });
            if let Err(reason) = checked {
                damage = Some(format!("{key}: {reason}"));
                break;
            }
        }
        // Stamps of files that are no longer part of the index are dropped.
        let current: std::collections::HashSet<String> = files
            .iter()
            .map(|f| format!("{LEXICAL_DIR}/{}", f.display()))
            .collect();
        verifier.retain(|key| !key.starts_with(LEXICAL_DIR) || current.contains(key));
        verifier.save();
        match damage {
            Some(reason) => Err(StoreError::Corrupt {
                dir: self.path.clone(),
                reason,
            }),
            None => Ok(()),
        }
    }

    fn frame_error(&self, error: FrameError) -> StoreError {
        match error {
            FrameError::Corrupt(reason) => StoreError::Corrupt {
                dir: self.path.clone(),
                reason,
            },
            FrameError::Incompatible { found, expected } => StoreError::Incompatible {
                dir: self.path.clone(),
                found,
                expected,
            },
        }
    }

    /// Writes a manifest for a generation about to be committed, durably.
    pub fn write_manifest(&self, lock: &WriteLock, manifest: &Manifest) -> Result<(), StoreError> {
        self.write_durably(
            lock,
            &self.manifest_path(manifest.generation),
            &manifest::encode(manifest),
        )
    }

    /// Temp file, fsync, rename, fsync of the directory: the file is whole or absent.
    fn write_durably(&self, lock: &WriteLock, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        crate::atomic::write(path, bytes).map_err(io_error("writing", path))?;
        self.record_checked(lock, &[path]);
        Ok(())
    }

    /// Files just written and synced are known good: the next run need not read them to check
    /// them. One load and save of the stamps for all of them (the writer's lock keeps other
    /// writers out).
    fn record_checked(&self, _lock: &WriteLock, paths: &[&Path]) {
        let mut verifier = verify::Verifier::load(self);
        for path in paths {
            if let Some(name) = path.file_name() {
                verifier.record(&name.to_string_lossy(), path);
            }
        }
        verifier.save();
    }

    /// The payload that marks a lexical commit as generation `generation`.
    pub fn commit_payload(generation: u64) -> String {
        format!("{PAYLOAD_PREFIX}{generation}")
    }

    /// Records that a reader found generation `generation`'s records damaged (`reason`), so
    /// the next `index` run rebuilds even when nothing changed. Best effort: a reader that
    /// cannot write still reports the damage to its caller.
    pub fn report_damage(&self, generation: u64, reason: &str) {
        let text = format!("{generation} {}", reason.replace('\n', " "));
        let _ = crate::atomic::write(&self.damaged_path(), text.as_bytes());
    }

    /// The damage a reader reported in generation `generation`, if any (a report about
    /// another generation is stale).
    pub fn reported_damage(&self, generation: u64) -> Option<String> {
        let text = std::fs::read_to_string(self.damaged_path()).ok()?;
        let (reported, reason) = text.split_once(' ')?;
        (reported.parse::<u64>().ok()? == generation).then(|| reason.to_string())
    }

    /// Removes manifests and temporary files of every generation but `current` (and the facts
    /// and graph files of formats before 12 and 14), and forgets their verified stamps.
    pub fn collect_garbage(&self, _lock: &WriteLock, current: u64) -> Result<(), StoreError> {
        let keep = [format!("manifest-{current}.bin")];
        let entries = std::fs::read_dir(&self.path).map_err(io_error("listing", &self.path))?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let generational = ["manifest-", "facts-", "graph-"]
                .iter()
                .any(|p| name.starts_with(p));
            if generational && !keep.iter().any(|k| *k == name) {
                std::fs::remove_file(entry.path()).map_err(io_error("removing", &entry.path()))?;
            }
        }
        // A damage report is about an earlier generation now.
        if self.reported_damage(current).is_none() {
            let _ = std::fs::remove_file(self.damaged_path());
        }
        let mut verifier = verify::Verifier::load(self);
        verifier.retain(|key| {
            !["manifest-", "facts-", "graph-"]
                .iter()
                .any(|prefix| key.starts_with(prefix))
                || keep.iter().any(|k| k == key)
        });
        verifier.save();
        Ok(())
    }

    /// Deletes the lexical index so the next writer starts empty (after corruption).
    pub fn reset(&self, _lock: &WriteLock) -> Result<(), StoreError> {
        let lexical = self.lexical_path();
        if lexical.exists() {
            std::fs::remove_dir_all(&lexical).map_err(io_error("removing", &lexical))?;
        }
        Ok(())
    }
}

/// A stable id for a chunk: the same path, lines and content give the same id on every machine.
pub fn chunk_id(path: &str, span: crate::facts::LineSpan, hash: &crate::facts::ContentHash) -> u64 {
    let mut hasher = blake3::Hasher::new();
    hasher.update(path.as_bytes());
    hasher.update(&span.start.to_le_bytes());
    hasher.update(&span.end.to_le_bytes());
    hasher.update(&hash.0);
    let digest = hasher.finalize();
    let mut id = [0u8; 8];
    id.copy_from_slice(&digest.as_bytes()[..8]);
    u64::from_le_bytes(id)
}
