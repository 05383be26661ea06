//! Replies that show figures: `/daily`, `/weekly`, `/monthly` as a phone-width table (Freqtrade
//! style: period, trades, W/L, profit, ROI), today's P&L for `/status`, and `/report` as the
//! equity chart (a PNG for `sendPhoto`) with the summary as its caption. Read-only; `now` is
//! passed in.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use rust_decimal::Decimal;

use super::api::MAX_CAPTION_CHARS;
use super::html::{esc, truncate_html, MAX_CHARS};
use crate::metrics::{self, By, Period, Window};
use crate::words::{count, money, plain_money};

/// Room kept for the title and the totals line under a table.
const TABLE_BUDGET: usize = MAX_CHARS - 400;

/// `/daily [n]` (and `/weekly`, `/monthly`): the last `n` periods, newest first, with their
/// total; only the newest rows when all of them would not fit one message.
pub fn periods_reply(conn: &Connection, by: By, n: u32, now: DateTime<Utc>) -> Result<String> {
    let periods = metrics::periods(conn, by, n, now)?;
    let (noun, first) = match by {
        By::Day => ("day", "Day"),
        By::Week => ("week", "Week"),
        By::Month => ("month", "Month"),
    };
    let width = periods
        .iter()
        .map(|p| p.period.chars().count())
        .max()
        .unwrap_or(0)
        .max(first.len());
    let header = format!(
        "{first:<width$} {:>6} {:>9} {:>10} {:>7}",
        "Trades", "W/L", "Profit", "ROI"
    );
    let mut rows: Vec<String> = Vec::new();
    let mut used = header.chars().count();
    for p in &periods {
        let row = row(p, width);
        used += row.chars().count() + 1;
        if used > TABLE_BUDGET {
            break;
        }
        rows.push(row);
    }
    let mut out = format!(
        "<b>P&amp;L per {noun} (UTC), last {}</b>\n<pre>{}\n{}</pre>",
        count(periods.len() as u64),
        esc(&header),
        esc(&rows.join("\n"))
    );
    if rows.len() < periods.len() {
        out.push_str(&format!(
            "\nThe newest {} of {} fit here; <code>polyperf report --by {}</code> lists them all.",
            rows.len(),
            periods.len(),
            by_name(by)
        ));
    }
    out.push('\n');
    out.push_str(&total_line(&periods));
    Ok(truncate_html(&out, MAX_CHARS))
}

fn by_name(by: By) -> &'static str {
    match by {
        By::Day => "day",
        By::Week => "week",
        By::Month => "month",
    }
}

/// One table row: `2026-02-11     12   7 / 5     +4.62   +3.1%`.
fn row(p: &Period, width: usize) -> String {
    format!(
        "{:<width$} {:>6} {:>9} {:>10} {:>7}",
        p.period,
        count(p.trades),
        format!("{} / {}", count(p.wins), count(p.losses)),
        money(p.profit),
        roi(p.roi)
    )
}

/// A return on stake as a signed percent with one decimal, `n/a` without stake (display only:
/// the money itself stays exact).
fn roi(fraction: Option<f64>) -> String {
    match fraction {
        Some(f) if f.is_finite() => format!("{:+.1}%", (f * 100.0).clamp(-1e9, 1e9)),
        _ => "n/a".into(),
    }
}

/// `Total: 84 trades, 47 W / 37 L, +23.40 USDC, ROI +3.1%`.
fn total_line(periods: &[Period]) -> String {
    let (mut trades, mut wins, mut losses) = (0u64, 0u64, 0u64);
    let (mut profit, mut staked) = (Decimal::ZERO, Decimal::ZERO);
    for p in periods {
        trades = trades.saturating_add(p.trades);
        wins = wins.saturating_add(p.wins);
        losses = losses.saturating_add(p.losses);
        profit = profit.checked_add(p.profit).unwrap_or(profit);
        staked = staked.checked_add(p.staked).unwrap_or(staked);
    }
    let roi_text = if staked.is_zero() {
        String::new()
    } else {
        let fraction = profit
            .checked_div(staked)
            .and_then(|r| r.to_string().parse::<f64>().ok());
        format!(", ROI {}", roi(fraction))
    };
    format!(
        "Total: {} {}, {} W / {} L, {} USDC{roi_text}",
        count(trades),
        if trades == 1 { "trade" } else { "trades" },
        count(wins),
        count(losses),
        money(profit)
    )
}

/// `/status`'s line for the UTC day `status::collect` read: `Today: 12 trades, 7 W / 5 L, +4.62 USDC`.
pub fn today_line(today: Option<&metrics::Period>) -> String {
    let Some(p) = today else {
        return "Today: no settled trades".into();
    };
    if p.trades == 0 {
        return format!("Today ({}): no settled trades yet", p.period);
    }
    format!(
        "Today ({}): {} {}, {} W / {} L, {} USDC on {} USDC staked",
        p.period,
        count(p.trades),
        if p.trades == 1 { "trade" } else { "trades" },
        count(p.wins),
        count(p.losses),
        money(p.profit),
        plain_money(p.staked)
    )
}

/// `/report [days]`'s answer: the equity chart and the summary as an HTML caption within
/// Telegram's 1,024 characters.
pub struct Photo {
    pub png: Vec<u8>,
    pub caption: String,
}

/// The equity chart (with its drawdown panel) of the last `days` (all time without) and the
/// summary of the same figures.
pub fn report_photo(conn: &Connection, days: Option<u32>, now: DateTime<Utc>) -> Result<Photo> {
    let window = match days {
        Some(n) => Window::Days(n),
        None => Window::All,
    };
    let m = metrics::compute(conn, &window, now)?;
    let png = crate::report::chart::equity_png(&m)?;
    Ok(Photo {
        png,
        caption: caption(&crate::report::summary_from(&m)),
    }
    .checked())
}

/// A plain-text summary as a caption: escaped, cut on a line break to fit 1,024 characters.
pub fn caption(summary: &str) -> String {
    let mut out = String::new();
    for line in summary.lines() {
        let next = esc(line);
        let len = super::html::visible_len(&out) + line.chars().count() + 1;
        if len > MAX_CAPTION_CHARS {
            break;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&next);
    }
    if out.is_empty() {
        truncate_html(&esc(summary), MAX_CAPTION_CHARS)
    } else {
        out
    }
}

impl Photo {
    /// Whatever the summary held, the caption stays within Telegram's limit.
    fn checked(self) -> Photo {
        Photo {
            caption: truncate_html(&self.caption, MAX_CAPTION_CHARS),
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caption_is_cut_on_a_line_within_the_limit() {
        let long: String = (0..100)
            .map(|i| format!("line {i} <with> & markup"))
            .collect::<Vec<_>>()
            .join("\n");
        let text = caption(&long);
        assert!(super::super::html::visible_len(&text) <= MAX_CAPTION_CHARS);
        assert!(
            text.starts_with("line 0 &lt;with&gt; &amp; markup\nline 1"),
            "{text}"
        );
        assert!(text.ends_with("markup"), "{text}");
        let one_line = "x".repeat(5000);
        assert!(super::super::html::visible_len(&caption(&one_line)) <= MAX_CAPTION_CHARS);
    }

    #[test]
    fn roi_reads_as_a_signed_percent() {
        assert_eq!(roi(Some(0.031)), "+3.1%");
        assert_eq!(roi(Some(-0.5)), "-50.0%");
        assert_eq!(roi(None), "n/a");
        assert_eq!(roi(Some(f64::NAN)), "n/a");
    }
}
