//! `sextant index`: build or update the index and say what changed.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use sextant_index::store::StoreError;
use sextant_index::update::{IndexSummary, UpdateOptions, update_index};
use sextant_index::walk::Coverage;

use crate::rank::history::History;
use sextant_index::vector::units::UnitDesign;
use sextant_index::vector::{LiveVectors, VectorOptions};

use crate::cli::{GlobalArgs, IndexArgs, VectorMode};
use crate::output::{counted, escaped, print, print_json, seconds, thousands};
use crate::progress::TerminalProgress;
use crate::settings::{Overrides, Settings, has_index};

/// Skipped paths listed one by one up to this many; beyond, they are counted by reason.
const MAX_LISTED_SKIPS: usize = 20;

/// Runs `sextant index`.
pub fn run(args: &IndexArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let overrides = Overrides {
        max_file_size: args.max_file_size,
    };
    let root = match (&args.path, &global.index_dir) {
        (Some(path), _) => path.clone(),
        (None, Some(_)) => PathBuf::from("."),
        (None, None) => {
            index_root(&std::env::current_dir().context("reading the current directory")?)
        }
    };
    let settings = Settings::resolve(Some(&root), global, &overrides)?;
    let json = args.json || args.ci;
    let progress = TerminalProgress::new(!(settings.quiet || args.ci));
    let mode = args
        .vectors
        .or(settings.vectors.mode)
        .unwrap_or(VectorMode::Auto);
    let only = if args.changed.is_empty() {
        None
    } else {
        changed_coverage(&settings.root, &args.changed)?
    };
    let limited = only.is_some();
    let summary = update_with(
        &settings,
        args.full,
        mode,
        &progress,
        VectorHooks::default(),
        only,
    )?;
    note_unmatched(&summary, &settings.root);
    if json {
        print_json(&summary)?;
    } else if !settings.quiet {
        print(&render(&summary, &settings, limited))?;
    }
    if args.watch {
        return watch(&settings, mode);
    }
    match (&summary.vectors_missing, mode) {
        (Some(reason), VectorMode::Sync) => {
            anyhow::bail!("no vector index ({reason}); the lexical index and graph are committed")
        }
        (Some(reason), VectorMode::Auto) if settings.quiet && !json => {
            eprintln!("note: no vector index: {reason}");
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `sextant index --watch`: reindexes after every burst of changes, a line each, until
/// interrupted.
fn watch(settings: &Settings, mode: VectorMode) -> anyhow::Result<()> {
    let mut watch = crate::watch::TreeWatch::start(settings)?;
    eprintln!("watching {} (Ctrl-C stops)", settings.root.display());
    let mut pacing = crate::watch::VectorPacing::default();
    while let Some(burst) = watch.next_burst(settings) {
        let changed = burst.changed;
        let (lexical, vectors) =
            crate::watch::reindex_burst(settings, mode, &watch, &mut pacing, burst.only);
        match lexical {
            Ok(summary) => print(&format!(
                "{} changed: {}\n",
                counted(changed as u64, "path"),
                if summary.committed {
                    format!(
                        "generation {} ({} indexed)",
                        summary.generation,
                        counted(summary.indexed_files as u64, "file")
                    )
                } else {
                    "nothing to index".to_string()
                }
            ))?,
            Err(error) => eprintln!("warning: reindex failed: {error:#}"),
        }
        if let Some(line) = vectors {
            print(&format!("{line}\n"))?;
        }
    }
    Ok(())
}

/// Brings the index up to date as `sextant index` does (vectors as the settings say, the
/// history prior refreshed), without printing: for the server's `reindex`.
pub(crate) fn update(settings: &Settings, full: bool) -> anyhow::Result<IndexSummary> {
    let mode = settings.vectors.mode.unwrap_or(VectorMode::Auto);
    update_with(
        settings,
        full,
        mode,
        &TerminalProgress::new(false),
        VectorHooks::default(),
        None,
    )
}

/// What a long-lived caller (the watch) lends the vector step.
#[derive(Clone, Debug, Default)]
pub(crate) struct VectorHooks {
    /// When set during the vector step, abandons it (the watch gives way to a newer change).
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// The vectors the process holds in memory, patched instead of loaded from disk.
    pub live: Option<LiveVectors>,
}

/// An incremental update with vectors as `mode` says (not as the settings do), without
/// printing; limited to what `only` covers when it is set.
pub(crate) fn update_with_mode(
    settings: &Settings,
    mode: VectorMode,
    hooks: VectorHooks,
    only: Option<Arc<Coverage>>,
) -> anyhow::Result<IndexSummary> {
    update_with(
        settings,
        false,
        mode,
        &TerminalProgress::new(false),
        hooks,
        only,
    )
}

/// The root `sextant index` updates when no path is given: the nearest directory up from
/// `start` holding an index, so a run in a subdirectory updates the repository's index
/// instead of starting a second one there; with none, `start` itself. Unlike the other
/// commands it does not stop at `.git`: a first index goes where it is asked for (a `.git` in
/// a home directory must not make `index` in a project walk the whole home). Says so on
/// stderr when another index lies further up, or a first index starts below a repository's
/// root.
fn index_root(start: &Path) -> PathBuf {
    let mut found = start.ancestors().filter(|dir| has_index(dir));
    let Some(root) = found.next() else {
        if let Some(repository) = start
            .ancestors()
            .find(|dir| dir.join(".git").exists())
            .filter(|repository| *repository != start)
        {
            eprintln!(
                "note: indexing {} only; the repository's root is {} (`sextant index {}` indexes all of it)",
                escaped(&start.display().to_string()),
                escaped(&repository.display().to_string()),
                escaped(&repository.display().to_string()),
            );
        }
        return start.to_path_buf();
    };
    if let Some(above) = found.next() {
        eprintln!(
            "note: updating the index of {}; {} has an index too (`sextant index {}` updates that one)",
            escaped(&root.display().to_string()),
            escaped(&above.display().to_string()),
            escaped(&above.display().to_string()),
        );
    }
    root.to_path_buf()
}

/// The paths of `--changed` as the coverage of an update of the tree at `root`: each
/// argument relative to the current directory (or absolute); `-` reads more from standard
/// input, a line each, relative to the repository root as git prints them (git's quoted
/// names unquoted). `None` when one of them is the root or an ignore file every path answers
/// to (the whole tree is walked).
fn changed_coverage(root: &Path, changed: &[PathBuf]) -> anyhow::Result<Option<Arc<Coverage>>> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let mut relative = Vec::with_capacity(changed.len());
    let mut add = |path: &Path, base: &Path, from: &str| -> anyhow::Result<()> {
        let inside = inside_root(root, &base.join(path)).with_context(|| {
            format!(
                "--changed {}: not a path inside the repository at {} (read {from})",
                path.display(),
                root.display()
            )
        })?;
        relative.push(inside);
        Ok(())
    };
    for path in changed {
        if path.as_os_str() == "-" {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
                .context("reading the changed paths from standard input")?;
            for line in stdin_paths(&bytes) {
                add(
                    &line,
                    root,
                    "from standard input, relative to the repository root",
                )?;
            }
        } else {
            add(path, &cwd, "relative to the current directory")?;
        }
    }
    Ok(Coverage::of(relative.iter().map(String::as_str)).map(Arc::new))
}

/// The paths of standard input's lines: every byte of a line is the path's (spaces too),
/// but a line's final carriage return; empty lines are skipped; a line in double quotes is
/// unquoted as git quotes unusual names (`"dir/a\tb\303\251.py"`).
fn stdin_paths(bytes: &[u8]) -> Vec<PathBuf> {
    bytes
        .split(|byte| *byte == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.is_empty())
        .map(
            |line| match line.strip_prefix(b"\"").and_then(|l| l.strip_suffix(b"\"")) {
                Some(quoted) => unquote_git(quoted).unwrap_or_else(|| line.to_vec()),
                None => line.to_vec(),
            },
        )
        // (A quoted empty name is no name: not the repository root.)
        .filter(|bytes| !bytes.is_empty())
        .map(path_from_bytes)
        .collect()
}

/// A git-quoted name's bytes (C escapes: `\\ \" \a \b \f \n \r \t \v` and three octal
/// digits per byte); `None` when an escape is not one of those.
fn unquote_git(quoted: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(quoted.len());
    let mut bytes = quoted.iter().copied();
    while let Some(byte) = bytes.next() {
        if byte != b'\\' {
            out.push(byte);
            continue;
        }
        let escaped = bytes.next()?;
        out.push(match escaped {
            b'\\' | b'"' => escaped,
            b'a' => 0x07,
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'v' => 0x0b,
            b'0'..=b'3' => {
                let digit = |b: u8| (b'0'..=b'7').contains(&b).then(|| b - b'0');
                let second = digit(bytes.next()?)?;
                let third = digit(bytes.next()?)?;
                ((escaped - b'0') << 6) | (second << 3) | third
            }
            _ => return None,
        });
    }
    Some(out)
}

/// A path from its bytes, as the platform spells paths (lossy where paths are not bytes).
fn path_from_bytes(bytes: Vec<u8>) -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        PathBuf::from(std::ffi::OsString::from_vec(bytes))
    }
    #[cfg(not(unix))]
    {
        PathBuf::from(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// `path` (absolute; present or gone) relative to `root`, with `/` separators: `.` and `..`
/// resolved as written, and, when it does not start with `root` as spelled, with its deepest
/// existing ancestor resolved through symlinks (a root reached through a link). A component
/// that is not valid UTF-8 (which the index skips, naming why) stands for its directory: the
/// path is cut before it. `None` when it lies outside `root`.
fn inside_root(root: &Path, path: &Path) -> Option<String> {
    use std::path::Component;
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    let relative = |root: &Path, path: &Path| -> Option<String> {
        let rest = path.strip_prefix(root).ok()?;
        let parts: Vec<&str> = rest
            .components()
            .map(|c| c.as_os_str().to_str())
            .take_while(Option::is_some)
            .flatten()
            .collect();
        Some(parts.join("/"))
    };
    if let Some(inside) = relative(root, &normal) {
        return Some(inside);
    }
    let root = root.canonicalize().ok()?;
    let mut existing = normal.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        rest.push(existing.file_name()?);
        existing = existing.parent()?;
    }
    let mut resolved = existing.canonicalize().ok()?;
    resolved.extend(rest.iter().rev());
    relative(&root, &resolved)
}

/// Says which `--changed` paths matched nothing on disk or in the index.
/// Says which `--changed` paths matched nothing, and, for one that names a file when read
/// from the repository root instead (as `git diff --name-only` prints paths, run from a
/// subdirectory), how to pass such paths.
fn note_unmatched(summary: &IndexSummary, root: &Path) {
    let below = std::env::current_dir()
        .ok()
        .and_then(|cwd| inside_root(root, &cwd))
        .filter(|below| !below.is_empty() && below != ".");
    for path in &summary.unmatched {
        let from_root = below
            .as_deref()
            .and_then(|below| path.strip_prefix(below)?.strip_prefix('/'))
            .filter(|rest| root.join(rest).exists());
        match from_root {
            Some(rest) => eprintln!(
                "note: --changed {path}: nothing there, but {rest} exists from the repository root; paths are read from the current directory, except with `--changed -`, which reads them from the root as `git diff --name-only` prints them"
            ),
            None => eprintln!(
                "note: --changed {path}: nothing to index there (no such file, or ignored) and nothing indexed under it"
            ),
        }
    }
}

fn update_with(
    settings: &Settings,
    full: bool,
    mode: VectorMode,
    progress: &TerminalProgress,
    hooks: VectorHooks,
    only: Option<Arc<Coverage>>,
) -> anyhow::Result<IndexSummary> {
    let (vectors, no_model) = match mode {
        VectorMode::Off => (None, None),
        VectorMode::Auto | VectorMode::Sync => match settings.vector_model() {
            Ok(model) => (
                Some(VectorOptions {
                    model,
                    design: settings.vectors.units.unwrap_or(UnitDesign::Symbols),
                    threads: settings.vectors.threads.unwrap_or(settings.index.threads),
                    stop: hooks.stop,
                    live: hooks.live,
                }),
                None,
            ),
            Err(error) => (None, Some(format!("{error:#}"))),
        },
    };
    let options = UpdateOptions {
        full,
        vectors,
        only,
    };
    let mut summary = update_index(
        &settings.root,
        &settings.index_dir,
        &settings.index,
        options,
        progress,
    )
    .with_context(|| format!("indexing {}", settings.root.display()))?;
    if let Some(reason) = no_model {
        summary.vectors_missing = Some(reason);
    }
    // The history follows the repository's HEAD (read again only when HEAD moved); a
    // repository without git simply has none. Another index run holding the lock refreshes
    // it itself.
    match settings.index_dir.lock() {
        Ok(lock) => {
            if let Err(error) = History::refresh(&settings.root, &settings.index_dir, &lock) {
                eprintln!("note: no history prior: {error:#}");
            }
        }
        Err(StoreError::Locked(_)) => {}
        Err(error) => eprintln!("note: history not refreshed: {error}"),
    }
    Ok(summary)
}

/// The human-readable summary.
/// The summary a person reads; `limited` when only the `--changed` paths were looked at (the
/// rest of the tree was not checked, so "up to date" would claim too much).
fn render(summary: &IndexSummary, settings: &Settings, limited: bool) -> String {
    let mut out = String::new();
    let files = &summary.files;
    let _ = writeln!(
        out,
        "indexed {} into {}",
        settings.root.display(),
        settings.index_dir.path().display()
    );
    if let Some(reason) = &summary.rebuild_reason {
        let _ = writeln!(out, "  note: {reason}");
    }
    let nothing = if limited {
        "nothing changed under the paths named"
    } else {
        "nothing changed; index is up to date"
    };
    let action = match (summary.committed, summary.restamped_files) {
        (true, _) => format!("generation {}", summary.generation),
        (false, 0) => nothing.to_string(),
        (false, restamped) => format!(
            "{nothing}; {} touched without a change, not read again",
            counted(restamped as u64, "file")
        ),
    };
    let _ = writeln!(
        out,
        "  files: {} added, {} changed, {} removed, {} unchanged ({action})",
        files.added, files.changed, files.removed, files.unchanged
    );
    let _ = writeln!(
        out,
        "  index: {}, {}, {}",
        counted(summary.indexed_files as u64, "file"),
        counted(summary.indexed_chunks as u64, "chunk"),
        counted(summary.indexed_lines, "line")
    );
    if let Some(graph) = &summary.graph {
        let r = &graph.resolution;
        // An update says how little it re-resolved; a fresh link resolved every file.
        let update = if graph.resolved_files < graph.files {
            format!(
                " ({} re-resolved)",
                counted(graph.resolved_files as u64, "file")
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  graph: {}, {}{update}; references {} resolved, {} ambiguous, {} outside the repository",
            counted(graph.symbols as u64, "symbol"),
            counted(graph.edges as u64, "edge"),
            thousands(r.resolved),
            thousands(r.ambiguous),
            thousands(r.unresolved)
        );
    }
    if let Some(vectors) = &summary.vectors {
        let _ = writeln!(
            out,
            "  vectors: {}, {} embedded now{}, the rest cached; {} model {}",
            counted(vectors.units as u64, "unit"),
            thousands(vectors.embedded as u64),
            if vectors.embedded > 0 {
                format!(" ({:.0} units/s)", vectors.units_per_second)
            } else {
                String::new()
            },
            seconds(summary.timings.vectors_ms),
            vectors.model_id
        );
        if vectors.withheld > 0 {
            let _ = writeln!(
                out,
                "  vectors: {} left out: their files hold secrets, which are never sent to an embedding server (text search still finds them)",
                counted(vectors.withheld as u64, "unit")
            );
        }
    } else if let Some(reason) = &summary.vectors_missing {
        let _ = writeln!(
            out,
            "  vectors: none — {reason}; ranking uses text and graph only"
        );
    }
    for repair in &summary.repaired {
        let _ = writeln!(out, "  repaired: {repair}");
    }
    let timings = &summary.timings;
    if summary.extracted_lines > 0 {
        // The rate is the text index's; embedding has its own line above.
        let indexing_ms = timings.total_ms.saturating_sub(timings.vectors_ms).max(1);
        let rate = summary.extracted_lines as f64 / (indexing_ms as f64 / 1000.0);
        let _ = writeln!(
            out,
            "  parsed {} ({:.1} MB) in {} ({} lines/s)",
            counted(summary.extracted_lines, "line"),
            summary.extracted_bytes as f64 / 1e6,
            seconds(indexing_ms),
            thousands(rate as u64)
        );
    } else {
        let _ = writeln!(out, "  took {}", seconds(timings.total_ms));
    }
    if !summary.skipped.is_empty() {
        let _ = writeln!(
            out,
            "  skipped {}:",
            counted(summary.skipped.len() as u64, "path")
        );
        if summary.skipped.len() <= MAX_LISTED_SKIPS {
            for skip in &summary.skipped {
                let _ = writeln!(out, "    {}: {}", escaped(&skip.path), skip.reason);
            }
        } else {
            let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
            for skip in &summary.skipped {
                let reason = skip.reason.to_string();
                let key = reason.split(" (").next().unwrap_or(&reason).to_string();
                *by_reason.entry(key).or_default() += 1;
            }
            for (reason, count) in by_reason {
                let _ = writeln!(out, "    {count} × {reason}");
            }
            let _ = writeln!(out, "    (`sextant index --json` lists every path)");
        }
    }
    for warning in &summary.warnings {
        let _ = writeln!(
            out,
            "  warning: {}: {}",
            escaped(&warning.path),
            warning.warning
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    /// Standard input's lines are paths byte for byte: spaces at either end kept, a final
    /// carriage return and empty lines dropped, git's quoted names unquoted (octal bytes that
    /// are not UTF-8 included), a quote git would not write left as it is.
    #[test]
    fn stdin_lines_are_paths_as_git_prints_them() {
        let input = b"src/a.py\r\n\n sp/trail.py \n\"dir/a\\tb\\303\\251.py\"\n\"raw\\377.py\"\n\"odd\\q\"\nplain\xff.rs\n";
        let paths = stdin_paths(input);
        let bytes: Vec<Vec<u8>> = paths
            .iter()
            .map(|p| {
                use std::os::unix::ffi::OsStrExt;
                p.as_os_str().as_bytes().to_vec()
            })
            .collect();
        assert_eq!(
            bytes,
            [
                b"src/a.py".to_vec(),
                b" sp/trail.py ".to_vec(),
                "dir/a\tbé.py".as_bytes().to_vec(),
                b"raw\xff.py".to_vec(),
                b"\"odd\\q\"".to_vec(),
                b"plain\xff.rs".to_vec(),
            ]
        );
    }

    /// A path is taken relative to the root however it is spelled; a component that is not
    /// UTF-8 stands for its directory; outside the root is `None`.
    #[cfg(unix)]
    #[test]
    fn named_paths_are_made_relative_to_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("root");
        std::fs::create_dir_all(root.join("src")).expect("mkdir");
        let inside = |path: &str| inside_root(&root, &root.join(path));
        assert_eq!(inside("src/./a.py").as_deref(), Some("src/a.py"));
        assert_eq!(inside("src/../lib/b.rs").as_deref(), Some("lib/b.rs"));
        assert_eq!(inside("gone/x.py").as_deref(), Some("gone/x.py"));
        assert_eq!(inside("").as_deref(), Some(""));
        assert_eq!(inside("../elsewhere.rs"), None);
        assert_eq!(inside_root(&root, Path::new("/etc/passwd")), None);
        let odd = root.join(path_from_bytes(b"src/bad\xff/x.py".to_vec()));
        assert_eq!(inside_root(&root, &odd).as_deref(), Some("src"));
    }
}
