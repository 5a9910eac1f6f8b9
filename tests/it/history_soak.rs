//! History-replay soak test (issue 16): real releases of a real package, committed one after
//! another into a git repository, indexed incrementally after each, and at every state the
//! answers a user sees — `search`, `why-relevant`, `graph` — equal those of a full index of the
//! same tree. Round 1's incremental index passed its property tests on small random trees and
//! still panicked on real history, because nothing compared rankings after large real diffs.
//!
//! The releases are wheels of `rich` from PyPI, downloaded by `.ci/history-wheels.sh` (which
//! `.ci/run` calls) into the directory named by `SEXTANT_HISTORY_WHEELS`; without it the test
//! is skipped locally and fails under CI. `benches/history-replay.sh` is the long variant, on
//! hundreds of states of a real repository's own history.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{git, sextant};

/// Searches a user of rich might run, in every release.
const SEARCHES: [&str; 4] = [
    "render table border style",
    "progress bar refresh",
    "syntax highlight theme lexer",
    "console width terminal size",
];

/// Tasks asked of why-relevant.
const TASKS: [&str; 3] = [
    "fix table column width calculation when cells contain wide characters",
    "progress bar does not refresh when transient",
    "add a theme option to syntax highlighting",
];

/// Graph questions, asked whether or not their subject exists in a release.
const GRAPH: [&[&str]; 4] = [
    &["deps", "rich/console.py"],
    &["rdeps", "rich/text.py"],
    &["callers", "cell_len"],
    &["callees", "rich/table.py::Table::_calculate_column_widths"],
];

fn wheels() -> Option<(PathBuf, Vec<String>)> {
    let Some(dir) = std::env::var_os("SEXTANT_HISTORY_WHEELS") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must set SEXTANT_HISTORY_WHEELS (.ci/run does, with .ci/history-wheels.sh)"
        );
        eprintln!("skipped: SEXTANT_HISTORY_WHEELS not set (bash .ci/history-wheels.sh makes it)");
        return None;
    };
    let dir = PathBuf::from(dir);
    let versions = std::fs::read_to_string(dir.join("versions.txt")).expect("versions.txt");
    Some((dir, versions.lines().map(str::to_string).collect()))
}

/// Replaces the work tree (all but `.git` and `.sextant`) with the wheel's files.
fn check_out_release(root: &Path, wheel: &Path) {
    for entry in std::fs::read_dir(root).expect("read repo").flatten() {
        let name = entry.file_name();
        if name == ".git" || name == ".sextant" {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path).expect("clear");
        } else {
            std::fs::remove_file(&path).expect("clear");
        }
    }
    let file = std::fs::File::open(wheel).expect("wheel");
    let mut archive = zip::ZipArchive::new(file).expect("zip");
    for i in 0..archive.len() {
        let mut member = archive.by_index(i).expect("member");
        let Some(relative) = member.enclosed_name() else {
            continue;
        };
        if member.is_dir() {
            continue;
        }
        let target = root.join(relative);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        let mut out = std::fs::File::create(&target).expect("create");
        std::io::copy(&mut member, &mut out).expect("extract");
    }
}

/// Runs sextant and returns (exit code, stdout as JSON or as text).
fn answer(root: &Path, index_dir: &Path, args: &[&str]) -> (Option<i32>, Value) {
    let output = sextant(root)
        .arg("--index-dir")
        .arg(index_dir)
        .args(args)
        .output()
        .expect("runs");
    assert_ne!(
        output.status.code(),
        Some(101),
        "{args:?} panicked: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (output.status.code(), value)
}

/// One ranked entry: what it names, and its score.
type Ranked = (String, f64);

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-4 * a.abs().max(b.abs()).max(1.0)
}

/// Same entries with the same scores up to float noise, in the same order except where
/// neighbouring scores tie within that noise.
fn assert_same_ranking(context: &str, incremental: &[Ranked], full: &[Ranked]) {
    let same = incremental.len() == full.len()
        && incremental.iter().zip(full).all(|(a, b)| close(a.1, b.1))
        && incremental
            .iter()
            .all(|a| full.iter().any(|b| a.0 == b.0 && close(a.1, b.1)));
    assert!(
        same,
        "{context}: incremental and full indexes answer differently\nincremental: {incremental:?}\nfull: {full:?}"
    );
}

fn search_ranking(value: &Value) -> Vec<Ranked> {
    value
        .as_array()
        .expect("search --json is a list")
        .iter()
        .map(|hit| {
            (
                format!(
                    "{}:{}-{}",
                    hit["path"], hit["span"]["start"], hit["span"]["end"]
                ),
                hit["score"].as_f64().expect("score"),
            )
        })
        .collect()
}

fn why_relevant_ranking(value: &Value) -> Vec<Ranked> {
    value["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|file| {
            (
                format!("{} {}", file["path"], file["inclusion"]),
                file["score"].as_f64().expect("score"),
            )
        })
        .collect()
}

#[test]
fn incremental_answers_equal_a_full_index_at_every_release() {
    let Some((wheels, versions)) = wheels() else {
        return;
    };
    let repo = tempfile::tempdir().expect("repo");
    let root = repo.path();
    git(root, &["init", "-q", "-b", "main"]);
    let scratch = tempfile::tempdir().expect("scratch");
    let incremental = root.join(".sextant");
    let mut compared = 0;
    for (state, version) in versions.iter().enumerate() {
        check_out_release(
            root,
            &wheels.join(format!("rich-{version}-py3-none-any.whl")),
        );
        git(root, &["add", "-A"]);
        git(root, &["commit", "-q", "-m", &format!("rich {version}")]);
        let (code, _) = answer(
            root,
            &incremental,
            &["index", "--vectors", "off", "--quiet"],
        );
        assert_eq!(code, Some(0), "incremental index of rich {version}");
        let full = scratch.path().join(format!("full-{state}"));
        let (code, _) = answer(
            root,
            &full,
            &["index", "--full", "--vectors", "off", "--quiet"],
        );
        assert_eq!(code, Some(0), "full index of rich {version}");

        // Both indexes answer, with exit 0.
        let both = |args: &[&str], what: String| {
            let (a, b) = (answer(root, &incremental, args), answer(root, &full, args));
            assert_eq!((a.0, b.0), (Some(0), Some(0)), "{what}");
            (a.1, b.1)
        };
        for query in SEARCHES {
            let context = format!("search {query:?} at rich {version}");
            let args = ["search", query, "--json", "--limit", "30"];
            let (a, b) = both(&args, context.clone());
            assert_same_ranking(&context, &search_ranking(&a), &search_ranking(&b));
            compared += 1;
        }
        for task in TASKS {
            let context = format!("why-relevant {task:?} at rich {version}");
            let (a, b) = both(&["why-relevant", task, "--json"], context.clone());
            let ranking = why_relevant_ranking(&a);
            assert!(ranking.len() >= 5, "{context}: {ranking:?}");
            assert_same_ranking(&context, &ranking, &why_relevant_ranking(&b));
            compared += 1;
        }
        for question in GRAPH {
            let args: Vec<&str> = ["graph"]
                .iter()
                .chain(question)
                .chain(&["--json"])
                .copied()
                .collect();
            let (a, b) = (
                answer(root, &incremental, &args),
                answer(root, &full, &args),
            );
            assert_eq!(a, b, "graph {question:?} at rich {version}");
            compared += 1;
        }
    }
    eprintln!(
        "{} states of rich replayed, {compared} answers compared",
        versions.len()
    );
}
