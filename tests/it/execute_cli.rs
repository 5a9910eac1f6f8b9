//! `sextant execute` end to end: a real git repository, real validation commands (python3),
//! the scripted LLM server proposing edits. Happy path, a step fixed on retry, a step that
//! exhausts its attempts, a dry run that writes nothing, and the approval gate.

use std::path::Path;

use serde_json::json;
use sextant::llm::replay::{ReplayServer, Reply};

use crate::support::{
    assert_fit_scripted_context, chat_bodies, fails_with, git, impact, only_run_record_json,
    only_run_state, packings, sextant, stdout_of, tiny_model,
};

const STEPS: usize = 5;

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::write(
        root.join("calc.py"),
        "\"\"\"Small calculator.\"\"\"\n# end\n",
    )
    .expect("write");
    // No `.gitignore` prepared for sextant, as in a repository that never met it: the index
    // directory must ignore itself (issue 17).
    std::fs::write(root.join("answers.txt"), "plain functions\nno\n").expect("write");
    git(root, &["init", "--quiet", "-b", "main"]);
    git(root, &["add", "."]);
    git(root, &["commit", "--quiet", "-m", "start"]);
    stdout_of(sextant(root).args(["index", "--quiet"]));
    dir
}

fn questions() -> Reply {
    Reply::text(
        json!({"questions": [
            {"question": "Should the helpers be plain functions or a class?", "decision": "shape",
             "options": ["plain functions", "a class"]},
            {"question": "Should the helpers log their results to stdout?", "decision": "logging",
             "options": ["no", "yes"]}
        ]})
        .to_string(),
    )
}

fn plan() -> Reply {
    Reply::text(plan_reply_text())
}

fn plan_reply_text() -> String {
    let steps: Vec<serde_json::Value> = (1..=STEPS)
        .map(|k| {
            json!({
                "title": format!("Add f{k}"),
                "files": ["calc.py"],
                "new_files": [],
                "tests": [],
                "validate": format!("python3 -c 'import calc; assert calc.f{k}() == {k}'"),
                "rollback": "revert this step's commit"
            })
        })
        .collect();
    json!({"steps": steps, "impact": impact("calc.py gains helpers; nothing else changes.")})
        .to_string()
}

fn add(k: usize, value: usize) -> Reply {
    Reply::text(format!(
        "calc.py\n<<<<<<< SEARCH\n# end\n=======\ndef f{k}():\n    return {value}\n\n\n# end\n>>>>>>> REPLACE\n"
    ))
}

/// Questions, the plan, then a correct edit for every step.
fn every_step_right() -> Vec<Reply> {
    let mut replies = vec![questions(), plan()];
    replies.extend((1..=STEPS).map(|k| add(k, k)));
    replies
}

fn llm_args(server: &ReplayServer) -> Vec<String> {
    crate::support::tiny_model_args(server)
}

fn plan_and_approve(root: &Path, server: &ReplayServer) {
    stdout_of(
        sextant(root)
            .args([
                "run",
                "add five helper functions",
                "--answers",
                "answers.txt",
            ])
            .args(llm_args(server)),
    );
    stdout_of(sextant(root).arg("approve"));
}

fn execute(root: &Path, server: &ReplayServer, extra: &[&str]) -> std::process::Output {
    sextant(root)
        .arg("execute")
        .args(extra)
        .args(llm_args(server))
        .output()
        .expect("runs")
}

#[test]
fn every_step_is_validated_committed_and_ticked() {
    let dir = repo();
    let root = dir.path();
    let server = tiny_model(every_step_right());
    plan_and_approve(root, &server);
    let output = execute(root, &server, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let log = git(root, &["log", "--format=%s"]);
    for k in 1..=STEPS {
        assert!(
            log.contains(&format!("step {k}/{STEPS}: Add f{k}")),
            "{log}"
        );
    }
    assert!(git(root, &["branch", "--show-current"]).starts_with("sextant/"));
    let todo = std::fs::read_to_string(root.join("TODO.md")).expect("todo");
    assert_eq!(todo.matches("[x]").count(), STEPS, "{todo}");
    assert!(git(root, &["status", "--porcelain"]).trim().is_empty());

    // Review: plan against what was done, and the diff.
    let review = stdout_of(sextant(root).args(["review"]));
    assert!(review.contains("[x] 5. Add f5"), "{review}");
    assert!(review.contains("calc.py"), "{review}");
    assert!(review.contains("+def f3():"), "{review}");
    assert!(review.contains("reviewed:"), "{review}");

    // Rollback from step 3: steps 3-5 reverted, 1-2 stay.
    let rolled = stdout_of(sextant(root).args(["rollback", "3"]));
    assert!(rolled.contains("reverted 3 step commits"), "{rolled}");
    let calc = std::fs::read_to_string(root.join("calc.py")).expect("calc");
    assert!(
        calc.contains("def f2") && !calc.contains("def f3"),
        "{calc}"
    );
    let state = only_run_state(root);
    assert!(state.contains("rolled_back"), "{state}");
}

#[test]
fn a_failing_step_is_fixed_on_retry_with_the_failure_fed_back() {
    let dir = repo();
    let root = dir.path();
    let mut replies = vec![questions(), plan(), add(1, 42), add(1, 1)];
    replies.extend((2..=STEPS).map(|k| add(k, k)));
    let server = tiny_model(replies);
    plan_and_approve(root, &server);
    let output = execute(root, &server, &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let chats = chat_bodies(&server);
    // questions, plan, step 1 (bad), step 1 (fix) ...
    assert!(chats[3].contains("AssertionError"), "{}", chats[3]);
    assert!(git(root, &["log", "--format=%s"]).contains("step 1/5: Add f1"));
    let calc = std::fs::read_to_string(root.join("calc.py")).expect("calc");
    assert!(
        calc.contains("return 1") && !calc.contains("return 42"),
        "{calc}"
    );
    let stats = stdout_of(sextant(root).arg("stats"));
    assert!(stats.contains("1 runs: 1 completed, 0 failed"), "{stats}");
    assert!(stats.contains("success rate 100 %"), "{stats}");
    assert!(stats.contains("execute: 6 calls"), "{stats}");
}

#[test]
fn a_step_that_keeps_failing_stops_the_run_with_earlier_steps_intact() {
    let dir = repo();
    let root = dir.path();
    let server = tiny_model(vec![
        questions(),
        plan(),
        add(1, 1),
        add(2, 7),
        add(2, 7),
        add(2, 7),
    ]);
    plan_and_approve(root, &server);
    let output = execute(root, &server, &[]);
    fails_with(&output, "step 2 (Add f2) failed 3 times");
    let log = git(root, &["log", "--format=%s"]);
    assert!(
        log.contains("step 1/5: Add f1") && !log.contains("step 2/5"),
        "{log}"
    );
    let calc = std::fs::read_to_string(root.join("calc.py")).expect("calc");
    assert!(
        calc.contains("def f1") && !calc.contains("def f2"),
        "{calc}"
    );
    let state = only_run_state(root);
    assert!(state.contains("\"failed\""), "{state}");
    let status = stdout_of(sextant(root).args(["status", "--no-scan"]));
    assert!(status.contains(": failed, 1/5 steps done"), "{status}");
    assert!(
        status.contains("failed: step 2 (Add f2) failed 3 times"),
        "{status}"
    );
    assert!(
        status.contains("next: `sextant execute` retries step 2"),
        "{status}"
    );
    let stats: serde_json::Value =
        serde_json::from_str(&stdout_of(sextant(root).args(["stats", "--json"]))).expect("json");
    assert_eq!(stats["failed"], 1, "{stats}");
    assert_eq!(stats["success_rate"], 0.0, "{stats}");
    assert_eq!(stats["failure_types"]["step validation"], 1, "{stats}");
    assert_eq!(stats["stages"]["ask"]["calls"], 1, "{stats}");
    assert_eq!(stats["stages"]["plan"]["calls"], 1, "{stats}");
    assert_eq!(stats["stages"]["execute"]["calls"], 4, "{stats}");
    // Memory next to tokens: the model server's, as it reports it, and sextant's own peak.
    for stage in ["ask", "plan", "execute"] {
        assert_eq!(
            stats["stages"][stage]["server_memory_bytes_max"],
            crate::support::TINY_MODEL_MEMORY,
            "{stats}"
        );
        assert!(
            stats["stages"][stage]["sextant_peak_rss_bytes_max"].as_u64() > Some(1 << 20),
            "{stats}"
        );
    }
    let shown = stdout_of(sextant(root).arg("stats"));
    assert!(
        shown.contains("memory: model server 512 MiB, sextant peak"),
        "{shown}"
    );
    // Each failed attempt showed the command's output, and the whole of it is in the record.
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(
            "step 2: attempt 3: `python3 -c 'import calc; assert calc.f2() == 2'` failed (exit 1)"
        ) && stdout.contains("AssertionError"),
        "{stdout}"
    );

    // A failed run is not a dead end: `execute` tries the failed step again and goes on.
    let retry = tiny_model((2..=STEPS).map(|k| add(k, k)).collect());
    let output = execute(root, &retry, &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("failed earlier; continuing from `executing step 2`"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let log = git(root, &["log", "--format=%s"]);
    for k in 1..=STEPS {
        assert_eq!(
            log.matches(&format!("step {k}/{STEPS}:")).count(),
            1,
            "{log}"
        );
    }
}

#[test]
fn a_dry_run_prints_the_whole_diff_and_writes_nothing() {
    let dir = repo();
    let root = dir.path();
    let server = tiny_model(every_step_right());
    plan_and_approve(root, &server);
    let head = git(root, &["rev-parse", "HEAD"]);
    let output = execute(root, &server, &["--dry-run"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("+def f5():"), "{stdout}");
    assert_eq!(git(root, &["rev-parse", "HEAD"]), head);
    assert_eq!(git(root, &["branch", "--show-current"]).trim(), "main");
    // The approved plan waits, uncommitted, for the real execution.
    assert_eq!(git(root, &["status", "--porcelain"]).trim(), "?? TODO.md");
    assert!(
        !std::fs::read_to_string(root.join("calc.py"))
            .expect("calc")
            .contains("def f1")
    );
    assert!(git(root, &["worktree", "list"]).lines().count() == 1);
}

#[test]
fn execution_needs_an_approved_unchanged_plan() {
    let dir = repo();
    let root = dir.path();
    let server = tiny_model(vec![questions(), plan()]);
    stdout_of(
        sextant(root)
            .args([
                "run",
                "add five helper functions",
                "--answers",
                "answers.txt",
            ])
            .args(llm_args(&server)),
    );
    let output = execute(root, &server, &[]);
    fails_with(&output, "only an approved plan can be executed");
    stdout_of(sextant(root).arg("approve"));
    // Per-step confirmation needs someone at a terminal.
    let confirm = execute(root, &server, &["--confirm-steps"]);
    fails_with(&confirm, "needs a terminal");
    let todo = root.join("TODO.md");
    let text = std::fs::read_to_string(&todo).expect("todo");
    std::fs::write(&todo, text.replace("Add f3", "Add the third helper")).expect("write");
    let output = execute(root, &server, &[]);
    fails_with(&output, "changed since it was approved");
}

#[test]
fn a_killed_execution_resumes_at_the_interrupted_step() {
    let dir = repo();
    let root = dir.path();
    let mut stalled = add(3, 3);
    stalled.delay_ms = 60_000;
    let first = tiny_model(vec![questions(), plan(), add(1, 1), add(2, 2), stalled]);
    plan_and_approve(root, &first);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("sextant"))
        .current_dir(root)
        .env("SEXTANT_HOME", crate::support::NO_MODELS)
        .arg("execute")
        .args(llm_args(&first))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !git(root, &["log", "--format=%s"]).contains("step 2/5") {
        assert!(
            std::time::Instant::now() < deadline,
            "step 2 never committed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Killed while waiting for step 3's edits.
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().expect("kill");
    child.wait().expect("wait");
    let second = tiny_model((3..=STEPS).map(|k| add(k, k)).collect());
    let output = execute(root, &second, &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let log = git(root, &["log", "--format=%s"]);
    for k in 1..=STEPS {
        assert_eq!(
            log.matches(&format!("step {k}/{STEPS}:")).count(),
            1,
            "{log}"
        );
    }
}

#[test]
fn an_edit_outside_the_repository_is_refused_and_fed_back() {
    let dir = repo();
    let root = dir.path();
    let evil =
        Reply::text("../evil.py\n<<<<<<< SEARCH\n=======\nprint('escaped')\n>>>>>>> REPLACE\n");
    let mut replies = vec![questions(), plan(), evil, add(1, 1)];
    replies.extend((2..=STEPS).map(|k| add(k, k)));
    let server = tiny_model(replies);
    plan_and_approve(root, &server);
    let output = execute(root, &server, &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!root.parent().expect("parent").join("evil.py").exists());
    let chats = chat_bodies(&server);
    assert!(
        chats[3].contains("refused to edit ../evil.py"),
        "{}",
        chats[3]
    );
}

#[test]
fn a_declined_step_pauses_the_run_where_it_stands() {
    // `script` gives the command a terminal to be asked on (util-linux, on every Debian).
    let dir = repo();
    let root = dir.path();
    let server = tiny_model(vec![questions(), plan(), add(1, 1)]);
    plan_and_approve(root, &server);
    let mut args = vec!["execute".to_string(), "--confirm-steps".to_string()];
    args.extend(llm_args(&server));
    let (success, stdout) = crate::support::at_terminal(root, &args, "y\nn\n");
    assert!(success, "{stdout}");
    assert!(stdout.contains("paused before step 2"), "{stdout}");
    assert!(git(root, &["log", "--format=%s"]).contains("step 1/5: Add f1"));
    assert!(only_run_state(root).contains("\"executing\""));
}

#[test]
fn a_reviewed_run_is_done_once_its_branch_is_merged() {
    let dir = repo();
    let root = dir.path();
    let server = tiny_model(every_step_right());
    plan_and_approve(root, &server);
    assert!(execute(root, &server, &[]).status.success());
    let review = stdout_of(sextant(root).args(["review", "--stat"]));
    assert!(
        review.contains("reviewed:") && !review.contains("is merged"),
        "{review}"
    );
    let branch = git(root, &["branch", "--show-current"]).trim().to_string();
    git(root, &["checkout", "--quiet", "main"]);
    git(
        root,
        &["merge", "--quiet", "--no-ff", "-m", "merge", &branch],
    );
    let done = stdout_of(sextant(root).args(["review", "--stat"]));
    assert!(
        done.contains(&format!("done: {branch} is merged")),
        "{done}"
    );
    assert!(only_run_state(root).contains("\"done\""));
    let rollback = sextant(root).arg("rollback").output().expect("runs");
    fails_with(&rollback, "the run is finished");
}

#[test]
fn ctrl_c_during_a_validation_ends_everything_it_started_and_the_step_resumes() {
    let dir = repo();
    let root = dir.path();
    let pids = tempfile::tempdir().expect("tempdir");
    let pid_file = pids.path().join("bg.pid");
    // Step 1's validation starts a background process and waits for it.
    let mut plan: serde_json::Value = serde_json::from_str(&plan_reply_text()).expect("plan json");
    plan["steps"][0]["validate"] = json!(format!(
        "sleep 120 & echo $! > {}; wait",
        pid_file.display()
    ));
    let server = tiny_model(vec![questions(), Reply::text(plan.to_string()), add(1, 1)]);
    plan_and_approve(root, &server);
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("sextant"))
        .current_dir(root)
        .env("SEXTANT_HOME", crate::support::NO_MODELS)
        .arg("execute")
        .args(llm_args(&server))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let background: i32 = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            break pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the validation never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(interrupted.success());
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted (Ctrl-C)"), "{stderr}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let alive = || {
        std::path::Path::new(&format!("/proc/{background}")).exists()
            && !std::fs::read_to_string(format!("/proc/{background}/stat"))
                .unwrap_or_default()
                .contains(") Z")
    };
    while alive() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        !alive(),
        "the validation's background process {background} outlived Ctrl-C"
    );
    // The step's edits were undone; the run resumes at step 1.
    assert!(git(root, &["status", "--porcelain"]).trim().is_empty());
    assert!(
        only_run_state(root).contains("\"executing\""),
        "{}",
        only_run_state(root)
    );
}

/// Executes the approved plan to its end; every request sent, and step 1's.
fn execute_to_the_end(root: &Path, server: &ReplayServer) -> (Vec<String>, String) {
    let output = execute(root, server, &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let chats = chat_bodies(server);
    let step = chats
        .iter()
        .find(|c| c.contains("Step 1/5"))
        .expect("step 1 request")
        .clone();
    (chats, step)
}

/// A repository where `calc.py` uses a definition of `fmt.py` and is used by `report.py` and
/// by `deploy.py`, which holds a token.
fn linked_repo(token: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let files = [
        (
            "calc.py",
            "\"\"\"Small calculator.\"\"\"\nfrom fmt import money\n\n\ndef total(items):\n    \"\"\"The sum of the items, as a price.\"\"\"\n    return money(sum(items))\n\n\n# end\n".to_string(),
        ),
        (
            "fmt.py",
            "def money(cents):\n    \"\"\"Cents as a price.\"\"\"\n    return f\"{cents / 100:.2f}\"\n".to_string(),
        ),
        (
            "report.py",
            "from calc import total\n\n\ndef monthly_report(rows):\n    \"\"\"The month's total, for the report.\"\"\"\n    return 'total: ' + total(rows)\n".to_string(),
        ),
        (
            "deploy.py",
            format!("from calc import total\n\nTOKEN = \"{token}\"\n\n\ndef charge():\n    return total([1])\n"),
        ),
        ("answers.txt", "plain functions\nno\n".to_string()),
    ];
    for (path, text) in files {
        std::fs::write(root.join(path), text).expect("write");
    }
    git(root, &["init", "--quiet", "-b", "main"]);
    git(root, &["add", "."]);
    git(root, &["commit", "--quiet", "-m", "start"]);
    stdout_of(sextant(root).args(["index", "--quiet"]));
    dir
}

#[test]
fn a_step_sees_the_callers_of_what_it_changes_and_the_definitions_it_uses() {
    let token = format!("{}_{}", "ghp", "Zk3Qw8RtYu1Io9Pa2Sd4Fg6Hj7Kl0Zx5Cv3B");
    let dir = linked_repo(&token);
    let root = dir.path();
    let server = tiny_model(every_step_right());
    plan_and_approve(root, &server);
    // The graph's affected parts name both users of calc.py before approval.
    let todo = std::fs::read_to_string(root.join("TODO.md")).expect("todo");
    assert!(
        todo.contains("- report.py: line 1 imports calc.py; line 6 calls calc.py::total")
            && todo.contains("- deploy.py: "),
        "{todo}"
    );
    let (chats, step) = execute_to_the_end(root, &server);
    // The caller in another file, as the region of the function that calls, and the
    // signature of what calc.py calls.
    assert!(
        step.contains("report.py lines 4-6 (calls calc.py::total)")
            && step.contains("return 'total: ' + total(rows)"),
        "{step}"
    );
    assert!(step.contains("- fmt.py:1 def money(cents)"), "{step}");
    // The other caller holds a token: it is never shown, in any request.
    assert!(
        chats.iter().all(|c| !c.contains(&token)),
        "a secret reached the model"
    );
    assert!(!step.contains("def charge"), "{step}");
    // The record keeps what each stage was given; review and stats show it.
    let review = stdout_of(sextant(root).arg("review"));
    assert!(
        review.contains("code sent to the model, per stage:"),
        "{review}"
    );
    assert!(
        review.contains("execute-1: ") && review.contains("report.py (region 4-6)"),
        "{review}"
    );
    assert!(review.contains("deploy.py (withheld"), "{review}");
    let stats = stdout_of(sextant(root).arg("stats"));
    assert!(
        stats.contains("execute: code sent to the model: median")
            && stats.contains("packed 5 times for 5 calls"),
        "{stats}"
    );
}

#[test]
fn a_file_too_large_to_show_whole_is_shown_as_its_outline_and_the_definitions_the_step_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let mut calc = String::from(
        "\"\"\"Small calculator.\"\"\"\n\n\ndef f1():\n    \"\"\"The first helper, not written yet.\"\"\"\n    return 0\n\n\n",
    );
    for i in 0..1500 {
        calc.push_str(&format!("def filler_{i}():\n    return {i}\n\n\n"));
    }
    calc.push_str("# end\n");
    assert!(calc.len() > 40_000);
    std::fs::write(root.join("calc.py"), calc).expect("write");
    std::fs::write(root.join("answers.txt"), "plain functions\nno\n").expect("write");
    git(root, &["init", "--quiet", "-b", "main"]);
    git(root, &["add", "."]);
    git(root, &["commit", "--quiet", "-m", "start"]);
    stdout_of(sextant(root).args(["index", "--quiet"]));
    let server = tiny_model(every_step_right());
    plan_and_approve(root, &server);
    let (_, step) = execute_to_the_end(root, &server);
    assert!(
        step.contains("calc.py is too large to show whole"),
        "{step}"
    );
    assert!(step.contains("6005: def filler_1499()"), "{step}");
    assert!(
        step.contains("calc.py lines 4-6 (f1):")
            && step.contains("The first helper, not written yet."),
        "{step}"
    );
    assert!(
        !step.contains("def filler_700():\\n    return 700"),
        "the whole file was sent"
    );
}

/// A step whose prompt the model's own tokenizer finds longer than its context (one token per
/// 1.5 bytes, far more than sextant's BPE counts) is never sent as is: the step's code is
/// packed again smaller and the call made again; the record keeps both packings and every
/// call, and the run still ends with every step committed.
#[test]
fn a_step_prompt_too_long_for_the_models_tokenizer_is_packed_again_smaller() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let mut calc = String::from("\"\"\"Small calculator.\"\"\"\n\n\n");
    for i in 0..600 {
        calc.push_str(&format!("def filler_{i}():\n    return {i}\n\n\n"));
    }
    calc.push_str("# end\n");
    std::fs::write(root.join("calc.py"), calc).expect("write");
    std::fs::write(root.join("answers.txt"), "plain functions\nno\n").expect("write");
    git(root, &["init", "--quiet", "-b", "main"]);
    git(root, &["add", "."]);
    git(root, &["commit", "--quiet", "-m", "start"]);
    stdout_of(sextant(root).args(["index", "--quiet"]));
    let server = ReplayServer::start(sextant::llm::replay::Script {
        models: vec!["tiny".into()],
        replies: every_step_right(),
        bytes_per_token: Some(1.5),
        ..Default::default()
    })
    .expect("replay server");
    let (context, reply) = (12_000, 1024);
    let sized = |command: &mut assert_cmd::Command| {
        command
            .args(llm_args(&server))
            .args(["--context-size", &context.to_string()])
            .args(["--max-tokens", &reply.to_string()]);
    };
    let mut run = sextant(root);
    run.args([
        "run",
        "add five helper functions",
        "--answers",
        "answers.txt",
    ]);
    sized(&mut run);
    stdout_of(&mut run);
    stdout_of(sextant(root).arg("approve"));
    let mut execute = sextant(root);
    execute.arg("execute");
    sized(&mut execute);
    let output = execute.output().expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let chats = chat_bodies(&server);
    assert_fit_scripted_context(&chats, 1.5, context, reply);
    let record = only_run_record_json(root);
    let packed = packings(&record);
    assert!(
        packed.iter().any(|p| p == "execute-1 (shrunk 1)"),
        "{packed:?}"
    );
    let calls = record["calls"].as_array().expect("calls");
    let step_one: Vec<(&str, &str)> = calls
        .iter()
        .filter(|c| c["stage"] == "execute-1")
        .map(|c| {
            (
                c["context"].as_str().unwrap_or(""),
                c["outcome"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        step_one.first(),
        Some(&("execute-1", "prompt_too_long")),
        "{calls:?}"
    );
    assert_eq!(step_one.last().map(|c| c.1), Some("ok"), "{calls:?}");
    let review = stdout_of(sextant(root).arg("review"));
    assert!(
        review.contains("execute-1 (shrunk 1): ") && review.contains("call execute-1: prompt "),
        "{review}"
    );
}
