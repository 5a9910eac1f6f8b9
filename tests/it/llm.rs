//! The LLM clients against the scripted replay server on 127.0.0.1: both protocols, streaming
//! and not, structured output, and every fault the issue lists.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::json;
use sextant::llm::replay::{ReplayServer, Reply, Script};
use sextant::llm::structured::chat_structured;
use sextant::llm::{
    ChatRequest, FinishReason, Llm, LlmError, LlmSettings, Message, OutputSchema, Provider,
};

const MODEL: &str = "qwen2.5-coder:7b";

fn server(replies: Vec<Reply>) -> ReplayServer {
    ReplayServer::start(Script {
        models: vec![MODEL.into(), "other".into()],
        replies,
        ..Script::default()
    })
    .expect("server")
}

fn settings(provider: Provider, server: &ReplayServer) -> LlmSettings {
    LlmSettings {
        provider,
        base_url: server.url(),
        model: MODEL.into(),
        retry_base_delay: Duration::from_millis(10),
        read_timeout: Duration::from_secs(5),
        ..LlmSettings::default()
    }
}

fn request(text: &str, stream: bool) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::user(text)],
        stream,
        stage: Some("test".into()),
        ..ChatRequest::default()
    }
}

const BOTH: [Provider; 2] = [Provider::Ollama, Provider::OpenAi];

#[test]
fn streaming_and_whole_replies_on_both_protocols() {
    for provider in BOTH {
        for stream in [true, false] {
            let server = server(vec![Reply {
                content: "The answer is 42.".into(),
                completion_tokens: Some(6),
                ..Reply::default()
            }]);
            let llm = Llm::new(settings(provider, &server), None).expect("client");
            let pieces = Mutex::new(Vec::new());
            let response = llm
                .chat(&request("question", stream), &|piece| {
                    pieces.lock().expect("lock").push(piece.to_string())
                })
                .expect("reply");
            assert_eq!(
                response.content, "The answer is 42.",
                "{provider:?} stream={stream}"
            );
            assert_eq!(response.finish_reason, FinishReason::Stop);
            let pieces = pieces.into_inner().expect("lock");
            assert_eq!(pieces.concat(), "The answer is 42.");
            if stream {
                assert!(pieces.len() > 1, "streamed in pieces: {pieces:?}");
                assert!(response.metrics.time_to_first_token_ms.is_some());
            }
            assert_eq!(response.metrics.prompt_tokens, Some(10));
            assert_eq!(response.metrics.completion_tokens, Some(6));
            assert_eq!(response.metrics.attempts, 1);
            let sent = &server.requests()[0];
            assert_eq!(sent.body["stream"], json!(stream));
            assert_eq!(sent.body["model"], MODEL);
        }
    }
}

#[test]
fn ollama_always_sends_num_ctx_and_refuses_prompts_that_would_be_cut() {
    let server = server(vec![Reply::text("ok")]);
    let mut config = settings(Provider::Ollama, &server);
    config.context_size = 4096;
    config.max_tokens = 512;
    let llm = Llm::new(config, None).expect("client");
    llm.chat(&request("short", true), &|_| {}).expect("fits");
    assert_eq!(server.requests()[0].body["options"]["num_ctx"], 4096);
    let long = "fn main() { println!(\"hello\"); }\n".repeat(600);
    let error = llm
        .chat(&request(&long, true), &|_| {})
        .expect_err("too long");
    assert!(
        matches!(error, LlmError::PromptTooLong { context: 4096, .. }),
        "{error}"
    );
    assert_eq!(server.requests().len(), 1, "the long prompt was never sent");
    assert!(error.hint().expect("hint").contains("context_size"));
}

#[test]
fn ollama_reporting_a_full_context_is_treated_as_silent_truncation() {
    let server = server(vec![Reply {
        content: "ok".into(),
        prompt_tokens: 4096,
        ..Reply::default()
    }]);
    let mut config = settings(Provider::Ollama, &server);
    config.context_size = 4096;
    config.max_tokens = 512;
    let llm = Llm::new(config, None).expect("client");
    let error = llm.chat(&request("short", true), &|_| {}).expect_err("cut");
    assert!(
        matches!(
            error,
            LlmError::PromptTooLong {
                prompt_tokens: 4096,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn length_cut_off_is_a_failure_not_a_result() {
    for provider in BOTH {
        let server = server(vec![Reply {
            content: "{\"steps\": [\"a\",".into(),
            finish_reason: "length".into(),
            ..Reply::default()
        }]);
        let llm = Llm::new(settings(provider, &server), None).expect("client");
        let error = llm
            .chat(&request("plan", true), &|_| {})
            .expect_err("cut off");
        assert!(
            matches!(
                error,
                LlmError::Truncated {
                    max_tokens: 2048,
                    ..
                }
            ),
            "{provider:?}: {error}"
        );
    }
}

#[test]
fn server_errors_are_retried_with_backoff() {
    for provider in BOTH {
        let server = server(vec![
            Reply {
                status: 500,
                error: Some("overloaded".into()),
                ..Reply::default()
            },
            Reply {
                status: 503,
                ..Reply::default()
            },
            Reply::text("finally"),
        ]);
        let llm = Llm::new(settings(provider, &server), None).expect("client");
        let response = llm.chat(&request("q", true), &|_| {}).expect("third time");
        assert_eq!(response.content, "finally");
        assert_eq!(response.metrics.attempts, 3);
    }
}

#[test]
fn retries_are_bounded() {
    let server = server(vec![
        Reply {
            status: 500,
            error: Some("down".into()),
            ..Reply::default()
        };
        5
    ]);
    let llm = Llm::new(settings(Provider::OpenAi, &server), None).expect("client");
    let error = llm
        .chat(&request("q", false), &|_| {})
        .expect_err("gives up");
    assert!(
        matches!(&error, LlmError::Http { status: 500, detail } if detail == "down"),
        "{error}"
    );
    assert_eq!(server.remaining(), 2, "three attempts, no more");
}

#[test]
fn client_errors_are_not_retried() {
    let server = server(vec![
        Reply {
            status: 400,
            error: Some("bad request".into()),
            ..Reply::default()
        },
        Reply::text("no"),
    ]);
    let llm = Llm::new(settings(Provider::Ollama, &server), None).expect("client");
    let error = llm.chat(&request("q", true), &|_| {}).expect_err("fails");
    assert!(
        matches!(error, LlmError::Http { status: 400, .. }),
        "{error}"
    );
    assert_eq!(server.remaining(), 1);
}

#[test]
fn a_truncated_stream_is_retried_then_reported() {
    for provider in BOTH {
        let broken = Reply {
            content: "partial answer here".into(),
            truncate_after_chunks: Some(2),
            ..Reply::default()
        };
        let server = server(vec![broken.clone(), Reply::text("whole answer")]);
        let llm = Llm::new(settings(provider, &server), None).expect("client");
        let response = llm.chat(&request("q", true), &|_| {}).expect("retried");
        assert_eq!(response.content, "whole answer", "{provider:?}");
        let server = self::server(vec![broken; 3]);
        let llm = Llm::new(settings(provider, &server), None).expect("client");
        let error = llm
            .chat(&request("q", true), &|_| {})
            .expect_err("broken every time");
        assert!(
            matches!(&error, LlmError::Garbage(detail) if detail.contains("broke off")),
            "{provider:?}: {error}"
        );
    }
}

#[test]
fn a_slow_server_times_out() {
    let server = server(vec![
        Reply {
            content: "late".into(),
            // Far beyond the timeout, so a loaded machine cannot blur the two.
            delay_ms: 6000,
            ..Reply::default()
        };
        3
    ]);
    let mut config = settings(Provider::OpenAi, &server);
    config.read_timeout = Duration::from_millis(300);
    config.max_attempts = 1;
    let llm = Llm::new(config, None).expect("client");
    let started = std::time::Instant::now();
    let error = llm.chat(&request("q", true), &|_| {}).expect_err("timeout");
    assert!(matches!(error, LlmError::Timeout(_)), "{error}");
    assert!(
        started.elapsed() < Duration::from_millis(4000),
        "gave up at the timeout, not at the reply"
    );
}

#[test]
fn a_slow_stream_between_chunks_times_out() {
    let server = server(vec![Reply {
        content: "slow tokens".into(),
        chunk_delay_ms: 800,
        ..Reply::default()
    }]);
    let mut config = settings(Provider::Ollama, &server);
    config.read_timeout = Duration::from_millis(300);
    config.max_attempts = 1;
    let llm = Llm::new(config, None).expect("client");
    let error = llm.chat(&request("q", true), &|_| {}).expect_err("timeout");
    assert!(matches!(error, LlmError::Timeout(_)), "{error}");
}

#[test]
fn garbage_is_a_clear_error() {
    for provider in BOTH {
        for stream in [true, false] {
            let server = server(vec![Reply {
                raw_body: Some("<html>proxy error</html>\n".into()),
                ..Reply::default()
            }]);
            let mut config = settings(provider, &server);
            config.max_attempts = 1;
            let llm = Llm::new(config, None).expect("client");
            let error = llm
                .chat(&request("q", stream), &|_| {})
                .expect_err("garbage");
            assert!(
                matches!(error, LlmError::Garbage(_)),
                "{provider:?} stream={stream}: {error}"
            );
            assert!(error.to_string().contains("not"), "{error}");
        }
    }
}

#[test]
fn a_server_that_is_down_says_so_with_a_hint() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    for provider in BOTH {
        let config = LlmSettings {
            provider,
            base_url: format!("http://127.0.0.1:{port}"),
            retry_base_delay: Duration::from_millis(5),
            ..LlmSettings::default()
        };
        let llm = Llm::new(config, None).expect("client");
        let error = llm.chat(&request("q", true), &|_| {}).expect_err("down");
        assert!(matches!(error, LlmError::ServerDown { .. }), "{error}");
        assert!(error.hint().is_some());
    }
}

#[test]
fn a_missing_model_lists_the_available_ones() {
    for provider in BOTH {
        let server = server(vec![Reply::text("unused")]);
        let mut config = settings(provider, &server);
        config.model = "llama-9000".into();
        let llm = Llm::new(config, None).expect("client");
        let error = llm.chat(&request("q", true), &|_| {}).expect_err("missing");
        match &error {
            LlmError::ModelMissing {
                model, available, ..
            } => {
                assert_eq!(model, "llama-9000");
                assert_eq!(available, &vec![MODEL.to_string(), "other".to_string()]);
            }
            other => panic!("{provider:?}: {other}"),
        }
        let error = llm.check_model().expect_err("check");
        assert!(matches!(error, LlmError::ModelMissing { .. }));
    }
}

#[test]
fn a_bad_api_key_is_refused_clearly_and_a_good_one_works() {
    let script = Script {
        models: vec![MODEL.into()],
        replies: vec![Reply::text("hi")],
        require_api_key: Some("sk-right".into()),
        ..Script::default()
    };
    let server = ReplayServer::start(script).expect("server");
    let mut config = settings(Provider::OpenAi, &server);
    config.api_key = Some("sk-wrong".into());
    let error = Llm::new(config.clone(), None)
        .expect("client")
        .chat(&request("q", false), &|_| {})
        .expect_err("refused");
    assert!(
        matches!(error, LlmError::Unauthorized { status: 401, .. }),
        "{error}"
    );
    config.api_key = Some("sk-right".into());
    let response = Llm::new(config, None)
        .expect("client")
        .chat(&request("q", false), &|_| {})
        .expect("accepted");
    assert_eq!(response.content, "hi");
}

fn plan_schema() -> OutputSchema {
    OutputSchema {
        name: "plan".into(),
        schema: json!({
            "type": "object",
            "properties": { "steps": { "type": "array", "items": { "type": "string" }, "minItems": 2 } },
            "required": ["steps"],
            "additionalProperties": false,
        }),
    }
}

#[derive(serde::Deserialize, Debug)]
struct Plan {
    steps: Vec<String>,
}

#[test]
fn structured_output_is_validated_and_repaired_once() {
    for provider in BOTH {
        let server = server(vec![
            Reply::text("{\"steps\": [\"only one\"]}"),
            Reply {
                content: "{\"steps\": [\"one\", \"two\"]}".into(),
                expect_in_request: vec!["not valid".into()],
                ..Reply::default()
            },
        ]);
        let llm = Llm::new(settings(provider, &server), None).expect("client");
        let plan = chat_structured::<Plan>(&llm, &request("plan", true), &plan_schema(), &|_| {})
            .expect("repaired");
        assert_eq!(plan.value.steps, ["one", "two"]);
        assert_eq!(plan.calls.len(), 2);
        let requests = server.requests();
        match provider {
            Provider::Ollama => {
                assert_eq!(requests[0].body["format"]["required"], json!(["steps"]))
            }
            Provider::OpenAi => {
                assert_eq!(requests[0].body["response_format"]["type"], "json_schema")
            }
        }
    }
}

#[test]
fn structured_output_that_stays_invalid_fails_clearly() {
    let server = server(vec![
        Reply::text("I think the plan is good."),
        Reply::text("{\"steps\": []}"),
    ]);
    let llm = Llm::new(settings(Provider::Ollama, &server), None).expect("client");
    let error = chat_structured::<Plan>(&llm, &request("plan", true), &plan_schema(), &|_| {})
        .expect_err("invalid");
    match error {
        LlmError::SchemaInvalid { schema, errors } => {
            assert_eq!(schema, "plan");
            assert!(errors.contains("/steps"), "{errors}");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn servers_without_json_schema_get_json_object_with_the_schema() {
    let server = server(vec![
        Reply {
            content: "{\"steps\": [\"a\", \"b\"]}".into(),
            reject_json_schema: true,
            ..Reply::default()
        },
        Reply {
            content: "{\"steps\": [\"c\", \"d\"]}".into(),
            reject_json_schema: true,
            ..Reply::default()
        },
    ]);
    let llm = Llm::new(settings(Provider::OpenAi, &server), None).expect("client");
    let first = chat_structured::<Plan>(&llm, &request("plan", false), &plan_schema(), &|_| {})
        .expect("fallback");
    assert_eq!(first.value.steps, ["a", "b"]);
    let second = chat_structured::<Plan>(&llm, &request("plan", false), &plan_schema(), &|_| {})
        .expect("remembered");
    assert_eq!(second.value.steps, ["c", "d"]);
    let formats: Vec<String> = server
        .requests()
        .iter()
        .map(|r| {
            r.body["response_format"]["type"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(
        formats,
        ["json_schema", "json_object", "json_object"],
        "falls back once and remembers"
    );
}

#[test]
fn every_call_is_appended_to_the_metrics_log() {
    let server = server(vec![
        Reply::text("one"),
        Reply {
            status: 400,
            ..Reply::default()
        },
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("metrics/llm-calls.jsonl");
    let llm = Llm::new(settings(Provider::Ollama, &server), Some(log.clone())).expect("client");
    llm.chat(&request("a", true), &|_| {}).expect("ok");
    llm.chat(&request("b", true), &|_| {}).expect_err("fails");
    let lines = sextant::llm::metrics::MetricsLog::new(log)
        .read()
        .expect("read");
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].outcome, "ok");
    assert_eq!(lines[0].stage.as_deref(), Some("test"));
    assert!(lines[0].tokens_per_second.is_some());
    assert_eq!(lines[1].outcome, "http_error");
}

#[test]
fn each_logged_call_records_the_servers_memory_and_sextants_peak() {
    for provider in BOTH {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = ReplayServer::start(Script {
            models: vec![MODEL.into()],
            replies: vec![Reply::text("one"), Reply::text("two")],
            memory: Some(sextant::llm::replay::ReportedMemory {
                bytes: 4_700_000_000,
                vram_bytes: 4_000_000_000,
            }),
            ..Script::default()
        })
        .expect("server");
        let log = dir.path().join("calls.jsonl");
        let llm = Llm::new(settings(provider, &server), Some(log.clone())).expect("client");
        llm.chat(&request("q", true), &|_| {}).expect("reply");
        let calls = sextant::llm::metrics::MetricsLog::new(log)
            .read()
            .expect("log");
        let call = calls.last().expect("a line");
        assert_eq!(
            call.server_memory_bytes,
            Some(4_700_000_000),
            "{provider:?}"
        );
        // Only Ollama says how much of it is on the GPU.
        let vram = (provider == Provider::Ollama).then_some(4_000_000_000);
        assert_eq!(call.server_vram_bytes, vram, "{provider:?}");
        assert!(call.sextant_peak_rss_bytes > Some(1 << 20), "{call:?}");
    }
    // A server that reports nothing leaves the fields empty, and the call works.
    let quiet = server(vec![Reply::text("hi")]);
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("calls.jsonl");
    let llm = Llm::new(settings(Provider::OpenAi, &quiet), Some(log.clone())).expect("client");
    llm.chat(&request("q", true), &|_| {}).expect("reply");
    let calls = sextant::llm::metrics::MetricsLog::new(log)
        .read()
        .expect("log");
    assert_eq!(calls[0].server_memory_bytes, None);
}
