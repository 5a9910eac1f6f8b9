//! The manifest: what is indexed, file by file, in a versioned, checksummed bincode file.
//!
//! Layout on disk: 8-byte magic `SEXTANT\0`, format version (u32 little-endian), blake3 of the
//! body (32 bytes), then the bincode body. The checksum catches truncation and bit rot; the
//! version catches an index written by another sextant.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::facts::{ContentHash, LineSpan};
use crate::lang::Language;

/// Bumped whenever the manifest or any index format changes incompatibly; an index with
/// another version is rebuilt from scratch.
pub const FORMAT_VERSION: u32 = 1;

const MAGIC: &[u8; 8] = b"SEXTANT\0";
const HEADER_LEN: usize = 8 + 4 + 32;

/// One indexed chunk, as the manifest records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRecord {
    /// Stable id: the same path, lines and content give the same id.
    pub id: u64,
    /// Lines covered.
    pub span: LineSpan,
    /// Hash of the chunk's text.
    pub hash: ContentHash,
}

/// One indexed file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Hash of the bytes on disk when indexed.
    pub hash: ContentHash,
    /// Size in bytes.
    pub size: u64,
    /// Language it was parsed as.
    pub language: Language,
    /// Lines in the file.
    pub line_count: u32,
    /// Definitions found.
    pub symbol_count: u32,
    /// Chunks, in order.
    pub chunks: Vec<ChunkRecord>,
    /// Whether invalid UTF-8 was replaced when decoding.
    pub lossy_utf8: bool,
    /// Whether the parser had to recover from syntax errors.
    pub has_syntax_errors: bool,
}

/// Everything `store` knows about one committed generation of the index.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Commit counter; the lexical index's commit payload names the same number.
    pub generation: u64,
    /// Seconds since the Unix epoch when the generation was committed.
    pub committed_at_unix: u64,
    /// Fingerprint of the settings that shape the index (chunk limits, size limit); a change
    /// forces a full rebuild so the index never mixes two chunkings.
    pub settings_fingerprint: String,
    /// Indexed files by path relative to the root.
    pub files: BTreeMap<String, FileRecord>,
}

impl Manifest {
    /// Total chunks over all files.
    pub fn chunk_count(&self) -> usize {
        self.files.values().map(|f| f.chunks.len()).sum()
    }

    /// Total lines over all files.
    pub fn line_count(&self) -> u64 {
        self.files.values().map(|f| u64::from(f.line_count)).sum()
    }
}

/// Why a manifest could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    /// Not a sextant manifest, or cut short.
    #[error("manifest is damaged: {0}")]
    Corrupt(String),
    /// Written by a sextant with another index format.
    #[error("index format {found} is not the supported format {expected}")]
    Incompatible {
        /// Version found on disk.
        found: u32,
        /// Version this build reads.
        expected: u32,
    },
}

/// Serialises a manifest with its header.
pub fn encode(manifest: &Manifest) -> Vec<u8> {
    // Encoding plain owned data into a Vec cannot fail; an empty body would fail the checksum
    // on read rather than go unnoticed.
    let body =
        bincode::serde::encode_to_vec(manifest, bincode::config::standard()).unwrap_or_default();
    let mut bytes = Vec::with_capacity(HEADER_LEN + body.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(blake3::hash(&body).as_bytes());
    bytes.extend_from_slice(&body);
    bytes
}

/// Parses and verifies a manifest.
pub fn decode(bytes: &[u8]) -> Result<Manifest, ManifestError> {
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err(ManifestError::Corrupt("not a sextant manifest".into()));
    }
    let mut version = [0u8; 4];
    version.copy_from_slice(&bytes[8..12]);
    let found = u32::from_le_bytes(version);
    if found != FORMAT_VERSION {
        return Err(ManifestError::Incompatible {
            found,
            expected: FORMAT_VERSION,
        });
    }
    let body = &bytes[HEADER_LEN..];
    if blake3::hash(body).as_bytes() != &bytes[12..44] {
        return Err(ManifestError::Corrupt("checksum mismatch".into()));
    }
    let (manifest, read) = bincode::serde::decode_from_slice(body, bincode::config::standard())
        .map_err(|e| ManifestError::Corrupt(e.to_string()))?;
    if read != body.len() {
        return Err(ManifestError::Corrupt("trailing bytes".into()));
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let mut manifest = Manifest {
            generation: 3,
            committed_at_unix: 1,
            ..Manifest::default()
        };
        manifest.files.insert(
            "src/a.rs".into(),
            FileRecord {
                hash: ContentHash::of(b"a"),
                size: 1,
                language: Language::Rust,
                line_count: 1,
                symbol_count: 0,
                chunks: vec![ChunkRecord {
                    id: 7,
                    span: LineSpan { start: 1, end: 1 },
                    hash: ContentHash::of(b"a"),
                }],
                lossy_utf8: false,
                has_syntax_errors: false,
            },
        );
        manifest
    }

    #[test]
    fn round_trips() {
        assert_eq!(decode(&encode(&sample())), Ok(sample()));
    }

    #[test]
    fn damage_is_detected() {
        let bytes = encode(&sample());
        assert!(matches!(
            decode(&bytes[..bytes.len() - 1]),
            Err(ManifestError::Corrupt(_))
        ));
        assert!(matches!(decode(b"garbage"), Err(ManifestError::Corrupt(_))));
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0xff;
        assert_eq!(
            decode(&flipped),
            Err(ManifestError::Corrupt("checksum mismatch".into()))
        );
        let mut old = bytes;
        old[8] = 0;
        assert_eq!(
            decode(&old),
            Err(ManifestError::Incompatible {
                found: 0,
                expected: FORMAT_VERSION
            })
        );
    }
}
