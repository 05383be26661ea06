//! Rendering outbox payloads as Telegram HTML. Pure functions: every piece of text that came
//! from a user, a model or the database goes through [`esc`]; never does I/O.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

pub use super::html::{esc, esc_short, truncate_html, visible_len, MAX_CHARS, MAX_FIELD_CHARS};
use super::notes;
use crate::outbox::message::{ApprovalRequest, ReplayFigures};
use crate::outbox::{Kind, Message};
use crate::words::{count, money};

/// A JSON value as short escaped text (strings without quotes), at most [`MAX_FIELD_CHARS`].
fn val(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => esc_short(s, MAX_FIELD_CHARS),
        other => esc_short(&other.to_string(), MAX_FIELD_CHARS),
    }
}

/// A field of a message as short escaped text, exactly as its JSON value reads ([`val`]).
fn show<T: Serialize>(value: &T) -> String {
    val(&serde_json::to_value(value).unwrap_or(Value::Null))
}

/// Renders one outbox row: its [`Message`] when the payload reads as one, else (a kind this
/// version does not know, a payload it cannot read) every field as `key: value` under the kind.
pub fn render_row(kind: &str, payload: &Value) -> String {
    match Message::from_row(kind, payload) {
        Ok(message) => render(&message),
        Err(_) => truncate_html(
            &format!(
                "<b>{}</b>\n{}",
                esc_short(kind, 64),
                key_values(payload, &[])
            ),
            MAX_CHARS,
        ),
    }
}

/// Renders one message as HTML.
pub fn render(message: &Message) -> String {
    let text = match message {
        Message::Trade(t) => notes::legacy_trade(t),
        Message::Settlement(summary) => notes::settlement(summary),
        Message::Approval(a) => approval(a, true),
        Message::Applied(c) | Message::Rollback(c) => format!(
            "<b>{}</b> <code>{}</code>: {} → {}\nreason: {}\nby {} ({})",
            if matches!(message, Message::Rollback(_)) {
                "Rolled back"
            } else {
                "Parameter changed"
            },
            show(&c.parameter),
            show(&c.old),
            show(&c.new),
            show(&c.reason),
            show(&c.by),
            show(&c.method),
        ),
        Message::Pause(p) => format!(
            "<b>Trading paused</b>\nreason: {}\nby {}{}",
            show(&p.reason),
            show(&p.by),
            p.rule
                .as_ref()
                .map(|rule| format!("\nrule: {}", show(rule)))
                .unwrap_or_default()
        ),
        Message::Resume(r) => format!(
            "<b>Trading resumed</b>\nby {} ({})",
            show(&r.by),
            show(&r.reason)
        ),
        Message::Dropped(counts) => dropped(counts),
        Message::Text(t) => show(&t.text),
        Message::Insights(note) => notes::reflection(note),
        // A row queued before issue 23: one decision.
        Message::SettlementLag(lag) if lag.decision_id.is_some() => format!(
            "<b>Settlement lagging</b>\ndecision_id: {}\nmarket_slug: {}\nmarket_end: {}",
            show(&lag.decision_id),
            show(&lag.market_slug),
            lag.market_end
                .map(crate::time::to_db)
                .unwrap_or_else(|| "-".into())
        ),
        Message::SettlementLag(lag) => settlement_lag(lag),
        Message::PriceSource(note) => price_source(note),
        Message::Disagreement(_) => titled("Settlement sources disagree", message),
        Message::Disk(_) => titled("Disk space", message),
        Message::JobFailure(failure) => notes::job_failure(failure),
    };
    truncate_html(&text, MAX_CHARS)
}

/// The one outage alert: "1,234 decisions unsettled for over 1 h (oldest window 10:15–10:30
/// UTC); Gamma: connection refused", or the line that says the lag cleared.
fn settlement_lag(lag: &crate::outbox::message::SettlementLag) -> String {
    use crate::words::{when, window};
    let at = lag.at;
    if lag.cleared {
        return format!(
            "<b>Settlement caught up</b>
No decision is unsettled for over {} h any more ({}).",
            lag.lag_hours,
            when(at, at)
        );
    }
    let oldest = match (lag.oldest_window_start, lag.oldest_window_end) {
        (Some(start), Some(end)) => format!(" (oldest window {})", window(start, end, at)),
        (None, Some(end)) => format!(" (oldest window ending {})", when(end, at)),
        _ => String::new(),
    };
    let causes: Vec<String> = lag.causes.iter().map(|c| esc_short(c, 300)).collect();
    let why = if causes.is_empty() {
        String::new()
    } else {
        format!("; {}", causes.join("; "))
    };
    format!(
        "<b>Settlement lagging</b>
{} decision{} unsettled for over {} h{oldest}{why}",
        count(lag.unsettled),
        if lag.unsettled == 1 { "" } else { "s" },
        lag.lag_hours
    )
}

/// The price fallback refused (off until it answers), or back.
fn price_source(note: &crate::outbox::message::PriceSourceNote) -> String {
    let source = esc_short(&note.source, 64);
    let what = match &note.symbol {
        Some(symbol) => format!("{} for {}", source, esc_short(symbol, 64)),
        None => source,
    };
    if !note.refused {
        return format!(
            "<b>Price fallback back</b>
{what} answers again."
        );
    }
    format!(
        "<b>Price fallback off</b>
{what} refuses this host ({}). Decisions that need a price wait for the official result; {}.",
        esc_short(&note.detail, 300),
        if note.symbol.is_some() {
            "check settlement.price_symbols"
        } else {
            "point BINANCE_API_BASE at a host that answers"
        }
    )
}

/// An approval request as a person decides it on a phone: the change, the replay in one line,
/// a plain warning when the replay says the change would have lost money (or cannot judge
/// it), why it was proposed, and when it expires. `actionable`: the current autonomy can apply
/// it (else the message says so, and is sent without buttons). No JSON.
pub fn approval(a: &ApprovalRequest, actionable: bool) -> String {
    let value =
        |v: Option<rust_decimal::Decimal>| v.map_or_else(|| "?".to_string(), |v| v.to_string());
    let current = value(a.current);
    let mut lines = vec![
        format!(
            "<b>Approval needed</b> (proposal #{}){}",
            a.proposal_id,
            a.rollback_of
                .map(|h| format!(": roll back change #{h}"))
                .unwrap_or_default()
        ),
        format!(
            "<code>{}</code>: {} → {}",
            esc_short(&a.parameter, 64),
            current,
            value(a.proposed)
        ),
    ];
    match &a.replay {
        Some(r) => {
            lines.push(esc(&replay_line(r, &current)));
            if let Some(warning) = replay_warning(r, &current) {
                lines.push(format!("<b>{}</b>", esc(&warning)));
            }
        }
        // Rows queued before the figures: their own one-line summary, if they have one.
        None => {
            if let Some(summary) = &a.legacy_summary {
                lines.push(esc_short(summary, MAX_FIELD_CHARS));
            }
        }
    }
    if let Some(reason) = &a.reason {
        lines.push(format!("Why: {}", esc_short(reason, MAX_FIELD_CHARS)));
    }
    if let Some(expected) = &a.expected_impact {
        lines.push(format!(
            "Expected: {}",
            esc_short(expected, MAX_FIELD_CHARS)
        ));
    }
    lines.push(format!(
        "Tier {}{}",
        a.tier,
        a.expires_at
            .map(|t| format!(" · expires {} UTC", crate::time::to_db(t)))
            .unwrap_or_default()
    ));
    if !actionable {
        lines.push(
            "Autonomy is observe: nothing is applied, not even with approval (set autonomy = \"tier1\" to act on proposals)."
                .into(),
        );
    }
    lines.join("\n")
}

/// "Replay, last 14 days: -279.00 USDC against keeping 0.75 — 690 trades instead of 1,148,
/// win rate 54.8% vs 54.5%".
pub fn replay_line(r: &ReplayFigures, current: &str) -> String {
    let head = format!("Replay, last {} days:", r.days);
    if !r.judgeable {
        return format!(
            "{head} cannot judge this change ({})",
            r.why_not.as_deref().unwrap_or("not modelled")
        );
    }
    let rate = crate::words::pct;
    let trades = if r.trades_proposed == r.trades_keeping {
        format!("the same {} trades", count(r.trades_keeping))
    } else {
        format!(
            "{} trades instead of {}",
            count(r.trades_proposed),
            count(r.trades_keeping)
        )
    };
    format!(
        "{head} {} USDC against keeping {current} — {trades}, win rate {} vs {}",
        money(r.difference),
        rate(r.win_rate_proposed),
        rate(r.win_rate_keeping)
    )
}

/// The plain words an approval needs when the replay is against the change.
fn replay_warning(r: &ReplayFigures, current: &str) -> Option<String> {
    if !r.judgeable {
        return Some(
            "The replay cannot judge this change: approving applies it on your judgement alone."
                .into(),
        );
    }
    r.against().then(|| {
        format!(
            "The replay says this change would have LOST {} USDC against keeping {current}. Approve only if you know better.",
            crate::words::plain_money(-r.difference)
        )
    })
}

/// Who decided a proposal and when, once it no longer awaits approval (None while it does).
pub fn verdict_line(p: &crate::proposals::Proposal) -> Option<String> {
    use crate::proposals::Status;
    let at = |t: Option<&str>| t.map(|t| format!(" at {t} UTC")).unwrap_or_default();
    let by = p.decided_by.as_deref().unwrap_or("someone");
    let when = at(p.decided_at.as_deref());
    Some(match p.status {
        Status::Applied => format!("Approved by {by}{when}: applied"),
        Status::Rejected => format!("Rejected by {by}{when}: nothing changed"),
        Status::Expired => format!(
            "Expired{} without a decision: nothing changed",
            at(p.expires_at.as_deref())
        ),
        Status::Superseded => format!("Superseded{when}: nothing changed"),
        _ => return None,
    })
}

/// The approval message edited after a press: who decided and when instead of "Approval
/// needed", the rest of the original text (Telegram's plain text of it, when the press
/// carries it), and what happened.
pub fn decided(original: &str, verdict: &str, what_happened: &str) -> String {
    let rest: Vec<&str> = original.lines().skip(1).collect();
    let mut text = format!("<b>{}</b>", esc_short(verdict, MAX_FIELD_CHARS));
    for line in rest {
        text.push('\n');
        text.push_str(&esc_short(line, MAX_FIELD_CHARS));
    }
    text.push_str(&format!(
        "\n\n→ {}",
        esc_short(what_happened, MAX_FIELD_CHARS)
    ));
    truncate_html(&text, MAX_CHARS)
}

/// A title, then every field of the message as `key: value`.
fn titled(title: &str, message: &Message) -> String {
    format!("<b>{title}</b>\n{}", key_values(&message.payload(), &[]))
}

/// The outbox's note of messages it dropped to stay bounded (`{"trade": 1234, ...}`).
fn dropped(counts: &BTreeMap<String, u64>) -> String {
    let parts: Vec<String> = counts
        .iter()
        .map(|(kind, n)| {
            let what = match Kind::of_column(kind) {
                Some(Kind::Trade) => "trade alerts".to_string(),
                Some(Kind::Settlement) => "settlement summaries".to_string(),
                Some(Kind::Insights) => "reflection insights".to_string(),
                Some(Kind::Text) => "notices".to_string(),
                Some(Kind::Applied) => "parameter change notices".to_string(),
                Some(Kind::Rollback) => "rollback notices".to_string(),
                _ => format!("{} messages", esc_short(kind, 64)),
            };
            format!("{} older {what}", count(*n))
        })
        .collect();
    let list = match parts.split_last() {
        None => "Older messages".to_string(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    };
    format!(
        "<b>{list} were not sent</b>\nThe outbox keeps at most {} waiting messages (Telegram was off or unreachable); the oldest alerts of little value made room.",
        count(crate::outbox::MAX_PENDING as u64)
    )
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
        let part = render_row(kind, payload);
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
            let text = render_row(kind, &payload);
            assert!(text.contains("&lt;b&gt;&amp;_*"), "{kind}: {text}");
            assert!(!text.contains("<b>&_*"), "{kind}: {text}");
        }
    }

    /// Rows of every kind, in the shapes their producers write (a trade alert's money as
    /// numbers and, queued before migration 0002, as text), render exactly so: the kinds a
    /// trader reads most in words (issue 17), the others as they did when the renderer read
    /// payloads by key.
    #[test]
    fn rows_render_as_they_always_did() {
        let cases = [
            (
                "trade",
                json!({"trade_id": 12, "decision_id": "d-12", "timestamp": "2026-02-11 10:30:00", "market_slug": "btc-updown-15m-1770805800", "action": "YES", "confidence": 1.0, "position_size": 5.0, "executed_price": 0.52, "signal_type": null}),
                "<b>Trade: Up · 10:30–10:45 UTC</b>\nYES @ 0.52 · 5.00 USDC · confidence 100%\n<code>btc-updown-15m-1770805800</code>",
            ),
            (
                "trade",
                json!({"trade_id": 3, "decision_id": "d-3", "timestamp": "2026-02-11 10:30:00", "market_slug": "btc-updown-15m-1770805800", "action": "NO", "confidence": 0.8, "position_size": "5.00", "executed_price": "0.52", "signal_type": "STRONG_BEARISH"}),
                "<b>Trade: Down · 10:30–10:45 UTC</b>\nNO @ 0.52 · 5.00 USDC · confidence 80%\nSignal: STRONG_BEARISH\n<code>btc-updown-15m-1770805800</code>",
            ),
            (
                "settlement",
                json!({"settled": 3, "wins": 2, "losses": 1, "holds_scored": 0, "missed_opportunities": 1, "unsettleable": 0, "corrected": 0, "disagreements": 0, "profit": "4.123456", "largest": [{"decision_id": "d-1", "market_slug": "btc-updown-15m-1", "action": "YES", "outcome": "UP", "profit_loss": "4.5"}, {"decision_id": "d-2", "market_slug": "btc-updown-15m-2", "action": "NO", "outcome": "UP", "profit_loss": "-5.00"}]}),
                "<b>Settled 3 trades: 2 W / 1 L, +4.12 USDC</b>\nLargest:\n✅ WIN +4.50 USDC · Up\n❌ LOSS -5.00 USDC · Down",
            ),
            (
                "settlement",
                json!({"settled": 2, "wins": 1, "losses": 0, "fifty_fifty": 1, "profit": "4.15", "largest": [{"decision_id": "d-1", "market_slug": "btc-updown-15m-1", "action": "YES", "outcome": "UP", "profit_loss": "4.5"}, {"decision_id": "d-2", "market_slug": "btc-updown-15m-2", "action": "NO", "outcome": "50-50", "profit_loss": "-0.35"}]}),
                "<b>Settled 1 trade: 1 W / 0 L, +4.15 USDC</b>\n1 resolved 50-50\nLargest:\n✅ WIN +4.50 USDC · Up\n50-50 -0.35 USDC · Down",
            ),
            (
                "settlement_lag",
                json!({"trade_id": 4, "decision_id": "d-4", "market_slug": "btc-updown-15m-4", "market_end": "2026-02-11 10:45:00"}),
                "<b>Settlement lagging</b>\ndecision_id: d-4\nmarket_slug: btc-updown-15m-4\nmarket_end: 2026-02-11 10:45:00",
            ),
            (
                "settlement_lag",
                json!({"unsettled": 1234, "lag_hours": 1, "oldest_window_start": "2026-02-11 10:15:00", "oldest_window_end": "2026-02-11 10:30:00", "causes": ["Gamma: connection refused"], "at": "2026-02-11 12:00:00", "cleared": false}),
                "<b>Settlement lagging</b>\n1,234 decisions unsettled for over 1 h (oldest window 10:15–10:30 UTC); Gamma: connection refused",
            ),
            (
                "settlement_lag",
                json!({"unsettled": 0, "lag_hours": 1, "causes": [], "at": "2026-02-11 14:00:00", "cleared": true}),
                "<b>Settlement caught up</b>\nNo decision is unsettled for over 1 h any more (14:00 UTC).",
            ),
            (
                "price_source",
                json!({"source": "Binance", "symbol": null, "refused": true, "detail": "HTTP 451: Service unavailable from a restricted location"}),
                "<b>Price fallback off</b>\nBinance refuses this host (HTTP 451: Service unavailable from a restricted location). Decisions that need a price wait for the official result; point BINANCE_API_BASE at a host that answers.",
            ),
            (
                "disagreement",
                json!({"market_slug": "btc-updown-15m-4", "official_outcome": "UP", "price_outcome": "DOWN", "start_price": "66826.14", "end_price": "66826.10", "trades_corrected": 2}),
                "<b>Settlement sources disagree</b>\nend_price: 66826.10\nmarket_slug: btc-updown-15m-4\nofficial_outcome: UP\nprice_outcome: DOWN\nstart_price: 66826.14\ntrades_corrected: 2",
            ),
            (
                "insights",
                json!({"reflection_id": 9, "trigger": "3_losses,end_of_day", "engine": "rules", "insights": ["win rate 40% <50%", "b"], "recommendations": [{"parameter": "bot_confidence_threshold", "current": "0.60", "recommended": "0.65", "reason": "fewer & better", "tier": 1, "expected_impact": null}], "proposal_ids": [4, 5]}),
                "<b>Reflection</b> (rules engine, after a losing streak and the end of the day)\n• win rate 40% &lt;50%\n• b\n<i>Proposed</i>\n• Raise <code>bot_confidence_threshold</code> from 0.60 to 0.65: fewer &amp; better.\nThe adjuster checks each against its bounds and evidence; approvals come as their own messages.",
            ),
            (
                // Today's rows list the triggers; a word this version does not know sends the
                // row to the field-by-field view.
                "insights",
                json!({"reflection_id": 10, "trigger": ["manual"], "engine": "openai", "insights": [], "recommendations": [], "proposal_ids": []}),
                "<b>Reflection</b> (openai engine, after a request)\nNo new insight.\nNo parameter change proposed.",
            ),
            (
                "insights",
                json!({"reflection_id": 11, "trigger": "losses", "engine": "rules"}),
                "<b>insights</b>\nengine: rules\nreflection_id: 11\ntrigger: losses",
            ),
            (
                "approval",
                json!({"proposal_id": 7, "nonce": "abc", "parameter": "bot_max_position_dollars", "current": "10", "proposed": "12", "reason": "more", "expected_impact": null, "tier": 2, "evidence": {"summary": "replay: +3", "n": 20}, "expires_at": "2026-02-11 16:30:00", "rollback_of": null}),
                "<b>Approval needed</b> (proposal #7)\n<code>bot_max_position_dollars</code>: 10 → 12\nreplay: +3\nWhy: more\nTier 2 · expires 2026-02-11 16:30:00 UTC",
            ),
            (
                "approval",
                json!({"proposal_id": 8, "nonce": "abd", "parameter": "x", "current": "1", "proposed": "2", "reason": null, "expected_impact": "less", "tier": 2, "evidence": null, "expires_at": "2026-02-11 16:30:00", "rollback_of": 3}),
                "<b>Approval needed</b> (proposal #8): roll back change #3\n<code>x</code>: 1 → 2\nExpected: less\nTier 2 · expires 2026-02-11 16:30:00 UTC",
            ),
            (
                "approval",
                json!({"proposal_id": 9, "nonce": "abe", "parameter": "bot_confidence_threshold", "current": "0.75", "proposed": "0.77", "reason": "fewer losers", "expected_impact": null, "tier": 2, "evidence": {"summary": "x", "actual": {"n": 1148}}, "expires_at": "2026-02-11 16:30:00", "rollback_of": null,
                       "replay": {"days": 14, "judgeable": true, "why_not": null, "difference": "-279.04", "trades_keeping": 1148, "trades_proposed": 690, "win_rate_keeping": 0.5453, "win_rate_proposed": 0.5478}}),
                "<b>Approval needed</b> (proposal #9)\n<code>bot_confidence_threshold</code>: 0.75 → 0.77\nReplay, last 14 days: -279.04 USDC against keeping 0.75 — 690 trades instead of 1,148, win rate 54.8% vs 54.5%\n<b>The replay says this change would have LOST 279.04 USDC against keeping 0.75. Approve only if you know better.</b>\nWhy: fewer losers\nTier 2 · expires 2026-02-11 16:30:00 UTC",
            ),
            (
                "approval",
                json!({"proposal_id": 10, "nonce": "abf", "parameter": "bot_max_exposure_fraction", "current": "0.50", "proposed": "0.48", "reason": null, "expected_impact": null, "tier": 2, "evidence": null, "expires_at": "2026-02-11 16:30:00", "rollback_of": null,
                       "replay": {"days": 14, "judgeable": false, "why_not": "the decisions carry no bankroll", "difference": "0", "trades_keeping": 40, "trades_proposed": 0}}),
                "<b>Approval needed</b> (proposal #10)\n<code>bot_max_exposure_fraction</code>: 0.50 → 0.48\nReplay, last 14 days: cannot judge this change (the decisions carry no bankroll)\n<b>The replay cannot judge this change: approving applies it on your judgement alone.</b>\nTier 2 · expires 2026-02-11 16:30:00 UTC",
            ),
            (
                "applied",
                json!({"history_id": 5, "parameter": "bot_confidence_threshold", "old": "0.60", "new": "0.62", "reason": "tier 1", "method": "auto", "proposal_id": 4, "by": "adjust"}),
                "<b>Parameter changed</b> <code>bot_confidence_threshold</code>: 0.60 → 0.62\nreason: tier 1\nby adjust (auto)",
            ),
            (
                "rollback",
                json!({"history_id": 6, "parameter": "bot_confidence_threshold", "old": "0.62", "new": "0.60", "reason": "worse", "method": "rollback", "proposal_id": null, "by": "cli"}),
                "<b>Rolled back</b> <code>bot_confidence_threshold</code>: 0.62 → 0.60\nreason: worse\nby cli (rollback)",
            ),
            (
                "pause",
                json!({"reason": "5 losses in a row", "rule": "max_consecutive_losses", "figures": {"losses": 5}, "by": "adjust", "since": "2026-02-11 10:30:00"}),
                "<b>Trading paused</b>\nreason: 5 losses in a row\nby adjust\nrule: max_consecutive_losses",
            ),
            (
                "pause",
                json!({"reason": "manual", "rule": null, "figures": null, "by": "ops", "since": "2026-02-11 10:30:00"}),
                "<b>Trading paused</b>\nreason: manual\nby ops",
            ),
            (
                "resume",
                json!({"by": "ops", "reason": "resumed by operator", "at": "2026-02-11 11:30:00"}),
                "<b>Trading resumed</b>\nby ops (resumed by operator)",
            ),
            (
                "disk",
                json!({"level": "critical", "summary": "short", "free_bytes_before": 1000, "free_bytes_after": 2000, "free_percent_before": 0.5, "free_percent_after": 4.999, "steps": ["reserve", "checkpoint"], "pruned_rows": 3, "archived_rows": 0, "offloaded_files": 0, "db_bytes": 4096, "wal_bytes": 0, "archive_bytes": 10, "step_errors": ["archive: no"]}),
                "<b>Disk space</b>\narchive_bytes: 10\narchived_rows: 0\ndb_bytes: 4096\nfree_bytes_after: 2000\nfree_bytes_before: 1000\nfree_percent_after: 4.999\nfree_percent_before: 0.5\nlevel: critical\noffloaded_files: 0\npruned_rows: 3\nstep_errors: archive: no\nsteps: reserve, checkpoint\nsummary: short\nwal_bytes: 0",
            ),
            (
                "job_failure",
                json!({"unit": "polyperf-settle.service", "result": "exit-code", "exit_status": "1", "host": null}),
                "<b>Job failed: polyperf-settle.service</b> (exit-code, exit status 1)\nNext: <code>journalctl -u polyperf-settle.service -n 50</code> says why; it runs again at its next timer, or now with <code>sudo systemctl start polyperf-settle.service</code>.",
            ),
            (
                "text",
                json!({"text": "Proposal #3 (x) rejected: <why>."}),
                "Proposal #3 (x) rejected: &lt;why&gt;.",
            ),
            (
                "dropped",
                json!({"trade": 1234, "settlement": 2, "mystery": 1}),
                "<b>1 older mystery messages, 2 older settlement summaries and 1,234 older trade alerts were not sent</b>\nThe outbox keeps at most 1,000 waiting messages (Telegram was off or unreachable); the oldest alerts of little value made room.",
            ),
            (
                "mystery",
                json!({"a": 1, "b": "<x>"}),
                "<b>mystery</b>\na: 1\nb: &lt;x&gt;",
            ),
        ];
        for (kind, payload, expected) in cases {
            assert_eq!(render_row(kind, &payload), expected, "{kind}: {payload}");
        }
    }

    /// What a person decides on: never JSON, and a message the current autonomy cannot act on
    /// says so.
    #[test]
    fn an_approval_reads_as_words_and_says_when_it_cannot_be_acted_on() {
        let request: ApprovalRequest = serde_json::from_value(json!({
            "proposal_id": 3, "nonce": "n", "parameter": "bot_confidence_threshold", "current": "0.60",
            "proposed": "0.63", "tier": 2, "expires_at": "2026-02-11 16:30:00",
            "evidence": {"actual": {"n": 100, "pnl": "12.5"}, "replayed": {"n": 80}, "summary": "s"},
            "replay": {"days": 14, "judgeable": true, "difference": "35.2", "trades_keeping": 100,
                       "trades_proposed": 80, "win_rate_keeping": 0.5, "win_rate_proposed": 0.55}}))
        .unwrap();
        for actionable in [true, false] {
            let text = approval(&request, actionable);
            assert!(!text.contains('{') && !text.contains("\"n\""), "{text}");
            assert!(
                text.contains("Replay, last 14 days: +35.20 USDC against keeping 0.60 — 80 trades instead of 100, win rate 55.0% vs 50.0%"),
                "{text}"
            );
            assert!(!text.contains("LOST"), "{text}");
            assert_eq!(text.contains("Autonomy is observe"), !actionable, "{text}");
        }
    }

    #[test]
    fn a_decided_approval_says_who_when_and_what_happened() {
        let original = "Approval needed (proposal #3)\nbot_confidence_threshold: 0.60 → 0.63\nReplay, last 14 days: +35.20 USDC";
        let text = decided(
            original,
            "Approved by telegram:111 at 2026-02-11 12:00:00 UTC: applied",
            "proposal #3 applied: bot_confidence_threshold 0.60 -> 0.63 (history #4)",
        );
        assert_eq!(
            text,
            "<b>Approved by telegram:111 at 2026-02-11 12:00:00 UTC: applied</b>\nbot_confidence_threshold: 0.60 → 0.63\nReplay, last 14 days: +35.20 USDC\n\n→ proposal #3 applied: bot_confidence_threshold 0.60 -&gt; 0.63 (history #4)"
        );
        assert!(!text.contains("Approval needed"));
    }

    #[test]
    fn dropped_messages_are_counted_in_words() {
        let text = render_row("dropped", &json!({"trade": 1234}));
        assert!(
            text.starts_with("<b>1,234 older trade alerts were not sent</b>"),
            "{text}"
        );
        let text = render_row("dropped", &json!({"trade": 2, "settlement": 3}));
        assert!(
            text.contains("3 older settlement summaries and 2 older trade alerts were not sent"),
            "{text}"
        );
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
            let text = render_row(kind, &payload);
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
