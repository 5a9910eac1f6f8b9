//! A crash at any point of an index run leaves the previous index usable, and the next run
//! repairs everything: proved with aborts at chosen points and with SIGKILL at random moments.

use std::path::Path;
use std::time::Duration;

use crate::support::{copy_fixture, sextant, stdout_of};

fn search_paths(root: &Path, query: &str) -> String {
    stdout_of(sextant(root).args(["search", query, "--json", "-n", "50"]))
}

/// Indexes the fixture, adds a file, and runs an index that aborts at `failpoint`.
fn index_then_crash_at(failpoint: &str) -> tempfile::TempDir {
    let repo = copy_fixture("polyglot");
    let root = repo.path();
    stdout_of(sextant(root).args(["index", "--quiet"]));
    std::fs::write(
        root.join("server/src/rotate.rs"),
        "pub fn rotate_signing_keys() {}\n",
    )
    .expect("write");
    let crashed = sextant(root)
        .args(["index", "--quiet"])
        .env("SEXTANT_FAILPOINT", failpoint)
        .output()
        .expect("runs");
    assert!(
        !crashed.status.success(),
        "the failpoint aborts the process"
    );
    repo
}

#[test]
fn abort_before_commit_keeps_the_previous_generation() {
    let repo = index_then_crash_at("before-commit");
    let root = repo.path();
    // The old generation is intact: old content found, new content not yet.
    assert!(search_paths(root, "Verifier").contains("server/src/auth.rs"));
    assert!(!search_paths(root, "rotate_signing_keys").contains("rotate.rs"));
    let status = stdout_of(sextant(root).args(["status", "--json"]));
    let status: serde_json::Value = serde_json::from_str(&status).expect("json");
    assert_eq!(status["generation"], 1);
    assert_eq!(status["stale"]["counts"]["added"], 1);
    // The next run completes the work.
    let summary = stdout_of(sextant(root).args(["index", "--ci"]));
    assert!(summary.contains("\"generation\": 2"), "{summary}");
    assert!(search_paths(root, "rotate_signing_keys").contains("rotate.rs"));
}

#[test]
fn abort_after_commit_leaves_the_new_generation() {
    let repo = index_then_crash_at("after-commit");
    let root = repo.path();
    assert!(search_paths(root, "rotate_signing_keys").contains("rotate.rs"));
    let summary = stdout_of(sextant(root).args(["index", "--ci"]));
    assert!(
        summary.contains("\"committed\": false"),
        "nothing left to do: {summary}"
    );
    let leftovers: Vec<String> = std::fs::read_dir(root.join(".sextant"))
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("manifest-"))
        .collect();
    assert_eq!(
        leftovers,
        ["manifest-2.bin"],
        "only the current manifest after the next writer"
    );
}

/// A repository big enough that indexing takes a while, so SIGKILL lands mid-run.
fn write_many_files(root: &Path, count: usize, variant: &str) {
    for index in 0..count {
        let dir = root.join(format!("pkg{}", index % 20));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let body: String = (0..40)
            .map(|line| format!("def handler_{index}_{line}_{variant}(request):\n    return route_{line}(request)\n\n"))
            .collect();
        std::fs::write(dir.join(format!("module_{index}.py")), body).expect("write");
    }
}

#[test]
fn sigkill_at_random_moments_never_leaves_an_unusable_index() {
    let repo = tempfile::tempdir().expect("tempdir");
    let root = repo.path();
    write_many_files(root, 400, "a");
    stdout_of(sextant(root).args(["index", "--quiet"]));
    for (round, delay_ms) in [5u64, 40, 90, 150, 250].into_iter().enumerate() {
        write_many_files(root, 400, &format!("round{round}"));
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("sextant"))
            .args(["index", "--quiet"])
            .current_dir(root)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        // Whatever moment the kill hit, the index opens and answers.
        let hits = search_paths(root, "route_1 request");
        assert!(hits.contains("module_"), "round {round}: {hits}");
    }
    // And the next run brings it fully up to date, equal to a fresh full build.
    stdout_of(sextant(root).args(["index", "--quiet"]));
    let status = stdout_of(sextant(root).args(["status", "--json"]));
    let status: serde_json::Value = serde_json::from_str(&status).expect("json");
    assert_eq!(status["stale"]["counts"]["changed"], 0);
    assert_eq!(status["files"], 400);
    assert!(search_paths(root, "handler_7_3_round4").contains("module_7.py"));
}

/// Issue 16: a first index run killed before its commit was reported as "damaged: lexical
/// commit names no generation (None)"; it is no index yet, and the next run builds one.
#[test]
fn a_first_run_killed_before_its_commit_leaves_no_index_yet() {
    let repo = copy_fixture("polyglot");
    let root = repo.path();
    let crashed = sextant(root)
        .args(["index", "--quiet"])
        .env("SEXTANT_FAILPOINT", "before-commit")
        .output()
        .expect("runs");
    assert!(!crashed.status.success());
    let search = sextant(root)
        .args(["search", "Verifier"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&search.stderr);
    assert_eq!(search.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no index at"), "{stderr}");
    assert!(!stderr.contains("damaged"), "{stderr}");
    assert!(stderr.contains("run `sextant index`"), "{stderr}");
    let summary = stdout_of(sextant(root).args(["index", "--ci"]));
    assert!(!summary.contains("rebuild_reason\": \""), "{summary}");
    assert!(search_paths(root, "Verifier").contains("server/src/auth.rs"));
}
