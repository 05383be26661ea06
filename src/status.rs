//! `polyperf status`: one read-only look at the whole system (schema, sizes, queues, the
//! pause switch, each job's last run). Reads only.

use anyhow::Result;
use rusqlite::Connection;
use serde::Serialize;

use crate::config::Settings;
use crate::control::{self, ControlState};

#[derive(Debug, Serialize)]
pub struct TradeCounts {
    pub total: i64,
    pub pending: i64,
    pub settled: i64,
    pub unsettleable: i64,
    /// Pending decisions whose window has ended (plus grace) at `now`: settlement's backlog.
    pub due: i64,
}

#[derive(Debug, Serialize)]
pub struct OutboxCounts {
    pub pending: i64,
    pub sent: i64,
    pub failed: i64,
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub schema_version: i64,
    pub db_path: String,
    pub db_bytes: u64,
    pub wal_bytes: u64,
    pub trades: TradeCounts,
    /// The current UTC day's P&L ("how did today go?").
    pub today: Option<crate::metrics::Period>,
    pub trading_paused: bool,
    pub control: ControlState,
    pub pending_approvals: i64,
    /// Parameters holding what no reader may use (a value edited by hand), each with its fix.
    pub parameter_problems: Vec<crate::params::BadParameter>,
    pub outbox: OutboxCounts,
    pub archives: crate::archives::Totals,
    /// The last `PRAGMA quick_check` (polyperf-cleanup runs it): when, and what it found.
    pub integrity: Option<crate::integrity::Check>,
    /// Whether the trader may trade (`healthy`, `health_reasons`, `settlement_lag_minutes`,
    /// each job's last success): [`crate::health`]. The pause switch stays on its own.
    #[serde(flatten)]
    pub health: crate::health::Health,
    pub jobs: serde_json::Map<String, serde_json::Value>,
    /// Each job's last figures in the job's own order (the important first), for people.
    #[serde(skip)]
    pub job_figures: std::collections::BTreeMap<String, Vec<(String, String)>>,
    pub now: String,
}

pub fn collect(
    conn: &Connection,
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Status> {
    let grace = chrono::Duration::seconds(i64::from(settings.settlement.grace_seconds));
    let due_before = crate::time::sub(now, grace)?;
    let counts = crate::trades::counts(conn, due_before)?;
    let trades = TradeCounts {
        total: counts.total,
        pending: counts.pending,
        settled: counts.settled,
        unsettleable: counts.unsettleable,
        due: counts.due,
    };
    let today = crate::metrics::periods(conn, crate::metrics::By::Day, 1, now)?
        .into_iter()
        .next();
    let (pending, sent, failed) = crate::outbox::counts(conn)?;
    let pending_approvals =
        crate::proposals::count(conn, crate::proposals::Status::AwaitingApproval)?;
    let archives = crate::archives::totals(conn)?;
    let control = control::state(conn)?;
    let (db_bytes, wal_bytes) = crate::db::file_sizes(&settings.general.db);
    Ok(Status {
        schema_version: crate::db::schema_version(conn)?,
        db_path: settings.general.db.display().to_string(),
        db_bytes,
        wal_bytes,
        trades,
        today,
        trading_paused: control.paused,
        control,
        pending_approvals,
        parameter_problems: crate::params::problems(conn)?,
        outbox: OutboxCounts {
            pending,
            sent,
            failed,
        },
        archives,
        integrity: crate::integrity::last(conn)?,
        health: crate::health::check(conn, settings, now)?,
        jobs: crate::runs::last_runs(conn)?,
        job_figures: crate::runs::last_figures(conn)?,
        now: crate::time::to_db(now),
    })
}

/// The human form of [`Status`].
pub fn render(s: &Status) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "polyperf status  ({} UTC)", s.now);
    let _ = writeln!(
        out,
        "  database        {}  schema v{}  {} + WAL {}",
        s.db_path,
        s.schema_version,
        crate::words::bytes(s.db_bytes),
        crate::words::bytes(s.wal_bytes)
    );
    let t = &s.trades;
    let _ = writeln!(
        out,
        "  decisions       {} total: {} settled, {} pending ({} due), {} unsettleable",
        t.total, t.settled, t.pending, t.due, t.unsettleable
    );
    if let Some(day) = &s.today {
        let _ = writeln!(
            out,
            "  today (UTC)     {}, {} trades ({} W / {} L), win rate {}, fees {}",
            crate::words::usdc(day.profit),
            day.trades,
            day.wins,
            day.losses,
            crate::words::pct(day.win_rate),
            crate::words::amount(day.fees)
        );
    }
    if s.control.paused {
        let _ = writeln!(
            out,
            "  trading         PAUSED since {} by {}: {}",
            s.control.since.as_deref().unwrap_or("?"),
            s.control.by.as_deref().unwrap_or("?"),
            s.control.reason.as_deref().unwrap_or("")
        );
    } else {
        let _ = writeln!(out, "  trading         active");
    }
    let _ = writeln!(out, "  approvals       {} awaiting", s.pending_approvals);
    for bad in &s.parameter_problems {
        let _ = writeln!(out, "  parameters      {bad}");
    }
    let _ = writeln!(
        out,
        "  outbox          {} pending, {} sent, {} failed",
        s.outbox.pending, s.outbox.sent, s.outbox.failed
    );
    let _ = writeln!(
        out,
        "  archives        {} files, {} rows",
        s.archives.files, s.archives.rows
    );
    let _ = writeln!(
        out,
        "  integrity       {}",
        integrity_line(s.integrity.as_ref())
    );
    let _ = writeln!(out, "  health          {}", health_line(&s.health));
    for why in &s.health.health_reasons {
        let _ = writeln!(out, "                  {why}");
    }
    for warning in &s.health.health_warnings {
        let _ = writeln!(out, "                  warning: {warning}");
    }
    let _ = writeln!(out, "  jobs");
    for (job, run) in &s.jobs {
        if run.is_null() {
            let _ = writeln!(out, "    {job:<9} never run");
            continue;
        }
        let status = run["status"].as_str().unwrap_or("?");
        let at = run["finished_at"]
            .as_str()
            .or(run["started_at"].as_str())
            .unwrap_or("?");
        let detail = match run["error"].as_str() {
            Some(e) => e.to_string(),
            None => s
                .job_figures
                .get(job)
                .map(|figures| compact_stats(figures))
                .unwrap_or_default(),
        };
        let _ = writeln!(out, "    {job:<9} {status:<9} {at}  {detail}");
        if status != "ok" {
            let last = s.health.job_health.get(job.as_str());
            let last = last.and_then(|j| j.last_success.as_deref());
            let _ = writeln!(out, "              last ok   {}", last.unwrap_or("never"));
        }
    }
    out
}

/// `ok to trade (settlement lag 0 min)` or `NOT HEALTHY (2 reasons below; lag 75 min)`.
fn health_line(h: &crate::health::Health) -> String {
    let lag = crate::health::span(chrono::Duration::minutes(h.settlement_lag_minutes));
    match h.healthy {
        true => format!("ok to trade (settlement lag {lag})"),
        false => format!("NOT HEALTHY: the trader should not trade (settlement lag {lag}); why:"),
    }
}

/// The last integrity check for people: `ok (quick_check at 2026-02-11 10:00:00, 120 ms)`,
/// `DAMAGED (…): <problems>`, or `never checked (polyperf-cleanup checks it)`.
fn integrity_line(check: Option<&crate::integrity::Check>) -> String {
    let Some(c) = check else {
        return "never checked (polyperf-cleanup checks it)".into();
    };
    let word = if c.result.is_alarm() {
        c.result.as_str().to_uppercase()
    } else {
        c.result.as_str().to_string()
    };
    let mut line = format!(
        "{word} (quick_check at {}, {})",
        c.checked_at,
        crate::words::duration(std::time::Duration::from_millis(c.elapsed_ms))
    );
    if let Some(problems) = &c.problems {
        let short: String = problems.chars().take(200).collect();
        line.push_str(&format!(": {short}"));
    }
    line
}

/// The first six plain figures (no nested objects or lists), as `name=value`.
fn compact_stats(figures: &[(String, String)]) -> String {
    figures
        .iter()
        .filter(|(_, v)| !v.starts_with(['{', '[']))
        .take(6)
        .map(|(k, v)| format!("{k}={}", crate::words::figure(k, v)))
        .collect::<Vec<_>>()
        .join(" ")
}
