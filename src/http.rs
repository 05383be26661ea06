//! The one HTTP client wrapper: timeouts, retries with backoff on 429 / 5xx / network errors
//! (honouring `Retry-After`), request counting, and errors that never carry a URL (the
//! Telegram token lives in the URL path). Knows no API; the API modules build requests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use reqwest::{Response, StatusCode};

use crate::config::Apis;
use crate::error::temp_fail;

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
                    let body = response.text().await.unwrap_or_default();
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
        let body = response
            .text()
            .await
            .map_err(|e| temp_fail(format!("{what}: reading the body: {}", describe(&e))))?;
        serde_json::from_str(&body).map_err(|e| {
            anyhow::anyhow!(format!(
                "{what}: malformed response ({e}): {}",
                short(&body)
            ))
        })
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
