//! The one retrieval path: the index's sources — the lexical snapshot, the knowledge graph,
//! the vectors with their embedding model, the history prior — are opened once, with one set
//! of fallbacks, and any number of tasks are ranked and packed against them. `why-relevant`,
//! `eval`, the agent and the server all go through it, so they answer alike: a source that is
//! missing or damaged is left out with a note saying what repairs it, never silently.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use sextant_index::graph::CodeGraph;
use sextant_index::store::{GraphPart, IndexDir, Snapshot};
use sextant_index::vector::embed::EmbeddingProvider;

use crate::rank::history::History;
use crate::rank::pack::{Budget, Packed, TokenCounter, WorkingTree, pack};
use crate::rank::query::TaskQuery;
use crate::rank::semantic::Semantic;
use crate::rank::{
    MAX_SYMBOL_FILES, RankedFile, Sources, Weights, graph_seeds, rank_found, symbol_names,
    text_signals,
};
use crate::secrets::SecretRules;
use crate::settings::Settings;

/// ONNX Runtime threads for embedding a task: one short text runs within a millisecond or
/// two of its time on two threads, and a pool of threads that spin after each run takes the
/// cores BM25 and the vector search need while they run beside it.
pub(crate) const QUERY_EMBEDDING_THREADS: usize = 1;

/// Ranked files considered for packing.
pub const CANDIDATES: usize = 50;

/// Whether to load the embedding model and the vectors.
pub enum VectorsFrom {
    /// The model to embed tasks with (and ONNX Runtime threads, 0 = its default).
    Model(EmbeddingProvider, usize),
    /// Vectors and model already loaded, kept as they are even when newer vectors exist: a
    /// warm server loads those off the query path and swaps them in
    /// ([`Retrieval::adopt_vectors`]).
    Kept(Box<Semantic>),
    /// No vectors, and why (said in the answer: "vectors_missing").
    Off(String),
}

/// Where the history prior comes from.
pub enum HistoryFrom {
    /// The history `sextant index` stored beside the index (a missing or damaged one is noted).
    Stored,
    /// A history the caller read (`eval` reads it as of the evaluated commit), or none.
    Given(Option<Box<History>>),
}

/// A task's answer: the parsed query, the ranking and the packed context.
pub struct Answer {
    /// The task as searched.
    pub query: TaskQuery,
    /// Files in rank order (at most [`CANDIDATES`]).
    pub ranked: Vec<RankedFile>,
    /// The selection packed into the budget.
    pub packed: Packed,
    /// Milliseconds ranking (embedding the task included).
    pub rank_ms: f64,
    /// Milliseconds packing.
    pub pack_ms: f64,
}

/// The opened sources of one index generation.
pub struct Retrieval {
    root: PathBuf,
    index_dir: IndexDir,
    snapshot: Snapshot,
    /// Whether the graph's records are all there: each query then reads the part of the
    /// graph it needs ([`Snapshot::read_graph_part`]).
    graph_stored: bool,
    /// The whole graph, assembled the first time something asks for all of it
    /// ([`Retrieval::graph`]).
    whole_graph: std::sync::OnceLock<Option<CodeGraph>>,
    semantic: Result<Semantic, String>,
    /// Whether vectors were asked for (the vector weight is not 0), loaded or not.
    vectors_wanted: bool,
    history: Option<History>,
    notes: Vec<String>,
    /// Why the last ranking went without vectors although they are loaded (the task could
    /// not be embedded: a secret in it, an embedding server down).
    query_note: Option<String>,
    load_ms: f64,
}

/// The note for ranking without the graph.
fn graph_note(why: &str) -> String {
    format!("ranking without the knowledge graph ({why}); `sextant index` repairs it")
}

fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 10_000.0).round() / 10.0
}

impl Retrieval {
    /// Opens the current generation of `index_dir` (files are read from `root`). Only the
    /// lexical index is required; the graph, the vectors and the history are each left out
    /// with a note when missing or damaged.
    pub fn open(
        index_dir: &IndexDir,
        root: &Path,
        vectors: VectorsFrom,
        history: HistoryFrom,
    ) -> anyhow::Result<Retrieval> {
        let started = Instant::now();
        let snapshot = index_dir.open().context("opening the index")?;
        let mut notes = Vec::new();
        // The graph is read per query, a part at a time; whether its records are all there is
        // known from their count.
        let graph_stored = match snapshot.records_mismatch() {
            None => true,
            Some(mismatch) => {
                notes.push(graph_note(&mismatch));
                false
            }
        };
        let vectors_wanted = !matches!(vectors, VectorsFrom::Off(_));
        let semantic = match vectors {
            VectorsFrom::Model(model, threads) => {
                match Semantic::open(index_dir, snapshot.manifest.generation, &model, threads) {
                    Ok(Some(semantic)) => Ok(semantic),
                    Ok(None) => Err(
                        "the index has no vectors for its current state; `sextant index` builds them"
                            .to_string(),
                    ),
                    Err(error) => Err(format!("{error:#}")),
                }
            }
            VectorsFrom::Kept(semantic) => Ok(*semantic),
            VectorsFrom::Off(why) => Err(why),
        };
        let history = match history {
            HistoryFrom::Given(history) => history.map(|history| *history),
            HistoryFrom::Stored => match History::load(index_dir) {
                Ok(Some(history)) => Some(history),
                // `sextant index` writes the history of every git work tree: missing there,
                // it was lost.
                Ok(None) if root.join(".git").exists() => {
                    notes.push(
                        "ranking without the history prior (history.bin is missing); `sextant index` rebuilds it"
                            .to_string(),
                    );
                    None
                }
                Ok(None) => None,
                Err(error) => {
                    notes.push(format!(
                        "ranking without the history prior ({error}); `sextant index` rebuilds it"
                    ));
                    None
                }
            },
        };
        Ok(Retrieval {
            root: root.to_path_buf(),
            index_dir: index_dir.clone(),
            snapshot,
            graph_stored,
            whole_graph: std::sync::OnceLock::new(),
            semantic,
            vectors_wanted,
            history,
            notes,
            query_note: None,
            load_ms: ms(started),
        })
    }

    /// Opens the index of a repository as its settings say. Vectors are loaded only when
    /// `use_vectors` (a ranking that gives them no weight should not pay for the model).
    pub fn for_settings(settings: &Settings, use_vectors: bool) -> anyhow::Result<Retrieval> {
        Retrieval::for_tree(settings, &settings.root, use_vectors)
    }

    /// Opens the index without vectors but wanting them, saying `why` they are missing (or
    /// that no model is installed): a warm server loads them off the query path
    /// ([`Retrieval::vectors_to_load`]).
    pub fn deferring_vectors(settings: &Settings, why: String) -> anyhow::Result<Retrieval> {
        let why = match settings.vector_model() {
            Ok(_) => why,
            Err(error) => format!("{error:#}"),
        };
        let mut retrieval = Retrieval::open(
            &settings.index_dir,
            &settings.root,
            VectorsFrom::Off(why),
            HistoryFrom::Stored,
        )?;
        retrieval.vectors_wanted = true;
        Ok(retrieval)
    }

    /// As [`Retrieval::for_settings`], reading files from `tree` (a worktree of the
    /// repository, where a dry run's steps happen) instead of the repository root.
    pub fn for_tree(
        settings: &Settings,
        tree: &Path,
        use_vectors: bool,
    ) -> anyhow::Result<Retrieval> {
        let vectors = if !use_vectors {
            VectorsFrom::Off("the vector weight is 0".to_string())
        } else {
            match settings.vector_model() {
                Ok(model) => VectorsFrom::Model(model, QUERY_EMBEDDING_THREADS),
                Err(error) => VectorsFrom::Off(format!("{error:#}")),
            }
        };
        let mut retrieval =
            Retrieval::open(&settings.index_dir, tree, vectors, HistoryFrom::Stored)?;
        // Asked for, whether or not a model is installed yet.
        retrieval.vectors_wanted = use_vectors;
        Ok(retrieval)
    }

    /// Ranks the files for `task` (parsed with [`TaskQuery::parse`]; the whole text is
    /// embedded when vectors are loaded), at most `limit`.
    pub fn rank(
        &mut self,
        task: &str,
        weights: &Weights,
        limit: usize,
    ) -> anyhow::Result<(TaskQuery, Vec<RankedFile>)> {
        let query = TaskQuery::parse(task);
        let text_sources = Sources {
            lexical: &self.snapshot.lexical,
            manifest: &self.snapshot.manifest,
            graph: None,
            vectors: None,
            history: self.history.as_ref(),
        };
        // The task is embedded on its own thread while BM25 and the paths are searched: the
        // two are independent, and each takes a core.
        let (embedding, found) = match &mut self.semantic {
            Ok(semantic) if weights.vector > 0.0 => std::thread::scope(|scope| {
                let embedding = scope.spawn(|| semantic.embed(task));
                let found = text_signals(&text_sources, weights, &query);
                let embedding = embedding
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (Some(embedding), found)
            }),
            _ => (None, text_signals(&text_sources, weights, &query)),
        };
        let found = found.context("ranking")?;
        // A task that cannot be embedded is ranked by text and graph, and the answer says why.
        self.query_note = None;
        let embedding = match embedding.transpose() {
            Ok(embedding) => embedding,
            Err(error) => {
                self.query_note = Some(format!("the task was not embedded: {error:#}"));
                None
            }
        };
        // The part of the graph the ranking reads: around the best lexical files, and where
        // the task's identifiers are defined.
        let part = if !self.graph_stored || (weights.graph <= 0.0 && weights.symbol <= 0.0) {
            None
        } else if let Some(Some(whole)) = self.whole_graph.get() {
            Some(std::borrow::Cow::Borrowed(whole))
        } else {
            let seeds = graph_seeds(&found, weights);
            let part = GraphPart {
                around: if weights.graph > 0.0 {
                    seeds.iter().map(|(path, _)| path.as_str()).collect()
                } else {
                    Vec::new()
                },
                names: if weights.symbol > 0.0 {
                    symbol_names(&query)
                        .into_iter()
                        .map(String::as_str)
                        .collect()
                } else {
                    Vec::new()
                },
                max_definers: MAX_SYMBOL_FILES,
                ..GraphPart::default()
            };
            match self.snapshot.read_graph_part(&self.index_dir, &part) {
                Ok(graph) => Some(std::borrow::Cow::Owned(graph)),
                Err(error) => {
                    self.graph_stored = false;
                    self.notes.push(graph_note(&error.to_string()));
                    None
                }
            }
        };
        let sources = Sources {
            graph: part.as_deref(),
            vectors: match (&self.semantic, &embedding) {
                (Ok(semantic), Some(embedding)) => Some((&semantic.snapshot, embedding.as_slice())),
                _ => None,
            },
            ..text_sources
        };
        let ranked = rank_found(&sources, weights, &query, found, limit);
        Ok((query, ranked))
    }

    /// Packs ranked files into the budget, read from the working tree; files `secrets` finds
    /// secret are left out, saying so.
    pub fn pack(
        &self,
        ranked: &[RankedFile],
        counter: &TokenCounter,
        budget: &Budget,
        secrets: &SecretRules,
    ) -> Packed {
        let tree = WorkingTree {
            root: &self.root,
            secrets,
        };
        // The ranked files' outlines come from their graph records.
        let part = match self.whole_graph.get() {
            Some(Some(whole)) => Some(std::borrow::Cow::Borrowed(whole)),
            _ if !self.graph_stored => None,
            _ => {
                let part = GraphPart {
                    files: ranked.iter().map(|file| file.path.as_str()).collect(),
                    ..GraphPart::default()
                };
                self.snapshot
                    .read_graph_part(&self.index_dir, &part)
                    .ok()
                    .map(std::borrow::Cow::Owned)
            }
        };
        pack(
            &tree,
            &self.snapshot.manifest,
            part.as_deref(),
            ranked,
            counter,
            budget,
        )
    }

    /// Ranks and packs: what `why-relevant` answers and what a model is given.
    pub fn answer(
        &mut self,
        task: &str,
        weights: &Weights,
        counter: &TokenCounter,
        budget: &Budget,
        secrets: &SecretRules,
    ) -> anyhow::Result<Answer> {
        if TaskQuery::parse(task).is_empty() {
            // What the user typed: bad usage (exit 2), as a flag out of range is.
            return Err(crate::bounds::UsageError(format!(
                "the task {task:?} has no words to search for once filler is dropped"
            ))
            .into());
        }
        let ranking = Instant::now();
        let (query, ranked) = self.rank(task, weights, CANDIDATES)?;
        let rank_ms = ms(ranking);
        let packing = Instant::now();
        let packed = self.pack(&ranked, counter, budget, secrets);
        Ok(Answer {
            query,
            ranked,
            packed,
            rank_ms,
            pack_ms: ms(packing),
        })
    }

    /// The units nearest to `query` by meaning (what `search --semantic` prints).
    pub fn nearest(
        &mut self,
        query: &str,
        limit: usize,
    ) -> anyhow::Result<Vec<sextant_index::vector::VectorHit>> {
        let semantic = match &mut self.semantic {
            Ok(semantic) => semantic,
            Err(why) => anyhow::bail!("no vectors: {why}"),
        };
        let embedding = semantic.embed(query)?;
        Ok(semantic.snapshot.search(&embedding, limit))
    }

    /// The loaded vectors and model, if vectors were opened: for reopening the next
    /// generation (see [`VectorsFrom::Kept`]).
    pub fn into_semantic(self) -> Option<Box<Semantic>> {
        self.semantic.ok().map(Box::new)
    }

    /// The loaded vectors, if any (shared, not copied).
    pub fn vector_snapshot(&self) -> Option<&sextant_index::vector::VectorSnapshot> {
        self.semantic
            .as_ref()
            .ok()
            .map(|semantic| &semantic.snapshot)
    }

    /// The generation of the newest complete vectors for the opened generation, when they
    /// are newer than the loaded ones.
    pub fn newer_vectors(&self, index_dir: &IndexDir) -> Option<u64> {
        let newest =
            sextant_index::vector::newest_vectors(index_dir, self.snapshot.manifest.generation)?;
        match &self.semantic {
            Ok(semantic) => (newest > semantic.generation()).then_some(newest),
            Err(_) => None,
        }
    }

    /// Vectors a warm holder should load off the query path: the generation of the newest
    /// complete vectors for the opened generation when they are newer than the loaded ones,
    /// or when none are loaded (then with the model: `true`) although the vector weight asks
    /// for them — a server started before the vectors were built picks them up.
    pub fn vectors_to_load(&self, index_dir: &IndexDir) -> Option<(u64, bool)> {
        match &self.semantic {
            Ok(_) => self.newer_vectors(index_dir).map(|g| (g, false)),
            Err(_) if !self.vectors_wanted => None,
            Err(_) => {
                sextant_index::vector::newest_vectors(index_dir, self.snapshot.manifest.generation)
                    .map(|g| (g, true))
            }
        }
    }

    /// Installs vectors and their model loaded elsewhere where none are loaded.
    pub fn install_semantic(&mut self, semantic: Semantic) -> anyhow::Result<()> {
        if self.semantic.is_ok() {
            anyhow::bail!("vectors are loaded already");
        }
        if semantic.generation() > self.snapshot.manifest.generation {
            anyhow::bail!(
                "vectors of generation {} are newer than the opened generation {}",
                semantic.generation(),
                self.snapshot.manifest.generation
            );
        }
        self.semantic = Ok(semantic);
        Ok(())
    }

    /// Swaps in newer vectors loaded elsewhere (off the query path), keeping the model;
    /// vectors for a later generation than the one opened, or no newer than the loaded ones,
    /// are refused (the caller loaded them for another generation).
    pub fn adopt_vectors(
        &mut self,
        snapshot: sextant_index::vector::VectorSnapshot,
    ) -> anyhow::Result<()> {
        let semantic = match &mut self.semantic {
            Ok(semantic) => semantic,
            Err(why) => anyhow::bail!("no vectors loaded to replace: {why}"),
        };
        if snapshot.generation > self.snapshot.manifest.generation
            || snapshot.generation <= semantic.generation()
        {
            anyhow::bail!(
                "vectors of generation {} do not fit generation {} with vectors of {}",
                snapshot.generation,
                self.snapshot.manifest.generation,
                semantic.generation()
            );
        }
        semantic.adopt(snapshot)
    }

    /// The repository root files are read from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The opened generation.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The whole knowledge graph, when intact: assembled from every file's record the first
    /// time it is asked for (ranking reads only the part each query needs).
    pub fn graph(&self) -> Option<&CodeGraph> {
        if !self.graph_stored {
            return None;
        }
        self.whole_graph
            .get_or_init(|| self.snapshot.read_graph(&self.index_dir).ok())
            .as_ref()
    }

    /// Whether the knowledge graph is there to rank with.
    pub fn has_graph(&self) -> bool {
        self.graph_stored
    }

    /// The history prior, when known.
    pub fn history(&self) -> Option<&History> {
        self.history.as_ref()
    }

    /// Whether vectors are loaded.
    pub fn has_vectors(&self) -> bool {
        self.semantic.is_ok()
    }

    /// Why there are no vectors, when there are none.
    pub fn vectors_missing(&self) -> Option<&str> {
        self.semantic.as_ref().err().map(String::as_str)
    }

    /// The index generation the sources were opened at.
    pub fn generation(&self) -> u64 {
        self.snapshot.manifest.generation
    }

    /// The signals ranking has to do without, each with what repairs it.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Why the last ranking did without the loaded vectors, if it did.
    pub fn query_note(&self) -> Option<&str> {
        self.query_note.as_deref()
    }

    /// Milliseconds opening the sources.
    pub fn load_ms(&self) -> f64 {
        self.load_ms
    }
}
