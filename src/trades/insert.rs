//! The statements of the decision log: decisions inserted into `trades`, one row each, with
//! their fingerprint; a re-log sorted out as a duplicate or a conflict, live or archived
//! (`archived`). Bulk inserts are multi-row `INSERT OR IGNORE` statements, and only a chunk that
//! stored fewer rows than it holds is looked at again.

use std::collections::HashSet;

use anyhow::{anyhow, Result};
use rusqlite::{Connection, OptionalExtension};

use super::logged::{LogError, Logged};
use super::{archived, stored};
use crate::db::{BtcPrice, Money};
use crate::decision::{content_hash, Conflict, Decision};
use crate::time::to_db;

const COLUMNS: &str = "trades (
    decision_id, timestamp, market_slug, market_id, action, confidence, position_size, reasoning,
    btc_price, price_to_beat, time_remaining_seconds, is_end_phase, social_score, market_score,
    final_score, final_confidence, signal_type, rsi, macd, trend, yes_price, no_price,
    executed_price, market_start, market_end, fee_rate, liquidity, fee_paid, content_hash,
    created_at, bankroll) VALUES ";

/// A re-logged decision's row and fingerprint, by its key.
pub const RELOGGED: &str = "SELECT id, content_hash FROM trades WHERE decision_id = ?1";

/// Parameters bound per decision.
const PARAMS_PER_ROW: usize = 31;

/// Rows per multi-row INSERT in a bulk log (31 × 256 = 7,936 parameters, under SQLite's 32,766).
/// One statement runs its per-statement work (cursors on the table and its indexes, the
/// CHECK lists) once for all its rows.
pub(super) const BATCH: usize = 256;

/// `<verb> trades (...) VALUES (...), ... <tail>` for `rows` decisions.
fn insert_sql(verb: &str, rows: usize, tail: &str) -> String {
    let one = format!("(?{})", ", ?".repeat(PARAMS_PER_ROW - 1));
    format!("{verb} {COLUMNS}{} {tail}", vec![one; rows].join(", "))
}

/// The bulk statement for `rows` decisions. `OR IGNORE` rather than an upsert: a statement
/// that cannot abort half-way needs no statement journal, so SQLite does not copy every page
/// it touches a second time (8% of a bulk log's time with the upsert; a SQL function call such
/// as `datetime('now')` in the VALUES would bring it back, hence [`Now`]). Nothing it ignores goes
/// unnoticed: [`sort_out`] accounts for every row of a chunk that stored fewer than it holds,
/// and the rows were validated (every CHECK and NOT NULL holds) before they got here.
fn insert_chunk_sql(rows: usize) -> String {
    insert_sql("INSERT OR IGNORE INTO", rows, "")
}

thread_local! {
    /// Any id already stored: nothing (then [`conflict::find`] tells a duplicate from a conflict).
    static INSERT_ONE: String =
        insert_sql("INSERT INTO", 1, "ON CONFLICT (decision_id) DO NOTHING");
    static INSERT_BATCH: String = insert_chunk_sql(BATCH);
}

/// What a decision's row holds beyond the decision's own fields, worked out once: its key,
/// its times as stored, and its fingerprint. A bulk log computes them on the parsing thread,
/// so the writer thread (the bottleneck) only binds.
pub(super) struct RowValues {
    /// The derived key, for a decision without a `decision_id`.
    derived_key: Option<String>,
    timestamp: String,
    window: Option<(String, String)>,
    hash: i64,
}

impl RowValues {
    pub(super) fn of(d: &Decision) -> RowValues {
        let timestamp = to_db(d.timestamp);
        let window = d.window().map(|(start, end)| (to_db(start), to_db(end)));
        RowValues {
            derived_key: d.decision_id.is_none().then(|| d.key()),
            hash: content_hash(d, &timestamp, window.as_ref()),
            timestamp,
            window,
        }
    }

    /// What [`bind`] writes as `decision_id`.
    fn key<'a>(&'a self, d: &'a Decision) -> &'a str {
        d.decision_id
            .as_deref()
            .or(self.derived_key.as_deref())
            .unwrap_or_default()
    }
}

/// `created_at` of the rows a call writes: SQLite's `datetime('now')`, read once per call
/// (the clock SQLite keeps, as the column's default does) and bound as a value.
struct Now(String);

impl Now {
    fn read(conn: &Connection) -> Result<Now> {
        let mut stmt = conn.prepare_cached("SELECT datetime('now')")?;
        Ok(Now(stmt.query_row([], |r| r.get(0))?))
    }
}

/// Binds one decision's parameters at `base + 1 ..= base + 31`. Money and prices go in as
/// numbers through [`Money`] / [`BtcPrice`] (validated to fit them exactly).
fn bind(
    stmt: &mut rusqlite::Statement<'_>,
    base: usize,
    (d, v): (&Decision, &RowValues),
    now: &Now,
) -> Result<()> {
    let key = v.key(d);
    let (timestamp, window, content_hash) = (&v.timestamp, &v.window, &v.hash);
    let values: [&dyn rusqlite::ToSql; PARAMS_PER_ROW] = [
        &key,
        &timestamp,
        &d.market_slug,
        &d.market_id,
        &d.action,
        &d.confidence,
        &Money(d.position_size),
        &d.reasoning,
        &BtcPrice(d.btc_price),
        &d.price_to_beat.map(BtcPrice),
        &d.time_remaining_seconds,
        &d.is_end_phase,
        &d.social_score,
        &d.market_score,
        &d.final_score,
        &d.final_confidence,
        &d.signal_type,
        &d.rsi,
        &d.macd,
        &d.trend,
        &d.yes_price.map(Money),
        &d.no_price.map(Money),
        &d.executed_price.map(Money),
        &window.as_ref().map(|w| w.0.as_str()),
        &window.as_ref().map(|w| w.1.as_str()),
        &d.fee_rate.map(Money),
        &d.liquidity,
        &d.fee_paid.map(Money),
        content_hash,
        &now.0,
        &d.bankroll.map(Money),
    ];
    for (i, v) in values.iter().enumerate() {
        stmt.raw_bind_parameter(base + i + 1, v)?;
    }
    Ok(())
}

/// Inserts one decision with the connection's cached statement. Part of the caller's
/// transaction; the caller has validated it. Its id already stored with the same content is a
/// duplicate; with other content [`LogError::Conflict`] (bad input: exit 2).
pub fn insert(conn: &Connection, d: &Decision) -> std::result::Result<Logged, LogError> {
    try_insert(conn, d)?.map_err(LogError::Conflict)
}

/// As [`insert`], with a conflict as a value.
fn try_insert(conn: &Connection, d: &Decision) -> Result<std::result::Result<Logged, Conflict>> {
    let values = RowValues::of(d);
    let key = values.key(d);
    if let Some(entry) = archived::lookup(conn, key)? {
        return Ok(entry.judge(key, d));
    }
    insert_one(conn, (d, &values), &Now::read(conn)?)
}

/// One row with the single-row statement: stored, a duplicate of a live row, or a conflict.
fn insert_one(
    conn: &Connection,
    row: (&Decision, &RowValues),
    now: &Now,
) -> Result<std::result::Result<Logged, Conflict>> {
    let mut stmt = INSERT_ONE.with(|sql| conn.prepare_cached(sql))?;
    bind(&mut stmt, 0, row, now)?;
    if stmt.raw_execute()? == 1 {
        return Ok(Ok(Logged::Stored(conn.last_insert_rowid())));
    }
    Ok(match stored::find(conn, row.0)? {
        Some(conflict) => Err(conflict),
        None => Ok(Logged::Duplicate),
    })
}

/// What [`insert_many`] did: how many decisions it stored, and which (by index) it refused as
/// conflicts. The rest were duplicates.
#[derive(Debug, Default)]
pub struct Inserted {
    pub stored: u64,
    pub conflicts: Vec<(usize, Conflict)>,
}

/// Inserts decisions in multi-row statements (same rules as [`insert`]). Part of the caller's
/// transaction. A chunk that stores every row costs one statement; one that stores fewer (an
/// id already stored, or twice in the chunk) is sorted out row by row. Queues nothing:
/// `polyperf-telegram` reads new trades from the table (`telegram::feed`).
pub fn insert_many(conn: &Connection, decisions: &[Decision]) -> Result<Inserted> {
    let values: Vec<RowValues> = decisions.iter().map(RowValues::of).collect();
    insert_rows(conn, decisions, &values)
}

/// [`insert_many`] with each decision's [`RowValues`] already worked out (`values[i]` is
/// `decisions[i]`'s).
pub(super) fn insert_rows(
    conn: &Connection,
    decisions: &[Decision],
    values: &[RowValues],
) -> Result<Inserted> {
    let mut done = Inserted::default();
    if decisions.is_empty() {
        return Ok(done);
    }
    if decisions.len() != values.len() {
        return Err(anyhow!(
            "{} decisions with {} row values",
            decisions.len(),
            values.len()
        ));
    }
    let now = Now::read(conn)?;
    let any_archived = archived::any(conn)?;
    let mut chunks = decisions.chunks_exact(BATCH);
    let mut value_chunks = values.chunks_exact(BATCH);
    if chunks.len() > 0 {
        let mut stmt = INSERT_BATCH.with(|sql| conn.prepare_cached(sql))?;
        for (n, (chunk, chunk_values)) in (&mut chunks).zip(&mut value_chunks).enumerate() {
            let at = Chunk {
                base: n * BATCH,
                now: &now,
            };
            let rows = (chunk, chunk_values);
            if !(any_archived && relogs_archived(conn, rows, &at, &mut done)?) {
                insert_chunk(conn, &mut stmt, rows, &at, &mut done)?;
            }
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let at = Chunk {
            base: decisions.len() - rest.len(),
            now: &now,
        };
        let rows = (rest, value_chunks.remainder());
        if !(any_archived && relogs_archived(conn, rows, &at, &mut done)?) {
            // Prepared for its size and not cached: at most once per call.
            let mut stmt = conn.prepare(&insert_chunk_sql(rest.len()))?;
            insert_chunk(conn, &mut stmt, rows, &at, &mut done)?;
        }
    }
    Ok(done)
}

/// A chunk that holds a decision whose row was archived: each such decision is a duplicate or
/// a conflict as the index judges it, and the others go in one by one (a re-log after
/// archival is rare; the common chunk holds none and returns false at once).
fn relogs_archived(
    conn: &Connection,
    (chunk, values): (&[Decision], &[RowValues]),
    at: &Chunk<'_>,
    done: &mut Inserted,
) -> Result<bool> {
    let keys: Vec<&str> = chunk.iter().zip(values).map(|(d, v)| v.key(d)).collect();
    let archived = archived::lookup_many(conn, &keys)?;
    if archived.is_empty() {
        return Ok(false);
    }
    for (i, ((d, v), key)) in chunk.iter().zip(values).zip(&keys).enumerate() {
        let logged = match archived.get(*key) {
            Some(entry) => entry.judge(key, d),
            None => insert_one(conn, (d, v), at.now)?,
        };
        match logged {
            Ok(Logged::Stored(_)) => done.stored += 1,
            Ok(Logged::Duplicate) => {}
            Err(conflict) => done.conflicts.push((at.base + i, conflict)),
        }
    }
    Ok(true)
}

/// Where a chunk stands in the caller's slice, and when it is written.
struct Chunk<'a> {
    base: usize,
    now: &'a Now,
}

/// One multi-row statement for `chunk` (its decisions at `at.base..` of the caller's slice).
fn insert_chunk(
    conn: &Connection,
    stmt: &mut rusqlite::Statement<'_>,
    chunk: (&[Decision], &[RowValues]),
    at: &Chunk<'_>,
    done: &mut Inserted,
) -> Result<()> {
    for (i, row) in chunk.0.iter().zip(chunk.1).enumerate() {
        bind(stmt, i * PARAMS_PER_ROW, row, at.now)?;
    }
    let stored = stmt.raw_execute()?;
    done.stored += stored as u64;
    if stored < chunk.0.len() {
        // The rows this statement stored took consecutive ids ending at the last one:
        // AUTOINCREMENT hands out max + 1 row after row, and this transaction is the only
        // writer. 0 stored: an empty range.
        let last = conn.last_insert_rowid();
        let first = last - stored as i64 + 1;
        sort_out(conn, chunk, at.base, first..=last, done)?;
    }
    Ok(())
}

/// Which decisions of a chunk that stored only some of its rows were stored (their row's id is
/// in `inserted`, first occurrence of the key), duplicates (same fingerprint, or the same
/// canonical values) or conflicts.
fn sort_out(
    conn: &Connection,
    (chunk, values): (&[Decision], &[RowValues]),
    base: usize,
    inserted: std::ops::RangeInclusive<i64>,
    done: &mut Inserted,
) -> Result<()> {
    let mut stmt = conn.prepare_cached(RELOGGED)?;
    let mut claimed = HashSet::new();
    for (i, (d, v)) in chunk.iter().zip(values).enumerate() {
        let (key, hash) = (v.key(d), v.hash);
        let row: Option<(i64, Option<i64>)> = stmt
            .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((id, stored_hash)) = row else {
            // Only a broken CHECK or NOT NULL gets here, and validation rules those out.
            return Err(anyhow!(
                "decision_id {key} was not stored (a constraint refused it)"
            ));
        };
        if inserted.contains(&id) && claimed.insert(id) {
            continue; // this chunk stored it (already counted)
        }
        if stored_hash == Some(hash) {
            continue; // the same content: a duplicate
        }
        if let Some(conflict) = stored::find(conn, d)? {
            done.conflicts.push((base + i, conflict));
        }
    }
    Ok(())
}
