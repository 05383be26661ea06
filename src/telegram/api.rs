//! The Bot API client: one POST per call, the `{"ok":…}` envelope decoded into a result or a
//! classified error. Never retries on its own (the callers decide) and never shows the URL.

use std::time::Duration;

use reqwest::multipart::{Form, Part};
use reqwest::RequestBuilder;
use serde_json::{json, Value};

use super::render;
use crate::http::{describe, short, Http};

/// Telegram's limit on a photo's caption, counted like a message's text.
pub const MAX_CAPTION_CHARS: usize = 1024;

/// Why a call failed, as the caller must react to it.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// 429: wait this many seconds.
    RetryAfter(u64, String),
    /// 409 on getUpdates: another process polls this token.
    Conflict(String),
    /// 5xx, timeout, connection: try again later.
    Transient(String),
    /// 400 and friends: this request will never succeed as it is.
    Permanent(u16, String),
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::RetryAfter(secs, d) => write!(f, "rate limited (retry after {secs}s): {d}"),
            ApiError::Conflict(d) => write!(f, "conflict: {d}"),
            ApiError::Transient(d) => write!(f, "unavailable: {d}"),
            ApiError::Permanent(code, d) => write!(f, "rejected ({code}): {d}"),
        }
    }
}

/// A bot: its API base, token and chat.
pub struct Bot {
    http: Http,
    base: String,
    token: String,
}

impl Bot {
    /// `timeout` must exceed the long-polling timeout of `getUpdates`.
    pub fn new(base: &str, token: &str, timeout: Duration) -> anyhow::Result<Bot> {
        Ok(Bot {
            http: Http::new(timeout, 1, Duration::from_millis(0))?,
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
        })
    }

    /// Calls `method` with a JSON body; returns the envelope's `result`.
    pub async fn call(&self, method: &str, body: &Value) -> Result<Value, ApiError> {
        let request = self.http.client.post(self.url(method)).json(body);
        self.answer(method, request).await
    }

    /// Calls `method` with a multipart form (a file upload); returns the envelope's `result`.
    async fn call_multipart(&self, method: &str, form: Form) -> Result<Value, ApiError> {
        let request = self.http.client.post(self.url(method)).multipart(form);
        self.answer(method, request).await
    }

    fn url(&self, method: &str) -> String {
        format!("{}/bot{}/{}", self.base, self.token, method)
    }

    /// Sends a request and decodes the `{"ok":…}` envelope into a result or a classified error.
    async fn answer(&self, method: &str, request: RequestBuilder) -> Result<Value, ApiError> {
        let response = request
            .send()
            .await
            .map_err(|e| ApiError::Transient(format!("{method}: {}", describe(&e))))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| ApiError::Transient(format!("{method}: {}", describe(&e))))?;
        let envelope: Option<Value> = serde_json::from_str(&text).ok();
        let ok = envelope
            .as_ref()
            .and_then(|v| v.get("ok"))
            .and_then(Value::as_bool);
        if ok == Some(true) && (200..300).contains(&status) {
            return Ok(envelope
                .and_then(|mut v| v.get_mut("result").map(Value::take))
                .unwrap_or(Value::Null));
        }
        let code = envelope
            .as_ref()
            .and_then(|v| v.get("error_code"))
            .and_then(Value::as_u64)
            .map(|c| c as u16)
            .unwrap_or(status);
        let description = envelope
            .as_ref()
            .and_then(|v| v.get("description"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| short(&text));
        let detail = format!("{method}: {description}");
        match code {
            429 => {
                let secs = envelope
                    .as_ref()
                    .and_then(|v| v.pointer("/parameters/retry_after"))
                    .and_then(Value::as_u64)
                    .unwrap_or(5);
                Err(ApiError::RetryAfter(secs, detail))
            }
            409 => Err(ApiError::Conflict(detail)),
            c if c >= 500 || c == 408 => Err(ApiError::Transient(format!("HTTP {c}: {detail}"))),
            c if (200..300).contains(&c) => {
                Err(ApiError::Transient(format!("malformed answer: {detail}")))
            }
            c => Err(ApiError::Permanent(c, detail)),
        }
    }

    /// Sends an HTML message, cut to Telegram's limit ([`render::MAX_CHARS`] as Telegram counts
    /// it) wherever it came from: nothing over the limit is ever sent.
    pub async fn send_message(
        &self,
        chat_id: &str,
        message: &Outgoing<'_>,
    ) -> Result<i64, ApiError> {
        let text = render::truncate_html(message.text, render::MAX_CHARS);
        let mut body =
            json!({"chat_id": chat_id_value(chat_id), "text": text, "parse_mode": "HTML"});
        if let Some(markup) = &message.markup {
            body["reply_markup"] = markup.clone();
        }
        if message.silent {
            body["disable_notification"] = json!(true);
        }
        let result = self.call("sendMessage", &body).await?;
        message_id(&result, "sendMessage")
    }

    /// Sends a PNG picture with an HTML caption cut to Telegram's 1,024 characters
    /// ([`MAX_CAPTION_CHARS`]), as `multipart/form-data`.
    pub async fn send_photo(
        &self,
        chat_id: &str,
        png: Vec<u8>,
        caption: &str,
        silent: bool,
    ) -> Result<i64, ApiError> {
        let caption = render::truncate_html(caption, MAX_CAPTION_CHARS);
        let photo = Part::bytes(png)
            .file_name("report.png")
            .mime_str("image/png")
            .map_err(|e| ApiError::Permanent(400, format!("sendPhoto: {e}")))?;
        let mut form = Form::new()
            .text("chat_id", chat_id.trim().to_string())
            .part("photo", photo)
            .text("caption", caption)
            .text("parse_mode", "HTML");
        if silent {
            form = form.text("disable_notification", "true");
        }
        let result = self.call_multipart("sendPhoto", form).await?;
        message_id(&result, "sendPhoto")
    }

    /// Registers the bot's command menu (`setMyCommands`): `(name, description)` pairs.
    pub async fn set_my_commands(&self, commands: &[(&str, &str)]) -> Result<(), ApiError> {
        let list: Vec<Value> = commands
            .iter()
            .map(|(command, description)| json!({"command": command, "description": description}))
            .collect();
        self.call("setMyCommands", &json!({"commands": list}))
            .await
            .map(|_| ())
    }

    pub async fn get_updates(
        &self,
        offset: i64,
        timeout_secs: u32,
    ) -> Result<Vec<Value>, ApiError> {
        let body = json!({"offset": offset, "timeout": timeout_secs,
                          "allowed_updates": ["message", "callback_query"]});
        match self.call("getUpdates", &body).await? {
            Value::Array(updates) => Ok(updates),
            _ => Err(ApiError::Transient(
                "getUpdates: result is not an array".into(),
            )),
        }
    }

    pub async fn answer_callback(&self, id: &str, text: &str) -> Result<(), ApiError> {
        self.call(
            "answerCallbackQuery",
            &json!({"callback_query_id": id, "text": text}),
        )
        .await
        .map(|_| ())
    }

    pub async fn edit_message(
        &self,
        chat_id: &Value,
        message_id: i64,
        text: &str,
    ) -> Result<(), ApiError> {
        let text = render::truncate_html(text, render::MAX_CHARS);
        self.call(
            "editMessageText",
            &json!({"chat_id": chat_id, "message_id": message_id, "text": text, "parse_mode": "HTML"}),
        )
        .await
        .map(|_| ())
    }
}

/// One message to send: HTML text, an optional inline keyboard, and whether it arrives
/// without a sound (`disable_notification`).
#[derive(Debug, Clone, Default)]
pub struct Outgoing<'a> {
    pub text: &'a str,
    pub markup: Option<Value>,
    pub silent: bool,
}

impl<'a> Outgoing<'a> {
    /// A plain message with the usual sound (command replies).
    pub fn text(text: &'a str) -> Outgoing<'a> {
        Outgoing {
            text,
            ..Outgoing::default()
        }
    }
}

/// The `message_id` of a sent Message.
fn message_id(result: &Value, method: &str) -> Result<i64, ApiError> {
    result
        .get("message_id")
        .and_then(Value::as_i64)
        .ok_or_else(|| ApiError::Transient(format!("{method}: answer without message_id")))
}

/// A chat id as Telegram expects it: a number when it is one, else the `@channel` name.
pub fn chat_id_value(chat_id: &str) -> Value {
    chat_id
        .trim()
        .parse::<i64>()
        .map(Value::from)
        .unwrap_or_else(|_| Value::from(chat_id.trim()))
}
