//! Crash-safe archival of finished rows to `archive/<table>-<ISO week>.jsonl.gz` (SPEC §5), and
//! `polyperf archive {list,verify,restore}`. A row leaves the database only after its file is
//! written, fsynced, read back, renamed into place and recorded in `archives`; never otherwise.
//!
//! The steps of one file (numbered for `POLYPERF_FAULT_ARCHIVE_CRASH_AFTER_STEP`, a test hook that
//! aborts the process right after step K):
//! 1. stream the week's rows from one read snapshot into a temp file in the archive directory,
//!    flush and fsync it;
//! 2. read it back: gzip CRC, row count, the sequence of ids, SHA-256;
//! 3. link it into place under its final name (never overwriting: a taken name gets the next part);
//! 4. fsync the directory;
//! 5. record it in `archives` (the manifest);
//! 6. one transaction: add the rows to `daily_rollup`, delete them, set `deleted_at`;
//! 7. `PRAGMA incremental_vacuum` (after all files).
//!
//! Step 6 deletes a row only if it is still byte-for-byte what the file holds (a row changed after
//! it was written stays in the database; the stale copy in the file is skipped on restore). The
//! rollup is updated in that same transaction, before the DELETE: "rollup first" and "never
//! counted twice" both hold whatever the moment of a crash. On start, `reconcile` finishes what
//! a crashed run left: manifest rows not yet deleted, temp files, final files without manifest row.
//!
//! Files: `tables` (what is archivable, ISO weeks), `format` (header, names, hashing reader
//! and writer, lines), `write` (steps 1-5), `delete` (step 6), `reconcile` (after a crash),
//! `scan` and `check` (reading a file with every check),
//! `trust` and `restore`, `verify` (list and verify); the manifest (the `archives` table) is
//! [`crate::archives`]'s; the operator subcommands are `src/cli/archive.rs`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::Serialize;

use crate::config::Settings;
use crate::runner::JobContext;
use crate::time::to_db;

mod check;
mod delete;
mod format;
mod index;
#[cfg(test)]
mod proptests;
mod reconcile;
mod restore;
mod scan;
mod tables;
mod trust;
mod verify;
mod write;

pub use format::{Header, FORMAT, VERSION};
pub use reconcile::reconcile;
pub use restore::{restore, Origin, RestoreReport, RestoreRequest};
pub use scan::{scan_file, FileSummary};
pub use verify::{list, verify, FileStatus};

use tables::{for_each_week, table_columns, week_sql, TABLES};
use write::WeekWriter;

/// Rows moved out per table.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct RowsArchived {
    pub trades: u64,
    pub outbox: u64,
    pub job_runs: u64,
}

impl RowsArchived {
    fn add(&mut self, table: &str, n: u64) {
        match table {
            "trades" => self.trades += n,
            "outbox" => self.outbox += n,
            _ => self.job_runs += n,
        }
    }
}

/// What a run did: the `--json` object of polyperf-archive.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    /// Archive files written (in a dry run: that would be written).
    pub files_written: u64,
    /// Rows written to new files, per table.
    pub rows_archived: RowsArchived,
    /// Compressed bytes written.
    pub bytes_written: u64,
    /// Rows deleted from the database (including work finished for a crashed run).
    pub rows_deleted: u64,
    /// Database bytes given back by `incremental_vacuum`.
    pub freed_bytes: u64,
    /// Files in the archive directory set aside as `<name>.rejected` (damaged, a link, or not
    /// for the table and week they are named for), each named in a warning.
    #[serde(skip_serializing_if = "is_zero")]
    pub files_set_aside: u64,
    /// Weeks left in the database because a row is too long for an archive line (a text stored
    /// before texts were bounded), each named in a warning.
    #[serde(skip_serializing_if = "is_zero")]
    pub weeks_not_archived: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Job flags beyond the common ones.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Archive rows older than this many days (default: `archive.retention_days`).
    pub older_than_days: Option<u32>,
    /// Overrides `archive.dir`.
    pub archive_dir: Option<PathBuf>,
}

/// The job with settings only (polyperf-archive without extra flags, the scheduler).
pub async fn run(ctx: &mut JobContext) -> Result<Stats> {
    run_with(ctx, &Options::default()).await
}

/// The job: archive finished rows older than the retention.
pub async fn run_with(ctx: &mut JobContext, options: &Options) -> Result<Stats> {
    let settings = with_dir(&ctx.settings, options.archive_dir.as_deref());
    let days = options
        .older_than_days
        .unwrap_or(settings.archive.retention_days);
    let cutoff = crate::time::days_before(ctx.now, days)?;
    let stats = archive_older_than(&mut ctx.conn, &settings, cutoff, ctx.now, ctx.dry_run)?;
    // The runner prints the figures, once.
    Ok(stats)
}

/// The settings with `archive.dir` replaced by an `--archive-dir` flag, when one was given
/// (polyperf-archive's and polyperf-cleanup's).
pub fn with_dir(settings: &Settings, dir: Option<&Path>) -> Settings {
    let mut settings = settings.clone();
    if let Some(dir) = dir {
        settings.archive.dir = dir.to_path_buf();
    }
    settings
}

/// Archives every finished row older than `cutoff` into `settings.archive.dir`, after finishing
/// whatever a crashed run left. Cleanup calls this with its emergency retention. The caller
/// holds a job lease; without one, two concurrent calls stay safe (no overwrite, compare-and-
/// delete) but may write the same rows twice.
pub fn archive_older_than(
    conn: &mut Connection,
    settings: &Settings,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<Stats> {
    let dir = settings.archive.dir.as_path();
    let cutoff = to_db(cutoff);
    let mut stats = Stats::default();
    if dry_run {
        for t in &TABLES {
            for_each_week(conn, t, &cutoff, |conn, week| {
                let n: u64 =
                    conn.query_row(&week_sql(t, "count(*)"), week.params(&cutoff), |r| r.get(0))?;
                stats.files_written += 1;
                stats.rows_archived.add(t.name, n);
                stats.rows_deleted += n;
                Ok(())
            })?;
        }
        return Ok(stats);
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating archive directory {}", dir.display()))?;
    let pages_before = page_count(conn)?;
    reconcile(conn, dir, now, &mut stats)?;
    index::index_files_archived_before(conn, dir)?;
    for t in &TABLES {
        let writer = WeekWriter {
            dir,
            table: t,
            columns: table_columns(conn, t.name)?,
            cutoff: &cutoff,
            now,
        };
        for_each_week(conn, t, &cutoff, |conn, week| {
            writer.write(conn, week, &mut stats)
        })?;
    }
    // Page by page to the end: one step of the pragma frees only one page.
    crate::db::incremental_vacuum(conn)?;
    crash_point(7);
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let pages_after = page_count(conn)?;
    stats.freed_bytes = (pages_before.saturating_sub(pages_after) * page_size).max(0) as u64;
    Ok(stats)
}

fn page_count(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA page_count", [], |r| r.get(0))?)
}

/// The test hook: `POLYPERF_FAULT_ARCHIVE_CRASH_AFTER_STEP=K` aborts the process after step K.
/// Fault points use the `POLYPERF_FAULT_` prefix, which no setting claims, so they never need
/// to be settings.
fn crash_point(step: u32) {
    let target = std::env::var("POLYPERF_FAULT_ARCHIVE_CRASH_AFTER_STEP")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok());
    if target == Some(step) {
        eprintln!("polyperf-archive: crashing after step {step} (POLYPERF_FAULT_ARCHIVE_CRASH_AFTER_STEP)");
        std::process::abort();
    }
}
