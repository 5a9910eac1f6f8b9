//! Running git: the one place sextant shells out to it.

use std::path::Path;
use std::process::{Command, Output};

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
    Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["check-ignore", "--quiet", "--", path])
        .output()
        .is_ok_and(|output| output.status.success())
}
