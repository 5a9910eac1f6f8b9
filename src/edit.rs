//! Applying model-proposed edits safely: search/replace blocks against the current file text
//! (a block applies only if its search text occurs exactly once) and whole new files, all or
//! nothing, never outside the repository.
//!
//! The format the model writes (an empty SEARCH part creates a new file):
//!
//! ```text
//! app/cache.py
//! <<<<<<< SEARCH
//!     return functools.lru_cache(maxsize=1024)(function)
//! =======
//!     return functools.lru_cache(maxsize=4096)(function)
//! >>>>>>> REPLACE
//! ```

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

const SEARCH: &str = "<<<<<<< SEARCH";
const DIVIDER: &str = "=======";
const REPLACE: &str = ">>>>>>> REPLACE";

/// One proposed edit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Edit {
    /// File path relative to the repository root.
    pub path: String,
    /// Text to find (exactly once); empty for a new file.
    pub search: String,
    /// Text to put in its place (the whole file for a new one).
    pub replace: String,
}

/// Why edits were not applied. Nothing is written when any edit fails.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EditError {
    /// The reply's blocks are malformed.
    #[error("malformed edit block at line {line}: {reason}")]
    Malformed {
        /// 1-based line in the reply.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A path leaves the repository or touches sextant's or git's own files.
    #[error("refused to edit {path}: {reason}")]
    Refused {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
    /// The search text is not in the file exactly once.
    #[error("{path}: the search text occurs {count} times (it must occur exactly once)")]
    NoUniqueMatch {
        /// The file.
        path: String,
        /// How often it occurs.
        count: usize,
    },
    /// A new file's path already exists, or an edited file does not.
    #[error("{path}: {reason}")]
    Existence {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing failed.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        message: String,
    },
}

/// Parses every edit block of a reply; text outside blocks is ignored.
pub fn parse(reply: &str) -> Result<Vec<Edit>, EditError> {
    let lines: Vec<&str> = reply.lines().collect();
    let mut edits = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        if lines[index].trim_end() != SEARCH {
            index += 1;
            continue;
        }
        let start = index + 1;
        let path = (0..index)
            .rev()
            .map(|i| lines[i].trim().trim_matches('`'))
            .find(|l| !l.is_empty() && !l.starts_with("```"))
            .filter(|p| !p.contains(' ') || p.contains('/'))
            .ok_or_else(|| EditError::Malformed {
                line: start,
                reason: "no file path on the line before the block".into(),
            })?
            .to_string();
        let divider = (start..lines.len())
            .find(|&i| lines[i].trim_end() == DIVIDER)
            .ok_or_else(|| EditError::Malformed {
                line: start,
                reason: format!("no {DIVIDER} line"),
            })?;
        let end = (divider + 1..lines.len())
            .find(|&i| lines[i].trim_end() == REPLACE)
            .ok_or_else(|| EditError::Malformed {
                line: divider + 1,
                reason: format!("no {REPLACE} line"),
            })?;
        let join = |range: std::ops::Range<usize>| {
            let mut text = lines[range].join("\n");
            if !text.is_empty() {
                text.push('\n');
            }
            text
        };
        edits.push(Edit {
            path,
            search: join(start..divider),
            replace: join(divider + 1..end),
        });
        index = end + 1;
    }
    Ok(edits)
}

/// Checks that `relative` names a file inside `root` (no `..`, not absolute, not through a
/// symlink leading out, not in `.git` or `.sextant`) and returns its absolute path.
pub fn safe_path(root: &Path, relative: &str) -> Result<PathBuf, EditError> {
    let refuse = |reason: &str| EditError::Refused {
        path: relative.to_string(),
        reason: reason.to_string(),
    };
    let path = Path::new(relative);
    if relative.is_empty() || path.is_absolute() {
        return Err(refuse("not a relative path"));
    }
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            _ => return Err(refuse("it leaves the repository")),
        }
    }
    if parts
        .first()
        .is_some_and(|p| p.eq_ignore_ascii_case(".sextant"))
        // A `.git` anywhere (a nested repository's config runs commands in it; `.GIT` is
        // `.git` on case-insensitive file systems).
        || parts.iter().any(|p| p.eq_ignore_ascii_case(".git"))
    {
        return Err(refuse("git's and sextant's own files are off limits"));
    }
    let root = root
        .canonicalize()
        .map_err(|e| refuse(&format!("cannot resolve the repository root: {e}")))?;
    let target = root.join(path);
    // The deepest existing ancestor (or the file itself) must resolve inside the root: a
    // symlinked directory or file pointing out is refused.
    let mut existing = target.clone();
    while !existing.exists() && existing.symlink_metadata().is_err() {
        if !existing.pop() {
            break;
        }
    }
    let resolved = existing
        .canonicalize()
        .map_err(|_| refuse("it goes through a broken symlink"))?;
    if !resolved.starts_with(&root) {
        return Err(refuse("it resolves outside the repository (symlink)"));
    }
    if resolved.starts_with(root.join(".git")) || resolved.starts_with(root.join(".sextant")) {
        return Err(refuse(
            "it resolves into git's or sextant's own files (symlink)",
        ));
    }
    Ok(target)
}

/// A file as it will be written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Path relative to the root.
    pub path: String,
    /// The text before (`None` for a new file).
    pub before: Option<String>,
    /// The text after.
    pub after: String,
}

impl Change {
    /// A unified diff of the change.
    pub fn diff(&self) -> String {
        let before = self.before.as_deref().unwrap_or("");
        similar::TextDiff::from_lines(before, &self.after)
            .unified_diff()
            .context_radius(3)
            .header(
                &if self.before.is_some() {
                    format!("a/{}", self.path)
                } else {
                    "/dev/null".to_string()
                },
                &format!("b/{}", self.path),
            )
            .to_string()
    }
}

/// Works out every edit against the current files, in order (several edits may touch one
/// file); fails on the first problem without touching anything.
pub fn plan_changes(root: &Path, edits: &[Edit]) -> Result<Vec<Change>, EditError> {
    let mut files: BTreeMap<String, Change> = BTreeMap::new();
    for edit in edits {
        let absolute = safe_path(root, &edit.path)?;
        let change = match files.remove(&edit.path) {
            Some(change) => change,
            None => {
                let before = match std::fs::read_to_string(&absolute) {
                    Ok(text) => Some(text),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => {
                        return Err(EditError::Io {
                            path: edit.path.clone(),
                            message: e.to_string(),
                        });
                    }
                };
                Change {
                    path: edit.path.clone(),
                    after: before.clone().unwrap_or_default(),
                    before,
                }
            }
        };
        let after = if edit.search.is_empty() {
            if change.before.is_some() || !change.after.is_empty() {
                return Err(EditError::Existence {
                    path: edit.path.clone(),
                    reason: "an empty search creates a new file, but the file exists".into(),
                });
            }
            edit.replace.clone()
        } else {
            if change.before.is_none() && change.after.is_empty() {
                return Err(EditError::Existence {
                    path: edit.path.clone(),
                    reason: "no such file to edit".into(),
                });
            }
            let count = change.after.matches(&edit.search).count();
            if count != 1 {
                return Err(EditError::NoUniqueMatch {
                    path: edit.path.clone(),
                    count,
                });
            }
            change.after.replacen(&edit.search, &edit.replace, 1)
        };
        files.insert(edit.path.clone(), Change { after, ..change });
    }
    Ok(files.into_values().collect())
}

/// Writes planned changes, all or nothing: every file is first staged beside its target
/// (checked, written, given its mode), and only when all are staged are they renamed into
/// place; if a rename fails, the files already renamed get their earlier text back.
pub fn write_changes(root: &Path, changes: &[Change]) -> Result<(), EditError> {
    let staged = changes
        .iter()
        .map(|change| Staged::new(root, &change.path, change.after.as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    for (done, staged) in staged.into_iter().enumerate() {
        if let Err(error) = staged.commit() {
            // A rename failed (a name the file system refuses): put back what was written.
            for change in &changes[..done] {
                let _ = match &change.before {
                    Some(before) => write_file(root, &change.path, before.as_bytes()),
                    None => safe_path(root, &change.path).and_then(|path| {
                        std::fs::remove_file(path).map_err(|e| EditError::Io {
                            path: change.path.clone(),
                            message: e.to_string(),
                        })
                    }),
                };
            }
            return Err(error);
        }
    }
    Ok(())
}

/// Writes `bytes` to `relative` inside `root`, atomically (temporary file beside it, then
/// rename), the only way the agent writes into the repository:
/// - the path and, for an existing file, what it resolves to must lie inside the repository
///   and outside git's and sextant's own directories ([`safe_path`]); a symlink inside the
///   repository is written through (the link stays a link), never replaced;
/// - the temporary file gets a fresh random name and is created exclusively, so nothing at a
///   predictable name (a planted symlink) is ever followed;
/// - an existing file keeps its permissions (an edited script stays executable).
pub fn write_file(root: &Path, relative: &str, bytes: &[u8]) -> Result<(), EditError> {
    Staged::new(root, relative, bytes)?.commit()
}

/// Where a change will land, with every symlink of an existing file resolved: what to compare
/// when a path must not be written (the plan, sextant's configuration) whatever it is called.
pub fn resolved_target(root: &Path, relative: &str) -> Result<PathBuf, EditError> {
    let target = safe_path(root, relative)?;
    Ok(target.canonicalize().unwrap_or(target))
}

/// A file written beside its target, not yet renamed into place (dropped: removed).
struct Staged {
    file: tempfile::NamedTempFile,
    target: PathBuf,
    relative: String,
}

impl Staged {
    fn new(root: &Path, relative: &str, bytes: &[u8]) -> Result<Staged, EditError> {
        use std::io::Write;
        let target = safe_path(root, relative)?;
        let io = |e: std::io::Error| EditError::Io {
            path: relative.to_string(),
            message: e.to_string(),
        };
        // Through an in-repository symlink: write the file it names (checked inside by
        // safe_path).
        let target = if target
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            target.canonicalize().map_err(io)?
        } else {
            target
        };
        let parent = target.parent().ok_or_else(|| EditError::Refused {
            path: relative.to_string(),
            reason: "it names no file".into(),
        })?;
        std::fs::create_dir_all(parent).map_err(io)?;
        // An existing file keeps its mode; a new one gets the usual 0644 (the temporary
        // file's own 0600 would make it private).
        let permissions = std::fs::symlink_metadata(&target)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.permissions())
            .unwrap_or_else(|| {
                use std::os::unix::fs::PermissionsExt;
                std::fs::Permissions::from_mode(0o644)
            });
        let mut file = tempfile::Builder::new()
            .prefix(".sextant-")
            .suffix(".tmp")
            .tempfile_in(parent)
            .map_err(io)?;
        file.write_all(bytes).map_err(io)?;
        // On the open file: a name is never followed.
        file.as_file().set_permissions(permissions).map_err(io)?;
        Ok(Staged {
            file,
            target,
            relative: relative.to_string(),
        })
    }

    fn commit(self) -> Result<(), EditError> {
        let Staged {
            file,
            target,
            relative,
        } = self;
        file.persist(&target)
            .map(|_| ())
            .map_err(|e| EditError::Io {
                path: relative,
                message: e.error.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPLY: &str = "I will raise the cache size.\n\napp/cache.py\n<<<<<<< SEARCH\n    return functools.lru_cache(maxsize=1024)(function)\n=======\n    return functools.lru_cache(maxsize=4096)(function)\n>>>>>>> REPLACE\n\nAnd add a test:\n\ntests/test_cache.py\n<<<<<<< SEARCH\n=======\ndef test_size():\n    assert True\n>>>>>>> REPLACE\n";

    fn repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("app")).expect("mkdir");
        std::fs::write(
            dir.path().join("app/cache.py"),
            "import functools\n\ndef memoize(function):\n    return functools.lru_cache(maxsize=1024)(function)\n",
        )
        .expect("write");
        dir
    }

    #[test]
    fn parses_replacements_and_new_files() {
        let edits = parse(REPLY).expect("parses");
        assert_eq!(edits.len(), 2);
        assert_eq!(edits[0].path, "app/cache.py");
        assert!(edits[0].search.contains("maxsize=1024"));
        assert_eq!(edits[1].path, "tests/test_cache.py");
        assert!(edits[1].search.is_empty());
        assert!(parse("a.py\n<<<<<<< SEARCH\nx\n").is_err());
    }

    #[test]
    fn applies_all_or_nothing() {
        let dir = repo();
        let edits = parse(REPLY).expect("parses");
        let changes = plan_changes(dir.path(), &edits).expect("plans");
        assert!(
            changes[0]
                .diff()
                .contains("+    return functools.lru_cache(maxsize=4096)(function)")
        );
        write_changes(dir.path(), &changes).expect("writes");
        let text = std::fs::read_to_string(dir.path().join("app/cache.py")).expect("read");
        assert!(text.contains("maxsize=4096"));
        assert!(dir.path().join("tests/test_cache.py").exists());
        // Applying again fails: the search text is gone and the new file exists; nothing moves.
        let error = plan_changes(dir.path(), &edits).expect_err("stale");
        assert_eq!(
            error,
            EditError::NoUniqueMatch {
                path: "app/cache.py".into(),
                count: 0
            }
        );
    }

    #[test]
    fn an_ambiguous_search_is_refused() {
        let dir = repo();
        std::fs::write(dir.path().join("twice.py"), "x = 1\nx = 1\n").expect("write");
        let edits = vec![Edit {
            path: "twice.py".into(),
            search: "x = 1\n".into(),
            replace: "x = 2\n".into(),
        }];
        assert!(matches!(
            plan_changes(dir.path(), &edits),
            Err(EditError::NoUniqueMatch { count: 2, .. })
        ));
    }

    #[test]
    fn paths_outside_the_repository_are_refused() {
        let dir = repo();
        for bad in [
            "../escape.py",
            "/etc/passwd",
            ".git/config",
            "sub/.git/config",
            ".GIT/hooks/pre-commit",
            ".sextant/manifest-1.bin",
            "",
        ] {
            assert!(
                matches!(safe_path(dir.path(), bad), Err(EditError::Refused { .. })),
                "{bad}"
            );
        }
        let outside = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).expect("symlink");
        assert!(matches!(
            safe_path(dir.path(), "link/evil.py"),
            Err(EditError::Refused { .. })
        ));
        assert!(safe_path(dir.path(), "app/new/file.py").is_ok());
    }

    #[test]
    fn writes_keep_modes_and_symlinks_and_never_leave_the_repository() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let dir = repo();
        let root = dir.path();
        let script = root.join("check.sh");
        std::fs::write(&script, "#!/bin/sh\nexit 1\n").expect("write");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        write_file(root, "check.sh", b"#!/bin/sh\nexit 0\n").expect("written");
        let mode = std::fs::metadata(&script)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755, "the script stays executable");
        write_file(root, "new/file.py", b"x = 1\n").expect("written");
        let mode = std::fs::metadata(root.join("new/file.py"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644, "a new file is not private");

        // An in-repository symlink is written through and stays a link.
        symlink("check.sh", root.join("alias.sh")).expect("symlink");
        write_file(root, "alias.sh", b"#!/bin/sh\necho via link\n").expect("written");
        assert!(
            std::fs::symlink_metadata(root.join("alias.sh"))
                .expect("meta")
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            std::fs::read_to_string(&script).expect("read"),
            "#!/bin/sh\necho via link\n"
        );

        // A file symlink pointing out, a directory symlink pointing out, and a link into
        // .git are refused, and nothing is written outside.
        let outside = tempfile::tempdir().expect("tempdir");
        let victim = outside.path().join("victim.txt");
        std::fs::write(&victim, "untouched").expect("write");
        symlink(&victim, root.join("TODO.md")).expect("symlink");
        symlink(outside.path(), root.join("link_out")).expect("symlink");
        std::fs::create_dir_all(root.join(".git")).expect("mkdir");
        symlink(".git", root.join("innocent")).expect("symlink");
        for bad in ["TODO.md", "link_out/TODO.md", "innocent/config"] {
            assert!(
                matches!(
                    write_file(root, bad, b"owned"),
                    Err(EditError::Refused { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "untouched");
        assert!(!outside.path().join("TODO.md").exists());
        assert!(!root.join(".git/config").exists());
    }

    #[test]
    fn a_planted_symlink_at_any_temporary_name_is_never_followed() {
        use std::os::unix::fs::symlink;
        let dir = repo();
        let root = dir.path();
        let outside = tempfile::tempdir().expect("tempdir");
        let victim = outside.path().join("victim.txt");
        std::fs::write(&victim, "untouched").expect("write");
        std::fs::write(root.join("app.py"), "x = 1\n").expect("write");
        // The names earlier versions wrote to, planted as links out and into .git.
        std::fs::create_dir_all(root.join(".git/hooks")).expect("mkdir");
        symlink(&victim, root.join("app.py.sextant-tmp")).expect("symlink");
        symlink(&victim, root.join("app.sextant-tmp")).expect("symlink");
        symlink(".git/hooks/pre-commit", root.join("check.sh.sextant-tmp")).expect("symlink");
        write_file(root, "app.py", b"x = 2\n").expect("written");
        std::fs::write(root.join("check.sh"), "#!/bin/sh\n").expect("write");
        write_file(root, "check.sh", b"#!/bin/sh\ntrue\n").expect("written");
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "untouched");
        assert!(!root.join(".git/hooks/pre-commit").exists());
        assert_eq!(
            std::fs::read_to_string(root.join("app.py")).expect("read"),
            "x = 2\n"
        );
        assert!(
            !std::fs::symlink_metadata(root.join("app.py"))
                .expect("meta")
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    fn changes_are_written_all_or_nothing() {
        let dir = repo();
        let root = dir.path();
        std::fs::write(root.join("TODO.md"), "plan\n").expect("write");
        let long = format!("{}.py", "x".repeat(300));
        let changes = vec![
            Change {
                path: "TODO.md".into(),
                before: Some("plan\n".into()),
                after: "changed\n".into(),
            },
            Change {
                path: long,
                before: None,
                after: "y\n".into(),
            },
        ];
        assert!(write_changes(root, &changes).is_err());
        assert_eq!(
            std::fs::read_to_string(root.join("TODO.md")).expect("read"),
            "plan\n"
        );
        let leftovers: Vec<_> = std::fs::read_dir(root)
            .expect("dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
