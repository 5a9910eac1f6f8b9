//! The README's flow on a repository that never met sextant (issue 17): no `.gitignore`, an
//! executable check script, answers kept outside the repository. `index` → `run` → `approve`
//! → `execute` (five steps, one of them editing the script that validates it) → `review`,
//! against the scripted model server, with what the user sees checked at every stage.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::json;
use sextant::llm::replay::Reply;

use crate::support::{git, impact, sextant, stdout_of, tiny_model, tiny_model_args};

const TASK: &str = "add unit conversion helpers";

/// A small Python project, committed, with nothing prepared for sextant.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::write(
        root.join("units.py"),
        "\"\"\"Unit conversions.\"\"\"\n\n\ndef km_to_m(km):\n    return km * 1000\n\n\n# end\n",
    )
    .expect("write");
    std::fs::write(
        root.join("check.sh"),
        "#!/bin/sh\nset -e\npython3 -c 'import units; assert units.km_to_m(2) == 2000'\n",
    )
    .expect("write");
    std::fs::set_permissions(
        root.join("check.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    git(root, &["init", "--quiet", "-b", "main"]);
    git(root, &["add", "."]);
    git(root, &["commit", "--quiet", "-m", "units"]);
    dir
}

fn step(title: &str, files: &[&str], validate: &str) -> serde_json::Value {
    json!({
        "title": title,
        "files": files,
        "new_files": [],
        "tests": [],
        "validate": validate,
        "rollback": "revert this step's commit"
    })
}

fn helper_edit(name: &str, body: &str) -> Reply {
    Reply::text(format!(
        "units.py\n<<<<<<< SEARCH\n# end\n=======\ndef {name}(x):\n    return {body}\n\n\n# end\n>>>>>>> REPLACE\n"
    ))
}

fn script_edit(line: &str) -> Reply {
    Reply::text(format!(
        "check.sh\n<<<<<<< SEARCH\npython3 -c 'import units; assert units.km_to_m(2) == 2000'\n=======\npython3 -c 'import units; assert units.km_to_m(2) == 2000'\n{line}\n>>>>>>> REPLACE\n"
    ))
}

#[test]
fn the_readme_flow_works_on_a_fresh_repository() {
    let dir = project();
    let root = dir.path();
    let outside = tempfile::tempdir().expect("tempdir");
    let answers = outside.path().join("answers.txt");
    std::fs::write(&answers, "plain functions\nraise ValueError\n").expect("write");

    let server = tiny_model(vec![
        Reply::text(
            json!({"questions": [
                {"question": "Should the helpers be plain functions or methods of a Units class?",
                 "decision": "shape", "options": ["plain functions", "a Units class"]},
                {"question": "What should a helper do with a negative distance?",
                 "decision": "negative input", "options": ["raise ValueError", "return it unchanged"]}
            ]})
            .to_string(),
        ),
        Reply::text(
            json!({
                "steps": [
                    step("Add m_to_km", &["units.py"], "python3 -c 'import units; assert units.m_to_km(2000) == 2'"),
                    step("Add km_to_mi", &["units.py"], "python3 -c 'import units; assert round(units.km_to_mi(1.609344)) == 1'"),
                    step("Check the new helpers in check.sh", &["check.sh"], "./check.sh"),
                    step("Add mi_to_km", &["units.py"], "python3 -c 'import units; assert units.mi_to_km(1) == 1.609344'"),
                    step("Add m_to_cm", &["units.py"], "python3 -c 'import units; assert units.m_to_cm(1) == 100'"),
                ],
                "impact": impact("units.py gains helpers and check.sh checks them; nothing else imports units. Roll back by reverting the branch.")
            })
            .to_string(),
        ),
        helper_edit("m_to_km", "x / 1000"),
        helper_edit("km_to_mi", "x / 1.609344"),
        // Step 3: the first attempt breaks the script (the check fails with a message the user
        // must see); the second fixes it.
        script_edit("python3 -c 'import units; assert units.m_to_km(1) == 1, \"CHECK FAILED: m_to_km(1)\"'"),
        script_edit("python3 -c 'import units; assert units.m_to_km(1000) == 1'"),
        helper_edit("mi_to_km", "x * 1.609344"),
        helper_edit("m_to_cm", "x * 100"),
    ]);
    let llm = tiny_model_args(&server);

    // 1. index: the index directory ignores itself, wherever it lives.
    stdout_of(sextant(root).args(["index", "--quiet"]));
    assert_eq!(
        git(root, &["status", "--porcelain"]),
        "",
        "the index is not a change"
    );

    // 2. run: questions, answers, a plan in TODO.md — not committed on the user's branch.
    let planned = stdout_of(
        sextant(root)
            .args(["run", TASK, "--answers"])
            .arg(&answers)
            .args(&llm),
    );
    assert!(planned.contains("planned 5 steps in TODO.md"), "{planned}");
    assert_eq!(git(root, &["log", "--format=%s"]).trim(), "units");

    // 3. approve.
    let approved = stdout_of(sextant(root).arg("approve"));
    assert!(approved.contains("approved 5 steps"), "{approved}");

    // 4. execute: the first execute after the README's own steps works.
    let output = sextant(root)
        .arg("execute")
        .args(&llm)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    // The failed attempt says what failed, with the command's own output.
    assert!(
        stdout.contains("step 3: attempt 1: `./check.sh` failed (exit 1)")
            && stdout.contains("CHECK FAILED: m_to_km(1)"),
        "{stdout}"
    );
    assert!(stdout.contains("all 5 steps done"), "{stdout}");
    // The script kept its executable bit through the edit, in the tree and in git.
    let mode = std::fs::metadata(root.join("check.sh"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    assert!(
        git(root, &["ls-files", "-s", "check.sh"]).starts_with("100755"),
        "{}",
        git(root, &["ls-files", "-s", "check.sh"])
    );
    let branch = git(root, &["branch", "--show-current"]);
    assert!(branch.starts_with("sextant/"), "{branch}");
    let log: Vec<String> = git(root, &["log", "--reverse", "--format=%s", "main..HEAD"])
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(log[0], format!("sextant: plan for {TASK}"), "{log:?}");
    assert_eq!(log.len(), 6, "{log:?}");
    assert_eq!(git(root, &["log", "--format=%s", "main"]).trim(), "units");
    let todo = std::fs::read_to_string(root.join("TODO.md")).expect("todo");
    assert_eq!(todo.matches("[x]").count(), 5, "{todo}");
    // The whole output of the failed validation stays in the run record.
    let record = std::fs::read_to_string(
        crate::support::only_run_record(root).with_file_name("record.json"),
    )
    .expect("record");
    assert!(record.contains("CHECK FAILED: m_to_km(1)"), "{record}");

    // 5. review.
    let review = stdout_of(sextant(root).arg("review"));
    assert!(
        review.contains("[x] 3. Check the new helpers in check.sh"),
        "{review}"
    );
    assert!(review.contains("+def m_to_cm(x):"), "{review}");
    let status = stdout_of(sextant(root).args(["status", "--no-scan"]));
    assert!(status.contains("reviewed"), "{status}");
    assert_eq!(git(root, &["status", "--porcelain"]), "");
    assert_eq!(
        std::fs::read_to_string(outside.path().join("answers.txt")).expect("answers"),
        "plain functions\nraise ValueError\n"
    );
    let calc = git(root, &["show", "HEAD:units.py"]);
    assert!(Path::new(root).join("units.py").exists() && calc.contains("def mi_to_km(x):"));
}
