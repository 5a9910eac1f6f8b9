//! Helpers shared by the end-to-end tests: fixture copies and a command builder.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The repository's `fixtures/` directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A temporary copy of a fixture repository.
pub fn copy_fixture(name: &str) -> tempfile::TempDir {
    let target = tempfile::tempdir().expect("tempdir");
    copy_dir(&fixtures().join(name), target.path());
    target
}

/// Copies a directory tree (file times are not kept: copies look freshly written).
pub fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("entry");
        let destination = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            std::fs::create_dir_all(&destination).expect("mkdir");
            copy_dir(&entry.path(), &destination);
        } else {
            std::fs::copy(entry.path(), &destination).expect("copy");
        }
    }
}

/// A `$SEXTANT_HOME` with nothing installed.
pub const NO_MODELS: &str = "/nonexistent/sextant-home";

/// `sextant` run in `dir`, with no terminal and a fixed thread count.
pub fn sextant(dir: &Path) -> Command {
    let mut command = Command::cargo_bin("sextant").expect("binary built");
    command
        .current_dir(dir)
        .env_remove("SEXTANT_FAILPOINT")
        .env_remove("SEXTANT_EMBED_PROVIDER")
        .env_remove("SEXTANT_EMBED_BASE_URL")
        .env_remove("SEXTANT_EMBED_MODEL")
        .env_remove("SEXTANT_EMBED_API_KEY")
        // Nor the user config of the machine running the tests (a test may name its own).
        .env("SEXTANT_CONFIG", "/nonexistent/sextant-config.toml")
        // No embedding model unless a test asks for one (vectors_cli.rs), so outputs do not
        // depend on what the machine has installed.
        .env("SEXTANT_HOME", NO_MODELS)
        .env("NO_COLOR", "1");
    command
}

/// Stdout of a successful run.
pub fn stdout_of(command: &mut Command) -> String {
    outputs_of(command).0
}

/// Stdout and stderr of a successful run (what a test says on both streams).
pub fn outputs_of(command: &mut Command) -> (String, String) {
    let output = command.output().expect("runs");
    assert!(
        output.status.success(),
        "failed: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (
        String::from_utf8(output.stdout).expect("utf-8 output"),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Filters that make output independent of the temp dir and the clock.
pub fn stable_filters(root: &Path) -> Vec<(String, String)> {
    let root = root.canonicalize().expect("canonical root");
    vec![
        (
            regex_escape(&root.display().to_string()),
            "[REPO]".to_string(),
        ),
        (r"\d+\.\d\d s".to_string(), "[TIME]".to_string()),
        (r"[\d,]+ lines/s".to_string(), "[RATE] lines/s".to_string()),
        (
            r"committed \d+ \w+ ago".to_string(),
            "committed [AGO]".to_string(),
        ),
        // Scores depend on float summation order across index segments; the order is checked.
        (r"score \d+\.\d+".to_string(), "score [SCORE]".to_string()),
    ]
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if "\\.+*?()|[]{}^$".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect()
}

/// Runs git in `root` (with a throwaway identity) and returns stdout; panics on failure.
pub fn git(root: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["-c", "user.name=t", "-c", "user.email=t@t"])
        .args(args)
        .output()
        .expect("git");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The bodies of the chat requests a replay server received, as JSON text.
pub fn chat_bodies(server: &sextant::llm::replay::ReplayServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .filter(|r| r.path.contains("chat"))
        .map(|r| r.body.to_string())
        .collect()
}

/// The `run.json` of the only run under `root`'s index, as text.
pub fn only_run_state(root: &Path) -> String {
    std::fs::read_to_string(only_run_record(root)).expect("run.json")
}

/// The path of the only run's `run.json` under `root`'s index.
pub fn only_run_record(root: &Path) -> PathBuf {
    let runs = root.join(".sextant/runs");
    let run = std::fs::read_dir(&runs)
        .expect("runs")
        .flatten()
        .find(|entry| entry.path().join("run.json").exists())
        .expect("a run");
    run.path().join("run.json")
}

/// Memory the `tiny` model's server reports holding.
pub const TINY_MODEL_MEMORY: u64 = 512 * 1024 * 1024;

/// A replay server on loopback offering model `tiny` and answering with `replies` in order.
pub fn tiny_model(replies: Vec<sextant::llm::replay::Reply>) -> sextant::llm::replay::ReplayServer {
    sextant::llm::replay::ReplayServer::start(sextant::llm::replay::Script {
        models: vec!["tiny".into()],
        replies,
        // The server reports memory, as Ollama's /api/ps and vLLM's /metrics do.
        memory: Some(sextant::llm::replay::ReportedMemory {
            bytes: TINY_MODEL_MEMORY,
            vram_bytes: TINY_MODEL_MEMORY / 2,
        }),
        ..Default::default()
    })
    .expect("replay server")
}

/// Asserts that a run failed with exit code 1 and that its stderr says `expected`.
pub fn fails_with(output: &std::process::Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(expected), "{stderr}");
}

/// Runs `sextant ARGS` in `root` through a real terminal (script(1) from util-linux), typing
/// `input`; returns whether it succeeded and what the terminal showed.
pub fn at_terminal(root: &Path, args: &[String], input: &str) -> (bool, String) {
    let binary = assert_cmd::cargo::cargo_bin("sextant");
    let command = format!("{} {}", binary.display(), args.join(" "));
    let mut child = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(root)
        .env("SEXTANT_HOME", NO_MODELS)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input.as_bytes()).expect("input");
    }
    let output = child.wait_with_output().expect("runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// The flags that point sextant at a replay server's `tiny` model.
pub fn tiny_model_args(server: &sextant::llm::replay::ReplayServer) -> Vec<String> {
    [
        "--provider",
        "openai",
        "--base-url",
        &server.url(),
        "--model",
        "tiny",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// How a test damages a file the tool wrote.
#[derive(Clone, Copy, Debug)]
pub enum Damage {
    /// Cut to half its length.
    Truncate,
    /// Bytes flipped at the start, in the middle and at the end.
    FlipBytes,
    /// Removed.
    Delete,
}

/// Damages `path`; false when there was nothing to damage that way (an empty file).
pub fn damage(path: &Path, how: Damage) -> bool {
    let len = std::fs::metadata(path).map_or(0, |m| m.len());
    match how {
        Damage::Truncate if len > 0 => {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .expect("open");
            file.set_len(len / 2).expect("truncate");
        }
        Damage::FlipBytes if len > 0 => {
            let mut bytes = std::fs::read(path).expect("read");
            let last = bytes.len() - 1;
            for at in [0, 9, 17, 40, last / 2, last.saturating_sub(2)] {
                if let Some(byte) = bytes.get_mut(at) {
                    *byte ^= 0xA5;
                }
            }
            std::fs::write(path, bytes).expect("write");
        }
        Damage::Delete => std::fs::remove_file(path).expect("delete"),
        // Nothing to truncate or flip in an empty file.
        _ => return false,
    }
    true
}

/// The paths of a `why-relevant --json` report's files, in rank order.
pub fn report_paths(report: &serde_json::Value) -> Vec<String> {
    report["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["path"].as_str().expect("path").to_string())
        .collect()
}

/// A plan reply's impact analysis as the plan schema asks for it: the model's affected parts
/// (`words`), monitoring and rollback.
pub fn impact(words: &str) -> serde_json::Value {
    serde_json::json!({
        "affected": words,
        "monitoring": "watch the test suite and the error logs",
        "rollback": "revert the run's branch"
    })
}

/// Asserts that every chat request fits a scripted server's context with room for the reply,
/// counted as that server counts (its template, `bytes_per_token`).
pub fn assert_fit_scripted_context(
    chats: &[String],
    bytes_per_token: f64,
    context: usize,
    reply: usize,
) {
    for chat in chats {
        let request: serde_json::Value = serde_json::from_str(chat).expect("json");
        let rendered: usize = request["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| {
                format!(
                    "<|{}|>\n{}<|end|>\n",
                    m["role"].as_str().unwrap_or(""),
                    m["content"].as_str().unwrap_or("")
                )
                .len()
            })
            .sum();
        let tokens = (rendered as f64 / bytes_per_token).ceil() as usize;
        assert!(
            tokens + reply <= context,
            "{tokens} prompt tokens + {reply}"
        );
    }
}

/// The only run's `record.json` under `root`'s index, parsed.
pub fn only_run_record_json(root: &Path) -> serde_json::Value {
    let path = only_run_record(root).with_file_name("record.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("record.json")).expect("json")
}

/// The names of a run record's packings (`ask+plan`, `execute-1 (shrunk 1)`, …), in order.
pub fn packings(record: &serde_json::Value) -> Vec<String> {
    record["context_use"]
        .as_array()
        .expect("context_use")
        .iter()
        .map(|u| u["stage"].as_str().unwrap_or("").to_string())
        .collect()
}
