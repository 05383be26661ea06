//! `/health`: the verdict the trader reads from `polyperf status --json` ([`crate::health`]),
//! in words: may it trade, and if not why; the settlement lag; each job's last success as a
//! phone-width table. The pause switch is shown apart: it is not part of the verdict.
//! Read-only; `now` is passed in.

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use rusqlite::Connection;

use super::html::{esc, esc_short, MAX_FIELD_CHARS};
use super::table::{self, Row};
use crate::config::Settings;
use crate::health::{span, Health, JobHealth};

/// `/health`.
pub fn health_reply(conn: &Connection, settings: &Settings, now: DateTime<Utc>) -> Result<String> {
    let health = crate::health::check(conn, settings, now)?;
    let control = crate::control::state(conn)?;
    Ok(render(&health, control.paused, settings, now))
}

/// The reply for a verdict (pure).
pub fn render(health: &Health, paused: bool, settings: &Settings, now: DateTime<Utc>) -> String {
    let mut out = match health.healthy {
        true => format!("<b>Health: {} ok to trade</b>", table::GOOD),
        false => format!("<b>Health: {} do not trade</b>", table::BAD),
    };
    for why in &health.health_reasons {
        out.push_str(&format!("\n• {}", esc_short(why, MAX_FIELD_CHARS)));
    }
    for warning in &health.health_warnings {
        out.push_str(&format!(
            "\n• warning: {}",
            esc_short(warning, MAX_FIELD_CHARS)
        ));
    }
    out.push_str(&format!(
        "\nSettlement lag: {} (limit {} h)",
        span(Duration::minutes(health.settlement_lag_minutes)),
        settings.settlement.alert_lag_hours
    ));
    out.push_str(match paused {
        true => "\nTrading: PAUSED (the switch, apart from health; /resume)",
        false => "\nTrading: active",
    });
    // In the jobs' own order (settle first), not by name.
    let rows: Vec<Row> = crate::runner::Job::ALL
        .iter()
        .filter_map(|job| {
            let name = job.name();
            health.job_health.get(name).map(|j| job_row(name, j, now))
        })
        .collect();
    let lines = table::lines(&["Job", "Last ok", "Every"], &rows, &[2]);
    out.push_str(&format!("\n<pre>{}</pre>", esc(&lines.join("\n"))));
    out
}

/// `settle   02-11 11:47  15m ✅`.
fn job_row(name: &str, job: &JobHealth, now: DateTime<Utc>) -> Row {
    let last = match (&job.last_success, job.running) {
        (_, true) => "running".to_string(),
        (None, false) => "never".to_string(),
        (Some(at), false) => crate::time::from_db(at)
            .map(|t| match t.date_naive() == now.date_naive() {
                true => t.format("%H:%M").to_string(),
                false => t.format("%m-%d %H:%M").to_string(),
            })
            .unwrap_or_else(|_| "?".into()),
    };
    let mark = match (job.overdue, job.last_success.is_some() || job.running) {
        (true, _) => Some(table::BAD),
        (false, true) => Some(table::GOOD),
        (false, false) => None,
    };
    Row {
        cells: vec![name.to_string(), last, every(job.due_every_minutes)],
        mark,
    }
}

/// A cadence in a few characters: `1m`, `15m`, `1h`, `7d`.
fn every(minutes: i64) -> String {
    match minutes {
        m if m >= 1440 && m % 1440 == 0 => format!("{}d", m / 1440),
        m if m >= 60 && m % 60 == 0 => format!("{}h", m / 60),
        m => format!("{m}m"),
    }
}
