//! `polyperf report`: renders [`crate::metrics::Metrics`] for people: the terminal table, the
//! short plain-text summary Telegram's /report sends, the charts (`report/chart.rs`, PNG or
//! SVG) and one self-contained HTML page (`report/html.rs`). Computes nothing itself and never
//! writes to the database. Money is shown with 2 decimals and its unit (USDC); exact values
//! stay in `--json`. A figure that cannot be computed shows "n/a", never 0.00.

use std::fmt::Write as _;

use anyhow::Result;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::error::bad_input;
use crate::metrics::{self, Group, Metrics, Period, Window};
use crate::words::{amount, ci, count, money, pct, plain_money, signed_pct, usdc, NA};

pub mod chart;
mod chart_rows;
pub mod html;
mod pen;

pub use html::{escape, html_page, Extras, Section};

/// What the terminal and the summary print when nothing settled.
pub const EMPTY_MESSAGE: &str = "no settled trades in this window";

fn or_na<T>(x: Option<T>, show: impl Fn(T) -> String) -> String {
    x.map(show).unwrap_or_else(|| NA.into())
}

/// The Brier score with its coin-flip reference: "0.2312 (coin flip 0.25; lower is better)".
pub fn brier_text(m: &Metrics) -> String {
    match m.brier {
        Some(b) => format!(
            "{b:.4} (coin flip {:.2}; lower is better)",
            m.brier_coin_flip
        ),
        None => NA.into(),
    }
}

/// Which rows the per-trade figures (drawdown, streaks, profit factor, Brier, calibration, by
/// hour, by price, break-even) cover, and why they are n/a when they are.
pub fn per_row_note(m: &Metrics) -> Option<String> {
    let c = &m.coverage;
    if !c.per_row_complete {
        let days = c
            .rollup_days
            .as_ref()
            .map(|[a, b]| format!(" (days {a} to {b})"))
            .unwrap_or_default();
        let hint = c
            .rollup_days
            .as_ref()
            .and_then(|[_, last]| chrono::NaiveDate::parse_from_str(last, "%Y-%m-%d").ok())
            .and_then(|d| d.succ_opt())
            .map(|d| format!("; `--since {d}T00:00:00Z` covers live rows only"))
            .unwrap_or_default();
        return Some(format!(
            "{} archived decisions{days} are in this window, some archived before the rollup kept each figure's details: drawdown, streaks, profit factor, Brier and calibration need every row and are n/a{hint}; by hour and by price use the rows with details, and break-even is n/a for groups holding the others{}",
            c.rollup_decisions,
            c.live_rows
                .as_ref()
                .map(|[a, b]| format!(" ({a} to {b} UTC)"))
                .unwrap_or_default()
        ));
    }
    let archived = c.rollup_days.as_ref().map(|[a, b]| {
        format!(
            "{} archived decisions (days {a} to {b}, from the rollup)",
            count(c.rollup_decisions)
        )
    });
    let live = c
        .live_rows
        .as_ref()
        .map(|[a, b]| format!("the live rows ({a} to {b} UTC)"));
    let order = match c.out_of_order {
        0 => String::new(),
        n => format!(
            "; {} positions fall inside an archived part's time span (settled after their \
             neighbours were archived): drawdown, streaks and the curve are approximate near them",
            count(n)
        ),
    };
    match (archived, live) {
        (Some(archived), Some(live)) => Some(format!(
            "every figure covers the whole window: {archived} and {live}{order}"
        )),
        (Some(only), None) | (None, Some(only)) => Some(format!(
            "every figure covers the whole window: {only}{order}"
        )),
        (None, None) => None,
    }
}

fn paint(s: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

/// Colour by sign (green up, red down), applied after padding so columns stay aligned.
fn signed(padded: String, negative: bool, positive: bool, color: bool) -> String {
    if negative {
        paint(&padded, "31", color)
    } else if positive {
        paint(&padded, "32", color)
    } else {
        padded
    }
}

/// An aligned table: first column left, the others right; `signs` says which columns are
/// coloured by the sign of which value.
struct Table<'a> {
    title: &'a str,
    headers: &'a [&'a str],
    rows: Vec<(String, Vec<String>, Option<Decimal>)>,
    /// Columns coloured by the row's sign value.
    signed_columns: &'a [usize],
}

impl Table<'_> {
    fn render(&self, out: &mut String, color: bool) {
        if self.rows.is_empty() {
            return;
        }
        let key_width = self
            .rows
            .iter()
            .map(|(k, _, _)| k.chars().count())
            .chain([self.title.chars().count()])
            .max()
            .unwrap_or(0);
        let widths: Vec<usize> = (0..self.headers.len())
            .map(|i| {
                self.rows
                    .iter()
                    .map(|(_, c, _)| c.get(i).map_or(0, |s| s.chars().count()))
                    .chain([self.headers[i].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut line = format!("{:<key_width$}", self.title);
        for (h, w) in self.headers.iter().zip(&widths) {
            let _ = write!(line, "  {h:>w$}");
        }
        let _ = writeln!(out, "{}", paint(&line, "1", color));
        for (key, cells, sign) in &self.rows {
            let _ = write!(out, "{key:<key_width$}");
            for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
                let padded = format!("{cell:>w$}");
                let coloured = match sign {
                    Some(s) if self.signed_columns.contains(&i) => {
                        signed(padded, *s < Decimal::ZERO, *s > Decimal::ZERO, color)
                    }
                    _ => padded,
                };
                let _ = write!(out, "  {coloured}");
            }
            out.push('\n');
        }
        out.push('\n');
    }
}

const GROUP_HEADERS: [&str; 11] = [
    "trades",
    "W",
    "L",
    "win%",
    "95% CI",
    "break-even",
    "P&L USDC",
    "avg USDC",
    "ROI",
    "holds",
    "missed",
];

fn group_table<'a>(title: &'a str, map: &std::collections::BTreeMap<String, Group>) -> Table<'a> {
    let rows = map
        .iter()
        .map(|(k, g)| {
            let cells = vec![
                g.settled.to_string(),
                g.wins.to_string(),
                g.losses.to_string(),
                pct(g.win_rate),
                ci(g.win_rate_ci),
                pct(g.break_even),
                money(g.total_profit),
                or_na(g.avg_profit, money),
                signed_pct(g.roi),
                g.holds.to_string(),
                g.missed.to_string(),
            ];
            (k.clone(), cells, Some(g.total_profit))
        })
        .collect();
    Table {
        title,
        headers: &GROUP_HEADERS,
        rows,
        signed_columns: &[6, 7, 8],
    }
}

const PERIOD_HEADERS: [&str; 7] = ["trades", "W", "L", "win%", "P&L USDC", "fees USDC", "ROI"];

/// The periods of `report --by` (or Telegram's /daily), newest first, as an aligned table.
pub fn periods_table(title: &str, periods: &[Period], color: bool) -> String {
    let rows = periods
        .iter()
        .map(|p| {
            let cells = vec![
                p.trades.to_string(),
                p.wins.to_string(),
                p.losses.to_string(),
                pct(p.win_rate),
                money(p.profit),
                plain_money(p.fees),
                signed_pct(p.roi),
            ];
            (p.period.clone(), cells, Some(p.profit))
        })
        .collect();
    let mut out = String::new();
    Table {
        title,
        headers: &PERIOD_HEADERS,
        rows,
        signed_columns: &[4, 6],
    }
    .render(&mut out, color);
    out
}

/// The fees with the asset they were charged in, when known: "0.70 USDC (in shares 0.35, in
/// collateral 0.35)". Rows settled before the CLOB V2 cut-over paid in shares, since then in
/// collateral on top of the stake.
fn fees_text(m: &Metrics) -> String {
    let parts: Vec<String> = m
        .fees_by_asset
        .iter()
        .flat_map(|split| [("shares", split.shares), ("collateral", split.collateral)])
        .filter(|(_, fee)| !fee.is_zero())
        .map(|(asset, fee)| format!("in {asset} {}", plain_money(fee)))
        .collect();
    if parts.is_empty() {
        amount(m.fees)
    } else {
        format!("{} ({})", amount(m.fees), parts.join(", "))
    }
}

/// `, 2 resolved 50-50` when positions were (neither wins nor losses, in the money figures).
fn fifty_fifty(m: &Metrics) -> String {
    if m.fifty_fifty == 0 {
        return String::new();
    }
    format!(", {} resolved 50-50", m.fifty_fifty)
}

/// The headline figures as (label, text) lines, shared by the terminal and the HTML page.
pub fn headline(m: &Metrics) -> Vec<(&'static str, String)> {
    vec![
        (
            "trades",
            format!(
                "{} ({} settled{}, {} pending), {} holds",
                m.trades,
                m.settled,
                fifty_fifty(m),
                m.pending,
                m.holds
            ),
        ),
        (
            "win rate",
            format!(
                "{} (95% CI {}), {} W / {} L; break-even {} (fees included)",
                pct(m.win_rate),
                ci(m.win_rate_ci),
                m.wins,
                m.losses,
                pct(m.break_even)
            ),
        ),
        ("P&L", usdc(m.total_profit)),
        (
            "average",
            or_na(m.avg_profit, |a| format!("{} per trade", usdc(a))),
        ),
        ("fees", fees_text(m)),
        ("staked", amount(m.staked)),
        ("ROI", signed_pct(m.roi)),
        (
            "profit factor",
            or_na(m.profit_factor, |p| format!("{p:.2}")),
        ),
        ("max drawdown", or_na(m.max_drawdown, amount)),
        (
            "losing streak",
            match (m.current_losing_streak, m.longest_losing_streak) {
                (Some(now), Some(longest)) => format!("{now} now, {longest} longest"),
                _ => NA.into(),
            },
        ),
        ("Brier score", brier_text(m)),
        (
            "missed",
            format!(
                "{} HOLDs whose favoured side won; 1 USDC on each priced one would have made {}",
                m.missed_opportunities.count,
                usdc(m.missed_opportunities.profit_per_dollar)
            ),
        ),
    ]
}

/// The terminal form: headline figures, the periods (`--by`), then one table per breakdown.
pub fn render_table(m: &Metrics, color: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        paint(
            &format!(
                "polyperf report: {}  (now {} UTC)",
                m.window.label, m.window.now
            ),
            "1",
            color
        )
    );
    if m.settled == 0 && m.holds == 0 && m.fifty_fifty == 0 {
        let _ = writeln!(out, "{EMPTY_MESSAGE}");
        if m.pending > 0 {
            let _ = writeln!(out, "({} trades still pending settlement)", m.pending);
        }
        return out;
    }
    for (k, v) in headline(m) {
        let v = match k {
            "P&L" => signed(
                v,
                m.total_profit < Decimal::ZERO,
                m.total_profit > Decimal::ZERO,
                color,
            ),
            _ => v,
        };
        let _ = writeln!(out, "  {k:<14} {v}");
    }
    if let Some(note) = per_row_note(m) {
        let _ = writeln!(out, "  {:<14} {note}", "note");
    }
    out.push('\n');
    if let Some(periods) = &m.periods {
        out.push_str(&periods_table("period (UTC)", periods, color));
    }
    group_table("by signal", &m.by_signal).render(&mut out, color);
    group_table("by action", &m.by_action).render(&mut out, color);
    group_table("by end phase", &m.by_end_phase).render(&mut out, color);
    group_table("by price paid", &m.by_price).render(&mut out, color);
    group_table("by hour (UTC)", &m.by_hour).render(&mut out, color);
    let _ = writeln!(
        out,
        "{}",
        paint(
            "calibration     trades  win%    95% CI       mean confidence",
            "1",
            color
        )
    );
    match &m.calibration {
        Some(buckets) => {
            for b in buckets {
                let _ = writeln!(
                    out,
                    "  {:.1}-{:.1}       {:>6}  {:>6}  {:>12}  {}",
                    b.low,
                    b.high,
                    b.trades,
                    pct(b.win_rate),
                    ci(b.win_rate_ci),
                    pct(b.mean_confidence)
                );
            }
        }
        None => {
            let _ = writeln!(out, "  {NA} (decisions in this window were archived)");
        }
    }
    out
}

/// A short plain-text summary (Telegram's /report, notifications) of the last `days` UTC days
/// (all time without): no HTML, at most ~1500 characters.
pub fn summary_text(
    conn: &rusqlite::Connection,
    days: Option<u32>,
    now: DateTime<Utc>,
) -> Result<String> {
    let window = match days {
        Some(n) => Window::UtcDays(crate::time::check_days(n, 1).map_err(bad_input)?),
        None => Window::All,
    };
    let m = metrics::compute(conn, &window, now)?;
    Ok(summary_from(&m))
}

/// [`summary_text`] from figures already computed.
pub fn summary_from(m: &Metrics) -> String {
    let mut out = format!("Performance, {}\n", m.window.label);
    if m.settled == 0 && m.holds == 0 && m.fifty_fifty == 0 {
        out.push_str(EMPTY_MESSAGE);
        if m.pending > 0 {
            let _ = write!(out, " ({} pending)", m.pending);
        }
        return out;
    }
    let _ = writeln!(
        out,
        "Trades: {} settled ({} W / {} L){}, {} pending, {} holds",
        m.settled,
        m.wins,
        m.losses,
        fifty_fifty(m),
        m.pending,
        m.holds
    );
    let _ = writeln!(
        out,
        "Win rate: {} (95% CI {}), break-even {}",
        pct(m.win_rate),
        ci(m.win_rate_ci),
        pct(m.break_even)
    );
    let _ = writeln!(
        out,
        "P&L: {}, fees {}, ROI {}",
        usdc(m.total_profit),
        fees_text(m),
        signed_pct(m.roi)
    );
    let _ = writeln!(
        out,
        "Profit factor {}, max drawdown {}",
        or_na(m.profit_factor, |p| format!("{p:.2}")),
        or_na(m.max_drawdown, amount)
    );
    if let (Some(now), Some(longest)) = (m.current_losing_streak, m.longest_losing_streak) {
        let _ = writeln!(out, "Losing streak: {now} now, {longest} longest");
    }
    if m.brier.is_some() {
        let _ = writeln!(out, "Brier score: {}", brier_text(m));
    }
    let mut signals: Vec<_> = m.by_signal.iter().filter(|(_, g)| g.settled > 0).collect();
    signals.sort_by_key(|(_, g)| std::cmp::Reverse(g.total_profit));
    if !signals.is_empty() {
        out.push_str("By signal:\n");
        for (name, g) in signals.iter().take(8) {
            let _ = writeln!(
                out,
                "  {name}: {} trades, {} won, {}",
                g.settled,
                pct(g.win_rate),
                usdc(g.total_profit)
            );
        }
    }
    let _ = write!(
        out,
        "Missed opportunities: {}",
        m.missed_opportunities.count
    );
    if out.chars().count() > 1500 {
        out = out.chars().take(1497).collect::<String>() + "...";
    }
    out
}
