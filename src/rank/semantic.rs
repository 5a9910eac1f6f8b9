//! The vector signal's query side: a generation's vector index with the model that built it,
//! ready to embed task texts.

use anyhow::bail;
use sextant_index::store::IndexDir;
use sextant_index::vector::VectorSnapshot;
use sextant_index::vector::embed::{Embedder, ModelPaths};

/// A vector index and its model.
pub struct Semantic {
    /// The vector index.
    pub snapshot: VectorSnapshot,
    embedder: Embedder,
}

impl Semantic {
    /// Opens generation `generation`'s vectors with the model at `model`; `None` when the
    /// generation has no vectors. A model other than the one that built them is an error (its
    /// vectors would not be comparable).
    pub fn open(
        dir: &IndexDir,
        generation: u64,
        model: &ModelPaths,
        threads: usize,
    ) -> anyhow::Result<Option<Semantic>> {
        let Some(snapshot) = VectorSnapshot::open(dir, generation)? else {
            return Ok(None);
        };
        Semantic::with_embedder(snapshot, Embedder::load(model, threads)?).map(Some)
    }

    /// Generation `generation`'s vectors with a model already loaded (a warm server picking up
    /// a new generation keeps its model: loading it again costs a fifth of a second or more);
    /// `None` when the generation has no vectors.
    pub fn reopen(
        dir: &IndexDir,
        generation: u64,
        embedder: Embedder,
    ) -> anyhow::Result<Option<Semantic>> {
        match VectorSnapshot::open(dir, generation)? {
            Some(snapshot) => Semantic::with_embedder(snapshot, embedder).map(Some),
            None => Ok(None),
        }
    }

    fn with_embedder(snapshot: VectorSnapshot, embedder: Embedder) -> anyhow::Result<Semantic> {
        if embedder.id() != snapshot.table.model_id {
            bail!(
                "the vector index was built with model {} but the configured model is {}; run `sextant index`",
                snapshot.table.model_id,
                embedder.id()
            );
        }
        Ok(Semantic { snapshot, embedder })
    }

    /// The loaded model, for the next generation.
    pub fn into_embedder(self) -> Embedder {
        self.embedder
    }

    /// The embedding of a text.
    pub fn embed(&mut self, text: &str) -> anyhow::Result<Vec<f32>> {
        Ok(self
            .embedder
            .embed(&[text])?
            .into_iter()
            .next()
            .unwrap_or_default())
    }
}
