//! OpenAI-compatible servers: `/v1/chat/completions` (server-sent events or one JSON object)
//! and `/v1/models`.
//!
//! Structured output is asked for with `response_format: {type: json_schema}`; servers that
//! reject that (llama-cpp-python's server, some older ones) get `{type: json_object, schema}`
//! instead, and the client remembers which form worked.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};

use super::http::{HttpClient, LineFlow, STREAM_BROKEN};
use super::metrics::Stopwatch;
use super::{
    CallMetrics, ChatRequest, ChatResponse, FinishReason, LlmError, LlmSettings, ModelInfo,
};

/// A client for one OpenAI-compatible server and model.
#[derive(Clone)]
pub struct OpenAiClient {
    http: HttpClient,
    settings: LlmSettings,
    /// Set once the server has refused `json_schema`.
    schema_fallback: Arc<AtomicBool>,
    /// Set once the server has no usable `/metrics`.
    no_metrics: Arc<AtomicBool>,
    /// Set once the server cannot count a prompt (no llama.cpp `/apply-template` and
    /// `/tokenize`): prompts are estimated from then on.
    no_tokenize: Arc<AtomicBool>,
}

#[derive(Default)]
struct Reply {
    content: String,
    finish_reason: Option<String>,
    prompt_tokens: Option<u32>,
    completion_tokens: Option<u32>,
}

impl Reply {
    fn absorb_usage(&mut self, object: &Value) {
        if let Some(usage) = object.get("usage").filter(|u| !u.is_null()) {
            let count = |key: &str| usage.get(key).and_then(Value::as_u64).map(|n| n as u32);
            self.prompt_tokens = count("prompt_tokens").or(self.prompt_tokens);
            self.completion_tokens = count("completion_tokens").or(self.completion_tokens);
        }
    }
}

fn server_error(object: &Value) -> Option<LlmError> {
    let error = object.get("error")?;
    let detail = error
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| error.as_str())
        .unwrap_or("unknown error")
        .to_string();
    Some(LlmError::Http {
        status: 200,
        detail,
    })
}

impl OpenAiClient {
    /// A client with these settings.
    pub fn new(http: HttpClient, settings: LlmSettings) -> OpenAiClient {
        OpenAiClient {
            http,
            settings,
            schema_fallback: Arc::new(AtomicBool::new(false)),
            no_metrics: Arc::new(AtomicBool::new(false)),
            no_tokenize: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The prompt's tokens as the model will see them, where the server can say: llama.cpp's
    /// server renders the messages through the model's own chat template (`/apply-template`)
    /// and tokenizes the result with the model's tokenizer (`/tokenize`), the count it then
    /// reports as `prompt_tokens`. `None` (and never asked again) when the server cannot.
    pub async fn count_prompt(&self, messages: &[super::Message]) -> Option<u32> {
        if self.no_tokenize.load(Ordering::Relaxed) {
            return None;
        }
        let counted = async {
            let rendered = self
                .http
                .post("/apply-template", &json!({ "messages": messages }))
                .await
                .ok()?;
            let rendered = self.http.read_json(rendered).await.ok()?;
            let prompt = rendered.get("prompt")?.as_str()?;
            let tokens = self
                .http
                .post(
                    "/tokenize",
                    &json!({ "content": prompt, "add_special": true, "parse_special": true }),
                )
                .await
                .ok()?;
            let tokens = self.http.read_json(tokens).await.ok()?;
            u32::try_from(tokens.get("tokens")?.as_array()?.len()).ok()
        }
        .await;
        if counted.is_none() {
            self.no_tokenize.store(true, Ordering::Relaxed);
        }
        counted
    }

    fn body(&self, request: &ChatRequest, fallback: bool) -> Value {
        let mut body = json!({
            "model": self.settings.model,
            "messages": request.messages,
            "stream": request.stream,
            "temperature": self.settings.temperature,
            "max_tokens": request.max_tokens.unwrap_or(self.settings.max_tokens),
        });
        if request.stream {
            body["stream_options"] = json!({ "include_usage": true });
        }
        if let Some(schema) = &request.schema {
            body["response_format"] = if fallback {
                json!({ "type": "json_object", "schema": schema.schema })
            } else {
                json!({
                    "type": "json_schema",
                    "json_schema": { "name": schema.name, "schema": schema.schema, "strict": true },
                })
            };
        }
        body
    }

    async fn send(&self, request: &ChatRequest) -> Result<reqwest::Response, LlmError> {
        let fallback = self.schema_fallback.load(Ordering::Relaxed);
        match self
            .http
            .post("/v1/chat/completions", &self.body(request, fallback))
            .await
        {
            Err(LlmError::Http { status, detail })
                if request.schema.is_some()
                    && !fallback
                    && (400..600).contains(&status)
                    && mentions_schema(&detail) =>
            {
                self.schema_fallback.store(true, Ordering::Relaxed);
                self.http
                    .post("/v1/chat/completions", &self.body(request, true))
                    .await
            }
            Err(LlmError::Http {
                status: 404,
                detail,
            }) if detail.to_lowercase().contains("model") => Err(LlmError::ModelMissing {
                provider: "openai",
                model: self.settings.model.clone(),
                available: self.model_names().await,
            }),
            other => other,
        }
    }

    async fn model_names(&self) -> Vec<String> {
        self.models()
            .await
            .map(|m| m.into_iter().map(|m| m.name).collect())
            .unwrap_or_default()
    }

    /// One chat completion.
    pub async fn chat(
        &self,
        request: &ChatRequest,
        on_token: &(dyn Fn(&str) + Sync),
    ) -> Result<ChatResponse, LlmError> {
        let mut stopwatch = Stopwatch::start();
        // The prompt must fit beside the reply: counted by the server's own tokenizer where
        // it can, else estimated on the safe side. A prompt that does not fit is refused here
        // rather than cut by the server.
        let reply_tokens = request.max_tokens.unwrap_or(self.settings.max_tokens);
        let context = self.settings.context_size;
        let (counted_prompt, count_method) = match self.count_prompt(&request.messages).await {
            Some(tokens) => (tokens, "server tokenizer"),
            None => (
                LlmSettings::estimate_prompt_tokens(&request.messages),
                "estimate",
            ),
        };
        if counted_prompt.saturating_add(reply_tokens) > context {
            return Err(LlmError::PromptTooLong {
                prompt_tokens: counted_prompt,
                reply_tokens,
                context,
            });
        }
        let response = self.send(request).await?;
        let mut reply = Reply::default();
        let limit = request.max_tokens.unwrap_or(self.settings.max_tokens);
        let mut pieces = 0u32;
        if request.stream {
            let result = self
                .http
                .read_lines(response, |line| {
                    let Some(data) = line.strip_prefix("data:") else {
                        // Comments (`: ping`), `event:` and `id:` lines carry nothing we need.
                        return Ok(LineFlow::More);
                    };
                    let data = data.trim();
                    if data == "[DONE]" {
                        return Ok(LineFlow::Done);
                    }
                    let object: Value = serde_json::from_str(data).map_err(|e| {
                        LlmError::Garbage(format!("an event is not JSON ({e}): {data}"))
                    })?;
                    if let Some(error) = server_error(&object) {
                        return Err(error);
                    }
                    reply.absorb_usage(&object);
                    if let Some(choice) = object.pointer("/choices/0") {
                        if let Some(piece) =
                            choice.pointer("/delta/content").and_then(Value::as_str)
                            && !piece.is_empty()
                        {
                            stopwatch.token();
                            on_token(piece);
                            reply.content.push_str(piece);
                            pieces += 1;
                        }
                        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                            reply.finish_reason = Some(reason.to_string());
                        } else if pieces > limit {
                            // The limit holds on this side too: a server that ignores
                            // max_tokens is cut off once it sends more pieces than the limit
                            // allows (a streamed delta is about one token; a server that
                            // keeps to the limit ends first, with its usage).
                            reply.finish_reason = Some("length".to_string());
                            return Ok(LineFlow::Done);
                        }
                    }
                    Ok(LineFlow::More)
                })
                .await;
            match result {
                Ok(()) => {}
                // Some servers end the stream after the finishing event without `[DONE]`.
                Err(LlmError::Garbage(detail))
                    if detail.starts_with(STREAM_BROKEN)
                        && detail.ends_with("done")
                        && reply.finish_reason.is_some() => {}
                Err(error) => return Err(error),
            }
        } else {
            let object = self.http.read_json(response).await?;
            if let Some(error) = server_error(&object) {
                return Err(error);
            }
            reply.absorb_usage(&object);
            let choice = object
                .pointer("/choices/0")
                .ok_or_else(|| LlmError::Garbage("the reply has no choices".into()))?;
            let content = choice
                .pointer("/message/content")
                .and_then(Value::as_str)
                .ok_or_else(|| LlmError::Garbage("the reply has no message content".into()))?;
            reply.content = content.to_string();
            on_token(content);
            reply.finish_reason = choice
                .get("finish_reason")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        let mut metrics = CallMetrics::new(&self.settings, request.stage.as_deref());
        metrics.prompt_tokens = reply.prompt_tokens;
        metrics.completion_tokens = reply.completion_tokens;
        metrics.sextant_prompt_tokens = Some(counted_prompt);
        metrics.prompt_count = Some(count_method.to_string());
        stopwatch.finish(&mut metrics, None);
        let finish_reason = FinishReason::from_server(reply.finish_reason.as_deref());
        Ok(ChatResponse {
            content: reply.content,
            finish_reason,
            metrics,
        })
    }

    /// The server's resident memory from its Prometheus `/metrics`
    /// (`process_resident_memory_bytes`, which vLLM and other Python servers export), if it
    /// reports it; a server without the endpoint is not asked again.
    pub async fn memory(&self) -> Option<(u64, Option<u64>)> {
        if self.no_metrics.load(Ordering::Relaxed) {
            return None;
        }
        let text = match self.http.get("/metrics").await {
            Ok(response) => response.text().await.ok(),
            Err(_) => None,
        };
        let bytes = text.as_deref().and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("process_resident_memory_bytes "))
                .and_then(|value| value.trim().parse::<f64>().ok())
                .filter(|value| value.is_finite() && *value >= 0.0)
                .map(|value| value as u64)
        });
        if bytes.is_none() {
            self.no_metrics.store(true, Ordering::Relaxed);
        }
        bytes.map(|bytes| (bytes, None))
    }

    /// The models the server offers.
    pub async fn models(&self) -> Result<Vec<ModelInfo>, LlmError> {
        let models = self.http.get_list("/v1/models", "data").await?;
        Ok(models
            .iter()
            .filter_map(|m| {
                Some(ModelInfo {
                    name: m.get("id")?.as_str()?.to_string(),
                    size_bytes: None,
                })
            })
            .collect())
    }
}

fn mentions_schema(detail: &str) -> bool {
    let detail = detail.to_lowercase();
    ["response_format", "json_schema", "schema"]
        .iter()
        .any(|w| detail.contains(w))
}
