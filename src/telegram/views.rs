//! Replies that show figures: `/daily`, `/weekly`, `/monthly` as a phone-width table (Freqtrade
//! style: period, trades, profit, ROI, ✅ / ❌), `/status` with today's P&L and the health
//! verdict, `/params`, and `/report` as the equity chart (a PNG for `sendPhoto`) with the
//! summary as its caption. Read-only; `now` is passed in. Day counts are UTC days.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use rust_decimal::Decimal;

use super::api::MAX_CAPTION_CHARS;
use super::html::{esc, esc_short, truncate_html, MAX_CHARS, MAX_FIELD_CHARS};
use super::table::{self, Row};
use crate::config::Settings;
use crate::metrics::{self, By, Period, Window};
use crate::words::{count, money, plain_money};

/// Room kept for the title and the totals line under a table.
const TABLE_BUDGET: usize = MAX_CHARS - 400;

/// `/daily [n]` (and `/weekly`, `/monthly`): the last `n` periods, newest first, none before
/// the first trade, with their total; only the newest rows when all would not fit a message.
pub fn periods_reply(conn: &Connection, by: By, n: u32, now: DateTime<Utc>) -> Result<String> {
    let Some(first) = metrics::first_trade_day(conn)? else {
        return Ok("No settled trades yet.".into());
    };
    let first = by.name(first);
    let asked = metrics::periods(conn, by, n, now)?;
    let periods: Vec<Period> = asked
        .iter()
        .take_while(|p| p.period >= first)
        .cloned()
        .collect();
    let (noun, head) = match by {
        By::Day => ("day", "Day"),
        By::Week => ("week", "Week"),
        By::Month => ("month", "Month"),
    };
    let rows: Vec<Row> = periods.iter().map(period_row).collect();
    let mut lines = table::lines(&[head, "#", "Profit", "ROI"], &rows, &[3]);
    let mut used = 0;
    let fit = lines
        .iter()
        .take_while(|l| {
            used += l.chars().count() + 1;
            used <= TABLE_BUDGET
        })
        .count();
    lines.truncate(fit);
    let listed = lines.len().saturating_sub(1);
    let since = if periods.len() < asked.len() {
        ", since the first trade"
    } else {
        ""
    };
    let mut out = format!(
        "<b>P&amp;L per {noun} (UTC), last {}{since}</b>\n<pre>{}</pre>",
        count(periods.len() as u64),
        esc(&lines.join("\n"))
    );
    if listed < periods.len() {
        out.push_str(&format!(
            "\nThe newest {} of {} fit here; <code>polyperf report --by {}</code> lists them all.",
            listed,
            periods.len(),
            by.as_str()
        ));
    }
    out.push('\n');
    out.push_str(&total_line(&periods));
    Ok(truncate_html(&out, MAX_CHARS))
}

/// One table row: `2026-02-11  3  +3.00 +20.0% ✅`.
fn period_row(p: &Period) -> Row {
    Row {
        cells: vec![
            p.period.clone(),
            count(p.trades),
            money(p.profit),
            roi(p.roi),
        ],
        mark: table::mark_of(p.profit),
    }
}

/// A return on stake as a signed percent with one decimal, `n/a` without stake (display only:
/// the money itself stays exact).
pub fn roi(fraction: Option<f64>) -> String {
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

/// `/status`: the pause switch, today's P&L (the figures `status` already read), the health
/// verdict, the queues.
pub fn status_reply(conn: &Connection, settings: &Settings, now: DateTime<Utc>) -> Result<String> {
    let s = crate::status::collect(conn, settings, now)?;
    let trading = if s.trading_paused {
        let reason = s.control.reason.as_deref().unwrap_or("");
        format!("PAUSED ({})", esc_short(reason, 200))
    } else {
        "active".into()
    };
    let health = match s.health.healthy {
        true => format!("{} ok to trade", table::GOOD),
        false => format!("{} not healthy: /health says why", table::BAD),
    };
    Ok(format!(
        "<b>Status</b>\ntrading: {trading}\n{}\nhealth: {health}\ndecisions: {} ({} pending settlement, {} due)\napprovals awaiting: {}\noutbox: {} pending, {} failed",
        esc(&today_line(s.today.as_ref())),
        s.trades.total,
        s.trades.pending,
        s.trades.due,
        s.pending_approvals,
        s.outbox.pending,
        s.outbox.failed
    ))
}

/// `/params`: every parameter with its bounds; one edited by hand into what no reader may use
/// is named with its fix, and the rest are still listed.
pub fn params_reply(conn: &Connection) -> Result<String> {
    let mut out = String::from("<b>Parameters</b>");
    for p in crate::params::read_all(conn)? {
        out.push_str(&match p {
            Ok(p) => format!(
                "\n<code>{}</code> = {} [{}, {}]",
                esc_short(&p.name, 64),
                p.value,
                p.min,
                p.max
            ),
            Err(bad) => format!("\n{}", esc_short(&bad.to_string(), MAX_FIELD_CHARS)),
        });
    }
    Ok(out)
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

/// A command's day count as a window: the last `days` UTC days (today and the ones before, as
/// `/daily` counts), all time without one.
pub fn utc_days(days: Option<u32>) -> Window {
    days.map_or(Window::All, Window::UtcDays)
}

/// `/report [days]`'s answer: the equity chart and the summary as an HTML caption within
/// Telegram's 1,024 characters.
pub struct Photo {
    pub png: Vec<u8>,
    pub caption: String,
}

/// The equity chart (with its drawdown panel) of the last `days` UTC days (all time without)
/// and the summary of the same figures.
pub fn report_photo(conn: &Connection, days: Option<u32>, now: DateTime<Utc>) -> Result<Photo> {
    let window = utc_days(days);
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
