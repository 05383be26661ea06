//! Rendering outbox payloads as Telegram HTML. Pure functions: every piece of text that came
//! from a user, a model or the database goes through [`esc`]; never does I/O.

use serde_json::Value;

/// Telegram's limit on a message's text: 4,096 characters of the text after entity parsing
/// (tags removed, `&amp;` one character), counted in UTF-16 code units as Telegram counts
/// entity offsets (an emoji outside the BMP is two). See [`visible_len`].
pub const MAX_CHARS: usize = 4096;

/// A free-text value (a reason, an insight, an error, a job name) shows at most this many
/// characters in a message, so one long value never crowds out the rest of it.
pub const MAX_FIELD_CHARS: usize = 600;

/// `text` cut to at most `max` characters (the last one `…` when cut), then escaped.
pub fn esc_short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return esc(text);
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    esc(&cut)
}

/// Escapes `<`, `>` and `&` for Telegram's HTML parse mode.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
    out
}

/// A JSON value as short escaped text (strings without quotes), at most [`MAX_FIELD_CHARS`].
fn val(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => esc_short(s, MAX_FIELD_CHARS),
        other => esc_short(&other.to_string(), MAX_FIELD_CHARS),
    }
}

fn field(payload: &Value, key: &str) -> String {
    val(payload.get(key).unwrap_or(&Value::Null))
}

/// Renders one outbox row as an HTML message.
pub fn render(kind: &str, payload: &Value) -> String {
    let f = |k: &str| field(payload, k);
    let text = match kind {
        "trade" => format!(
            "<b>Trade {}</b> {}\nmarket <code>{}</code>\nsize {} @ {} · confidence {}\nsignal {} · {}",
            f("action"),
            f("trade_id"),
            f("market_slug"),
            f("position_size"),
            f("executed_price"),
            f("confidence"),
            f("signal_type"),
            f("timestamp"),
        ),
        "settlement" => {
            let mut s = String::from("<b>Settlement</b>\n");
            s.push_str(&key_values(payload, &["largest", "results"]));
            for key in ["largest", "results"] {
                if let Some(items) = payload.get(key).and_then(Value::as_array) {
                    for item in items.iter().take(10) {
                        s.push_str(&format!("\n• {}", inline(item)));
                    }
                }
            }
            s
        }
        "approval" => format!(
            "<b>Approval needed</b> (proposal #{})\n<code>{}</code>: {} → {}\nreason: {}\nexpected: {}\ntier {} · expires {}{}",
            f("proposal_id"),
            f("parameter"),
            f("current"),
            f("proposed"),
            f("reason"),
            f("expected_impact"),
            f("tier"),
            f("expires_at"),
            payload
                .get("evidence")
                .filter(|e| !e.is_null())
                .map(|e| format!("\nevidence: {}", inline(e)))
                .unwrap_or_default(),
        ),
        "applied" | "rollback" => format!(
            "<b>{}</b> <code>{}</code>: {} → {}\nreason: {}\nby {} ({})",
            if kind == "rollback" {
                "Rolled back"
            } else {
                "Parameter changed"
            },
            f("parameter"),
            f("old"),
            f("new"),
            f("reason"),
            f("by"),
            f("method"),
        ),
        "pause" => format!(
            "<b>Trading paused</b>\nreason: {}\nby {}{}",
            f("reason"),
            f("by"),
            payload
                .get("rule")
                .filter(|r| !r.is_null())
                .map(|r| format!("\nrule: {}", val(r)))
                .unwrap_or_default()
        ),
        "resume" => format!("<b>Trading resumed</b>\nby {} ({})", f("by"), f("reason")),
        "dropped" => dropped(payload),
        "text" => f("text"),
        "insights" => {
            let mut s = String::from("<b>Reflection</b>");
            for key in ["insights", "recommendations"] {
                if let Some(items) = payload.get(key).and_then(Value::as_array) {
                    s.push_str(&format!("\n<i>{key}</i>"));
                    for item in items.iter().take(10) {
                        s.push_str(&format!("\n• {}", inline(item)));
                    }
                }
            }
            let rest = key_values(payload, &["insights", "recommendations"]);
            if !rest.is_empty() {
                s.push('\n');
                s.push_str(&rest);
            }
            s
        }
        other => {
            let title = match other {
                "settlement_lag" => "Settlement lagging".to_string(),
                "disagreement" => "Settlement sources disagree".to_string(),
                "disk" => "Disk space".to_string(),
                "job_failure" => "Job failed".to_string(),
                unknown => esc_short(unknown, 64),
            };
            format!("<b>{title}</b>\n{}", key_values(payload, &[]))
        }
    };
    truncate_html(&text, MAX_CHARS)
}

/// The outbox's note of messages it dropped to stay bounded (`{"trade": 1234, ...}`).
fn dropped(payload: &Value) -> String {
    let parts: Vec<String> = payload
        .as_object()
        .map(|counts| {
            counts
                .iter()
                .filter_map(|(kind, n)| {
                    let what = match kind.as_str() {
                        "trade" => "trade alerts".to_string(),
                        "settlement" => "settlement summaries".to_string(),
                        "insights" => "reflection insights".to_string(),
                        "text" => "notices".to_string(),
                        "applied" => "parameter change notices".to_string(),
                        "rollback" => "rollback notices".to_string(),
                        other => format!("{} messages", esc_short(other, 64)),
                    };
                    Some(format!("{} older {what}", thousands(n.as_u64()?)))
                })
                .collect()
        })
        .unwrap_or_default();
    let list = match parts.split_last() {
        None => "Older messages".to_string(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    };
    format!(
        "<b>{list} were not sent</b>\nThe outbox keeps at most {} waiting messages (Telegram was off or unreachable); the oldest alerts of little value made room.",
        thousands(crate::outbox::MAX_PENDING as u64)
    )
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `key: value` lines for every field of an object except `skip`.
fn key_values(payload: &Value, skip: &[&str]) -> String {
    match payload.as_object() {
        Some(map) => map
            .iter()
            .filter(|(k, _)| !skip.contains(&k.as_str()))
            .map(|(k, v)| format!("{}: {}", esc_short(k, 64), inline(v)))
            .collect::<Vec<_>>()
            .join("\n"),
        None => val(payload),
    }
}

/// A value on one line: objects as `k=v` pairs.
fn inline(v: &Value) -> String {
    match v {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{}={}", esc_short(k, 64), val(v)))
            .collect::<Vec<_>>()
            .join(" "),
        Value::Array(items) => items.iter().map(inline).collect::<Vec<_>>().join(", "),
        other => val(other),
    }
}

/// Several rows of one kind as one message: a header, then each row's rendering.
pub fn render_merged(kind: &str, payloads: &[Value]) -> String {
    let mut text = format!("<b>{} {} messages</b>", payloads.len(), esc_short(kind, 64));
    for (i, payload) in payloads.iter().enumerate() {
        let part = render(kind, payload);
        // Stop before the limit rather than cut a row in half.
        if visible_len(&text) + visible_len(&part) + 40 > MAX_CHARS {
            text.push_str(&format!("\n\n… and {} more", payloads.len() - i));
            break;
        }
        text.push_str("\n\n");
        text.push_str(&part);
    }
    truncate_html(&text, MAX_CHARS)
}

/// One piece of Telegram HTML: a tag, an entity (`&lt;`), or a character of text.
enum Piece<'a> {
    Tag(&'a str),
    Entity(&'a str, char),
    Char(char),
}

/// The pieces of `html`, with the byte offset after each. A `<` without `>` or an `&` that
/// starts no entity is a plain character (we never write either; [`esc`] escapes them).
fn pieces(html: &str) -> impl Iterator<Item = (Piece<'_>, usize)> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let rest = &html[at..];
        let c = rest.chars().next()?;
        let piece = match c {
            '<' => rest.find('>').map(|end| Piece::Tag(&rest[..=end])),
            '&' => rest
                .char_indices()
                .take(10)
                .find(|(_, c)| *c == ';')
                .and_then(|(end, _)| {
                    entity(&rest[..=end]).map(|ch| Piece::Entity(&rest[..=end], ch))
                }),
            _ => None,
        }
        .unwrap_or(Piece::Char(c));
        at += match &piece {
            Piece::Tag(t) | Piece::Entity(t, _) => t.len(),
            Piece::Char(c) => c.len_utf8(),
        };
        Some((piece, at))
    })
}

/// The character an HTML entity stands for (the four named ones Telegram knows, and numeric).
fn entity(text: &str) -> Option<char> {
    let name = text.strip_prefix('&')?.strip_suffix(';')?;
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "quot" => Some('"'),
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

/// The length of a message as Telegram counts it against [`MAX_CHARS`]: its text after entity
/// parsing, in UTF-16 code units.
pub fn visible_len(html: &str) -> usize {
    pieces(html)
        .map(|(piece, _)| match piece {
            Piece::Tag(_) => 0,
            Piece::Entity(_, c) | Piece::Char(c) => c.len_utf16(),
        })
        .sum()
}

/// Cuts `text` to a visible length (see [`visible_len`]) of at most `max` without splitting a
/// tag or an entity, closing the tags left open, and marking the cut with `…`.
pub fn truncate_html(text: &str, max: usize) -> String {
    if visible_len(text) <= max {
        return text.to_string();
    }
    // Room for the ellipsis.
    let budget = max.saturating_sub(1);
    let mut visible = 0;
    let mut end = 0;
    let mut open: Vec<&str> = Vec::new();
    for (piece, after) in pieces(text) {
        match piece {
            Piece::Tag(tag) => {
                let inner = tag.trim_start_matches('<').trim_end_matches('>');
                if let Some(name) = inner.strip_prefix('/') {
                    if let Some(pos) = open.iter().rposition(|t| *t == name.trim()) {
                        open.remove(pos);
                    }
                } else if !inner.ends_with('/') {
                    open.push(inner.split_whitespace().next().unwrap_or(""));
                }
            }
            Piece::Entity(_, c) | Piece::Char(c) => {
                if visible + c.len_utf16() > budget {
                    break;
                }
                visible += c.len_utf16();
            }
        }
        end = after;
    }
    let mut cut = text[..end].to_string();
    cut.push('…');
    for name in open.iter().rev() {
        cut.push_str(&format!("</{name}>"));
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escapes_user_text() {
        for (input, expected) in [
            ("a<b", "a&lt;b"),
            ("x & y", "x &amp; y"),
            ("<script>", "&lt;script&gt;"),
            ("btc_up*down", "btc_up*down"),
        ] {
            assert_eq!(esc(input), expected);
        }
    }

    #[test]
    fn every_kind_escapes_its_fields() {
        let evil = "<b>&_*";
        let cases = [
            ("trade", json!({"market_slug": evil, "action": "YES"})),
            (
                "approval",
                json!({"parameter": evil, "reason": evil, "evidence": {"k": evil}}),
            ),
            (
                "insights",
                json!({"insights": [evil], "recommendations": [{"why": evil}]}),
            ),
            (
                "settlement",
                json!({"wins": 1, "largest": [{"slug": evil}]}),
            ),
            ("applied", json!({"parameter": evil, "reason": evil})),
            ("pause", json!({"reason": evil, "by": "x"})),
            ("text", json!({"text": evil})),
            ("mystery", json!({evil: evil})),
        ];
        for (kind, payload) in cases {
            let text = render(kind, &payload);
            assert!(text.contains("&lt;b&gt;&amp;_*"), "{kind}: {text}");
            assert!(!text.contains("<b>&_*"), "{kind}: {text}");
        }
    }

    #[test]
    fn truncation_keeps_html_valid() {
        let long = format!("<b>{}</b>", "a&amp;".repeat(3000));
        let cut = truncate_html(&long, MAX_CHARS);
        assert_eq!(visible_len(&cut), MAX_CHARS);
        assert!(cut.ends_with("…</b>"), "{}", &cut[cut.len() - 20..]);
        let before = cut.trim_end_matches("…</b>");
        assert!(before.ends_with(';') || before.ends_with('a'));
        assert_eq!(truncate_html("short", 10), "short");
        // Inside a <pre> that stays open, and with emoji (two UTF-16 units each).
        let cut = truncate_html(&format!("<b>x</b><pre>{}", "😀".repeat(3000)), 100);
        assert!(visible_len(&cut) <= 100, "{}", visible_len(&cut));
        assert!(cut.ends_with("…</pre>"));
    }

    #[test]
    fn dropped_messages_are_counted_in_words() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(1234567), "1,234,567");
        let text = render("dropped", &json!({"trade": 1234}));
        assert!(
            text.starts_with("<b>1,234 older trade alerts were not sent</b>"),
            "{text}"
        );
        let text = render("dropped", &json!({"trade": 2, "settlement": 3}));
        assert!(
            text.contains("3 older settlement summaries and 2 older trade alerts were not sent"),
            "{text}"
        );
    }

    #[test]
    fn visible_length_is_what_telegram_counts() {
        for (html, n) in [
            ("plain", 5),
            ("<b>bold</b>", 4),
            ("a &amp; b &lt;c&gt;", 9),
            ("&#65;&#x42;", 2),
            ("😀", 2),
            ("é", 1),
            ("a & b", 5),
            ("<pre>x</pre>\n", 2),
        ] {
            assert_eq!(visible_len(html), n, "{html}");
        }
    }

    #[test]
    fn long_free_text_is_bounded_in_every_kind() {
        let long = "reason & <why> ".repeat(400);
        for kind in [
            "pause",
            "approval",
            "insights",
            "text",
            "job_failure",
            "applied",
        ] {
            let payload = json!({"reason": long, "text": long, "insights": [long], "unit": long});
            let text = render(kind, &payload);
            assert!(visible_len(&text) <= MAX_CHARS, "{kind}");
            assert!(
                !text.contains(&esc(&long[..MAX_FIELD_CHARS + 20])),
                "{kind}: one field took more than its share"
            );
        }
    }

    #[test]
    fn merged_stays_under_the_limit() {
        let payloads: Vec<Value> = (0..500)
            .map(|i| json!({"market_slug": format!("btc-updown-15m-{i}"), "action": "YES"}))
            .collect();
        let text = render_merged("trade", &payloads);
        assert!(visible_len(&text) <= MAX_CHARS);
        assert!(text.contains("more"));
    }
}
