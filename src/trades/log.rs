//! The decision log: the trader's [`Tracker`], writing decisions into `trades`, one row each,
//! idempotent by `decision_id` (a re-log with the same content is a duplicate, with other
//! content a [`Conflict`]), also once the row was archived (`archived`). The bulk path writes
//! multi-row `INSERT OR IGNORE` statements and sorts out only the chunks that stored fewer rows
//! than they hold (issue 20: nothing else in the hot path reads the table); once decisions were
//! archived, one indexed look-up per chunk asks whether any of its ids is among them. Failures
//! come back typed ([`LogError`]), each with its exit code.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::Path;

use anyhow::{anyhow, Result};
use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use super::{archived, stored};
use crate::db::{BtcPrice, Money};
use crate::decision::{content_hash, Conflict, Decision, FieldError};
use crate::error::{exit_code_for, EXIT_USAGE};
use crate::time::to_db;

/// What happened to a decision handed to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logged {
    Stored(i64),
    Duplicate,
}

/// Counts of a batch, as `polyperf log --json` prints them.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct LogReport {
    pub stored: u64,
    pub duplicates: u64,
    pub invalid: u64,
    /// `line N: field ...: message`, for each bad line (the first 100).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// Why the log stored nothing. Callers match on it; each carries its exit code
/// ([`LogError::exit_code`]), and `?` into an `anyhow::Error` keeps that code.
///
/// Not a `std::error::Error` on purpose: so that `?` in a function returning
/// `anyhow::Result` goes through the `From` below (which classifies it) rather than anyhow's
/// blanket conversion (which would make a conflict a plain failure, exit 1).
#[derive(Debug)]
pub enum LogError {
    /// A decision broke the format's rules: which one (the n-th of a batch, from 1) and the
    /// field. Bad input, exit 2; nothing stored.
    Invalid {
        decision: Option<usize>,
        error: FieldError,
    },
    /// Its `decision_id` is stored (or was archived) with other content. Bad input, exit 2;
    /// nothing stored.
    Conflict(Conflict),
    /// The database (or the input being read) failed: exit 75 when SQLite's write lock was
    /// held past the busy timeout (try later), else 1.
    Failed(anyhow::Error),
}

impl LogError {
    /// The exit code (SPEC §1) a binary ends with for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            LogError::Invalid { .. } | LogError::Conflict(_) => EXIT_USAGE,
            LogError::Failed(e) => exit_code_for(e),
        }
    }
}

impl std::fmt::Display for LogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogError::Invalid {
                decision: Some(n),
                error,
            } => write!(f, "decision {n}: {error}"),
            LogError::Invalid {
                decision: None,
                error,
            } => write!(f, "{error}"),
            LogError::Conflict(conflict) => write!(f, "{conflict}"),
            LogError::Failed(e) => write!(f, "{e:#}"),
        }
    }
}

impl From<anyhow::Error> for LogError {
    fn from(e: anyhow::Error) -> LogError {
        LogError::Failed(e)
    }
}

impl From<rusqlite::Error> for LogError {
    fn from(e: rusqlite::Error) -> LogError {
        LogError::Failed(e.into())
    }
}

impl From<LogError> for anyhow::Error {
    fn from(e: LogError) -> anyhow::Error {
        match e {
            LogError::Failed(e) => e,
            other => crate::error::bad_input(other.to_string()),
        }
    }
}

/// The trader's handle on the log.
pub struct Tracker {
    conn: Connection,
}

impl Tracker {
    /// Opens (and migrates) the existing database at `path`; a missing one is refused (bad
    /// input naming the path): `polyperf init` creates it.
    pub fn open(path: &Path) -> Result<Tracker> {
        Ok(Tracker {
            conn: crate::db::open(path)?,
        })
    }

    pub fn from_connection(conn: Connection) -> Tracker {
        Tracker { conn }
    }

    /// Stores one decision in its own transaction. Logging the same decision twice stores it
    /// once; its id with other content is [`LogError::Conflict`] (exit 2), nothing stored.
    pub fn log_decision(&mut self, decision: &Decision) -> std::result::Result<Logged, LogError> {
        decision.validate().map_err(|error| LogError::Invalid {
            decision: None,
            error,
        })?;
        let tx = crate::db::write_tx(&mut self.conn)?;
        let logged = insert(&tx, decision)?;
        tx.commit()?;
        Ok(logged)
    }

    /// Stores many decisions in one transaction: all of them, or (an invalid decision, a
    /// conflict) none.
    pub fn log_batch(
        &mut self,
        decisions: &[Decision],
    ) -> std::result::Result<LogReport, LogError> {
        for (i, d) in decisions.iter().enumerate() {
            d.validate().map_err(|error| LogError::Invalid {
                decision: Some(i + 1),
                error,
            })?;
        }
        let mut report = LogReport::default();
        let tx = crate::db::write_tx(&mut self.conn)?;
        for d in decisions {
            match insert(&tx, d)? {
                Logged::Stored(_) => report.stored += 1,
                Logged::Duplicate => report.duplicates += 1,
            }
        }
        tx.commit()?;
        Ok(report)
    }

    /// Reads one JSON object (possibly pretty-printed), a JSON array, or JSON Lines from
    /// `input` and stores them in one transaction. Any bad line (invalid, not UTF-8, or a
    /// conflict with a stored decision) stores nothing unless `skip_invalid`; the report names
    /// each bad line and field (the first 100, in line order). Parsing overlaps the inserts
    /// (`bulk`: a writer thread holds the transaction).
    pub fn log_reader(
        &mut self,
        input: impl BufRead,
        skip_invalid: bool,
    ) -> std::result::Result<LogReport, LogError> {
        Ok(super::bulk::log_reader(
            &mut self.conn,
            input,
            skip_invalid,
        )?)
    }

    pub fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

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

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;

    #[test]
    fn the_same_decision_again_is_a_duplicate_other_content_a_conflict() {
        let dir = tempfile::tempdir().unwrap();
        let mut tracker =
            Tracker::from_connection(crate::db::create(&dir.path().join("t.db")).unwrap());
        let first = Decision::from_json(crate::decision::tests::GOOD).unwrap();
        assert!(matches!(
            tracker.log_decision(&first).unwrap(),
            Logged::Stored(_)
        ));
        // The same content written differently: 5.0 for "5.00", a number for a string.
        let mut v: serde_json::Value = serde_json::from_str(crate::decision::tests::GOOD).unwrap();
        v["position_size"] = serde_json::json!(5.0);
        v["executed_price"] = serde_json::json!(0.520);
        let same = Decision::from_json(&v.to_string()).unwrap();
        assert_eq!(tracker.log_decision(&same).unwrap(), Logged::Duplicate);
        // Other content under the same id: refused, typed, exit 2, both versions named.
        v["action"] = "YES".into();
        v["position_size"] = "500".into();
        let other = Decision::from_json(&v.to_string()).unwrap();
        let err = tracker.log_decision(&other).unwrap_err();
        let LogError::Conflict(conflict) = &err else {
            panic!("a typed conflict, not {err}");
        };
        assert_eq!(conflict.fields, ["action", "position_size"]);
        assert_eq!(
            err.to_string(),
            "decision_id 9b2f already stored with NO 5.00 @ 0.52; this line has YES 500.00 @ 0.52 (differs in action, position_size)"
        );
        assert_eq!(err.exit_code(), crate::error::EXIT_USAGE);
        // Through `?` into anyhow (as the binaries do), the exit code stays.
        let any: anyhow::Error = err.into();
        assert_eq!(crate::error::exit_code_for(&any), crate::error::EXIT_USAGE);
        let stored: String = tracker
            .connection()
            .query_row(
                "SELECT action || ' ' || position_size FROM trades",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stored, "NO 5.0", "the stored decision is unchanged");
    }

    #[test]
    fn multi_row_inserts_store_each_decision_once() {
        use chrono::{TimeZone, Utc};
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::create(&dir.path().join("t.db")).unwrap();
        let start = Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap();
        let all: Vec<Decision> = crate::sim::decisions(&crate::sim::candles(start, 600, 1), 10, 3)
            .into_iter()
            .take(200)
            .collect();
        let tx = crate::db::write_tx(&mut conn).unwrap();
        assert_eq!(insert_many(&tx, &all[..100]).unwrap().stored, 100);
        // Again, plus a duplicate inside one batch: only the 100 new ones are stored.
        let mut again = all.clone();
        again.insert(150, all[149].clone());
        let again = insert_many(&tx, &again).unwrap();
        assert_eq!((again.stored, again.conflicts.len()), (100, 0));
        // The same id twice in one chunk with other content: the second is a conflict.
        let mut twice = all[..3].to_vec();
        twice[1].decision_id = Some("new-1".into());
        twice[2].decision_id = Some("new-1".into());
        twice[2].position_size += Decimal::ONE;
        let done = insert_many(&tx, &twice).unwrap();
        assert_eq!(done.stored, 1);
        assert_eq!(done.conflicts.len(), 1);
        assert_eq!(done.conflicts[0].0, 2);
        tx.commit().unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM trades", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 201);
        let stored: crate::db::Money = conn
            .query_row("SELECT position_size FROM trades WHERE id = 7", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(stored.0, all[6].position_size);
    }
}
