//! `polyperf report`: renders [`crate::metrics::Metrics`] as a terminal table, JSON, a
//! hand-written SVG chart and one self-contained HTML page; and the short plain-text summary
//! Telegram's /report sends. Computes nothing itself and never writes to the database.

use std::fmt::Write as _;

use anyhow::Result;
use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::error::bad_input;
use crate::metrics::{self, Group, LatestInsights, Metrics, Window};

/// What the terminal and the summary print when nothing settled.
pub const EMPTY_MESSAGE: &str = "no settled trades in this window";

// ---------------------------------------------------------------- formatting helpers

fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.1}%", v * 100.0))
        .unwrap_or_else(|| "-".into())
}

fn ci(x: Option<[f64; 2]>) -> String {
    x.map(|[l, h]| format!("{:.1}-{:.1}%", l * 100.0, h * 100.0))
        .unwrap_or_else(|| "-".into())
}

/// Money with two places and an explicit sign.
fn money(d: Decimal) -> String {
    let r = d.round_dp(2);
    if r > Decimal::ZERO {
        format!("+{r:.2}")
    } else {
        format!("{r:.2}")
    }
}

fn signed_pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:+.1}%", v * 100.0))
        .unwrap_or_else(|| "-".into())
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

/// An aligned table: first column left, the others right.
fn table(out: &mut String, title: &str, rows: &[(String, &Group)], color: bool) {
    if rows.is_empty() {
        return;
    }
    let headers = [
        "trades", "W", "L", "win%", "95% CI", "P&L", "avg", "ROI", "holds", "missed",
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|(_, g)| {
            vec![
                g.settled.to_string(),
                g.wins.to_string(),
                g.losses.to_string(),
                pct(g.win_rate),
                ci(g.win_rate_ci),
                money(g.total_profit),
                g.avg_profit.map(money).unwrap_or_else(|| "-".into()),
                signed_pct(g.roi),
                g.holds.to_string(),
                g.missed.to_string(),
            ]
        })
        .collect();
    let key_width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .chain([title.len()])
        .max()
        .unwrap_or(0);
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| {
            cells
                .iter()
                .map(|c| c[i].chars().count())
                .chain([headers[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut line = format!("{title:<key_width$}");
    for (h, w) in headers.iter().zip(&widths) {
        let _ = write!(line, "  {h:>w$}");
    }
    let _ = writeln!(out, "{}", paint(&line, "1", color));
    for ((key, g), row) in rows.iter().zip(&cells) {
        let _ = write!(out, "{key:<key_width$}");
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            let padded = format!("{cell:>w$}");
            let coloured = match i {
                5 | 6 => signed(
                    padded,
                    g.total_profit < Decimal::ZERO,
                    g.total_profit > Decimal::ZERO,
                    color,
                ),
                7 => signed(
                    padded,
                    g.roi.is_some_and(|r| r < 0.0),
                    g.roi.is_some_and(|r| r > 0.0),
                    color,
                ),
                _ => padded,
            };
            let _ = write!(out, "  {coloured}");
        }
        out.push('\n');
    }
    out.push('\n');
}

/// The fees with the asset they were charged in, when any: "0.70 (in shares 0.35, in
/// collateral 0.35)". Rows settled before the CLOB V2 cut-over paid in shares, since then in
/// collateral on top of the stake.
fn fees_text(m: &Metrics) -> String {
    let split = &m.fees_by_asset;
    let parts: Vec<String> = [("shares", split.shares), ("collateral", split.collateral)]
        .iter()
        .filter(|(_, fee)| !fee.is_zero())
        .map(|(asset, fee)| format!("in {asset} {:.2}", fee.round_dp(2)))
        .collect();
    if parts.is_empty() {
        format!("{:.2}", m.fees.round_dp(2))
    } else {
        format!("{:.2} ({})", m.fees.round_dp(2), parts.join(", "))
    }
}

/// The terminal form: headline figures, then one table per breakdown.
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
    if m.settled == 0 && m.holds == 0 {
        let _ = writeln!(out, "{EMPTY_MESSAGE}");
        if m.pending > 0 {
            let _ = writeln!(out, "({} trades still pending settlement)", m.pending);
        }
        return out;
    }
    let rows: Vec<(&str, String)> = vec![
        (
            "trades",
            format!(
                "{} ({} settled, {} pending), {} holds",
                m.trades, m.settled, m.pending, m.holds
            ),
        ),
        (
            "win rate",
            format!(
                "{}  (95% CI {})  {} W / {} L",
                pct(m.win_rate),
                ci(m.win_rate_ci),
                m.wins,
                m.losses
            ),
        ),
        (
            "P&L",
            format!(
                "{}  avg {}  fees {}  staked {:.2}  ROI {}",
                signed(
                    money(m.total_profit),
                    m.total_profit < Decimal::ZERO,
                    m.total_profit > Decimal::ZERO,
                    color
                ),
                m.avg_profit.map(money).unwrap_or_else(|| "-".into()),
                fees_text(m),
                m.staked.round_dp(2),
                signed_pct(m.roi)
            ),
        ),
        (
            "risk",
            format!(
                "profit factor {}  max drawdown {:.2}  losing streak {} (longest {})",
                m.profit_factor
                    .map(|p| format!("{p:.2}"))
                    .unwrap_or_else(|| "-".into()),
                m.max_drawdown.round_dp(2),
                m.current_losing_streak,
                m.longest_losing_streak
            ),
        ),
        (
            "calibration",
            format!(
                "Brier {}",
                m.brier
                    .map(|b| format!("{b:.4}"))
                    .unwrap_or_else(|| "-".into())
            ),
        ),
        (
            "missed",
            format!(
                "{} HOLDs whose favoured side won; $1 on each priced one would have made {:+.2}",
                m.missed_opportunities.count, m.missed_opportunities.profit_per_dollar
            ),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(out, "  {k:<12} {v}");
    }
    if m.coverage.rollup_decisions > 0 {
        let _ = writeln!(
            out,
            "  {:<12} {} archived decisions from daily_rollup (per-trade figures use live rows only)",
            "archived", m.coverage.rollup_decisions
        );
    }
    out.push('\n');
    table(&mut out, "by signal", &section(&m.by_signal), color);
    table(&mut out, "by action", &section(&m.by_action), color);
    table(&mut out, "by end phase", &section(&m.by_end_phase), color);
    table(&mut out, "by hour (UTC)", &section(&m.by_hour), color);
    let _ = writeln!(
        out,
        "{}",
        paint("calibration     trades  win%  mean confidence", "1", color)
    );
    for b in &m.calibration {
        let _ = writeln!(
            out,
            "  {:.1}-{:.1}       {:>6}  {:>5}  {}",
            b.low,
            b.high,
            b.trades,
            pct(b.win_rate),
            b.mean_confidence
                .map(|c| format!("{:.1}%", c * 100.0))
                .unwrap_or_else(|| "-".into())
        );
    }
    out
}

fn section(map: &std::collections::BTreeMap<String, Group>) -> Vec<(String, &Group)> {
    map.iter().map(|(k, g)| (k.clone(), g)).collect()
}

/// A short plain-text summary (Telegram's /report, notifications): no HTML, at most ~1500
/// characters.
pub fn summary_text(
    conn: &rusqlite::Connection,
    days: Option<u32>,
    now: DateTime<Utc>,
) -> Result<String> {
    let window = match days {
        Some(n) => Window::Days(crate::time::check_days(n, 1).map_err(bad_input)?),
        None => Window::All,
    };
    let m = metrics::compute(conn, &window, now)?;
    Ok(summary_from(&m))
}

/// [`summary_text`] from figures already computed.
pub fn summary_from(m: &Metrics) -> String {
    let mut out = format!("Performance, {}\n", m.window.label);
    if m.settled == 0 && m.holds == 0 {
        out.push_str(EMPTY_MESSAGE);
        if m.pending > 0 {
            let _ = write!(out, " ({} pending)", m.pending);
        }
        return out;
    }
    let _ = writeln!(
        out,
        "Trades: {} settled ({}W/{}L), {} pending, {} holds",
        m.settled, m.wins, m.losses, m.pending, m.holds
    );
    let _ = writeln!(
        out,
        "Win rate: {} (95% CI {})",
        pct(m.win_rate),
        ci(m.win_rate_ci)
    );
    let _ = writeln!(
        out,
        "P&L: {} USDC, fees {}, ROI {}",
        money(m.total_profit),
        fees_text(m),
        signed_pct(m.roi)
    );
    let _ = writeln!(
        out,
        "Profit factor {}, max drawdown {:.2}",
        m.profit_factor
            .map(|p| format!("{p:.2}"))
            .unwrap_or_else(|| "-".into()),
        m.max_drawdown.round_dp(2)
    );
    let _ = writeln!(
        out,
        "Losing streak: {} now, {} longest",
        m.current_losing_streak, m.longest_losing_streak
    );
    if let Some(b) = m.brier {
        let _ = writeln!(out, "Brier score: {b:.3}");
    }
    let mut signals: Vec<_> = m.by_signal.iter().filter(|(_, g)| g.settled > 0).collect();
    signals.sort_by_key(|(_, g)| std::cmp::Reverse(g.total_profit));
    if !signals.is_empty() {
        out.push_str("By signal:\n");
        for (name, g) in signals.iter().take(8) {
            let _ = writeln!(
                out,
                "  {name}: {} trades, {} win, {}",
                g.settled,
                pct(g.win_rate),
                money(g.total_profit)
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

// ---------------------------------------------------------------- SVG and HTML

/// XML/HTML text escaping.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Colour of the equity curve (the screenshot check in tests/html_screenshot.sh looks for it).
pub const EQUITY_COLOR: &str = "#1f77b4";
/// Colour of the win-rate bars.
pub const BAR_COLOR: &str = "#2ca02c";

/// The chart: the equity curve (cumulative P&L of live settled trades) above, win rate by
/// signal below. Hand-written SVG; `standalone` adds the XML declaration for a file.
pub fn chart_svg(m: &Metrics, standalone: bool) -> String {
    const W: f64 = 800.0;
    const H: f64 = 560.0;
    const LEFT: f64 = 70.0;
    const RIGHT: f64 = 20.0;
    let plot_w = W - LEFT - RIGHT;
    let mut s = String::new();
    if standalone {
        s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    }
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(s, "<rect width=\"{W}\" height=\"{H}\" fill=\"#ffffff\"/>");

    // Equity curve: y from min(0, curve) to max(0, curve).
    let (top, bottom) = (40.0, 270.0);
    let _ = writeln!(
        s,
        "<text x=\"{LEFT}\" y=\"24\" font-size=\"15\" font-weight=\"bold\">Equity curve (cumulative P&amp;L, USDC) - {}</text>",
        escape(&m.window.label)
    );
    // At most ~2000 points: enough for 800 px.
    let step = (m.equity.len() / 2000).max(1);
    let points: Vec<f64> = m
        .equity
        .iter()
        .step_by(step)
        .chain(m.equity.last().filter(|_| (m.equity.len() - 1) % step != 0))
        .map(|d| d.to_f64().unwrap_or(0.0))
        .collect();
    let lo = points.iter().cloned().fold(0.0_f64, f64::min);
    let hi = points.iter().cloned().fold(0.0_f64, f64::max);
    let span = if hi - lo > 0.0 { hi - lo } else { 1.0 };
    let y_of = |v: f64| bottom - (v - lo) / span * (bottom - top);
    let _ = writeln!(
        s,
        "<rect x=\"{LEFT}\" y=\"{top}\" width=\"{plot_w}\" height=\"{}\" fill=\"none\" stroke=\"#cccccc\"/>",
        bottom - top
    );
    let zero = y_of(0.0);
    let _ = writeln!(
        s,
        "<line x1=\"{LEFT}\" y1=\"{zero:.1}\" x2=\"{}\" y2=\"{zero:.1}\" stroke=\"#999999\" stroke-dasharray=\"4 3\"/>",
        LEFT + plot_w
    );
    for (v, y) in [(hi, top), (lo, bottom), (0.0, zero)] {
        // Keep the 0 label readable: skip an extreme that sits on top of it.
        if v != 0.0 && (y - zero).abs() < 14.0 {
            continue;
        }
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v:.2}</text>",
            LEFT - 6.0,
            y + 4.0
        );
    }
    if points.is_empty() {
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{EMPTY_MESSAGE}</text>",
            LEFT + plot_w / 2.0,
            (top + bottom) / 2.0
        );
    } else {
        let n = points.len().max(2) as f64 - 1.0;
        let mut path = format!("{LEFT:.1},{zero:.1}");
        for (i, v) in points.iter().enumerate() {
            let x = LEFT + (i as f64 + if points.len() == 1 { 1.0 } else { 0.0 }) / n * plot_w;
            let _ = write!(path, " {x:.1},{:.1}", y_of(*v));
        }
        let _ = writeln!(
            s,
            "<polyline id=\"equity\" fill=\"none\" stroke=\"{EQUITY_COLOR}\" stroke-width=\"3\" points=\"{path}\"/>"
        );
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#666666\">{} settled trades, in time order</text>",
            LEFT + plot_w,
            bottom + 16.0,
            m.equity.len()
        );
    }

    // Win rate by signal: one bar per signal, a line at 50%.
    let (top, bottom) = (330.0, 520.0);
    let _ = writeln!(
        s,
        "<text x=\"{LEFT}\" y=\"{}\" font-size=\"15\" font-weight=\"bold\">Win rate by signal</text>",
        top - 14.0
    );
    let _ = writeln!(
        s,
        "<rect x=\"{LEFT}\" y=\"{top}\" width=\"{plot_w}\" height=\"{}\" fill=\"none\" stroke=\"#cccccc\"/>",
        bottom - top
    );
    let half = bottom - 0.5 * (bottom - top);
    let _ = writeln!(
        s,
        "<line x1=\"{LEFT}\" y1=\"{half}\" x2=\"{}\" y2=\"{half}\" stroke=\"#d62728\" stroke-dasharray=\"4 3\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\">50%</text>",
        LEFT + plot_w,
        LEFT - 6.0,
        half + 4.0
    );
    let signals: Vec<_> = m.by_signal.iter().filter(|(_, g)| g.settled > 0).collect();
    if !signals.is_empty() {
        let slot = plot_w / signals.len() as f64;
        for (i, (name, g)) in signals.iter().enumerate() {
            let rate = g.win_rate.unwrap_or(0.0);
            let h = rate * (bottom - top);
            let x = LEFT + i as f64 * slot + slot * 0.15;
            let _ = writeln!(
                s,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{BAR_COLOR}\"><title>{}: {} of {}</title></rect>",
                bottom - h,
                slot * 0.7,
                escape(name),
                g.wins,
                g.settled
            );
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{:.0}%</text><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{} (n={})</text>",
                x + slot * 0.35,
                // Inside a tall bar (white), above a short one.
                if h > 20.0 { bottom - h + 15.0 } else { bottom - h - 4.0 },
                rate * 100.0,
                x + slot * 0.35,
                bottom + 16.0,
                escape(name),
                g.settled
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

/// Renders a JSON value as nested HTML lists (the insights' shape belongs to the reflect job).
fn json_html(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            out.push_str("<ul>");
            for (k, v) in map {
                let _ = write!(out, "<li><b>{}</b>: ", escape(k));
                json_html(v, out);
                out.push_str("</li>");
            }
            out.push_str("</ul>");
        }
        Value::Array(items) => {
            out.push_str("<ul>");
            for v in items {
                out.push_str("<li>");
                json_html(v, out);
                out.push_str("</li>");
            }
            out.push_str("</ul>");
        }
        Value::String(s) => out.push_str(&escape(s)),
        other => out.push_str(&escape(&other.to_string())),
    }
}

/// One self-contained page (inline CSS and SVG, nothing fetched): figures, breakdowns, the
/// chart and the latest reflection's insights.
pub fn html_page(m: &Metrics, insights: Option<&LatestInsights>) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>polyperf report - {label}</title>\
         <style>body{{font-family:sans-serif;margin:24px;color:#222}}table{{border-collapse:collapse;margin:8px 0 20px}}\
         td,th{{border:1px solid #ddd;padding:4px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}\
         .neg{{color:#c62828}}.pos{{color:#2e7d32}}.note{{color:#666;font-size:90%}}</style></head><body>\n\
         <h1>polyperf report</h1><p>{label} &middot; now {now} UTC</p>\n",
        label = escape(&m.window.label),
        now = escape(&m.window.now)
    );
    if m.settled == 0 && m.holds == 0 {
        let _ = writeln!(h, "<p><b>{EMPTY_MESSAGE}</b></p>");
    }
    let cls = |d: Decimal| {
        if d < Decimal::ZERO {
            "neg"
        } else if d > Decimal::ZERO {
            "pos"
        } else {
            ""
        }
    };
    let headline: Vec<(&str, String, &str)> = vec![
        (
            "trades",
            format!(
                "{} ({} settled, {} pending)",
                m.trades, m.settled, m.pending
            ),
            "",
        ),
        ("wins / losses", format!("{} / {}", m.wins, m.losses), ""),
        (
            "win rate (95% CI)",
            format!("{} ({})", pct(m.win_rate), ci(m.win_rate_ci)),
            "",
        ),
        ("total P&L", money(m.total_profit), cls(m.total_profit)),
        (
            "average P&L",
            m.avg_profit.map(money).unwrap_or_else(|| "-".into()),
            "",
        ),
        ("fees", fees_text(m), ""),
        ("ROI", signed_pct(m.roi), ""),
        (
            "profit factor",
            m.profit_factor
                .map(|p| format!("{p:.2}"))
                .unwrap_or_else(|| "-".into()),
            "",
        ),
        (
            "max drawdown",
            format!("{:.2}", m.max_drawdown.round_dp(2)),
            "",
        ),
        (
            "losing streak (current / longest)",
            format!("{} / {}", m.current_losing_streak, m.longest_losing_streak),
            "",
        ),
        (
            "Brier score",
            m.brier
                .map(|b| format!("{b:.4}"))
                .unwrap_or_else(|| "-".into()),
            "",
        ),
        (
            "holds / missed opportunities",
            format!("{} / {}", m.holds, m.missed_opportunities.count),
            "",
        ),
    ];
    h.push_str("<table id=\"summary\">");
    for (k, v, c) in headline {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"{c}\">{}</td></tr>",
            escape(k),
            escape(&v)
        );
    }
    h.push_str("</table>\n<div id=\"chart\">");
    h.push_str(&chart_svg(m, false));
    h.push_str("</div>\n");
    for (title, map) in [
        ("By signal", &m.by_signal),
        ("By action", &m.by_action),
        ("By end phase", &m.by_end_phase),
        ("By hour (UTC)", &m.by_hour),
    ] {
        if map.is_empty() {
            continue;
        }
        let _ = write!(
            h,
            "<h2>{title}</h2><table><tr><th></th><th>trades</th><th>W</th><th>L</th><th>win%</th><th>95% CI</th><th>P&amp;L</th><th>ROI</th><th>holds</th><th>missed</th></tr>"
        );
        for (k, g) in map {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(k),
                g.settled,
                g.wins,
                g.losses,
                pct(g.win_rate),
                ci(g.win_rate_ci),
                cls(g.total_profit),
                money(g.total_profit),
                signed_pct(g.roi),
                g.holds,
                g.missed
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("<h2>Calibration</h2><table><tr><th>confidence</th><th>trades</th><th>win%</th><th>mean confidence</th></tr>");
    for b in &m.calibration {
        let _ = write!(
            h,
            "<tr><td>{:.1}-{:.1}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            b.low,
            b.high,
            b.trades,
            pct(b.win_rate),
            pct(b.mean_confidence)
        );
    }
    h.push_str("</table>\n<h2>Latest reflection</h2><div id=\"insights\">");
    match insights {
        Some(i) => {
            let _ = write!(
                h,
                "<p class=\"note\">reflection #{} at {} UTC ({})</p>",
                i.reflection_id,
                escape(&i.timestamp),
                escape(&i.trigger_type)
            );
            json_html(&i.insights, &mut h);
        }
        None => h.push_str("<p class=\"note\">no reflection yet</p>"),
    }
    let _ = write!(
        h,
        "</div>\n<p class=\"note\">Per-trade figures (drawdown, streaks, profit factor, calibration, Brier, by hour) use live rows only; {} archived decisions come from daily_rollup. Missed opportunities: {}.</p>\n</body></html>\n",
        m.coverage.rollup_decisions,
        escape(m.missed_opportunities.basis)
    );
    h
}
