//! Smoke test against a real model server: llama.cpp's `llama-server` serving SmolLM2-135M,
//! both built and unpacked from PyPI packages by `.ci/llama-server.sh`. The model is tiny and
//! its answers weak, so this checks structure (protocol, schema-valid JSON, metrics), never
//! content.
//!
//! `.ci/run` sets `SEXTANT_LLAMA_SERVER` and `SEXTANT_LLAMA_MODEL`; without them the test is
//! skipped locally and fails under CI.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::json;
use sextant::llm::structured::chat_structured;
use sextant::llm::{ChatRequest, Llm, LlmSettings, Message, OutputSchema, Provider};

use crate::support::{sextant, stdout_of};

/// Name the server gives the model.
const ALIAS: &str = "smollm2";

struct Server {
    child: std::process::Child,
    url: String,
    /// The server's stdout and stderr, kept so a failure can show them.
    log: tempfile::NamedTempFile,
    /// Held while the server lives (dropped after `drop` kills it): see [`ONE_SERVER`].
    _turn: Option<MutexGuard<'static, ()>>,
}

/// One real model server at a time in this test process. Side by side on 2 cores, three
/// servers of 2 threads each (plus the rest of the suite) made generation so slow that a plan
/// stage ran past the 600 s call deadline in CI (stop 25); one at a time, each runs at the
/// speed it has alone.
static ONE_SERVER: Mutex<()> = Mutex::new(());

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long a healthy server may take to load the model: generous, since CI builds and runs
/// tests side by side on 2 cores; a server that dies fails at once instead of using it up.
const START_DEADLINE: Duration = Duration::from_secs(180);

/// Lines of the server's log shown when it fails to start.
const LOG_TAIL_LINES: usize = 40;

fn start_server(context: u32) -> Option<Server> {
    start_server_with(context, &[])
}

/// [`start_server`] with more arguments for llama-server.
fn start_server_with(context: u32, extra: &[&str]) -> Option<Server> {
    let (Ok(binary), Ok(model)) = (
        std::env::var("SEXTANT_LLAMA_SERVER"),
        std::env::var("SEXTANT_LLAMA_MODEL"),
    ) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must set SEXTANT_LLAMA_SERVER and SEXTANT_LLAMA_MODEL (.ci/run does)"
        );
        eprintln!(
            "skipped: SEXTANT_LLAMA_SERVER / SEXTANT_LLAMA_MODEL not set (run .ci/run to build llama-server)"
        );
        return None;
    };
    // One thread per core the test process may use, never a fixed count.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let args = [
        "-m".to_string(),
        model,
        "-c".into(),
        context.to_string(),
        "-t".into(),
        threads.to_string(),
        "--alias".into(),
        ALIAS.into(),
    ]
    .into_iter()
    .chain(extra.iter().map(|a| a.to_string()))
    .collect::<Vec<String>>();
    // A test that failed while holding the turn poisons the lock; the next one may still run.
    let turn = ONE_SERVER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut server =
        launch(Path::new(&binary), &args, START_DEADLINE).unwrap_or_else(|error| panic!("{error}"));
    server._turn = Some(turn);
    Some(server)
}

/// Starts `binary` with `args` plus a loopback host and a free port, and waits until its
/// `/health` answers 200. A server that exits first is an error naming its exit status with
/// the tail of its log, returned at once rather than at the deadline.
fn launch(binary: &Path, args: &[String], deadline: Duration) -> Result<Server, String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let log = tempfile::NamedTempFile::new().expect("log file");
    // Both streams append, so neither overwrites what the other wrote.
    let appending = || {
        std::fs::OpenOptions::new()
            .append(true)
            .open(log.path())
            .expect("log file")
    };
    let child = Command::new(binary)
        .args(args)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(appending())
        .stderr(appending())
        .spawn()
        .map_err(|error| format!("cannot start {}: {error}", binary.display()))?;
    let mut server = Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
        log,
        _turn: None,
    };
    let log_tail = |server: &Server| {
        let text = std::fs::read_to_string(server.log.path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    };
    let started = Instant::now();
    loop {
        if let Some(status) = server.child.try_wait().expect("poll the server") {
            return Err(format!(
                "{} exited during start-up ({status}); last lines of its log:\n{}",
                binary.display(),
                log_tail(&server)
            ));
        }
        let ready = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok_and(|mut stream| {
            use std::io::{Read, Write};
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = stream.write_all(b"GET /health HTTP/1.0\r\n\r\n");
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200")
        });
        if ready {
            return Ok(server);
        }
        if started.elapsed() > deadline {
            return Err(format!(
                "{} did not become healthy within {} s; last lines of its log:\n{}",
                binary.display(),
                deadline.as_secs(),
                log_tail(&server)
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A server that dies while starting fails at once with its exit status and its log, not
/// after the start-up deadline with nothing to go on (issue 15: llama-server crashed in its AMX
/// kernels and the test said only that it never became healthy).
#[cfg(unix)]
#[test]
fn a_server_that_dies_at_start_up_fails_at_once_with_its_status_and_log() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = dir.path().join("fake-server");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho \"loading model: $2\"\necho 'ggml_backend_amx_mul_mat: crashed' >&2\nexit 3\n",
    )
    .expect("write");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let started = Instant::now();
    let error = launch(
        &fake,
        &["-m".into(), "tiny.gguf".into()],
        Duration::from_secs(120),
    )
    .err()
    .expect("the fake server never becomes healthy");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "failed at once, not at the deadline"
    );
    assert!(error.contains("exit status: 3"), "{error}");
    assert!(
        error.contains("ggml_backend_amx_mul_mat: crashed"),
        "{error}"
    );
    assert!(error.contains("loading model: tiny.gguf"), "{error}");
}

#[test]
fn real_llama_server_speaks_openai_with_schema_valid_output() {
    let Some(server) = start_server(4096) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let base = [
        "--provider",
        "openai",
        "--base-url",
        &server.url,
        "--model",
        ALIAS,
        "--context-size",
        "4096",
        "--max-tokens",
        "512",
    ];
    let report = stdout_of(
        sextant(dir.path())
            .args(["llm", "check", "--json"])
            .args(base),
    );
    let report: serde_json::Value = serde_json::from_str(&report).expect("json");
    assert_eq!(report["models"][0]["name"], ALIAS);
    let speed = &report["speed"];
    assert!(
        speed["completion_tokens"].as_u64().unwrap_or(0) > 0,
        "{report}"
    );
    let tokens_per_second = speed["tokens_per_second"]
        .as_f64()
        .expect("tokens/s measured");
    assert!(tokens_per_second > 0.0);
    eprintln!(
        "llama-server SmolLM2-135M through sextant: {tokens_per_second:.1} tokens/s, first token after {} ms",
        speed["time_to_first_token_ms"]
    );

    let settings = LlmSettings {
        provider: Provider::OpenAi,
        base_url: server.url.clone(),
        model: ALIAS.into(),
        context_size: 4096,
        // Greedy decoding keeps the run repeatable. The budget covers the schema's worst case
        // even at one token per character: 4 strings of at most 60 characters, plus JSON
        // punctuation and the whitespace the server's grammar allows between tokens.
        temperature: 0.0,
        max_tokens: 1024,
        ..LlmSettings::default()
    };
    let llm = Llm::new(settings, None).expect("client");
    let schema = OutputSchema {
        name: "questions".into(),
        schema: json!({
            "type": "object",
            "properties": {
                "questions": {
                    "type": "array", "minItems": 2, "maxItems": 4,
                    "items": { "type": "string", "minLength": 5, "maxLength": 60 },
                },
            },
            "required": ["questions"],
            "additionalProperties": false,
        }),
    };
    #[derive(serde::Deserialize)]
    struct Questions {
        questions: Vec<String>,
    }
    for stream in [true, false] {
        let request = ChatRequest {
            messages: vec![
                Message::system("You ask short clarifying questions before writing code."),
                Message::user("Ask two clarifying questions about adding caching to a web API."),
            ],
            stream,
            stage: Some("smoke".into()),
            ..ChatRequest::default()
        };
        let reply = chat_structured::<Questions>(&llm, &request, &schema, &|_| {})
            .expect("schema-valid reply");
        assert!((2..=4).contains(&reply.value.questions.len()));
        let metrics = &reply.calls[0].metrics;
        assert!(
            metrics.prompt_tokens.unwrap_or(0) > 0 && metrics.completion_tokens.unwrap_or(0) > 0
        );
        prompts_counted_as_the_server_counts(&reply.calls, 4096);
    }
}

/// The agent's own prompts and schemas, stage after stage, against the real server: the ask
/// stage's questions, then the plan stage given those questions and an answer to each. The
/// model is too small for its content to pass the agent's checks (it repeats itself), so this
/// checks structure: each reply is schema-valid JSON and the plan renders as a TODO.md that
/// the plan parser reads back step for step.
#[test]
fn real_llama_server_reaches_the_plan_stage_with_schema_valid_output() {
    use sextant::agent::plan::{MIN_STEPS, Plan, SPLIT_ABOVE, Step};
    use sextant::agent::{planner, questions};

    let Some(server) = start_server(8192) else {
        return;
    };
    let settings = LlmSettings {
        provider: Provider::OpenAi,
        base_url: server.url.clone(),
        model: ALIAS.into(),
        context_size: 8192,
        temperature: 0.0,
        // The schema bounds every string and list: 16 steps of at most ~800 characters plus a
        // 600-character impact, ~14k characters of content, ~5k tokens at 3 characters per
        // token. SmolLM2 has needed 2,417 and more than 4,096 tokens on different prompts.
        max_tokens: 7168,
        ..LlmSettings::default()
    };
    let llm = Llm::new(settings, None).expect("client");
    let task = "lock the account after five failed login attempts";
    let context = "Languages: Python. Test command: python -m pytest -q.\n\
                   Relevant files:\n- app/auth/login.py: defines login\n- app/routes.py: calls login";
    let ask = ChatRequest {
        messages: questions::messages(task, context),
        // Streamed, so the idle-read timeout applies between tokens, not to the whole reply
        // (CI runs the smoke tests side by side on 2 cores).
        stream: true,
        stage: Some("smoke-ask".into()),
        ..ChatRequest::default()
    };
    let asked = chat_structured::<AskReply>(&llm, &ask, &questions::schema(), &|_| {})
        .expect("schema-valid questions");
    prompts_counted_as_the_server_counts(&asked.calls, 8192);
    let asked = asked.value.questions;
    assert!((2..=4).contains(&asked.len()), "{asked:?}");
    let answers: Vec<String> = asked.iter().map(|q| q.options[0].clone()).collect();

    let request = ChatRequest {
        messages: planner::messages(task, context, &asked, &answers, "python -m pytest -q"),
        stream: true,
        stage: Some("smoke-plan".into()),
        ..ChatRequest::default()
    };
    let reply = chat_structured::<PlanReply>(&llm, &request, &planner::schema(), &|_| {})
        .expect("schema-valid plan");
    prompts_counted_as_the_server_counts(&reply.calls, 8192);
    let metrics = &reply.calls[0].metrics;
    eprintln!(
        "plan stage on SmolLM2-135M: {} steps, {} completion tokens in {} ms",
        reply.value.steps.len(),
        metrics.completion_tokens.unwrap_or(0),
        metrics.wall_ms
    );
    let steps = reply.value.steps;
    assert!(
        (MIN_STEPS..=SPLIT_ABOVE + 1).contains(&steps.len()),
        "{} steps",
        steps.len()
    );
    let plan = Plan {
        task: task.into(),
        steps: steps
            .into_iter()
            .map(|s| Step {
                title: s.title,
                files: s.files.into_iter().chain(s.new_files.clone()).collect(),
                created: s.new_files,
                tests: s.tests,
                validate: s.validate,
                rollback: s.rollback,
                done: false,
            })
            .collect(),
        impact: format!(
            "{}\n\nMonitoring: {}\n\nRollback: {}",
            reply.value.impact.affected, reply.value.impact.monitoring, reply.value.impact.rollback
        ),
    };
    // The TODO.md parser sees the same number of steps, whatever it thinks of their content.
    let rendered = plan.render();
    let headings = rendered.lines().filter(|l| l.starts_with("### ")).count();
    assert_eq!(headings, plan.steps.len(), "{rendered}");
    assert!(rendered.contains("## Impact analysis"), "{rendered}");
}

#[derive(Debug, serde::Deserialize)]
struct AskReply {
    questions: Vec<sextant::agent::questions::Question>,
}

#[derive(Debug, serde::Deserialize)]
struct PlanReply {
    steps: Vec<PlanStep>,
    impact: PlanImpact,
}

#[derive(Debug, serde::Deserialize)]
struct PlanImpact {
    affected: String,
    monitoring: String,
    rollback: String,
}

#[derive(Debug, serde::Deserialize)]
struct PlanStep {
    title: String,
    files: Vec<String>,
    new_files: Vec<String>,
    tests: Vec<String>,
    validate: String,
    rollback: String,
}

/// A real `sextant run` on the shop fixture against llama-server: the ask stage's prompt
/// carries the code retrieval packed into a 4,096-token context, and the prompt the server
/// saw fits that context and is the size sextant counted. The tiny model's questions are
/// not the point (its reply is cut at 64 tokens, so the run stops there).
#[test]
fn a_real_run_sends_packed_code_within_the_context_counted_as_the_server_counts() {
    let Some(server) = start_server(4096) else {
        return;
    };
    let repo = crate::support::copy_fixture("shop");
    let root = repo.path();
    crate::support::git(root, &["init", "--quiet"]);
    crate::support::git(root, &["add", "."]);
    crate::support::git(root, &["commit", "--quiet", "-m", "shop"]);
    stdout_of(sextant(root).args(["index", "--quiet"]));
    std::fs::write(root.join("answers.txt"), "database column\n15 minutes\n").expect("write");
    let output = sextant(root)
        .args([
            "run",
            "lock the account after five failed login attempts",
            "--answers",
            "answers.txt",
            "--provider",
            "openai",
            "--base-url",
            &server.url,
            "--model",
            ALIAS,
            "--context-size",
            "4096",
            "--max-tokens",
            "64",
        ])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let run = std::fs::read_dir(root.join(".sextant/runs"))
        .expect("runs dir")
        .flatten()
        .find(|e| e.path().join("record.json").exists())
        .unwrap_or_else(|| panic!("no run recorded: {stderr}"));
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run.path().join("record.json")).expect("record"),
    )
    .expect("json");
    let usage = &record["context_use"][0];
    assert_eq!(usage["stage"], "ask+plan", "{record}");
    let sent = usage["sent"].as_array().expect("sent");
    assert!(!sent.is_empty(), "no code was sent: {usage}");
    let tokens: u64 = sent.iter().map(|s| s["tokens"].as_u64().unwrap_or(0)).sum();
    assert!(
        tokens <= usage["budget_tokens"].as_u64().unwrap_or(0),
        "{usage}"
    );
    let log = std::fs::read_to_string(root.join(".sextant/metrics/llm-calls.jsonl"))
        .unwrap_or_else(|_| panic!("no call recorded: {stderr}"));
    let calls: Vec<sextant::llm::CallMetrics> = log
        .lines()
        .map(|line| serde_json::from_str(line).expect("metrics line"))
        .collect();
    assert!(!calls.is_empty(), "{stderr}");
    let responses: Vec<sextant::llm::ChatResponse> = calls
        .into_iter()
        .filter(|m| m.prompt_tokens.is_some())
        .map(|metrics| sextant::llm::ChatResponse {
            content: String::new(),
            finish_reason: sextant::llm::FinishReason::Stop,
            metrics,
        })
        .collect();
    assert!(
        !responses.is_empty(),
        "no call reached the server: {stderr}"
    );
    prompts_counted_as_the_server_counts(&responses, 4096);
    eprintln!(
        "a real run: {} files of code ({tokens} tokens of a {} budget) in the ask prompt",
        sent.len(),
        usage["budget_tokens"]
    );
}

/// sextant counted every prompt before sending it with the model's own template and
/// tokenizer (through the server), within 2 % of the `prompt_tokens` the server reports, and
/// no prompt the server saw exceeded the configured context.
fn prompts_counted_as_the_server_counts(calls: &[sextant::llm::ChatResponse], context: u32) {
    for call in calls {
        let metrics = &call.metrics;
        let server = metrics
            .prompt_tokens
            .expect("the server reports prompt_tokens");
        let ours = metrics
            .sextant_prompt_tokens
            .expect("sextant counted the prompt");
        assert_eq!(
            metrics.prompt_count.as_deref(),
            Some("server tokenizer"),
            "{metrics:?}"
        );
        assert!(
            server <= context,
            "{server} prompt tokens in a {context}-token context"
        );
        let difference = f64::from(server.abs_diff(ours)) / f64::from(server);
        assert!(
            difference <= 0.02,
            "sextant counted {ours} prompt tokens, the server {server}"
        );
        eprintln!(
            "prompt counted by sextant {ours}, by the server {server} (stage {:?})",
            metrics.stage
        );
    }
}

/// The index's vectors from llama-server's own `/v1/embeddings` (`--embedding`, mean pooling),
/// with no local model installed: SmolLM2 is no embedding model, so this checks the protocol
/// and the pipeline (vectors built, cached, used by queries), not the ranking.
#[test]
fn real_llama_server_embeds_the_index_through_v1_embeddings() {
    let Some(server) = start_server_with(
        4096,
        &[
            "--embedding",
            "--pooling",
            "mean",
            "-ub",
            "1024",
            "-b",
            "1024",
        ],
    ) else {
        return;
    };
    let repo = crate::support::copy_fixture("shop");
    let env = [
        ("SEXTANT_EMBED_PROVIDER", "openai"),
        ("SEXTANT_EMBED_BASE_URL", server.url.as_str()),
        ("SEXTANT_EMBED_MODEL", ALIAS),
    ];
    let index = || -> serde_json::Value {
        let mut command = sextant(repo.path());
        command.args(["index", "--json"]).envs(env);
        serde_json::from_str(&stdout_of(&mut command)).expect("json")
    };
    let first = index();
    let vectors = &first["vectors"];
    let units = vectors["units"].as_u64().expect("units");
    assert!(units > 30, "{first}");
    assert_eq!(vectors["embedded"], units, "{first}");
    assert!(
        vectors["model_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("openai-")),
        "{vectors}"
    );
    // One function added: only its file's units are sent.
    let throttle = repo.path().join("app/throttle.py");
    let mut text = std::fs::read_to_string(&throttle).expect("read");
    text.push_str("\n\ndef reset_buckets():\n    return None\n");
    std::fs::write(&throttle, text).expect("write");
    let second = index();
    let embedded = second["vectors"]["embedded"].as_u64().expect("embedded");
    assert!((1..=4).contains(&embedded), "{second}");
    let why: serde_json::Value =
        serde_json::from_str(&stdout_of(sextant(repo.path()).envs(env).args([
            "why-relevant",
            "rate limiting",
            "--json",
        ])))
        .expect("json");
    assert_eq!(why["signals"]["vectors"], true, "{why}");
    assert!(
        why["files"].as_array().is_some_and(|files| files
            .iter()
            .any(|f| f["signals"]["vector"].as_f64() > Some(0.0))),
        "{why}"
    );
}
