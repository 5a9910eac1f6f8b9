//! The frame around every file `store` writes (manifest, verified stamps, history, vector units): 8-byte magic naming
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
/// chunks instead of listing them (the lexical index has them). 14: the graph is per-file
/// records in the lexical index (no graph file). 15: the manifest is a table of its own layout
/// (paths front-coded), read without serde.
pub const FORMAT_VERSION: u32 = 15;

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
/// buffer (a large body is not copied into a second one).
pub fn encode<T: Serialize>(magic: &[u8; 8], value: &T) -> Vec<u8> {
    encode_with(magic, |bytes| {
        // Encoding plain owned data into a Vec cannot fail; were it to, the empty body left
        // would fail to decode on read rather than go unnoticed.
        let start = bytes.len();
        if bincode::serde::encode_into_std_write(value, bytes, bincode::config::standard()).is_err()
        {
            bytes.truncate(start);
        }
    })
}

/// A frame with `magic` around the body `write` appends (for a body with its own layout, as
/// the manifest's).
pub fn encode_with(magic: &[u8; 8], write: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut bytes = blank_header(magic).to_vec();
    write(&mut bytes);
    let hash = blake3::hash(&bytes[HEADER_LEN..]);
    bytes[12..HEADER_LEN].copy_from_slice(hash.as_bytes());
    bytes
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

/// Checks a frame's header: magic and format version.
fn check_header(magic: &[u8; 8], bytes: &[u8]) -> Result<(), FrameError> {
    if bytes.len() < HEADER_LEN || &bytes[..8] != magic {
        return Err(FrameError::Corrupt(format!(
            "not a sextant file of its kind (it does not start with {:?})",
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
