//! `sextant graph` on the polyglot fixture: snapshots of what people read, JSON for tools.

use insta::{assert_snapshot, with_settings};

use crate::support::{copy_fixture, sextant, stable_filters, stdout_of};

#[test]
fn graph_queries_on_the_polyglot_fixture() {
    let repo = copy_fixture("polyglot");
    let root = repo.path();
    stdout_of(sextant(root).args(["index", "--quiet"]));
    let filters = stable_filters(root);
    let filters: Vec<(&str, &str)> = filters
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let stats = stdout_of(sextant(root).args(["graph", "stats"]));
    let callers = stdout_of(sextant(root).args(["graph", "callers", "getToken"]));
    let callees = stdout_of(sextant(root).args(["graph", "callees", "web/src/api.js::fetchJson"]));
    let deps = stdout_of(sextant(root).args(["graph", "deps", "native/cache.cpp"]));
    let rdeps = stdout_of(sextant(root).args(["graph", "rdeps", "web/src/session.ts"]));
    let path = stdout_of(sextant(root).args(["graph", "path", "LoginForm", "web/src/api.js"]));
    with_settings!({ filters => filters }, {
        assert_snapshot!("graph_stats", stats);
        assert_snapshot!("graph_callers", callers);
        assert_snapshot!("graph_callees", callees);
        assert_snapshot!("graph_deps", deps);
        assert_snapshot!("graph_rdeps", rdeps);
        assert_snapshot!("graph_path", path);
    });
}

#[test]
fn an_ambiguous_name_lists_the_candidates() {
    let repo = copy_fixture("polyglot");
    stdout_of(sextant(repo.path()).args(["index", "--quiet"]));
    let output = sextant(repo.path())
        .args(["graph", "callers", "find"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("\"find\" names 2 symbols; give one id:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("native/cache.cpp::cache::BlobCache::find"),
        "{stderr}"
    );
    let json = stdout_of(sextant(repo.path()).args([
        "graph",
        "callers",
        "native/cache.cpp::cache::BlobCache::find",
        "--json",
    ]));
    let callers: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(
        callers[0]["node"]["id"],
        "native/cache.cpp::cache::BlobCache::contains"
    );
}

#[test]
fn graph_follows_incremental_changes() {
    let repo = copy_fixture("polyglot");
    let root = repo.path();
    stdout_of(sextant(root).args(["index", "--quiet"]));
    let before = stdout_of(sextant(root).args([
        "graph",
        "callers",
        "web/src/session.ts::getToken",
        "--json",
    ]));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&before)
            .expect("json")
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    std::fs::remove_file(root.join("web/src/LoginForm.tsx")).expect("remove");
    stdout_of(sextant(root).args(["index", "--quiet"]));
    let after = stdout_of(sextant(root).args([
        "graph",
        "callers",
        "web/src/session.ts::getToken",
        "--json",
    ]));
    let after: serde_json::Value = serde_json::from_str(&after).expect("json");
    assert_eq!(after.as_array().map(Vec::len), Some(1), "{after}");
    assert_eq!(after[0]["node"]["id"], "web/src/api.js::fetchJson");
}

#[test]
fn file_paths_are_taken_as_people_write_them() {
    let repo = copy_fixture("polyglot");
    let root = repo.path();
    stdout_of(sextant(root).args(["index", "--quiet"]));
    let expected = stdout_of(sextant(root).args(["graph", "deps", "native/cache.cpp", "--json"]));
    let absolute = root.join("native/cache.cpp");
    for spelling in [
        "./native/cache.cpp".to_string(),
        "native//cache.cpp".to_string(),
        absolute.display().to_string(),
    ] {
        let got = stdout_of(sextant(root).args(["graph", "deps", &spelling, "--json"]));
        assert_eq!(got, expected, "{spelling}");
    }
    // From a directory below the root, relative to it.
    let got =
        stdout_of(sextant(&root.join("native")).args(["graph", "deps", "cache.cpp", "--json"]));
    assert_eq!(got, expected);
}
