//! Running a step's validation command: the approved command only, in the work tree, with a
//! timeout, its output kept (the tail goes back to the model when it fails, and is shown to
//! the user).
//!
//! The command runs in a process group of its own, and the whole group is ended on timeout and
//! on Ctrl-C: killing only `sh` would leave what it started (a test server, a `sleep`) running,
//! re-parented to init. Because the group is not the terminal's foreground group, Ctrl-C
//! reaches sextant only, which ends the group and reports the interruption.

use std::io::{Read, Seek};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// Most output kept from a validation run, in bytes (the tail: errors come last).
const KEPT_OUTPUT: usize = 6_000;

/// Time a group gets to end after SIGTERM before it is killed.
const GRACE: Duration = Duration::from_millis(500);

/// How a validation run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Whether it exited 0 in time.
    pub passed: bool,
    /// Exit code, if it exited.
    pub code: Option<i32>,
    /// Whether the timeout killed it.
    pub timed_out: bool,
    /// The tail of stdout and stderr, interleaved as written.
    pub output: String,
    /// Wall time in milliseconds.
    pub wall_ms: u64,
}

impl Outcome {
    /// How it ended, for messages: `exit 3`, `killed by a signal`, `timed out`.
    pub fn ending(&self) -> String {
        match (self.timed_out, self.code) {
            (true, _) => "timed out".to_string(),
            (false, Some(code)) => format!("exit {code}"),
            (false, None) => "killed by a signal".to_string(),
        }
    }

    /// The last `lines` lines of the output, for the terminal (the whole tail stays in the
    /// run record).
    pub fn tail(&self, lines: usize) -> String {
        let all: Vec<&str> = self.output.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// Why a validation did not produce an outcome.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// The user pressed Ctrl-C; the command's whole process group was ended.
    #[error("interrupted (Ctrl-C); the validation command and everything it started were stopped")]
    Interrupted,
    /// The command could not be started or waited for.
    #[error("running the validation command: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs `command` with `sh -c` in `dir`, in a process group of its own, ending the group
/// after `timeout` or on Ctrl-C.
pub fn run(command: &str, dir: &Path, timeout: Duration) -> Result<Outcome, ValidateError> {
    let started = Instant::now();
    let mut log = tempfile::tempfile()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    enum End {
        Exited(std::process::ExitStatus),
        TimedOut,
        Interrupted,
    }
    let end = runtime.block_on(async {
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log.try_clone()?)
            .process_group(0)
            .kill_on_drop(true)
            .spawn()?;
        let group = child.id().map(|id| Pid::from_raw(id as i32));
        let end = tokio::select! {
            status = child.wait() => End::Exited(status?),
            _ = tokio::time::sleep(timeout) => End::TimedOut,
            _ = tokio::signal::ctrl_c() => End::Interrupted,
        };
        // The shell may have exited while what it started runs on (`cmd &`): the group is
        // ended in every case.
        if let Some(group) = group {
            end_group(group, &mut child).await;
        }
        Ok::<End, std::io::Error>(end)
    })?;
    let status = match end {
        End::Exited(status) => Some(status),
        End::TimedOut => None,
        End::Interrupted => return Err(ValidateError::Interrupted),
    };
    let mut output = Vec::new();
    log.rewind()?;
    log.read_to_end(&mut output)?;
    let tail = &output[output.len().saturating_sub(KEPT_OUTPUT)..];
    let code = status.and_then(|s| s.code());
    let timed_out = status.is_none();
    Ok(Outcome {
        passed: code == Some(0) && !timed_out,
        code,
        timed_out,
        output: String::from_utf8_lossy(tail).into_owned(),
        wall_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// SIGTERM to the group, a grace period, then SIGKILL to whatever is left.
async fn end_group(group: Pid, child: &mut tokio::process::Child) {
    if killpg(group, Signal::SIGTERM).is_err() {
        // No process is left in the group.
        let _ = child.wait().await;
        return;
    }
    let _ = tokio::time::timeout(GRACE, child.wait()).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = killpg(group, Signal::SIGKILL);
    let _ = child.wait().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_fails_and_times_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ok = run("echo fine", dir.path(), Duration::from_secs(10)).expect("runs");
        assert!(ok.passed && ok.output.contains("fine"));
        let bad = run(
            "echo broken >&2; exit 3",
            dir.path(),
            Duration::from_secs(10),
        )
        .expect("runs");
        assert_eq!((bad.passed, bad.code), (false, Some(3)));
        assert!(bad.output.contains("broken"));
        assert_eq!(bad.ending(), "exit 3");
        let slow = run("sleep 5", dir.path(), Duration::from_millis(200)).expect("runs");
        assert!(slow.timed_out && !slow.passed);
        assert!(slow.wall_ms < 3000);
    }

    fn alive(pid: i32) -> bool {
        // Signal 0 checks for existence; a zombie counts as gone.
        let status = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = status
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or("X");
        !matches!(state, "Z" | "X")
    }

    /// Whether the process whose pid `dir/bg.pid` holds is gone within five seconds.
    fn background_ends(dir: &Path) -> (i32, bool) {
        let pid: i32 = std::fs::read_to_string(dir.join("bg.pid"))
            .expect("pid written")
            .trim()
            .parse()
            .expect("pid");
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        (pid, !alive(pid))
    }

    #[test]
    fn a_timeout_ends_everything_the_command_started() {
        let dir = tempfile::tempdir().expect("tempdir");
        // The shell starts a long sleep in the background and another in the foreground.
        let outcome = run(
            "sleep 60 & echo $! > bg.pid; sleep 60",
            dir.path(),
            Duration::from_millis(300),
        )
        .expect("runs");
        assert!(outcome.timed_out);
        let (pid, ended) = background_ends(dir.path());
        assert!(ended, "the background sleep {pid} outlived the timeout");
    }

    #[test]
    fn what_a_passing_command_leaves_behind_is_ended_too() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outcome = run(
            "sleep 60 > /dev/null 2>&1 & echo $! > bg.pid",
            dir.path(),
            Duration::from_secs(10),
        )
        .expect("runs");
        assert!(outcome.passed);
        let (pid, ended) = background_ends(dir.path());
        assert!(ended, "a background process {pid} outlived its validation");
    }
}
