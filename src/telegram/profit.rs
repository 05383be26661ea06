//! `/profit [days]` and `/trades [n]`, as a Freqtrade user knows them: the P&L of all time (or
//! the last N UTC days) with today's and the week's beside it, trades, win rate, fees, the
//! best and worst trade; and the last settled trades, one phone-width line each with ✅ / ❌.
//! Read-only; `now` is passed in.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::html::esc;
use super::table::{self, Row};
use super::views::{roi, utc_days};
use super::words::side;
use crate::metrics::{self, Metrics, Window};
use crate::trades::recent::{self, SettledTrade};
use crate::words::{count, money, pct, plain_money, price, when};

/// `/profit [days]`.
pub fn profit_reply(conn: &Connection, days: Option<u32>, now: DateTime<Utc>) -> Result<String> {
    let window = utc_days(days);
    let m = metrics::compute(conn, &window, now)?;
    let mut out = format!("<b>Profit, {}</b>", esc(&m.window.label));
    if m.settled == 0 {
        out.push_str("\nNo settled trades in this window.");
        if m.pending > 0 {
            out.push_str(&format!(" {} pending settlement.", count(m.pending)));
        }
        return Ok(out);
    }
    out.push_str(&format!(
        "\n{} P&amp;L: <b>{} USDC</b> · ROI {} on {} USDC staked",
        table::mark_of(m.total_profit).unwrap_or("➖"),
        money(m.total_profit),
        roi(m.roi),
        plain_money(m.staked)
    ));
    out.push_str(&format!(
        "\nTrades: {} settled, {} W / {} L · win rate {} (break-even {})",
        count(m.settled),
        count(m.wins),
        count(m.losses),
        pct(m.win_rate),
        pct(m.break_even)
    ));
    out.push_str(&format!("\nFees: {} USDC", plain_money(m.fees)));
    if let Some((best, worst)) = recent::best_and_worst(conn, window.bounds(now))? {
        let live = if m.coverage.per_row_complete {
            ""
        } else {
            " (of the rows not archived)"
        };
        out.push_str(&format!("\nBest{live}: {}", trade_words(&best, now)));
        out.push_str(&format!("\nWorst{live}: {}", trade_words(&worst, now)));
    }
    out.push_str(&extras(&m));
    if days.is_none() {
        for recent in [Window::UtcDays(1), Window::UtcDays(7)] {
            let r = metrics::compute(conn, &recent, now)?;
            out.push_str(&format!(
                "\n{}: {} USDC, {} {}",
                capitalised(&r.window.label),
                money(r.total_profit),
                count(r.settled),
                if r.settled == 1 { "trade" } else { "trades" }
            ));
        }
    }
    Ok(out)
}

/// Profit factor and drawdown where every row is there to compute them.
fn extras(m: &Metrics) -> String {
    let mut parts = Vec::new();
    if let Some(factor) = m.profit_factor.filter(|f| f.is_finite()) {
        parts.push(format!("profit factor {factor:.2}"));
    }
    if let Some(drawdown) = m.max_drawdown {
        parts.push(format!("max drawdown {} USDC", plain_money(drawdown)));
    }
    match parts.is_empty() {
        true => String::new(),
        false => format!("\n{}", capitalised(&parts.join(" · "))),
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `+9.23 USDC · Up · 2026-02-11 10:15 UTC`.
fn trade_words(t: &SettledTrade, now: DateTime<Utc>) -> String {
    let when = t
        .window_start
        .map(|w| when(w, now))
        .unwrap_or_else(|| "window unknown".into());
    format!("{} USDC · {} · {when}", money(t.profit), side(t.action))
}

/// `/trades [n]`: the last `n` settled trades, newest first, one row each.
pub fn trades_reply(conn: &Connection, n: u32, now: DateTime<Utc>) -> Result<String> {
    let trades = recent::last_settled(conn, n)?;
    if trades.is_empty() {
        return Ok("No settled trades yet.".into());
    }
    let rows: Vec<Row> = trades.iter().map(|t| trade_row(t, now)).collect();
    let lines = table::lines(&["Window", "Side", "Price", "P&L"], &rows, &[2]);
    let (wins, profit) = trades
        .iter()
        .fold((0u64, rust_decimal::Decimal::ZERO), |(w, p), t| {
            (w + u64::from(t.won), p.saturating_add(t.profit))
        });
    Ok(format!(
        "<b>Last {} settled {}</b> (newest first, UTC)\n<pre>{}</pre>\n{} W / {} L, {} USDC",
        count(trades.len() as u64),
        if trades.len() == 1 { "trade" } else { "trades" },
        esc(&lines.join("\n")),
        count(wins),
        count(trades.len() as u64 - wins),
        money(profit)
    ))
}

/// `02-11 10:15  Up 0.52 +4.62 ✅`: the market's window start, the side, the price paid, the
/// P&L and whether it won.
fn trade_row(t: &SettledTrade, now: DateTime<Utc>) -> Row {
    let when = match t.window_start {
        Some(w) if w.date_naive() == now.date_naive() => w.format("%H:%M").to_string(),
        Some(w) => w.format("%m-%d %H:%M").to_string(),
        None => "?".into(),
    };
    Row {
        cells: vec![
            when,
            side(t.action).to_string(),
            t.price.map(price).unwrap_or_default(),
            money(t.profit),
        ],
        mark: Some(if t.won { table::GOOD } else { table::BAD }),
    }
}
