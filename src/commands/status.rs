//! `sextant status`: what is indexed, and how far the tree has moved since.

use std::collections::BTreeMap;
use std::fmt::Write;

use anyhow::Context;
use serde::Serialize;
use sextant_index::update::{FileCounts, NoProgress, scan};

use crate::agent::record::{RunStatus, newest_run_status};
use crate::cli::{GlobalArgs, StatusArgs};
use crate::output::{ago, counted, print, print_json};
use crate::settings::{Overrides, Settings};

/// Changed paths listed in the human output; JSON has them all.
const MAX_LISTED_CHANGES: usize = 10;

/// The status, as printed with `--json`.
#[derive(Debug, Serialize)]
pub struct Status {
    /// Repository root.
    pub root: String,
    /// Index directory.
    pub index_dir: String,
    /// Current generation.
    pub generation: u64,
    /// When it was committed (seconds since the Unix epoch).
    pub committed_at_unix: u64,
    /// Indexed files.
    pub files: usize,
    /// Indexed chunks.
    pub chunks: usize,
    /// Indexed lines.
    pub lines: u64,
    /// Files and lines per language.
    pub languages: BTreeMap<String, LanguageCount>,
    /// How the tree differs from the index; absent with `--no-scan`.
    pub stale: Option<Staleness>,
    /// The newest plan-first run, if one was started here.
    pub run: Option<RunStatus>,
}

/// Per-language totals.
#[derive(Debug, Default, Serialize)]
pub struct LanguageCount {
    /// Files.
    pub files: usize,
    /// Lines.
    pub lines: u64,
}

/// Differences between the tree and the index.
#[derive(Debug, Serialize)]
pub struct Staleness {
    /// Counts by kind.
    pub counts: FileCounts,
    /// Added or changed paths.
    pub changed_paths: Vec<String>,
    /// Of those, the added ones (the rest changed).
    pub added_paths: Vec<String>,
    /// Removed paths.
    pub removed_paths: Vec<String>,
}

/// Runs `sextant status`.
pub fn run(args: &StatusArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(args.path.as_deref(), global, &Overrides::default())?;
    let snapshot = settings.index_dir.open().context("opening the index")?;
    let manifest = &snapshot.manifest;
    let mut languages: BTreeMap<String, LanguageCount> = BTreeMap::new();
    for record in manifest.files.values() {
        let entry = languages
            .entry(record.language.name().to_string())
            .or_default();
        entry.files += 1;
        entry.lines += u64::from(record.line_count);
    }
    let stale = if args.no_scan {
        None
    } else {
        let found = scan(
            &settings.root,
            &settings.index_dir,
            &settings.index,
            Some(manifest),
            None,
            &NoProgress,
        )
        .context("scanning the tree")?;
        Some(Staleness {
            counts: found.counts(),
            changed_paths: found.to_index.iter().map(|(f, _)| f.path.clone()).collect(),
            added_paths: found
                .to_index
                .iter()
                .filter(|(_, new)| *new)
                .map(|(f, _)| f.path.clone())
                .collect(),
            removed_paths: found.removed.clone(),
        })
    };
    let status = Status {
        root: settings.root.display().to_string(),
        index_dir: settings.index_dir.path().display().to_string(),
        generation: manifest.generation,
        committed_at_unix: manifest.committed_at_unix,
        files: manifest.files.len(),
        chunks: manifest.chunk_count(),
        lines: manifest.line_count(),
        languages,
        stale,
        run: newest_run_status(&settings)?,
    };
    if args.json {
        return print_json(&status);
    }
    print(&render(&status))
}

fn render(status: &Status) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "index: {} (generation {}, committed {})",
        status.index_dir,
        status.generation,
        ago(status.committed_at_unix)
    );
    let _ = writeln!(
        out,
        "  {}, {}, {}",
        counted(status.files as u64, "file"),
        counted(status.chunks as u64, "chunk"),
        counted(status.lines, "line")
    );
    let mut languages: Vec<(&String, &LanguageCount)> = status.languages.iter().collect();
    languages.sort_by(|a, b| b.1.lines.cmp(&a.1.lines).then(a.0.cmp(b.0)));
    for (language, count) in languages {
        let _ = writeln!(
            out,
            "  {language:>10}: {}, {}",
            counted(count.files as u64, "file"),
            counted(count.lines, "line")
        );
    }
    match &status.stale {
        None => {}
        Some(stale) if !stale.counts.any_change() => {
            let _ = writeln!(out, "up to date with the working tree");
        }
        Some(stale) => {
            let counts = &stale.counts;
            let _ = writeln!(
                out,
                "stale: {} added, {} changed, {} removed since indexing; run `sextant index` to update",
                counts.added, counts.changed, counts.removed
            );
            let listed = stale
                .changed_paths
                .iter()
                .map(|p| {
                    // Both lists come in path order.
                    let added = stale.added_paths.binary_search(p).is_ok();
                    (if added { "added" } else { "modified" }, p)
                })
                .chain(stale.removed_paths.iter().map(|p| ("removed", p)));
            for (what, path) in listed.take(MAX_LISTED_CHANGES) {
                let _ = writeln!(out, "  {what}: {path}");
            }
        }
    }
    if let Some(run) = &status.run {
        let steps = match (run.steps_done, run.steps_total) {
            (Some(done), Some(total)) => format!(", {done}/{total} steps done"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "run {}: {}{steps} (updated {})\n  task: {}",
            run.id,
            run.state,
            ago(run.updated_at_unix),
            run.task
        );
        if let Some(reason) = &run.failure {
            let _ = writeln!(out, "  failed: {reason}");
        }
        let _ = writeln!(out, "  next: {}", run.next);
    }
    out
}
