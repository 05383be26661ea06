//! Trades as a trader reads them on a phone: the alert for a new trade, the result of a settled
//! one (`✅ WIN +4.62 USDC · Up · 10:15–10:30 UTC · YES @ 0.52 · 10.00 USDC`), several of
//! either merged into one message (a line each), and the one-line summary that replaces them
//! for a backlog. Pure: no I/O; every text that came from
//! the trader is escaped.

use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::html::{esc_short, truncate_html, MAX_CHARS};
use super::words::side;
use crate::kinds::Action;
use crate::words::{count, money, percent, plain_money, price, when, window};

/// A merged message lists at most this many trades, then says how many more there were.
pub const MAX_LINES: usize = 20;

/// The trader's reasoning shows at most this many characters in an alert.
pub const MAX_REASONING_CHARS: usize = 300;

/// One YES / NO decision as the messages show it.
#[derive(Debug, Clone, PartialEq)]
pub struct TradeView {
    /// YES (bought Up) or NO (bought Down).
    pub action: Action,
    /// When the trader decided (UTC).
    pub timestamp: Option<DateTime<Utc>>,
    /// The market's window (start, end).
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub price: Option<Decimal>,
    /// USDC staked.
    pub size: Option<Decimal>,
    pub confidence: Option<Decimal>,
    pub signal_type: Option<String>,
    pub reasoning: Option<String>,
    pub market_slug: String,
    /// What the trade makes if its side wins, after the fee (settlement's arithmetic).
    pub profit_if_right: Option<Decimal>,
    /// Once settled: whether it won, and its P&L in USDC.
    pub result: Option<(bool, Decimal)>,
}

/// What several trades add up to (a merged message's header, a backlog's summary).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    pub n: u64,
    pub up: u64,
    pub down: u64,
    pub wins: u64,
    pub losses: u64,
    pub staked: Decimal,
    pub profit: Decimal,
    /// The earliest decision among them.
    pub first: Option<DateTime<Utc>>,
}

impl Totals {
    /// Counts one trade in. Sums saturate rather than overflow (display only; every stored
    /// amount is far below the limit).
    pub fn add(&mut self, t: &TradeView) {
        self.n += 1;
        match t.action {
            Action::Yes => self.up += 1,
            _ => self.down += 1,
        }
        self.staked = self.staked.saturating_add(t.size.unwrap_or_default());
        if let Some((won, pnl)) = t.result {
            if won {
                self.wins += 1;
            } else {
                self.losses += 1;
            }
            self.profit = self.profit.saturating_add(pnl);
        }
        self.first = match (self.first, t.timestamp) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// `Up · 10:15–10:30 UTC` (or `Up · window unknown`).
fn side_and_window(t: &TradeView, now: DateTime<Utc>) -> String {
    let window = match t.window {
        Some((start, end)) => window(start, end, now),
        None => "window unknown".into(),
    };
    format!("{} · {window}", side(t.action))
}

/// `YES @ 0.52 · 10.00 USDC`.
fn fill(t: &TradeView) -> String {
    let mut out = t.action.to_string();
    if let Some(p) = t.price {
        out.push_str(&format!(" @ {}", price(p)));
    }
    if let Some(size) = t.size {
        out.push_str(&format!(" · {} USDC", plain_money(size)));
    }
    out
}

/// The alert for one new trade: side and window, the fill, what it makes if right, the
/// signal and the trader's reasoning (bounded), and the market's slug last, for reference.
pub fn alert(t: &TradeView, now: DateTime<Utc>) -> String {
    let mut out = format!("<b>Trade: {}</b>\n{}", side_and_window(t, now), fill(t));
    if let Some(c) = t.confidence.and_then(|c| c.to_f64()) {
        out.push_str(&format!(" · confidence {}", percent(c)));
    }
    if let Some(profit) = t.profit_if_right {
        out.push_str(&format!(
            "\nIf {} wins: {} USDC",
            side(t.action),
            money(profit)
        ));
    }
    if let Some(signal) = t.signal_type.as_deref().filter(|s| !s.is_empty()) {
        out.push_str(&format!("\nSignal: {}", esc_short(signal, 64)));
    }
    if let Some(reasoning) = t
        .reasoning
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        out.push_str(&format!(
            "\n<i>{}</i>",
            esc_short(reasoning, MAX_REASONING_CHARS)
        ));
    }
    out.push_str(&format!(
        "\n<code>{}</code>",
        esc_short(&t.market_slug, 200)
    ));
    truncate_html(&out, MAX_CHARS)
}

/// One line per trade in a merged alert: `Up · 10:15–10:30 UTC · YES @ 0.52 · 10.00 USDC ·
/// +9.23 if right`.
pub fn alert_line(t: &TradeView, now: DateTime<Utc>) -> String {
    let mut out = format!("{} · {}", side_and_window(t, now), fill(t));
    if let Some(profit) = t.profit_if_right {
        out.push_str(&format!(" · {} if right", money(profit)));
    }
    out
}

/// A settled trade: `✅ WIN +4.62 USDC · Up · 10:15–10:30 UTC · YES @ 0.52 · 10.00 USDC`.
pub fn result_line(t: &TradeView, now: DateTime<Utc>) -> String {
    let (won, pnl) = t.result.unwrap_or_default();
    format!(
        "{} <b>{} {} USDC</b> · {} · {}",
        if won {
            super::table::GOOD
        } else {
            super::table::BAD
        },
        if won { "WIN" } else { "LOSS" },
        money(pnl),
        side_and_window(t, now),
        fill(t)
    )
}

/// `170 W / 142 L, +23.40 USDC`.
fn wins_and_losses(totals: &Totals) -> String {
    format!(
        "{} W / {} L, {} USDC",
        count(totals.wins),
        count(totals.losses),
        money(totals.profit)
    )
}

/// `312 trades` / `1 trade` (`312 new trades` with `adjective` "new ").
fn trades(n: u64, adjective: &str) -> String {
    let noun = if n == 1 { "trade" } else { "trades" };
    format!("{} {adjective}{noun}", count(n))
}

/// Several new trades in one message: a header, one [`alert_line`] each (at most
/// [`MAX_LINES`], then "and N more").
pub fn alerts_merged(shown: &[TradeView], totals: &Totals, now: DateTime<Utc>) -> String {
    let header = format!(
        "<b>{}: {} Up / {} Down, {} USDC staked</b>",
        trades(totals.n, "new "),
        count(totals.up),
        count(totals.down),
        plain_money(totals.staked)
    );
    let lines: Vec<String> = shown.iter().map(|t| alert_line(t, now)).collect();
    merged(header, &lines, totals.n)
}

/// Several results in one message: a header with the wins, losses and P&L, one
/// [`result_line`] each (at most [`MAX_LINES`], then "and N more").
pub fn results_merged(shown: &[TradeView], totals: &Totals, now: DateTime<Utc>) -> String {
    let header = format!(
        "<b>{} settled: {}</b>",
        trades(totals.n, ""),
        wins_and_losses(totals)
    );
    let lines: Vec<String> = shown.iter().map(|t| result_line(t, now)).collect();
    merged(header, &lines, totals.n)
}

fn merged(header: String, lines: &[String], total: u64) -> String {
    let mut out = header;
    let mut listed = 0u64;
    for line in lines.iter().take(MAX_LINES) {
        out.push('\n');
        out.push_str(line);
        listed += 1;
    }
    if total > listed {
        out.push_str(&format!("\nand {} more", count(total - listed)));
    }
    truncate_html(&out, MAX_CHARS)
}

/// After a long silence (Telegram off or unreachable): one line instead of hundreds of
/// messages, `312 trades since 10:00 UTC: 170 W / 142 L, +23.40 USDC`.
pub fn results_backlog(totals: &Totals, now: DateTime<Utc>) -> String {
    format!(
        "<b>{}{}: {}</b>\nOne line instead of a message each; /daily has the figures per day.",
        trades(totals.n, ""),
        since(totals, now),
        wins_and_losses(totals)
    )
}

/// The alerts' counterpart of [`results_backlog`]: `312 new trades since 10:00 UTC: 170 Up /
/// 142 Down, 3,120.00 USDC staked`.
pub fn alerts_backlog(totals: &Totals, now: DateTime<Utc>) -> String {
    format!(
        "<b>{}{}: {} Up / {} Down, {} USDC staked</b>\nOne line instead of an alert each; their results follow as they settle.",
        trades(totals.n, "new "),
        since(totals, now),
        count(totals.up),
        count(totals.down),
        plain_money(totals.staked)
    )
}

fn since(totals: &Totals, now: DateTime<Utc>) -> String {
    totals
        .first
        .map(|t| format!(" since {}", when(t, now)))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn t(s: &str) -> DateTime<Utc> {
        crate::time::parse_rfc3339(s).unwrap()
    }

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn trade() -> TradeView {
        TradeView {
            action: Action::Yes,
            timestamp: Some(t("2026-02-11T10:16:00Z")),
            window: Some((t("2026-02-11T10:15:00Z"), t("2026-02-11T10:30:00Z"))),
            price: Some(d("0.52")),
            size: Some(d("10")),
            confidence: Some(d("0.8")),
            signal_type: Some("STRONG_BULLISH".into()),
            reasoning: Some("RSI <30 & rising".into()),
            market_slug: "btc-updown-15m-1770804900".into(),
            profit_if_right: Some(d("9.004615")),
            result: Some((true, d("4.623456"))),
        }
    }

    #[test]
    fn a_result_reads_as_one_line() {
        let now = t("2026-02-11T10:32:00Z");
        assert_eq!(
            result_line(&trade(), now),
            "✅ <b>WIN +4.62 USDC</b> · Up · 10:15–10:30 UTC · YES @ 0.52 · 10.00 USDC"
        );
        let loss = TradeView {
            action: Action::No,
            result: Some((false, d("-10.07"))),
            ..trade()
        };
        assert_eq!(
            result_line(&loss, now),
            "❌ <b>LOSS -10.07 USDC</b> · Down · 10:15–10:30 UTC · NO @ 0.52 · 10.00 USDC"
        );
    }

    #[test]
    fn an_alert_has_side_window_profit_reasoning_and_slug_last() {
        let text = alert(&trade(), t("2026-02-11T10:16:05Z"));
        assert_eq!(
            text,
            "<b>Trade: Up · 10:15–10:30 UTC</b>\nYES @ 0.52 · 10.00 USDC · confidence 80%\nIf Up wins: +9.00 USDC\nSignal: STRONG_BULLISH\n<i>RSI &lt;30 &amp; rising</i>\n<code>btc-updown-15m-1770804900</code>"
        );
        let long = TradeView {
            reasoning: Some("why ".repeat(1000)),
            ..trade()
        };
        let text = alert(&long, t("2026-02-11T10:16:05Z"));
        assert!(text.chars().count() < 600, "{text}");
        assert!(text.ends_with("<code>btc-updown-15m-1770804900</code>"));
    }

    #[test]
    fn merged_messages_are_bounded() {
        let now = t("2026-02-11T10:32:00Z");
        let mut totals = Totals::default();
        let all: Vec<TradeView> = (0..57).map(|_| trade()).collect();
        for one in &all {
            totals.add(one);
        }
        let text = results_merged(&all[..MAX_LINES], &totals, now);
        assert!(
            text.starts_with("<b>57 trades settled: 57 W / 0 L, +263.54 USDC</b>\n✅ <b>WIN"),
            "{text}"
        );
        assert_eq!(text.matches("✅ <b>WIN").count(), MAX_LINES);
        assert!(text.ends_with("\nand 37 more"), "{text}");
        let text = alerts_merged(
            &all[..3],
            &{
                let mut t3 = Totals::default();
                all[..3].iter().for_each(|x| t3.add(x));
                t3
            },
            now,
        );
        assert_eq!(
            text,
            "<b>3 new trades: 3 Up / 0 Down, 30.00 USDC staked</b>\nUp · 10:15–10:30 UTC · YES @ 0.52 · 10.00 USDC · +9.00 if right\nUp · 10:15–10:30 UTC · YES @ 0.52 · 10.00 USDC · +9.00 if right\nUp · 10:15–10:30 UTC · YES @ 0.52 · 10.00 USDC · +9.00 if right"
        );
        assert_eq!(
            results_backlog(&totals, t("2026-02-11T14:00:00Z")),
            "<b>57 trades since 10:16 UTC: 57 W / 0 L, +263.54 USDC</b>\nOne line instead of a message each; /daily has the figures per day."
        );
    }
}
