//! The latest evaluation as `polyperf report` and its HTML page show it: one self-contained
//! section, so the report only calls [`text`] / [`html`].

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use rust_decimal::Decimal;

use crate::evaluations::{self, Stored};

/// The latest evaluation made at or before `now`, if any.
pub fn latest(conn: &Connection, now: DateTime<Utc>) -> Result<Option<Stored>> {
    evaluations::latest(conn, now)
}

/// "Since the loop was on, the changes it made earned X USDC (95% CI a..b) over what the old
/// parameters would have", with when and how it was evaluated. "Earned" only when the
/// interval lies above 0: "lost" when below, "changed the profit by X USDC, not told apart
/// from 0" when it includes 0, and nothing credited without a change.
pub fn sentence(e: &Stored) -> String {
    let span = match (&e.since, &e.until) {
        (Some(a), Some(b)) => format!(" ({} to {})", day(a), day(b)),
        _ => String::new(),
    };
    let ci = format!("95% CI {}..{}", e.ci[0].round_dp(2), e.ci[1].round_dp(2));
    let amount = e.improvement.round_dp(2);
    let claim = if e.changes == 0 {
        "the loop made no change, so there is nothing to credit".to_string()
    } else if e.ci[0] > Decimal::ZERO {
        format!("the changes it made earned {amount} USDC ({ci}) over what the old parameters would have")
    } else if e.ci[1] < Decimal::ZERO {
        format!(
            "the changes it made lost {} USDC ({ci}) against what the old parameters would have",
            -amount
        )
    } else {
        format!("the changes it made changed the profit by {amount} USDC, not told apart from 0 ({ci} includes 0)")
    };
    format!(
        "Since the loop was on{span}, {claim}: {} change{}, autonomy {}, engine {}, evaluated {}.",
        e.changes,
        if e.changes == 1 { "" } else { "s" },
        e.autonomy,
        e.engine,
        e.created_at
    )
}

/// The terminal section (empty without an evaluation).
pub fn text(e: Option<&Stored>) -> String {
    match e {
        Some(e) => format!("\nLearning loop (polyperf evaluate)\n  {}\n", sentence(e)),
        None => "\nLearning loop: not evaluated yet (run `polyperf evaluate`).\n".into(),
    }
}

/// The HTML section (the report page places it before the reflection).
pub fn html(e: Option<&Stored>) -> crate::report::Section {
    let body = match e {
        Some(e) => crate::report::escape(&sentence(e)),
        None => "Not evaluated yet (run <code>polyperf evaluate</code>).".into(),
    };
    crate::report::Section {
        id: "evaluation".into(),
        title: "Learning loop".into(),
        html: format!("<p class=\"evaluation\">{body}</p>\n"),
    }
}

fn day(t: &str) -> &str {
    t.get(..10).unwrap_or(t)
}
