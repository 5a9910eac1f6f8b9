//! The manifest: what is indexed, file by file, in a versioned, checksummed file (framed by
//! [`super::frame`]) of its own layout: every run reads it whole and every change writes it
//! whole, so it is a flat table read and written without serde (see [`table`]).

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
    pub files: BTreeMap<String, FileRecord>,
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
    super::frame::encode_with(MAGIC, |body| table::write(manifest, body))
}

/// Parses and verifies a manifest.
pub fn decode(bytes: &[u8]) -> Result<Manifest, FrameError> {
    table::read(super::frame::check(MAGIC, bytes)?)
}

/// The manifest's body. At 80k files it is 6.4 MB (9.5 MB through serde), read by every
/// command and rewritten by every change, so it is laid out for that: each path stored as the
/// length it shares with the path before it (they are sorted) and the rest; numbers as LEB128
/// varints; the content hash as its 32 bytes; the rest of a record as flags. Decoding costs
/// what serde's did (moving the records into the map is most of it); reading and writing a
/// third less is the gain.
///
/// ```text
/// generation, committed_at_unix: varint    settings_fingerprint: varint length + bytes
/// files: varint count, then per file, in path order:
///   shared: varint, rest: varint length + bytes   (the path: the previous path's first
///                                                  `shared` bytes, then `rest`)
///   hash: 32 bytes   size: varint   language: byte   line_count, symbol_count,
///   chunk_count: varint   flags: byte (1 lossy UTF-8, 2 syntax errors, 4 stamp, 8 package)
///   [stamp: modified_ns, changed_ns, inode: varint]   [package: varint length + bytes]
///   graph: edges, resolved, ambiguous, unresolved, imports_resolved, imports_external: varint
/// ```
mod table {
    use super::{FileRecord, FrameError, Manifest};
    use crate::facts::ContentHash;
    use crate::graph::ResolutionStats;
    use crate::graph::records::GraphCounts;
    use crate::lang::Language;
    use crate::walk::FileStamp;

    /// The languages by their code in the table (a code is its position: append only).
    pub(super) const LANGUAGES: [Language; 10] = [
        Language::Rust,
        Language::Python,
        Language::JavaScript,
        Language::TypeScript,
        Language::Tsx,
        Language::Go,
        Language::Java,
        Language::C,
        Language::Cpp,
        Language::Text,
    ];
    /// The longest path a record may hold (Linux's `PATH_MAX`; a path inside a repository is
    /// shorter than its absolute path).
    const MAX_PATH_BYTES: usize = 4096;
    /// Path text rebuilt per byte of body, at most: real trees rebuild about one (the shared
    /// parts are short next to each record's numbers), the deepest tree of long names a few.
    const MAX_PATH_BYTES_PER_BODY_BYTE: usize = 32;
    const LOSSY_UTF8: u8 = 1;
    const SYNTAX_ERRORS: u8 = 2;
    const STAMP: u8 = 4;
    const PACKAGE: u8 = 8;

    /// Appends `manifest`'s body to `out`.
    pub(super) fn write(manifest: &Manifest, out: &mut Vec<u8>) {
        out.reserve(manifest.files.len() * 96);
        varint(out, manifest.generation);
        varint(out, manifest.committed_at_unix);
        bytes(out, manifest.settings_fingerprint.as_bytes());
        varint(out, manifest.files.len() as u64);
        let mut previous: &[u8] = &[];
        for (path, record) in &manifest.files {
            let path = path.as_bytes();
            let shared = path
                .iter()
                .zip(previous)
                .take_while(|(a, b)| a == b)
                .count();
            varint(out, shared as u64);
            bytes(out, &path[shared..]);
            previous = path;
            out.extend_from_slice(&record.hash.0);
            varint(out, record.size);
            out.push(language_code(record.language));
            varint(out, u64::from(record.line_count));
            varint(out, u64::from(record.symbol_count));
            varint(out, u64::from(record.chunk_count));
            let flags = (if record.lossy_utf8 { LOSSY_UTF8 } else { 0 })
                | (if record.has_syntax_errors {
                    SYNTAX_ERRORS
                } else {
                    0
                })
                | (if record.stamp.is_some() { STAMP } else { 0 })
                | (if record.package.is_some() { PACKAGE } else { 0 });
            out.push(flags);
            if let Some(stamp) = record.stamp {
                varint(out, stamp.modified_ns);
                varint(out, stamp.changed_ns);
                varint(out, stamp.inode);
            }
            if let Some(package) = &record.package {
                bytes(out, package.as_bytes());
            }
            let graph = &record.graph;
            varint(out, u64::from(graph.edges));
            let r = &graph.resolution;
            for count in [
                r.resolved,
                r.ambiguous,
                r.unresolved,
                r.imports_resolved,
                r.imports_external,
            ] {
                varint(out, count);
            }
        }
    }

    /// Reads a body [`write`] wrote, all of it: anything short, long, out of order or out of
    /// range is damage.
    pub(super) fn read(body: &[u8]) -> Result<Manifest, FrameError> {
        let mut input = Input { rest: body };
        let generation = input.varint()?;
        let committed_at_unix = input.varint()?;
        let settings_fingerprint = input.string()?;
        let count = input.varint()?;
        // A count the bytes cannot hold is damage, not a reason to reserve gigabytes (a
        // record takes at least 45 bytes).
        if count > (input.rest.len() / 45) as u64 {
            return Err(damaged("more files counted than the manifest holds"));
        }
        let mut files = Vec::with_capacity(count as usize);
        // Front coding lets each path repeat all of the one before it for a byte: paths are
        // bounded, and so is all the text they rebuild, or a hostile manifest of a few MB (a
        // cloned repository can ship one) would rebuild gigabytes.
        let mut budget = body.len().saturating_mul(MAX_PATH_BYTES_PER_BODY_BYTE);
        for _ in 0..count {
            let previous = files
                .last()
                .map_or(&[][..], |(path, _): &(String, FileRecord)| path.as_bytes());
            let shared = input.varint()?;
            let rest = input.slice()?;
            let shared = usize::try_from(shared)
                .ok()
                .filter(|&shared| shared <= previous.len())
                .ok_or_else(|| damaged("a path shares more than the path before it"))?;
            let len = shared + rest.len();
            if len > MAX_PATH_BYTES {
                return Err(damaged("a path longer than any file system allows"));
            }
            budget = budget
                .checked_sub(len)
                .ok_or_else(|| damaged("more path text than the manifest could hold"))?;
            let mut path = Vec::with_capacity(len);
            path.extend_from_slice(&previous[..shared]);
            path.extend_from_slice(rest);
            if !files.is_empty() && path.as_slice() <= previous {
                return Err(damaged("paths out of order"));
            }
            let path = String::from_utf8(path).map_err(|_| damaged("a path is not UTF-8"))?;
            let record = input.record()?;
            files.push((path, record));
        }
        if !input.rest.is_empty() {
            return Err(damaged("trailing bytes"));
        }
        Ok(Manifest {
            generation,
            committed_at_unix,
            settings_fingerprint,
            // Sorted and distinct: the map is built in one pass.
            files: files.into_iter().collect(),
        })
    }

    fn damaged(reason: &str) -> FrameError {
        FrameError::Corrupt(format!("manifest: {reason}"))
    }

    /// A language's code: its place in [`LANGUAGES`] (a match, so a new language cannot be
    /// written without a code).
    pub(super) fn language_code(language: Language) -> u8 {
        match language {
            Language::Rust => 0,
            Language::Python => 1,
            Language::JavaScript => 2,
            Language::TypeScript => 3,
            Language::Tsx => 4,
            Language::Go => 5,
            Language::Java => 6,
            Language::C => 7,
            Language::Cpp => 8,
            Language::Text => 9,
        }
    }

    pub(super) fn varint(out: &mut Vec<u8>, mut value: u64) {
        while value >= 0x80 {
            out.push((value as u8) | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
    }

    pub(super) fn bytes(out: &mut Vec<u8>, value: &[u8]) {
        varint(out, value.len() as u64);
        out.extend_from_slice(value);
    }

    /// The unread part of a body.
    struct Input<'b> {
        rest: &'b [u8],
    }

    impl<'b> Input<'b> {
        fn take(&mut self, n: usize) -> Result<&'b [u8], FrameError> {
            if n > self.rest.len() {
                return Err(damaged("cut short"));
            }
            let (taken, rest) = self.rest.split_at(n);
            self.rest = rest;
            Ok(taken)
        }

        fn byte(&mut self) -> Result<u8, FrameError> {
            Ok(self.take(1)?[0])
        }

        fn varint(&mut self) -> Result<u64, FrameError> {
            let mut value = 0u64;
            for shift in (0..64).step_by(7) {
                let byte = self.byte()?;
                let bits = u64::from(byte & 0x7f);
                if shift == 63 && bits > 1 {
                    break;
                }
                value |= bits << shift;
                if byte & 0x80 == 0 {
                    return Ok(value);
                }
            }
            Err(damaged("a number out of range"))
        }

        fn u32(&mut self) -> Result<u32, FrameError> {
            u32::try_from(self.varint()?).map_err(|_| damaged("a count out of range"))
        }

        fn slice(&mut self) -> Result<&'b [u8], FrameError> {
            let len = usize::try_from(self.varint()?).map_err(|_| damaged("cut short"))?;
            self.take(len)
        }

        fn string(&mut self) -> Result<String, FrameError> {
            String::from_utf8(self.slice()?.to_vec()).map_err(|_| damaged("text is not UTF-8"))
        }

        fn record(&mut self) -> Result<FileRecord, FrameError> {
            let mut hash = [0u8; 32];
            hash.copy_from_slice(self.take(32)?);
            let size = self.varint()?;
            let language = *LANGUAGES
                .get(usize::from(self.byte()?))
                .ok_or_else(|| damaged("an unknown language"))?;
            let line_count = self.u32()?;
            let symbol_count = self.u32()?;
            let chunk_count = self.u32()?;
            let flags = self.byte()?;
            if flags & !(LOSSY_UTF8 | SYNTAX_ERRORS | STAMP | PACKAGE) != 0 {
                return Err(damaged("unknown flags"));
            }
            let stamp = if flags & STAMP != 0 {
                Some(FileStamp {
                    modified_ns: self.varint()?,
                    changed_ns: self.varint()?,
                    inode: self.varint()?,
                })
            } else {
                None
            };
            let package = if flags & PACKAGE != 0 {
                Some(self.string()?)
            } else {
                None
            };
            let edges = self.u32()?;
            let resolution = ResolutionStats {
                resolved: self.varint()?,
                ambiguous: self.varint()?,
                unresolved: self.varint()?,
                imports_resolved: self.varint()?,
                imports_external: self.varint()?,
            };
            Ok(FileRecord {
                hash: ContentHash(hash),
                size,
                language,
                line_count,
                symbol_count,
                chunk_count,
                lossy_utf8: flags & LOSSY_UTF8 != 0,
                has_syntax_errors: flags & SYNTAX_ERRORS != 0,
                stamp,
                package,
                graph: GraphCounts { edges, resolution },
            })
        }
    }
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

    /// Every field at values that take every varint width, each language, both flags, a
    /// package, no stamp, and paths sharing prefixes that cut through a multi-byte character.
    fn varied() -> Manifest {
        let mut manifest = Manifest {
            generation: u64::MAX,
            committed_at_unix: 1 << 40,
            settings_fingerprint: "chunks 40/120, max 1 MiB".into(),
            ..Manifest::default()
        };
        let paths = [
            "",
            "a",
            "a/b.rs",
            "a/bé.py",
            "a/bê.py",
            "a/b\u{1F600}",
            "z/Cargo.toml",
        ];
        for (i, path) in paths.iter().enumerate() {
            let i = i as u64;
            let record = FileRecord {
                hash: ContentHash::of(path.as_bytes()),
                size: u64::MAX >> i,
                language: table::LANGUAGES[i as usize % table::LANGUAGES.len()],
                line_count: u32::MAX - i as u32,
                symbol_count: 127 + i as u32,
                chunk_count: 128 << i,
                lossy_utf8: i.is_multiple_of(2),
                has_syntax_errors: i.is_multiple_of(3),
                stamp: (!i.is_multiple_of(2)).then_some(crate::walk::FileStamp {
                    modified_ns: u64::MAX - i,
                    changed_ns: 1 << (7 * i),
                    inode: i,
                }),
                package: (i == 6).then(|| "sextant-index".to_string()),
                graph: GraphCounts {
                    edges: 1 << (5 * i),
                    resolution: crate::graph::ResolutionStats {
                        resolved: i,
                        ambiguous: u64::MAX,
                        unresolved: 1 << 63,
                        imports_resolved: 0,
                        imports_external: 300,
                    },
                },
            };
            manifest.files.insert(path.to_string(), record);
        }
        manifest
    }

    #[test]
    fn every_field_and_language_round_trips() {
        assert_eq!(decode(&encode(&varied())), Ok(varied()));
        for (code, &language) in table::LANGUAGES.iter().enumerate() {
            assert_eq!(
                table::language_code(language) as usize,
                code,
                "{language:?}"
            );
        }
    }

    #[test]
    fn a_damaged_body_is_an_error_never_a_panic() {
        let mut body = Vec::new();
        table::write(&varied(), &mut body);
        assert_eq!(table::read(&body), Ok(varied()));
        for len in 0..body.len() {
            assert!(table::read(&body[..len]).is_err(), "cut at {len}");
        }
        let mut longer = body.clone();
        longer.push(0);
        assert!(table::read(&longer).is_err());
        // Any byte changed: an error or another manifest, never a panic (the frame's checksum
        // is what catches the rest).
        for at in 0..body.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut damaged = body.clone();
                damaged[at] ^= flip;
                let _ = table::read(&damaged);
            }
        }
        // A count no body could hold is refused before anything is reserved.
        let mut huge = Vec::new();
        table::varint(&mut huge, 1);
        table::varint(&mut huge, 1);
        table::bytes(&mut huge, b"");
        table::varint(&mut huge, u64::MAX);
        assert!(table::read(&huge).is_err());
    }

    /// Each path may repeat all of the one before it and add a byte: 60k records of ~50 bytes
    /// would rebuild ~100 GB of paths. Decoding stops at the bounds instead.
    #[test]
    fn front_coding_cannot_rebuild_more_than_the_bounds() {
        let record = sample().files["src/a.rs"].clone();
        let mut record_bytes = Vec::new();
        let mut one = Manifest::default();
        one.files.insert("a".into(), record);
        table::write(&one, &mut record_bytes);
        // The single record's bytes after its path (varint 0, length 1, "a").
        let start = record_bytes
            .windows(3)
            .position(|w| w == [0, 1, b'a'])
            .expect("path")
            + 3;
        let record_bytes = record_bytes[start..].to_vec();
        // A body of `count` records, the i-th path written as `path(i)` = (shared, rest).
        let body_of = |count: usize, path: &dyn Fn(usize) -> (u64, String)| {
            let mut body = Vec::new();
            table::varint(&mut body, 1);
            table::varint(&mut body, 1);
            table::bytes(&mut body, b"");
            table::varint(&mut body, count as u64);
            for i in 0..count {
                let (shared, rest) = path(i);
                table::varint(&mut body, shared);
                table::bytes(&mut body, rest.as_bytes());
                body.extend_from_slice(&record_bytes);
            }
            body
        };
        let growing = |count| body_of(count, &|i| (i as u64, "a".to_string()));
        // Within the bounds it decodes: paths a, aa, aaa...
        let small = table::read(&growing(100)).expect("decodes");
        assert_eq!(small.files.keys().last().map(String::len), Some(100));
        // A path past 4096 bytes is damage.
        assert!(table::read(&growing(5_000)).is_err());
        // Paths within the bound, each repeating 4,000 bytes of the one before for 7 new
        // ones: more path text than the body could rebuild is damage.
        let repeating = |count| {
            body_of(count, &|i| match i {
                0 => (0, format!("{}{i:07}", "a".repeat(4_000))),
                _ => (4_000, format!("{i:07}")),
            })
        };
        assert_eq!(table::read(&repeating(10)).map(|m| m.files.len()), Ok(10));
        assert!(table::read(&repeating(2_000)).is_err());
    }

    #[test]
    fn paths_out_of_order_or_sharing_too_much_are_damage() {
        let mut manifest = sample();
        let record = manifest.files["src/a.rs"].clone();
        manifest.files.insert("src/b.rs".into(), record);
        let mut body = Vec::new();
        table::write(&manifest, &mut body);
        // The second path is written as 4 shared bytes ("src/"), then "b.rs".
        let second = body
            .windows(6)
            .position(|w| w == [4, 4, b'b', b'.', b'r', b's'])
            .expect("second path");
        let mut before = body.clone();
        before[second + 2] = b'a';
        assert!(
            table::read(&before).is_err(),
            "a path equal to the one before"
        );
        let mut earlier = body.clone();
        earlier[second + 2] = b'0';
        assert!(
            table::read(&earlier).is_err(),
            "a path before the one before"
        );
        let mut shares = body;
        shares[second] = 9;
        assert!(
            table::read(&shares).is_err(),
            "shares more than the path before"
        );
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
