//! Rendering outbox payloads as Telegram HTML. Pure functions: every piece of text that came
//! from a user, a model or the database goes through [`esc`]; never does I/O.

use serde_json::Value;

/// Telegram's limit on a message's text, in characters.
pub const MAX_CHARS: usize = 4096;

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

/// A JSON value as short escaped text (strings without quotes).
fn val(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => esc(s),
        other => esc(&other.to_string()),
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
                unknown => esc(unknown),
            };
            format!("<b>{title}</b>\n{}", key_values(payload, &[]))
        }
    };
    truncate_html(&text, MAX_CHARS)
}

/// `key: value` lines for every field of an object except `skip`.
fn key_values(payload: &Value, skip: &[&str]) -> String {
    match payload.as_object() {
        Some(map) => map
            .iter()
            .filter(|(k, _)| !skip.contains(&k.as_str()))
            .map(|(k, v)| format!("{}: {}", esc(k), inline(v)))
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
            .map(|(k, v)| format!("{}={}", esc(k), val(v)))
            .collect::<Vec<_>>()
            .join(" "),
        Value::Array(items) => items.iter().map(inline).collect::<Vec<_>>().join(", "),
        other => val(other),
    }
}

/// Several rows of one kind as one message: a header, then each row's rendering.
pub fn render_merged(kind: &str, payloads: &[Value]) -> String {
    let mut text = format!("<b>{} {} messages</b>", payloads.len(), esc(kind));
    for (i, payload) in payloads.iter().enumerate() {
        let part = render(kind, payload);
        // Stop before the limit rather than cut a row in half.
        if text.chars().count() + part.chars().count() + 40 > MAX_CHARS {
            text.push_str(&format!("\n\n… and {} more", payloads.len() - i));
            break;
        }
        text.push_str("\n\n");
        text.push_str(&part);
    }
    truncate_html(&text, MAX_CHARS)
}

/// Cuts `text` to at most `max` characters without splitting an entity or a tag, closing
/// tags left open, and marking the cut with `…`.
pub fn truncate_html(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    // Room for the ellipsis and closing tags of the few tags we use.
    let budget = max.saturating_sub(40);
    let mut cut: String = text.chars().take(budget).collect();
    if let Some(lt) = cut.rfind('<') {
        if !cut[lt..].contains('>') {
            cut.truncate(lt);
        }
    }
    if let Some(amp) = cut.rfind('&') {
        if !cut[amp..].contains(';') {
            cut.truncate(amp);
        }
    }
    let mut open: Vec<String> = Vec::new();
    let mut rest = cut.as_str();
    while let Some(start) = rest.find('<') {
        let Some(end) = rest[start..].find('>') else {
            break;
        };
        let tag = &rest[start + 1..start + end];
        if let Some(name) = tag.strip_prefix('/') {
            if let Some(pos) = open.iter().rposition(|t| t == name) {
                open.remove(pos);
            }
        } else {
            let name = tag.split_whitespace().next().unwrap_or("").to_string();
            open.push(name);
        }
        rest = &rest[start + end + 1..];
    }
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
        let long = format!("<b>{}</b>", "a&amp;".repeat(2000));
        let cut = truncate_html(&long, MAX_CHARS);
        assert!(cut.chars().count() <= MAX_CHARS);
        assert!(cut.ends_with("…</b>"), "{}", &cut[cut.len() - 20..]);
        let before = cut.trim_end_matches("…</b>");
        assert!(before.ends_with(';') || before.ends_with('a'));
        assert_eq!(truncate_html("short", 10), "short");
    }

    #[test]
    fn merged_stays_under_the_limit() {
        let payloads: Vec<Value> = (0..500)
            .map(|i| json!({"market_slug": format!("btc-updown-15m-{i}"), "action": "YES"}))
            .collect();
        let text = render_merged("trade", &payloads);
        assert!(text.chars().count() <= MAX_CHARS);
        assert!(text.contains("more"));
    }
}
