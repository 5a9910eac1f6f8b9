//! `sextant llm` end to end: check and chat against the replay server run as its own process,
//! and Ctrl-C cancelling a call.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::support::{sextant, stdout_of};

/// A child process killed when the test ends, pass or fail.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `sextant llm replay` with `script` and returns the child and its URL.
fn replay_process(dir: &std::path::Path, script: serde_json::Value) -> (Killed, String) {
    let path = dir.join("script.json");
    std::fs::write(&path, script.to_string()).expect("write script");
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("sextant"))
        .args(["llm", "replay", "--script"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn replay");
    let mut url = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut url)
        .expect("url line");
    (Killed(child), url.trim().to_string())
}

#[test]
fn check_and_chat_through_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = json!({
        "models": ["tiny"],
        "replies": [
            { "content": "1 2 3 4 5 6 7 8", "completion_tokens": 8 },
            { "content": "hello from the model" },
            { "content": "{\"answer\": 42}" },
        ],
    });
    let (_server, url) = replay_process(dir.path(), script);
    let base = [
        "--provider",
        "openai",
        "--base-url",
        url.as_str(),
        "--model",
        "tiny",
    ];
    let check = stdout_of(sextant(dir.path()).args(["llm", "check"]).args(base));
    assert!(check.contains("model \"tiny\" is available"), "{check}");
    assert!(check.contains("tokens/s"), "{check}");
    let chat = stdout_of(
        sextant(dir.path())
            .args(["llm", "chat", "say hello"])
            .args(base),
    );
    assert_eq!(chat.trim(), "hello from the model");
    let schema = dir.path().join("schema.json");
    std::fs::write(
        &schema,
        r#"{"type":"object","properties":{"answer":{"type":"integer"}},"required":["answer"]}"#,
    )
    .expect("schema");
    let structured = stdout_of(
        sextant(dir.path())
            .args(["llm", "chat", "answer", "--json", "--schema"])
            .arg(&schema)
            .args(base),
    );
    let structured: serde_json::Value = serde_json::from_str(&structured).expect("json");
    assert_eq!(structured["json"]["answer"], 42);
    let log = std::fs::read_to_string(dir.path().join(".sextant/metrics/llm-calls.jsonl"))
        .expect("metrics log");
    assert_eq!(log.lines().count(), 3);
}

#[test]
fn a_missing_model_fails_with_a_hint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, url) = replay_process(dir.path(), json!({ "models": ["tiny"], "replies": [] }));
    let output = sextant(dir.path())
        .args(["llm", "check", "--base-url", &url, "--model", "huge"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("model \"huge\" is not available on the server (available: tiny)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: pull it (`ollama pull huge`)"),
        "{stderr}"
    );
    // An OpenAI-compatible server has nothing to pull from: the hint says what to do there.
    let openai = sextant(dir.path())
        .args([
            "llm",
            "check",
            "--provider",
            "openai",
            "--base-url",
            &url,
            "--model",
            "huge",
        ])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&openai.stderr);
    assert!(
        stderr.contains("(available: tiny)") && !stderr.contains("ollama pull"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: set llm.model (or --model)"),
        "{stderr}"
    );
}

#[test]
fn a_dripping_server_is_cut_at_the_token_limit_and_the_call_deadline() {
    let dir = tempfile::tempdir().expect("tempdir");
    // One character (one streamed token) every 0.5 s, 120 of them: the read timeout never
    // trips, so only the client's own limits end the call.
    let drip = json!({ "content": "x".repeat(120), "chunk_chars": 1, "chunk_delay_ms": 500 });
    let fast_drip = json!({ "content": "y".repeat(120), "chunk_chars": 1, "chunk_delay_ms": 20 });
    for provider in ["ollama", "openai"] {
        let (_server, url) = replay_process(
            dir.path(),
            json!({ "models": ["tiny"], "replies": [fast_drip, drip] }),
        );
        let base = [
            "--provider",
            provider,
            "--base-url",
            url.as_str(),
            "--model",
            "tiny",
        ];
        // The token limit: stopped after 10 of 120 tokens, not when the server stops.
        let started = std::time::Instant::now();
        let limited = sextant(dir.path())
            .args([
                "llm",
                "chat",
                "go",
                "--max-tokens",
                "10",
                "--read-timeout",
                "3",
            ])
            .args(base)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&limited.stderr);
        assert_eq!(limited.status.code(), Some(1), "{provider}: {stderr}");
        assert!(
            stderr.contains("cut off at the token limit (10 tokens)"),
            "{provider}: {stderr}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{provider}: {:?}",
            started.elapsed()
        );
        // The deadline: the whole call ends after 2 s although tokens keep coming.
        let started = std::time::Instant::now();
        let slow = sextant(dir.path())
            .args([
                "llm",
                "chat",
                "go",
                "--read-timeout",
                "3",
                "--call-timeout",
                "2",
            ])
            .args(base)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&slow.stderr);
        assert_eq!(slow.status.code(), Some(1), "{provider}: {stderr}");
        assert!(
            stderr.contains("did not finish within its deadline of 2s"),
            "{provider}: {stderr}"
        );
        assert!(
            stderr.contains("hint: raise llm.call_timeout_secs"),
            "{provider}: {stderr}"
        );
        let took = started.elapsed();
        assert!(took < Duration::from_secs(6), "{provider}: {took:?}");
    }
}

#[test]
fn rate_limiting_is_retried_after_the_wait_the_server_asks_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, url) = replay_process(
        dir.path(),
        json!({ "models": ["tiny"], "replies": [
            { "status": 429, "error": "slow down", "retry_after_secs": 1 },
            { "content": "after the wait" },
        ] }),
    );
    let started = std::time::Instant::now();
    let chat = stdout_of(
        sextant(dir.path())
            .args([
                "llm",
                "chat",
                "hello",
                "--provider",
                "openai",
                "--model",
                "tiny",
                "--base-url",
            ])
            .arg(&url),
    );
    assert_eq!(chat.trim(), "after the wait");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let log = std::fs::read_to_string(dir.path().join(".sextant/metrics/llm-calls.jsonl"))
        .expect("metrics log");
    let call: serde_json::Value =
        serde_json::from_str(log.lines().last().expect("line")).expect("json");
    assert_eq!(call["attempts"], 2, "{call}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_cancels_a_call_in_flight() {
    let dir = tempfile::tempdir().expect("tempdir");
    let slow = json!({ "models": [], "replies": [{ "content": "never mind", "delay_ms": 20000 }] });
    let (_server, url) = replay_process(dir.path(), slow);
    let child = Command::new(assert_cmd::cargo::cargo_bin("sextant"))
        .args(["llm", "chat", "slow question", "--base-url", &url])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // The client listens for Ctrl-C from the moment it sends the request, so once the server
    // has the request the signal must cancel it, however slow the machine.
    wait_for_chat_request(&url);
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(interrupted.success());
    let started = std::time::Instant::now();
    let output = child.wait_with_output().expect("wait");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped promptly"
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("error: cancelled"));
}

/// Waits until the replay server at `url` has received a chat request.
fn wait_for_chat_request(url: &str) {
    use std::io::{Read, Write};
    let address = url.trim_start_matches("http://");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let mut answer = String::new();
        if let Ok(mut stream) = std::net::TcpStream::connect(address) {
            let _ = stream.write_all(b"GET /_replay/requests HTTP/1.0\r\n\r\n");
            let _ = stream.read_to_string(&mut answer);
        }
        if answer.contains("/chat") {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the chat request never reached the server"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
