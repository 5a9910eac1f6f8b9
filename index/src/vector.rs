//! The vector index: compact semantic units embedded with an ONNX model (fastembed), cached by
//! content, searched through HNSW (hnsw_rs).
//!
//! It follows the lexical index: a generation's lexical, graph and manifest are committed
//! first (retrieval works at once); then [`update_vectors`] embeds only units the cache lacks,
//! updates the HNSW graph and writes `vectors/units-N.bin` last, which marks generation N's
//! vectors complete. The graph is updated in place: a unit that is unchanged keeps its id, a
//! new one is inserted under a new id, a vanished one becomes a tombstone that searches skip;
//! when tombstones pass a quarter of the ids the graph is rebuilt from the cache (the two
//! costs are measured in benches/RESULTS.md).
//!
//! ```text
//! <index dir>/vectors/embeddings-<model id>.bin   cache: unit hash → vector, append-only
//! <index dir>/vectors/hnsw-N.hnsw.{graph,data}    HNSW of generation N
//! <index dir>/vectors/units-N.bin                 units of generation N (framed, checksummed)
//! ```

pub mod ann;
pub mod cache;
pub mod embed;
pub mod quantize;
pub mod units;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::facts::ContentHash;
use crate::store::{FactsMap, IndexDir, WriteLock};
use crate::update::Progress;

use self::ann::AnnIndex;
use self::cache::EmbeddingCache;
use self::embed::{Embed, EmbeddingProvider};
use self::units::{Unit, UnitDesign, symbol_units};

const UNITS_MAGIC: &[u8; 8] = b"SXUNITS\0";

/// Errors of the vector index.
#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    /// The caller asked for the step to be abandoned.
    #[error("{}", VECTOR_STEP_STOPPED)]
    Stopped,
    /// A model file is missing or unreadable.
    #[error("cannot read model file {path}: {source}")]
    ModelFile {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// ONNX Runtime could not be loaded.
    #[error("{0}")]
    Runtime(String),
    /// The model failed to load or run.
    #[error("embedding model: {0}")]
    Model(String),
    /// The HNSW graph could not be written or read.
    #[error("vector index: {0}")]
    Ann(String),
    /// Reading or writing a vector file failed.
    #[error("{context} {path}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A stored file is damaged.
    #[error("vector index {path} is damaged ({reason}); `sextant index` rebuilds it")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A unit as stored with the index (without its text, which only the cache key stands for).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StoredUnit {
    /// File path.
    pub path: String,
    /// First line.
    pub line: u32,
    /// Symbol id or path.
    pub label: String,
    /// Cache key.
    pub key: ContentHash,
}

/// What a generation's vectors were built with, and the units in HNSW id order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnitTable {
    /// The lexical generation these vectors belong to.
    pub generation: u64,
    /// The model's content id.
    pub model_id: String,
    /// How units were cut.
    pub design: UnitDesign,
    /// Vector length.
    pub dimension: usize,
    /// Units by HNSW id; `None` marks a tombstone (a unit since removed).
    pub units: Vec<Option<StoredUnit>>,
    /// The HNSW files as written, checked before hnsw_rs reads them: it exits the process on
    /// a truncated file and aborts on an absurd length read from a damaged one.
    pub files: Vec<FileDigest>,
    /// The HNSW graph's distance ([`ann::DISTANCE`]): a graph built with another one (an
    /// older sextant's) is rebuilt from the embedding cache, not read. Last, so a table
    /// written before it existed fails to decode and counts as damaged.
    pub distance: String,
}

/// A file's length and blake3 digest, recorded when it was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// File name inside the vectors directory.
    pub name: String,
    /// Length in bytes.
    pub len: u64,
    /// blake3 of the content.
    pub blake3: [u8; 32],
}

impl FileDigest {
    /// The digest of `dir/name` as it is now.
    fn of(dir: &Path, name: &str) -> Result<FileDigest, VectorError> {
        let path = dir.join(name);
        let mut hasher = blake3::Hasher::new();
        let len = std::fs::File::open(&path)
            .and_then(|file| hasher.update_reader(file).map(|_| ()))
            .and_then(|()| std::fs::metadata(&path))
            .map_err(|source| VectorError::Io {
                context: "reading",
                path: path.clone(),
                source,
            })?
            .len();
        Ok(FileDigest {
            name: name.to_string(),
            len,
            blake3: *hasher.finalize().as_bytes(),
        })
    }

    /// Checks that `dir/name` is still exactly what was written: length first (cheap, catches
    /// truncation and deletion), then content.
    fn check(&self, dir: &Path) -> Result<(), VectorError> {
        let path = dir.join(&self.name);
        let damaged = |reason: String| VectorError::Corrupt {
            path: path.clone(),
            reason,
        };
        let len = std::fs::metadata(&path)
            .map_err(|e| damaged(format!("cannot read it: {e}")))?
            .len();
        if len != self.len {
            return Err(damaged(format!("{len} bytes, {} written", self.len)));
        }
        let now = FileDigest::of(dir, &self.name)?;
        if now.blake3 != self.blake3 {
            return Err(damaged("its checksum does not match".to_string()));
        }
        Ok(())
    }
}

impl UnitTable {
    /// Live units.
    pub fn live(&self) -> usize {
        self.units.iter().filter(|u| u.is_some()).count()
    }
}

/// Share of tombstones beyond which the graph is rebuilt rather than patched.
const MAX_TOMBSTONE_SHARE: f64 = 0.25;

/// How to build vectors.
#[derive(Clone, Debug)]
pub struct VectorOptions {
    /// Where vectors come from: the local model (and runtime) or an embedding server.
    pub model: EmbeddingProvider,
    /// How units are cut.
    pub design: UnitDesign,
    /// ONNX Runtime threads (0 = its default).
    pub threads: usize,
    /// Set by a caller that wants the step abandoned (the tree changed again and the next run
    /// will build these vectors): read between batches and before the graph is loaded and
    /// written. An abandoned step leaves the generation without vectors (the embeddings made
    /// are cached) and says [`VECTOR_STEP_STOPPED`].
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// The vectors a long-lived process holds in memory (`sextant serve`, `index --watch`): the
    /// step patches the graph held there instead of loading it from disk, and leaves what it
    /// wrote there for the process's readers, who then need not load it either.
    pub live: Option<LiveVectors>,
}

/// The newest vectors a process holds in memory, shared between the writer that builds them
/// and the readers that search them. Loading a generation's HNSW graph from disk costs most of
/// a second on a 600k-line repository, twice per change in a warm server (the writer's patch
/// and the readers' reload); held here, a change costs only its inserts and the dump.
///
/// The graph is shared, not copied: the writer inserts the new units into the graph the
/// readers search. That is safe because a snapshot only answers ids its own table lists (a
/// reader's older table skips the new ids), and a graph holding ids its table does not (a
/// step that stopped or failed after inserting) is never patched again: the next step loads
/// from disk.
#[derive(Clone, Default)]
pub struct LiveVectors(Arc<Mutex<Option<VectorSnapshot>>>);

impl LiveVectors {
    /// The vectors held, if they are generation `generation`'s.
    pub fn of_generation(&self, generation: u64) -> Option<VectorSnapshot> {
        self.slot()
            .as_ref()
            .filter(|held| held.generation == generation)
            .cloned()
    }

    /// Holds `snapshot` unless newer vectors are held already (a reader offers what it loaded;
    /// the writer's newer ones win).
    pub fn offer(&self, snapshot: &VectorSnapshot) {
        let mut slot = self.slot();
        if slot
            .as_ref()
            .is_none_or(|held| held.generation < snapshot.generation)
        {
            *slot = Some(snapshot.clone());
        }
    }

    /// The held vectors to patch into generation `generation`: only when they are the newest
    /// complete ones on disk (no other process wrote newer) and their graph holds exactly the
    /// units their table lists.
    fn to_patch(&self, dir: &IndexDir, generation: u64) -> Option<VectorSnapshot> {
        let held = self.slot().clone()?;
        (newest_vectors(dir, generation) == Some(held.generation)
            && held.ann.len() == held.table.units.len())
        .then_some(held)
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<VectorSnapshot>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for LiveVectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.slot().as_ref().map(|held| held.generation);
        f.debug_tuple("LiveVectors").field(&held).finish()
    }
}

/// What an abandoned vector step says (see [`VectorOptions::stop`]).
pub const VECTOR_STEP_STOPPED: &str = "the vector step gave way to a newer change";

impl VectorOptions {
    /// Whether the caller asked for the step to be abandoned.
    fn stopped(&self) -> Result<(), VectorError> {
        match &self.stop {
            Some(stop) if stop.load(std::sync::atomic::Ordering::Acquire) => {
                Err(VectorError::Stopped)
            }
            _ => Ok(()),
        }
    }
}

/// What a vector run did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct VectorSummary {
    /// Units in the index.
    pub units: usize,
    /// Units embedded in this run (the rest came from the cache).
    pub embedded: usize,
    /// Milliseconds loading the model.
    pub load_ms: u64,
    /// Milliseconds embedding.
    pub embed_ms: u64,
    /// Units embedded per second in this run.
    pub units_per_second: f64,
    /// Milliseconds building or patching, and writing, the HNSW graph.
    pub ann_ms: u64,
    /// Whether the graph was rebuilt from scratch (else patched in place).
    pub ann_rebuilt: bool,
    /// The model's content id.
    pub model_id: String,
    /// Damaged records dropped from the embedding cache (their units were embedded again).
    pub dropped_cache_records: usize,
    /// Units left out because their source may not receive their text (a secret, for a
    /// server outside the process): lexical search still finds them.
    pub withheld: usize,
}

fn vector_dir(dir: &IndexDir) -> PathBuf {
    dir.vectors_path()
}

fn units_path(dir: &IndexDir, generation: u64) -> PathBuf {
    vector_dir(dir).join(format!("units-{generation}.bin"))
}

fn ann_basename(generation: u64) -> String {
    format!("hnsw-{generation}")
}

fn ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Units of every file, in path order: from the facts (symbol design) or from the chunks
/// stored in the lexical index (chunk design).
pub fn collect_units(
    design: UnitDesign,
    facts: &FactsMap,
    lexical: &crate::lexical::LexicalIndex,
) -> Result<Vec<Unit>, VectorError> {
    Ok(match design {
        UnitDesign::Symbols => facts
            .iter()
            .flat_map(|(path, link)| symbol_units(path, link))
            .collect(),
        UnitDesign::Chunks => lexical
            .all_chunks()
            .map_err(|e| VectorError::Ann(format!("reading chunks: {e}")))?
            .into_iter()
            .map(|c| units::chunk_unit(&c.path, c.start_line as u32, c.end_line as u32, &c.text))
            .collect(),
    })
}

/// What generation `generation`'s vector files are like, read once (each check hashes the
/// HNSW files).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VectorState {
    /// Complete and intact.
    Intact,
    /// The generation has no vectors (not built yet, or vectors are off).
    Absent,
    /// Some file is damaged or missing: the next index run rebuilds them from the embedding
    /// cache. Says what is wrong.
    Damaged(String),
}

/// The state of generation `generation`'s vectors.
pub fn vector_state(dir: &IndexDir, generation: u64) -> VectorState {
    match read_table(dir, generation) {
        Ok(Some(table)) if table.generation != generation => VectorState::Damaged(format!(
            "units-{generation}.bin names generation {}",
            table.generation
        )),
        Ok(Some(_)) => VectorState::Intact,
        // The HNSW files are written before the units file: with them there and it missing,
        // the units file was lost, not yet to be written (the writer holds the lock).
        Ok(None) => {
            if vector_dir(dir)
                .join(format!("{}.hnsw.graph", ann_basename(generation)))
                .exists()
            {
                VectorState::Damaged(format!(
                    "units-{generation}.bin is missing beside its HNSW files"
                ))
            } else {
                VectorState::Absent
            }
        }
        Err(error) => VectorState::Damaged(error.to_string()),
    }
}

/// Generation `generation`'s unit table, with its HNSW files checked against it; `None` when
/// the generation has no vectors.
fn read_table(dir: &IndexDir, generation: u64) -> Result<Option<UnitTable>, VectorError> {
    let path = units_path(dir, generation);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(VectorError::Io {
                context: "reading",
                path,
                source,
            });
        }
    };
    let table: UnitTable =
        crate::store::frame::decode(UNITS_MAGIC, &bytes).map_err(|e| VectorError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    // An empty graph has no files (hnsw_rs cannot write one); any other needs its two.
    if table.files.is_empty() && !table.units.is_empty() {
        return Err(VectorError::Corrupt {
            path,
            reason: "no HNSW files recorded".to_string(),
        });
    }
    if table.distance != ann::DISTANCE {
        return Err(VectorError::Corrupt {
            path,
            reason: format!(
                "its graph uses distance {:?}, not {:?}",
                table.distance,
                ann::DISTANCE
            ),
        });
    }
    for file in &table.files {
        file.check(&vector_dir(dir))?;
    }
    Ok(Some(table))
}

/// Embeds what the cache lacks and writes generation `generation`'s vectors.
pub fn update_vectors(
    dir: &IndexDir,
    _lock: &WriteLock,
    generation: u64,
    files: &std::collections::BTreeMap<String, crate::store::FileRecord>,
    units: Vec<Unit>,
    options: &VectorOptions,
    progress: &dyn Progress,
) -> Result<VectorSummary, VectorError> {
    let vectors_dir = vector_dir(dir);
    std::fs::create_dir_all(&vectors_dir).map_err(|source| VectorError::Io {
        context: "creating",
        path: vectors_dir.clone(),
        source,
    })?;
    // The model is loaded only when something needs embedding (a fifth of a second that a
    // small change should not pay); its id and dimension come from its file and the cache.
    let started = Instant::now();
    let provider = &options.model;
    let model_id = provider.model_id()?;
    let mut embedder: Option<Box<dyn Embed>> = None;
    let dimension = match EmbeddingCache::stored_dimension(&vectors_dir, &model_id) {
        Some(dimension) => dimension,
        None => {
            let loaded = load_embedder(provider, options.threads, &model_id, None)?;
            let dimension = loaded.dimension();
            embedder = Some(loaded);
            dimension
        }
    };
    let mut cache = EmbeddingCache::open(&vectors_dir, &model_id, dimension)?;

    // Units the cache lacks, each text once, shortest first so batches pad little. Those the
    // source may not receive are left out of this generation's vectors altogether (a unit
    // already cached was admitted when it was embedded and is not sent again).
    let mut seen = HashSet::new();
    let withheld_keys: HashSet<ContentHash> = units
        .iter()
        .filter(|u| {
            cache.get(&u.key).is_none()
                && seen.insert(u.key)
                && !provider.admits(&u.path, files.get(&u.path).map(|f| &f.hash), &u.text)
        })
        .map(|u| u.key)
        .collect();
    let before = units.len();
    let units: Vec<Unit> = units
        .into_iter()
        .filter(|u| !withheld_keys.contains(&u.key))
        .collect();
    let withheld = before - units.len();
    let mut seen = HashSet::new();
    let mut missing: Vec<&Unit> = units
        .iter()
        .filter(|u| cache.get(&u.key).is_none() && seen.insert(u.key))
        .collect();
    missing.sort_by_key(|u| (u.text.len(), u.key));
    if !missing.is_empty() && embedder.is_none() {
        embedder = Some(load_embedder(
            provider,
            options.threads,
            &model_id,
            Some(dimension),
        )?);
    }
    let load_ms = ms(started);
    let embedding = Instant::now();
    progress.start("embed", missing.len() as u64);
    for batch in missing.chunks(provider.batch_size().max(1)) {
        let texts: Vec<&str> = batch.iter().map(|u| u.text.as_str()).collect();
        let Some(embedder) = embedder.as_mut() else {
            break;
        };
        options.stopped()?;
        let vectors = embedder.embed(&texts)?;
        cache.append(batch.iter().map(|u| u.key).zip(vectors).collect())?;
        progress.advance(batch.len() as u64);
        crate::update::failpoint("after-embed-batch");
    }
    progress.finish();
    let embed_ms = ms(embedding);

    let building = Instant::now();
    let vector_of = |unit: &StoredUnit| {
        cache.get(&unit.key).ok_or_else(|| VectorError::Corrupt {
            path: vectors_dir.clone(),
            reason: format!("no cached vector for {}", unit.label),
        })
    };
    let stored: Vec<StoredUnit> = units
        .iter()
        .map(|u| StoredUnit {
            path: u.path.clone(),
            line: u.line,
            label: u.label.clone(),
            key: u.key,
        })
        .collect();
    options.stopped()?;
    let held = options
        .live
        .as_ref()
        .and_then(|live| live.to_patch(dir, generation))
        .filter(|held| {
            held.table.model_id == model_id
                && held.table.dimension == dimension
                && held.table.design == options.design
        })
        .map(|held| ((*held.table).clone(), held.ann));
    let previous =
        held.or_else(|| previous_table(dir, generation, &model_id, dimension, options.design));
    let (table, ann, rebuilt) = match previous {
        // An empty graph is rebuilt rather than grown from nothing.
        Some((mut table, ann)) if !table.units.is_empty() => {
            // Keep ids of unchanged units, tombstone vanished ones, append new ones.
            let current: HashSet<&StoredUnit> = stored.iter().collect();
            let mut known: HashSet<StoredUnit> = HashSet::new();
            for slot in &mut table.units {
                if let Some(unit) = slot {
                    if current.contains(unit) && known.insert(unit.clone()) {
                        continue;
                    }
                    *slot = None;
                }
            }
            let mut added = Vec::new();
            for unit in &stored {
                if !known.contains(unit) {
                    known.insert(unit.clone());
                    added.push((vector_of(unit)?, table.units.len()));
                    table.units.push(Some(unit.clone()));
                }
            }
            let dead = table.units.len() - table.live();
            if (dead as f64) > MAX_TOMBSTONE_SHARE * table.units.len() as f64 {
                (None, None, true)
            } else {
                ann.insert(&added);
                table.generation = generation;
                (Some(table), Some(ann), false)
            }
        }
        _ => (None, None, true),
    };
    let (table, ann) = match (table, ann) {
        (Some(table), Some(ann)) => (table, ann),
        _ => {
            let items: Vec<(&[f32], usize)> = stored
                .iter()
                .enumerate()
                .map(|(id, unit)| Ok((vector_of(unit)?, id)))
                .collect::<Result<_, VectorError>>()?;
            let ann = Arc::new(AnnIndex::build(&items));
            let table = UnitTable {
                generation,
                model_id: model_id.clone(),
                design: options.design,
                dimension,
                units: stored.into_iter().map(Some).collect(),
                files: Vec::new(),
                distance: ann::DISTANCE.to_string(),
            };
            (table, ann)
        }
    };
    options.stopped()?;
    let mut table = table;
    table.files = ann.dump(&vectors_dir, &ann_basename(generation))?;
    write_units(dir, generation, &table)?;
    if let Some(live) = &options.live {
        live.offer(&VectorSnapshot {
            generation,
            table: Arc::new(table),
            ann,
        });
    }
    let ann_ms = ms(building);
    let keep: HashSet<ContentHash> = units.iter().map(|u| u.key).collect();
    cache.compact(&keep)?;
    remove_other_generations(&vectors_dir, generation);
    Ok(VectorSummary {
        units: units.len(),
        embedded: missing.len(),
        load_ms,
        embed_ms,
        units_per_second: if embed_ms > 0 {
            missing.len() as f64 * 1000.0 / embed_ms as f64
        } else {
            0.0
        },
        ann_ms,
        ann_rebuilt: rebuilt,
        model_id,
        dropped_cache_records: cache.dropped(),
        withheld,
    })
}

/// Loads `provider`, checking that it is the model `model_id` names and, when the cache
/// already holds its vectors, that it still returns `dimension`-long ones (a server that now
/// serves another model under the same name).
fn load_embedder(
    provider: &EmbeddingProvider,
    threads: usize,
    model_id: &str,
    dimension: Option<usize>,
) -> Result<Box<dyn Embed>, VectorError> {
    let loaded = provider.load(threads)?;
    if loaded.id() != model_id {
        return Err(VectorError::Model(format!(
            "the loaded model is {}, not {model_id}",
            loaded.id()
        )));
    }
    if let Some(cached) = dimension
        && loaded.dimension() != cached
    {
        return Err(VectorError::Model(format!(
            "model {model_id} now returns vectors of {} numbers but its cached ones have {cached}; remove .sextant/vectors/embeddings-{model_id}.bin to start over",
            loaded.dimension()
        )));
    }
    Ok(loaded)
}

/// The newest vectors up to `generation` built with the same model, to patch.
fn previous_table(
    dir: &IndexDir,
    generation: u64,
    model_id: &str,
    dimension: usize,
    design: UnitDesign,
) -> Option<(UnitTable, Arc<AnnIndex>)> {
    let snapshot = VectorSnapshot::open(dir, generation).ok()??;
    (snapshot.table.model_id == model_id
        && snapshot.table.dimension == dimension
        && snapshot.table.design == design)
        .then(|| ((*snapshot.table).clone(), snapshot.ann))
}

/// Generations that have a units file, newest first, none after `generation`.
/// The newest generation up to `generation` whose vectors are complete (its `units-N.bin`
/// written), if any: what [`VectorSnapshot::open`] tries first. A directory listing, cheap
/// enough to ask at every query.
pub fn newest_vectors(dir: &IndexDir, generation: u64) -> Option<u64> {
    generations_with_units(dir, generation).first().copied()
}

fn generations_with_units(dir: &IndexDir, generation: u64) -> Vec<u64> {
    let Ok(entries) = std::fs::read_dir(vector_dir(dir)) else {
        return Vec::new();
    };
    let mut found: Vec<u64> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix("units-")?
                .strip_suffix(".bin")?
                .parse::<u64>()
                .ok()
        })
        .filter(|g| *g <= generation)
        .collect();
    found.sort_unstable_by(|a, b| b.cmp(a));
    found
}

fn write_units(dir: &IndexDir, generation: u64, table: &UnitTable) -> Result<(), VectorError> {
    let path = units_path(dir, generation);
    let bytes = crate::store::frame::encode(UNITS_MAGIC, table);
    crate::atomic::write(&path, &bytes).map_err(|source| VectorError::Io {
        context: "writing",
        path,
        source,
    })
}

/// Deletes units and HNSW files of other generations (the cache stays).
fn remove_other_generations(vectors_dir: &Path, generation: u64) {
    let keep_units = format!("units-{generation}.bin");
    let keep_ann = format!("{}.", ann_basename(generation));
    let Ok(entries) = std::fs::read_dir(vectors_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let generational = name.starts_with("units-") || name.starts_with("hnsw-");
        if generational && name != keep_units && !name.starts_with(&keep_ann) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A generation's vectors, opened for search. Cloning shares them.
#[derive(Clone)]
pub struct VectorSnapshot {
    /// The index generation these vectors were built for.
    pub generation: u64,
    /// The units, by HNSW id.
    pub table: Arc<UnitTable>,
    /// The graph (shared with the writer that patches it: see [`LiveVectors`]).
    pub ann: Arc<AnnIndex>,
}

/// A unit found by similarity.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VectorHit {
    /// The unit.
    pub unit: StoredUnit,
    /// Cosine similarity to the query.
    pub similarity: f32,
}

impl VectorSnapshot {
    /// Opens the vectors of generation `generation`, or, while an index run is still building
    /// those, of the newest earlier generation whose files are intact (`table.generation` says
    /// which): a reader keeps answering from the last committed vectors. `None` when there are
    /// none; an error only when every candidate is damaged.
    pub fn open(dir: &IndexDir, generation: u64) -> Result<Option<VectorSnapshot>, VectorError> {
        let mut first_error = None;
        for candidate in generations_with_units(dir, generation) {
            match Self::open_exactly(dir, candidate) {
                Ok(Some(snapshot)) => return Ok(Some(snapshot)),
                // Removed by a writer between listing and reading: try the next.
                Ok(None) => {}
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        first_error.map_or(Ok(None), Err)
    }

    fn open_exactly(
        dir: &IndexDir,
        generation: u64,
    ) -> Result<Option<VectorSnapshot>, VectorError> {
        let Some(table) = read_table(dir, generation)? else {
            return Ok(None);
        };
        let path = units_path(dir, generation);
        let ann = if table.units.is_empty() {
            AnnIndex::build(&[])
        } else {
            AnnIndex::load(&vector_dir(dir), &ann_basename(generation))?
        };
        if ann.len() != table.units.len() {
            return Err(VectorError::Corrupt {
                path,
                reason: format!(
                    "{} units but {} vectors in the graph",
                    table.units.len(),
                    ann.len()
                ),
            });
        }
        Ok(Some(VectorSnapshot {
            generation,
            table: Arc::new(table),
            ann: Arc::new(ann),
        }))
    }

    /// The live units nearest to a query vector.
    pub fn search(&self, query: &[f32], limit: usize) -> Vec<VectorHit> {
        let units = &self.table.units;
        let live = |id: usize| units.get(id).is_some_and(Option::is_some);
        self.ann
            .search(query, limit, &live)
            .into_iter()
            .filter_map(|(id, similarity)| {
                Some(VectorHit {
                    unit: units.get(id)?.clone()?,
                    similarity,
                })
            })
            .collect()
    }
}
