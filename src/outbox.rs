//! The outbox: producers queue Telegram messages here in their own transaction; only
//! `polyperf-telegram` reads it and talks to the Bot API. Never sends anything itself.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

use crate::time::to_db;

/// Message kinds, so the sender can render and merge them.
pub mod kind {
    pub const TRADE: &str = "trade";
    pub const SETTLEMENT: &str = "settlement";
    pub const SETTLEMENT_LAG: &str = "settlement_lag";
    pub const DISAGREEMENT: &str = "disagreement";
    pub const INSIGHTS: &str = "insights";
    pub const APPROVAL: &str = "approval";
    pub const APPLIED: &str = "applied";
    pub const ROLLBACK: &str = "rollback";
    pub const PAUSE: &str = "pause";
    pub const RESUME: &str = "resume";
    pub const DISK: &str = "disk";
    pub const JOB_FAILURE: &str = "job_failure";
    pub const TEXT: &str = "text";
}

/// Queues a message. With a `dedup_key`, queuing the same key again does nothing (returns
/// false), so a rerun never sends twice. Runs inside the caller's transaction.
pub fn enqueue(
    conn: &Connection,
    kind: &str,
    payload: &serde_json::Value,
    dedup_key: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let n = conn.execute(
        "INSERT INTO outbox (created_at, kind, payload, dedup_key) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (dedup_key) DO NOTHING",
        params![to_db(now), kind, payload.to_string(), dedup_key],
    )?;
    Ok(n == 1)
}

/// Counts by status, for `status`.
pub fn counts(conn: &Connection) -> Result<(i64, i64, i64)> {
    Ok(conn.query_row(
        "SELECT coalesce(sum(status = 'pending'), 0), coalesce(sum(status = 'sent'), 0), coalesce(sum(status = 'failed'), 0) FROM outbox",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?)
}
