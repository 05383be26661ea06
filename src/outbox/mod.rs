//! The outbox: producers queue Telegram messages here in their own transaction; only
//! `polyperf-telegram` reads it and talks to the Bot API. Never sends anything itself.
//!
//! It is bounded: at most [`MAX_PENDING`] rows wait at any time, also while Telegram is off
//! (the default), when nothing ever leaves. Past the bound the oldest low-value rows are dropped
//! (trade alerts first; approvals, pauses and alerts never) and counted in one waiting `dropped`
//! row, so the first message after Telegram comes on says "N older trade alerts were not sent".
//! Every producer's transaction ends with [`enforce_bound`], and cleanup calls it too; it reads
//! the waiting rows per kind from `outbox_pending` (kept by triggers), so an enqueue costs the
//! same however long the queue is. Trade
//! alerts and results are not queued here: `polyperf-telegram` reads them from `trades`
//! (`telegram::feed`), so a decision costs no outbox row.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use crate::config::{Notification, Notify};
use crate::time::to_db;

pub mod message;

pub use message::{Kind, Message};

/// At most this many rows wait in the outbox (`status = 'pending'`), the summary row included.
pub const MAX_PENDING: i64 = 1000;

/// Kinds that may be dropped past the bound, least valuable first. Approvals, pauses and
/// resumes, and alerts (disk, job failures, settlement lag and disagreements) never are.
const DROPPABLE: [Kind; 6] = [
    Kind::Trade,
    Kind::Settlement,
    Kind::Insights,
    Kind::Text,
    Kind::Applied,
    Kind::Rollback,
];

/// Queues a message, unless `[telegram.notify]` turned its kind `off` (then nothing is queued
/// and nothing will be sent). With a `dedup_key`, queuing the same key again does nothing
/// (returns false), so a rerun never sends twice. Runs inside the caller's transaction.
pub fn enqueue(
    conn: &Connection,
    notify: &Notify,
    message: &Message,
    dedup_key: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool> {
    Ok(enqueue_row(conn, notify, message, dedup_key, now)?.is_some())
}

/// [`enqueue`], returning the new row's id (`None` when nothing was queued), for a producer
/// that may later update the message while it waits ([`replace_pending`]).
pub fn enqueue_row(
    conn: &Connection,
    notify: &Notify,
    message: &Message,
    dedup_key: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<i64>> {
    if notify.of(message.kind().notice()) == Notification::Off {
        return Ok(None);
    }
    let n = conn
        .prepare_cached(
            "INSERT INTO outbox (created_at, kind, payload, dedup_key) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (dedup_key) DO NOTHING",
        )?
        .execute(params![
            to_db(now),
            message.kind().as_str(),
            message.payload().to_string(),
            dedup_key
        ])?;
    let id = (n == 1).then(|| conn.last_insert_rowid());
    enforce_bound(conn)?;
    Ok(id)
}

/// Replaces the message of row `id` while it still waits (an alert that keeps one row and
/// fresher figures); false when it was sent, failed or is gone. Part of the caller's
/// transaction.
pub fn replace_pending(conn: &Connection, id: i64, message: &Message) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE outbox SET payload = ?1 WHERE id = ?2 AND kind = ?3 AND status = 'pending'",
        )?
        .execute(params![
            message.payload().to_string(),
            id,
            message.kind().as_str()
        ])?;
    Ok(n == 1)
}

/// Waiting rows per kind, from the counts the triggers keep (`outbox_pending`).
fn pending_counts(conn: &Connection) -> Result<Vec<(String, i64)>> {
    let mut stmt = conn.prepare_cached("SELECT kind, n FROM outbox_pending WHERE n > 0")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<(String, i64)>>>()?;
    Ok(rows)
}

/// Keeps at most [`MAX_PENDING`] rows waiting: past it, deletes the oldest waiting rows of the
/// `DROPPABLE` kinds (least valuable kind first) and adds their number, per kind, to the one
/// waiting `dropped` row (created where the first dropped row was, so it is sent before the
/// newer ones). Returns how many rows were dropped. Part of the caller's transaction. Like the
/// trade-alert trigger, the summary row is stamped with SQLite's clock (`datetime('now')`).
pub fn enforce_bound(conn: &Connection) -> Result<u64> {
    let counts = pending_counts(conn)?;
    let pending: i64 = counts.iter().map(|(_, n)| n).sum();
    if pending <= MAX_PENDING {
        return Ok(0);
    }
    let droppable: i64 = counts
        .iter()
        .filter(|(kind, _)| DROPPABLE.iter().any(|d| d.as_str() == kind))
        .map(|(_, n)| n)
        .sum();
    if droppable == 0 {
        tracing::warn!(
            pending,
            "the outbox is over its bound but holds only messages that are never dropped"
        );
        return Ok(0);
    }
    let summary: Option<(i64, String)> = conn
        .prepare_cached(
            "SELECT id, payload FROM outbox WHERE status = 'pending' AND kind = ?1 ORDER BY id LIMIT 1",
        )?
        .query_row([Kind::Dropped.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    // A new summary row needs a place of its own.
    let mut over = pending - MAX_PENDING + i64::from(summary.is_none());
    let mut counts = match summary.as_ref().map(|(_, payload)| {
        Message::from_row(Kind::Dropped.as_str(), &serde_json::from_str(payload)?)
    }) {
        Some(Ok(Message::Dropped(counts))) => counts,
        _ => Default::default(),
    };
    let mut first_dropped: Option<i64> = None;
    let mut dropped = 0u64;
    let mut delete = conn.prepare_cached(
        "DELETE FROM outbox WHERE id IN
           (SELECT id FROM outbox WHERE status = 'pending' AND kind = ?1 ORDER BY id LIMIT ?2)
         RETURNING id",
    )?;
    for kind in DROPPABLE {
        if over <= 0 {
            break;
        }
        let ids = delete
            .query_map(params![kind.as_str(), over], |r| r.get::<_, i64>(0))?
            .collect::<rusqlite::Result<Vec<i64>>>()?;
        if ids.is_empty() {
            continue;
        }
        let n = ids.len() as i64;
        over -= n;
        dropped += n as u64;
        let lowest = ids.iter().min().copied();
        first_dropped = match (first_dropped, lowest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        *counts.entry(kind.as_str().to_string()).or_default() += n as u64;
    }
    if dropped == 0 {
        tracing::warn!(
            pending,
            "the outbox is over its bound but holds only messages that are never dropped"
        );
        return Ok(0);
    }
    let payload = Message::Dropped(counts).payload().to_string();
    match summary {
        Some((id, _)) => {
            conn.execute(
                "UPDATE outbox SET payload = ?1 WHERE id = ?2",
                params![payload, id],
            )?;
        }
        None => {
            conn.execute(
                "INSERT INTO outbox (id, created_at, kind, payload) VALUES (?1, datetime('now'), ?2, ?3)",
                params![first_dropped, Kind::Dropped.as_str(), payload],
            )?;
        }
    }
    tracing::warn!(
        dropped,
        "the outbox is full ({MAX_PENDING} waiting messages): dropped the oldest low-value ones"
    );
    Ok(dropped)
}

/// Per kind of waiting message, oldest kind first: the kind, how many wait, and the newest's
/// payload (the demo shows one of each).
pub fn pending_by_kind(conn: &Connection) -> Result<Vec<(String, i64, serde_json::Value)>> {
    let mut stmt = conn.prepare(
        "SELECT kind, count(*), (SELECT payload FROM outbox o2 WHERE o2.kind = o.kind AND o2.status = 'pending' ORDER BY id DESC LIMIT 1)
         FROM outbox o WHERE status = 'pending' GROUP BY kind ORDER BY min(id)",
    )?;
    let rows: Vec<(String, i64, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows
        .into_iter()
        .map(|(kind, n, payload)| (kind, n, serde_json::from_str(&payload).unwrap_or_default()))
        .collect())
}

/// Counts by status, for `status`.
pub fn counts(conn: &Connection) -> Result<(i64, i64, i64)> {
    Ok(conn.query_row(
        "SELECT coalesce(sum(status = 'pending'), 0), coalesce(sum(status = 'sent'), 0), coalesce(sum(status = 'failed'), 0) FROM outbox",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?)
}
