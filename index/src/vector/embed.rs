//! Where vectors come from. [`EmbeddingProvider`] names a source without loading it (its id
//! keys the embedding cache); loading gives an [`Embed`] that turns texts into L2-normalised
//! vectors. The default source is the local model: a fastembed-compatible ONNX model directory
//! run by a dynamically loaded ONNX Runtime ([`ModelPaths`], [`Embedder`]). The binary adds
//! embedding servers (Ollama, OpenAI-compatible) behind the same two traits.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use fastembed::{
    InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel,
};

use super::VectorError;
use crate::facts::ContentHash;

/// Files a model directory must hold (the fastembed "bring your own model" set).
pub const MODEL_FILES: [&str; 5] = [
    "model.onnx",
    "tokenizer.json",
    "config.json",
    "special_tokens_map.json",
    "tokenizer_config.json",
];

/// Longest input in tokens: a unit is cut here (MiniLM was trained on 128-token inputs and the
/// cost grows with the square of the length).
pub const MAX_TOKENS: usize = 128;

/// Texts per forward pass. Units are sorted by length first so a batch pads little. On 2 cores
/// (`vector_bench` on tokio's units, benches/RESULTS.md) batches of 8 embedded 156 symbol
/// units/s at 128 tokens against 128/s for 32 and 109/s for 64: larger batches only add
/// padding here.
pub const BATCH_SIZE: usize = 8;

/// A loaded source of embeddings.
pub trait Embed: Send {
    /// The model's id (the cache key prefix): the same as its source's
    /// [`EmbeddingSource::model_id`].
    fn id(&self) -> &str;
    /// Vector length.
    fn dimension(&self) -> usize;
    /// Embeds texts, L2-normalised, in input order.
    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, VectorError>;
    /// Embeds one query (a task, a search): a source may answer it under a deadline of its
    /// own, so a query never waits as long as an index batch may.
    fn embed_query(&mut self, text: &str) -> Result<Vec<f32>, VectorError> {
        Ok(self.embed(&[text])?.into_iter().next().unwrap_or_default())
    }
}

/// A source of embeddings before it is loaded: what the index and the query side are given.
pub trait EmbeddingSource: Send + Sync + std::fmt::Debug {
    /// The id naming the model, without loading it: vectors cached under one id are never
    /// mixed with another's. Also a file name part, so only `[A-Za-z0-9-]`.
    fn model_id(&self) -> Result<String, VectorError>;
    /// Loads the source; `threads` caps the local model's threads (0 = its default).
    fn load(&self, threads: usize) -> Result<Box<dyn Embed>, VectorError>;
    /// Texts per [`Embed::embed`] call while indexing: small for the local model (padding
    /// costs), large for a server (it splits them into concurrent requests).
    fn batch_size(&self) -> usize {
        BATCH_SIZE
    }
    /// Whether the text of a unit of file `path` (indexed with content `indexed`) may be given
    /// to this source. Everything stays in the process with the local model; a server outside
    /// it must never receive a secret, so its units are left out of the vectors (lexical search
    /// still finds them).
    fn admits(&self, _path: &str, _indexed: Option<&ContentHash>, _text: &str) -> bool {
        true
    }
}

/// A shareable [`EmbeddingSource`].
#[derive(Clone, Debug)]
pub struct EmbeddingProvider(Arc<dyn EmbeddingSource>);

impl EmbeddingProvider {
    /// Wraps a source.
    pub fn new(source: impl EmbeddingSource + 'static) -> EmbeddingProvider {
        EmbeddingProvider(Arc::new(source))
    }

    /// The local ONNX model at `paths`.
    pub fn local(paths: ModelPaths) -> EmbeddingProvider {
        EmbeddingProvider::new(paths)
    }
}

impl std::ops::Deref for EmbeddingProvider {
    type Target = dyn EmbeddingSource;

    fn deref(&self) -> &Self::Target {
        self.0.as_ref()
    }
}

impl EmbeddingSource for ModelPaths {
    fn model_id(&self) -> Result<String, VectorError> {
        model_id(self)
    }

    fn load(&self, threads: usize) -> Result<Box<dyn Embed>, VectorError> {
        Ok(Box::new(Embedder::load(self, threads)?))
    }
}

/// Where a model and the runtime that runs it are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelPaths {
    /// Directory with [`MODEL_FILES`].
    pub model_dir: PathBuf,
    /// The ONNX Runtime shared library (`libonnxruntime.so.*`).
    pub runtime: PathBuf,
    /// Compute weight-only int8 projections in int8 ([`super::quantize`]): faster, vectors
    /// a little different (their own model id, so never mixed with the float ones).
    pub int8: bool,
}

/// A loaded embedding model.
pub struct Embedder {
    model: TextEmbedding,
    id: String,
    dimension: usize,
}

/// The ONNX Runtime library loaded into this process (ort allows one per process).
static RUNTIME: OnceLock<Result<PathBuf, String>> = OnceLock::new();

fn load_runtime(path: &Path) -> Result<(), VectorError> {
    let loaded = RUNTIME.get_or_init(|| {
        // Loading the library is what matters; sessions then create the default environment.
        let _environment = ort::init_from(path).map_err(|e| e.to_string())?;
        Ok(path.to_path_buf())
    });
    match loaded {
        Ok(first) if first == path => Ok(()),
        Ok(first) => Err(VectorError::Runtime(format!(
            "ONNX Runtime is already loaded from {} in this process",
            first.display()
        ))),
        Err(error) => Err(VectorError::Runtime(format!(
            "cannot load ONNX Runtime from {}: {error}",
            path.display()
        ))),
    }
}

fn read(dir: &Path, name: &str) -> Result<Vec<u8>, VectorError> {
    let path = dir.join(name);
    std::fs::read(&path).map_err(|source| VectorError::ModelFile { path, source })
}

impl Embedder {
    /// Loads the model; `threads` caps ONNX Runtime's intra-op threads (0 = its default).
    pub fn load(paths: &ModelPaths, threads: usize) -> Result<Embedder, VectorError> {
        Embedder::load_with_length(paths, threads, MAX_TOKENS)
    }

    /// Like [`Embedder::load`], cutting inputs at `max_tokens` instead of [`MAX_TOKENS`]
    /// (for benchmarks).
    pub fn load_with_length(
        paths: &ModelPaths,
        threads: usize,
        max_tokens: usize,
    ) -> Result<Embedder, VectorError> {
        load_runtime(&paths.runtime)?;
        let (onnx, id) = graph_of(paths)?;
        let tokenizer_files = TokenizerFiles {
            tokenizer_file: read(&paths.model_dir, "tokenizer.json")?,
            config_file: read(&paths.model_dir, "config.json")?,
            special_tokens_map_file: read(&paths.model_dir, "special_tokens_map.json")?,
            tokenizer_config_file: read(&paths.model_dir, "tokenizer_config.json")?,
        };
        let model =
            UserDefinedEmbeddingModel::new(onnx, tokenizer_files).with_pooling(Pooling::Mean);
        let mut options = InitOptionsUserDefined::new().with_max_length(max_tokens);
        if threads > 0 {
            options = options.with_intra_threads(threads);
        }
        let mut model = TextEmbedding::try_new_from_user_defined(model, options).map_err(|e| {
            VectorError::Model(if paths.int8 {
                format!("{e} (the model rewritten for int8; `int8 = false` under [vectors] in your config runs it as it is)")
            } else {
                e.to_string()
            })
        })?;
        let probe = model
            .embed(["dimension probe"], None)
            .map_err(|e| VectorError::Model(e.to_string()))?;
        let dimension = probe.first().map_or(0, Vec::len);
        if dimension == 0 {
            return Err(VectorError::Model("the model returns empty vectors".into()));
        }
        Ok(Embedder {
            model,
            id,
            dimension,
        })
    }
}

impl Embed for Embedder {
    /// The model's content id (cache key prefix).
    fn id(&self) -> &str {
        &self.id
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    /// Embeds texts in one batch, L2-normalised, in input order.
    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, VectorError> {
        let mut vectors = self
            .model
            .embed(texts, Some(texts.len().max(1)))
            .map_err(|e| VectorError::Model(e.to_string()))?;
        for vector in &mut vectors {
            normalise(vector);
        }
        Ok(vectors)
    }
}

/// The id of the model at `paths`, without loading it: names the model by content, so a
/// changed model never reuses cached vectors.
pub fn model_id(paths: &ModelPaths) -> Result<String, VectorError> {
    graph_of(paths).map(|(_, id)| id)
}

/// Version of the int8 rewrite, part of the id of a rewritten model: a changed rewrite makes
/// other vectors, which must not meet the old ones in the cache.
const INT8_REWRITE: u32 = 2;

/// The graph to run and its id: the model file's, or its int8 rewrite's when asked for and
/// the model has weight-only int8 projections.
fn graph_of(paths: &ModelPaths) -> Result<(Vec<u8>, String), VectorError> {
    let onnx = read(&paths.model_dir, "model.onnx")?;
    let id = id_of(&onnx);
    if !paths.int8 {
        return Ok((onnx, id));
    }
    match super::quantize::dynamic_int8(&onnx) {
        Ok(Some(rewritten)) => Ok((rewritten, format!("{id}-int8v{INT8_REWRITE}"))),
        Ok(None) => Ok((onnx, id)),
        Err(error) => Err(VectorError::Model(format!(
            "{}: {error}",
            paths.model_dir.join("model.onnx").display()
        ))),
    }
}

fn id_of(onnx: &[u8]) -> String {
    format!("onnx-{}", &blake3::hash(onnx).to_hex()[..16])
}

/// Scales a vector to length 1 (a zero vector stays zero).
pub fn normalise(vector: &mut [f32]) {
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|v| *v /= norm);
    }
}
