//! Ollama's native API: `/api/chat` (streamed NDJSON or one JSON object) and `/api/tags`.
//!
//! `options.num_ctx` is always sent: Ollama's default context is small and it silently drops
//! the start of a longer prompt, so sextant asks for its configured context and refuses prompts
//! that would not fit it.

use serde_json::{Value, json};

use super::http::{HttpClient, LineFlow};
use super::metrics::Stopwatch;
use super::{
    CallMetrics, ChatRequest, ChatResponse, FinishReason, LlmError, LlmSettings, ModelInfo,
};

/// A client for one Ollama server and model.
#[derive(Clone)]
pub struct OllamaClient {
    http: HttpClient,
    settings: LlmSettings,
}

/// What the final (or only) object of a reply says.
#[derive(Default)]
struct Reply {
    content: String,
    done_reason: Option<String>,
    prompt_eval_count: Option<u32>,
    eval_count: Option<u32>,
    eval_duration_ns: Option<u64>,
}

impl Reply {
    /// Takes in one JSON object of the reply; returns whether it was the last.
    fn absorb(
        &mut self,
        object: &Value,
        on_token: &(dyn Fn(&str) + Sync),
        stopwatch: &mut Stopwatch,
    ) -> Result<bool, LlmError> {
        if let Some(error) = object.get("error") {
            return Err(LlmError::Http {
                status: 200,
                detail: error.as_str().unwrap_or("unknown error").to_string(),
            });
        }
        let piece = object
            .pointer("/message/content")
            .and_then(Value::as_str)
            .ok_or_else(|| LlmError::Garbage(format!("no message.content in {object}")))?;
        if !piece.is_empty() {
            stopwatch.token();
            on_token(piece);
            self.content.push_str(piece);
        }
        let done = object.get("done").and_then(Value::as_bool).unwrap_or(false);
        if done {
            let count = |key: &str| object.get(key).and_then(Value::as_u64).map(|n| n as u32);
            self.done_reason = object
                .get("done_reason")
                .and_then(Value::as_str)
                .map(str::to_string);
            self.prompt_eval_count = count("prompt_eval_count");
            self.eval_count = count("eval_count");
            self.eval_duration_ns = object.get("eval_duration").and_then(Value::as_u64);
        }
        Ok(done)
    }
}

impl OllamaClient {
    /// A client with these settings.
    pub fn new(http: HttpClient, settings: LlmSettings) -> OllamaClient {
        OllamaClient { http, settings }
    }

    /// One chat completion.
    pub async fn chat(
        &self,
        request: &ChatRequest,
        on_token: &(dyn Fn(&str) + Sync),
    ) -> Result<ChatResponse, LlmError> {
        let reply_tokens = request.max_tokens.unwrap_or(self.settings.max_tokens);
        let context = self.settings.context_size;
        let prompt_tokens = LlmSettings::estimate_prompt_tokens(&request.messages);
        if prompt_tokens.saturating_add(reply_tokens) > context {
            return Err(LlmError::PromptTooLong {
                prompt_tokens,
                reply_tokens,
                context,
            });
        }
        let mut body = json!({
            "model": self.settings.model,
            "messages": request.messages,
            "stream": request.stream,
            "options": {
                "num_ctx": context,
                "num_predict": reply_tokens,
                "temperature": self.settings.temperature,
            },
        });
        if let Some(schema) = &request.schema {
            body["format"] = schema.schema.clone();
        }
        let mut stopwatch = Stopwatch::start();
        let response = match self.http.post("/api/chat", &body).await {
            Err(LlmError::Http {
                status: 404,
                detail,
            }) if detail.contains("not found") => {
                let available = self
                    .models()
                    .await
                    .map(|m| m.into_iter().map(|m| m.name).collect())
                    .unwrap_or_default();
                return Err(LlmError::ModelMissing {
                    provider: "ollama",
                    model: self.settings.model.clone(),
                    available,
                });
            }
            other => other?,
        };
        let mut reply = Reply::default();
        if request.stream {
            let mut pieces = 0u32;
            self.http
                .read_lines(response, |line| {
                    let object: Value = serde_json::from_str(line).map_err(|e| {
                        LlmError::Garbage(format!("a streamed line is not JSON ({e}): {line}"))
                    })?;
                    let done = reply.absorb(&object, on_token, &mut stopwatch)?;
                    pieces += u32::from(
                        object
                            .pointer("/message/content")
                            .and_then(Value::as_str)
                            .is_some_and(|p| !p.is_empty()),
                    );
                    // The limit holds on this side too: a server that ignores num_predict is
                    // cut off once it sends more than the limit (one streamed piece is one
                    // token on Ollama; a server that keeps to it ends first, with its counts).
                    if !done && pieces > reply_tokens {
                        reply.done_reason = Some("length".to_string());
                        return Ok(LineFlow::Done);
                    }
                    Ok(if done { LineFlow::Done } else { LineFlow::More })
                })
                .await?;
        } else {
            let object = self.http.read_json(response).await?;
            reply.absorb(&object, on_token, &mut stopwatch)?;
        }
        // Ollama cuts an overlong prompt to fit num_ctx and says nothing; the count it reports
        // then reaches the context. Treat that as the failure it is.
        if let Some(evaluated) = reply.prompt_eval_count
            && evaluated >= context
        {
            return Err(LlmError::PromptTooLong {
                prompt_tokens: evaluated,
                reply_tokens,
                context,
            });
        }
        let mut metrics = CallMetrics::new(&self.settings, request.stage.as_deref());
        metrics.prompt_tokens = reply.prompt_eval_count;
        metrics.sextant_prompt_tokens = Some(prompt_tokens);
        metrics.prompt_count = Some("estimate".to_string());
        metrics.completion_tokens = reply.eval_count;
        let server_secs = reply
            .eval_duration_ns
            .filter(|&ns| ns > 0)
            .map(|ns| ns as f64 / 1e9);
        stopwatch.finish(&mut metrics, server_secs);
        let finish_reason = FinishReason::from_server(reply.done_reason.as_deref());
        Ok(ChatResponse {
            content: reply.content,
            finish_reason,
            metrics,
        })
    }

    /// The models the server has pulled.
    /// The memory the server holds for the configured model (`/api/ps`: `size` and
    /// `size_vram`), if it is loaded.
    pub async fn memory(&self) -> Option<(u64, Option<u64>)> {
        let loaded = self.http.get_list("/api/ps", "models").await.ok()?;
        let wanted = &self.settings.model;
        let model = loaded.iter().find(|m| {
            ["name", "model"].iter().any(|key| {
                m.get(key).and_then(Value::as_str).is_some_and(|name| {
                    name == wanted || name.strip_suffix(":latest") == Some(wanted.as_str())
                })
            })
        })?;
        Some((
            model.get("size").and_then(Value::as_u64)?,
            model.get("size_vram").and_then(Value::as_u64),
        ))
    }

    /// The models the server offers.
    pub async fn models(&self) -> Result<Vec<ModelInfo>, LlmError> {
        let models = self.http.get_list("/api/tags", "models").await?;
        Ok(models
            .iter()
            .filter_map(|m| {
                Some(ModelInfo {
                    name: m
                        .get("name")
                        .or_else(|| m.get("model"))?
                        .as_str()?
                        .to_string(),
                    size_bytes: m.get("size").and_then(Value::as_u64),
                })
            })
            .collect())
    }
}
