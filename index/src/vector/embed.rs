//! The embedding model: a fastembed-compatible ONNX model directory run by a dynamically loaded
//! ONNX Runtime, turning texts into L2-normalised vectors.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use fastembed::{
    InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel,
};

use super::VectorError;

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

/// Where a model and the runtime that runs it are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelPaths {
    /// Directory with [`MODEL_FILES`].
    pub model_dir: PathBuf,
    /// The ONNX Runtime shared library (`libonnxruntime.so.*`).
    pub runtime: PathBuf,
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
        let onnx = read(&paths.model_dir, "model.onnx")?;
        let id = id_of(&onnx);
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
        let mut model = TextEmbedding::try_new_from_user_defined(model, options)
            .map_err(|e| VectorError::Model(e.to_string()))?;
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

    /// The model's content id (cache key prefix).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Vector length.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// Embeds texts in one batch, L2-normalised, in input order.
    pub fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, VectorError> {
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
    Ok(id_of(&read(&paths.model_dir, "model.onnx")?))
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
