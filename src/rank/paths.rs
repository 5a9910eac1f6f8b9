//! The path signal: files the task names by path or file name, and files in the directory its
//! leading scope (`tsdb: …`) names, or that past commits of that scope changed.

use std::collections::BTreeMap;

use sextant_index::store::Manifest;

use super::query::{self, TaskQuery};
use super::{FileSignals, history, normalise};

/// Share of the path signal for files in a directory named by the task's leading scope
/// (`tsdb: fix …` → files under a `tsdb/` directory). Of 0.1, 0.25, 0.5, 0.75 and 1.0, mean
/// Recall@10 was flat from 0.5 up (0.789–0.791 against 0.784 without; benches/RESULTS.md,
/// round 4); 0.75 had the best R@1 and MRR, and with vectors raised mean R@1 0.398 → 0.435.
const SCOPE_SHARE: f64 = 0.75;

/// How the task's scope is recorded among a file's `paths` (`sync:`), apart from the paths the
/// task names.
fn scope_entry(scope: &str) -> String {
    format!("{scope}:")
}

/// Whether an entry of a file's `paths` is the task's scope rather than a path it names.
pub fn is_scope_entry(entry: &str) -> bool {
    entry.ends_with(':')
}

/// Whether directory `dir` is the component `scope` names: the same name, or that name with
/// a `_`/`-` suffix (`time:` → `time/` and `time_alt/`; measured in RESULTS round 6).
fn names_scope(dir: &str, scope: &str) -> bool {
    dir.eq_ignore_ascii_case(scope)
        || (dir.len() > scope.len()
            && dir.is_char_boundary(scope.len())
            && dir[..scope.len()].eq_ignore_ascii_case(scope)
            && matches!(dir.as_bytes()[scope.len()], b'_' | b'-'))
}

/// Files the task names (1) and files in its scope (up to the scope's share).
pub(super) fn path_signal(
    manifest: &Manifest,
    history: Option<&history::History>,
    query: &TaskQuery,
    files: &mut BTreeMap<String, FileSignals>,
) {
    for scope in &query.scopes {
        let mut named = false;
        for path in manifest.files.keys() {
            let mut directories = path.split('/').rev().skip(1);
            if directories.any(|d| names_scope(d, scope)) {
                named = true;
                let entry = files.entry(path.clone()).or_default();
                entry.path = entry.path.max(SCOPE_SHARE);
                entry.paths.push(scope_entry(scope));
            }
        }
        if let Some(history) = history
            && !named
            && !query::is_change_kind(scope)
        {
            scope_from_history(manifest, history, scope, files);
        }
    }
    for wanted in &query.paths {
        let wanted = wanted.trim_start_matches("./").trim_end_matches('/');
        let directory = format!("{wanted}/");
        let suffix = format!("/{wanted}");
        for path in manifest.files.keys() {
            if path == wanted || path.ends_with(&suffix) || path.starts_with(&directory) {
                let entry = files.entry(path.clone()).or_default();
                entry.path = 1.0;
                entry.paths.push(wanted.to_string());
            }
        }
    }
}

/// A scope that names no directory (`taskdump:`, `rt:`) is read from the history: the files
/// that past commits of the same scope changed, by how often, up to the scope's share.
/// Measured in RESULTS round 7: mean R@10 up 0.0 / 0.2 / 0.4 points on the three windows
/// (tokio's 100-query window +1.0), never down.
fn scope_from_history(
    manifest: &Manifest,
    history: &history::History,
    scope: &str,
    files: &mut BTreeMap<String, FileSignals>,
) {
    let mut counts: BTreeMap<&str, f64> = BTreeMap::new();
    for commit in history.past_in_scope(scope) {
        for file in commit
            .files
            .iter()
            .filter(|f| manifest.files.contains_key(*f))
        {
            *counts.entry(file.as_str()).or_default() += 1.0;
        }
    }
    let best = normalise(counts.values().copied());
    for (path, count) in counts {
        let entry = files.entry(path.to_string()).or_default();
        entry.path = entry.path.max(SCOPE_SHARE * count / best);
        entry.paths.push(scope_entry(scope));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_names_its_directory_and_its_variants() {
        assert!(names_scope("time", "time"));
        assert!(names_scope("time_alt", "time"));
        assert!(names_scope("Sync-Util", "sync"));
        assert!(!names_scope("timer", "time"));
        assert!(!names_scope("runtime", "time"));
        assert!(!names_scope("é", "e"));
    }
}
