//! The vector signal's query side: a generation's vector index with the model that built it,
//! ready to embed task texts.
//!
//! Also the vector signal itself: which files' units are nearest to the task's embedding.

use std::collections::BTreeMap;

use anyhow::bail;
use sextant_index::store::IndexDir;
use sextant_index::vector::VectorSnapshot;
use sextant_index::vector::embed::{Embed, EmbeddingProvider};

use super::{FileSignals, SimilarUnit, normalise};

/// Nearest units gathered for the vector signal.
const VECTOR_HITS: usize = 100;
/// Weight of a file's second most similar unit relative to its best.
const SECOND_UNIT_WEIGHT: f64 = 0.5;

/// A vector index and its model.
pub struct Semantic {
    /// The vector index.
    pub snapshot: VectorSnapshot,
    embedder: Box<dyn Embed>,
}

impl Semantic {
    /// Opens generation `generation`'s vectors with the model at `model`; `None` when the
    /// generation has no vectors. A model other than the one that built them is an error (its
    /// vectors would not be comparable).
    pub fn open(
        dir: &IndexDir,
        generation: u64,
        model: &EmbeddingProvider,
        threads: usize,
    ) -> anyhow::Result<Option<Semantic>> {
        let Some(snapshot) = VectorSnapshot::open(dir, generation)? else {
            return Ok(None);
        };
        Semantic::with_embedder(snapshot, model.load(threads)?).map(Some)
    }

    fn with_embedder(
        snapshot: VectorSnapshot,
        embedder: Box<dyn Embed>,
    ) -> anyhow::Result<Semantic> {
        if embedder.id() != snapshot.table.model_id {
            bail!(
                "the vector index was built with model {} but the configured model is {}; run `sextant index`",
                snapshot.table.model_id,
                embedder.id()
            );
        }
        check_dimension(&snapshot, embedder.as_ref())?;
        Ok(Semantic { snapshot, embedder })
    }

    /// The index generation the loaded vectors were built for.
    pub fn generation(&self) -> u64 {
        self.snapshot.generation
    }

    /// Swaps in `snapshot`, newer vectors built with the same model (loaded off the query
    /// path by a warm server), keeping the loaded model.
    pub fn adopt(&mut self, snapshot: VectorSnapshot) -> anyhow::Result<()> {
        if self.embedder.id() != snapshot.table.model_id {
            bail!(
                "the vectors of generation {} were built with model {}, not the loaded {}",
                snapshot.generation,
                snapshot.table.model_id,
                self.embedder.id()
            );
        }
        check_dimension(&snapshot, self.embedder.as_ref())?;
        self.snapshot = snapshot;
        Ok(())
    }

    /// The embedding of a text.
    pub fn embed(&mut self, text: &str) -> anyhow::Result<Vec<f32>> {
        Ok(self.embedder.embed_query(text)?)
    }
}

/// Vectors of another length than the model's now would be compared number by number up to
/// the shorter (a server that serves another model under the same name): an error instead.
fn check_dimension(snapshot: &VectorSnapshot, embedder: &dyn Embed) -> anyhow::Result<()> {
    if embedder.dimension() != snapshot.table.dimension {
        bail!(
            "the vector index holds vectors of {} numbers but model {} now returns {}; run `sextant index --full`",
            snapshot.table.dimension,
            embedder.id(),
            embedder.dimension()
        );
    }
    Ok(())
}

/// Files whose units are nearest to the task: per file, the best similarity plus half the
/// second, above the similarity of the farthest unit gathered (so a uniformly lukewarm
/// neighbourhood scores nothing), normalised to the best file.
pub(super) fn vector_signal(
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
