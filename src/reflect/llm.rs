//! The OpenAI-compatible chat-completions call: async-openai's config (base URL, key headers)
//! and its request type (the shape of WIRE.md), sent by our own retry loop (429, 5xx, timeouts,
//! with backoff and `Retry-After`, bounded) so attempts follow `llm.max_attempts` and stay fast
//! in tests; async-openai's client would retry 429 internally for minutes and cannot tell 5xx
//! from 401. The answer is read leniently ([`super::completion`]): async-openai's strict
//! response types refuse what compatible servers really send. A 429 `insufficient_quota`, 401,
//! 403 and other refusals are permanent ([`Failure::Permanent`]), not retried. Bodies are read
//! up to 16 MiB. Never logs the key, the prompt or the answer; server error text is scrubbed of
//! secrets.

use std::time::Duration;

use anyhow::{anyhow, Result};
use async_openai::config::{Config, OpenAIConfig};
use async_openai::types::{
    ChatCompletionRequestSystemMessageArgs, ChatCompletionRequestUserMessageArgs,
    CreateChatCompletionRequest, CreateChatCompletionRequestArgs, ResponseFormat,
};

use super::completion;
use super::prompt::Prompt;
use crate::body::{text_limited, BodyError};
use crate::config::Settings;
use crate::error::{bad_input, temp_fail};
use crate::http::{describe, short};

/// What the model said, before validation.
#[derive(Debug, Clone)]
pub struct Reply {
    pub model: String,
    pub content: String,
    /// The answer was cut off at `max_tokens` (`finish_reason: "length"`).
    pub truncated: bool,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
}

/// The request body for `prompt` (public so tests and `--print-prompt` could show it).
pub fn request(settings: &Settings, prompt: &Prompt) -> Result<CreateChatCompletionRequest> {
    let llm = &settings.llm;
    #[allow(deprecated)] // `max_tokens` is what OpenAI-compatible servers (Ollama, vLLM) read.
    let request = CreateChatCompletionRequestArgs::default()
        .model(llm.model.clone())
        .messages(vec![
            ChatCompletionRequestSystemMessageArgs::default()
                .content(prompt.system.clone())
                .build()?
                .into(),
            ChatCompletionRequestUserMessageArgs::default()
                .content(prompt.user.clone())
                .build()?
                .into(),
        ])
        .temperature(llm.temperature)
        .max_tokens(llm.max_tokens)
        .response_format(ResponseFormat::JsonObject)
        .build()?;
    Ok(request)
}

/// Why the model gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Still unavailable after `llm.max_attempts` attempts (connection, timeout, 5xx, 429 rate
    /// limits): it may pass by waiting.
    Unavailable(String),
    /// Waiting will not help: the key is refused (401, 403), the account is out of quota (429
    /// `insufficient_quota`), the request is refused (400, 404: a model that does not exist),
    /// or the answer holds no completion.
    Permanent(String),
}

impl Failure {
    /// Why, in one line (scrubbed of secrets).
    pub fn reason(&self) -> &str {
        match self {
            Failure::Unavailable(why) | Failure::Permanent(why) => why,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

/// Sends `prompt` and returns the model's reply, or why the model gave none (`Ok(Err(..))`).
/// `Err` is a setting that makes no request possible (no key: exit 2).
pub async fn ask(
    settings: &Settings,
    prompt: &Prompt,
) -> Result<std::result::Result<Reply, Failure>> {
    let llm = &settings.llm;
    let key = llm
        .api_key
        .as_deref()
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| bad_input("engine openai needs OPENAI_API_KEY (or use --engine rules)"))?;
    if key.chars().any(|c| c.is_control() || c == ' ') {
        return Err(bad_input(
            "OPENAI_API_KEY contains spaces or control characters",
        ));
    }
    let config = OpenAIConfig::new()
        .with_api_base(llm.base_url.trim_end_matches('/'))
        .with_api_key(key);
    let url = config.url("/chat/completions");
    let headers = config.headers();
    let body = request(settings, prompt)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(llm.timeout_secs.max(1)))
        .connect_timeout(Duration::from_secs(llm.timeout_secs.clamp(1, 5)))
        .user_agent(concat!("polyperf/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let policy = Retry {
        max_attempts: llm.max_attempts.max(1),
        backoff: Duration::from_millis(settings.apis.http_backoff_ms),
        max_retry_after: Duration::from_secs(llm.timeout_secs.max(30)),
    };
    let sent = send(&policy, settings, || {
        client
            .post(url.as_str())
            .headers(headers.clone())
            .json(&body)
    })
    .await;
    let (text, attempts) = match sent {
        Ok(answer) => answer,
        Err(failure) => return Ok(Err(failure)),
    };
    let completion = match completion::read(&text) {
        Ok(completion) => completion,
        Err(why) => {
            let why = settings.scrub(&format!("chat completion: {why}"));
            return Ok(Err(Failure::Permanent(why)));
        }
    };
    tracing::info!(
        model = completion.model.as_deref().unwrap_or(&llm.model),
        prompt_tokens = completion.prompt_tokens,
        completion_tokens = completion.completion_tokens,
        attempts,
        "model answered"
    );
    Ok(Ok(Reply {
        model: completion.model.unwrap_or_else(|| llm.model.clone()),
        content: completion.content,
        truncated: completion.truncated,
        prompt_tokens: completion.prompt_tokens,
        completion_tokens: completion.completion_tokens,
    }))
}

/// As [`ask`], with the model's failure as the error: exit 75 when it may pass by waiting, 1
/// otherwise (`polyperf evaluate --engine openai` stops on it).
pub async fn complete(settings: &Settings, prompt: &Prompt) -> Result<Reply> {
    match ask(settings, prompt).await? {
        Ok(reply) => Ok(reply),
        Err(Failure::Unavailable(why)) => Err(temp_fail(why)),
        Err(Failure::Permanent(why)) => Err(anyhow!(why)),
    }
}

/// The retry policy of one call.
#[derive(Debug, Clone)]
struct Retry {
    max_attempts: u32,
    backoff: Duration,
    /// A `Retry-After` longer than this ends the attempts at once (the model is unavailable).
    max_retry_after: Duration,
}

/// The longest answer read (far above any `max_tokens`); a larger body is no completion.
const MAX_ANSWER_BYTES: usize = crate::body::MAX_BODY_BYTES;

/// Sends until a success, a permanent failure, or `max_attempts`; returns the body text and
/// the number of attempts. Every error text is scrubbed of secrets before it is logged.
async fn send(
    policy: &Retry,
    settings: &Settings,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> std::result::Result<(String, u32), Failure> {
    let mut delay = policy.backoff;
    let mut last = String::new();
    for attempt in 1..=policy.max_attempts {
        match build().send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let wait = retry_after(response.headers());
                match text_limited(response, MAX_ANSWER_BYTES).await {
                    Ok(body) if (200..300).contains(&status) => return Ok((body, attempt)),
                    Ok(body) => {
                        last = refusal(settings, status, &body)?;
                        if let Some(wait) = wait {
                            if wait > policy.max_retry_after {
                                return Err(Failure::Unavailable(format!(
                                    "chat completion: unavailable after {attempt} attempts: {last} (retry after {}s)",
                                    wait.as_secs()
                                )));
                            }
                            delay = delay.max(wait);
                        }
                    }
                    Err(e @ BodyError::TooLarge(_)) => {
                        return Err(Failure::Permanent(format!("chat completion: {e}")))
                    }
                    // A timeout while the body streams in is retried like any other.
                    Err(e) => last = settings.scrub(&e.to_string()),
                }
            }
            Err(e) => last = settings.scrub(&describe(&e)),
        }
        if attempt < policy.max_attempts {
            tracing::warn!(attempt, error = %last, delay_ms = delay.as_millis() as u64, "chat completion failed; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(30));
        }
    }
    Err(Failure::Unavailable(format!(
        "chat completion: unavailable after {} attempts: {last}",
        policy.max_attempts
    )))
}

/// A non-2xx answer: `Ok(what it said)` when trying again may help (408, 429 other than
/// `insufficient_quota`, 5xx), else the permanent failure.
fn refusal(settings: &Settings, status: u16, body: &str) -> std::result::Result<String, Failure> {
    let said = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").map(completion::error_text))
        .unwrap_or_else(|| short(body));
    let detail = settings.scrub(&format!("HTTP {status}: {said}"));
    let code = completion::error_code(body);
    match status {
        429 if code.as_deref() == Some("insufficient_quota") => Err(Failure::Permanent(format!(
            "chat completion: {detail} (the account is out of quota: waiting will not help)"
        ))),
        401 | 403 => Err(Failure::Permanent(format!(
            "chat completion: {detail} (OPENAI_API_KEY is refused)"
        ))),
        408 | 429 | 500..=599 => Ok(detail),
        _ => Err(Failure::Permanent(format!("chat completion: {detail}"))),
    }
}

/// The wait an answer asks for: `retry-after-ms`, else `retry-after` in seconds.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|n| n.is_finite() && *n >= 0.0)
    };
    number("retry-after-ms")
        .map(|ms| Duration::from_secs_f64((ms / 1000.0).min(86_400.0)))
        .or_else(|| number("retry-after").map(|s| Duration::from_secs_f64(s.min(86_400.0))))
}
