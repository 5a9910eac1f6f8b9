//! Verify before trusting, once per change: a file of the index is checked against its own
//! checksum (tantivy's footer, our frame's blake3) before any library parses it, and the stamp
//! it had when it passed (length, modification and change times, inode) is remembered in
//! `<index dir>/verified.bin`. Later opens re-check only files whose stamp moved, so a
//! query pays for verification only after a writer (or damage) changed a file.
//!
//! What a stamp cannot see — bytes changed without touching length, times or inode, as bit
//! rot on the disk would — is left to the libraries' own checks at read time; every write
//! through the file system moves the stamp.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::walk::FileStamp;

const VERIFIED_MAGIC: &[u8; 8] = b"SXVERIF\0";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Passed {
    len: u64,
    stamp: FileStamp,
}

/// The stamps of files that passed their check, loaded once per open.
#[derive(Debug)]
pub struct Verifier {
    path: PathBuf,
    passed: BTreeMap<String, Passed>,
    changed: bool,
}

impl Verifier {
    /// The record of `index_dir`; a missing or unreadable one is empty (everything is checked
    /// again, which is always safe).
    pub fn load(index_dir: &super::IndexDir) -> Verifier {
        let path = index_dir.verified_path();
        let passed = std::fs::read(&path)
            .ok()
            .and_then(|bytes| super::frame::decode(VERIFIED_MAGIC, &bytes).ok())
            .unwrap_or_default();
        Verifier {
            path,
            passed,
            changed: false,
        }
    }

    /// Checks `file` (recorded under `key`) with `verify` unless it passed with its current
    /// stamp before. `Err` says what is wrong: missing, unreadable, or what `verify` said.
    pub fn check(
        &mut self,
        key: &str,
        file: &Path,
        verify: impl FnOnce() -> Result<(), String>,
    ) -> Result<(), String> {
        let metadata = std::fs::metadata(file).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                "missing".to_string()
            } else {
                format!("cannot read it: {e}")
            }
        })?;
        let now = FileStamp::of(&metadata).map(|stamp| Passed {
            len: metadata.len(),
            stamp,
        });
        if now.is_some() && self.passed.get(key) == now.as_ref() {
            return Ok(());
        }
        self.passed.remove(key);
        verify()?;
        if let Some(now) = now {
            self.passed.insert(key.to_string(), now);
            self.changed = true;
        }
        Ok(())
    }

    /// Records `file` as good with its current stamp, without checking it: for the writer,
    /// right after writing it durably.
    pub fn record(&mut self, key: &str, file: &Path) {
        if let Some(passed) = std::fs::metadata(file).ok().and_then(|metadata| {
            FileStamp::of(&metadata).map(|stamp| Passed {
                len: metadata.len(),
                stamp,
            })
        }) {
            self.passed.insert(key.to_string(), passed);
            self.changed = true;
        }
    }

    /// Forgets every file not in `keep` (files of older generations).
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        let before = self.passed.len();
        self.passed.retain(|key, _| keep(key));
        self.changed |= self.passed.len() != before;
    }

    /// Writes the record back if it changed: a temporary file renamed into place, so readers
    /// racing to save never leave a torn record (the loser's checks are simply redone).
    /// Failing to save costs only a later re-check, so errors are ignored.
    pub fn save(self) {
        if !self.changed {
            return;
        }
        let bytes = super::frame::encode(VERIFIED_MAGIC, &self.passed);
        let _ = crate::atomic::write(&self.path, &bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_checked_again_only_when_its_stamp_moves() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("data");
        std::fs::write(&file, b"good").expect("write");
        let checks = std::cell::Cell::new(0);
        let count = || {
            checks.set(checks.get() + 1);
            Ok(())
        };
        let mut verifier = Verifier::load(&super::super::IndexDir::new(dir.path()));
        verifier.check("data", &file, count).expect("passes");
        verifier.save();
        let mut verifier = Verifier::load(&super::super::IndexDir::new(dir.path()));
        verifier.check("data", &file, count).expect("passes");
        assert_eq!(checks.get(), 1, "trusted by its stamp");
        std::fs::write(&file, b"evil").expect("damage");
        let refused = verifier.check("data", &file, || Err("checksum".to_string()));
        assert_eq!(refused, Err("checksum".to_string()));
        std::fs::remove_file(&file).expect("delete");
        assert_eq!(
            verifier.check("data", &file, count),
            Err("missing".to_string())
        );
    }
}
