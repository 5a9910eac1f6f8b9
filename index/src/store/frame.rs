//! The frame around every file `store` writes (manifest, graph): 8-byte magic naming
//! the content, format version (u32 little-endian), blake3 of the body (32 bytes), then the
//! bincode body. The checksum catches truncation and bit rot; the version catches an index
//! written by another sextant.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Bumped whenever any index format changes incompatibly; an index with another version is
/// rebuilt from scratch. 2: facts and graph files added. 3: whole-file documents in the
/// lexical index. 4: the graph keeps per-file link state for incremental updates. 5: symbol
/// signatures in the graph. 6: file stamps in the manifest. 7: Rust items inside item macros.
/// 8: the graph finds symbols through their files (no map by id). 9: indexed lines cut at
/// `lexical::MAX_INDEXED_LINE_BYTES`. 10: member calls on a name keep it as their qualifier,
/// `package.json` names (resolution checked against SCIP). 11: the lexical index keeps term
/// frequencies without positions (nothing searches phrases through tantivy). 12: link facts
/// are per-file records in the lexical index (no facts file). 13: the manifest counts a file's
/// chunks instead of listing them (the lexical index has them).
pub const FORMAT_VERSION: u32 = 13;

const HEADER_LEN: usize = 8 + 4 + 32;

/// Why a framed file could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// Not the expected file, or cut short.
    #[error("file is damaged: {0}")]
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

/// Serialises `value` inside a frame with `magic`, encoding straight after the header in one
/// buffer (the body of a graph of hundreds of MB is not copied into a second one).
pub fn encode<T: Serialize>(magic: &[u8; 8], value: &T) -> Vec<u8> {
    let mut bytes = blank_header(magic).to_vec();
    // Encoding plain owned data into a Vec cannot fail; were it to, the empty body left would
    // fail to decode on read rather than go unnoticed.
    if bincode::serde::encode_into_std_write(value, &mut bytes, bincode::config::standard())
        .is_err()
    {
        bytes.truncate(HEADER_LEN);
    }
    let hash = blake3::hash(&bytes[HEADER_LEN..]);
    bytes[12..HEADER_LEN].copy_from_slice(hash.as_bytes());
    bytes
}

/// Writes `value` inside a frame with `magic` to `path`, durably and atomically
/// ([`crate::atomic`]), streaming: the header goes first with a blank checksum, the body is
/// encoded through a buffer whose flushes are hashed on their way to the file, and the
/// checksum is written into the header last. A graph of hundreds of MB is never built in memory.
pub fn write_file<T: Serialize>(
    path: &std::path::Path,
    magic: &[u8; 8],
    value: &T,
) -> std::io::Result<()> {
    use std::io::{BufWriter, Seek, SeekFrom, Write};
    /// Passes bytes on, hashing them.
    struct Hashing<W> {
        inner: W,
        hasher: blake3::Hasher,
    }
    impl<W: Write> Write for Hashing<W> {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let written = self.inner.write(bytes)?;
            self.hasher.update(&bytes[..written]);
            Ok(written)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.inner.flush()
        }
    }
    crate::atomic::write_with(path, |file| {
        file.write_all(&blank_header(magic))?;
        // Buffered above the hashing, so the hasher sees large runs, not each primitive.
        let mut body = BufWriter::with_capacity(
            1 << 20,
            Hashing {
                inner: &mut *file,
                hasher: blake3::Hasher::new(),
            },
        );
        bincode::serde::encode_into_std_write(value, &mut body, bincode::config::standard())
            .map_err(std::io::Error::other)?;
        let Hashing {
            inner: file,
            hasher,
        } = body.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(12))?;
        file.write_all(hasher.finalize().as_bytes())
    })
}

/// A frame's header with its checksum still blank (zeros): filled in once the body is known.
fn blank_header(magic: &[u8; 8]) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(magic);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header
}

/// Serialises `value` without a frame: for records inside a file that checks its own
/// integrity (the lexical index's segments carry checksums).
pub fn encode_body<T: Serialize>(value: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(value, bincode::config::standard()).unwrap_or_default()
}

/// Deserialises a body written by [`encode_body`], all of it.
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    let (value, read) = bincode::serde::decode_from_slice(body, bincode::config::standard())
        .map_err(|e| FrameError::Corrupt(e.to_string()))?;
    if read != body.len() {
        return Err(FrameError::Corrupt("trailing bytes".into()));
    }
    Ok(value)
}

/// Verifies a frame with `magic` and deserialises its body.
pub fn decode<T: DeserializeOwned>(magic: &[u8; 8], bytes: &[u8]) -> Result<T, FrameError> {
    decode_body(check(magic, bytes)?)
}

/// Checks the framed file at `path` (header, then the body's checksum in one streaming pass)
/// without holding its bytes, and returns the open file: what [`read_file`] decodes, and
/// what a verifier checks.
pub fn check_file(path: &std::path::Path, magic: &[u8; 8]) -> Result<std::fs::File, FrameError> {
    use std::io::Read;
    let unreadable =
        |e: std::io::Error| FrameError::Corrupt(format!("cannot read {}: {e}", path.display()));
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    let mut header = Vec::with_capacity(HEADER_LEN);
    (&mut file)
        .take(HEADER_LEN as u64)
        .read_to_end(&mut header)
        .map_err(unreadable)?;
    check_header(magic, &header)?;
    let mut hasher = blake3::Hasher::new();
    std::io::copy(&mut file, &mut hasher).map_err(unreadable)?;
    if hasher.finalize().as_bytes() != &header[12..HEADER_LEN] {
        return Err(FrameError::Corrupt("checksum mismatch".into()));
    }
    Ok(file)
}

/// Reads the framed file at `path` without holding its bytes: the file is checked
/// ([`check_file`]), and only then is the body decoded, in a second streaming pass (a file of
/// hundreds of MB never sits in memory beside what it decodes to). Nothing is parsed before
/// the checksum matched.
pub fn read_file<T: DeserializeOwned>(
    path: &std::path::Path,
    magic: &[u8; 8],
) -> Result<T, FrameError> {
    use std::io::{BufReader, Read, Seek, SeekFrom};
    const BUFFER: usize = 1 << 20;
    let unreadable =
        |e: std::io::Error| FrameError::Corrupt(format!("cannot read {}: {e}", path.display()));
    let mut file = check_file(path, magic)?;
    file.seek(SeekFrom::Start(HEADER_LEN as u64))
        .map_err(unreadable)?;
    let mut reader = BufReader::with_capacity(BUFFER, file);
    // bincode reads a `BufReader` through its buffer (no call per primitive).
    let value = bincode::serde::decode_from_reader(&mut reader, bincode::config::standard())
        .map_err(|e| FrameError::Corrupt(e.to_string()))?;
    let mut rest = [0u8; 1];
    if reader.read(&mut rest).map_err(unreadable)? != 0 {
        return Err(FrameError::Corrupt("trailing bytes".into()));
    }
    Ok(value)
}

/// Checks a frame's header: magic and format version.
fn check_header(magic: &[u8; 8], bytes: &[u8]) -> Result<(), FrameError> {
    if bytes.len() < HEADER_LEN || &bytes[..8] != magic {
        return Err(FrameError::Corrupt(format!(
            "not a sextant {} file",
            String::from_utf8_lossy(magic).trim_end_matches('\0')
        )));
    }
    let mut version = [0u8; 4];
    version.copy_from_slice(&bytes[8..12]);
    let found = u32::from_le_bytes(version);
    if found != FORMAT_VERSION {
        return Err(FrameError::Incompatible {
            found,
            expected: FORMAT_VERSION,
        });
    }
    Ok(())
}

/// Verifies a frame with `magic` (kind, version, checksum) and returns its body, unparsed.
pub fn check<'b>(magic: &[u8; 8], bytes: &'b [u8]) -> Result<&'b [u8], FrameError> {
    check_header(magic, bytes)?;
    let body = &bytes[HEADER_LEN..];
    if blake3::hash(body).as_bytes() != &bytes[12..44] {
        return Err(FrameError::Corrupt("checksum mismatch".into()));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write");
        path
    }

    #[test]
    fn a_file_read_in_streaming_passes_decodes_only_what_its_checksum_vouches_for() {
        const MAGIC: &[u8; 8] = b"SXTEST\0\0";
        let dir = tempfile::tempdir().expect("tempdir");
        let value: Vec<(String, u64)> = (0..50_000).map(|i| (format!("name {i}"), i)).collect();
        let good = encode(MAGIC, &value);
        let path = framed(dir.path(), "good", &good);
        assert_eq!(
            read_file::<Vec<(String, u64)>>(&path, MAGIC),
            Ok(value.clone())
        );
        // Written streaming, the same bytes.
        let streamed = dir.path().join("streamed");
        write_file(&streamed, MAGIC, &value).expect("write");
        assert_eq!(std::fs::read(&streamed).expect("read"), good);

        let mut flipped = good.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x10;
        let path = framed(dir.path(), "flipped", &flipped);
        assert_eq!(
            read_file::<Vec<(String, u64)>>(&path, MAGIC),
            Err(FrameError::Corrupt("checksum mismatch".into()))
        );

        let path = framed(dir.path(), "cut", &good[..good.len() - 7]);
        assert!(read_file::<Vec<(String, u64)>>(&path, MAGIC).is_err());
        let path = framed(dir.path(), "header only", &good[..20]);
        assert!(matches!(
            read_file::<Vec<(String, u64)>>(&path, MAGIC),
            Err(FrameError::Corrupt(reason)) if reason.starts_with("not a sextant")
        ));

        // Bytes after the value, under a checksum that covers them, are still refused.
        let mut trailing = good.clone();
        trailing.push(0);
        let hash = blake3::hash(&trailing[HEADER_LEN..]);
        trailing[12..HEADER_LEN].copy_from_slice(hash.as_bytes());
        let path = framed(dir.path(), "trailing", &trailing);
        assert_eq!(
            read_file::<Vec<(String, u64)>>(&path, MAGIC),
            Err(FrameError::Corrupt("trailing bytes".into()))
        );

        let mut other_version = good.clone();
        other_version[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        let path = framed(dir.path(), "newer", &other_version);
        assert_eq!(
            read_file::<Vec<(String, u64)>>(&path, MAGIC),
            Err(FrameError::Incompatible {
                found: FORMAT_VERSION + 1,
                expected: FORMAT_VERSION
            })
        );
        let missing = dir.path().join("missing");
        assert!(matches!(
            read_file::<Vec<(String, u64)>>(&missing, MAGIC),
            Err(FrameError::Corrupt(reason)) if reason.starts_with("cannot read")
        ));
    }
}
