//! The Bot API client: one POST per call, the `{"ok":…}` envelope decoded into a result or a
//! classified error. Never retries on its own (the callers decide) and never shows the URL.

use std::time::Duration;

use reqwest::multipart::{Form, Part};
use reqwest::RequestBuilder;
use serde_json::{json, Value};

use super::render;
use crate::body::{clip, text_limited, MAX_BODY_BYTES};
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
    /// 401: the token is wrong or revoked. No wait and no other message fixes it.
    Unauthorized(String),
    /// 400 `chat not found` or 403 (the bot was kicked, blocked, or is not a member): every
    /// message to this chat fails the same way until the operator fixes the chat.
    ChatUnusable(u16, String),
    /// 400 "group chat was upgraded to a supergroup chat": the chat lives on under this id.
    Migrated(i64, String),
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::RetryAfter(secs, d) => write!(f, "rate limited (retry after {secs}s): {d}"),
            ApiError::Conflict(d) => write!(f, "conflict: {d}"),
            ApiError::Transient(d) => write!(f, "unavailable: {d}"),
            ApiError::Permanent(code, d) => write!(f, "rejected ({code}): {d}"),
            ApiError::Unauthorized(d) => write!(f, "unauthorized (401): {d}"),
            ApiError::ChatUnusable(code, d) => write!(f, "chat refused ({code}): {d}"),
            ApiError::Migrated(to, d) => write!(f, "chat migrated to {to}: {d}"),
        }
    }
}

impl ApiError {
    /// The setting this error says is wrong, when no wait and no other message can help: 401
    /// is the token, `chat not found` and 403 are the chat (`chat` is where it was sent).
    pub fn misconfigured(&self, chat: &str) -> Option<Misconfigured> {
        match self {
            ApiError::Unauthorized(detail) => Some(Misconfigured::Token(detail.clone())),
            ApiError::ChatUnusable(_, detail) => Some(Misconfigured::Chat {
                chat: chat.to_string(),
                detail: detail.clone(),
            }),
            _ => None,
        }
    }
}

/// A setting Telegram refuses: nothing can be sent or read until the operator fixes it, so the
/// run stops with exit 2 naming the setting, and the queue stays as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Misconfigured {
    /// 401 Unauthorized: `TELEGRAM_BOT_TOKEN` is wrong or revoked.
    Token(String),
    /// 400 `chat not found` or 403: `TELEGRAM_CHAT_ID` names a chat the bot cannot write to.
    Chat { chat: String, detail: String },
}

impl Misconfigured {
    /// The run's error (exit 2), saying how many messages wait for the fix.
    pub fn into_error(self, pending: i64) -> anyhow::Error {
        let waiting = format!("{pending} queued messages stay queued until then");
        crate::error::bad_input(match self {
            Misconfigured::Token(detail) => format!(
                "telegram refuses TELEGRAM_BOT_TOKEN ({detail}): the token is wrong or revoked; \
                 set the one @BotFather gives and run again ({waiting})"
            ),
            Misconfigured::Chat { chat, detail } => format!(
                "telegram cannot deliver to TELEGRAM_CHAT_ID {chat} ({detail}): fix \
                 TELEGRAM_CHAT_ID, or add the bot to that chat, and run again ({waiting})"
            ),
        })
    }
}

/// Longest description of a Telegram error kept (in logs, errors and `outbox.last_error`).
pub const MAX_ERROR_CHARS: usize = 500;

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

    /// The bot's id: the token's part before `:` (public; the secret is the rest).
    pub fn bot_id(&self) -> &str {
        self.token.split(':').next().unwrap_or_default()
    }

    fn url(&self, method: &str) -> String {
        format!("{}/bot{}/{}", self.base, self.token, method)
    }

    /// Sends a request and decodes the `{"ok":…}` envelope into a result or a classified error.
    /// The body is read up to [`MAX_BODY_BYTES`]; error texts lose the token and are clipped to
    /// [`MAX_ERROR_CHARS`].
    async fn answer(&self, method: &str, request: RequestBuilder) -> Result<Value, ApiError> {
        let response = request
            .send()
            .await
            .map_err(|e| ApiError::Transient(format!("{method}: {}", describe(&e))))?;
        let status = response.status().as_u16();
        let text = text_limited(response, MAX_BODY_BYTES)
            .await
            .map_err(|e| ApiError::Transient(format!("{method}: {e}")))?;
        // The token leaves the text before it is cut, so no piece of it survives a cut.
        let text = if self.token.is_empty() {
            text
        } else {
            text.replace(&self.token, "<redacted>")
        };
        classify(method, status, &text)
    }

    /// The bot's own `username` (`getMe`), without the `@`.
    pub async fn get_me(&self) -> Result<String, ApiError> {
        let result = self.call("getMe", &json!({})).await?;
        result
            .get("username")
            .and_then(Value::as_str)
            .map(|name| name.trim_start_matches('@').to_string())
            .filter(|name| !name.is_empty() && name.len() <= 64)
            .ok_or_else(|| ApiError::Transient("getMe: answer without a username".into()))
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

/// Decodes an answer of `method` (HTTP `status`, body `text`): the envelope's `result`, or the
/// error as the caller must react to it. Pure; never panics whatever the body.
pub fn classify(method: &str, status: u16, text: &str) -> Result<Value, ApiError> {
    let envelope: Option<Value> = serde_json::from_str(text).ok();
    let field = |pointer: &str| envelope.as_ref().and_then(|v| v.pointer(pointer));
    let ok = field("/ok").and_then(Value::as_bool);
    if ok == Some(true) && (200..300).contains(&status) {
        return Ok(envelope
            .and_then(|mut v| v.get_mut("result").map(Value::take))
            .unwrap_or(Value::Null));
    }
    let code = field("/error_code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .unwrap_or(status);
    let description = field("/description")
        .and_then(Value::as_str)
        .map(|d| clip(d, MAX_ERROR_CHARS))
        .unwrap_or_else(|| short(text));
    let detail = format!("{method}: {description}");
    let migrated = field("/parameters/migrate_to_chat_id").and_then(Value::as_i64);
    match code {
        429 => {
            let secs = field("/parameters/retry_after")
                .and_then(Value::as_u64)
                .unwrap_or(5);
            Err(ApiError::RetryAfter(secs, detail))
        }
        409 => Err(ApiError::Conflict(detail)),
        401 => Err(ApiError::Unauthorized(detail)),
        400 if migrated.is_some_and(|to| to != 0) => {
            Err(ApiError::Migrated(migrated.unwrap_or_default(), detail))
        }
        400 if description.to_ascii_lowercase().contains("chat not found") => {
            Err(ApiError::ChatUnusable(400, detail))
        }
        403 => Err(ApiError::ChatUnusable(403, detail)),
        c if c >= 500 || c == 408 => Err(ApiError::Transient(format!("HTTP {c}: {detail}"))),
        c if (200..300).contains(&c) => {
            Err(ApiError::Transient(format!("malformed answer: {detail}")))
        }
        c => Err(ApiError::Permanent(c, detail)),
    }
}

/// A chat id as Telegram expects it: a number when it is one, else the `@channel` name.
pub fn chat_id_value(chat_id: &str) -> Value {
    chat_id
        .trim()
        .parse::<i64>()
        .map(Value::from)
        .unwrap_or_else(|_| Value::from(chat_id.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Recorded-style Bot API answers and how each must be read.
    #[test]
    fn answers_are_classified_as_the_caller_must_react() {
        let ok = r#"{"ok":true,"result":{"message_id":7,"date":1771684300,"chat":{"id":-1001234,"type":"supergroup"},"text":"hi"}}"#;
        assert_eq!(classify("sendMessage", 200, ok).unwrap()["message_id"], 7);
        let cases: Vec<(u16, &str, ApiError)> = vec![
            (
                401,
                r#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#,
                ApiError::Unauthorized("sendMessage: Unauthorized".into()),
            ),
            (
                400,
                r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#,
                ApiError::ChatUnusable(400, "sendMessage: Bad Request: chat not found".into()),
            ),
            (
                403,
                r#"{"ok":false,"error_code":403,"description":"Forbidden: bot was kicked from the group chat"}"#,
                ApiError::ChatUnusable(
                    403,
                    "sendMessage: Forbidden: bot was kicked from the group chat".into(),
                ),
            ),
            (
                400,
                r#"{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":-1001234567890}}"#,
                ApiError::Migrated(
                    -1001234567890,
                    "sendMessage: Bad Request: group chat was upgraded to a supergroup chat".into(),
                ),
            ),
            (
                400,
                r#"{"ok":false,"error_code":400,"description":"Bad Request: message is too long"}"#,
                ApiError::Permanent(400, "sendMessage: Bad Request: message is too long".into()),
            ),
            (
                429,
                r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#,
                ApiError::RetryAfter(7, "sendMessage: Too Many Requests: retry after 7".into()),
            ),
            (
                502,
                "<html>Bad Gateway</html>",
                ApiError::Transient("HTTP 502: sendMessage: <html>Bad Gateway</html>".into()),
            ),
        ];
        for (status, body, want) in cases {
            assert_eq!(classify("sendMessage", status, body), Err(want), "{body}");
        }
    }

    #[test]
    fn a_huge_description_is_clipped() {
        let body = serde_json::json!({"ok": false, "error_code": 400,
            "description": format!("Bad Request: {}", "x".repeat(2_000_000))})
        .to_string();
        let Err(ApiError::Permanent(400, detail)) = classify("sendMessage", 400, &body) else {
            panic!("not a 400");
        };
        assert!(detail.chars().count() <= MAX_ERROR_CHARS + "sendMessage: ".len());
    }

    proptest! {
        /// Any status and any body: no panic; a result only from `ok: true` on a 2xx.
        #[test]
        fn any_answer_is_classified_without_panicking(status in 0u16..1000, body in any::<String>(), code in any::<i64>()) {
            if classify("getUpdates", status, &body).is_ok() {
                prop_assert!((200..300).contains(&status));
            }
            let envelope = format!(r#"{{"ok":false,"error_code":{code},"description":{body:?},"parameters":{{"migrate_to_chat_id":{code},"retry_after":{code}}}}}"#);
            prop_assert!(classify("sendMessage", status, &envelope).is_err());
        }
    }
}
