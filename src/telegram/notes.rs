//! Outbox messages in words, for the ones a trader reads most: a settlement run's summary, a
//! reflection (insights, and proposals as sentences), a failed job (what failed and what to do
//! next), and a trade alert queued before trade alerts left the outbox. Pure; every text that
//! came from a user, a model or the database is escaped.

use super::html::{esc_short, MAX_FIELD_CHARS};
use super::trade_text::{self, TradeView};
use super::words::side;
use crate::kinds::Trigger;
use crate::outbox::message::{JobFailure, ReflectionNote, SettlementSummary, TradeAlert};
use crate::words::{count, money, window};

/// Most items (insights, proposals, largest results) listed in one message.
const MAX_ITEMS: usize = 10;

/// A settlement run: `Settled 12 trades: 7 W / 5 L, +12.34 USDC`, what else it did, and its
/// largest results as result lines.
pub fn settlement(s: &SettlementSummary) -> String {
    let trades = s.wins + s.losses;
    let mut out = format!(
        "<b>Settled {} trade{}: {} W / {} L, {} USDC</b>",
        count(trades),
        if trades == 1 { "" } else { "s" },
        count(s.wins),
        count(s.losses),
        money(s.profit)
    );
    let mut also = Vec::new();
    if s.fifty_fifty > 0 {
        also.push(format!("{} resolved 50-50", count(s.fifty_fifty)));
    }
    if s.holds_scored > 0 {
        also.push(format!(
            "{} hold{} scored ({} a missed opportunity)",
            count(s.holds_scored),
            if s.holds_scored == 1 { "" } else { "s" },
            count(s.missed_opportunities)
        ));
    }
    if s.unsettleable > 0 {
        also.push(format!(
            "{} could not be settled (`polyperf status` lists them)",
            count(s.unsettleable)
        ));
    }
    if s.corrected > 0 {
        also.push(format!(
            "{} corrected to the official result",
            count(s.corrected)
        ));
    }
    if s.disagreements > 0 {
        also.push(format!(
            "{} market{} where the price and the official result disagree",
            count(s.disagreements),
            if s.disagreements == 1 { "" } else { "s" }
        ));
    }
    if !also.is_empty() {
        out.push('\n');
        out.push_str(&also.join(" · "));
    }
    if !s.largest.is_empty() {
        out.push_str("\nLargest:");
    }
    for r in s.largest.iter().take(MAX_ITEMS) {
        let won = r.outcome.wins(r.action);
        let window = crate::market::window_from_slug(&r.market_slug)
            .map(|(start, end)| format!(" · {}", window(start, end, start)))
            .unwrap_or_default();
        let split = r.outcome == crate::kinds::Outcome::Split;
        out.push_str(&format!(
            "\n{} {} USDC · {}{window}",
            if split {
                "50-50"
            } else if won {
                "✅ WIN"
            } else {
                "❌ LOSS"
            },
            money(r.profit_loss),
            side(r.action)
        ));
    }
    out
}

/// A reflection: why it ran, its insights, and each recommendation as a sentence ("Raise
/// bot_confidence_threshold from 0.60 to 0.65: fewer weak entries. Expected: +2% win rate.").
pub fn reflection(note: &ReflectionNote) -> String {
    let why: Vec<&str> = note
        .trigger
        .iter()
        .map(|t| match t {
            Trigger::Losses => "a losing streak",
            Trigger::Trades => "new settled trades",
            Trigger::EndOfDay => "the end of the day",
            Trigger::Manual => "a request",
        })
        .collect();
    let mut out = format!(
        "<b>Reflection</b> ({} engine{})",
        note.engine,
        if why.is_empty() {
            String::new()
        } else {
            format!(", after {}", why.join(" and "))
        }
    );
    if note.insights.is_empty() {
        out.push_str("\nNo new insight.");
    }
    for insight in note.insights.iter().take(MAX_ITEMS) {
        out.push_str(&format!("\n• {}", esc_short(insight, MAX_FIELD_CHARS)));
    }
    if note.recommendations.is_empty() {
        out.push_str("\nNo parameter change proposed.");
    } else {
        out.push_str("\n<i>Proposed</i>");
    }
    for r in note.recommendations.iter().take(MAX_ITEMS) {
        let verb = match r.recommended.cmp(&r.current) {
            std::cmp::Ordering::Greater => "Raise",
            std::cmp::Ordering::Less => "Lower",
            std::cmp::Ordering::Equal => "Keep",
        };
        out.push_str(&format!(
            "\n• {verb} <code>{}</code> from {} to {}: {}",
            esc_short(&r.parameter, 64),
            r.current,
            r.recommended,
            esc_short(r.reason.trim_end_matches('.'), MAX_FIELD_CHARS)
        ));
        if let Some(impact) = r.expected_impact.as_deref().filter(|i| !i.is_empty()) {
            out.push_str(&format!(
                ". Expected: {}",
                esc_short(impact.trim_end_matches('.'), MAX_FIELD_CHARS)
            ));
        }
        out.push('.');
    }
    if !note.proposal_ids.is_empty() {
        out.push_str("\nThe adjuster checks each against its bounds and evidence; approvals come as their own messages.");
    }
    out
}

/// A failed job: which unit, how it ended, and the next step for that kind of failure.
pub fn job_failure(f: &JobFailure) -> String {
    let unit = esc_short(&f.unit, 120);
    let how = match (&f.result, &f.exit_status) {
        (Some(result), Some(status)) => format!(
            " ({}, exit status {})",
            esc_short(result, 40),
            esc_short(status, 20)
        ),
        (Some(result), None) => format!(" ({})", esc_short(result, 40)),
        (None, Some(status)) => format!(" (exit status {})", esc_short(status, 20)),
        (None, None) => String::new(),
    };
    let host = f
        .host
        .as_deref()
        .map(|h| format!(" on {}", esc_short(h, 64)))
        .unwrap_or_default();
    let next = match f.exit_status.as_deref() {
        Some("75") | Some("TEMPFAIL") => "A remote API was unavailable or another run held the lock; it retries at its next run. If it keeps failing, check the network and <code>polyperf status</code>.".to_string(),
        Some("2") | Some("USAGE") => "Bad settings or input: run <code>polyperf config</code> and check /etc/polyperf/polyperf.env, then start it again.".to_string(),
        _ => format!(
            "Next: <code>journalctl -u {unit} -n 50</code> says why; it runs again at its next timer, or now with <code>sudo systemctl start {unit}</code>."
        ),
    };
    format!("<b>Job failed: {unit}</b>{how}{host}\n{next}")
}

/// A trade alert the `trades_trade_alert` trigger queued before migration 0006, as today's
/// alerts read (without the reasoning and estimate it did not carry).
pub fn legacy_trade(t: &TradeAlert) -> String {
    // The trigger copied a stored action (the column's CHECK: YES, NO or HOLD).
    let Some(action) = t.action else {
        return format!(
            "<b>Trade</b>\n<code>{}</code>",
            esc_short(&t.market_slug, 200)
        );
    };
    let view = TradeView {
        action,
        timestamp: t.timestamp,
        window: crate::market::window_from_slug(&t.market_slug),
        price: t.executed_price,
        size: t.position_size,
        confidence: t
            .confidence
            .and_then(rust_decimal::prelude::FromPrimitive::from_f64),
        signal_type: t.signal_type.clone(),
        reasoning: None,
        market_slug: t.market_slug.clone(),
        profit_if_right: None,
        result: None,
    };
    let now = t
        .timestamp
        .or_else(|| view.window.map(|(start, _)| start))
        .unwrap_or_default();
    trade_text::alert(&view, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Engine;
    use crate::kinds::{Action, Outcome};
    use crate::outbox::message::{RecommendedChange, SettledResult};
    use rust_decimal::Decimal;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn a_settlement_summary_in_words() {
        let s = SettlementSummary {
            settled: 14,
            wins: 7,
            losses: 5,
            holds_scored: 2,
            missed_opportunities: 1,
            unsettleable: 1,
            corrected: 0,
            disagreements: 0,
            fifty_fifty: 0,
            profit: d("12.345678"),
            largest: vec![SettledResult {
                decision_id: "d-1".into(),
                market_slug: "btc-updown-15m-1770804900".into(),
                action: Action::No,
                outcome: Outcome::Up,
                profit_loss: d("-10.070000"),
            }],
        };
        assert_eq!(
            settlement(&s),
            "<b>Settled 12 trades: 7 W / 5 L, +12.35 USDC</b>\n2 holds scored (1 a missed opportunity) · 1 could not be settled (`polyperf status` lists them)\nLargest:\n❌ LOSS -10.07 USDC · Down · 10:15–10:30 UTC"
        );
    }

    #[test]
    fn a_reflection_says_its_proposals_in_words() {
        let note = ReflectionNote {
            reflection_id: 9,
            trigger: vec![Trigger::Losses, Trigger::EndOfDay],
            engine: Engine::Rules,
            insights: vec!["win rate 40% <50%".into()],
            recommendations: vec![RecommendedChange {
                parameter: "bot_confidence_threshold".into(),
                current: d("0.60"),
                recommended: d("0.65"),
                reason: "fewer & weaker entries".into(),
                tier: Some(1),
                expected_impact: Some("+2% win rate".into()),
            }],
            proposal_ids: vec![4],
        };
        assert_eq!(
            reflection(&note),
            "<b>Reflection</b> (rules engine, after a losing streak and the end of the day)\n• win rate 40% &lt;50%\n<i>Proposed</i>\n• Raise <code>bot_confidence_threshold</code> from 0.60 to 0.65: fewer &amp; weaker entries. Expected: +2% win rate.\nThe adjuster checks each against its bounds and evidence; approvals come as their own messages."
        );
    }

    #[test]
    fn a_failed_job_says_what_to_do_next() {
        let f = JobFailure {
            unit: "polyperf-settle.service".into(),
            result: Some("exit-code".into()),
            exit_status: Some("1".into()),
            host: None,
        };
        assert_eq!(
            job_failure(&f),
            "<b>Job failed: polyperf-settle.service</b> (exit-code, exit status 1)\nNext: <code>journalctl -u polyperf-settle.service -n 50</code> says why; it runs again at its next timer, or now with <code>sudo systemctl start polyperf-settle.service</code>."
        );
        let tempfail = JobFailure {
            exit_status: Some("75".into()),
            ..f
        };
        assert!(job_failure(&tempfail).contains("retries at its next run"));
    }
}
