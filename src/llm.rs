//! Talking to local (or hosted) language models: one client over two real protocols, Ollama and
//! OpenAI-compatible, with streaming, structured output, retries, timeouts and metrics.
//!
//! This is the only module that speaks HTTP to models, and the only place with async code: the
//! rest of sextant calls the blocking [`Llm`] facade, which owns a small tokio runtime and turns
//! Ctrl-C into [`LlmError::Cancelled`].

pub mod config;
pub mod embeddings;
mod http;
pub mod metrics;
mod ollama;
mod openai;
pub mod replay;
pub mod structured;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use config::{LlmSettings, Provider};
pub use metrics::CallMetrics;

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions.
    System,
    /// The user (or sextant on the user's behalf).
    User,
    /// The model.
    Assistant,
}

/// One chat message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// What it says.
    pub content: String,
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Message {
        Message {
            role: Role::System,
            content: content.into(),
        }
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Message {
        Message {
            role: Role::User,
            content: content.into(),
        }
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Message {
        Message {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// A JSON schema the reply must satisfy, with a name (OpenAI requires one).
#[derive(Clone, Debug, PartialEq)]
pub struct OutputSchema {
    /// Identifier-like name (`plan`, `questions`).
    pub name: String,
    /// The JSON schema.
    pub schema: serde_json::Value,
}

/// A request for one completion.
#[derive(Clone, Debug, Default)]
pub struct ChatRequest {
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Constrain the reply to this schema (server-side where supported; always validated).
    pub schema: Option<OutputSchema>,
    /// Most tokens to generate; the settings' default when `None`.
    pub max_tokens: Option<u32>,
    /// Stream tokens as they come (shown through the callback).
    pub stream: bool,
    /// Label recorded in the metrics (`analyse`, `plan`, `check`...).
    pub stage: Option<String>,
}

/// Why generation stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model finished.
    Stop,
    /// The token limit cut the reply.
    Length,
    /// Anything else the server reported.
    Other,
}

impl FinishReason {
    /// Reads the reason a server gives (`stop`, `length`, ...); none given means a normal stop.
    pub fn from_server(reason: Option<&str>) -> FinishReason {
        match reason {
            Some("stop") | None => FinishReason::Stop,
            Some("length") => FinishReason::Length,
            Some(_) => FinishReason::Other,
        }
    }
}

/// A completed reply.
#[derive(Clone, Debug)]
pub struct ChatResponse {
    /// The reply text.
    pub content: String,
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// What the call cost.
    pub metrics: CallMetrics,
}

/// A model the server offers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModelInfo {
    /// Its name or id, as to be put in requests.
    pub name: String,
    /// Size in bytes, where the server says.
    pub size_bytes: Option<u64>,
}

/// Everything that can go wrong talking to a model.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// Nothing answers at the base URL.
    #[error("cannot reach the {provider} server at {url}: {detail}")]
    ServerDown {
        /// Provider name.
        provider: &'static str,
        /// The base URL tried.
        url: String,
        /// The connection error.
        detail: String,
    },
    /// The server does not have the model.
    #[error("model {model:?} is not available on the server (available: {})", available.join(", "))]
    ModelMissing {
        /// Provider name (the hint differs: `ollama pull` only helps Ollama).
        provider: &'static str,
        /// The model asked for.
        model: String,
        /// Models the server listed, if it could.
        available: Vec<String>,
    },
    /// The server refused the credentials.
    #[error("the server refused the API key (HTTP {status}): {detail}")]
    Unauthorized {
        /// HTTP status.
        status: u16,
        /// The server's message.
        detail: String,
    },
    /// The server took too long.
    #[error("the server did not answer within {0:?}")]
    Timeout(Duration),
    /// The whole call, retries included, passed its deadline.
    #[error("the call did not finish within its deadline of {0:?}")]
    Deadline(Duration),
    /// The server asks the client to slow down (HTTP 429).
    #[error("the server is rate limiting (HTTP 429): {detail}")]
    RateLimited {
        /// How long the server asked to wait (`Retry-After`), if it said.
        retry_after: Option<Duration>,
        /// The server's message.
        detail: String,
    },
    /// The server answered with an error status.
    #[error("the server answered HTTP {status}: {detail}")]
    Http {
        /// HTTP status.
        status: u16,
        /// The server's message.
        detail: String,
    },
    /// The server's answer was not what the protocol promises.
    #[error("the server's answer is not valid: {0}")]
    Garbage(String),
    /// The reply hit the token limit: a cut-off reply is not a result.
    #[error("the reply was cut off at the token limit ({max_tokens} tokens)")]
    Truncated {
        /// The limit in force.
        max_tokens: u32,
        /// What the cut-off call cost (a speed test can still use it).
        metrics: Box<CallMetrics>,
    },
    /// The prompt would not fit the context window and would be silently cut.
    #[error(
        "the prompt needs about {prompt_tokens} tokens plus {reply_tokens} for the reply, more than the {context} the context window holds"
    )]
    PromptTooLong {
        /// Estimated or counted prompt tokens.
        prompt_tokens: u32,
        /// Tokens reserved for the reply.
        reply_tokens: u32,
        /// The context size requested.
        context: u32,
    },
    /// The reply did not satisfy the schema, even after a repair attempt.
    #[error("the reply does not match the {schema} schema: {errors}")]
    SchemaInvalid {
        /// Schema name.
        schema: String,
        /// What was wrong.
        errors: String,
    },
    /// Ctrl-C.
    #[error("cancelled")]
    Cancelled,
}

impl LlmError {
    /// Whether trying again may help (connection trouble, server errors, broken streams).
    pub fn is_transient(&self) -> bool {
        match self {
            LlmError::ServerDown { .. } | LlmError::Timeout(_) | LlmError::RateLimited { .. } => {
                true
            }
            LlmError::Http { status, .. } => *status >= 500,
            LlmError::Garbage(detail) => detail.starts_with(http::STREAM_BROKEN),
            _ => false,
        }
    }

    /// A short machine-readable kind, for metrics (`server_down`, `timeout`...).
    pub fn kind(&self) -> &'static str {
        match self {
            LlmError::ServerDown { .. } => "server_down",
            LlmError::ModelMissing { .. } => "model_missing",
            LlmError::Unauthorized { .. } => "unauthorized",
            LlmError::Timeout(_) => "timeout",
            LlmError::Deadline(_) => "deadline",
            LlmError::RateLimited { .. } => "rate_limited",
            LlmError::Http { .. } => "http_error",
            LlmError::Garbage(_) => "garbage",
            LlmError::Truncated { .. } => "truncated",
            LlmError::PromptTooLong { .. } => "prompt_too_long",
            LlmError::SchemaInvalid { .. } => "schema_invalid",
            LlmError::Cancelled => "cancelled",
        }
    }

    /// What the user can do about it, if anything.
    pub fn hint(&self) -> Option<String> {
        match self {
            LlmError::ServerDown {
                provider: "ollama", ..
            } => Some("start it with `ollama serve`, or set llm.base_url in sextant.toml".into()),
            LlmError::ServerDown { .. } => {
                Some("start the server, or set llm.base_url in sextant.toml".into())
            }
            LlmError::ModelMissing {
                provider: "ollama",
                model,
                ..
            } => Some(format!(
                "pull it (`ollama pull {model}`) or set llm.model to one of the available models"
            )),
            LlmError::ModelMissing { .. } => Some(
                "set llm.model (or --model) to one of the models the server lists; llama-server serves the model it was started with (-m), vLLM and TGI the one they loaded".into(),
            ),
            LlmError::Unauthorized { .. } => {
                Some("set SEXTANT_LLM_API_KEY (or the variable named by llm.api_key_env)".into())
            }
            LlmError::PromptTooLong { .. } => Some(
                "raise llm.context_size (the model must support it) or ask for less context".into(),
            ),
            LlmError::Timeout(_) => {
                Some("raise llm.read_timeout_secs, or use a faster model".into())
            }
            LlmError::Deadline(_) => Some(
                "raise llm.call_timeout_secs (--call-timeout), lower llm.max_tokens, or use a faster model".into(),
            ),
            LlmError::RateLimited { .. } => {
                Some("wait and try again, or raise the server's rate limit".into())
            }
            _ => None,
        }
    }
}

/// Longest wait for the server's memory report after a call.
const MEMORY_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// A client for the configured provider.
#[derive(Clone)]
enum Client {
    Ollama(ollama::OllamaClient),
    OpenAi(openai::OpenAiClient),
}

impl Client {
    fn new(settings: &LlmSettings) -> Result<Client, LlmError> {
        let http = http::HttpClient::new(settings)?;
        Ok(match settings.provider {
            Provider::Ollama => Client::Ollama(ollama::OllamaClient::new(http, settings.clone())),
            Provider::OpenAi => Client::OpenAi(openai::OpenAiClient::new(http, settings.clone())),
        })
    }

    async fn chat(
        &self,
        request: &ChatRequest,
        on_token: &(dyn Fn(&str) + Sync),
    ) -> Result<ChatResponse, LlmError> {
        match self {
            Client::Ollama(client) => client.chat(request, on_token).await,
            Client::OpenAi(client) => client.chat(request, on_token).await,
        }
    }

    async fn models(&self) -> Result<Vec<ModelInfo>, LlmError> {
        match self {
            Client::Ollama(client) => client.models().await,
            Client::OpenAi(client) => client.models().await,
        }
    }

    async fn memory(&self) -> Option<(u64, Option<u64>)> {
        match self {
            Client::Ollama(client) => client.memory().await,
            Client::OpenAi(client) => client.memory().await,
        }
    }
}

/// The blocking entry point the rest of sextant uses.
pub struct Llm {
    settings: LlmSettings,
    run: Option<String>,
    client: Client,
    runtime: tokio::runtime::Runtime,
    log: Option<metrics::MetricsLog>,
    /// Every call's metrics since the caller last took them ([`Llm::take_calls`]).
    calls: std::sync::Mutex<Vec<CallMetrics>>,
}

impl Llm {
    /// A client for `settings`; `log`, when given, receives one JSON line per call.
    pub fn new(settings: LlmSettings, log: Option<std::path::PathBuf>) -> Result<Llm, LlmError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| LlmError::Garbage(format!("cannot start the async runtime: {e}")))?;
        let client = Client::new(&settings)?;
        Ok(Llm {
            settings,
            run: None,
            client,
            runtime,
            log: log.map(metrics::MetricsLog::new),
            calls: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Labels every call's metrics with an agent run id, so per-run statistics can be drawn.
    pub fn for_run(mut self, run: &str) -> Llm {
        self.run = Some(run.to_string());
        self
    }

    /// The settings in force.
    pub fn settings(&self) -> &LlmSettings {
        &self.settings
    }

    /// One completion, retried on transient failures, cancelled by Ctrl-C. Streams tokens to
    /// `on_token` when the request asks for streaming. A reply cut by the token limit is an error.
    pub fn chat(
        &self,
        request: &ChatRequest,
        on_token: &(dyn Fn(&str) + Sync),
    ) -> Result<ChatResponse, LlmError> {
        let started = std::time::Instant::now();
        let deadline = self.settings.call_timeout;
        let result = self.run_cancellable(async {
            match tokio::time::timeout(
                deadline,
                http::with_retries(&self.settings, || self.client.chat(request, on_token)),
            )
            .await
            {
                Ok(result) => result,
                Err(_) => Err((LlmError::Deadline(deadline), 0)),
            }
        });
        let prompt_bytes = Some(
            request
                .messages
                .iter()
                .map(|m| m.content.len() as u64)
                .sum(),
        );
        let (error, metrics) = match result {
            Ok((mut response, attempts)) => {
                response.metrics.attempts = attempts;
                response.metrics.prompt_bytes = prompt_bytes;
                if response.finish_reason != FinishReason::Length {
                    self.record(&response.metrics);
                    return Ok(response);
                }
                let max_tokens = request.max_tokens.unwrap_or(self.settings.max_tokens);
                let metrics = CallMetrics {
                    outcome: "truncated".to_string(),
                    ..response.metrics
                };
                (
                    LlmError::Truncated {
                        max_tokens,
                        metrics: Box::new(metrics.clone()),
                    },
                    metrics,
                )
            }
            Err((error, attempts)) => {
                let mut metrics = CallMetrics::new(&self.settings, request.stage.as_deref());
                metrics.attempts = attempts;
                metrics.prompt_bytes = prompt_bytes;
                if let LlmError::PromptTooLong { prompt_tokens, .. } = &error {
                    metrics.sextant_prompt_tokens = Some(*prompt_tokens);
                }
                metrics.wall_ms = started.elapsed().as_millis() as u64;
                (error, metrics)
            }
        };
        self.record(&CallMetrics {
            outcome: error.kind().to_string(),
            ..metrics
        });
        Err(error)
    }

    /// The models the server offers.
    pub fn models(&self) -> Result<Vec<ModelInfo>, LlmError> {
        self.run_cancellable(http::with_retries(&self.settings, || self.client.models()))
            .map(|(models, _)| models)
            .map_err(|(error, _)| error)
    }

    /// Checks that the configured model is among the server's models.
    pub fn check_model(&self) -> Result<Vec<ModelInfo>, LlmError> {
        let models = self.models()?;
        let wanted = &self.settings.model;
        let found = models.iter().any(|m| {
            &m.name == wanted
                || m.name.strip_suffix(":latest") == Some(wanted.as_str())
                || m.name.ends_with(&format!("/{wanted}"))
        });
        if found {
            Ok(models)
        } else {
            Err(LlmError::ModelMissing {
                provider: self.settings.provider.name(),
                model: wanted.clone(),
                available: models.into_iter().map(|m| m.name).collect(),
            })
        }
    }

    /// The metrics of every call made since the last time they were taken, oldest first:
    /// the agent keeps them in its run record beside the context each call carried.
    pub fn take_calls(&self) -> Vec<CallMetrics> {
        std::mem::take(&mut *self.calls.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn record(&self, metrics: &CallMetrics) {
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(metrics.clone());
        if let Some(log) = &self.log {
            // What the server and sextant hold in memory, next to what the call cost.
            let memory = self.runtime.block_on(async {
                tokio::time::timeout(MEMORY_QUERY_TIMEOUT, self.client.memory())
                    .await
                    .ok()
                    .flatten()
            });
            let labelled = CallMetrics {
                run: self.run.clone(),
                server_memory_bytes: memory.map(|(bytes, _)| bytes),
                server_vram_bytes: memory.and_then(|(_, vram)| vram),
                sextant_peak_rss_bytes: metrics::peak_rss_bytes(),
                ..metrics.clone()
            };
            // Losing a metrics line must not fail the call it describes.
            let _ = log.append(&labelled);
        }
    }

    fn run_cancellable<T>(
        &self,
        future: impl std::future::Future<Output = Result<(T, u32), (LlmError, u32)>>,
    ) -> Result<(T, u32), (LlmError, u32)> {
        self.runtime.block_on(async {
            tokio::select! {
                result = future => result,
                _ = tokio::signal::ctrl_c() => Err((LlmError::Cancelled, 0)),
            }
        })
    }
}
