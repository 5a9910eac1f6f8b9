//! HTTP plumbing shared by both protocols: the reqwest client, error mapping, reading
//! line-oriented streams (NDJSON, SSE) with an idle timeout, and retries with backoff.

use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;

use super::{LlmError, LlmSettings};

/// Prefix of the `Garbage` detail for a stream that broke off; such errors are retried.
pub const STREAM_BROKEN: &str = "the stream broke off";

/// Largest error body quoted in a message.
const MAX_ERROR_DETAIL: usize = 300;

/// A configured reqwest client plus what error messages need.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    settings: LlmSettings,
}

impl HttpClient {
    /// Builds the client with the settings' timeouts and key.
    pub fn new(settings: &LlmSettings) -> Result<HttpClient, LlmError> {
        // A redirect would re-send the prompt (code, task) to wherever it points; a server on
        // this machine is reached directly, never through a proxy the environment names.
        let mut builder = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .read_timeout(settings.read_timeout)
            .redirect(reqwest::redirect::Policy::none());
        if crate::settings::is_loopback_url(&settings.base_url) {
            builder = builder.no_proxy();
        }
        let client = builder
            .build()
            .map_err(|e| LlmError::Garbage(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpClient {
            client,
            settings: settings.clone(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.base_url)
    }

    fn authorised(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.settings.api_key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    /// GET `path`; an error status becomes an `LlmError`.
    pub async fn get(&self, path: &str) -> Result<reqwest::Response, LlmError> {
        let request = self.authorised(self.client.get(self.url(path)));
        self.send(request).await
    }

    /// GET `path` and return the JSON array under `key` (`/api/tags` → `models`,
    /// `/v1/models` → `data`).
    pub async fn get_list(
        &self,
        path: &str,
        key: &str,
    ) -> Result<Vec<serde_json::Value>, LlmError> {
        let response = self.get(path).await?;
        let mut object: serde_json::Value = response
            .json()
            .await
            .map_err(|e| LlmError::Garbage(format!("{path}: {e}")))?;
        match object.get_mut(key).map(serde_json::Value::take) {
            Some(serde_json::Value::Array(items)) => Ok(items),
            _ => Err(LlmError::Garbage(format!("{path} has no {key} list"))),
        }
    }

    /// POST `body` as JSON to `path`; an error status becomes an `LlmError`.
    pub async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<reqwest::Response, LlmError> {
        let request = self.authorised(self.client.post(self.url(path)).json(body));
        self.send(request).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, LlmError> {
        let response = request.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after);
        let body = response.text().await.unwrap_or_default();
        match status {
            StatusCode::TOO_MANY_REQUESTS => Err(LlmError::RateLimited {
                retry_after,
                detail: error_detail(&body),
            }),
            _ => Err(status_error(status, &body)),
        }
    }

    /// Reads a whole (non-streamed) response body as one JSON value.
    pub async fn read_json(
        &self,
        response: reqwest::Response,
    ) -> Result<serde_json::Value, LlmError> {
        let text = response
            .text()
            .await
            .map_err(|e| self.transport_error(&e))?;
        serde_json::from_str(&text)
            .map_err(|e| LlmError::Garbage(format!("the reply is not JSON ({e})")))
    }

    /// Maps a reqwest failure (no HTTP status) to the error the user should see.
    pub fn transport_error(&self, error: &reqwest::Error) -> LlmError {
        if error.is_timeout() {
            return LlmError::Timeout(self.settings.read_timeout);
        }
        if error.is_connect() {
            return LlmError::ServerDown {
                provider: self.settings.provider.name(),
                url: self.settings.base_url.clone(),
                detail: innermost(error),
            };
        }
        if error.is_body() || error.is_decode() || error.is_request() {
            return LlmError::Garbage(format!("{STREAM_BROKEN}: {}", innermost(error)));
        }
        LlmError::Garbage(innermost(error))
    }

    /// Reads a response as lines, calling `on_line` for each non-empty one. A stream that ends
    /// or breaks before `on_line` says it is done yields a retryable error.
    pub async fn read_lines(
        &self,
        response: reqwest::Response,
        mut on_line: impl FnMut(&str) -> Result<LineFlow, LlmError>,
    ) -> Result<(), LlmError> {
        let mut stream = response.bytes_stream();
        let mut pending: Vec<u8> = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.transport_error(&e))?;
            pending.extend_from_slice(&chunk);
            while let Some(newline) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=newline).collect();
                let line = String::from_utf8_lossy(&line);
                let line = line.trim();
                if !line.is_empty() && on_line(line)? == LineFlow::Done {
                    return Ok(());
                }
            }
        }
        let rest = String::from_utf8_lossy(&pending);
        if !rest.trim().is_empty() && on_line(rest.trim())? == LineFlow::Done {
            return Ok(());
        }
        Err(LlmError::Garbage(format!(
            "{STREAM_BROKEN}: it ended before the server said it was done"
        )))
    }
}

/// Whether a streamed line ended the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineFlow {
    /// More lines follow.
    More,
    /// The answer is complete.
    Done,
}

/// The error for an HTTP error status.
pub fn status_error(status: StatusCode, body: &str) -> LlmError {
    let detail = error_detail(body);
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => LlmError::Unauthorized {
            status: status.as_u16(),
            detail,
        },
        _ => LlmError::Http {
            status: status.as_u16(),
            detail,
        },
    }
}

/// The message inside a JSON error body (`{"error": "..."}` or `{"error": {"message": "..."}}`),
/// else the body itself, shortened.
pub fn error_detail(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let message = parsed.as_ref().and_then(|v| {
        v.get("error").and_then(|e| {
            e.as_str().map(str::to_string).or_else(|| {
                e.get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
        })
    });
    let text = message.unwrap_or_else(|| body.trim().to_string());
    match text.char_indices().nth(MAX_ERROR_DETAIL) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

/// Longest wait between two attempts; a longer `Retry-After` fails the call instead (the
/// call's deadline would pass anyway).
const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

/// `Retry-After` as seconds (the HTTP-date form is rare from model servers and read as absent).
fn retry_after(value: &str) -> Option<Duration> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(3600.0)))
}

/// The wait before attempt `attempts + 1`: exponential backoff from `retry_base_delay` with
/// ±50 % jitter (so clients that failed together do not retry together), at least what the
/// server asked for with `Retry-After`, at most [`MAX_RETRY_DELAY`].
pub fn retry_delay(settings: &LlmSettings, attempts: u32, error: &LlmError) -> Duration {
    use std::hash::BuildHasher;
    let backoff = settings
        .retry_base_delay
        .saturating_mul(1 << (attempts.saturating_sub(1)).min(16));
    // A random factor in [0.5, 1.5) from the standard library's per-process random keys.
    let random = std::collections::hash_map::RandomState::new().hash_one(attempts);
    let factor = 0.5 + (random % 1_000_000) as f64 / 1_000_000.0;
    let jittered = backoff.mul_f64(factor);
    let asked = match error {
        LlmError::RateLimited {
            retry_after: Some(wait),
            ..
        } => *wait,
        _ => Duration::ZERO,
    };
    jittered.max(asked).min(MAX_RETRY_DELAY)
}

/// Runs `attempt` until it succeeds, fails for good, or the attempts run out, waiting
/// [`retry_delay`] between tries. Returns the value or the last error, with the number
/// of attempts made.
pub async fn with_retries<T, F, Fut>(
    settings: &LlmSettings,
    mut attempt: F,
) -> Result<(T, u32), (LlmError, u32)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, LlmError>>,
{
    let mut attempts = 0;
    loop {
        attempts += 1;
        match attempt().await {
            Ok(value) => return Ok((value, attempts)),
            Err(error) if error.is_transient() && attempts < settings.max_attempts => {
                tokio::time::sleep(retry_delay(settings, attempts, &error)).await;
            }
            Err(error) => return Err((error, attempts)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_with_jitter_and_honour_retry_after() {
        let settings = LlmSettings {
            retry_base_delay: Duration::from_millis(200),
            ..LlmSettings::default()
        };
        let down = LlmError::Timeout(Duration::from_secs(1));
        let first: Vec<Duration> = (0..50).map(|_| retry_delay(&settings, 1, &down)).collect();
        assert!(
            first
                .iter()
                .all(|d| *d >= Duration::from_millis(100) && *d < Duration::from_millis(300))
        );
        let distinct: std::collections::HashSet<_> = first.iter().collect();
        assert!(distinct.len() > 10, "jittered: {first:?}");
        let third = retry_delay(&settings, 3, &down);
        assert!(third >= Duration::from_millis(400) && third < Duration::from_millis(1200));
        let limited = LlmError::RateLimited {
            retry_after: Some(Duration::from_secs(7)),
            detail: String::new(),
        };
        assert_eq!(retry_delay(&settings, 1, &limited), Duration::from_secs(7));
        let forever = LlmError::RateLimited {
            retry_after: Some(Duration::from_secs(86_400)),
            detail: String::new(),
        };
        assert_eq!(retry_delay(&settings, 1, &forever), MAX_RETRY_DELAY);
        assert_eq!(retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(retry_after("Wed, 21 Oct 2026 07:28:00 GMT"), None);
    }
}
