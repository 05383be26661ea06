//! Trading control: the pause switch the trader obeys (`trading_control`, one row) and the
//! audit trail of pauses and resumes (`control_events`). Decides nothing about *when* to pause.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use serde::Serialize;

use crate::config::Notify;
use crate::outbox::message::{PauseNote, ResumeNote};
use crate::outbox::{self, Message};
use crate::time::to_db;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ControlState {
    pub paused: bool,
    pub reason: Option<String>,
    pub rule: Option<String>,
    pub figures: Option<serde_json::Value>,
    pub since: Option<String>,
    pub by: Option<String>,
    pub auto_resume_at: Option<String>,
}

pub fn state(conn: &Connection) -> Result<ControlState> {
    Ok(conn.query_row(
        "SELECT paused, reason, rule, figures, since, by, auto_resume_at FROM trading_control WHERE id = 1",
        [],
        |r| {
            Ok(ControlState {
                paused: r.get::<_, i64>(0)? != 0,
                reason: r.get(1)?,
                rule: r.get(2)?,
                figures: r.get::<_, Option<String>>(3)?.and_then(|s| serde_json::from_str(&s).ok()),
                since: r.get(4)?,
                by: r.get(5)?,
                auto_resume_at: r.get(6)?,
            })
        },
    )?)
}

/// A pause request.
pub struct Pause<'a> {
    pub reason: &'a str,
    pub by: &'a str,
    /// The tier-3 rule that fired; None for a human's pause.
    pub rule: Option<&'a str>,
    pub figures: Option<serde_json::Value>,
    pub auto_resume_at: Option<DateTime<Utc>>,
}

/// Pauses trading, records the event and queues a notification, in the caller's transaction.
/// Returns false (and changes nothing) if trading was already paused.
pub fn pause(
    conn: &Connection,
    notify: &Notify,
    p: &Pause<'_>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let Some(event_id) = record_pause(conn, p, now)? else {
        return Ok(false);
    };
    let note = PauseNote {
        reason: p.reason.to_string(),
        rule: p.rule.map(str::to_string),
        figures: p.figures.clone(),
        by: p.by.to_string(),
        since: now,
    };
    outbox::enqueue(
        conn,
        notify,
        &Message::Pause(note),
        Some(&format!("pause:{event_id}")),
        now,
    )?;
    Ok(true)
}

/// Pauses trading and records the event like [`pause`], but queues nothing: a pause asked
/// for in the chat is answered there, and a queued note would say it a second time.
pub fn pause_from_chat(conn: &Connection, p: &Pause<'_>, now: DateTime<Utc>) -> Result<bool> {
    Ok(record_pause(conn, p, now)?.is_some())
}

/// The switch and the audit trail of a pause; the event's id, or None if already paused.
fn record_pause(conn: &Connection, p: &Pause<'_>, now: DateTime<Utc>) -> Result<Option<i64>> {
    let n = conn.execute(
        "UPDATE trading_control SET paused = 1, reason = ?1, rule = ?2, figures = ?3, since = ?4, by = ?5, auto_resume_at = ?6
         WHERE id = 1 AND paused = 0",
        params![p.reason, p.rule, p.figures.as_ref().map(|f| f.to_string()), to_db(now), p.by, p.auto_resume_at.map(to_db)],
    )?;
    if n == 0 {
        return Ok(None);
    }
    conn.execute(
        "INSERT INTO control_events (timestamp, action, reason, rule, by) VALUES (?1, 'pause', ?2, ?3, ?4)",
        params![to_db(now), p.reason, p.rule, p.by],
    )?;
    Ok(Some(conn.last_insert_rowid()))
}

/// Resumes trading, records who did it and queues a notification. Returns false if trading
/// was not paused.
pub fn resume(
    conn: &Connection,
    notify: &Notify,
    by: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let Some(event_id) = record_resume(conn, by, reason, now)? else {
        return Ok(false);
    };
    let note = ResumeNote {
        by: by.to_string(),
        reason: reason.to_string(),
        at: now,
    };
    outbox::enqueue(
        conn,
        notify,
        &Message::Resume(note),
        Some(&format!("resume:{event_id}")),
        now,
    )?;
    Ok(true)
}

/// Resumes trading and records it like [`resume`], queuing nothing (asked for in the chat,
/// answered there).
pub fn resume_from_chat(
    conn: &Connection,
    by: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    Ok(record_resume(conn, by, reason, now)?.is_some())
}

/// The switch and the audit trail of a resume; the event's id, or None if not paused.
fn record_resume(
    conn: &Connection,
    by: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Option<i64>> {
    let n = conn.execute(
        "UPDATE trading_control SET paused = 0, reason = NULL, rule = NULL, figures = NULL, since = ?1, by = ?2, auto_resume_at = NULL
         WHERE id = 1 AND paused = 1",
        params![to_db(now), by],
    )?;
    if n == 0 {
        return Ok(None);
    }
    conn.execute(
        "INSERT INTO control_events (timestamp, action, reason, by) VALUES (?1, 'resume', ?2, ?3)",
        params![to_db(now), reason, by],
    )?;
    Ok(Some(conn.last_insert_rowid()))
}
