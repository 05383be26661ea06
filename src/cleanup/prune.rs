//! Housekeeping rows past their retention, deleted in short batches; WAL checkpoint and VACUUM.

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection};
use serde::Serialize;

use super::space::{statvfs, Guard};
use crate::time::to_db;

/// Rows deleted per write transaction; the trader's writes get in between two batches.
const BATCH: i64 = 2000;

/// Rows pruned per table.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Pruned {
    pub outbox: u64,
    pub job_runs: u64,
    pub prices: u64,
    pub markets: u64,
}

impl Pruned {
    pub(super) fn total(&self) -> u64 {
        self.outbox + self.job_runs + self.prices + self.markets
    }
}

/// Cutoffs (DB time text) per table; rows strictly older are pruned.
pub(super) struct Cutoffs {
    outbox: String,
    job_runs: String,
    prices_ms: i64,
    markets: String,
}

pub(super) fn retention_cutoffs(c: &crate::config::Cleanup, now: DateTime<Utc>) -> Cutoffs {
    let days = |d: u32| crate::time::days_before(now, d).unwrap_or(DateTime::<Utc>::MIN_UTC);
    Cutoffs {
        outbox: to_db(days(c.outbox_retention_days)),
        job_runs: to_db(days(c.job_runs_retention_days)),
        prices_ms: days(c.prices_retention_days).timestamp_millis(),
        markets: to_db(days(c.prices_retention_days)),
    }
}

/// The emergency prune: everything housekeeping older than a day.
pub(super) fn aggressive_cutoffs(now: DateTime<Utc>) -> Cutoffs {
    let day = now - Duration::days(1);
    Cutoffs {
        outbox: to_db(day),
        job_runs: to_db(day),
        prices_ms: day.timestamp_millis(),
        markets: to_db(day),
    }
}

/// Which rows of each table are prunable (`?1` is the cutoff). Constant SQL, bound values.
const OUTBOX_WHERE: &str = "status = 'sent' AND created_at < ?1";
/// Finished runs, but not failures (evidence, they leave through the archive) and never the
/// latest run of a job (`polyperf status` shows it).
const JOB_RUNS_WHERE: &str = "status IN ('ok', 'locked', 'tempfail') AND started_at < ?1
     AND id NOT IN (SELECT max(id) FROM job_runs GROUP BY job)";
const PRICES_WHERE: &str = "open_time_ms < ?1";
/// Resolved markets whose window ended before the cutoff and no pending decision refers to
/// (which slugs those are is `trades`' owner's query).
const MARKETS_WHERE: &str = concat!(
    "closed = 1 AND outcome IS NOT NULL AND window_end < ?1 AND slug NOT IN (",
    crate::trades::pending_market_slugs!(),
    ")"
);

pub(super) fn count_prunable(conn: &Connection, cut: &Cutoffs) -> Result<Pruned> {
    let count = |sql: String, v: &dyn rusqlite::ToSql| -> Result<u64> {
        Ok(conn.query_row(&sql, [v], |r| r.get::<_, i64>(0))? as u64)
    };
    Ok(Pruned {
        outbox: count(
            format!("SELECT count(*) FROM outbox WHERE {OUTBOX_WHERE}"),
            &cut.outbox,
        )?,
        job_runs: count(
            format!("SELECT count(*) FROM job_runs WHERE {JOB_RUNS_WHERE}"),
            &cut.job_runs,
        )?,
        prices: count(
            format!("SELECT count(*) FROM prices WHERE {PRICES_WHERE}"),
            &cut.prices_ms,
        )?,
        markets: count(
            format!("SELECT count(*) FROM markets WHERE {MARKETS_WHERE}"),
            &cut.markets,
        )?,
    })
}

/// Deletes prunable rows in batches of [`BATCH`], one transaction each; counts into `pruned`
/// as it goes (so a failure half-way still reports what was done).
pub(super) fn prune(conn: &mut Connection, cut: &Cutoffs, pruned: &mut Pruned) -> Result<()> {
    pruned.outbox += delete_batches(
        conn,
        &format!(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE {OUTBOX_WHERE} LIMIT ?2)"
        ),
        &cut.outbox,
    )?;
    pruned.job_runs += delete_batches(
        conn,
        &format!(
            "DELETE FROM job_runs WHERE id IN (SELECT id FROM job_runs WHERE {JOB_RUNS_WHERE} LIMIT ?2)"
        ),
        &cut.job_runs,
    )?;
    pruned.prices += delete_batches(
        conn,
        &format!(
            "DELETE FROM prices WHERE (symbol, open_time_ms) IN
               (SELECT symbol, open_time_ms FROM prices WHERE {PRICES_WHERE} LIMIT ?2)"
        ),
        &cut.prices_ms,
    )?;
    pruned.markets += delete_batches(
        conn,
        &format!(
            "DELETE FROM markets WHERE slug IN (SELECT slug FROM markets WHERE {MARKETS_WHERE} LIMIT ?2)"
        ),
        &cut.markets,
    )?;
    Ok(())
}

fn delete_batches(conn: &mut Connection, sql: &str, cutoff: &dyn rusqlite::ToSql) -> Result<u64> {
    let mut total = 0u64;
    loop {
        let tx = crate::db::write_tx(conn)?;
        let n = tx.execute(sql, params![cutoff, BATCH])?;
        tx.commit()?;
        total += n as u64;
        if (n as i64) < BATCH {
            return Ok(total);
        }
        crate::db::yield_to_writers();
    }
}

/// `wal_checkpoint(TRUNCATE)`: copies the WAL into the database and truncates it to zero bytes.
/// A reader holding an old snapshot makes it return busy; that is logged, not an error.
pub(super) fn checkpoint(conn: &Connection) -> Result<()> {
    let (busy, log, done): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    if busy != 0 {
        tracing::warn!(
            wal_frames = log,
            checkpointed = done,
            "WAL checkpoint could not finish: a reader holds an old snapshot"
        );
    }
    Ok(())
}

/// A full VACUUM rewrites the whole database through the WAL, so it needs about twice its size
/// free; with less it would fail and could fill the disk, so it is skipped.
pub(super) fn full_vacuum_if_room(conn: &Connection, guard: &Guard<'_>) -> Result<()> {
    let (db, _) = crate::db::file_sizes(&guard.db);
    let free = statvfs(&guard.db)?.free_bytes;
    if free > db.saturating_mul(2) {
        tracing::info!(db_bytes = db, free_bytes = free, "running a full VACUUM");
        conn.execute_batch("VACUUM").context("full VACUUM")?;
        checkpoint(conn)?;
    } else {
        tracing::info!(
            db_bytes = db,
            free_bytes = free,
            "full VACUUM skipped: free space is under twice the database size"
        );
    }
    Ok(())
}
