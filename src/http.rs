//! The one HTTP client wrapper: timeouts, retries with backoff on 429 / 5xx / network errors
//! (honouring `Retry-After`), request counting, bounded bodies ([`read_body`]), and errors that
//! never carry a secret (the Telegram token lives in the URL path). Knows no API; the API
//! modules build requests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use reqwest::{Response, StatusCode};

use crate::config::Apis;
use crate::error::temp_fail;

/// Largest response body read from a remote API: a larger one is an error for that request,
/// never a reason to hold gigabytes in memory.
pub use crate::body::MAX_BODY_BYTES;

/// Largest part of an error answer's body that is read (only its start is shown).
const MAX_ERROR_BODY_BYTES: usize = 64 << 10;

/// A client with the retry policy of the settings.
#[derive(Debug, Clone)]
pub struct Http {
    pub client: reqwest::Client,
    pub max_attempts: u32,
    pub backoff: Duration,
    /// Longest wait a `Retry-After` may impose inside one run before we give up until the next.
    pub max_retry_after: Duration,
    requests: Arc<AtomicU64>,
}

/// Why a request finally failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Retryable (429, 5xx, timeout, connection): the work waits for the next run (exit 75).
    #[error("{what}: unavailable after {attempts} attempts: {detail}")]
    Unavailable {
        what: String,
        attempts: u32,
        detail: String,
    },
    /// The server answered with a client error: retrying won't help.
    #[error("{what}: HTTP {status}: {detail}")]
    Rejected {
        what: String,
        status: u16,
        detail: String,
    },
}

impl HttpError {
    /// As an error whose exit code follows its kind (75 for unavailable).
    pub fn into_anyhow(self) -> anyhow::Error {
        match self {
            HttpError::Unavailable { .. } => temp_fail(self.to_string()),
            HttpError::Rejected { .. } => anyhow::Error::new(self),
        }
    }
}

impl Http {
    pub fn new(timeout: Duration, max_attempts: u32, backoff: Duration) -> Result<Http> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("polyperf/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Http {
            client,
            max_attempts: max_attempts.max(1),
            backoff,
            max_retry_after: Duration::from_secs(30),
            requests: Default::default(),
        })
    }

    pub fn from_settings(apis: &Apis) -> Result<Http> {
        Http::new(
            Duration::from_secs(apis.http_timeout_secs),
            apis.http_max_attempts,
            Duration::from_millis(apis.http_backoff_ms),
        )
    }

    /// Requests sent so far (each attempt counts).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Sends the request `build()` makes, retrying retryable failures with exponential backoff.
    /// `what` names the call in errors (never the URL). Returns the first successful response.
    pub async fn send(
        &self,
        what: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> std::result::Result<Response, HttpError> {
        let mut delay = self.backoff;
        let mut last = String::new();
        for attempt in 1..=self.max_attempts {
            self.requests.fetch_add(1, Ordering::Relaxed);
            match build().send().await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => {
                    let status = response.status();
                    let retry_after = retry_after(&response);
                    let body = read_prefix(response, MAX_ERROR_BODY_BYTES).await;
                    let detail = short(&body);
                    if !retryable(status) {
                        return Err(HttpError::Rejected {
                            what: what.into(),
                            status: status.as_u16(),
                            detail,
                        });
                    }
                    last = format!("HTTP {}: {detail}", status.as_u16());
                    if let Some(wait) = retry_after {
                        if wait > self.max_retry_after {
                            return Err(HttpError::Unavailable {
                                what: what.into(),
                                attempts: attempt,
                                detail: format!("{last} (retry after {}s)", wait.as_secs()),
                            });
                        }
                        delay = delay.max(wait);
                    }
                }
                Err(e) => last = describe(&e),
            }
            if attempt < self.max_attempts {
                tracing::warn!(call = what, attempt, error = %last, delay_ms = delay.as_millis() as u64, "retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
        Err(HttpError::Unavailable {
            what: what.into(),
            attempts: self.max_attempts,
            detail: last,
        })
    }

    /// Sends and parses a JSON body; a body that is not the expected JSON is a clear error
    /// (exit 1, so `OnFailure=` alerts fire), not a retry and not exit 2 (the operator's input
    /// was fine).
    pub async fn json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<T> {
        let response = self
            .send(what, build)
            .await
            .map_err(HttpError::into_anyhow)?;
        let body = read_body(response, what, MAX_BODY_BYTES).await?;
        serde_json::from_str(&body).map_err(|e| {
            anyhow::anyhow!(format!(
                "{what}: malformed response ({e}): {}",
                short(&body)
            ))
        })
    }
}

/// The body of a successful answer, at most `max_bytes` of it: a larger body (announced or
/// streamed) is an error naming `what` and the URL without its query or secrets (not a retry:
/// the same request gets the same body). A connection lost while reading is unavailable
/// (exit 75). Bytes that are not UTF-8 are replaced, as `Response::text` does.
pub async fn read_body(response: Response, what: &str, max_bytes: usize) -> Result<String> {
    let url = shown_url(response.url());
    crate::body::text_limited(response, max_bytes)
        .await
        .map_err(|e| match e {
            crate::body::BodyError::TooLarge(_) => anyhow::anyhow!(
                "{what}: the response body from {url} is larger than {}",
                size_for_people(max_bytes)
            ),
            crate::body::BodyError::Read(e) => {
                temp_fail(format!("{what}: reading the body: {}", describe(&e)))
            }
        })
}

/// The first `max_bytes` of a body (an error answer's, shown in part): whatever arrives, never
/// an error.
async fn read_prefix(mut response: Response, max_bytes: usize) -> String {
    let mut body = Vec::new();
    while body.len() < max_bytes {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = max_bytes - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            _ => break,
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// A URL as it may appear in an error: scheme, host, port and path, without user, query or
/// fragment, and with every path segment that holds a `:` (a Telegram bot token,
/// `bot123:ABC`) replaced.
pub fn shown_url(url: &reqwest::Url) -> String {
    let segments: Vec<&str> = url
        .path_segments()
        .map(|s| {
            s.map(|segment| {
                if segment.contains(':') || segment.contains("%3A") {
                    crate::config::REDACTED
                } else {
                    segment
                }
            })
            .collect()
        })
        .unwrap_or_default();
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!(
        "{}://{}{port}/{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        segments.join("/")
    )
}

/// `16 MiB`, `512 KiB`, `100 bytes`.
fn size_for_people(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

fn retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
}

fn retry_after(response: &Response) -> Option<Duration> {
    let value = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A reqwest error without its URL.
pub fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_decode() {
        "malformed body"
    } else if e.is_body() {
        "body error"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}

/// The first 200 characters of a body, on one line.
pub fn short(body: &str) -> String {
    let one_line: String = body
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if body.chars().count() > 200 {
        format!("{one_line}…")
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_errors_carry_no_query_user_or_token() {
        let cases = [
            (
                "https://gamma-api.polymarket.com/markets?slug=a&closed=true",
                "https://gamma-api.polymarket.com/markets",
            ),
            (
                "https://api.telegram.org/bot123456:ABC-DEF_ghi/sendMessage",
                "https://api.telegram.org/<redacted>/sendMessage",
            ),
            (
                "http://user:pass@127.0.0.1:8080/api/v3/klines?symbol=BTCUSDT#x",
                "http://127.0.0.1:8080/api/v3/klines",
            ),
        ];
        for (url, shown) in cases {
            assert_eq!(shown_url(&reqwest::Url::parse(url).unwrap()), shown);
        }
        assert_eq!(size_for_people(MAX_BODY_BYTES), "16 MiB");
        assert_eq!(size_for_people(1536), "1536 bytes");
        assert_eq!(size_for_people(2048), "2 KiB");
    }
}
