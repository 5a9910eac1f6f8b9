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
use crate::settings::{Overrides, Settings};

/// Skipped paths listed one by one up to this many; beyond, they are counted by reason.
const MAX_LISTED_SKIPS: usize = 20;

/// Runs `sextant index`.
pub fn run(args: &IndexArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let overrides = Overrides {
        max_file_size: args.max_file_size,
    };
    let settings = Settings::resolve(
        Some(args.path.as_deref().unwrap_or(".".as_ref())),
        global,
        &overrides,
    )?;
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
    let summary = update_with(
        &settings,
        args.full,
        mode,
        &progress,
        VectorHooks::default(),
        only,
    )?;
    if json {
        print_json(&summary)?;
    } else if !settings.quiet {
        print(&render(&summary, &settings))?;
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
                "{changed} paths changed: {}\n",
                if summary.committed {
                    format!(
                        "generation {} ({} files indexed)",
                        summary.generation, summary.indexed_files
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

/// The paths of `--changed` (relative to the current directory, or absolute; `-` reads
/// more, a line each, from standard input) as the coverage of an update of the tree at
/// `root`; `None` when one of them is the root or an ignore file every path answers to
/// (the whole tree is walked).
fn changed_coverage(root: &Path, changed: &[PathBuf]) -> anyhow::Result<Option<Arc<Coverage>>> {
    let mut paths: Vec<PathBuf> = Vec::new();
    for path in changed {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .context("reading the changed paths from standard input")?;
            paths.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|line| !line.is_empty())
                    .map(PathBuf::from),
            );
        } else {
            paths.push(path.clone());
        }
    }
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let mut relative = Vec::with_capacity(paths.len());
    for path in &paths {
        let inside = inside_root(root, &cwd.join(path)).with_context(|| {
            format!(
                "--changed {}: not a path inside the repository at {}",
                path.display(),
                root.display()
            )
        })?;
        relative.push(inside);
    }
    Ok(Coverage::of(relative.iter().map(String::as_str)).map(Arc::new))
}

/// `path` (absolute; present or gone) relative to `root`, with `/` separators: `.` and `..`
/// resolved as written, and, when it does not start with `root` as spelled, with its deepest
/// existing ancestor resolved through symlinks (a root reached through a link). `None` when
/// it lies outside `root` or is not valid UTF-8.
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
        let parts: Option<Vec<&str>> = rest.components().map(|c| c.as_os_str().to_str()).collect();
        Some(parts?.join("/"))
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
fn render(summary: &IndexSummary, settings: &Settings) -> String {
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
    let action = match (summary.committed, summary.restamped_files) {
        (true, _) => format!("generation {}", summary.generation),
        (false, 0) => "nothing changed; index is up to date".to_string(),
        (false, restamped) => format!(
            "nothing changed; index is up to date; {} touched without a change, \
             not read again",
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
            "  vectors: {} units, {} embedded now ({:.0} units/s), the rest cached; {} model {}",
            thousands(vectors.units as u64),
            thousands(vectors.embedded as u64),
            vectors.units_per_second,
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
            "  parsed {} lines ({:.1} MB) in {} ({} lines/s)",
            thousands(summary.extracted_lines),
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
