//! What each model call cost, and the JSONL log that collects it for `sextant stats`.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::LlmSettings;

/// One call's cost and outcome; one line of the metrics log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallMetrics {
    /// When the call ended, milliseconds since the Unix epoch.
    pub timestamp_unix_ms: u64,
    /// `ollama` or `openai`.
    pub provider: String,
    /// Model name.
    pub model: String,
    /// Workflow stage, if the caller named one.
    pub stage: Option<String>,
    /// The agent run the call belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// Prompt tokens as the server counted them.
    pub prompt_tokens: Option<u32>,
    /// Prompt tokens as sextant counted them before sending (the prompt-size check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sextant_prompt_tokens: Option<u32>,
    /// How sextant counted them: `server tokenizer` (the model's own template and tokenizer,
    /// through llama.cpp's server) or `estimate` (bytes / 3 plus template overhead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_count: Option<String>,
    /// Generated tokens as the server counted them.
    pub completion_tokens: Option<u32>,
    /// Time until the first generated text arrived (streaming only).
    pub time_to_first_token_ms: Option<u64>,
    /// Whole call, including retries.
    pub wall_ms: u64,
    /// Generation speed: completion tokens over the time spent generating them.
    pub tokens_per_second: Option<f64>,
    /// Attempts made (1 when nothing was retried).
    pub attempts: u32,
    /// `ok`, or the error kind (`timeout`, `schema_invalid`...).
    pub outcome: String,
    /// Memory the model server holds for the model after the call, where it reports it
    /// (Ollama's `/api/ps` `size`; an OpenAI-compatible server's `/metrics`
    /// `process_resident_memory_bytes`, as vLLM's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_memory_bytes: Option<u64>,
    /// The part of it in GPU memory (Ollama's `size_vram`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_vram_bytes: Option<u64>,
    /// sextant's own peak resident memory up to the end of the call (the process's high-water
    /// mark, so per stage it is the peak of the command running that stage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sextant_peak_rss_bytes: Option<u64>,
    /// Bytes of the prompt's messages (the agent sizes a smaller prompt from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_bytes: Option<u64>,
}

/// This process's peak resident memory (`VmHWM` in `/proc/self/status`), where the system
/// reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

impl CallMetrics {
    /// Metrics with only the identity filled in.
    pub fn new(settings: &LlmSettings, stage: Option<&str>) -> CallMetrics {
        CallMetrics {
            timestamp_unix_ms: now_ms(),
            provider: settings.provider.name().to_string(),
            model: settings.model.clone(),
            stage: stage.map(str::to_string),
            run: None,
            prompt_tokens: None,
            sextant_prompt_tokens: None,
            prompt_count: None,
            completion_tokens: None,
            time_to_first_token_ms: None,
            wall_ms: 0,
            tokens_per_second: None,
            attempts: 1,
            outcome: "ok".to_string(),
            server_memory_bytes: None,
            server_vram_bytes: None,
            sextant_peak_rss_bytes: None,
            prompt_bytes: None,
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Times one call: start, first token, end.
pub struct Stopwatch {
    started: Instant,
    first_token: Option<Instant>,
}

impl Stopwatch {
    /// Starts timing.
    pub fn start() -> Stopwatch {
        Stopwatch {
            started: Instant::now(),
            first_token: None,
        }
    }

    /// Notes that text arrived (only the first call counts).
    pub fn token(&mut self) {
        self.first_token.get_or_insert_with(Instant::now);
    }

    /// Fills in the timing fields of `metrics`. `server_generation_secs`, when the server
    /// reports how long generation took, beats the client-side estimate.
    pub fn finish(&self, metrics: &mut CallMetrics, server_generation_secs: Option<f64>) {
        let end = Instant::now();
        metrics.timestamp_unix_ms = now_ms();
        metrics.wall_ms = end.duration_since(self.started).as_millis() as u64;
        metrics.time_to_first_token_ms = self
            .first_token
            .map(|t| t.duration_since(self.started).as_millis() as u64);
        let generation_secs = server_generation_secs.or_else(|| {
            let from = self.first_token.unwrap_or(self.started);
            Some(end.duration_since(from).as_secs_f64())
        });
        metrics.tokens_per_second = match (metrics.completion_tokens, generation_secs) {
            (Some(tokens), Some(secs)) if secs > 0.0 && tokens > 0 => {
                Some(f64::from(tokens) / secs)
            }
            _ => None,
        };
    }
}

/// An append-only JSONL file of [`CallMetrics`].
pub struct MetricsLog {
    path: PathBuf,
}

impl MetricsLog {
    /// A log at `path` (created on first write).
    pub fn new(path: PathBuf) -> MetricsLog {
        MetricsLog { path }
    }

    /// Appends one line. Each line is written with one `write` call on an append-mode file, so
    /// concurrent writers do not interleave within a line.
    pub fn append(&self, metrics: &CallMetrics) -> std::io::Result<()> {
        if let Some(parent) = self.path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut line = serde_json::to_string(metrics).map_err(std::io::Error::other)?;
        line.push('\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        file.write_all(line.as_bytes())
    }

    /// Reads every line back; lines that do not parse are skipped.
    pub fn read(&self) -> std::io::Result<Vec<CallMetrics>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect())
    }
}
