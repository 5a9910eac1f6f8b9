//! Absurd input (issue 16): every numeric flag and setting, given any value, gives a result or
//! a usage error (exit 2) naming the range — never a panic, an abort, a hang or a silently
//! empty answer; a file given as the repository is a clear error; names with control
//! characters print escaped.

use crate::support::{copy_fixture, sextant, stdout_of};

/// Each numeric flag with the command it belongs to.
const FLAGS: [(&[&str], &str); 17] = [
    (&["search", "login"], "--limit"),
    (&["index"], "--threads"),
    (&["index"], "--max-file-size"),
    (&["why-relevant", "login"], "--budget"),
    (&["why-relevant", "login"], "--max-files"),
    (&["why-relevant", "login"], "--whole-file-weight"),
    (&["why-relevant", "login"], "--symbol-weight"),
    (&["why-relevant", "login"], "--path-weight"),
    (&["why-relevant", "login"], "--graph-weight"),
    (&["why-relevant", "login"], "--vector-weight"),
    (&["why-relevant", "login"], "--history-weight"),
    (&["why-relevant", "login"], "--past-weight"),
    (&["why-relevant", "login"], "--test-factor"),
    (&["why-relevant", "login"], "--non-code-factor"),
    (&["execute"], "--attempts"),
    (&["execute"], "--timeout"),
    (&["llm", "check", "--no-speed"], "--context-size"),
];

/// Values a hurried user, a script or an attacker might pass.
const VALUES: [&str; 12] = [
    "NaN",
    "nan",
    "inf",
    "-inf",
    "-1",
    "0",
    "1e400",
    "18446744073709551615",
    "4294967296",
    "5000",
    "",
    "7x",
];

#[test]
fn any_value_of_any_numeric_flag_gives_a_result_or_a_usage_error() {
    let repo = copy_fixture("shop");
    let root = repo.path();
    stdout_of(sextant(root).args(["index", "--quiet", "--vectors", "off"]));
    let mut refused = 0;
    for (command, flag) in FLAGS {
        for value in VALUES {
            let mut run = sextant(root);
            run.args(command).arg(format!("{flag}={value}"));
            if matches!(command[0], "execute" | "llm") {
                // Nothing listens here: a value that is accepted fails fast on the connection.
                run.args(["--base-url", "http://127.0.0.1:9"]);
            }
            let output = run
                .timeout(std::time::Duration::from_secs(120))
                .output()
                .expect("runs");
            let stderr = String::from_utf8_lossy(&output.stderr);
            let code = output.status.code();
            assert!(
                matches!(code, Some(0..=2)),
                "{command:?} {flag}={value}: exit {code:?}\n{stderr}"
            );
            if code == Some(2) {
                refused += 1;
                assert!(
                    stderr.contains(flag),
                    "{command:?} {flag}={value}: the usage error names the flag\n{stderr}"
                );
            }
        }
    }
    // The values that are in range: 0 for a weight, a factor or `--threads` (one per core);
    // 5000 for the limit, the file size, the budget, the context size and the timeout.
    let accepted = 9 + 1 + 5;
    assert_eq!(refused, FLAGS.len() * VALUES.len() - accepted);
}

#[test]
fn settings_out_of_range_in_sextant_toml_are_usage_errors() {
    let repo = copy_fixture("shop");
    let root = repo.path();
    for (config, named) in [
        ("[index]\nmax_file_size = 0\n", "index.max_file_size = 0"),
        ("[index]\nthreads = 5000\n", "index.threads = 5000"),
        ("[rank]\ngraph_weight = nan\n", "rank.graph_weight = NaN"),
        ("[rank]\nsymbol_weight = inf\n", "rank.symbol_weight = inf"),
        ("[rank]\nmax_files = 0\n", "rank.max_files = 0"),
        (
            "[llm]\ncontext_size = 4000000000\n",
            "llm.context_size = 4000000000",
        ),
    ] {
        std::fs::write(root.join("sextant.toml"), config).expect("write config");
        let command: &[&str] = if config.contains("[llm]") {
            &["llm", "check", "--no-speed"]
        } else {
            &["index", "--quiet", "--vectors", "off"]
        };
        let output = sextant(root).args(command).output().expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{config}: {stderr}");
        assert!(stderr.contains(named), "{config}: {stderr}");
    }
}

#[test]
fn a_file_given_as_the_repository_is_a_clear_usage_error() {
    let repo = copy_fixture("shop");
    let file = repo.path().join("app/routes.py");
    for command in [&["index"][..], &["status"]] {
        let output = sextant(repo.path())
            .args(command)
            .arg(&file)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("is not a directory"), "{stderr}");
        assert!(!stderr.contains("sextant.toml"), "{stderr}");
    }
}

/// A task with no words and an unknown tokenizer are what the user typed: usage errors (exit
/// 2, as the README's table says), not failures of the tool (they exited 1).
#[test]
fn a_task_without_words_and_an_unknown_tokenizer_are_usage_errors() {
    let repo = copy_fixture("shop");
    stdout_of(sextant(repo.path()).args(["index", "--quiet", "--vectors", "off"]));
    let cases: [(&[&str], &str); 3] = [
        (&["why-relevant", ""], "no words to search for"),
        (&["why-relevant", "the a of"], "no words to search for"),
        (
            &["why-relevant", "lock the account", "--tokenizer", "gpt5"],
            "unknown tokenizer",
        ),
    ];
    for (args, expected) in cases {
        let output = sextant(repo.path()).args(args).output().expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[cfg(unix)]
#[test]
fn names_with_control_characters_print_escaped() {
    let repo = copy_fixture("shop");
    let root = repo.path();
    let evil = "app/\u{1b}[2J\u{1b}]0;owned\u{7}evil\nname.py";
    std::fs::write(root.join(evil), "def login_evil():\n    return 'login'\n").expect("write");
    let summary = stdout_of(sextant(root).args(["index", "--vectors", "off"]));
    assert!(!summary.contains('\u{1b}'), "{summary}");
    for args in [
        &["search", "login_evil"][..],
        &["why-relevant", "login_evil"],
    ] {
        let shown = stdout_of(sextant(root).args(args));
        assert!(!shown.contains('\u{1b}'), "{args:?}: {shown}");
        assert!(shown.contains("\\u{1b}[2J"), "{args:?}: {shown}");
        assert!(shown.contains("evil\\nname.py"), "{args:?}: {shown}");
    }
}

/// Issue 16: a 50 MB one-line file (with the size limit raised) made every search that hit it
/// take 53 s, and indexing it took minutes and gigabytes. A file with a line no one writes by
/// hand is indexed as plain text with its lines cut, and says so.
#[test]
fn a_minified_one_line_file_is_indexed_as_bounded_text() {
    let repo = copy_fixture("shop");
    let root = repo.path();
    let bundle: String = (0..60_000).map(|i| format!("alpha{i};")).collect();
    assert!(bundle.len() > 500_000);
    std::fs::write(root.join("app/bundle.min.js"), &bundle).expect("write");
    let summary =
        stdout_of(sextant(root).args(["index", "--vectors", "off", "--max-file-size", "10000000"]));
    assert!(
        summary.contains("app/bundle.min.js: a line of")
            && summary.contains("indexed as plain text"),
        "{summary}"
    );
    let hits = stdout_of(sextant(root).args(["search", "alpha7", "--json"]));
    let hits: serde_json::Value = serde_json::from_str(&hits).expect("json");
    assert_eq!(hits[0]["path"], "app/bundle.min.js", "{hits}");
    let report = stdout_of(sextant(root).args(["why-relevant", "alpha7 bundle", "--json"]));
    let report: serde_json::Value = serde_json::from_str(&report).expect("json");
    let bundle_entry = report["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["path"] == "app/bundle.min.js")
        .expect("the bundle is picked");
    // What the model would be sent of it is bounded, not half a megabyte.
    assert!(
        bundle_entry["tokens"].as_u64().expect("tokens") < 2_000,
        "{bundle_entry}"
    );
}
