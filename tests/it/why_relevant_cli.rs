//! `sextant why-relevant` on the shop fixture (a small Python web shop) where the right files
//! are known: found by words, by a named identifier, by a named path, and by the call graph
//! alone (`app/auth/passwords.py` shares no word with its task; `login` in `app/routes.py`
//! calls `verify_password` there).

use insta::{assert_snapshot, with_settings};
use serde_json::Value;

use crate::support::{copy_fixture, git, sextant, stable_filters, stdout_of};

fn indexed_shop() -> tempfile::TempDir {
    let repo = copy_fixture("shop");
    stdout_of(sextant(repo.path()).args(["index", "--quiet"]));
    repo
}

fn why_json(root: &std::path::Path, args: &[&str]) -> Value {
    let mut command = sextant(root);
    command.arg("why-relevant").args(args).arg("--json");
    serde_json::from_str(&stdout_of(&mut command)).expect("json")
}

fn paths(report: &Value) -> Vec<String> {
    crate::support::report_paths(report)
}

const LOCKOUT: &str = "login endpoint should lock account after five failed attempts";

/// A task quoting an error message shows, first among a file's evidence, the line that holds
/// it, even when BM25's best chunks of the file are elsewhere (it showed only the lines of the
/// chunk that repeats the words most).
#[test]
fn a_quoted_phrase_is_shown_where_it_stands() {
    let repo = copy_fixture("shop");
    let root = repo.path();
    let mut text = String::from(
        "def describe_union():\n    \"\"\"Matching a discriminator: the discriminator picks the member; \
         a matching error names the discriminator.\"\"\"\n    discriminator = matching_discriminator()\n    \
         error = matching(discriminator)\n    return discriminator, error\n\n",
    );
    for i in 0..40 {
        text.push_str(&format!(
            "def helper_{i}(value):\n    return value + {i}\n\n"
        ));
    }
    text.push_str(
        "def pick(options, key):\n    if key not in options:\n        raise ValueError(\"No matching discriminator\")\n    return options[key]\n",
    );
    std::fs::write(root.join("app/unions.py"), text).expect("write");
    stdout_of(sextant(root).args(["index", "--quiet", "--vectors", "off"]));
    let report = why_json(root, &["fix \"No matching discriminator\" error"]);
    let file = report["files"]
        .as_array()
        .and_then(|files| files.iter().find(|f| f["path"] == "app/unions.py"))
        .unwrap_or_else(|| panic!("app/unions.py in {report}"));
    let first = &file["matched_lines"][0];
    assert!(
        first["text"]
            .as_str()
            .is_some_and(|t| t.contains("No matching discriminator")),
        "{file}"
    );
    assert_eq!(first["line"], 129, "{file}");
}

#[test]
fn the_graph_finds_what_shares_no_word_with_the_task() {
    let repo = indexed_shop();
    let with_graph = why_json(repo.path(), &[LOCKOUT]);
    let found = paths(&with_graph);
    assert_eq!(found[0], "app/routes.py", "{found:?}");
    let passwords = file(&with_graph, "app/auth/passwords.py");
    assert_eq!(passwords["signals"]["chunks"], 0.0);
    assert_eq!(
        passwords["signals"]["graph_link"]["description"],
        "`login` in app/routes.py calls `verify_password` defined here"
    );
    let without_graph = why_json(repo.path(), &[LOCKOUT, "--graph-weight", "0"]);
    assert!(
        !paths(&without_graph).contains(&"app/auth/passwords.py".to_string()),
        "{:?}",
        paths(&without_graph)
    );
}

#[test]
fn named_identifiers_and_paths_come_first() {
    let repo = indexed_shop();
    let by_symbol = why_json(
        repo.path(),
        &["verify_token rejects tokens without an expiry"],
    );
    assert_eq!(paths(&by_symbol)[0], "app/auth/jwt.py");
    assert_eq!(
        by_symbol["files"][0]["signals"]["symbols"][0]["id"],
        "app/auth/jwt.py::verify_token"
    );
    let by_path = why_json(repo.path(), &["tidy up app/config.py"]);
    assert_eq!(paths(&by_path)[0], "app/config.py");
    // A leading `component:` scopes the task to that directory.
    let by_scope = why_json(repo.path(), &["auth: rotate the signing secret"]);
    let top2: Vec<String> = paths(&by_scope).into_iter().take(2).collect();
    assert!(top2.iter().all(|p| p.starts_with("app/auth/")), "{top2:?}");
    let by_words = why_json(
        repo.path(),
        &["refund the payment when an order is cancelled"],
    );
    let found = paths(&by_words);
    assert_eq!(found[0], "app/orders/service.py", "{found:?}");
    assert!(
        found[..4].contains(&"app/payments/stripe_client.py".to_string()),
        "{found:?}"
    );
}

#[test]
fn json_follows_the_published_schema_and_the_budget() {
    let repo = indexed_shop();
    let schema_text = stdout_of(sextant(repo.path()).args(["why-relevant", "--print-schema"]));
    let schema: Value = serde_json::from_str(&schema_text).expect("schema is json");
    let validator = jsonschema::validator_for(&schema).expect("valid schema");
    for budget in ["32000", "400"] {
        let report = why_json(repo.path(), &[LOCKOUT, "--budget", budget]);
        let errors: Vec<String> = validator
            .iter_errors(&report)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
        let used = report["tokens_used"].as_u64().expect("tokens");
        let sum: u64 = report["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|f| f["tokens"].as_u64().expect("tokens"))
            .sum();
        assert_eq!(used, sum);
        assert!(used <= budget.parse::<u64>().expect("number"), "{used}");
    }
    // 400 tokens do not hold everything: something is cut to an outline or left out.
    let tight = why_json(repo.path(), &[LOCKOUT, "--budget", "400"]);
    let cut = tight["files"]
        .as_array()
        .expect("files")
        .iter()
        .any(|f| f["inclusion"] != "whole");
    assert!(cut || !tight["passed"].as_array().expect("passed").is_empty());
}

#[test]
fn a_big_file_is_shown_as_an_outline_with_its_matching_region() {
    let repo = indexed_shop();
    // A long module: the budget's whole-file share (a quarter) cannot hold it.
    let mut text = String::from("\"\"\"Inventory bookkeeping.\"\"\"\n\n");
    for i in 0..400 {
        text.push_str(&format!(
            "def stock_level_{i}(sku):\n    \"\"\"Units of a product on the shelf.\"\"\"\n    return {i}\n\n"
        ));
    }
    text.push_str("def reorder_threshold(sku):\n    \"\"\"When to reorder a warehouse item.\"\"\"\n    return 5\n");
    std::fs::write(repo.path().join("app/inventory.py"), text).expect("write");
    stdout_of(sextant(repo.path()).args(["index", "--quiet"]));
    let task = "reorder threshold for warehouse items";
    let report = why_json(repo.path(), &[task]);
    let inventory = file(&report, "app/inventory.py");
    assert_eq!(inventory["inclusion"], "outline");
    // Too tight for 400 signatures: only the matching region is left.
    let tight = why_json(repo.path(), &[task, "--budget", "3000"]);
    let inventory = file(&tight, "app/inventory.py");
    assert_eq!(inventory["inclusion"], "regions");
    let context = stdout_of(sextant(repo.path()).args(["why-relevant", task, "--context"]));
    assert!(
        context.contains("### app/inventory.py (outline of 1605 lines"),
        "{context}"
    );
    assert!(
        context.contains("| def reorder_threshold(sku):"),
        "{context}"
    );
    assert!(context.contains("| def stock_level_7(sku)"), "{context}");

    // Edited since indexing: the outline comes from the file as it is now, not from the
    // signatures the index stored.
    let path = repo.path().join("app/inventory.py");
    let edited = std::fs::read_to_string(&path).expect("read").replace(
        "def stock_level_7(sku):",
        "def stock_level_seven(sku, shelf):",
    );
    std::fs::write(&path, edited).expect("write");
    let context = stdout_of(sextant(repo.path()).args(["why-relevant", task, "--context"]));
    assert!(
        context.contains("| def stock_level_seven(sku, shelf)\n")
            && !context.contains("| def stock_level_7(sku)\n"),
        "{context}"
    );
}

#[test]
fn human_output_and_context() {
    let repo = indexed_shop();
    let table = stdout_of(sextant(repo.path()).args(["why-relevant", LOCKOUT]));
    let context = stdout_of(sextant(repo.path()).args([
        "why-relevant",
        "verify_token rejects tokens without an expiry",
        "--max-files",
        "2",
        "--context",
    ]));
    let mut filters = stable_filters(repo.path());
    // Scores move in the last digits with index segment layout; the order is what matters.
    filters.push((r"\b\d+\.\d\d\b".to_string(), "[S]".to_string()));
    let filters: Vec<(&str, &str)> = filters
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    with_settings!({ filters => filters }, {
        assert_snapshot!("why_relevant_table", table);
        assert_snapshot!("why_relevant_context", context);
    });
}

#[test]
fn a_stale_file_is_flagged_and_a_missing_index_is_explained() {
    let repo = indexed_shop();
    let jwt = repo.path().join("app/auth/jwt.py");
    let text = std::fs::read_to_string(&jwt).expect("read");
    std::fs::write(&jwt, format!("# edited\n{text}")).expect("write");
    let report = why_json(
        repo.path(),
        &["verify_token rejects tokens without an expiry"],
    );
    assert_eq!(report["files"][0]["path"], "app/auth/jwt.py");
    assert_eq!(report["files"][0]["stale"], true);

    let empty = tempfile::tempdir().expect("tempdir");
    let output = sextant(empty.path())
        .args(["why-relevant", "anything at all"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("sextant index"), "{stderr}");
}

/// Appends `text` to `path` and commits it with `message`.
fn append_and_commit(root: &std::path::Path, path: &str, text: &str, message: &str) {
    let full = root.join(path);
    let mut content = std::fs::read_to_string(&full).expect("read");
    content.push_str(text);
    std::fs::write(&full, content).expect("write");
    git(root, &["commit", "--quiet", "-am", message]);
}

/// The shop fixture as a git repository of one commit.
fn shop_repository() -> tempfile::TempDir {
    let repo = copy_fixture("shop");
    let root = repo.path();
    git(root, &["init", "--quiet"]);
    git(root, &["add", "."]);
    git(root, &["commit", "--quiet", "-m", "shop"]);
    repo
}

/// The shop fixture as a git repository where `app/auth/jwt.py` changed in three commits after
/// the first.
fn shop_with_history() -> tempfile::TempDir {
    let repo = shop_repository();
    let root = repo.path();
    for n in 1..=3 {
        append_and_commit(
            root,
            "app/auth/jwt.py",
            &format!("\n# revision {n}\n"),
            &format!("auth: revision {n}"),
        );
    }
    stdout_of(sextant(root).args(["index", "--quiet"]));
    repo
}

fn file<'r>(report: &'r Value, path: &str) -> &'r Value {
    report["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("{path} not selected: {report}"))
}

#[test]
fn files_that_changed_often_lately_rank_with_their_history_shown() {
    let repo = shop_with_history();
    let root = repo.path();
    let task = "verify the token and the password on login";
    let report = why_json(root, &[task]);
    assert_eq!(report["signals"]["history"], true, "{report}");
    let jwt = file(&report, "app/auth/jwt.py");
    assert_eq!(jwt["signals"]["recent_commits"], 4, "{jwt}");
    assert!(
        jwt["explanation"]
            .to_string()
            .contains("changed often lately (4 recent commits)"),
        "{jwt}"
    );
    let passwords = file(&report, "app/auth/passwords.py");
    assert_eq!(passwords["signals"]["recent_commits"], 1, "{passwords}");
    assert!(
        jwt["signals"]["history"].as_f64() > passwords["signals"]["history"].as_f64(),
        "{report}"
    );
    let table = stdout_of(sextant(root).args(["why-relevant", task]));
    assert!(table.contains("changed in 4 recent commits"), "{table}");

    // The prior follows HEAD: one more commit, one more count after the next index run.
    std::fs::write(root.join("app/auth/passwords.py"), "# rewritten\n").expect("write");
    git(
        root,
        &["commit", "--quiet", "-am", "auth: rewrite passwords"],
    );
    stdout_of(sextant(root).args(["index", "--quiet"]));
    let again = why_json(root, &["verify the token on login"]);
    assert_eq!(
        file(&again, "app/auth/jwt.py")["signals"]["recent_commits"],
        4,
        "{again}"
    );
    // Kept in a checksummed frame: a flipped byte is noticed, not ranked with.
    let stored = root.join(".sextant/history.bin");
    let mut bytes = std::fs::read(&stored).expect("history stored");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&stored, bytes).expect("write");
    let output = sextant(root)
        .args(["why-relevant", "verify the token on login", "--json"])
        .output()
        .expect("runs");
    let damaged: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(damaged["signals"]["history"], false, "{damaged}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("ranking without the history prior"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout_of(sextant(root).args(["index", "--quiet"]));
    assert_eq!(
        paths(&why_json(root, &["verify the token on login"])),
        paths(&again)
    );
}

#[test]
fn tests_and_docs_yield_to_code_unless_the_task_is_about_tests() {
    let repo = copy_fixture("shop");
    let root = repo.path();
    std::fs::write(
        root.join("ORDERS.md"),
        "# Orders\n\nTo cancel an order, cancel_order refunds the order payment. Orders are \
         placed with place_order; a cancelled order is refunded.\n",
    )
    .expect("write");
    stdout_of(sextant(root).args(["index", "--quiet"]));
    let explanation = |report: &Value, path: &str| {
        file(report, path)["explanation"]["description"]
            .as_str()
            .expect("description")
            .to_string()
    };
    let report = why_json(root, &["cancel an order and refund its payment"]);
    assert_eq!(paths(&report)[0], "app/orders/service.py", "{report}");
    assert!(
        explanation(&report, "tests/test_orders.py").contains("× 0.5 for a test"),
        "{report}"
    );
    assert!(
        explanation(&report, "ORDERS.md").contains("× 0.5 for a non-code file"),
        "{report}"
    );
    assert_eq!(
        explanation(&report, "app/orders/service.py"),
        "fused score, sum of:"
    );
    // A task about tests keeps them at full weight.
    let about_tests = why_json(root, &["test that cancelling an order refunds its payment"]);
    assert_eq!(
        explanation(&about_tests, "tests/test_orders.py"),
        "fused score, sum of:"
    );
}

#[test]
fn files_changed_by_past_commits_like_the_task_are_found_with_the_commit_shown() {
    let repo = shop_repository();
    let root = repo.path();
    // A past change of the same kind touched the configuration, which shares no word with the
    // task: only the history can point at it.
    append_and_commit(
        root,
        "app/config.py",
        "\nATTEMPTS = 3\n",
        "payments: retry a declined card charge",
    );
    append_and_commit(
        root,
        "app/config.py",
        "\nLIMIT = 100\n",
        "settings: add a spending cap",
    );
    stdout_of(sextant(root).args(["index", "--quiet"]));
    let task = "payments: retry a declined refund";
    let report = why_json(root, &[task]);
    let config = file(&report, "app/config.py");
    assert_eq!(config["signals"]["chunks"], 0.0, "{config}");
    assert_eq!(config["signals"]["past"], 1.0, "{config}");
    assert_eq!(
        config["signals"]["past_commit"]["subject"], "payments: retry a declined card charge",
        "{config}"
    );
    assert!(
        config["explanation"]
            .to_string()
            .contains("changed by past commits like the task"),
        "{config}"
    );
    let table = stdout_of(sextant(root).args(["why-relevant", task]));
    assert!(
        table.contains("like past change") && table.contains("retry a declined card charge"),
        "{table}"
    );
    // The scope `payments:` names the directory, not the file.
    let client = table
        .lines()
        .find(|l| l.contains("app/payments/stripe_client.py"))
        .expect("the payments client is selected");
    assert!(
        client.contains("in the task's scope `payments:`"),
        "{table}"
    );
    // A scope that names no directory is read from the history: `settings:` commits changed
    // the configuration.
    let settings = why_json(
        root,
        &["settings: read the charge limit", "--past-weight", "0"],
    );
    assert!(
        paths(&settings).contains(&"app/config.py".to_string()),
        "{settings}"
    );
    let config_settings = file(&settings, "app/config.py");
    assert_eq!(
        config_settings["signals"]["paths"],
        serde_json::json!(["settings:"]),
        "{config_settings}"
    );
    assert!(
        config_settings["explanation"]
            .to_string()
            .contains("in the task's scope: settings:"),
        "{config_settings}"
    );
    // Without the signal it ranks lower (the graph still links it to the payments client).
    let rank = |report: &Value| {
        paths(report)
            .iter()
            .position(|p| p == "app/config.py")
            .unwrap_or(usize::MAX)
    };
    let without = why_json(root, &[task, "--past-weight", "0"]);
    assert!(rank(&report) < rank(&without), "{report}\n{without}");
}

#[test]
fn the_link_shown_is_the_one_that_names_the_task() {
    let repo = tempfile::tempdir().expect("tempdir");
    let root = repo.path();
    std::fs::write(
        root.join("store.py"),
        "def open_store():\n    return {}\n\n\ndef refund_payment(store, payment):\n    store.pop(payment)\n",
    )
    .expect("write");
    // `setup` calls `open_store` three times: the heaviest link to store.py, but not the one
    // that says why store.py matters for a refund.
    std::fs::write(
        root.join("api.py"),
        "from store import open_store, refund_payment\n\n\n\
         def setup():\n    open_store()\n    open_store()\n    open_store()\n\n\n\
         def refund_order(order):\n    \"\"\"Refund the order's payment.\"\"\"\n    \
         return refund_payment(setup(), order)\n",
    )
    .expect("write");
    stdout_of(sextant(root).args(["index", "--quiet", "--vectors", "off"]));
    let report = why_json(root, &["refund an order"]);
    let store = file(&report, "store.py");
    assert_eq!(
        store["signals"]["graph_link"]["description"],
        "`refund_order` in api.py calls `refund_payment` defined here",
        "{store}"
    );
}

#[test]
fn a_tight_budget_keeps_breadth_before_depth() {
    let repo = tempfile::tempdir().expect("tempdir");
    let root = repo.path();
    // Ten files about invoices, each a few hundred tokens whole.
    for file in 0..10 {
        let mut text = String::new();
        for function in 0..8 {
            text.push_str(&format!(
                "def invoice_total_{file}_{function}(items):\n    \"\"\"Invoice total, variant {function}.\"\"\"\n    return sum(item.price for item in items) * {function}\n\n\n"
            ));
        }
        std::fs::write(root.join(format!("billing_{file}.py")), text).expect("write");
    }
    stdout_of(sextant(root).args(["index", "--quiet", "--vectors", "off"]));
    let report = why_json(
        root,
        &[
            "compute the invoice totals",
            "--budget",
            "2000",
            "--max-files",
            "10",
        ],
    );
    let files = report["files"].as_array().expect("files");
    // A greedy packer gives the first files whole and runs out after four; every one of the
    // ten fits in a leaner form, and the best-ranked get the richer forms.
    assert_eq!(files.len(), 10, "{report}");
    assert!(
        report["tokens_used"].as_u64().expect("tokens") <= 2000,
        "{report}"
    );
    assert_eq!(files[0]["inclusion"], "whole", "{}", files[0]);
    assert_ne!(files[9]["inclusion"], "whole", "{}", files[9]);
}

#[test]
fn reasons_do_not_cite_a_builtin_as_a_repository_definition() {
    // `str(item)` in `as_text` is Python's `str`, not `Text.str` in pyproj/models.py: the
    // graph used to link them, and why-relevant gave the false link as both files' reason.
    let repo = copy_fixture("resolution");
    git(repo.path(), &["init", "--quiet"]);
    stdout_of(sextant(repo.path()).args(["index", "--quiet", "--vectors", "off"]));
    let table = stdout_of(sextant(repo.path()).args([
        "why-relevant",
        "as_text should render str of the item in report",
    ]));
    assert!(table.contains("pyproj/report.py"), "{table}");
    assert!(table.contains("pyproj/models.py"), "{table}");
    assert!(!table.contains("calls `str`"), "{table}");
}
