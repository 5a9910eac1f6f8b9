//! The embedding cache: unit content hash → vector, per model, append-only on disk.
//!
//! Embedding is by far the most expensive part of indexing, so every vector computed is kept:
//! a unit whose text did not change (on this branch or any other) is never embedded again, and
//! an interrupted run resumes where it stopped, because each batch is appended and flushed as
//! soon as it is computed. A torn last record (a crash mid-write) is ignored on load.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::facts::ContentHash;

use super::VectorError;

const MAGIC: &[u8; 8] = b"SXEMBED\0";

/// Vectors by unit key, for one model.
pub struct EmbeddingCache {
    path: PathBuf,
    dimension: usize,
    vectors: HashMap<ContentHash, Vec<f32>>,
}

impl EmbeddingCache {
    /// Opens (or starts) the cache file for a model in `dir`.
    pub fn open(
        dir: &Path,
        model_id: &str,
        dimension: usize,
    ) -> Result<EmbeddingCache, VectorError> {
        let path = dir.join(format!("embeddings-{model_id}.bin"));
        let io = |source| VectorError::Io {
            context: "reading the embedding cache",
            path: path.clone(),
            source,
        };
        let mut vectors = HashMap::new();
        match File::open(&path) {
            Ok(mut file) => {
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes).map_err(io)?;
                let header = MAGIC.len() + 4;
                let stored_dimension = bytes
                    .get(MAGIC.len()..header)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
                if bytes.starts_with(MAGIC) && stored_dimension == Some(dimension) {
                    let record = 32 + dimension * 4;
                    let whole = header + (bytes.len() - header) / record * record;
                    if whole < bytes.len() {
                        // Cut a torn last record (crash mid-append) so appends stay aligned.
                        let file = OpenOptions::new().write(true).open(&path).map_err(io)?;
                        file.set_len(whole as u64).map_err(io)?;
                    }
                    for chunk in bytes[header..whole].chunks_exact(record) {
                        let mut key = [0u8; 32];
                        key.copy_from_slice(&chunk[..32]);
                        let vector = chunk[32..]
                            .chunks_exact(4)
                            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                            .collect();
                        vectors.insert(ContentHash(key), vector);
                    }
                } else {
                    // Another format or dimension: start over rather than misread it.
                    std::fs::remove_file(&path).map_err(io)?;
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(io(error)),
        }
        Ok(EmbeddingCache {
            path,
            dimension,
            vectors,
        })
    }

    /// The vector length recorded in a model's cache file, if the file exists and is valid.
    pub fn stored_dimension(dir: &Path, model_id: &str) -> Option<usize> {
        let mut header = [0u8; 12];
        let mut file = File::open(dir.join(format!("embeddings-{model_id}.bin"))).ok()?;
        file.read_exact(&mut header).ok()?;
        (&header[..8] == MAGIC)
            .then(|| u32::from_le_bytes([header[8], header[9], header[10], header[11]]) as usize)
            .filter(|d| *d > 0)
    }

    /// The cached vector of a unit.
    pub fn get(&self, key: &ContentHash) -> Option<&[f32]> {
        self.vectors.get(key).map(Vec::as_slice)
    }

    /// Number of cached vectors.
    pub fn len(&self) -> usize {
        self.vectors.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }

    /// Adds vectors and appends them to the file, flushed to disk before returning.
    pub fn append(&mut self, entries: Vec<(ContentHash, Vec<f32>)>) -> Result<(), VectorError> {
        let io = |source| VectorError::Io {
            context: "writing the embedding cache",
            path: self.path.clone(),
            source,
        };
        let fresh = !self.path.exists();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        let mut out = BufWriter::new(file);
        if fresh {
            out.write_all(MAGIC).map_err(io)?;
            out.write_all(&(self.dimension as u32).to_le_bytes())
                .map_err(io)?;
        }
        for (key, vector) in &entries {
            if vector.len() != self.dimension {
                continue;
            }
            out.write_all(&key.0).map_err(io)?;
            for value in vector {
                out.write_all(&value.to_le_bytes()).map_err(io)?;
            }
        }
        let file = out.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_data().map_err(io)?;
        for (key, vector) in entries {
            if vector.len() == self.dimension {
                self.vectors.insert(key, vector);
            }
        }
        Ok(())
    }

    /// Drops vectors of units no longer in `keep` and rewrites the file, when more than half of
    /// it is dead: the cache serves other branches too, so it is compacted only when it has
    /// clearly outgrown the tree.
    pub fn compact(
        &mut self,
        keep: &std::collections::HashSet<ContentHash>,
    ) -> Result<bool, VectorError> {
        let dead = self.vectors.keys().filter(|k| !keep.contains(k)).count();
        if dead * 2 <= self.vectors.len().max(1) || dead < 1000 {
            return Ok(false);
        }
        let kept: Vec<(ContentHash, Vec<f32>)> = self
            .vectors
            .drain()
            .filter(|(k, _)| keep.contains(k))
            .collect();
        let temporary = self.path.with_extension("bin.tmp");
        let old = std::mem::replace(&mut self.path, temporary.clone());
        let _ = std::fs::remove_file(&temporary);
        self.append(kept)?;
        std::fs::rename(&temporary, &old).map_err(|source| VectorError::Io {
            context: "replacing the embedding cache",
            path: old.clone(),
            source,
        })?;
        self.path = old;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_reopening_and_a_torn_tail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = |n: u8| ContentHash([n; 32]);
        let mut cache = EmbeddingCache::open(dir.path(), "m", 3).expect("open");
        cache
            .append(vec![
                (key(1), vec![1.0, 0.0, 0.0]),
                (key(2), vec![0.0, 1.0, 0.0]),
            ])
            .expect("append");
        cache
            .append(vec![(key(3), vec![0.0, 0.0, 1.0])])
            .expect("append");
        let path = dir.path().join("embeddings-m.bin");
        // A crash mid-record leaves a partial record behind.
        let mut file = OpenOptions::new().append(true).open(&path).expect("open");
        file.write_all(&[7u8; 40]).expect("write");
        drop(file);
        let mut cache = EmbeddingCache::open(dir.path(), "m", 3).expect("reopen");
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(&key(2)), Some(&[0.0, 1.0, 0.0][..]));
        // Appending after the cut stays aligned.
        cache
            .append(vec![(key(4), vec![0.5, 0.5, 0.0])])
            .expect("append");
        let cache = EmbeddingCache::open(dir.path(), "m", 3).expect("reopen");
        assert_eq!(cache.len(), 4);
        assert_eq!(cache.get(&key(4)), Some(&[0.5, 0.5, 0.0][..]));
        // Another dimension starts over.
        let cache = EmbeddingCache::open(dir.path(), "m", 4).expect("reopen");
        assert!(cache.is_empty());
    }
}
