//! LLM settings: provider, server, model, context and timeouts, resolved from built-in
//! defaults, the user config, the repository's `sextant.toml`, the environment and flags (later
//! sources win).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which protocol the server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Ollama's native API (`/api/chat`, `/api/tags`).
    Ollama,
    /// OpenAI-compatible (`/v1/chat/completions`, `/v1/models`): llama.cpp's llama-server,
    /// vLLM, LM Studio, hosted APIs.
    #[serde(rename = "openai", alias = "openai-compatible")]
    #[value(name = "openai")]
    OpenAi,
}

impl Provider {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Ollama => "ollama",
            Provider::OpenAi => "openai",
        }
    }

    /// Where the protocol's server usually listens on this machine.
    pub fn default_base_url(self) -> &'static str {
        match self {
            Provider::Ollama => "http://127.0.0.1:11434",
            Provider::OpenAi => "http://127.0.0.1:8080",
        }
    }
}

/// Resolved LLM settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LlmSettings {
    /// Protocol.
    pub provider: Provider,
    /// Server root URL, without `/api` or `/v1`.
    pub base_url: String,
    /// Model name as the server knows it.
    pub model: String,
    /// Context window requested (Ollama `num_ctx`) and assumed for the prompt check.
    pub context_size: u32,
    /// Default most tokens to generate.
    pub max_tokens: u32,
    /// Sampling temperature.
    pub temperature: f64,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of an answer.
    pub read_timeout: Duration,
    /// Longest a whole call may take, retries and waits included: a server that drips tokens
    /// slowly enough never trips the read timeout, so every call also has a deadline.
    pub call_timeout: Duration,
    /// Attempts for transient failures (connection errors, 5xx, 429, broken streams).
    pub max_attempts: u32,
    /// First retry delay; doubled each further attempt.
    pub retry_base_delay: Duration,
    /// Environment variable holding the API key (OpenAI-compatible servers).
    pub api_key_env: String,
    /// The API key, read from that variable (never from a file, never logged).
    #[serde(skip)]
    pub api_key: Option<String>,
}

/// Bytes of prompt text per token assumed when checking that a prompt fits: modern BPE
/// vocabularies average about 3.5–4 bytes per token on English and code, so 3 overestimates the
/// token count and errs towards refusing rather than letting a server cut the prompt silently.
pub const BYTES_PER_TOKEN_ESTIMATE: f64 = 3.0;

impl Default for LlmSettings {
    /// Qwen2.5-Coder 7B under Ollama (the seed users' setup) with a 16k-token context, which
    /// such a model runs comfortably on a laptop; raise `context_size` where the model and the
    /// machine's memory allow.
    fn default() -> Self {
        LlmSettings {
            provider: Provider::Ollama,
            base_url: Provider::Ollama.default_base_url().to_string(),
            model: "qwen2.5-coder:7b".to_string(),
            context_size: 16_384,
            max_tokens: 2048,
            temperature: 0.2,
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(120),
            call_timeout: Duration::from_secs(600),
            max_attempts: 3,
            retry_base_delay: Duration::from_millis(250),
            api_key_env: "SEXTANT_LLM_API_KEY".to_string(),
            api_key: None,
        }
    }
}

/// The `[llm]` table of a config file; every key optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    /// `ollama` or `openai`.
    pub provider: Option<Provider>,
    /// Server root URL.
    pub base_url: Option<String>,
    /// Model name.
    pub model: Option<String>,
    /// Context window.
    pub context_size: Option<u32>,
    /// Default reply budget.
    pub max_tokens: Option<u32>,
    /// Temperature.
    pub temperature: Option<f64>,
    /// Connect timeout in seconds.
    pub connect_timeout_secs: Option<f64>,
    /// Read timeout in seconds.
    pub read_timeout_secs: Option<f64>,
    /// Deadline of a whole call in seconds.
    pub call_timeout_secs: Option<f64>,
    /// Attempts for transient failures.
    pub max_attempts: Option<u32>,
    /// Variable holding the API key.
    pub api_key_env: Option<String>,
}

impl LlmConfig {
    /// Reads the values the environment sets (`SEXTANT_LLM_PROVIDER`, `_BASE_URL`, `_MODEL`,
    /// `_CONTEXT_SIZE`, `_MAX_TOKENS`, `_TEMPERATURE`, `_READ_TIMEOUT_SECS`,
    /// `_CALL_TIMEOUT_SECS`).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<LlmConfig, String> {
        fn parse<T: std::str::FromStr>(
            name: &str,
            value: Option<String>,
        ) -> Result<Option<T>, String> {
            value
                .map(|v| v.parse().map_err(|_| format!("{name}={v:?} is not valid")))
                .transpose()
        }
        let provider = match get("SEXTANT_LLM_PROVIDER").as_deref() {
            None => None,
            Some("ollama") => Some(Provider::Ollama),
            Some("openai" | "openai-compatible") => Some(Provider::OpenAi),
            Some(other) => {
                return Err(format!(
                    "SEXTANT_LLM_PROVIDER={other:?} is not ollama or openai"
                ));
            }
        };
        Ok(LlmConfig {
            provider,
            base_url: get("SEXTANT_LLM_BASE_URL"),
            model: get("SEXTANT_LLM_MODEL"),
            context_size: parse("SEXTANT_LLM_CONTEXT_SIZE", get("SEXTANT_LLM_CONTEXT_SIZE"))?,
            max_tokens: parse("SEXTANT_LLM_MAX_TOKENS", get("SEXTANT_LLM_MAX_TOKENS"))?,
            temperature: parse("SEXTANT_LLM_TEMPERATURE", get("SEXTANT_LLM_TEMPERATURE"))?,
            read_timeout_secs: parse(
                "SEXTANT_LLM_READ_TIMEOUT_SECS",
                get("SEXTANT_LLM_READ_TIMEOUT_SECS"),
            )?,
            call_timeout_secs: parse(
                "SEXTANT_LLM_CALL_TIMEOUT_SECS",
                get("SEXTANT_LLM_CALL_TIMEOUT_SECS"),
            )?,
            ..LlmConfig::default()
        })
    }
}

impl LlmSettings {
    /// Applies config layers in order (later wins), then reads the API key from the environment.
    pub fn resolve(
        layers: &[LlmConfig],
        get_env: impl Fn(&str) -> Option<String>,
    ) -> Result<LlmSettings, String> {
        let mut settings = LlmSettings::default();
        let mut base_url_set = false;
        for layer in layers {
            if let Some(provider) = layer.provider {
                settings.provider = provider;
            }
            if let Some(url) = &layer.base_url {
                settings.base_url = url.trim_end_matches('/').to_string();
                base_url_set = true;
            }
            if let Some(model) = &layer.model {
                settings.model = model.clone();
            }
            if let Some(value) = layer.context_size {
                settings.context_size = value;
            }
            if let Some(value) = layer.max_tokens {
                settings.max_tokens = value;
            }
            if let Some(value) = layer.temperature {
                settings.temperature = value;
            }
            if let Some(secs) = layer.connect_timeout_secs {
                settings.connect_timeout = seconds(secs, "connect_timeout_secs")?;
            }
            if let Some(secs) = layer.read_timeout_secs {
                settings.read_timeout = seconds(secs, "read_timeout_secs")?;
            }
            if let Some(secs) = layer.call_timeout_secs {
                settings.call_timeout = seconds(secs, "call_timeout_secs")?;
            }
            if let Some(value) = layer.max_attempts {
                settings.max_attempts = value.max(1);
            }
            if let Some(name) = &layer.api_key_env {
                settings.api_key_env = name.clone();
            }
        }
        if !base_url_set {
            settings.base_url = settings.provider.default_base_url().to_string();
        }
        use crate::bounds::{CONTEXT_SIZE, MAX_TOKENS, TEMPERATURE, check_integer, check_real};
        let out_of_range = |error: crate::bounds::UsageError| error.0;
        check_integer(
            "llm.context_size",
            settings.context_size.into(),
            CONTEXT_SIZE,
        )
        .map_err(out_of_range)?;
        check_integer("llm.max_tokens", settings.max_tokens.into(), MAX_TOKENS)
            .map_err(out_of_range)?;
        check_real("llm.temperature", settings.temperature, TEMPERATURE).map_err(out_of_range)?;
        if settings.max_tokens >= settings.context_size {
            return Err(format!(
                "llm.max_tokens ({}) must be smaller than llm.context_size ({})",
                settings.max_tokens, settings.context_size
            ));
        }
        settings.api_key = get_env(&settings.api_key_env).filter(|k| !k.is_empty());
        Ok(settings)
    }

    /// Estimated tokens of a prompt (see [`BYTES_PER_TOKEN_ESTIMATE`]), plus a few per message
    /// for the chat template.
    pub fn estimate_prompt_tokens(messages: &[super::Message]) -> u32 {
        const TEMPLATE_TOKENS_PER_MESSAGE: f64 = 8.0;
        let estimate: f64 = messages
            .iter()
            .map(|m| {
                m.content.len() as f64 / BYTES_PER_TOKEN_ESTIMATE + TEMPLATE_TOKENS_PER_MESSAGE
            })
            .sum();
        estimate.ceil() as u32
    }
}

fn seconds(value: f64, key: &str) -> Result<Duration, String> {
    crate::bounds::check_real(&format!("llm.{key}"), value, crate::bounds::SECONDS)
        .map(Duration::from_secs_f64)
        .map_err(|error| error.0)
}

/// The user's own config file: `$SEXTANT_CONFIG`, else `$XDG_CONFIG_HOME/sextant/config.toml`,
/// else `~/.config/sextant/config.toml`.
pub fn user_config_path(get_env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(path) = get_env("SEXTANT_CONFIG") {
        return Some(PathBuf::from(path));
    }
    let base = get_env("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| get_env("HOME").map(|home| Path::new(&home).join(".config")))?;
    Some(base.join("sextant").join("config.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn later_layers_win_and_the_key_comes_from_the_environment() {
        let user = LlmConfig {
            model: Some("llama3".into()),
            context_size: Some(8192),
            ..LlmConfig::default()
        };
        let repo = LlmConfig {
            provider: Some(Provider::OpenAi),
            ..LlmConfig::default()
        };
        let from_env = LlmConfig::from_env(env(&[("SEXTANT_LLM_MODEL", "qwen")])).expect("env");
        let settings = LlmSettings::resolve(
            &[user, repo, from_env],
            env(&[("SEXTANT_LLM_API_KEY", "sk-1")]),
        )
        .expect("resolve");
        assert_eq!(settings.provider, Provider::OpenAi);
        assert_eq!(
            settings.base_url, "http://127.0.0.1:8080",
            "default follows the provider"
        );
        assert_eq!(settings.model, "qwen");
        assert_eq!(settings.context_size, 8192);
        assert_eq!(settings.api_key.as_deref(), Some("sk-1"));
    }

    #[test]
    fn bad_values_are_reported() {
        assert!(LlmConfig::from_env(env(&[("SEXTANT_LLM_PROVIDER", "gpt")])).is_err());
        assert!(LlmConfig::from_env(env(&[("SEXTANT_LLM_CONTEXT_SIZE", "big")])).is_err());
        let too_big = LlmConfig {
            max_tokens: Some(9000),
            context_size: Some(4096),
            ..LlmConfig::default()
        };
        assert!(LlmSettings::resolve(&[too_big], env(&[])).is_err());
    }

    #[test]
    fn user_config_path_follows_xdg() {
        assert_eq!(
            user_config_path(env(&[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")])),
            Some(PathBuf::from("/x/sextant/config.toml"))
        );
        assert_eq!(
            user_config_path(env(&[("HOME", "/h")])),
            Some(PathBuf::from("/h/.config/sextant/config.toml"))
        );
    }
}
