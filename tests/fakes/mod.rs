//! Local stand-ins for the four remote APIs, speaking their real wire formats (WIRE.md), with
//! injectable faults: 429s, 500s, slow answers past the client timeout, malformed bodies, and
//! (through [`drop_proxy`]) dropped connections. Shared by the end-to-end test and the soak.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use polyperf::sim::{self, Candle};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// How often, and how, a fake misbehaves.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Probability that a request gets a fault instead of its answer.
    pub rate: f64,
    /// How long a "timeout" fault stalls (set above the client's timeout).
    pub stall: Duration,
    /// When set, no faults at all (the soak's recovery phase).
    pub calm: Arc<std::sync::atomic::AtomicBool>,
}

/// A tiny thread-safe PRNG for fault decisions.
#[derive(Debug)]
struct Dice(Mutex<sim::Rng>);

impl Dice {
    fn new(seed: u64) -> Dice {
        Dice(Mutex::new(sim::Rng::new(seed)))
    }
    fn roll(&self) -> f64 {
        self.0.lock().unwrap().next_f64()
    }
}

/// A fault answer, or None to answer normally. `rate_limited` is the API's own 429 shape.
fn fault(
    faults: &Faults,
    dice: &Dice,
    rate_limited: impl Fn() -> ResponseTemplate,
) -> Option<ResponseTemplate> {
    if faults.rate <= 0.0 || faults.calm.load(Ordering::Relaxed) || dice.roll() >= faults.rate {
        return None;
    }
    Some(match (dice.roll() * 4.0) as u32 {
        0 => rate_limited(),
        1 => ResponseTemplate::new(500).set_body_string("internal error"),
        2 => ResponseTemplate::new(200)
            .set_body_string("{\"truncated\": [1, 2")
            .set_delay(faults.stall),
        _ => ResponseTemplate::new(200).set_body_string("<html>bad gateway</html>"),
    })
}

/// Counts of what the fakes answered.
#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub faults: AtomicU64,
}

// ---------------------------------------------------------------- Binance

struct Klines {
    candles: Arc<Vec<Candle>>,
    faults: Faults,
    dice: Dice,
    counters: Arc<Counters>,
}

impl Respond for Klines {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(f) = fault(&self.faults, &self.dice, || {
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_json(serde_json::json!({"code": -1003, "msg": "Too many requests"}))
        }) {
            self.counters.faults.fetch_add(1, Ordering::Relaxed);
            return f;
        }
        let q: HashMap<String, String> = request.url.query_pairs().into_owned().collect();
        if q.get("symbol").map(String::as_str) != Some("BTCUSDT")
            || q.get("interval").map(String::as_str) != Some("1m")
        {
            return ResponseTemplate::new(400)
                .set_body_json(serde_json::json!({"code": -1121, "msg": "Invalid symbol."}));
        }
        let start: i64 = q.get("startTime").and_then(|v| v.parse().ok()).unwrap_or(0);
        let end: i64 = q
            .get("endTime")
            .and_then(|v| v.parse().ok())
            .unwrap_or(i64::MAX);
        let limit: usize = q
            .get("limit")
            .and_then(|v| v.parse().ok())
            .unwrap_or(500)
            .min(1000);
        let rows: Vec<Candle> = self
            .candles
            .iter()
            .filter(|c| c.open_time_ms >= start && c.open_time_ms <= end)
            .take(limit)
            .cloned()
            .collect();
        ResponseTemplate::new(200).set_body_json(sim::klines_json(&rows))
    }
}

// ---------------------------------------------------------------- Gamma

/// The official result of the market starting at `start_secs`, from the candles (Up when the
/// window's last close >= its first open, as the real rule says), or None if not covered.
pub fn official_outcome(
    candles: &[Candle],
    start_secs: i64,
    length_secs: i64,
) -> Option<&'static str> {
    let first = candles
        .iter()
        .find(|c| c.open_time_ms == start_secs * 1000)?;
    let last = candles
        .iter()
        .find(|c| c.open_time_ms == (start_secs + length_secs - 60) * 1000)?;
    Some(if last.close >= first.open {
        "UP"
    } else {
        "DOWN"
    })
}

struct Gamma {
    candles: Arc<Vec<Candle>>,
    /// Markets whose window ended after this (Unix seconds) are not resolved yet.
    resolved_before: Arc<AtomicI64>,
    faults: Faults,
    dice: Dice,
    counters: Arc<Counters>,
}

fn gamma_market(candles: &[Candle], slug: &str, resolved_before: i64) -> Option<serde_json::Value> {
    let (start, end) = polyperf::market::window_from_slug(slug)?;
    let length = (end - start).num_seconds();
    let outcome = official_outcome(candles, start.timestamp(), length)?;
    let closed = end.timestamp() + 30 <= resolved_before;
    let prices = match (closed, outcome) {
        (false, _) => "[\"0.585\", \"0.415\"]",
        (true, "UP") => "[\"1\", \"0\"]",
        (true, _) => "[\"0\", \"1\"]",
    };
    Some(serde_json::json!({
        "id": format!("{}", 1_000_000 + start.timestamp() / 900 % 1_000_000), "slug": slug,
        "question": "Bitcoin Up or Down", "eventStartTime": start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "endDate": end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "closed": closed,
        "umaResolutionStatus": if closed { "resolved" } else { "pending" },
        "outcomes": "[\"Up\", \"Down\"]", "outcomePrices": prices, "clobTokenIds": "[\"9226\", \"9336\"]",
        "feesEnabled": true, "feeType": "crypto_fees_v2",
        "feeSchedule": {"exponent": 1, "rate": 0.07, "takerOnly": true, "rebateRate": 0.2}
    }))
}

impl Respond for Gamma {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(f) = fault(&self.faults, &self.dice, || {
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_string("rate limited")
        }) {
            self.counters.faults.fetch_add(1, Ordering::Relaxed);
            return f;
        }
        let resolved_before = self.resolved_before.load(Ordering::Relaxed);
        let path = request.url.path();
        if let Some(slug) = path.strip_prefix("/markets/slug/") {
            return match gamma_market(&self.candles, slug, resolved_before) {
                Some(m) => ResponseTemplate::new(200).set_body_json(m),
                None => ResponseTemplate::new(404).set_body_json(
                    serde_json::json!({"type": "not found", "error": "market not found"}),
                ),
            };
        }
        let slugs: Vec<String> = request
            .url
            .query_pairs()
            .filter(|(k, _)| k == "slug")
            .map(|(_, v)| v.into_owned())
            .collect();
        // A listing is paged: `limit` markets from `offset` (Gamma's default limit is small).
        let number = |key: &str, default: usize| {
            request
                .url
                .query_pairs()
                .find(|(k, _)| k == key)
                .and_then(|(_, v)| v.parse::<usize>().ok())
                .unwrap_or(default)
        };
        let markets: Vec<_> = slugs
            .iter()
            .filter_map(|s| gamma_market(&self.candles, s, resolved_before))
            .skip(number("offset", 0))
            .take(number("limit", 20).min(500))
            .collect();
        ResponseTemplate::new(200).set_body_json(markets)
    }
}

// ---------------------------------------------------------------- OpenAI

/// What the fake model answers: a valid recommendation moving `bot_confidence_threshold`
/// from its current value by `step` (the live value is read by the caller and given here).
pub struct OpenAi {
    pub answer: Mutex<serde_json::Value>,
    faults: Faults,
    dice: Dice,
    pub counters: Arc<Counters>,
}

impl Respond for OpenAi {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(f) = fault(&self.faults, &self.dice, || {
            ResponseTemplate::new(429).insert_header("retry-after", "1").set_body_json(serde_json::json!({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}))
        }) {
            self.counters.faults.fetch_add(1, Ordering::Relaxed);
            return f;
        }
        let content = self.answer.lock().unwrap().to_string();
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "id": "chatcmpl-123", "object": "chat.completion", "created": 1771684200, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 812, "completion_tokens": 240, "total_tokens": 1052}
        }))
    }
}

pub fn model_answer(parameter: &str, current: &str, recommended: &str) -> serde_json::Value {
    serde_json::json!({
        "insights": ["Win rate holds up above the break-even line", "End-phase entries <b>underperform</b> & cost fees"],
        "patterns": {"winning": ["STRONG_BULLISH"], "losing": ["NEUTRAL"]},
        "recommendations": [{"parameter": parameter, "current": current.parse::<f64>().unwrap(), "recommended": recommended.parse::<f64>().unwrap(),
            "reason": "fewer low-confidence entries", "tier": 1, "expected_impact": "+2% win rate"}]
    })
}

// ---------------------------------------------------------------- Telegram

/// One message the fake Bot API accepted.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message_id: i64,
    pub chat_id: String,
    pub text: String,
    pub reply_markup: Option<serde_json::Value>,
}

#[derive(Default)]
pub struct TelegramState {
    pub deliveries: Vec<Delivery>,
    pub updates: Vec<serde_json::Value>,
    pub callback_answers: Vec<serde_json::Value>,
    pub edits: Vec<serde_json::Value>,
    /// Accepted `sendPhoto` uploads.
    pub photos: Vec<PhotoUpload>,
    next_message_id: i64,
    next_update_id: i64,
}

pub struct Telegram {
    pub state: Arc<Mutex<TelegramState>>,
    pub token: String,
    faults: Faults,
    dice: Dice,
    pub counters: Arc<Counters>,
}

fn tg_ok(result: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({"ok": true, "result": result}))
}

/// The Bot API's 400 answer.
pub fn tg_bad_request(description: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(
        serde_json::json!({"ok": false, "error_code": 400, "description": description}),
    )
}

/// What the real Bot API says of a message text in `parse_mode: "HTML"`: None when it takes it,
/// else the description of its 400. It parses the entities (only the tags Telegram knows,
/// balanced; `&` only as an entity), then counts the text left, in UTF-16 code units, against
/// 1..=4096 ("message is too long").
pub fn telegram_text_problem(text: &str) -> Option<String> {
    match telegram_parse(text) {
        Err(problem) => Some(problem),
        Ok(0) => Some("Bad Request: message text is empty".into()),
        Ok(visible) => (visible > 4096).then(|| "Bad Request: message is too long".into()),
    }
}

/// An HTML text's length as Telegram counts it after parsing its entities (UTF-16 units), or
/// the description of the 400 its entities get.
pub fn telegram_parse(text: &str) -> Result<usize, String> {
    const TAGS: [&str; 14] = [
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "pre",
        "tg-spoiler",
        "blockquote",
    ];
    let mut open: Vec<String> = Vec::new();
    let mut visible = 0usize;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                let Some(end) = rest.find('>') else {
                    return Err("Bad Request: can't parse entities: unclosed start tag".into());
                };
                let tag = &rest[1..end];
                if let Some(name) = tag.strip_prefix('/') {
                    if open.pop().as_deref() != Some(name.trim()) {
                        return Err(format!(
                            "Bad Request: can't parse entities: unmatched end tag \"{name}\""
                        ));
                    }
                } else {
                    let name = tag.split_whitespace().next().unwrap_or("");
                    if !TAGS.contains(&name) {
                        return Err(format!(
                            "Bad Request: can't parse entities: unsupported start tag \"{name}\""
                        ));
                    }
                    open.push(name.to_string());
                }
                rest = &rest[end + 1..];
            }
            '&' => {
                let end = rest.find(';').filter(|e| *e <= 10);
                let name = end.map(|e| &rest[1..e]).unwrap_or("");
                let known = matches!(name, "lt" | "gt" | "amp" | "quot")
                    || name
                        .strip_prefix("#x")
                        .is_some_and(|h| u32::from_str_radix(h, 16).is_ok())
                    || name
                        .strip_prefix('#')
                        .is_some_and(|d| d.parse::<u32>().is_ok());
                let (Some(end), true) = (end, known) else {
                    return Err("Bad Request: can't parse entities: character '&' is reserved and must be escaped".into());
                };
                visible += 1;
                rest = &rest[end + 1..];
            }
            '>' => {
                return Err("Bad Request: can't parse entities: character '>' is reserved and must be escaped".into());
            }
            c => {
                visible += c.len_utf16();
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    if let Some(name) = open.pop() {
        return Err(format!(
            "Bad Request: can't parse entities: can't find end tag corresponding to start tag \"{name}\""
        ));
    }
    Ok(visible)
}

/// Whether a delivered text is a settled trade's result line (`✅ WIN +4.62 USDC · …`).
pub fn is_result_text(text: &str) -> bool {
    text.starts_with("✅ <b>WIN ") || text.starts_with("❌ <b>LOSS ")
}

/// Whether a delivered text comes from the trade feed (read from `trades`, not the outbox): an
/// alert, a result, or their merged and summary forms.
pub fn is_feed_text(text: &str) -> bool {
    is_result_text(text)
        || text.starts_with("<b>Trade: ")
        || (text.starts_with("<b>")
            && (text.contains(" new trades")
                || text.contains(" new trade:")
                || text.contains(" trades settled: ")
                || text.contains(" trade settled: ")
                || text.contains(" trades since ")
                || text.contains(" trade since ")))
}

/// A `sendPhoto` upload as the fake Bot API read it from its `multipart/form-data` body.
#[derive(Debug, Clone)]
pub struct PhotoUpload {
    pub chat_id: String,
    pub photo: Vec<u8>,
    pub photo_content_type: String,
    pub caption: String,
    pub disable_notification: bool,
}

/// The parts of a `multipart/form-data` body: (name, content type, bytes). None when the body
/// is not one (no boundary in the Content-Type, no closing delimiter).
pub fn multipart_parts(request: &Request) -> Option<Vec<(String, String, Vec<u8>)>> {
    let content_type = request.headers.get("content-type")?.to_str().ok()?;
    if !content_type.starts_with("multipart/form-data") {
        return None;
    }
    let boundary = content_type.split("boundary=").nth(1)?.trim_matches('"');
    let delimiter = format!("--{boundary}");
    let body = &request.body;
    let find = |from: usize, needle: &[u8]| -> Option<usize> {
        body.get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    };
    let mut parts = Vec::new();
    let mut at = find(0, delimiter.as_bytes())? + delimiter.len();
    loop {
        if body.get(at..at + 2)? == b"--" {
            return Some(parts);
        }
        let head_start = at + 2; // CRLF after the delimiter
        let head_end = find(head_start, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&body[head_start..head_end]).to_string();
        let next = find(head_end + 4, format!("\r\n{delimiter}").as_bytes())?;
        let content = body[head_end + 4..next].to_vec();
        let name = head
            .split("name=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_default()
            .to_string();
        let part_type = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-type:")
                    .map(|v| v.trim().to_string())
            })
            .unwrap_or_default();
        parts.push((name, part_type, content));
        at = next + 2 + delimiter.len();
    }
}

/// What the Bot API says of a `sendPhoto`: the upload, or the description of its 400 (not
/// multipart, no photo file, not a PNG/JPEG, a caption over 1,024 characters or one it cannot
/// parse).
pub fn telegram_photo(request: &Request) -> Result<PhotoUpload, String> {
    let parts = multipart_parts(request)
        .ok_or("Bad Request: there is no photo in the request (not multipart/form-data)")?;
    let text = |name: &str| {
        parts
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, v)| String::from_utf8_lossy(v).to_string())
    };
    let (_, photo_content_type, photo) = parts
        .iter()
        .find(|(n, _, _)| n == "photo")
        .cloned()
        .ok_or("Bad Request: there is no photo in the request")?;
    let png = photo.starts_with(b"\x89PNG\r\n\x1a\n");
    let jpeg = photo.starts_with(&[0xff, 0xd8, 0xff]);
    if !png && !jpeg {
        return Err("Bad Request: IMAGE_PROCESS_FAILED".into());
    }
    let caption = text("caption").unwrap_or_default();
    // Counted as Telegram counts text, after entity parsing.
    if telegram_parse(&caption)? > 1024 {
        return Err("Bad Request: message caption is too long".into());
    }
    Ok(PhotoUpload {
        chat_id: text("chat_id").ok_or("Bad Request: chat_id is empty")?,
        photo,
        photo_content_type,
        caption,
        disable_notification: text("disable_notification").as_deref() == Some("true"),
    })
}

/// What the Bot API says of a `setMyCommands` body: None when it takes it, else its 400
/// (names 1–32 of a-z, 0-9, _; descriptions 1–256 characters; at most 100 commands).
pub fn telegram_commands_problem(body: &serde_json::Value) -> Option<String> {
    let Some(commands) = body["commands"].as_array() else {
        return Some("Bad Request: commands must be an array".into());
    };
    if commands.len() > 100 {
        return Some("Bad Request: too many commands".into());
    }
    for c in commands {
        let name = c["command"].as_str().unwrap_or_default();
        let valid = (1..=32).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Some("Bad Request: BOT_COMMAND_INVALID".into());
        }
        let description = c["description"].as_str().unwrap_or_default();
        if !(1..=256).contains(&description.chars().count()) {
            return Some("Bad Request: BOT_COMMAND_DESCRIPTION_INVALID".into());
        }
    }
    None
}

impl Respond for Telegram {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("/bot{}/", self.token);
        let Some(method) = request.url.path().strip_prefix(&prefix) else {
            return ResponseTemplate::new(401).set_body_json(
                serde_json::json!({"ok": false, "error_code": 401, "description": "Unauthorized"}),
            );
        };
        if method != "getUpdates" {
            if let Some(f) = fault(&self.faults, &self.dice, || {
                ResponseTemplate::new(429).set_body_json(serde_json::json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}}))
            }) {
                self.counters.faults.fetch_add(1, Ordering::Relaxed);
                return f;
            }
        }
        if method == "sendPhoto" {
            let upload = match telegram_photo(request) {
                Ok(upload) => upload,
                Err(problem) => return tg_bad_request(&problem),
            };
            let mut state = self.state.lock().unwrap();
            state.next_message_id += 1;
            let message_id = state.next_message_id;
            state.photos.push(upload.clone());
            return tg_ok(
                serde_json::json!({"message_id": message_id, "chat": {"id": upload.chat_id.parse::<i64>().unwrap_or(0), "type": "supergroup"}, "date": 1771684300, "caption": upload.caption, "photo": [{"file_id": "p", "width": 900, "height": 450}]}),
            );
        }
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
        if method == "setMyCommands" {
            if let Some(problem) = telegram_commands_problem(&body) {
                return tg_bad_request(&problem);
            }
        }
        if matches!(method, "sendMessage" | "editMessageText") {
            if let Some(problem) = telegram_text_problem(body["text"].as_str().unwrap_or_default())
            {
                return tg_bad_request(&problem);
            }
        }
        let mut state = self.state.lock().unwrap();
        match method {
            "sendMessage" => {
                state.next_message_id += 1;
                let message_id = state.next_message_id;
                let chat_id = body["chat_id"].to_string().trim_matches('"').to_string();
                let text = body["text"].as_str().unwrap_or_default().to_string();
                state.deliveries.push(Delivery {
                    message_id,
                    chat_id: chat_id.clone(),
                    text: text.clone(),
                    reply_markup: body.get("reply_markup").cloned(),
                });
                tg_ok(
                    serde_json::json!({"message_id": message_id, "chat": {"id": chat_id.parse::<i64>().unwrap_or(0), "type": "supergroup"}, "date": 1771684300, "text": text}),
                )
            }
            "getUpdates" => {
                let offset = body["offset"].as_i64().unwrap_or(0);
                let pending: Vec<_> = state
                    .updates
                    .iter()
                    .filter(|u| u["update_id"].as_i64().unwrap_or(0) >= offset)
                    .cloned()
                    .collect();
                tg_ok(serde_json::Value::Array(pending))
            }
            "getMe" => tg_ok(serde_json::json!({"id": 7000000001_i64, "is_bot": true,
                "first_name": "polyperf", "username": "my_polyperf_bot", "can_join_groups": true,
                "can_read_all_group_messages": false, "supports_inline_queries": false})),
            "answerCallbackQuery" => {
                state.callback_answers.push(body);
                tg_ok(serde_json::json!(true))
            }
            "editMessageText" => {
                state.edits.push(body.clone());
                tg_ok(
                    serde_json::json!({"message_id": body["message_id"], "chat": {"id": body["chat_id"], "type": "supergroup"}, "date": 1771684300, "text": body["text"]}),
                )
            }
            _ => tg_ok(serde_json::json!(true)),
        }
    }
}

impl TelegramState {
    /// Queues an update the bot will see at its next getUpdates.
    pub fn push_update(&mut self, mut update: serde_json::Value) -> i64 {
        self.next_update_id += 1;
        let id = 1000 + self.next_update_id;
        update["update_id"] = serde_json::json!(id);
        self.updates.push(update);
        id
    }

    pub fn push_command(&mut self, chat_id: i64, user_id: i64, text: &str) -> i64 {
        self.push_update(serde_json::json!({"message": {"message_id": 40 + self.next_update_id, "from": {"id": user_id, "is_bot": false, "first_name": "Ann"},
            "chat": {"id": chat_id, "type": "supergroup"}, "date": 1771684300, "text": text}}))
    }

    pub fn push_button(&mut self, chat_id: i64, user_id: i64, message_id: i64, data: &str) -> i64 {
        self.push_update(serde_json::json!({"callback_query": {"id": format!("cb{}", self.next_update_id), "from": {"id": user_id, "is_bot": false, "first_name": "Ann"},
            "message": {"message_id": message_id, "chat": {"id": chat_id, "type": "supergroup"}, "date": 1771684300}, "data": data}}))
    }
}

// ---------------------------------------------------------------- all four

pub struct Fakes {
    pub binance: MockServer,
    pub gamma: MockServer,
    pub openai: MockServer,
    pub telegram: MockServer,
    pub telegram_state: Arc<Mutex<TelegramState>>,
    pub openai_answer: Arc<OpenAi>,
    pub resolved_before: Arc<AtomicI64>,
    pub counters: Arc<Counters>,
    pub token: String,
}

struct Shared<T>(Arc<T>);
impl<T: Respond> Respond for Shared<T> {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.0.respond(request)
    }
}

impl Fakes {
    pub async fn start(candles: Arc<Vec<Candle>>, faults: Faults, token: &str) -> Fakes {
        let counters = Arc::new(Counters::default());
        let resolved_before = Arc::new(AtomicI64::new(i64::MAX));
        let binance = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/api/v3/klines"))
            .respond_with(Klines {
                candles: candles.clone(),
                faults: faults.clone(),
                dice: Dice::new(1),
                counters: counters.clone(),
            })
            .mount(&binance)
            .await;
        let gamma = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path_regex("^/markets"))
            .respond_with(Gamma {
                candles,
                resolved_before: resolved_before.clone(),
                faults: faults.clone(),
                dice: Dice::new(2),
                counters: counters.clone(),
            })
            .mount(&gamma)
            .await;
        let openai_answer = Arc::new(OpenAi {
            answer: Mutex::new(model_answer("bot_confidence_threshold", "0.75", "0.76")),
            faults: faults.clone(),
            dice: Dice::new(3),
            counters: counters.clone(),
        });
        let openai = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(Shared(openai_answer.clone()))
            .mount(&openai)
            .await;
        let telegram_state = Arc::new(Mutex::new(TelegramState::default()));
        let telegram = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(Telegram {
                state: telegram_state.clone(),
                token: token.to_string(),
                faults: faults.clone(),
                dice: Dice::new(4),
                counters: counters.clone(),
            })
            .mount(&telegram)
            .await;
        Fakes {
            binance,
            gamma,
            openai,
            telegram,
            telegram_state,
            openai_answer,
            resolved_before,
            counters,
            token: token.to_string(),
        }
    }

    /// Environment for a polyperf process using these fakes.
    pub fn env(&self, chat_id: i64, allowed_user: i64) -> Vec<(String, String)> {
        vec![
            ("BINANCE_API_BASE".into(), self.binance.uri()),
            ("GAMMA_API_BASE".into(), self.gamma.uri()),
            (
                "OPENAI_BASE_URL".into(),
                format!("{}/v1", self.openai.uri()),
            ),
            ("OPENAI_API_KEY".into(), "sk-fake-e2e-key-0123456789".into()),
            ("TELEGRAM_API_BASE".into(), self.telegram.uri()),
            ("TELEGRAM_ENABLED".into(), "true".into()),
            ("TELEGRAM_BOT_TOKEN".into(), self.token.clone()),
            ("TELEGRAM_CHAT_ID".into(), chat_id.to_string()),
            ("TELEGRAM_ALLOWED_USER_IDS".into(), allowed_user.to_string()),
            ("POLYPERF_APIS_HTTP_TIMEOUT_SECS".into(), "2".into()),
            ("POLYPERF_APIS_HTTP_BACKOFF_MS".into(), "20".into()),
            ("POLYPERF_LLM_TIMEOUT_SECS".into(), "2".into()),
        ]
    }
}

/// A TCP proxy on 127.0.0.1 in front of `target` (host:port) that drops a share of the
/// connections (accepts, then closes without a byte). Returns its base URL.
pub async fn drop_proxy(target: std::net::SocketAddr, drop_rate: f64, seed: u64) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dice = Arc::new(Dice::new(seed));
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            if dice.roll() < drop_rate {
                drop(inbound);
                continue;
            }
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    format!("http://{addr}")
}
