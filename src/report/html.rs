//! The report as one self-contained HTML page that reads on a phone: a viewport meta, charts as
//! inline SVG drawn for a phone's width ([`Layout::PHONE`]: their text stays readable at 390
//! CSS pixels), tables with P&L as the first column after the name, which stays in view while
//! the rest scrolls sideways in its own box, and the latest reflection in words. Nothing is
//! fetched: no script, no external style or image.

use std::fmt::Write as _;

use anyhow::Result;
use rust_decimal::Decimal;
use serde_json::Value;

use super::chart::{self, Chart, Layout};
use super::{headline, per_row_note, EMPTY_MESSAGE};
use crate::metrics::{Group, LatestInsights, Metrics};
use crate::proposals::Proposal;
use crate::words::{ci, money, pct, NA};

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

/// One more section of the page (e.g. the latest `polyperf evaluate` result), placed before the
/// reflection. `html` is the body, already escaped by whoever built it.
#[derive(Debug, Clone, Default)]
pub struct Section {
    pub id: String,
    pub title: String,
    pub html: String,
}

/// What the page shows beside the figures.
#[derive(Debug, Clone, Default)]
pub struct Extras<'a> {
    /// The latest successful reflection.
    pub insights: Option<&'a LatestInsights>,
    /// The proposals that reflection made, with their status.
    pub proposals: &'a [Proposal],
    /// Further sections, in order, after the figures and before the reflection.
    pub sections: Vec<Section>,
}

const STYLE: &str = "*{box-sizing:border-box}\
body{font-family:sans-serif;margin:0 auto;padding:12px;max-width:960px;color:#222;line-height:1.4}\
h1{font-size:1.4em;margin:.3em 0}h2{font-size:1.15em;margin-top:1.6em}\
.scroll{overflow-x:auto;max-width:100%}\
table{border-collapse:collapse;margin:8px 0 16px;font-size:14px}\
td,th{border:1px solid #ddd;padding:4px 8px;text-align:right;white-space:nowrap}\
td:first-child,th:first-child{text-align:left;position:sticky;left:0;background:#fff}\
#summary td{white-space:normal;text-align:left}\
.chart{margin:8px 0 16px}.chart svg{display:block;width:100%;max-width:480px;height:auto}\
.neg{color:#c62828}.pos{color:#2e7d32}.note{color:#666;font-size:90%}";

fn sign_class(d: Decimal) -> &'static str {
    if d < Decimal::ZERO {
        "neg"
    } else if d > Decimal::ZERO {
        "pos"
    } else {
        ""
    }
}

/// A table in a box that scrolls sideways on a narrow screen.
fn table(h: &mut String, id: &str, headers: &[&str], rows: &[Vec<(String, &str)>]) {
    let _ = write!(h, "<div class=\"scroll\"><table id=\"{id}\"><tr>");
    for head in headers {
        let _ = write!(h, "<th>{}</th>", escape(head));
    }
    h.push_str("</tr>");
    for row in rows {
        h.push_str("<tr>");
        for (cell, class) in row {
            if class.is_empty() {
                let _ = write!(h, "<td>{}</td>", escape(cell));
            } else {
                let _ = write!(h, "<td class=\"{class}\">{}</td>", escape(cell));
            }
        }
        h.push_str("</tr>");
    }
    h.push_str("</table></div>\n");
}

fn plain(cell: String) -> (String, &'static str) {
    (cell, "")
}

fn chart_block(h: &mut String, m: &Metrics, which: Chart) -> Result<()> {
    let _ = write!(h, "<div class=\"chart\" id=\"chart-{}\">", which.id());
    h.push_str(&chart::one_svg(m, which, Layout::PHONE)?);
    h.push_str("</div>\n");
    Ok(())
}

/// A group's row: its name, P&L (first: what a phone shows without scrolling), then the rest.
fn group_rows(map: &std::collections::BTreeMap<String, Group>) -> Vec<Vec<(String, &'static str)>> {
    map.iter()
        .map(|(k, g)| {
            vec![
                plain(k.clone()),
                (money(g.total_profit), sign_class(g.total_profit)),
                plain(g.settled.to_string()),
                plain(g.wins.to_string()),
                plain(g.losses.to_string()),
                plain(pct(g.win_rate)),
                plain(ci(g.win_rate_ci)),
                plain(pct(g.break_even)),
                plain(signed_percent(g.roi)),
                plain(g.holds.to_string()),
                plain(g.missed.to_string()),
            ]
        })
        .collect()
}

fn signed_percent(fraction: Option<f64>) -> String {
    fraction.map_or_else(|| NA.into(), |r| format!("{:+.1}%", r * 100.0))
}

/// What the win-rate charts' colours mean (their titles are short on a phone).
const WIN_RATE_KEY: &str = "<p class=\"note\">Green: at or above its own fee-aware break-even \
(the black tick); red: below it; grey: no break-even known. Whiskers: 95% interval.</p>\n";

/// One self-contained page: figures, charts, breakdowns, any further sections, and the latest
/// reflection's insights and proposals in words.
pub fn html_page(m: &Metrics, extras: &Extras<'_>) -> Result<String> {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>polyperf report - {label}</title><style>{STYLE}</style></head><body>\n\
         <h1>polyperf report</h1><p>{label} &middot; now {now} UTC &middot; money in USDC</p>\n",
        label = escape(&m.window.label),
        now = escape(&m.window.now)
    );
    summary_section(&mut h, m);
    h.push_str("<h2>Equity and drawdown</h2>\n");
    chart_block(&mut h, m, Chart::Equity)?;
    periods_section(&mut h, m)?;
    groups_section(&mut h, m)?;
    calibration_section(&mut h, m)?;
    for section in &extras.sections {
        let _ = writeln!(
            h,
            "<h2 id=\"{}\">{}</h2>\n{}",
            escape(&section.id),
            escape(&section.title),
            section.html
        );
    }
    reflection_section(&mut h, extras);
    let _ = write!(
        h,
        "<p class=\"note\">Missed opportunities: {}.</p>\n</body></html>\n",
        escape(m.missed_opportunities.basis)
    );
    Ok(h)
}

/// The headline figures (and which rows the per-trade ones cover).
fn summary_section(h: &mut String, m: &Metrics) {
    if m.settled == 0 && m.holds == 0 && m.fifty_fifty == 0 {
        let _ = writeln!(h, "<p><b>{EMPTY_MESSAGE}</b></p>");
    }
    let rows: Vec<Vec<(String, &str)>> = headline(m)
        .into_iter()
        .map(|(k, v)| {
            let class = if k == "P&L" {
                sign_class(m.total_profit)
            } else {
                ""
            };
            vec![plain(k.to_string()), (v, class)]
        })
        .collect();
    table(h, "summary", &["figure", "value"], &rows);
    if let Some(note) = per_row_note(m) {
        let _ = writeln!(h, "<p class=\"note\" id=\"per-row\">{}</p>", escape(&note));
    }
}

/// P&L per period: the chart, and the table when the report has `--by` periods.
fn periods_section(h: &mut String, m: &Metrics) -> Result<()> {
    h.push_str("<h2>P&amp;L per period</h2>\n");
    chart_block(h, m, Chart::Periods)?;
    let Some(periods) = &m.periods else {
        return Ok(());
    };
    let rows: Vec<Vec<(String, &str)>> = periods
        .iter()
        .map(|p| {
            vec![
                plain(p.period.clone()),
                (money(p.profit), sign_class(p.profit)),
                plain(p.trades.to_string()),
                plain(p.wins.to_string()),
                plain(p.losses.to_string()),
                plain(pct(p.win_rate)),
                plain(format!("{:.2}", p.fees.round_dp(2))),
                plain(signed_percent(p.roi)),
            ]
        })
        .collect();
    let headers = [
        "period (UTC)",
        "P&L",
        "trades",
        "W",
        "L",
        "win%",
        "fees",
        "ROI",
    ];
    table(h, "periods", &headers, &rows);
    Ok(())
}

/// Win rate against break-even: the two charts, then a table per breakdown.
fn groups_section(h: &mut String, m: &Metrics) -> Result<()> {
    h.push_str("<h2>Win rate against break-even</h2>\n");
    h.push_str(WIN_RATE_KEY);
    chart_block(h, m, Chart::BySignal)?;
    chart_block(h, m, Chart::ByPrice)?;
    let headers = [
        "",
        "P&L",
        "trades",
        "W",
        "L",
        "win%",
        "95% CI",
        "break-even",
        "ROI",
        "holds",
        "missed",
    ];
    for (title, id, map) in [
        ("By signal", "by-signal", &m.by_signal),
        ("By action", "by-action", &m.by_action),
        ("By end phase", "by-end-phase", &m.by_end_phase),
        ("By price paid (live rows)", "by-price", &m.by_price),
        ("By hour (UTC, live rows)", "by-hour", &m.by_hour),
    ] {
        if map.is_empty() {
            continue;
        }
        let _ = writeln!(h, "<h2>{title}</h2>");
        table(h, id, &headers, &group_rows(map));
    }
    Ok(())
}

/// Calibration: the chart and its buckets.
fn calibration_section(h: &mut String, m: &Metrics) -> Result<()> {
    h.push_str("<h2>Calibration</h2>\n");
    chart_block(h, m, Chart::Calibration)?;
    let Some(buckets) = &m.calibration else {
        let _ = writeln!(h, "<p>{NA}: decisions in this window were archived.</p>");
        return Ok(());
    };
    let rows: Vec<Vec<(String, &str)>> = buckets
        .iter()
        .map(|b| {
            vec![
                plain(format!("{:.1}-{:.1}", b.low, b.high)),
                plain(b.trades.to_string()),
                plain(pct(b.win_rate)),
                plain(ci(b.win_rate_ci)),
                plain(pct(b.mean_confidence)),
            ]
        })
        .collect();
    let headers = ["confidence", "trades", "won", "95% CI", "mean confidence"];
    table(h, "calibration", &headers, &rows);
    Ok(())
}

/// The latest reflection's insights and proposals, in words.
fn reflection_section(h: &mut String, extras: &Extras<'_>) {
    h.push_str("<h2>Latest reflection</h2><div id=\"insights\">");
    match extras.insights {
        Some(i) => {
            let _ = write!(
                h,
                "<p class=\"note\">reflection #{} at {} UTC ({})</p>",
                i.reflection_id,
                escape(&i.timestamp),
                escape(&i.trigger_type)
            );
            reflection_html(&i.insights, h);
            proposals_html(extras.proposals, h);
        }
        None => h.push_str("<p class=\"note\">no reflection yet</p>"),
    }
    h.push_str("</div>\n");
}

/// A list of strings as a bulleted list (nothing when empty).
fn bullets(title: &str, items: &[String], h: &mut String) {
    if items.is_empty() {
        return;
    }
    let _ = write!(h, "<h3>{}</h3><ul>", escape(title));
    for item in items {
        let _ = write!(h, "<li>{}</li>", escape(item));
    }
    h.push_str("</ul>");
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items.iter().map(sentence).collect(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![sentence(other)],
    }
}

/// Any JSON value as words: strings as they are, objects as "key: value; key: value".
fn sentence(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => NA.into(),
        Value::Array(items) => items.iter().map(sentence).collect::<Vec<_>>().join("; "),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{}: {}", k.replace('_', " "), sentence(v)))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

/// One recommendation as a sentence: "Raise bot_confidence_threshold from 0.60 to 0.65: fewer
/// but better trades. Expected: +2% win rate. Suggested tier 1."
fn recommendation(v: &Value) -> String {
    let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default();
    let parameter = field("parameter");
    let (current, recommended) = (field("current"), field("recommended"));
    if parameter.is_empty() {
        return sentence(v);
    }
    let verb = match (
        current.parse::<Decimal>().ok(),
        recommended.parse::<Decimal>().ok(),
    ) {
        (Some(a), Some(b)) if b > a => "Raise",
        (Some(a), Some(b)) if b < a => "Lower",
        _ => "Set",
    };
    let mut s = format!("{verb} {parameter} from {current} to {recommended}");
    let reason = field("reason");
    if !reason.is_empty() {
        let _ = write!(s, ": {reason}");
    }
    let impact = field("expected_impact");
    if !impact.is_empty() {
        let _ = write!(s, ". Expected: {impact}");
    }
    if let Some(tier) = v.get("tier").and_then(Value::as_i64) {
        let _ = write!(s, ". Suggested tier {tier}");
    }
    s.push('.');
    s
}

/// The insights as the reflect job stores them (`insights`, `patterns.winning/losing`,
/// `recommendations`), in words; any other shape as sentences, never raw JSON.
fn reflection_html(v: &Value, h: &mut String) {
    let Value::Object(map) = v else {
        let _ = write!(h, "<p>{}</p>", escape(&sentence(v)));
        return;
    };
    bullets("Insights", &strings(map.get("insights")), h);
    let patterns = map.get("patterns");
    bullets(
        "What worked",
        &strings(patterns.and_then(|p| p.get("winning"))),
        h,
    );
    bullets(
        "What did not",
        &strings(patterns.and_then(|p| p.get("losing"))),
        h,
    );
    let recommendations: Vec<String> = match map.get("recommendations") {
        Some(Value::Array(items)) => items.iter().map(recommendation).collect(),
        _ => Vec::new(),
    };
    bullets("Recommendations", &recommendations, h);
    let known = ["insights", "patterns", "recommendations"];
    let rest: Vec<String> = map
        .iter()
        .filter(|(k, _)| !known.contains(&k.as_str()))
        .map(|(k, v)| format!("{}: {}", k.replace('_', " "), sentence(v)))
        .collect();
    bullets("Notes", &rest, h);
}

fn proposals_html(proposals: &[Proposal], h: &mut String) {
    let items: Vec<String> = proposals
        .iter()
        .map(|p| {
            let mut s = format!(
                "#{} {}: {} → {}, {}",
                p.id,
                p.parameter_name,
                p.current_value,
                p.proposed_value,
                p.status.as_str()
            );
            if let Some(why) = &p.status_reason {
                let _ = write!(s, " ({why})");
            }
            s
        })
        .collect();
    bullets("Proposals from this reflection", &items, h);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recommendations_read_as_sentences() {
        let v = json!({"parameter": "bot_confidence_threshold", "current": "0.60",
                       "recommended": "0.65", "reason": "fewer but better trades",
                       "tier": 1, "expected_impact": null});
        assert_eq!(
            recommendation(&v),
            "Raise bot_confidence_threshold from 0.60 to 0.65: fewer but better trades. Suggested tier 1."
        );
        let mut h = String::new();
        reflection_html(
            &json!({"insights": ["a <b>"], "patterns": {"winning": ["w"], "losing": []},
                    "recommendations": [v], "extra": {"n_trades": 5}}),
            &mut h,
        );
        assert!(h.contains("<li>a &lt;b&gt;</li>"), "{h}");
        assert!(
            h.contains("What worked") && !h.contains("What did not"),
            "{h}"
        );
        assert!(h.contains("<li>extra: n trades: 5</li>"), "{h}");
        assert!(!h.contains('{'), "no raw JSON: {h}");
    }
}
