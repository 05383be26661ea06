//! The OpenAI-compatible chat-completions call: async-openai's config (base URL, key headers)
//! and its request/response types, sent by our own retry loop (429, 5xx, timeouts, with
//! backoff and `Retry-After`) so attempts follow `llm.max_attempts` and stay fast in tests;
//! async-openai's client would retry 429 internally for minutes and cannot tell 5xx from 401.
//! Never logs the key, the prompt or the answer; server error text is scrubbed of secrets.

use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use async_openai::config::{Config, OpenAIConfig};
use async_openai::types::{
    ChatCompletionRequestSystemMessageArgs, ChatCompletionRequestUserMessageArgs,
    CreateChatCompletionRequest, CreateChatCompletionRequestArgs, CreateChatCompletionResponse,
    FinishReason, ResponseFormat,
};

use super::prompt::Prompt;
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

/// Sends `prompt` and returns the model's reply. A retryable failure after
/// `llm.max_attempts` attempts is exit 75 (nothing stored, the trigger fires next run); a
/// rejected request (401, 400, …) or a body that is not a chat completion is exit 1.
pub async fn complete(settings: &Settings, prompt: &Prompt) -> Result<Reply> {
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
    let (text, attempts) = send(&policy, settings, || {
        client
            .post(url.as_str())
            .headers(headers.clone())
            .json(&body)
    })
    .await?;
    let completion: CreateChatCompletionResponse = serde_json::from_str(&text)
        .with_context(|| format!("chat completion: not a chat completion: {}", short(&text)))?;
    let choice = completion
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("chat completion: the answer has no choices"))?;
    let usage = completion.usage;
    tracing::info!(
        model = %completion.model,
        prompt_tokens = usage.as_ref().map(|u| u.prompt_tokens),
        completion_tokens = usage.as_ref().map(|u| u.completion_tokens),
        attempts,
        "model answered"
    );
    Ok(Reply {
        model: completion.model,
        content: choice.message.content.unwrap_or_default(),
        truncated: choice.finish_reason == Some(FinishReason::Length),
        prompt_tokens: usage.as_ref().map(|u| u.prompt_tokens),
        completion_tokens: usage.as_ref().map(|u| u.completion_tokens),
    })
}

/// The retry policy of one call.
#[derive(Debug, Clone)]
struct Retry {
    max_attempts: u32,
    backoff: Duration,
    /// A `Retry-After` longer than this ends the run (exit 75) instead of waiting.
    max_retry_after: Duration,
}

/// Sends until a success, a permanent failure, or `max_attempts`; returns the body text and
/// the number of attempts. Every error text is scrubbed of secrets before it is logged.
async fn send(
    policy: &Retry,
    settings: &Settings,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<(String, u32)> {
    let mut delay = policy.backoff;
    let mut last = String::new();
    for attempt in 1..=policy.max_attempts {
        match build().send().await {
            Ok(response) => {
                let status = response.status();
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                match response.text().await {
                    Ok(body) if status.is_success() => return Ok((body, attempt)),
                    Ok(body) => {
                        let detail = settings.scrub(&short(&body));
                        let code = status.as_u16();
                        if !(code == 429 || code == 408 || status.is_server_error()) {
                            return Err(anyhow!("chat completion: HTTP {code}: {detail}"));
                        }
                        last = format!("HTTP {code}: {detail}");
                        if let Some(wait) = retry_after {
                            if wait > policy.max_retry_after {
                                return Err(temp_fail(format!(
                                    "chat completion: unavailable after {attempt} attempts: {last} (retry after {}s)",
                                    wait.as_secs()
                                )));
                            }
                            delay = delay.max(wait);
                        }
                    }
                    // A timeout while the body streams in is retried like any other.
                    Err(e) => last = format!("reading the body: {}", settings.scrub(&describe(&e))),
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
    Err(temp_fail(format!(
        "chat completion: unavailable after {} attempts: {last}",
        policy.max_attempts
    )))
}
