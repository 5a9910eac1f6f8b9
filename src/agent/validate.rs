//! Running a step's validation command: the approved command only, in the work tree, with a
//! timeout, its output kept (the tail goes back to the model when it fails).

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Most output kept from a validation run, in bytes (the tail: errors come last).
const KEPT_OUTPUT: usize = 6_000;

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

/// Runs `command` with `sh -c` in `dir`, killing it after `timeout`.
pub fn run(command: &str, dir: &Path, timeout: Duration) -> std::io::Result<Outcome> {
    let started = Instant::now();
    let log = tempfile::tempfile()?;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?)
        .spawn()?;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if started.elapsed() >= timeout {
            timed_out = true;
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut output = Vec::new();
    let mut reader = log;
    use std::io::Seek;
    reader.rewind()?;
    reader.read_to_end(&mut output)?;
    let tail = &output[output.len().saturating_sub(KEPT_OUTPUT)..];
    let code = status.and_then(|s| s.code());
    Ok(Outcome {
        passed: code == Some(0) && !timed_out,
        code,
        timed_out,
        output: String::from_utf8_lossy(tail).into_owned(),
        wall_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
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
        let slow = run("sleep 5", dir.path(), Duration::from_millis(200)).expect("runs");
        assert!(slow.timed_out && !slow.passed);
        assert!(slow.wall_ms < 3000);
    }
}
