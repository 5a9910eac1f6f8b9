//! Running git: the one place sextant shells out to it.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use anyhow::{Context, bail};

/// Runs `git -C repo ARGS` and returns everything it printed and its status, success or not:
/// for callers that can use what git wrote before it failed.
pub fn git_output(repo: &Path, args: &[&str]) -> anyhow::Result<Output> {
    Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .context("running git")
}

/// Runs `git -C repo ARGS` and returns its stdout; a failure carries git's stderr.
pub fn git(repo: &Path, args: &[&str]) -> anyhow::Result<String> {
    let output = git_output(repo, args)?;
    if !output.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs `git -C repo ARGS` as the author sextant commits under (`sextant
/// <sextant@localhost>`), so its commits, reverts and plan commits work in a repository
/// without a configured identity.
pub fn git_as_sextant(repo: &Path, args: &[&str]) -> anyhow::Result<String> {
    let mut all = vec![
        "-c",
        "user.name=sextant",
        "-c",
        "user.email=sextant@localhost",
    ];
    all.extend_from_slice(args);
    git(repo, &all)
}

/// Whether git ignores `path` (relative to `repo`): an untracked file matched by
/// `.gitignore`, `.git/info/exclude` or the global excludes. Tracked files are never ignored.
pub fn is_ignored(repo: &Path, path: &str) -> bool {
    succeeds(repo, &["check-ignore", "--quiet", "--", path])
}

/// Whether `git -C repo ARGS` ran and exited 0: for git's yes/no questions (`merge-base
/// --is-ancestor`, `diff --quiet`, `check-ignore`). Git failing to run counts as no.
pub fn succeeds(repo: &Path, args: &[&str]) -> bool {
    git_output(repo, args).is_ok_and(|output| output.status.success())
}

/// Writes the tree of `commit` into `out` (works on bare repositories; blobs the repository
/// lacks, such as files left out of a partial snapshot, are skipped). Returns the paths written.
pub fn materialize(repo: &Path, commit: &str, out: &Path) -> anyhow::Result<BTreeSet<String>> {
    let listing = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["ls-tree", "-r", "-z", commit])
        .output()?;
    if !listing.status.success() {
        bail!(
            "git ls-tree {commit} failed: {}",
            String::from_utf8_lossy(&listing.stderr).trim()
        );
    }
    let mut blobs = Vec::new();
    for entry in listing.stdout.split(|&b| b == 0).filter(|e| !e.is_empty()) {
        let Some(tab) = entry.iter().position(|&b| b == b'\t') else {
            continue;
        };
        let meta = String::from_utf8_lossy(&entry[..tab]);
        let path = String::from_utf8_lossy(&entry[tab + 1..]).into_owned();
        let fields: Vec<&str> = meta.split(' ').collect();
        if fields.len() == 3
            && fields[1] == "blob"
            && (fields[0] == "100644" || fields[0] == "100755")
        {
            blobs.push((fields[2].to_string(), path));
        }
    }
    let mut child = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("running git cat-file")?;
    let mut input = child.stdin.take().context("git stdin")?;
    let mut output = BufReader::new(child.stdout.take().context("git stdout")?);
    let mut written = BTreeSet::new();
    for (oid, path) in blobs {
        writeln!(input, "{oid}")?;
        input.flush()?;
        let mut header = String::new();
        output.read_line(&mut header)?;
        let parts: Vec<&str> = header.split_whitespace().collect();
        if parts.len() < 3 {
            continue;
        }
        let size: usize = parts[2].parse().context("blob size")?;
        let mut data = vec![0; size + 1];
        output.read_exact(&mut data)?;
        data.truncate(size);
        let target = out.join(&path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, &data)?;
        written.insert(path);
    }
    drop(input);
    child.wait()?;
    Ok(written)
}
