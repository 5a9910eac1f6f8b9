//! The agent's safety boundary under attack (issue 17): each test replays an attack that broke
//! the boundary when a tester attacked it from outside (their repro scripts), with the model
//! played by the scripted server. Canary secrets are built at run time.

use std::path::Path;

use serde_json::json;
use sextant::llm::replay::{ReplayServer, Reply};

use crate::support::{fails_with, git, impact, sextant, stdout_of, tiny_model, tiny_model_args};

const QUESTIONS: &str = r#"{"questions":[{"question":"Should the helper be a plain function or a method of the App class?","decision":"shape","options":["plain function","method"]},{"question":"What should the helper return for a negative input value?","decision":"negative input","options":["raise ValueError","return zero"]}]}"#;

/// A committed repository with `app.py` (and `extra` files), indexed, answers outside it.
fn repo(extra: &[(&str, &str)]) -> (tempfile::TempDir, tempfile::NamedTempFile) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::write(root.join("app.py"), "def f():\n    return 1\n\n# end\n").expect("write");
    for (path, text) in extra {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    git(root, &["init", "--quiet", "-b", "main"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "--quiet", "-m", "init"]);
    stdout_of(sextant(root).args(["index", "--quiet"]));
    let answers = tempfile::NamedTempFile::new().expect("answers");
    std::fs::write(answers.path(), "plain function\nraise ValueError\n").expect("write");
    (dir, answers)
}

/// Five steps on `app.py` (`first` overrides step 1's validation and files).
fn plan(first_validate: &str, first_files: &[&str]) -> Reply {
    let steps: Vec<serde_json::Value> = (1..=5)
        .map(|i| {
            json!({
                "title": format!("Add helper number {i}"),
                "files": if i == 1 { json!(first_files) } else { json!(["app.py"]) },
                "new_files": [],
                "tests": [],
                "validate": if i == 1 { first_validate } else { "true" },
                "rollback": "revert this step's commit"
            })
        })
        .collect();
    Reply::text(
        json!({"steps": steps, "impact": impact("Only app.py changes; revert the branch to roll back.")})
            .to_string(),
    )
}

fn app_edit(n: usize) -> Reply {
    Reply::text(format!(
        "app.py\n<<<<<<< SEARCH\n# end\n=======\ndef h{n}():\n    return {n}\n\n# end\n>>>>>>> REPLACE\n"
    ))
}

fn plan_and_approve(root: &Path, answers: &Path, server: &ReplayServer, task: &str) {
    stdout_of(
        sextant(root)
            .args(["run", task, "--answers"])
            .arg(answers)
            .args(tiny_model_args(server)),
    );
    stdout_of(sextant(root).arg("approve"));
}

fn execute(root: &Path, server: &ReplayServer) -> std::process::Output {
    sextant(root)
        .arg("execute")
        .args(tiny_model_args(server))
        .output()
        .expect("runs")
}

fn sent(server: &ReplayServer) -> String {
    server
        .requests()
        .iter()
        .map(|r| r.body.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn github_token() -> String {
    format!("{}_{}", "ghp", "Zk3Qw8RtYu1Io9Pa2Sd4Fg6Hj7Kl0Zx5Cv3B")
}

#[test]
fn a_committed_index_directory_link_out_is_refused() {
    let outside = tempfile::tempdir().expect("tempdir");
    std::fs::write(outside.path().join(".gitignore"), "ORIGINAL\n").expect("write");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::write(root.join("app.py"), "x = 1\n").expect("write");
    std::os::unix::fs::symlink(outside.path(), root.join(".sextant")).expect("symlink");
    let output = sextant(root).arg("index").output().expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("is a symbolic link"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(outside.path().join(".gitignore")).expect("read"),
        "ORIGINAL\n"
    );
    // A link inside the index directory (run records pointed out) is refused too.
    std::fs::remove_file(root.join(".sextant")).expect("rm");
    stdout_of(sextant(root).args(["index", "--quiet"]));
    std::os::unix::fs::symlink(outside.path(), root.join(".sextant/runs")).expect("symlink");
    let output = sextant(root)
        .args(["run", "add a helper"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(std::fs::read_dir(outside.path()).expect("dir").count(), 1);
}

#[test]
fn escape_sequences_from_the_model_never_reach_the_terminal() {
    let (dir, answers) = repo(&[]);
    let root = dir.path();
    let hidden = QUESTIONS.replace("App class?", "App class?\\u001b[8m");
    let server = tiny_model(vec![Reply::text(hidden), plan("true", &["app.py"])]);
    let output = sextant(root)
        .args(["run", "add a helper", "--answers"])
        .arg(answers.path())
        .args(tiny_model_args(&server))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "raw escape on stderr: {stderr:?}"
    );
    assert!(stderr.contains("\\u{1b}[8m"), "{stderr}");
}

#[test]
fn the_plan_cannot_be_changed_by_an_edit_or_after_a_failure() {
    let (dir, answers) = repo(&[]);
    let root = dir.path();
    // Step 1's edits rewrite the plan through `./TODO.md` (step 1's validation becomes a
    // command nobody approved); then the model server fails at step 2.
    let rewrite = Reply::text(
        "./TODO.md\n<<<<<<< SEARCH\n### 2. [ ] Add helper number 2\n=======\n### 2. [ ] Add helper number 2\n- Validate: `touch pwned`\n>>>>>>> REPLACE\n",
    );
    let server = tiny_model(vec![
        Reply::text(QUESTIONS),
        plan("true", &["app.py"]),
        rewrite,
        app_edit(1),
    ]);
    plan_and_approve(root, answers.path(), &server, "add helpers");
    let output = execute(root, &server);
    assert_eq!(
        output.status.code(),
        Some(1),
        "the script runs out at step 2"
    );
    assert!(
        sent(&server).contains("./TODO.md is the plan: a step never edits it"),
        "{}",
        sent(&server)
    );
    // After the failure, the user (or anything else) edits a later step's command.
    let todo = std::fs::read_to_string(root.join("TODO.md")).expect("todo");
    let changed = todo.replacen("- Validate: `true`", "- Validate: `touch pwned`", 2);
    std::fs::write(root.join("TODO.md"), &changed).expect("write");
    let retry = tiny_model((2..=5).map(app_edit).collect());
    let refused = execute(root, &retry);
    fails_with(&refused, "uncommitted changes");
    // Committed on the branch, it still is not the approved plan.
    git(root, &["commit", "--quiet", "-am", "edit the plan"]);
    let refused = execute(root, &retry);
    fails_with(
        &refused,
        "no longer matches the approved plan (step 1 changed)",
    );
    assert!(!root.join("pwned").exists());
}

#[test]
fn two_executions_of_one_run_never_run_at_once() {
    let (dir, answers) = repo(&[]);
    let root = dir.path();
    let mut slow = app_edit(1);
    slow.delay_ms = 3_000;
    let server = tiny_model(vec![
        Reply::text(QUESTIONS),
        plan("true", &["app.py"]),
        slow,
        app_edit(2),
        app_edit(3),
        app_edit(4),
        app_edit(5),
    ]);
    plan_and_approve(root, answers.path(), &server, "add helpers");
    let first = std::process::Command::new(assert_cmd::cargo::cargo_bin("sextant"))
        .current_dir(root)
        .env("SEXTANT_HOME", crate::support::NO_MODELS)
        .arg("execute")
        .args(tiny_model_args(&server))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while server.requests().len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "never asked for step 1"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let second = execute(root, &server);
    fails_with(&second, "in use by another sextant command");
    let first = first.wait_with_output().expect("wait");
    assert!(first.status.success());
    let app = std::fs::read_to_string(root.join("app.py")).expect("app");
    assert_eq!(app.matches("def h1").count(), 1, "{app}");
}

#[test]
fn secrets_do_not_leave_through_outputs_history_the_task_or_ignored_files() {
    let token = github_token();
    let (dir, answers) = repo(&[
        ("check.py", "import app\nassert app.f() == 1\n"),
        (".gitignore", ".env\nprivate/\n"),
    ]);
    let root = dir.path();
    std::fs::write(root.join(".env"), format!("GITHUB_TOKEN={token}\n")).expect("write");
    std::fs::create_dir_all(root.join("private")).expect("mkdir");
    std::fs::write(
        root.join("private/notes.txt"),
        "private notes: the canary-4711\n",
    )
    .expect("write");
    // A tracked link to an ignored file; a token in a file name.
    std::fs::create_dir_all(root.join("docs")).expect("mkdir");
    std::os::unix::fs::symlink("../private/notes.txt", root.join("docs/link.txt"))
        .expect("symlink");
    std::fs::write(
        root.join(format!("helper_{token}.py")),
        "def rotate_helper_token():\n    return 1\n",
    )
    .expect("write");
    git(root, &["add", "-A"]);
    // A commit message holding the token (pasted by mistake), similar to the task.
    std::fs::write(root.join("app.py"), "def f():\n    return 1\n\n\n# end\n").expect("write");
    git(
        root,
        &[
            "commit",
            "--quiet",
            "-am",
            &format!("rotate helper token {token}"),
        ],
    );
    stdout_of(sextant(root).args(["index", "--quiet"]));
    let why = stdout_of(sextant(root).args(["why-relevant", "rotate helper token", "--json"]));
    assert!(!why.contains(&token), "{why}");

    // The task itself holding a secret is refused before anything is sent.
    let refused = sextant(root)
        .args(["run", &format!("use {token} for the helper")])
        .output()
        .expect("runs");
    fails_with(&refused, "the task holds what looks like a secret");

    // A validation whose output prints `.env`; a step naming a git-ignored file.
    let leak = Reply::text(
        "check.py\n<<<<<<< SEARCH\nassert app.f() == 1\n=======\nassert app.f() == 1\nprint(open('.env').read())\nraise SystemExit(1)\n>>>>>>> REPLACE\n",
    );
    let server = tiny_model(vec![
        Reply::text(QUESTIONS),
        plan(
            "python3 check.py",
            &["check.py", "private/notes.txt", "docs/link.txt"],
        ),
        leak.clone(),
        leak.clone(),
        leak,
    ]);
    plan_and_approve(root, answers.path(), &server, "rotate helper token");
    let output = execute(root, &server);
    assert_eq!(output.status.code(), Some(1));
    let sent = sent(&server);
    assert!(!sent.contains(&token), "a secret reached the model");
    assert!(
        !sent.contains("canary-4711"),
        "an ignored file reached the model"
    );
    assert!(
        sent.contains("private/notes.txt is withheld: git ignores it"),
        "{sent}"
    );
    assert!(
        sent.contains("docs/link.txt is withheld: git ignores it"),
        "{sent}"
    );
    assert!(
        sent.contains("(withheld: line 1 of the output holds a secret"),
        "{sent}"
    );
}

#[test]
fn a_step_cannot_rewrite_sextants_configuration() {
    let (dir, answers) = repo(&[]);
    let root = dir.path();
    let config = Reply::text(
        "sextant.toml\n<<<<<<< SEARCH\n=======\n[llm]\nbase_url = \"http://127.0.0.1:9\"\n>>>>>>> REPLACE\n",
    );
    let mut replies = vec![Reply::text(QUESTIONS), plan("true", &["app.py"]), config];
    replies.extend((1..=5).map(app_edit));
    let server = tiny_model(replies);
    plan_and_approve(root, answers.path(), &server, "add helpers");
    let output = execute(root, &server);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!root.join("sextant.toml").exists());
    assert!(sent(&server).contains("sextant.toml is sextant's configuration"));
}

#[test]
fn a_step_whose_commit_fails_is_undone_and_runs_again() {
    let (dir, answers) = repo(&[]);
    let root = dir.path();
    // The user's commit-msg hook refuses step 1's commit (which passed its validation).
    let hook = root.join(".git/hooks/commit-msg");
    std::fs::write(
        &hook,
        "#!/bin/sh\nif grep -q '^step 1/' \"$1\"; then echo refused by the hook >&2; exit 1; fi\n",
    )
    .expect("hook");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let server = tiny_model(vec![
        Reply::text(QUESTIONS),
        plan("true", &["app.py"]),
        app_edit(1),
    ]);
    plan_and_approve(root, answers.path(), &server, "add helpers");
    let output = execute(root, &server);
    fails_with(&output, "could not be committed; it was undone");
    // Ticked but not committed would have made the next run skip step 1.
    assert!(git(root, &["status", "--porcelain"]).trim().is_empty());
    std::fs::remove_file(&hook).expect("rm hook");
    let retry = tiny_model((1..=5).map(app_edit).collect());
    let output = execute(root, &retry);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let log = git(root, &["log", "--format=%s"]);
    for k in 1..=5 {
        assert!(log.contains(&format!("step {k}/5")), "{log}");
    }
}

#[test]
fn a_run_that_was_never_approved_never_executes_whatever_run_json_says() {
    let (dir, answers) = repo(&[]);
    let root = dir.path();
    let server = tiny_model(vec![
        Reply::text(QUESTIONS),
        plan("touch pwned", &["app.py"]),
    ]);
    stdout_of(
        sextant(root)
            .args(["run", "add helpers", "--answers"])
            .arg(answers.path())
            .args(tiny_model_args(&server)),
    );
    // Tampered: executing step 1, with the plan committed so the tree is clean.
    let state = crate::support::only_run_record(root);
    let text = std::fs::read_to_string(&state).expect("run.json");
    let mut tampered: serde_json::Value = serde_json::from_str(&text).expect("json");
    tampered["state"] = json!({"state": "executing", "step": 1});
    std::fs::write(&state, tampered.to_string()).expect("write");
    git(root, &["add", "TODO.md"]);
    git(root, &["commit", "--quiet", "-m", "plan"]);
    let output = execute(root, &tiny_model((1..=5).map(app_edit).collect()));
    fails_with(&output, "was never approved");
    assert!(!root.join("pwned").exists());
}

#[test]
fn step_titles_are_escaped_at_the_confirmation_prompt() {
    let (dir, answers) = repo(&[]);
    let root = dir.path();
    let mut plan_reply: serde_json::Value =
        serde_json::from_str(&plan("true", &["app.py"]).content).expect("json");
    plan_reply["steps"][0]["title"] = json!("Add helper number 1 \u{1b}[8m");
    let server = tiny_model(vec![
        Reply::text(QUESTIONS),
        Reply::text(plan_reply.to_string()),
    ]);
    plan_and_approve(root, answers.path(), &server, "add helpers");
    let mut args = vec!["execute".to_string(), "--confirm-steps".to_string()];
    args.extend(tiny_model_args(&server));
    let (_, shown) = crate::support::at_terminal(root, &args, "n\n");
    assert!(shown.contains("run it? [y/N]"), "{shown}");
    assert!(
        !shown.contains('\u{1b}'),
        "raw escape at the terminal: {shown:?}"
    );
}
