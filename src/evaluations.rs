//! The `evaluations` table (the walk-forward results `polyperf evaluate` stores, read by the
//! report and by autonomy `full`) and `evaluation_answers` (model answers an evaluation reuses).
//! Every statement on them is here; what an evaluation is, is [`crate::evaluate`]'s.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::config::{from_word, Autonomy, Engine};
use crate::db::Money;
use crate::time::to_db;

/// A stored evaluation: its headline figures (the whole result is in `result`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Stored {
    pub id: i64,
    /// The evaluation's "now".
    pub created_at: String,
    /// The first and last replayed decision's time.
    pub since: Option<String>,
    pub until: Option<String>,
    pub engine: Engine,
    pub autonomy: Autonomy,
    pub baseline_profit: Decimal,
    pub adjusted_profit: Decimal,
    /// adjusted − baseline, and its 95% interval.
    pub improvement: Decimal,
    pub ci: [Decimal; 2],
    pub changes: i64,
    pub result: serde_json::Value,
}

/// An evaluation to record.
#[derive(Debug, Clone)]
pub struct New<'a> {
    pub since: Option<&'a str>,
    pub until: Option<&'a str>,
    pub engine: Engine,
    pub autonomy: Autonomy,
    pub baseline_profit: Decimal,
    pub adjusted_profit: Decimal,
    pub improvement: Decimal,
    pub ci: [Decimal; 2],
    pub changes: usize,
    pub result: &'a serde_json::Value,
}

/// Records an evaluation made at `now`; returns its id.
pub fn insert(conn: &Connection, e: &New<'_>, now: DateTime<Utc>) -> Result<i64> {
    conn.execute(
        "INSERT INTO evaluations (created_at, since, until, engine, autonomy, baseline_profit,
             adjusted_profit, improvement, ci_low, ci_high, changes, result)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            to_db(now),
            e.since,
            e.until,
            e.engine.as_str(),
            e.autonomy.as_str(),
            Money(e.baseline_profit),
            Money(e.adjusted_profit),
            Money(e.improvement),
            Money(e.ci[0]),
            Money(e.ci[1]),
            e.changes as i64,
            e.result.to_string(),
        ],
    )
    .context("writing evaluations")?;
    Ok(conn.last_insert_rowid())
}

/// The latest evaluation made at or before `now` (by its "now", then id).
pub fn latest(conn: &Connection, now: DateTime<Utc>) -> Result<Option<Stored>> {
    Ok(conn
        .query_row(
            "SELECT id, created_at, since, until, engine, autonomy, baseline_profit,
                    adjusted_profit, improvement, ci_low, ci_high, changes, result
             FROM evaluations WHERE created_at <= ?1 ORDER BY created_at DESC, id DESC LIMIT 1",
            [to_db(now)],
            row,
        )
        .optional()?)
}

/// Whether the latest evaluation made at or before `now`, and at most `max_age_days` before
/// it, shows the loop's changes earning money: its 95% interval lies above 0. What autonomy
/// `full` asks before it applies a tier-2 change on its own.
pub fn agrees(conn: &Connection, now: DateTime<Utc>, max_age_days: u32) -> Result<bool> {
    let Some(latest) = latest(conn, now)? else {
        return Ok(false);
    };
    let oldest = crate::time::days_before(now, max_age_days)?;
    Ok(crate::time::from_db(&latest.created_at)? >= oldest && latest.ci[0] > Decimal::ZERO)
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Stored> {
    let money =
        |i: usize| -> rusqlite::Result<Decimal> { Ok(Money::get(r, i)?.unwrap_or_default()) };
    let word = |i: usize| -> rusqlite::Result<String> { r.get(i) };
    let bad = |i: usize, e: serde::de::value::Error| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    };
    Ok(Stored {
        id: r.get(0)?,
        created_at: r.get(1)?,
        since: r.get(2)?,
        until: r.get(3)?,
        engine: from_word(&word(4)?).map_err(|e| bad(4, e))?,
        autonomy: from_word(&word(5)?).map_err(|e| bad(5, e))?,
        baseline_profit: money(6)?,
        adjusted_profit: money(7)?,
        improvement: money(8)?,
        ci: [money(9)?, money(10)?],
        changes: r.get(11)?,
        result: serde_json::from_str(&r.get::<_, String>(12)?).unwrap_or_default(),
    })
}

/// A model answer stored for the prompt whose SHA-256 is `prompt_sha256`: (model, answer).
pub fn answer(conn: &Connection, prompt_sha256: &str) -> Result<Option<(String, String)>> {
    Ok(conn
        .query_row(
            "SELECT model, answer FROM evaluation_answers WHERE prompt_sha256 = ?1",
            [prompt_sha256],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// Stores a model's answer to a prompt (the first one stays).
pub fn store_answer(
    conn: &Connection,
    prompt_sha256: &str,
    model: &str,
    answer: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO evaluation_answers (prompt_sha256, model, answer, created_at)
         VALUES (?1, ?2, ?3, ?4)",
        params![prompt_sha256, model, answer, to_db(now)],
    )?;
    Ok(())
}
