//! The corruption matrix (issue 16): every file sextant keeps in `.sextant/`, truncated, with
//! bytes flipped, or deleted. The next query answers as before or fails with a clear message
//! that says what repairs it — never a panic, an abort, a silent exit or a silently wrong
//! answer — and the next `index` repairs the damage, after which every answer is as before.

use std::path::{Path, PathBuf};

use crate::support::{Damage, copy_fixture, damage, git, sextant, stdout_of};

/// What a user sees: the three kinds of answers, as exit code and stdout.
fn answers(root: &Path) -> Vec<(Option<i32>, String, String)> {
    let queries: [&[&str]; 3] = [
        &["search", "Verifier", "--json"],
        &["graph", "callers", "getToken", "--json"],
        &["why-relevant", "verify the token signature", "--json"],
    ];
    queries
        .iter()
        .map(|args| {
            let output = sextant(root).args(*args).output().expect("runs");
            let mut stdout = String::from_utf8_lossy(&output.stdout).into_owned();
            if args[0] == "why-relevant" {
                // Only the files and their order; timings differ from run to run.
                let report: serde_json::Value =
                    serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
                stdout = report["files"]
                    .as_array()
                    .map(|files| {
                        files
                            .iter()
                            .map(|f| f["path"].to_string())
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_default();
            }
            (
                output.status.code(),
                stdout,
                String::from_utf8_lossy(&output.stderr).into_owned(),
            )
        })
        .collect()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn copy_tree(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    for file in files_under(from) {
        let target = to.join(file.strip_prefix(from).expect("inside"));
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&file, &target).expect("copy");
    }
}

#[test]
fn every_damaged_index_file_gives_a_clear_message_or_the_right_answer_and_index_repairs_it() {
    let repo = copy_fixture("polyglot");
    let root = repo.path();
    git(root, &["init", "-q", "-b", "main"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "polyglot"]);
    stdout_of(sextant(root).args(["index", "--quiet", "--vectors", "off"]));
    // An incremental update too, so the index has deletes, two segments and a second
    // generation, as indexes in use do.
    let auth = root.join("server/src/auth.rs");
    let mut text = std::fs::read_to_string(&auth).expect("read");
    text.push_str("\n// reviewed\n");
    std::fs::write(&auth, text).expect("write");
    stdout_of(sextant(root).args(["index", "--quiet", "--vectors", "off"]));
    let pristine = answers(root);
    assert!(
        pristine.iter().all(|(code, ..)| *code == Some(0)),
        "{pristine:?}"
    );
    let index = root.join(".sextant");
    let scratch = tempfile::tempdir().expect("scratch");
    let backup = scratch.path().join("backup");
    copy_tree(&index, &backup);

    // Every kind of file once: the segment with deletes stands for every segment (the other
    // has the same kinds of files), which keeps the matrix within CI's time.
    let files = files_under(&backup);
    let segment_with_deletes = files
        .iter()
        .filter_map(|f| {
            f.file_name()?
                .to_str()?
                .strip_suffix(".del")
                .map(str::to_string)
        })
        .filter_map(|name| name.split('.').next().map(str::to_string))
        .next()
        .expect("an incremental update leaves a .del file");
    let mut outcomes: std::collections::BTreeMap<String, usize> = Default::default();
    for file in files {
        let name = file
            .strip_prefix(&backup)
            .expect("inside")
            .display()
            .to_string();
        let file_name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let segment_file =
            file_name.len() > 32 && file_name[..32].chars().all(|c| c.is_ascii_hexdigit());
        if segment_file && !file_name.starts_with(&segment_with_deletes) {
            continue;
        }
        for how in [Damage::Truncate, Damage::FlipBytes, Damage::Delete] {
            copy_tree(&backup, &index);
            if !damage(&index.join(&name), how) {
                continue;
            }
            let case = format!("{how:?} {name}");
            for (query, (after, before)) in answers(root).iter().zip(&pristine).enumerate() {
                let (code, stdout, stderr) = after;
                match code {
                    Some(0) => {
                        let outcome = if stdout == &before.1 {
                            "answered as before"
                        } else {
                            assert!(
                                stderr.contains("warning: ranking without")
                                    && stderr.contains("sextant index"),
                                "{case}, query {query}: a different answer must say why\n{stdout}\n{stderr}"
                            );
                            "answered without a damaged signal, saying so"
                        };
                        *outcomes.entry(outcome.to_string()).or_default() += 1;
                    }
                    Some(1) => {
                        assert!(
                            stderr.contains("sextant index"),
                            "{case}, query {query}: the message says what repairs it\n{stderr}"
                        );
                        *outcomes
                            .entry("refused with a repair hint".into())
                            .or_default() += 1;
                    }
                    other => panic!("{case}, query {query}: exit {other:?}\n{stderr}"),
                }
            }
            let repaired = sextant(root)
                .args(["index", "--ci", "--vectors", "off"])
                .output()
                .expect("runs");
            assert_eq!(
                repaired.status.code(),
                Some(0),
                "{case}: index repairs: {}",
                String::from_utf8_lossy(&repaired.stderr)
            );
            let after = answers(root);
            for (query, (now, before)) in after.iter().zip(&pristine).enumerate() {
                assert_eq!(
                    (now.0, &now.1),
                    (before.0, &before.1),
                    "{case}, query {query} after the repair: {}",
                    now.2
                );
            }
        }
    }
    eprintln!("corruption matrix: {outcomes:?}");
}
