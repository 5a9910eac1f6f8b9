//! `sextant index`, `search` and `status` on the polyglot fixture and on bad input.

use insta::{assert_snapshot, with_settings};

use crate::support::{copy_fixture, outputs_of, sextant, stable_filters, stdout_of};

#[test]
fn index_search_and_status_on_the_polyglot_fixture() {
    let repo = copy_fixture("polyglot");
    let filters = stable_filters(repo.path());
    let filters: Vec<(&str, &str)> = filters
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let indexed = stdout_of(sextant(repo.path()).args(["index", "."]));
    let searched =
        stdout_of(sextant(repo.path()).args(["search", "verify token signature", "-n", "3"]));
    let status = stdout_of(sextant(repo.path()).args(["status"]));
    with_settings!({ filters => filters }, {
        assert_snapshot!("index_polyglot", indexed);
        assert_snapshot!("search_polyglot", searched);
        assert_snapshot!("status_polyglot", status);
    });
}

/// `status` says what happened to each path since indexing: an added file is "added", not
/// "modified" (it said "modified" for both).
#[test]
fn status_lists_added_changed_and_removed_files_as_such() {
    let repo = copy_fixture("polyglot");
    let root = repo.path();
    stdout_of(sextant(root).args(["index", "--quiet"]));
    std::fs::write(root.join("tools/brand_new.py"), "def fresh():\n    pass\n").expect("write");
    let auth = root.join("server/src/auth.rs");
    let text = std::fs::read_to_string(&auth).expect("read") + "\nfn later() {}\n";
    std::fs::write(&auth, text).expect("write");
    std::fs::remove_file(root.join("web/src/api.js")).expect("remove");
    let status = stdout_of(sextant(root).args(["status"]));
    for line in [
        "stale: 1 added, 1 changed, 1 removed",
        "  added: tools/brand_new.py",
        "  modified: server/src/auth.rs",
        "  removed: web/src/api.js",
    ] {
        assert!(status.contains(line), "{line:?} in {status}");
    }
    let status = stdout_of(sextant(root).args(["status", "--json"]));
    let status: serde_json::Value = serde_json::from_str(&status).expect("json");
    assert_eq!(
        status["stale"]["added_paths"],
        serde_json::json!(["tools/brand_new.py"]),
        "{status}"
    );
}

#[test]
fn identifiers_match_in_any_spelling() {
    let repo = copy_fixture("polyglot");
    stdout_of(sextant(repo.path()).args(["index", "--quiet"]));
    for query in ["bucketFor", "bucket_for", "BUCKET FOR"] {
        let hits = stdout_of(sextant(repo.path()).args(["search", query, "--json", "-n", "1"]));
        let hits: serde_json::Value = serde_json::from_str(&hits).expect("json");
        assert_eq!(hits[0]["path"], "gateway/ratelimit.go", "{query}");
    }
}

#[test]
fn incremental_run_reports_what_changed() {
    let repo = copy_fixture("polyglot");
    stdout_of(sextant(repo.path()).args(["index", "--quiet"]));
    std::fs::write(
        repo.path().join("tools/new_tool.py"),
        "def rotate_keys():\n    pass\n",
    )
    .expect("write");
    std::fs::remove_file(repo.path().join("web/src/api.js")).expect("remove");
    let auth = repo.path().join("server/src/auth.rs");
    let text = std::fs::read_to_string(&auth).expect("read") + "\nfn revoke_token() {}\n";
    std::fs::write(&auth, text).expect("write");
    let summary = stdout_of(sextant(repo.path()).args(["index", "--ci"]));
    let summary: serde_json::Value = serde_json::from_str(&summary).expect("json");
    assert_eq!(summary["files"]["added"], 1);
    assert_eq!(summary["files"]["changed"], 1);
    assert_eq!(summary["files"]["removed"], 1);
    assert_eq!(summary["committed"], true);
    let hits = stdout_of(sextant(repo.path()).args(["search", "revoke_token", "--json"]));
    assert!(hits.contains("server/src/auth.rs"));
    let gone = stdout_of(sextant(repo.path()).args(["search", "fetchJson", "--json"]));
    assert!(!gone.contains("web/src/api.js"), "{gone}");
    let again = stdout_of(sextant(repo.path()).args(["index"]));
    assert!(
        again.contains("nothing changed; index is up to date"),
        "{again}"
    );
}

/// Run in a subdirectory without a path, `index` updates the nearest index up from it (it
/// used to start a second index in the subdirectory, which `search` from the root never saw);
/// with no index anywhere up, it indexes the current directory and says where the repository's
/// root is, rather than walking whatever a `.git` above marks (a home directory kept in git).
#[test]
fn index_in_a_subdirectory_updates_the_repositorys_index() {
    let repo = copy_fixture("polyglot");
    let root = repo.path();
    crate::support::git(root, &["init", "--quiet"]);
    let sub = root.join("server/src");
    // No index yet: the subdirectory alone, with a note.
    let (stdout, stderr) = outputs_of(sextant(&sub).args(["index", "--ci"]));
    assert!(
        stderr.contains("indexing") && stderr.contains("the repository's root is"),
        "{stderr}"
    );
    let summary: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert!(summary["indexed_files"].as_u64() < Some(5), "{summary}");
    assert!(!root.join(".sextant").exists());
    std::fs::remove_dir_all(sub.join(".sextant")).expect("remove");
    // The repository indexed at its root: a run in the subdirectory updates that index.
    stdout_of(sextant(root).args(["index", "--quiet"]));
    let auth = root.join("server/src/auth.rs");
    let text = std::fs::read_to_string(&auth).expect("read") + "\nfn subdir_marker() {}\n";
    std::fs::write(&auth, text).expect("write");
    let (stdout, stderr) = outputs_of(sextant(&sub).args(["index", "--ci"]));
    assert!(stderr.is_empty(), "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(summary["files"]["changed"], 1, "{summary}");
    assert_eq!(summary["files"]["added"], 0, "{summary}");
    assert!(!sub.join(".sextant").exists(), "a second index in {sub:?}");
    let hits = stdout_of(sextant(root).args(["search", "subdir_marker", "--json"]));
    assert!(hits.contains("server/src/auth.rs"), "{hits}");
    // A stray index in the subdirectory (left by an earlier sextant) is the nearest: it is
    // updated, and the run says the repository's index lies above.
    stdout_of(sextant(&root.join("server")).args(["index", ".", "--quiet"]));
    let (_, stderr) = outputs_of(sextant(&sub).args(["index", "--ci"]));
    assert!(stderr.contains("has an index too"), "{stderr}");
}

/// Paths as `git diff --name-only` prints them (from the repository root), passed as
/// arguments in a subdirectory, name nothing there: the run says where they do exist and how
/// to pass them, and does not claim the index is up to date (it looked at nothing else).
#[test]
fn root_relative_paths_given_in_a_subdirectory_get_a_hint_not_up_to_date() {
    let repo = copy_fixture("polyglot");
    let root = repo.path();
    stdout_of(sextant(root).args(["index", "--quiet"]));
    let auth = root.join("server/src/auth.rs");
    let text = std::fs::read_to_string(&auth).expect("read") + "\nfn hinted() {}\n";
    std::fs::write(&auth, text).expect("write");
    let (stdout, stderr) = outputs_of(sextant(&root.join("server")).args([
        "index",
        "--changed",
        "server/src/auth.rs",
    ]));
    assert!(
        stderr.contains("server/src/auth.rs exists from the repository root")
            && stderr.contains("--changed -"),
        "{stderr}"
    );
    assert!(!stdout.contains("up to date"), "{stdout}");
    assert!(
        stdout.contains("nothing changed under the paths named"),
        "{stdout}"
    );
    // Passed as the hint says, the change is indexed.
    let summary = stdout_of(
        sextant(&root.join("server"))
            .args(["index", "--ci", "--changed", "-"])
            .write_stdin("server/src/auth.rs\n"),
    );
    let summary: serde_json::Value = serde_json::from_str(&summary).expect("json");
    assert_eq!(summary["files"]["changed"], 1, "{summary}");
}

/// `--changed` walks the paths named (here from `git diff --name-only` on standard input, as a
/// hook would give them, and from a subdirectory as arguments) and only those: what they hold
/// is indexed as a whole run would, a change not named waits for a run without it, and a path
/// outside the repository is refused before anything is written.
#[test]
fn index_changed_walks_the_paths_named_and_only_those() {
    let repo = copy_fixture("polyglot");
    let root = repo.path();
    crate::support::git(root, &["init", "--quiet"]);
    crate::support::git(root, &["add", "."]);
    crate::support::git(root, &["commit", "--quiet", "-m", "polyglot"]);
    stdout_of(sextant(root).args(["index", "--quiet"]));
    std::fs::write(
        root.join("tools/new_tool.py"),
        "def rotate_keys():\n    pass\n",
    )
    .expect("write");
    crate::support::git(root, &["add", "tools/new_tool.py"]);
    std::fs::remove_file(root.join("web/src/api.js")).expect("remove");
    let auth = root.join("server/src/auth.rs");
    let text = std::fs::read_to_string(&auth).expect("read") + "\nfn revoke_token() {}\n";
    std::fs::write(&auth, text).expect("write");
    // Changed too, but named nowhere.
    std::fs::write(root.join("README.md"), "# unnamed_change_marker\n").expect("write");
    let named = crate::support::git(
        root,
        &[
            "diff",
            "--name-only",
            "HEAD",
            "--",
            "tools",
            "web",
            "server",
        ],
    );
    assert_eq!(named.lines().count(), 3, "{named}");
    let summary = stdout_of(
        sextant(root)
            .args(["index", "--ci", "--changed", "-"])
            .write_stdin(named),
    );
    let summary: serde_json::Value = serde_json::from_str(&summary).expect("json");
    assert_eq!(summary["files"]["added"], 1, "{summary}");
    assert_eq!(summary["files"]["changed"], 1, "{summary}");
    assert_eq!(summary["files"]["removed"], 1, "{summary}");
    let hits = stdout_of(sextant(root).args(["search", "revoke_token rotate_keys", "--json"]));
    assert!(
        hits.contains("server/src/auth.rs") && hits.contains("tools/new_tool.py"),
        "{hits}"
    );
    let unnamed = stdout_of(sextant(root).args(["search", "unnamed_change_marker", "--json"]));
    assert!(!unnamed.contains("README.md"), "{unnamed}");
    // Relative to the current directory, like any path argument; a directory is walked whole.
    std::fs::write(root.join("server/src/extra.rs"), "fn extra_marker() {}\n").expect("write");
    let summary =
        stdout_of(sextant(&root.join("server")).args(["index", "..", "--ci", "--changed", "src"]));
    let summary: serde_json::Value = serde_json::from_str(&summary).expect("json");
    assert_eq!(summary["files"]["added"], 1, "{summary}");
    assert_eq!(summary["files"]["changed"], 0, "{summary}");
    // Standard input is relative to the repository root, as git prints it, wherever the
    // command runs; a name's spaces are part of it.
    std::fs::write(
        root.join("server/src/extra two.rs "),
        "fn spaced_marker() {}\n",
    )
    .expect("write");
    let summary = stdout_of(
        sextant(&root.join("server"))
            .args(["index", "..", "--ci", "--changed", "-"])
            .write_stdin("server/src/extra two.rs \n"),
    );
    let summary: serde_json::Value = serde_json::from_str(&summary).expect("json");
    assert_eq!(summary["files"]["added"], 1, "{summary}");
    // A file replaced by a directory of its name: naming what is in the directory is enough
    // for the file to leave the index. A name with nothing under it is said to match nothing.
    std::fs::remove_file(root.join("tools/new_tool.py")).expect("remove");
    std::fs::create_dir(root.join("tools/new_tool.py")).expect("mkdir");
    std::fs::write(
        root.join("tools/new_tool.py/inner.py"),
        "def inner_marker():\n    pass\n",
    )
    .expect("write");
    let (stdout, stderr) = outputs_of(sextant(root).args([
        "index",
        "--ci",
        // Several paths after one `--changed` (as `xargs` passes them), and the flag
        // repeated.
        "--changed",
        "tools/new_tool.py/inner.py",
        "tols/typo.py",
        "--changed",
        "web",
    ]));
    let summary: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(summary["files"]["added"], 1, "{summary}");
    assert_eq!(summary["files"]["removed"], 1, "{summary}");
    assert_eq!(
        summary["unmatched"],
        serde_json::json!(["tols/typo.py"]),
        "{summary}"
    );
    assert!(
        stderr.contains("--changed tols/typo.py: nothing to index there"),
        "{stderr}"
    );
    let status = stdout_of(sextant(root).args(["status", "--json"]));
    let status: serde_json::Value = serde_json::from_str(&status).expect("json");
    assert_eq!(status["stale"]["counts"]["removed"], 0, "{status}");
    assert_eq!(status["stale"]["counts"]["added"], 0, "{status}");
    // Watching goes with a whole first walk, not with named paths.
    let both = sextant(root)
        .args(["index", "--changed", "README.md", "--watch"])
        .output()
        .expect("runs");
    assert_eq!(both.status.code(), Some(2));
    // Outside the repository: refused, nothing written.
    let generation = summary["generation"].clone();
    let outside = sextant(root)
        .args(["index", "--changed", "../elsewhere.rs"])
        .output()
        .expect("runs");
    assert!(!outside.status.success());
    let message = String::from_utf8_lossy(&outside.stderr);
    assert!(
        message.contains("not a path inside the repository"),
        "{message}"
    );
    // The next run without it sees what was not named.
    let summary = stdout_of(sextant(root).args(["index", "--ci"]));
    let summary: serde_json::Value = serde_json::from_str(&summary).expect("json");
    assert_eq!(summary["files"]["changed"], 1, "{summary}");
    assert_ne!(summary["generation"], generation);
    let found = stdout_of(sextant(root).args(["search", "unnamed_change_marker", "--json"]));
    assert!(found.contains("README.md"), "{found}");
}

#[test]
fn files_touched_without_a_change_are_read_once() {
    let repo = copy_fixture("polyglot");
    // Stamps are trusted once they are older than the settle time.
    let settle = sextant_index::walk::SETTLE + std::time::Duration::from_millis(200);
    std::thread::sleep(settle);
    stdout_of(sextant(repo.path()).args(["index", "--quiet"]));
    let auth = repo.path().join("server/src/auth.rs");
    let same = std::fs::read(&auth).expect("read");
    std::fs::write(&auth, same).expect("write");
    std::thread::sleep(settle);
    let touched = stdout_of(sextant(repo.path()).args(["index"]));
    assert!(
        touched.contains(
            "nothing changed; index is up to date; 1 file touched without a change, not read again"
        ),
        "{touched}"
    );
    let summary = stdout_of(sextant(repo.path()).args(["index", "--ci"]));
    let summary: serde_json::Value = serde_json::from_str(&summary).expect("json");
    assert_eq!(
        (&summary["read_files"], &summary["restamped_files"]),
        (&serde_json::json!(0), &serde_json::json!(0)),
        "{summary}"
    );
}

#[test]
fn bad_files_are_reported_and_never_fail_the_run() {
    let repo = copy_fixture("polyglot");
    let root = repo.path();
    std::fs::write(root.join("logo.png"), b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").expect("write");
    std::fs::write(
        root.join("huge.sql"),
        "insert into t values (1);\n".repeat(60_000),
    )
    .expect("write");
    std::fs::write(
        root.join("legacy.py"),
        b"# caf\xe9\ndef legacy_handler():\n    pass\n",
    )
    .expect("write");
    std::fs::write(root.join("broken.rs"), "fn ok() {}\nfn broken( {\n").expect("write");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(root.join("missing.rs"), root.join("dangling.rs"))
            .expect("symlink");
        std::os::unix::fs::symlink(root.join("self.rs"), root.join("self.rs")).expect("symlink");
    }
    let output = stdout_of(sextant(root).args(["index", "--json"]));
    let summary: serde_json::Value = serde_json::from_str(&output).expect("json");
    let reason = |path: &str| {
        summary["skipped"]
            .as_array()
            .expect("skipped")
            .iter()
            .find(|s| s["path"] == path)
            .map(|s| s["reason"].as_str().expect("reason").to_string())
    };
    assert_eq!(reason("logo.png").as_deref(), Some("binary"));
    assert_eq!(reason("huge.sql").as_deref(), Some("too_large"));
    #[cfg(unix)]
    {
        assert_eq!(reason("dangling.rs").as_deref(), Some("broken_symlink"));
        assert_eq!(reason("self.rs").as_deref(), Some("symlink_loop"));
    }
    let warnings = summary["warnings"].to_string();
    assert!(
        warnings.contains("legacy.py") && warnings.contains("invalid UTF-8"),
        "{warnings}"
    );
    assert!(
        warnings.contains("broken.rs") && warnings.contains("syntax errors"),
        "{warnings}"
    );
    let hits = stdout_of(sextant(root).args(["search", "legacy_handler", "--json"]));
    assert!(
        hits.contains("legacy.py"),
        "lossy file still searchable: {hits}"
    );
    let human = stdout_of(sextant(root).args(["index", "--full"]));
    assert!(
        human.contains("huge.sql: too large (1560000 bytes; limit 1048576)"),
        "{human}"
    );
}

#[test]
fn search_without_an_index_explains_what_to_do() {
    let repo = copy_fixture("polyglot");
    let output = sextant(repo.path())
        .args(["search", "anything"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("error: opening the index"), "{stderr}");
    assert!(stderr.contains("hint: run `sextant index`"), "{stderr}");
}

#[test]
fn a_held_lock_gives_exit_code_3_and_a_hint() {
    let repo = copy_fixture("polyglot");
    let dir = sextant_index::store::IndexDir::new(repo.path().join(".sextant"));
    let _lock = dir.lock().expect("lock");
    let output = sextant(repo.path())
        .args(["index", "--ci"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("another sextant process is updating the index"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: wait for the other run to finish"),
        "{stderr}"
    );
}

#[test]
fn a_corrupt_index_is_rebuilt_with_a_message() {
    let repo = copy_fixture("polyglot");
    stdout_of(sextant(repo.path()).args(["index", "--quiet"]));
    let manifest = repo.path().join(".sextant/manifest-1.bin");
    std::fs::write(&manifest, b"SEXTANT\0garbage").expect("damage");
    let output = sextant(repo.path())
        .args(["search", "Verifier"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("hint: run `sextant index` to rebuild")
    );
    let rebuilt = stdout_of(sextant(repo.path()).args(["index"]));
    assert!(
        rebuilt.contains("note: index at") && rebuilt.contains("is damaged"),
        "{rebuilt}"
    );
    assert!(
        stdout_of(sextant(repo.path()).args(["search", "Verifier"])).contains("server/src/auth.rs")
    );
}

#[test]
fn index_dir_can_live_outside_the_repository() {
    let repo = copy_fixture("polyglot");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let dir = elsewhere.path().join("idx");
    let dir_arg = dir.to_str().expect("utf-8");
    stdout_of(sextant(repo.path()).args(["index", "--quiet", "--index-dir", dir_arg]));
    assert!(!repo.path().join(".sextant").exists());
    let hits = stdout_of(sextant(repo.path()).args(["search", "Limiter", "--index-dir", dir_arg]));
    assert!(hits.contains("gateway/ratelimit.go"));
}

#[test]
fn analyse_reads_manifests_and_the_index() {
    let repo = tempfile::tempdir().expect("tempdir");
    let root = repo.path();
    std::fs::write(
        root.join("Cargo.toml"),
        "[package]\nname = \"svc\"\n[dependencies]\naxum = \"0.8\"\nsqlx = \"0.8\"\n",
    )
    .expect("write");
    std::fs::create_dir_all(root.join("src")).expect("mkdir");
    std::fs::write(root.join("src/main.rs"), "fn main() {}\n").expect("write");
    std::fs::create_dir_all(root.join(".github/workflows")).expect("mkdir");
    std::fs::write(root.join(".github/workflows/ci.yml"), "on: push\n").expect("write");
    stdout_of(sextant(root).args(["index", "--quiet", "--vectors", "off"]));
    let json = stdout_of(sextant(root).args(["analyse", "--json"]));
    let analysis: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(analysis["languages"], serde_json::json!(["rust"]));
    assert_eq!(analysis["test_commands"], serde_json::json!(["cargo test"]));
    assert_eq!(analysis["frameworks"], serde_json::json!(["axum"]));
    assert_eq!(analysis["databases"], serde_json::json!(["sqlx"]));
    assert_eq!(analysis["ci"], serde_json::json!([".github/workflows"]));
}

/// Issue 17: right after `sextant index` in a repository with no `.gitignore` for it, git
/// counted `.sextant/` as the user's change and `execute` refused to start. The index
/// directory ignores itself, wherever it lives.
#[test]
fn the_index_directory_is_never_the_users_change() {
    let repo = crate::support::copy_fixture("shop");
    let root = repo.path();
    crate::support::git(root, &["init", "--quiet"]);
    crate::support::git(root, &["add", "."]);
    crate::support::git(root, &["commit", "--quiet", "-m", "shop"]);
    stdout_of(sextant(root).args(["index", "--quiet"]));
    let elsewhere = root.join("cache/sextant-index");
    stdout_of(
        sextant(root)
            .arg("--index-dir")
            .arg(&elsewhere)
            .args(["index", "--quiet"]),
    );
    let status = crate::support::git(root, &["status", "--porcelain", "--ignored=no"]);
    assert!(status.trim().is_empty(), "{status}");
}

#[test]
fn index_watch_reindexes_a_saved_file_and_ignores_ignored_ones() {
    use std::io::BufRead;
    let repo = crate::support::copy_fixture("polyglot");
    let root = repo.path();
    std::fs::write(root.join(".gitignore"), "build/\n").expect("write");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("sextant"))
        .current_dir(root)
        .env("SEXTANT_HOME", crate::support::NO_MODELS)
        .args(["index", "--quiet", "--vectors", "off", "--watch"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut stderr = std::io::BufReader::new(stderr).lines();
    // Wait until it watches.
    for line in stderr.by_ref() {
        if line.expect("line").starts_with("watching") {
            break;
        }
    }
    // An ignored file changes first: nothing to do; then a source file.
    std::fs::create_dir_all(root.join("build")).expect("mkdir");
    std::fs::write(root.join("build/out.txt"), "generated\n").expect("write");
    std::thread::sleep(std::time::Duration::from_millis(800));
    std::fs::write(
        root.join("server/src/audit.rs"),
        "pub fn audit_trail() {}\n",
    )
    .expect("write");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let first = lines.next().expect("a line").expect("text");
    let _ = child.kill();
    let _ = child.wait();
    // One path: the ignored build output did not count.
    assert!(first.starts_with("1 path changed: generation 2"), "{first}");
    let hits = crate::support::stdout_of(crate::support::sextant(root).args([
        "search",
        "audit_trail",
        "--json",
    ]));
    assert!(hits.contains("server/src/audit.rs"), "{hits}");
}

/// What a CI job sees: the index made in one checkout, restored from a cache into a fresh
/// clone at another path (every file's times new), then brought up to date.
#[test]
fn an_index_restored_into_another_checkout_is_checked_by_content_not_rebuilt() {
    let first = copy_fixture("shop");
    let root = first.path();
    crate::support::git(root, &["init", "--quiet"]);
    crate::support::git(root, &["add", "."]);
    crate::support::git(root, &["commit", "--quiet", "-m", "start"]);
    stdout_of(sextant(root).args(["index", "--quiet"]));
    let task = "login endpoint should lock account after five failed attempts";
    let answer = |dir: &std::path::Path| {
        let text = stdout_of(sextant(dir).args(["why-relevant", task, "--json"]));
        let report: serde_json::Value = serde_json::from_str(&text).expect("json");
        crate::support::report_paths(&report)
    };
    let before = answer(root);

    let second = tempfile::tempdir().expect("tempdir");
    let clone = second.path().join("checkout");
    let cloned = std::process::Command::new("git")
        .args(["clone", "--quiet"])
        .arg(root)
        .arg(&clone)
        .status()
        .expect("git clone");
    assert!(cloned.success());
    std::fs::create_dir_all(clone.join(".sextant")).expect("mkdir");
    crate::support::copy_dir(&root.join(".sextant"), &clone.join(".sextant"));

    let summary = stdout_of(sextant(&clone).args(["index", "--ci"]));
    let summary: serde_json::Value = serde_json::from_str(&summary).expect("json");
    assert_eq!(summary["files"]["changed"], 0, "{summary}");
    assert_eq!(summary["files"]["added"], 0, "{summary}");
    assert_eq!(summary["files"]["removed"], 0, "{summary}");
    assert!(summary["rebuild_reason"].is_null(), "{summary}");
    assert_eq!(answer(&clone), before);

    // A change after the restore is indexed as one change.
    let routes = clone.join("app/routes.py");
    let text = std::fs::read_to_string(&routes).expect("read") + "\ndef audit_trail():\n    pass\n";
    std::fs::write(&routes, text).expect("write");
    let summary = stdout_of(sextant(&clone).args(["index", "--ci"]));
    let summary: serde_json::Value = serde_json::from_str(&summary).expect("json");
    assert_eq!(summary["files"]["changed"], 1, "{summary}");
    assert_eq!(summary["files"]["added"], 0, "{summary}");
}
