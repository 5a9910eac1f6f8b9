//! `sextant eval` on a real git repository built in the test: commits whose messages name what
//! they change, so the right file is known.

use std::path::Path;
use std::process::Command;

use crate::support::{copy_fixture, sextant, stdout_of};

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

fn append(dir: &Path, path: &str, text: &str) {
    let full = dir.join(path);
    let mut content = std::fs::read_to_string(&full).expect("read");
    content.push_str(text);
    std::fs::write(full, content).expect("write");
}

/// The polyglot fixture as a git repository: the import, then one descriptive change.
fn polyglot_with_a_rate_limit_commit() -> tempfile::TempDir {
    let repo = copy_fixture("polyglot");
    let root = repo.path();
    git(root, &["init", "-q", "-b", "main"]);
    git(root, &["add", "-A"]);
    git(
        root,
        &["commit", "-q", "-m", "initial import of the service"],
    );
    append(
        root,
        "gateway/ratelimit.go",
        "\n// Burst limits now refill per client bucket.\n",
    );
    git(
        root,
        &[
            "commit",
            "-qam",
            "refill the rate limiter bucket for each client",
        ],
    );
    repo
}

/// Commits, as `message` with every other change in the tree, a doc comment and a function
/// about expired tokens in the verifier.
fn refuse_expired_tokens(root: &Path, message: &str) {
    append(
        root,
        "server/src/auth.rs",
        "\n/// Expired tokens are refused by the verifier.\nfn expired() {}\n",
    );
    git(root, &["commit", "-qam", message]);
}

#[test]
fn eval_scores_history_queries_against_the_parent_tree() {
    let repo = polyglot_with_a_rate_limit_commit();
    let root = repo.path();
    refuse_expired_tokens(root, "refuse expired session tokens in the verifier (#12)");
    append(root, "tools/report.py", "\n# totals per customer\n");
    git(root, &["commit", "-qam", "wip"]);
    let report = stdout_of(sextant(root).args(["eval", "--json", "-n", "10"]));
    let report: serde_json::Value = serde_json::from_str(&report).expect("json");
    // "wip" is too short to be a query; the initial commit adds files.
    assert_eq!(report["queries"], 2, "{report}");
    let rows = report["rows"].as_array().expect("rows");
    assert_eq!(
        rows[0]["message"],
        "refuse expired session tokens in the verifier"
    );
    assert_eq!(rows[0]["gold"], serde_json::json!(["server/src/auth.rs"]));
    let top3 = |row: &serde_json::Value| -> Vec<String> {
        row["hybrid"]
            .as_array()
            .expect("ranking")
            .iter()
            .take(3)
            .map(|p| p.as_str().unwrap_or("").to_string())
            .collect()
    };
    assert!(
        top3(&rows[0]).contains(&"server/src/auth.rs".to_string()),
        "{}",
        rows[0]
    );
    assert_eq!(rows[1]["hybrid"][0], "gateway/ratelimit.go", "{}", rows[1]);
    assert_eq!(report["hybrid"]["recall"]["@5"], 1.0);
    assert_eq!(report["bm25_whole_file"]["recall"]["@5"], 1.0);
    // The context an agent would get, packed within the default budget, holds the answers.
    assert_eq!(report["context"]["recall"], 1.0, "{}", report["context"]);
    assert_eq!(report["context"]["budget_tokens"], 32000);
    assert!(
        rows[0]["context"]
            .as_array()
            .expect("context")
            .contains(&serde_json::json!("server/src/auth.rs")),
        "{}",
        rows[0]
    );
    // The index is of the tree before both commits: the added doc comment is not in it.
    let human = stdout_of(sextant(root).args(["eval", "-n", "10"]));
    assert!(
        human.contains("sextant hybrid") && human.contains("bm25 whole-file"),
        "{human}"
    );
    assert!(
        human.contains("packed context (32,000 tokens, up to 15 files) holds 1.000 of the answers"),
        "{human}"
    );
    // A smaller context, as for a small local model.
    let small = stdout_of(sextant(root).args([
        "eval",
        "--json",
        "-n",
        "10",
        "--budget",
        "600",
        "--max-files",
        "2",
    ]));
    let small: serde_json::Value = serde_json::from_str(&small).expect("json");
    assert_eq!(small["context"]["budget_tokens"], 600);
    assert_eq!(small["context"]["max_files"], 2);
    for row in small["rows"].as_array().expect("rows") {
        assert!(
            row["context"].as_array().expect("context").len() <= 2,
            "{row}"
        );
    }
    assert!(small["context"]["tokens_p50"].as_f64().expect("tokens") <= 600.0);
}

#[test]
fn changed_files_the_indexed_tree_lacks_are_left_out_of_the_answers() {
    let repo = polyglot_with_a_rate_limit_commit();
    let root = repo.path();
    // Added after the oldest query's parent, which is the indexed tree.
    std::fs::write(
        root.join("gateway/quota.go"),
        "package gateway\n\n// Quota counts requests per client.\nfunc Quota() int { return 0 }\n",
    )
    .expect("write");
    git(root, &["add", "gateway/quota.go"]);
    git(
        root,
        &["commit", "-qm", "add a request quota to the gateway"],
    );
    append(root, "gateway/quota.go", "\n// Expired tokens count too.\n");
    refuse_expired_tokens(root, "refuse expired session tokens in the verifier");
    let report = stdout_of(sextant(root).args(["eval", "--json", "-n", "10"]));
    let report: serde_json::Value = serde_json::from_str(&report).expect("json");
    // The commit adding quota.go is no query (it adds a file); the last one changed quota.go,
    // which the index of the tree before the first query cannot have.
    assert_eq!(report["queries"], 2, "{report}");
    assert_eq!(report["unreachable_gold"], 1, "{report}");
    assert_eq!(
        report["rows"][0]["gold"],
        serde_json::json!(["server/src/auth.rs"]),
        "{report}"
    );
    let human = stdout_of(sextant(root).args(["eval", "-n", "10"]));
    assert!(
        human.contains("1 changed file left out of the answers"),
        "{human}"
    );
    // A subject that names nothing in the code: no ranker finds its answer, and `--misses`
    // says so.
    append(root, "tools/report.py", "\n# totals per customer\n");
    git(root, &["commit", "-qam", "zebra quokka xylophone narwhal"]);
    let report = stdout_of(sextant(root).args(["eval", "--json", "-n", "10", "--vectors", "off"]));
    let report: serde_json::Value = serde_json::from_str(&report).expect("json");
    for row in report["rows"].as_array().expect("rows") {
        let top: Vec<&serde_json::Value> = row["hybrid"]
            .as_array()
            .expect("ranking")
            .iter()
            .take(10)
            .collect();
        let outside: Vec<&serde_json::Value> = row["gold"]
            .as_array()
            .expect("gold")
            .iter()
            .filter(|g| !top.contains(g))
            .collect();
        let missed: Vec<&serde_json::Value> = row["missed"]
            .as_array()
            .expect("missed")
            .iter()
            .map(|m| &m["path"])
            .collect();
        assert_eq!(outside, missed, "{row}");
    }
    let human = stdout_of(sextant(root).args(["eval", "-n", "10", "--misses", "--vectors", "off"]));
    let listed = report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| !r["missed"].as_array().expect("missed").is_empty())
        .count();
    assert_eq!(listed, 1, "{report}");
    assert!(
        human.contains("tools/report.py  sextant -, bm25 -"),
        "{human}"
    );
    assert!(
        human.contains(&format!("{listed} of 3 queries have an answer outside")),
        "{human}"
    );
    for row in report["rows"].as_array().expect("rows") {
        for miss in row["missed"].as_array().expect("missed") {
            let path = miss["path"].as_str().expect("path");
            assert!(human.contains(path), "{path} not listed: {human}");
        }
    }
}

#[test]
fn whole_messages_are_queries_when_asked() {
    let repo = polyglot_with_a_rate_limit_commit();
    let root = repo.path();
    append(
        root,
        "server/src/auth.rs",
        "\n/// Expired tokens are refused by the verifier.\nfn expired() {}\n",
    );
    git(
        root,
        &[
            "commit",
            "-qam",
            "zebra quokka xylophone narwhal",
            "-m",
            "The verifier must refuse expired session tokens.\n\nhttps://example.invalid/issue/7",
            "-m",
            "Signed-off-by: Someone <someone@example.invalid>",
        ],
    );
    let run = |from: &str| -> serde_json::Value {
        let report = stdout_of(sextant(root).args([
            "eval",
            "--json",
            "-n",
            "10",
            "--vectors",
            "off",
            "--query-from",
            from,
        ]));
        serde_json::from_str(&report).expect("json")
    };
    let subjects = run("subject");
    assert_eq!(subjects["query_from"], "subject");
    assert_eq!(
        subjects["rows"][0]["message"],
        "zebra quokka xylophone narwhal"
    );
    let messages = run("message");
    assert_eq!(messages["query_from"], "message");
    let row = &messages["rows"][0];
    // Trailers and bare links are the commit's provenance, not the task.
    assert_eq!(
        row["message"],
        "zebra quokka xylophone narwhal\nThe verifier must refuse expired session tokens.",
        "{row}"
    );
    assert_eq!(row["hybrid"][0], "server/src/auth.rs", "{row}");
    // A commit without a body is its subject either way.
    assert_eq!(
        messages["rows"][1]["message"],
        "refill the rate limiter bucket for each client"
    );
}
