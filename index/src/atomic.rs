//! The one way sextant replaces a whole file: the bytes go to a fresh temporary file beside the
//! target (created exclusively under a random name, so nothing planted at a predictable name
//! is followed), are synced, and the file is renamed over the target; then the directory is
//! synced. A crash leaves the old file or the new one, never a torn one, and concurrent
//! writers never share a temporary file.

use std::io::Write;
use std::path::Path;

/// Replaces `path` with `bytes`, durably and atomically (see the module doc).
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with(path, |file| file.write_all(bytes))
}

/// Replaces `path` with what `fill` writes into the temporary file (it may seek back to patch
/// what it wrote), durably and atomically (see the module doc): for files too large to build
/// in memory first.
pub fn write_with(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut file = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)?;
    fill(file.as_file_mut())?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("record.json");
        write(&path, b"first").expect("write");
        write(&path, b"second").expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"second");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
        // A link planted at a predictable temporary name is never followed.
        let outside = tempfile::tempdir().expect("tempdir");
        let victim = outside.path().join("victim");
        std::fs::write(&victim, "untouched").expect("write");
        std::os::unix::fs::symlink(&victim, path.with_extension("json.tmp")).expect("symlink");
        write(&path, b"third").expect("write");
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "untouched");
    }
}
