//! The manifest: what is indexed, file by file, in a versioned, checksummed bincode file
//! (framed by [`super::frame`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::facts::ContentHash;
use crate::graph::records::GraphCounts;
use crate::lang::Language;

use super::frame::FrameError;

const MAGIC: &[u8; 8] = b"SEXTANT\0";

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
    /// Chunks it was split into. (Their ids, lines and text are in the lexical index; the
    /// manifest, read by every run, keeps per file only what a scan and a status need.)
    pub chunk_count: u32,
    /// Whether invalid UTF-8 was replaced when decoding.
    pub lossy_utf8: bool,
    /// Whether the parser had to recover from syntax errors.
    pub has_syntax_errors: bool,
    /// The file's stamp when it was read, if it had settled by then: while the file keeps
    /// this stamp and size it is unchanged and a scan does not read it.
    pub stamp: Option<crate::walk::FileStamp>,
    /// The package the file declares if it is a manifest the linker reads (a `Cargo.toml`'s
    /// or `package.json`'s name): with the path and language, what resolving imports needs
    /// of a file, so a change resolves imports without reading every file's facts.
    pub package: Option<String>,
    /// The file's part of the graph in numbers (the graph's totals are their sums).
    pub graph: GraphCounts,
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
    #[serde(deserialize_with = "sorted_files")]
    pub files: BTreeMap<String, FileRecord>,
}

/// Reads the files map as a list and builds the map in one pass. Serde inserts a map's
/// entries one by one, comparing paths all the way down the tree: at 80k files that was a
/// sixth of a one-shot query. The list comes sorted (it was written from a map), which
/// `BTreeMap`'s bulk build turns into a linear build; any order still gives the same map.
fn sorted_files<'de, D>(deserializer: D) -> Result<BTreeMap<String, FileRecord>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct Entries;
    impl<'de> serde::de::Visitor<'de> for Entries {
        type Value = Vec<(String, FileRecord)>;

        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str("a map of paths to file records")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1 << 20));
            while let Some(entry) = map.next_entry()? {
                entries.push(entry);
            }
            Ok(entries)
        }
    }
    Ok(deserializer.deserialize_map(Entries)?.into_iter().collect())
}

impl Manifest {
    /// Total chunks over all files.
    pub fn chunk_count(&self) -> usize {
        self.files.values().map(|f| f.chunk_count as usize).sum()
    }

    /// Total lines over all files.
    pub fn line_count(&self) -> u64 {
        self.files.values().map(|f| u64::from(f.line_count)).sum()
    }
}

/// Serialises a manifest with its header.
pub fn encode(manifest: &Manifest) -> Vec<u8> {
    super::frame::encode(MAGIC, manifest)
}

/// Parses and verifies a manifest.
pub fn decode(bytes: &[u8]) -> Result<Manifest, FrameError> {
    super::frame::decode(MAGIC, bytes)
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
                chunk_count: 1,
                lossy_utf8: false,
                has_syntax_errors: false,
                stamp: Some(crate::walk::FileStamp {
                    modified_ns: 1,
                    changed_ns: 2,
                    inode: 3,
                }),
                package: None,
                graph: GraphCounts::default(),
            },
        );
        manifest
    }

    #[test]
    fn round_trips() {
        assert_eq!(decode(&encode(&sample())), Ok(sample()));
        // Many files, and paths whose byte order differs from insertion order.
        let mut many = sample();
        let record = many.files["src/a.rs"].clone();
        for i in (0..2_000).rev() {
            many.files
                .insert(format!("d{}/f{i}.rs", i % 7), record.clone());
        }
        many.files.insert("Z.rs".into(), record.clone());
        many.files.insert("ä.rs".into(), record);
        assert_eq!(decode(&encode(&many)), Ok(many));
    }

    #[test]
    fn damage_is_detected() {
        let bytes = encode(&sample());
        assert!(matches!(
            decode(&bytes[..bytes.len() - 1]),
            Err(FrameError::Corrupt(_))
        ));
        assert!(matches!(decode(b"garbage"), Err(FrameError::Corrupt(_))));
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0xff;
        assert_eq!(
            decode(&flipped),
            Err(FrameError::Corrupt("checksum mismatch".into()))
        );
        let mut old = bytes;
        old[8] = 0;
        assert_eq!(
            decode(&old),
            Err(FrameError::Incompatible {
                found: 0,
                expected: crate::store::FORMAT_VERSION
            })
        );
    }
}
