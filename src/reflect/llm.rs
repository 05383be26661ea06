//! The OpenAI-compatible chat-completions call: async-openai's config (base URL, key headers)
//! and its request/response types, sent through our own [`Http`] so retries (429, 5xx,
//! timeouts, with backoff and `Retry-After`) follow `llm.max_attempts` and stay fast in tests.
//! Never logs the key, the prompt or the answer.

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
use crate::error::bad_input;
use crate::http::{short, Http, HttpError};

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
    let http = Http::new(
        Duration::from_secs(llm.timeout_secs.max(1)),
        llm.max_attempts,
        Duration::from_millis(settings.apis.http_backoff_ms),
    )?;
    let response = http
        .send("chat completion", || {
            http.client
                .post(url.as_str())
                .headers(headers.clone())
                .json(&body)
        })
        .await
        .map_err(|e| match e {
            HttpError::Unavailable { .. } => e.into_anyhow(),
            HttpError::Rejected { .. } => anyhow!(e),
        })?;
    let text = response.text().await.map_err(|e| {
        crate::error::temp_fail(format!(
            "chat completion: reading the body: {}",
            crate::http::describe(&e)
        ))
    })?;
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
        attempts = http.requests(),
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
