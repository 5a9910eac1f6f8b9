//! A scripted LLM server on 127.0.0.1 that speaks the Ollama and OpenAI protocols faithfully
//! (streaming included) and replays prepared replies in order, faults included.
//!
//! Tests use it in-process ([`ReplayServer::start`]); `sextant llm replay --script FILE` runs it
//! as a process for end-to-end scripts. It records every request so tests can check what
//! sextant sent.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A replay script: the models the server claims to have, and the replies in order.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// Model names listed by `/api/tags` and `/v1/models`.
    #[serde(default)]
    pub models: Vec<String>,
    /// Replies to chat requests, consumed one per request.
    #[serde(default)]
    pub replies: Vec<Reply>,
    /// API key the server demands (`Authorization: Bearer ...`), if any.
    #[serde(default)]
    pub require_api_key: Option<String>,
    /// Memory the server reports for its models: Ollama's `/api/ps` (`size`, `size_vram`) and
    /// `process_resident_memory_bytes` on `/metrics`; without it both answer 404.
    #[serde(default)]
    pub memory: Option<ReportedMemory>,
    /// A tokenizer, as llama.cpp's server offers one: with it the server answers
    /// `/apply-template` and `/tokenize` (one token per this many bytes of the rendered
    /// prompt) and reports that count as every reply's prompt tokens; without it both 404.
    #[serde(default)]
    pub bytes_per_token: Option<f64>,
    /// An embedding model: with it the server answers Ollama's `/api/embed` and the
    /// OpenAI-compatible `/v1/embeddings`; without it both 404.
    #[serde(default)]
    pub embeddings: Option<ScriptedEmbeddings>,
}

/// A scripted embedding model: words hashed into a vector (texts sharing words point the same
/// way), with faults to inject.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedEmbeddings {
    /// Vector length.
    pub dimension: usize,
    /// The first this many embedding requests answer 503 (a server still loading).
    #[serde(default)]
    pub fail_first: usize,
    /// Most texts one request may carry; more answer 400 as an overloaded server would.
    #[serde(default)]
    pub max_inputs: Option<usize>,
    /// Answer every request with a 307 redirect to this URL (a hostile or misconfigured
    /// server: a client must not send the texts on).
    #[serde(default)]
    pub redirect_to: Option<String>,
    /// Hold the answer to a request with an input containing this text for `slow_ms`, so
    /// requests sent after it answer first (a client sending batches concurrently must still
    /// put each vector with its text).
    #[serde(default)]
    pub slow_text: Option<String>,
    /// How long `slow_text` holds an answer.
    #[serde(default)]
    pub slow_ms: u64,
}

impl ScriptedEmbeddings {
    /// The vector of `text`: each word (split at non-alphanumerics and lower-cased) adds one
    /// to a bucket chosen by its hash.
    pub fn vector(&self, text: &str) -> Vec<f32> {
        let length = self.dimension.max(1);
        let mut vector = vec![0.0_f32; length];
        for word in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            let hash = blake3::hash(word.to_lowercase().as_bytes());
            let bucket = u64::from_le_bytes(hash.as_bytes()[..8].try_into().unwrap_or([0; 8]));
            vector[(bucket % length as u64) as usize] += 1.0;
        }
        vector
    }
}

/// Memory a scripted server reports.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportedMemory {
    /// Bytes held for a model (resident memory on `/metrics`).
    pub bytes: u64,
    /// Of which in GPU memory (Ollama only).
    pub vram_bytes: u64,
}

/// One scripted reply, with the faults to inject.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Reply {
    /// The text the model "generates".
    pub content: String,
    /// HTTP status; an error status sends `error` as the body instead of a reply.
    pub status: u16,
    /// Error message for an error status.
    pub error: Option<String>,
    /// `Retry-After` header (seconds) sent with an error status (429 rate limiting).
    pub retry_after_secs: Option<u64>,
    /// Why generation stopped (`stop`, `length`).
    pub finish_reason: String,
    /// Wait before the response headers.
    pub delay_ms: u64,
    /// Wait between streamed chunks.
    pub chunk_delay_ms: u64,
    /// Characters per streamed chunk.
    pub chunk_chars: usize,
    /// Break the connection after this many streamed chunks, without the final event.
    pub truncate_after_chunks: Option<usize>,
    /// Send exactly this body (garbage, half JSON...) instead of a protocol reply.
    pub raw_body: Option<String>,
    /// Prompt tokens to report.
    pub prompt_tokens: u32,
    /// Completion tokens to report; by default one per chunk.
    pub completion_tokens: Option<u32>,
    /// Refuse `response_format` of type `json_schema` with a 400 (as older servers do).
    pub reject_json_schema: bool,
    /// Substrings the request body must contain; a mismatch answers 500 and names them.
    pub expect_in_request: Vec<String>,
}

impl Default for Reply {
    fn default() -> Self {
        Reply {
            content: String::new(),
            status: 200,
            error: None,
            retry_after_secs: None,
            finish_reason: "stop".to_string(),
            delay_ms: 0,
            chunk_delay_ms: 0,
            chunk_chars: 4,
            truncate_after_chunks: None,
            raw_body: None,
            prompt_tokens: 10,
            completion_tokens: None,
            reject_json_schema: false,
            expect_in_request: Vec::new(),
        }
    }
}

impl Reply {
    /// A plain successful reply with `content`.
    pub fn text(content: impl Into<String>) -> Reply {
        Reply {
            content: content.into(),
            ..Reply::default()
        }
    }
}

/// A request the server received.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Recorded {
    /// Request path.
    pub path: String,
    /// Parsed JSON body (null for GET).
    pub body: Value,
}

#[derive(Default)]
struct Shared {
    script: Script,
    next: usize,
    recorded: Vec<Recorded>,
}

type SharedState = Arc<Mutex<Shared>>;

/// A running replay server.
pub struct ReplayServer {
    address: SocketAddr,
    state: SharedState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ReplayServer {
    /// Starts a server on an ephemeral 127.0.0.1 port, on its own thread and runtime.
    pub fn start(script: Script) -> std::io::Result<ReplayServer> {
        Self::start_on(script, "127.0.0.1:0")
    }

    /// Starts a server on `address` (which must be a loopback address).
    pub fn start_on(script: Script, address: &str) -> std::io::Result<ReplayServer> {
        let listener = std::net::TcpListener::bind(address)?;
        let address = listener.local_addr()?;
        if !address.ip().is_loopback() {
            return Err(std::io::Error::other(
                "the replay server only listens on loopback",
            ));
        }
        listener.set_nonblocking(true)?;
        let state: SharedState = Arc::new(Mutex::new(Shared {
            script,
            ..Shared::default()
        }));
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = router(state.clone());
        let thread = std::thread::Builder::new()
            .name("replay-server".into())
            .spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await;
                });
            })?;
        Ok(ReplayServer {
            address,
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .recorded
            .clone()
    }

    /// Replies not yet consumed.
    pub fn remaining(&self) -> usize {
        let shared = self.state.lock().unwrap_or_else(|e| e.into_inner());
        shared.script.replies.len().saturating_sub(shared.next)
    }

    /// Blocks until the process is interrupted (for `sextant llm replay`).
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ReplayServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn router(state: SharedState) -> Router {
    Router::new()
        .route("/api/chat", post(ollama_chat))
        .route("/api/tags", get(ollama_tags))
        .route("/api/ps", get(ollama_ps))
        .route("/metrics", get(prometheus_metrics))
        .route("/v1/chat/completions", post(openai_chat))
        .route("/v1/models", get(openai_models))
        .route("/apply-template", post(apply_template))
        .route("/tokenize", post(tokenize))
        .route("/api/embed", post(ollama_embed))
        .route("/v1/embeddings", post(openai_embeddings))
        .route("/_replay/requests", get(recorded))
        .with_state(state)
}

#[derive(Clone, Copy, PartialEq)]
enum Protocol {
    Ollama,
    OpenAi,
}

async fn ollama_tags(State(state): State<SharedState>) -> Response {
    let models = record_get(&state, "/api/tags");
    let list: Vec<Value> = models
        .iter()
        .map(|m| json!({ "name": m, "model": m, "size": 1000 }))
        .collect();
    axum::Json(json!({ "models": list })).into_response()
}

async fn ollama_ps(State(state): State<SharedState>) -> Response {
    let (models, memory) = {
        let shared = state.lock().unwrap_or_else(|e| e.into_inner());
        (shared.script.models.clone(), shared.script.memory)
    };
    let Some(memory) = memory else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let list: Vec<Value> = models
        .iter()
        .map(|m| json!({ "name": m, "model": m, "size": memory.bytes, "size_vram": memory.vram_bytes }))
        .collect();
    axum::Json(json!({ "models": list })).into_response()
}

async fn prometheus_metrics(State(state): State<SharedState>) -> Response {
    let memory = state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .script
        .memory;
    match memory {
        Some(memory) => format!(
            "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {}\n",
            memory.bytes as f64
        )
        .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn openai_models(
    State(state): State<SharedState>,
    headers: axum::http::HeaderMap,
) -> Response {
    if let Some(refusal) = check_key(&state, &headers) {
        return refusal;
    }
    let models = record_get(&state, "/v1/models");
    let list: Vec<Value> = models
        .iter()
        .map(|m| json!({ "id": m, "object": "model" }))
        .collect();
    axum::Json(json!({ "object": "list", "data": list })).into_response()
}

/// The chat template of the scripted tokenizer: each message as `<|role|>` and its text.
fn render_template(request: &Value) -> String {
    let mut prompt = String::new();
    for message in request
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let field = |name: &str| message.get(name).and_then(Value::as_str).unwrap_or("");
        prompt.push_str(&format!(
            "<|{}|>\n{}<|end|>\n",
            field("role"),
            field("content")
        ));
    }
    prompt
}

/// Tokens the scripted tokenizer counts in `text`, if the script has one.
fn scripted_tokens(state: &SharedState, text: &str) -> Option<u32> {
    let shared = state.lock().unwrap_or_else(|e| e.into_inner());
    let bytes_per_token = shared.script.bytes_per_token?;
    Some((text.len() as f64 / bytes_per_token).ceil() as u32)
}

async fn apply_template(State(state): State<SharedState>, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let prompt = render_template(&request);
    if scripted_tokens(&state, &prompt).is_none() {
        return StatusCode::NOT_FOUND.into_response();
    }
    axum::Json(json!({ "prompt": prompt })).into_response()
}

async fn tokenize(State(state): State<SharedState>, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let content = request.get("content").and_then(Value::as_str).unwrap_or("");
    match scripted_tokens(&state, content) {
        Some(count) => axum::Json(json!({ "tokens": vec![0; count as usize] })).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn ollama_embed(State(state): State<SharedState>, body: Bytes) -> Response {
    embed(state, Protocol::Ollama, body).await
}

async fn openai_embeddings(
    State(state): State<SharedState>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refusal) = check_key(&state, &headers) {
        return refusal;
    }
    embed(state, Protocol::OpenAi, body).await
}

/// Answers an embedding request with the scripted model, recording it.
async fn embed(state: SharedState, protocol: Protocol, body: Bytes) -> Response {
    let path = match protocol {
        Protocol::Ollama => "/api/embed",
        Protocol::OpenAi => "/v1/embeddings",
    };
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let model = {
        let mut shared = state.lock().unwrap_or_else(|e| e.into_inner());
        shared.recorded.push(Recorded {
            path: path.to_string(),
            body: request.clone(),
        });
        let Some(model) = shared.script.embeddings.clone() else {
            return (
                StatusCode::NOT_FOUND,
                axum::Json(json!({ "error": "this server has no embedding model" })),
            )
                .into_response();
        };
        if let Some(target) = &model.redirect_to {
            return (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, target.clone())],
                "",
            )
                .into_response();
        }
        let failing = model.fail_first > 0;
        if let Some(model) = shared.script.embeddings.as_mut() {
            model.fail_first = model.fail_first.saturating_sub(1);
        }
        if failing {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({ "error": "loading model" })),
            )
                .into_response();
        }
        model
    };
    let slow = model.slow_text.as_deref().is_some_and(|slow| {
        request
            .get("input")
            .is_some_and(|input| input.to_string().contains(slow))
    });
    if slow {
        tokio::time::sleep(Duration::from_millis(model.slow_ms)).await;
    }
    let texts: Vec<String> = match request.get("input") {
        Some(Value::String(text)) => vec![text.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().unwrap_or_default().to_string())
            .collect(),
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({ "error": "no input" })),
            )
                .into_response();
        }
    };
    if model.max_inputs.is_some_and(|most| texts.len() > most) {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "error": "too many inputs in one request" })),
        )
            .into_response();
    }
    let vectors: Vec<Vec<f32>> = texts.iter().map(|text| model.vector(text)).collect();
    let name = request.get("model").cloned().unwrap_or(Value::Null);
    let body = match protocol {
        Protocol::Ollama => json!({ "model": name, "embeddings": vectors }),
        Protocol::OpenAi => json!({
            "object": "list",
            "model": name,
            // Last first: clients must order by `index`.
            "data": vectors.iter().enumerate().rev().map(|(index, vector)| json!({
                "object": "embedding", "index": index, "embedding": vector
            })).collect::<Vec<_>>(),
        }),
    };
    axum::Json(body).into_response()
}

async fn recorded(State(state): State<SharedState>) -> Response {
    let shared = state.lock().unwrap_or_else(|e| e.into_inner());
    axum::Json(json!(shared.recorded)).into_response()
}

fn record_get(state: &SharedState, path: &str) -> Vec<String> {
    let mut shared = state.lock().unwrap_or_else(|e| e.into_inner());
    shared.recorded.push(Recorded {
        path: path.to_string(),
        body: Value::Null,
    });
    shared.script.models.clone()
}

fn check_key(state: &SharedState, headers: &axum::http::HeaderMap) -> Option<Response> {
    let shared = state.lock().unwrap_or_else(|e| e.into_inner());
    let required = shared.script.require_api_key.as_ref()?;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if given == Some(format!("Bearer {required}").as_str()) {
        return None;
    }
    let body = json!({ "error": { "message": "Incorrect API key provided", "type": "invalid_request_error" } });
    Some((StatusCode::UNAUTHORIZED, axum::Json(body)).into_response())
}

async fn ollama_chat(State(state): State<SharedState>, body: Bytes) -> Response {
    chat(state, Protocol::Ollama, "/api/chat", body).await
}

async fn openai_chat(
    State(state): State<SharedState>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refusal) = check_key(&state, &headers) {
        return refusal;
    }
    chat(state, Protocol::OpenAi, "/v1/chat/completions", body).await
}

async fn chat(state: SharedState, protocol: Protocol, path: &str, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body).into_owned();
    let request: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let asks_json_schema = request
        .pointer("/response_format/type")
        .and_then(Value::as_str)
        == Some("json_schema");
    let (reply, models) = {
        let mut shared = state.lock().unwrap_or_else(|e| e.into_inner());
        shared.recorded.push(Recorded {
            path: path.to_string(),
            body: request.clone(),
        });
        let reply = shared.script.replies.get(shared.next).cloned();
        // A server that rejects the request format never gets to the scripted reply, so the
        // reply stays for the retry in the format it accepts.
        let rejected = protocol == Protocol::OpenAi
            && asks_json_schema
            && reply.as_ref().is_some_and(|r| r.reject_json_schema);
        if reply.is_some() && !rejected {
            shared.next += 1;
        }
        (reply, shared.script.models.clone())
    };
    let Some(mut reply) = reply else {
        return error_response(
            protocol,
            500,
            "replay script exhausted: no reply left for this request",
        );
    };
    if let Some(counted) = scripted_tokens(&state, &render_template(&request)) {
        reply.prompt_tokens = counted;
    }
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !models.is_empty() && !models.contains(&model) {
        let message = match protocol {
            Protocol::Ollama => format!("model '{model}' not found"),
            Protocol::OpenAi => format!("The model `{model}` does not exist"),
        };
        return error_response(protocol, 404, &message);
    }
    let missing: Vec<&String> = reply
        .expect_in_request
        .iter()
        .filter(|s| !text.contains(s.as_str()))
        .collect();
    if !missing.is_empty() {
        return error_response(
            protocol,
            500,
            &format!("replay: request lacks expected text {missing:?}"),
        );
    }
    if reply.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(reply.delay_ms)).await;
    }
    if protocol == Protocol::OpenAi && reply.reject_json_schema && asks_json_schema {
        return error_response(
            protocol,
            400,
            "response_format type json_schema is not supported",
        );
    }
    if reply.status != 200 {
        let mut response = error_response(
            protocol,
            reply.status,
            reply.error.as_deref().unwrap_or("scripted failure"),
        );
        if let Some(seconds) = reply.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        return response;
    }
    if let Some(raw) = &reply.raw_body {
        return Response::new(Body::from(raw.clone()));
    }
    let stream = request
        .get("stream")
        .and_then(Value::as_bool)
        .unwrap_or(protocol == Protocol::Ollama);
    if stream {
        streamed(protocol, &model, &reply)
    } else {
        whole(protocol, &model, &reply)
    }
}

fn error_response(protocol: Protocol, status: u16, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match protocol {
        Protocol::Ollama => json!({ "error": message }),
        Protocol::OpenAi => json!({ "error": { "message": message, "type": "server_error" } }),
    };
    (status, axum::Json(body)).into_response()
}

fn chunks(reply: &Reply) -> Vec<String> {
    let characters: Vec<char> = reply.content.chars().collect();
    characters
        .chunks(reply.chunk_chars.max(1))
        .map(|c| c.iter().collect())
        .collect()
}

fn completion_tokens(reply: &Reply) -> u32 {
    reply
        .completion_tokens
        .unwrap_or(chunks(reply).len() as u32)
}

fn whole(protocol: Protocol, model: &str, reply: &Reply) -> Response {
    let body = match protocol {
        Protocol::Ollama => json!({
            "model": model,
            "created_at": "2026-01-01T00:00:00Z",
            "message": { "role": "assistant", "content": reply.content },
            "done": true,
            "done_reason": reply.finish_reason,
            "prompt_eval_count": reply.prompt_tokens,
            "eval_count": completion_tokens(reply),
            "eval_duration": 1_000_000_000u64,
        }),
        Protocol::OpenAi => json!({
            "id": "chatcmpl-replay",
            "object": "chat.completion",
            "model": model,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": reply.content },
                "finish_reason": reply.finish_reason,
            }],
            "usage": {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": completion_tokens(reply),
                "total_tokens": reply.prompt_tokens + completion_tokens(reply),
            },
        }),
    };
    axum::Json(body).into_response()
}

fn streamed(protocol: Protocol, model: &str, reply: &Reply) -> Response {
    let pieces = chunks(reply);
    let mut events: Vec<String> = pieces
        .iter()
        .map(|piece| match protocol {
            Protocol::Ollama => json!({
                "model": model,
                "message": { "role": "assistant", "content": piece },
                "done": false,
            })
            .to_string() + "\n",
            Protocol::OpenAi => format!(
                "data: {}\n\n",
                json!({
                    "id": "chatcmpl-replay",
                    "object": "chat.completion.chunk",
                    "choices": [{ "index": 0, "delta": { "content": piece }, "finish_reason": null }],
                })
            ),
        })
        .collect();
    let finished = match protocol {
        Protocol::Ollama => vec![
            json!({
                "model": model,
                "message": { "role": "assistant", "content": "" },
                "done": true,
                "done_reason": reply.finish_reason,
                "prompt_eval_count": reply.prompt_tokens,
                "eval_count": completion_tokens(reply),
                "eval_duration": 1_000_000_000u64,
            })
            .to_string()
                + "\n",
        ],
        Protocol::OpenAi => vec![
            format!(
                "data: {}\n\n",
                json!({
                    "id": "chatcmpl-replay",
                    "object": "chat.completion.chunk",
                    "choices": [{ "index": 0, "delta": {}, "finish_reason": reply.finish_reason }],
                    "usage": {
                        "prompt_tokens": reply.prompt_tokens,
                        "completion_tokens": completion_tokens(reply),
                        "total_tokens": reply.prompt_tokens + completion_tokens(reply),
                    },
                })
            ),
            "data: [DONE]\n\n".to_string(),
        ],
    };
    let truncate = reply.truncate_after_chunks;
    if truncate.is_none() {
        events.extend(finished);
    } else if let Some(keep) = truncate {
        events.truncate(keep);
    }
    let delay = Duration::from_millis(reply.chunk_delay_ms);
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        for event in events {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if sender.send(Ok(Bytes::from(event))).await.is_err() {
                return;
            }
        }
        if truncate.is_some() {
            // An error ends the body without the final chunk: the client sees a broken stream.
            let _ = sender
                .send(Err(std::io::Error::other("replay: truncated on purpose")))
                .await;
        }
    });
    let body = Body::from_stream(futures_util::stream::unfold(
        receiver,
        |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) },
    ));
    let mut response = Response::new(body);
    let content_type = match protocol {
        Protocol::Ollama => "application/x-ndjson",
        Protocol::OpenAi => "text/event-stream",
    };
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
