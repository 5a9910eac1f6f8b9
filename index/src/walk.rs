//! Finds the files to index: a parallel walk that honours ignore files, then a read that
//! rejects what cannot be indexed. Every rejected path is reported with its reason; nothing
//! here fails the run except a missing root.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ignore::{WalkBuilder, WalkState};
use serde::{Deserialize, Serialize};

use crate::facts::ContentHash;

/// Name of sextant's own ignore file, read like `.gitignore` in every directory.
pub const IGNORE_FILE_NAME: &str = ".sextantignore";

/// Default largest file indexed: bigger files are almost always generated or data.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 1024 * 1024;

/// Bytes inspected for a NUL when deciding a file is binary (the same window git uses).
const BINARY_SNIFF_BYTES: usize = 8000;
/// A file without a NUL in that window is still binary when more than this share of its bytes
/// are not UTF-8 (at least [`MIN_INVALID_BYTES`] of them): a PDF-based `.ai` file or a
/// compressed blob, not text in a legacy encoding, whose odd bytes stand alone between text.
const MAX_INVALID_SHARE: f64 = 0.2;
/// Invalid bytes a file may hold before [`MAX_INVALID_SHARE`] is applied (a short Latin-1 file
/// is text).
const MIN_INVALID_BYTES: usize = 64;

/// How much older than its reading a stamp must be to be trusted later: a write within the
/// file system's timestamp granularity (coarse clocks tick in milliseconds; FAT in 2 s) after
/// the read could otherwise leave the stamp as it was.
pub const SETTLE: Duration = Duration::from_secs(2);

/// What the file system says of a file without reading it: when its content last changed
/// (mtime), when the file itself last changed (ctime, which no tool can set back) and which
/// inode it is. The same stamp and size as when it was indexed means the same content, as
/// git's index assumes; a scan then need not read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FileStamp {
    /// Modification time, nanoseconds since the Unix epoch.
    pub modified_ns: u64,
    /// Status change time, nanoseconds since the Unix epoch (0 where the platform has none).
    pub changed_ns: u64,
    /// Inode number (0 where the platform has none).
    pub inode: u64,
}

impl FileStamp {
    /// The stamp of a file's metadata; `None` when its times cannot be read.
    #[cfg(unix)]
    pub fn of(metadata: &std::fs::Metadata) -> Option<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        let ns = |seconds: i64, nanos: i64| {
            u64::try_from(seconds)
                .ok()?
                .checked_mul(1_000_000_000)?
                .checked_add(u64::try_from(nanos).ok()?)
        };
        Some(FileStamp {
            modified_ns: ns(metadata.mtime(), metadata.mtime_nsec())?,
            changed_ns: ns(metadata.ctime(), metadata.ctime_nsec())?,
            inode: metadata.ino(),
        })
    }

    /// The stamp of a file's metadata; `None` when its times cannot be read.
    #[cfg(not(unix))]
    pub fn of(metadata: &std::fs::Metadata) -> Option<FileStamp> {
        let modified = metadata.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
        Some(FileStamp {
            modified_ns: u64::try_from(modified.as_nanos()).ok()?,
            changed_ns: 0,
            inode: 0,
        })
    }

    /// The stamp if it was at least [`SETTLE`] old at `now`: only such a stamp may stand for
    /// the content read at `now`.
    pub fn settled(self, now: SystemTime) -> Option<FileStamp> {
        let now = u64::try_from(now.duration_since(UNIX_EPOCH).ok()?.as_nanos()).ok()?;
        let newest = self.modified_ns.max(self.changed_ns);
        let settle = u64::try_from(SETTLE.as_nanos()).ok()?;
        (newest.saturating_add(settle) <= now).then_some(self)
    }
}

/// Ignore files the walk reads in every directory: a change of one can change what is
/// indexed anywhere under it.
pub const RULE_FILES: [&str; 3] = [".gitignore", ".ignore", IGNORE_FILE_NAME];

/// Names never walked, as directories or as files: version-control internals (a submodule's
/// `.git` is a file) and sextant's default index folder.
pub const ALWAYS_SKIPPED_NAMES: [&str; 4] = [".git", ".hg", ".svn", ".sextant"];

/// Lock files: generated, large and full of hashes that only add noise to search.
const LOCK_FILE_NAMES: [&str; 9] = [
    "Cargo.lock",
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "poetry.lock",
    "Pipfile.lock",
    "composer.lock",
    "Gemfile.lock",
    "go.sum",
];

/// What the walk does, beyond the ignore files it always honours.
#[derive(Clone, Debug)]
pub struct WalkOptions {
    /// Files larger than this many bytes are skipped.
    pub max_file_size: u64,
    /// Walker threads; 0 lets the walker choose.
    pub threads: usize,
    /// Directory excluded from the walk (the index itself, when it lives inside the repo).
    pub exclude_dir: Option<PathBuf>,
    /// When set, only the files these paths cover are walked (see [`Coverage`]): the walk
    /// descends only into the directories on the way to them, so every ignore rule applies
    /// as in a whole walk, and no other file is looked at.
    pub only: Option<std::sync::Arc<Coverage>>,
}

/// Paths relative to the root (`/`-separated; files or directories, present or gone) that a
/// walk is limited to: a path covers itself and everything under it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    paths: std::collections::BTreeSet<String>,
}

impl Coverage {
    /// The coverage of `paths`, each relative to the root with `/` separators (a trailing
    /// `/` and empty components are ignored). An ignore file covers its whole directory (its
    /// rules decide what is indexed there). `None` — no limit, the whole tree — when a path
    /// names the root, climbs out of it (`..`), is an ignore file of the root, or lies in a
    /// version-control directory (`.git/info/exclude` is an ignore file of the whole tree).
    pub fn of<'p>(paths: impl IntoIterator<Item = &'p str>) -> Option<Coverage> {
        let mut covered = std::collections::BTreeSet::new();
        for path in paths {
            let mut parts: Vec<&str> = path
                .split('/')
                .filter(|part| !part.is_empty() && *part != ".")
                .collect();
            if parts.contains(&"..") || parts.iter().any(|p| ALWAYS_SKIPPED_NAMES.contains(p)) {
                return None;
            }
            if parts.last().is_some_and(|name| RULE_FILES.contains(name)) {
                parts.pop();
            }
            if parts.is_empty() {
                return None;
            }
            covered.insert(parts.join("/"));
        }
        Some(Coverage { paths: covered })
    }

    /// The paths given, normalised.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.paths.iter().map(String::as_str)
    }

    /// Whether `path` (relative, `/`-separated) is one of the paths or lies under one.
    pub fn covers(&self, path: &str) -> bool {
        let mut prefix = path;
        loop {
            if self.paths.contains(prefix) {
                return true;
            }
            match prefix.rsplit_once('/') {
                Some((parent, _)) => prefix = parent,
                None => return false,
            }
        }
    }

    /// Whether `path` (relative) is covered, or a covered path lies under it: a directory a
    /// walk must enter, or a file standing where a covered path's directory would be (a file
    /// `a` when `a/b.rs` is named: either it is there, or it is gone).
    pub fn leads_to(&self, path: &str) -> bool {
        if self.covers(path) {
            return true;
        }
        let below = format!("{path}/");
        self.paths
            .range(below.clone()..)
            .next()
            .is_some_and(|path| path.starts_with(&below))
    }
}

impl Default for WalkOptions {
    fn default() -> Self {
        WalkOptions {
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            threads: 0,
            exclude_dir: None,
            only: None,
        }
    }
}

/// A file the walk found and that may be indexed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct WalkedFile {
    /// Path relative to the root, with `/` separators on every platform.
    pub path: String,
    /// Absolute path, for reading.
    pub absolute: PathBuf,
    /// Size in bytes when walked.
    pub size: u64,
    /// Its stamp when walked (before any read), if the file system gave one.
    pub stamp: Option<FileStamp>,
}

/// Why a path was not indexed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum SkipReason {
    /// Contains NUL bytes in its first 8000 bytes.
    Binary,
    /// Larger than the configured limit.
    TooLarge {
        /// Size of the file in bytes.
        size: u64,
        /// The limit in force.
        limit: u64,
    },
    /// A symlink whose target does not exist.
    BrokenSymlink,
    /// A symlink that (eventually) points at itself.
    SymlinkLoop,
    /// A symlink to a directory or file: not followed, so nothing outside the repository is
    /// read and nothing inside is indexed twice.
    Symlink,
    /// A lock file (`Cargo.lock`, `package-lock.json`...), generated and noisy.
    LockFile,
    /// The path is not valid UTF-8, so it cannot be stored or shown faithfully.
    NonUtf8Path,
    /// Reading failed (permissions, I/O error, file vanished).
    Unreadable {
        /// The error as the operating system put it.
        error: String,
    },
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::Binary => f.write_str("binary file"),
            SkipReason::TooLarge { size, limit } => {
                write!(f, "too large ({size} bytes; limit {limit})")
            }
            SkipReason::BrokenSymlink => f.write_str("broken symlink"),
            SkipReason::SymlinkLoop => f.write_str("symlink loop"),
            SkipReason::Symlink => f.write_str("symlink (not followed)"),
            SkipReason::LockFile => f.write_str("lock file"),
            SkipReason::NonUtf8Path => f.write_str("path is not valid UTF-8"),
            SkipReason::Unreadable { error } => write!(f, "unreadable: {error}"),
        }
    }
}

/// A path that was not indexed, and why.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Skip {
    /// Path relative to the root (lossy if it was not UTF-8).
    pub path: String,
    /// Why it was skipped.
    #[serde(flatten)]
    pub reason: SkipReason,
}

/// The outcome of a walk, sorted by path so it is the same however many threads ran.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WalkOutcome {
    /// Files to read.
    pub files: Vec<WalkedFile>,
    /// Paths rejected during the walk.
    pub skipped: Vec<Skip>,
}

/// Errors that stop a walk before it starts.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// The root is missing or not a directory.
    #[error("cannot index {path}: not a readable directory ({source})")]
    BadRoot {
        /// The root given.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

enum Found {
    File(WalkedFile),
    Skipped(Skip),
}

/// Walks `root` in parallel, honouring `.gitignore`, `.ignore`, global git excludes and
/// `.sextantignore`, and returns the candidate files and the paths it rejected.
pub fn walk(root: &Path, options: &WalkOptions) -> Result<WalkOutcome, WalkError> {
    let root = root
        .canonicalize()
        .and_then(|r| {
            if r.is_dir() {
                Ok(r)
            } else {
                Err(std::io::Error::other("not a directory"))
            }
        })
        .map_err(|source| WalkError::BadRoot {
            path: root.to_path_buf(),
            source,
        })?;
    let exclude = options
        .exclude_dir
        .as_ref()
        .and_then(|d| d.canonicalize().ok());
    let mut builder = WalkBuilder::new(&root);
    builder
        .hidden(false)
        .follow_links(false)
        .git_ignore(true)
        .git_global(true)
        .git_exclude(true)
        .ignore(true)
        .parents(true)
        .require_git(false)
        .threads(options.threads)
        .add_custom_ignore_filename(IGNORE_FILE_NAME);
    let root_for_filter = root.clone();
    let only = options.only.clone();
    builder.filter_entry(move |entry| {
        if entry.path() == root_for_filter {
            return true;
        }
        // Files of those names too: a submodule's or worktree's `.git` file points at git's
        // data, and a `.sextant` file is nobody's source.
        let name = entry.file_name().to_str().unwrap_or("");
        if ALWAYS_SKIPPED_NAMES.contains(&name) {
            return false;
        }
        let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
        if !is_dir {
            return true;
        }
        if exclude.as_deref().is_some_and(|e| entry.path() == e) {
            return false;
        }
        // (A directory whose name is not UTF-8 is entered when its lossy spelling is under a
        // covered path: its files are then reported as the whole walk reports them.)
        only.as_deref().is_none_or(|only| {
            entry
                .path()
                .strip_prefix(&root_for_filter)
                .is_ok_and(|relative| only.leads_to(&to_slashes(&relative.to_string_lossy())))
        })
    });
    let (sender, receiver) = mpsc::channel();
    let max_file_size = options.max_file_size;
    builder.build_parallel().run(|| {
        let root = root.clone();
        let only = options.only.clone();
        // Each walker thread gathers what it finds and hands it over once, when the walk
        // drops it: a send per file was a fifth of a walk of 80k files.
        let mut batch = Batch {
            found: Vec::new(),
            sender: sender.clone(),
        };
        Box::new(move |result| {
            if let Some(found) = classify(&root, result, max_file_size, only.as_deref()) {
                batch.found.push(found);
            }
            WalkState::Continue
        })
    });
    drop(sender);
    let mut outcome = WalkOutcome::default();
    for found in receiver.into_iter().flatten() {
        match found {
            Found::File(file) => outcome.files.push(file),
            Found::Skipped(skip) => outcome.skipped.push(skip),
        }
    }
    // Each path once: their order is the order of their paths.
    outcome.files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    outcome.skipped.sort();
    Ok(outcome)
}

/// What one walker thread found, sent to the collector when the thread's visitor is dropped.
struct Batch {
    found: Vec<Found>,
    sender: mpsc::Sender<Vec<Found>>,
}

impl Drop for Batch {
    fn drop(&mut self) {
        // The receiver outlives the walk, so a send cannot fail.
        let _ = self.sender.send(std::mem::take(&mut self.found));
    }
}

fn classify(
    root: &Path,
    result: Result<ignore::DirEntry, ignore::Error>,
    max_file_size: u64,
    only: Option<&Coverage>,
) -> Option<Found> {
    let entry = match result {
        Ok(entry) => entry,
        Err(error) => {
            let path = error_path(&error)
                .map(|p| relative(root, p))
                .unwrap_or_default();
            let reason = match &error {
                e if is_loop(e) => SkipReason::SymlinkLoop,
                e => SkipReason::Unreadable {
                    error: innermost_message(e),
                },
            };
            return Some(Found::Skipped(Skip { path, reason }));
        }
    };
    let file_type = entry.file_type()?;
    if file_type.is_dir() {
        return None;
    }
    let path = entry.path();
    let Some(relative_path) = path
        .strip_prefix(root)
        .ok()
        .and_then(|p| p.to_str())
        .map(to_slashes)
    else {
        return Some(Found::Skipped(Skip {
            path: relative(root, path),
            reason: SkipReason::NonUtf8Path,
        }));
    };
    // A file in a directory on the way to the covered paths, not covered itself (nor in the
    // way of one).
    if only.is_some_and(|only| !only.leads_to(&relative_path)) {
        return None;
    }
    let skip = |reason| {
        Some(Found::Skipped(Skip {
            path: relative_path.clone(),
            reason,
        }))
    };
    if file_type.is_symlink() {
        return match std::fs::metadata(path) {
            Ok(_) => skip(SkipReason::Symlink),
            // ELOOP: too many levels of symbolic links.
            Err(e) if e.raw_os_error() == Some(40) => skip(SkipReason::SymlinkLoop),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => skip(SkipReason::BrokenSymlink),
            Err(e) => skip(SkipReason::Unreadable {
                error: e.to_string(),
            }),
        };
    }
    if !file_type.is_file() {
        return None;
    }
    if entry
        .file_name()
        .to_str()
        .is_some_and(|name| LOCK_FILE_NAMES.contains(&name))
    {
        return skip(SkipReason::LockFile);
    }
    let (size, stamp) = match entry.metadata() {
        Ok(metadata) => (metadata.len(), FileStamp::of(&metadata)),
        Err(e) => {
            return skip(SkipReason::Unreadable {
                error: innermost_message(&e),
            });
        }
    };
    if size > max_file_size {
        return skip(SkipReason::TooLarge {
            size,
            limit: max_file_size,
        });
    }
    Some(Found::File(WalkedFile {
        path: relative_path,
        absolute: entry.into_path(),
        size,
        stamp,
    }))
}

fn to_slashes(path: &str) -> String {
    if std::path::MAIN_SEPARATOR == '/' {
        path.to_string()
    } else {
        path.replace(std::path::MAIN_SEPARATOR, "/")
    }
}

fn relative(root: &Path, path: &Path) -> String {
    to_slashes(&path.strip_prefix(root).unwrap_or(path).to_string_lossy())
}

fn error_path(error: &ignore::Error) -> Option<&Path> {
    match error {
        ignore::Error::WithPath { path, .. } => Some(path),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            error_path(err)
        }
        ignore::Error::Loop { child, .. } => Some(child),
        _ => None,
    }
}

fn is_loop(error: &ignore::Error) -> bool {
    match error {
        ignore::Error::Loop { .. } => true,
        ignore::Error::WithPath { err, .. }
        | ignore::Error::WithDepth { err, .. }
        | ignore::Error::WithLineNumber { err, .. } => is_loop(err),
        _ => false,
    }
}

fn innermost_message(error: &ignore::Error) -> String {
    match error {
        ignore::Error::WithPath { err, .. }
        | ignore::Error::WithDepth { err, .. }
        | ignore::Error::WithLineNumber { err, .. } => innermost_message(err),
        other => other.to_string(),
    }
}

/// A file's text, ready for extraction.
#[derive(Clone, Debug)]
pub struct SourceText {
    /// The text; invalid UTF-8 sequences replaced with U+FFFD when `lossy`.
    pub text: String,
    /// Hash of the bytes on disk (before any lossy decoding).
    pub hash: ContentHash,
    /// Size in bytes on disk.
    pub size: u64,
    /// Whether the bytes were not valid UTF-8 and were decoded lossily.
    pub lossy: bool,
}

/// Reads a walked file, rejecting binary and oversized content.
pub fn read_source(path: &Path, max_file_size: u64) -> Result<SourceText, SkipReason> {
    let bytes = std::fs::read(path).map_err(|e| SkipReason::Unreadable {
        error: e.to_string(),
    })?;
    source_from_bytes(bytes, max_file_size)
}

/// A file's bytes as source text, as [`read_source`] judges them (size limit, binary sniff,
/// hash, lossy UTF-8), for a caller that read the bytes itself (to check them first).
pub fn source_from_bytes(bytes: Vec<u8>, max_file_size: u64) -> Result<SourceText, SkipReason> {
    let size = bytes.len() as u64;
    if size > max_file_size {
        return Err(SkipReason::TooLarge {
            size,
            limit: max_file_size,
        });
    }
    if bytes[..bytes.len().min(BINARY_SNIFF_BYTES)].contains(&0) {
        return Err(SkipReason::Binary);
    }
    let hash = ContentHash::of(&bytes);
    let (text, lossy) = match String::from_utf8(bytes) {
        Ok(text) => (text, false),
        Err(error) => {
            let bytes = error.as_bytes();
            let invalid: usize = bytes.utf8_chunks().map(|c| c.invalid().len()).sum();
            if invalid >= MIN_INVALID_BYTES
                && invalid as f64 > MAX_INVALID_SHARE * bytes.len() as f64
            {
                return Err(SkipReason::Binary);
            }
            (String::from_utf8_lossy(bytes).into_owned(), true)
        }
    };
    Ok(SourceText {
        text,
        hash,
        size,
        lossy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, content: &[u8]) {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, content).expect("write");
    }

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        write(root, "src/main.rs", b"fn main() {}\n");
        write(root, "src/lib.rs", b"pub fn lib() {}\n");
        write(root, ".gitignore", b"target/\n*.log\n");
        write(root, "target/debug/out.rs", b"fn generated() {}\n");
        write(root, "debug.log", b"noise\n");
        write(root, ".sextantignore", b"vendor/\n");
        write(root, "vendor/dep.rs", b"fn dep() {}\n");
        write(root, ".git/HEAD", b"ref: refs/heads/main\n");
        write(root, ".sextant/manifest", b"x");
        write(root, ".github/workflows/ci.yml", b"on: push\n");
        write(root, "Cargo.lock", b"# lock\n");
        write(root, "big.txt", &vec![b'a'; 2048]);
        for i in 0..40 {
            write(root, &format!("many/dir{}/file{i}.py", i % 7), b"x = 1\n");
        }
        dir
    }

    fn paths(outcome: &WalkOutcome) -> Vec<&str> {
        outcome.files.iter().map(|f| f.path.as_str()).collect()
    }

    /// A walk limited to some paths finds there exactly what the whole walk finds there:
    /// the ignore rules of every directory above them apply (a file named inside an ignored
    /// directory is not found), a directory is walked whole, a gone path finds nothing.
    #[test]
    fn a_walk_limited_to_paths_finds_what_the_whole_walk_finds_there() {
        let dir = tree();
        write(dir.path(), "many/dir3/.gitignore", b"skip_*.py\n");
        write(dir.path(), "many/dir3/skip_me.py", b"x = 2\n");
        write(dir.path(), "many/dir3/deep/keep.py", b"x = 3\n");
        let whole = walk(dir.path(), &WalkOptions::default()).expect("walk");
        let cases: [&[&str]; 7] = [
            &["src/main.rs"],
            &["target/debug/out.rs", "vendor/dep.rs", "debug.log"],
            &["many/dir3"],
            &["many/dir3/skip_me.py", "many/dir3/deep/keep.py"],
            &["gone.rs", "many/gone/", "src/"],
            &["Cargo.lock", "big.txt", "./many//dir1/file1.py"],
            &[],
        ];
        for given in cases {
            let only = Coverage::of(given.iter().copied()).expect("limited");
            let expected: Vec<&WalkedFile> = whole
                .files
                .iter()
                .filter(|f| only.covers(&f.path))
                .collect();
            let expected_skips: Vec<&Skip> = whole
                .skipped
                .iter()
                .filter(|s| only.covers(&s.path))
                .collect();
            let options = WalkOptions {
                only: Some(std::sync::Arc::new(only)),
                ..WalkOptions::default()
            };
            let limited = walk(dir.path(), &options).expect("walk");
            assert_eq!(
                limited.files.iter().collect::<Vec<_>>(),
                expected,
                "{given:?}"
            );
            assert_eq!(
                limited.skipped.iter().collect::<Vec<_>>(),
                expected_skips,
                "{given:?}"
            );
        }
        // What cannot be limited: the root, a path out of it, the root's ignore rules, and
        // version-control internals walk the whole tree.
        for whole_tree in [".", "../x", ".gitignore", ".git/info/exclude", "a/../../b"] {
            assert_eq!(Coverage::of([whole_tree]), None, "{whole_tree}");
        }
        // A directory's ignore file covers the directory.
        let only = Coverage::of(["many/dir3/.gitignore"]).expect("limited");
        assert!(only.covers("many/dir3/skip_me.py") && !only.covers("many/dir30/x.py"));
    }

    #[test]
    fn walk_honours_ignore_files_and_limits() {
        let dir = tree();
        let options = WalkOptions {
            max_file_size: 1024,
            ..WalkOptions::default()
        };
        let outcome = walk(dir.path(), &options).expect("walk");
        let found = paths(&outcome);
        assert!(found.contains(&"src/main.rs"));
        assert!(found.contains(&".github/workflows/ci.yml"));
        assert!(found.contains(&".gitignore"));
        for absent in [
            "target/debug/out.rs",
            "debug.log",
            "vendor/dep.rs",
            ".git/HEAD",
            ".sextant/manifest",
        ] {
            assert!(!found.contains(&absent), "{absent} should be ignored");
        }
        assert!(outcome.skipped.contains(&Skip {
            path: "Cargo.lock".into(),
            reason: SkipReason::LockFile
        }));
        assert!(outcome.skipped.contains(&Skip {
            path: "big.txt".into(),
            reason: SkipReason::TooLarge {
                size: 2048,
                limit: 1024
            }
        }));
    }

    #[test]
    fn walk_is_the_same_single_threaded_and_parallel() {
        let dir = tree();
        let single = walk(
            dir.path(),
            &WalkOptions {
                threads: 1,
                ..WalkOptions::default()
            },
        )
        .expect("walk");
        let parallel = walk(
            dir.path(),
            &WalkOptions {
                threads: 4,
                ..WalkOptions::default()
            },
        )
        .expect("walk");
        assert_eq!(single, parallel);
        assert_eq!(single.files.len(), 46);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_reported_not_followed() {
        let dir = tree();
        let root = dir.path();
        std::os::unix::fs::symlink(root.join("nowhere.rs"), root.join("broken.rs"))
            .expect("symlink");
        std::os::unix::fs::symlink(root.join("loop.rs"), root.join("loop.rs")).expect("symlink");
        std::os::unix::fs::symlink(root.join("src/main.rs"), root.join("alias.rs"))
            .expect("symlink");
        std::os::unix::fs::symlink(root.join("src"), root.join("src-link")).expect("symlink");
        let outcome = walk(root, &WalkOptions::default()).expect("walk");
        let reason = |path: &str| {
            outcome
                .skipped
                .iter()
                .find(|s| s.path == path)
                .map(|s| s.reason.clone())
        };
        assert_eq!(reason("broken.rs"), Some(SkipReason::BrokenSymlink));
        assert_eq!(reason("loop.rs"), Some(SkipReason::SymlinkLoop));
        assert_eq!(reason("alias.rs"), Some(SkipReason::Symlink));
        assert_eq!(reason("src-link"), Some(SkipReason::Symlink));
        assert!(!paths(&outcome).iter().any(|p| p.starts_with("src-link/")));
    }

    /// A submodule's or worktree's `.git` is a file pointing at git's data, and a `.sextant`
    /// may be a file: neither is walked (both were indexed as text).
    #[test]
    fn version_control_and_index_names_are_skipped_as_files_too() {
        let dir = tree();
        let root = dir.path();
        write(
            root,
            "vendor2/lib/.git",
            b"gitdir: ../../.git/modules/lib\n",
        );
        write(root, "vendor2/lib/lib.py", b"x = 1\n");
        write(root, "other/.sextant", b"not an index\n");
        write(root, "other/.hg", b"x\n");
        let outcome = walk(root, &WalkOptions::default()).expect("walk");
        let found = paths(&outcome);
        assert!(found.contains(&"vendor2/lib/lib.py"), "{found:?}");
        for skipped in ["vendor2/lib/.git", "other/.sextant", "other/.hg"] {
            assert!(!found.contains(&skipped), "{skipped} in {found:?}");
        }
        assert!(!outcome.skipped.iter().any(|s| s.path.contains(".git")));
    }

    #[test]
    fn missing_root_is_an_error() {
        let error =
            walk(Path::new("/definitely/not/here"), &WalkOptions::default()).expect_err("missing");
        assert!(error.to_string().contains("/definitely/not/here"));
    }

    #[test]
    fn read_rejects_binary_and_decodes_bad_utf8_lossily() {
        let dir = tempfile::tempdir().expect("tempdir");
        let binary = dir.path().join("image.bin");
        std::fs::write(&binary, b"PNG\0\x01\x02").expect("write");
        assert_eq!(
            read_source(&binary, 1024).map(|s| s.size),
            Err(SkipReason::Binary)
        );
        let latin1 = dir.path().join("latin1.py");
        std::fs::write(&latin1, b"name = 'caf\xe9'\n").expect("write");
        let source = read_source(&latin1, 1024).expect("readable");
        assert!(source.lossy);
        assert_eq!(source.text, "name = 'caf\u{fffd}'\n");
        assert_eq!(source.hash, ContentHash::of(b"name = 'caf\xe9'\n"));
        // No NUL in the first 8,000 bytes, but mostly not UTF-8 past a text header (a
        // PDF-based Illustrator file): binary. Latin-1 text with many accents is still text.
        let mut pdf =
            b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Length 9000 >>\nstream\n".to_vec();
        pdf.extend((0..9_000u32).map(|i| 0x80 | (i.wrapping_mul(2_654_435_761) >> 25) as u8));
        let artwork = dir.path().join("logo.ai");
        std::fs::write(&artwork, &pdf).expect("write");
        assert_eq!(
            read_source(&artwork, 1 << 20).map(|s| s.size),
            Err(SkipReason::Binary)
        );
        let french =
            "le caf\u{e9} est d\u{e9}j\u{e0} pr\u{ea}t, \u{e9}t\u{e9} comme hiver\n".repeat(200);
        let french: Vec<u8> = french.chars().map(|c| c as u32 as u8).collect();
        let latin1_text = dir.path().join("notes.txt");
        std::fs::write(&latin1_text, &french).expect("write");
        let source = read_source(&latin1_text, 1 << 20).expect("text");
        assert!(source.lossy);
        let missing = read_source(&dir.path().join("gone.rs"), 1024).map(|s| s.size);
        assert!(matches!(missing, Err(SkipReason::Unreadable { .. })));
    }

    #[cfg(unix)]
    #[test]
    fn unreadable_files_are_reported() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let secret = dir.path().join("secret.rs");
        std::fs::write(&secret, b"fn x() {}\n").expect("write");
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).expect("chmod");
        // A read error is a reported skip whatever causes it; reading a directory fails even for
        // root, so this part always runs.
        let error = read_source(dir.path(), 1024)
            .map(|s| s.size)
            .expect_err("a directory cannot be read");
        assert!(
            matches!(&error, SkipReason::Unreadable { error } if !error.is_empty()),
            "{error:?}"
        );
        // Root reads anything regardless of mode bits; the mode check only means something otherwise.
        if std::fs::read(&secret).is_err() {
            assert!(matches!(
                read_source(&secret, 1024),
                Err(SkipReason::Unreadable { .. })
            ));
        }
        let locked_dir = dir.path().join("locked");
        std::fs::create_dir(&locked_dir).expect("mkdir");
        std::fs::write(locked_dir.join("inner.rs"), b"fn y() {}\n").expect("write");
        std::fs::set_permissions(&locked_dir, std::fs::Permissions::from_mode(0o000))
            .expect("chmod");
        let outcome = walk(dir.path(), &WalkOptions::default());
        std::fs::set_permissions(&locked_dir, std::fs::Permissions::from_mode(0o755))
            .expect("chmod back");
        let outcome = outcome.expect("walk succeeds despite unreadable dir");
        if std::fs::read_dir(&locked_dir).is_ok() {
            return;
        }
        assert!(
            outcome
                .skipped
                .iter()
                .any(|s| matches!(s.reason, SkipReason::Unreadable { .. }))
        );
    }
}
