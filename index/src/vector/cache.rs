//! The embedding cache: unit content hash → vector, per model, append-only on disk.
//!
//! Embedding is by far the most expensive part of indexing, so every vector computed is kept:
//! a unit whose text did not change (on this branch or any other) is never embedded again, and
//! an interrupted run resumes where it stopped, because each batch is appended and flushed as
//! soon as it is computed.
//!
//! Layout: a header (magic, dimension as u32 little-endian, the first 8 bytes of blake3 of
//! both), then records of key (32 bytes), vector (dimension × f32 little-endian) and the first
//! 8 bytes of blake3 of key and vector. A torn last record (a crash mid-write) is cut; a record
//! whose checksum fails (bit rot, a stray write) is dropped and its unit embedded again, so a
//! damaged vector never reaches the HNSW graph; a damaged header starts the cache over.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::facts::ContentHash;

use super::VectorError;

/// Format 2 added the header and record checksums; a format-1 file is started over.
const MAGIC: &[u8; 8] = b"SXEMBED2";
const CHECKSUM_LEN: usize = 8;
const HEADER_LEN: usize = MAGIC.len() + 4 + CHECKSUM_LEN;

fn checksum(parts: &[&[u8]]) -> [u8; CHECKSUM_LEN] {
    let mut hasher = blake3::Hasher::new();
    for part in parts {
        hasher.update(part);
    }
    let mut sum = [0u8; CHECKSUM_LEN];
    sum.copy_from_slice(&hasher.finalize().as_bytes()[..CHECKSUM_LEN]);
    sum
}

fn header(dimension: usize) -> Vec<u8> {
    let dimension = (dimension as u32).to_le_bytes();
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&dimension);
    bytes.extend_from_slice(&checksum(&[MAGIC, &dimension]));
    bytes
}

/// The dimension a header records, if it is an intact header of this format.
fn header_dimension(bytes: &[u8]) -> Option<usize> {
    let header = bytes.get(..HEADER_LEN)?;
    let dimension = &header[MAGIC.len()..MAGIC.len() + 4];
    let intact =
        header.starts_with(MAGIC) && header[MAGIC.len() + 4..] == checksum(&[MAGIC, dimension]);
    let dimension = u32::from_le_bytes([dimension[0], dimension[1], dimension[2], dimension[3]]);
    (intact && dimension > 0).then_some(dimension as usize)
}

fn record(key: &ContentHash, vector: &[f32]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(32 + vector.len() * 4 + CHECKSUM_LEN);
    bytes.extend_from_slice(&key.0);
    for value in vector {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    let sum = checksum(&[&bytes]);
    bytes.extend_from_slice(&sum);
    bytes
}

/// Vectors by unit key, for one model.
pub struct EmbeddingCache {
    path: PathBuf,
    dimension: usize,
    vectors: HashMap<ContentHash, Vec<f32>>,
    dropped: usize,
}

impl EmbeddingCache {
    /// Opens (or starts) the cache file for a model in `dir`. Damaged records are dropped
    /// (see [`EmbeddingCache::dropped`]) and the file rewritten without them.
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
        let mut cache = EmbeddingCache {
            path: path.clone(),
            dimension,
            vectors: HashMap::new(),
            dropped: 0,
        };
        let bytes = match File::open(&path) {
            Ok(mut file) => {
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes).map_err(io)?;
                bytes
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(cache),
            Err(error) => return Err(io(error)),
        };
        if header_dimension(&bytes) != Some(dimension) {
            // Another format or dimension, or a damaged header: start over rather than
            // misread it.
            std::fs::remove_file(&path).map_err(io)?;
            return Ok(cache);
        }
        let record_len = 32 + dimension * 4 + CHECKSUM_LEN;
        let whole = HEADER_LEN + (bytes.len() - HEADER_LEN) / record_len * record_len;
        for chunk in bytes[HEADER_LEN..whole].chunks_exact(record_len) {
            let (body, sum) = chunk.split_at(record_len - CHECKSUM_LEN);
            if checksum(&[body]) != sum {
                cache.dropped += 1;
                continue;
            }
            let mut key = [0u8; 32];
            key.copy_from_slice(&body[..32]);
            let vector = body[32..]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            cache.vectors.insert(ContentHash(key), vector);
        }
        if cache.dropped > 0 {
            // Rewrite without the damaged records, so they are not met again.
            let kept = std::mem::take(&mut cache.vectors).into_iter().collect();
            cache.rewrite(kept)?;
        } else if whole < bytes.len() {
            // Cut a torn last record (crash mid-append) so appends stay aligned.
            let file = OpenOptions::new().write(true).open(&path).map_err(io)?;
            file.set_len(whole as u64).map_err(io)?;
        }
        Ok(cache)
    }

    /// The vector length recorded in a model's cache file, if the file exists and its header
    /// is intact.
    pub fn stored_dimension(dir: &Path, model_id: &str) -> Option<usize> {
        let mut header = [0u8; HEADER_LEN];
        let mut file = File::open(dir.join(format!("embeddings-{model_id}.bin"))).ok()?;
        file.read_exact(&mut header).ok()?;
        header_dimension(&header)
    }

    /// How many damaged records were dropped when the cache was opened (their units are
    /// embedded again).
    pub fn dropped(&self) -> usize {
        self.dropped
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
            out.write_all(&header(self.dimension)).map_err(io)?;
        }
        for (key, vector) in &entries {
            if vector.len() != self.dimension {
                continue;
            }
            out.write_all(&record(key, vector)).map_err(io)?;
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
        self.rewrite(kept)?;
        Ok(true)
    }

    /// Replaces the file (and the vectors held) with `kept`, atomically: a crash leaves the
    /// old file or the new one.
    fn rewrite(&mut self, kept: Vec<(ContentHash, Vec<f32>)>) -> Result<(), VectorError> {
        let temporary = self.path.with_extension("bin.tmp");
        let old = std::mem::replace(&mut self.path, temporary.clone());
        let _ = std::fs::remove_file(&temporary);
        let appended = self.append(kept);
        self.path = old;
        appended?;
        std::fs::rename(&temporary, &self.path).map_err(|source| VectorError::Io {
            context: "replacing the embedding cache",
            path: self.path.clone(),
            source,
        })
    }
}

/// Copies into `to` each model's embedding cache file that `from` holds and `to` lacks, so an
/// index of another tree of the same repository (an evaluation's scratch index) embeds only
/// what the repository's own index has not: the cache is keyed by content, per model.
/// Returns how many vectors the copied files hold.
pub fn seed(from: &Path, to: &Path) -> std::io::Result<usize> {
    let entries = match std::fs::read_dir(from) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(error) => return Err(error),
    };
    std::fs::create_dir_all(to)?;
    let mut vectors = 0;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(model_id) = name
            .to_str()
            .and_then(|n| n.strip_prefix("embeddings-"))
            .and_then(|n| n.strip_suffix(".bin"))
        else {
            continue;
        };
        let target = to.join(&name);
        if target.exists() {
            continue;
        }
        std::fs::copy(entry.path(), &target)?;
        if let Some(dimension) = EmbeddingCache::stored_dimension(to, model_id) {
            // Opening drops (and rewrites without) any damaged record of the copy.
            if let Ok(cache) = EmbeddingCache::open(to, model_id, dimension) {
                vectors += cache.len();
            }
        }
    }
    Ok(vectors)
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

    #[test]
    fn a_damaged_record_is_dropped_and_a_damaged_header_starts_over() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = |n: u8| ContentHash([n; 32]);
        let mut cache = EmbeddingCache::open(dir.path(), "m", 3).expect("open");
        cache
            .append(vec![
                (key(1), vec![1.0, 0.0, 0.0]),
                (key(2), vec![0.0, 1.0, 0.0]),
                (key(3), vec![0.0, 0.0, 1.0]),
            ])
            .expect("append");
        let path = dir.path().join("embeddings-m.bin");
        // One bit of the second record's vector flips: the value would still parse.
        let mut bytes = std::fs::read(&path).expect("read");
        let record_len = 32 + 3 * 4 + CHECKSUM_LEN;
        bytes[HEADER_LEN + record_len + 40] ^= 0x01;
        std::fs::write(&path, &bytes).expect("write");
        let cache = EmbeddingCache::open(dir.path(), "m", 3).expect("reopen");
        assert_eq!(cache.dropped(), 1);
        assert_eq!(cache.get(&key(2)), None, "the damaged vector is not used");
        assert_eq!(cache.get(&key(3)), Some(&[0.0, 0.0, 1.0][..]));
        // The file was rewritten without it: the next open finds nothing wrong.
        let cache = EmbeddingCache::open(dir.path(), "m", 3).expect("reopen");
        assert_eq!((cache.dropped(), cache.len()), (0, 2));

        // A flipped bit in the recorded dimension is noticed, not trusted.
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[MAGIC.len()] ^= 0x04;
        std::fs::write(&path, &bytes).expect("write");
        assert_eq!(EmbeddingCache::stored_dimension(dir.path(), "m"), None);
        let cache = EmbeddingCache::open(dir.path(), "m", 3).expect("reopen");
        assert!(cache.is_empty());
        assert!(!path.exists(), "a damaged cache is started over");
    }
}

#[cfg(test)]
mod seed_tests {
    use super::*;

    #[test]
    fn seeding_copies_a_cache_the_target_lacks_and_keeps_one_it_has() {
        let from = tempfile::tempdir().expect("tempdir");
        let to = tempfile::tempdir().expect("tempdir");
        let mut cache = EmbeddingCache::open(from.path(), "m", 2).expect("open");
        cache
            .append(vec![(ContentHash([1; 32]), vec![0.5, 0.5])])
            .expect("append");
        assert_eq!(
            seed(from.path(), &to.path().join("vectors")).expect("seed"),
            1
        );
        let copied = EmbeddingCache::open(&to.path().join("vectors"), "m", 2).expect("open");
        assert_eq!(copied.get(&ContentHash([1; 32])), Some(&[0.5, 0.5][..]));
        // Seeding again leaves the target's own cache alone.
        assert_eq!(
            seed(from.path(), &to.path().join("vectors")).expect("seed"),
            0
        );
        assert_eq!(
            seed(&from.path().join("missing"), to.path()).expect("seed"),
            0
        );
    }
}
