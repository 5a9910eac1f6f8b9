//! `sextant check-graph` against real SCIP indexes: scip-python and scip-typescript (npm, through
//! `.ci/scip.sh`, which `.ci/run` exports as `SEXTANT_SCIP_BIN`) index `fixtures/resolution`, and
//! the graph sextant builds of the same tree must agree with them on every edge they can judge.
//! Without `SEXTANT_SCIP_BIN` the oracle tests are skipped locally and fail under CI.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{copy_fixture, fails_with, git, sextant, stdout_of};

fn scip_bin() -> Option<PathBuf> {
    let bin = std::env::var_os("SEXTANT_SCIP_BIN").map(PathBuf::from);
    if bin.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must set SEXTANT_SCIP_BIN (.ci/run does)"
        );
        eprintln!("skipped: SEXTANT_SCIP_BIN not set (run .ci/scip.sh)");
    }
    bin
}

/// The resolution fixture as a git repository, indexed (vectors off).
fn indexed_fixture() -> tempfile::TempDir {
    let repo = copy_fixture("resolution");
    git(repo.path(), &["init", "--quiet"]);
    stdout_of(sextant(repo.path()).args(["index", "--vectors", "off", "--quiet"]));
    repo
}

fn run_indexer(root: &Path, mut command: Command) {
    let output = command.current_dir(root).output().expect("indexer runs");
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn check(root: &Path, oracle: &Path) -> serde_json::Value {
    let text = stdout_of(sextant(root).args([
        "check-graph",
        "--json",
        "--scip",
        oracle.to_str().expect("utf-8 path"),
    ]));
    serde_json::from_str(&text).expect("json")
}

#[test]
fn the_graph_agrees_with_scip_python_on_the_resolution_fixture() {
    let Some(bin) = scip_bin() else { return };
    let repo = indexed_fixture();
    let oracle = repo.path().join("index.scip");
    let mut command = Command::new(bin.join("scip-python"));
    command.args([
        "index",
        "--quiet",
        "--project-name",
        "resolution",
        "--project-version",
        "0",
        "--output",
    ]);
    command.arg(&oracle).arg(".");
    run_indexer(repo.path(), command);
    // Every cross-file reference the graph models is linked (the re-export included).
    assert_agrees(&check(repo.path(), &oracle), "python", 4, 3);
}

/// Asserts that no edge of `language` is wrong, at least `right` are right, and every one of
/// at least `modelled` cross-file references the graph models is linked.
fn assert_agrees(report: &serde_json::Value, language: &str, right: u64, modelled: u64) {
    let report_of = &report["languages"][language];
    let all = &report_of["precision_all"];
    assert!(all["right"].as_u64().unwrap_or(0) >= right, "{report:#}");
    assert_eq!(all["wrong"], 0, "{report:#}");
    let recall = &report_of["recall"];
    assert!(
        recall["modelled"].as_u64().unwrap_or(0) >= modelled,
        "{report:#}"
    );
    assert_eq!(recall["found"], recall["modelled"], "{report:#}");
}

#[test]
fn the_graph_agrees_with_scip_typescript_on_the_resolution_fixture() {
    let Some(bin) = scip_bin() else { return };
    let repo = indexed_fixture();
    let oracle = repo.path().join("index.scip");
    let mut command = Command::new(bin.join("scip-typescript"));
    command.args(["index", "--infer-tsconfig", "--no-progress-bar", "--output"]);
    command.arg(&oracle);
    run_indexer(repo.path(), command);
    assert_agrees(&check(repo.path(), &oracle), "typescript", 2, 1);
}

#[test]
fn a_file_that_is_not_a_scip_index_or_describes_another_tree_is_a_clear_error() {
    let repo = indexed_fixture();
    let garbage = repo.path().join("garbage.scip");
    std::fs::write(&garbage, b"\xff\xff\xff\xff not protobuf").expect("write");
    let output = sextant(repo.path())
        .args(["check-graph", "--scip", "garbage.scip"])
        .output()
        .expect("runs");
    fails_with(&output, "is not a SCIP index");
    let empty = repo.path().join("empty.scip");
    std::fs::write(&empty, b"").expect("write");
    let output = sextant(repo.path())
        .args(["check-graph", "--scip", "empty.scip"])
        .output()
        .expect("runs");
    fails_with(
        &output,
        "was the SCIP index made from this repository's root?",
    );
    let output = sextant(repo.path())
        .args(["check-graph", "--scip", "missing.scip"])
        .output()
        .expect("runs");
    fails_with(&output, "cannot read the SCIP index");
}
