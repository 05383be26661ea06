//! polyperf-cleanup: the disk-space guard. Measures free space, prunes housekeeping rows past
//! their retention, and when space runs low runs the emergency sequence. It never touches pending
//! decisions, proposals, parameter history or reflections, and never deletes an archive file
//! without a verified copy (trades only ever leave through the archive).
//!
//! What "housekeeping" means here: `sent` outbox rows (already delivered; `failed` ones are kept
//! as the operator's evidence and leave only through the archive), finished `job_runs` except
//! failures and each job's latest run, the candle cache (`prices`, refetchable), and resolved
//! `markets` cache rows no pending decision refers to. Pruning sent outbox rows before or after
//! the weekly archive loses nothing either way, so the prune does not wait for the archive.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::Settings;
use crate::runner::JobContext;
use crate::time::to_db;

/// Rows deleted per write transaction; the trader's writes get in between two batches.
const BATCH: i64 = 2000;

/// Emergency steps, in the order they run.
pub const STEPS: [&str; 6] = [
    "reserve",
    "checkpoint",
    "prune",
    "archive",
    "vacuum",
    "offload",
];

/// What a run did: the `--json` object of polyperf-cleanup.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    /// Free bytes on the fullest of the watched filesystems (database, archive) at the start.
    pub free_bytes_before: u64,
    pub free_bytes_after: u64,
    /// Free space as a percentage of its filesystem (the same filesystem as the bytes).
    pub free_percent_before: f64,
    pub free_percent_after: f64,
    /// Whether the emergency sequence ran (free space was under a threshold).
    pub emergency: bool,
    /// Emergency steps that ran, in order (empty outside an emergency).
    pub steps: Vec<String>,
    pub pruned_rows: u64,
    pub archived_rows: u64,
    pub offloaded_files: u64,
    /// Free space under the warning level (thresholds × `warning_factor`) at the start.
    pub warning: bool,
    /// Still under a threshold at the end (the run then fails with exit 1).
    pub below_threshold: bool,
    /// Sizes at the end.
    pub db_bytes: u64,
    pub wal_bytes: u64,
    pub archive_bytes: u64,
    /// Rows pruned per table.
    pub pruned: Pruned,
    /// Waiting outbox messages dropped to keep at most 1,000 waiting (see `outbox`).
    pub outbox_dropped: u64,
    /// Steps that failed, with why (`"archive: ..."`); the sequence goes on after a failure.
    pub step_errors: Vec<String>,
}

/// Rows pruned per table.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Pruned {
    pub outbox: u64,
    pub job_runs: u64,
    pub prices: u64,
    pub markets: u64,
}

impl Pruned {
    fn total(&self) -> u64 {
        self.outbox + self.job_runs + self.prices + self.markets
    }
}

/// Job flags beyond the common ones.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Overrides `archive.dir`.
    pub archive_dir: Option<PathBuf>,
}

/// Free space of one filesystem.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Space {
    pub free_bytes: u64,
    pub total_bytes: u64,
}

impl Space {
    pub fn free_percent(&self) -> f64 {
        if self.total_bytes == 0 {
            return 100.0;
        }
        self.free_bytes as f64 * 100.0 / self.total_bytes as f64
    }
}

/// Where free space stands against the thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Below,
    Warning,
    Ok,
}

/// The level of one filesystem: under either threshold is `Below`; under either times
/// `factor` is `Warning`.
pub fn level(space: Space, min_bytes: u64, min_percent: f64, factor: f64) -> Level {
    let under = |f: f64| {
        (space.free_bytes as f64) < min_bytes as f64 * f || space.free_percent() < min_percent * f
    };
    if under(1.0) {
        Level::Below
    } else if under(factor.max(1.0)) {
        Level::Warning
    } else {
        Level::Ok
    }
}

/// `statvfs` of the filesystem holding `path` (or its nearest existing ancestor).
pub fn statvfs(path: &Path) -> Result<Space> {
    let mut p = path.to_path_buf();
    while !p.exists() {
        match p.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => p = parent.to_path_buf(),
            _ => {
                p = PathBuf::from(".");
                break;
            }
        }
    }
    let c = CString::new(p.as_os_str().as_bytes())
        .with_context(|| format!("path {} contains a NUL byte", p.display()))?;
    // SAFETY: `c` is a valid NUL-terminated path and `s` a properly sized, writable struct.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut s) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("statvfs {}", p.display()));
    }
    let frsize = s.f_frsize as u64;
    Ok(Space {
        free_bytes: s.f_bavail as u64 * frsize,
        total_bytes: s.f_blocks as u64 * frsize,
    })
}

/// One measurement of both watched filesystems.
#[derive(Debug, Clone, Copy)]
struct Measure {
    level: Level,
    /// Free bytes of the filesystem nearest to (or furthest under) its threshold.
    free_bytes: u64,
    free_percent: f64,
}

struct Guard<'a> {
    settings: &'a Settings,
    db: PathBuf,
    archive_dir: PathBuf,
}

impl Guard<'_> {
    fn measure(&self) -> Result<Measure> {
        let c = &self.settings.cleanup;
        let mut out: Option<Measure> = None;
        for path in [self.db.as_path(), self.archive_dir.as_path()] {
            let space = statvfs(path)?;
            let lvl = level(
                space,
                c.min_free_bytes,
                c.min_free_percent,
                c.warning_factor,
            );
            let m = Measure {
                level: lvl,
                free_bytes: space.free_bytes,
                free_percent: (space.free_percent() * 100.0).round() / 100.0,
            };
            out = Some(match out {
                Some(o) if (o.level, o.free_bytes) <= (m.level, m.free_bytes) => o,
                _ => m,
            });
        }
        Ok(out.expect("two paths measured"))
    }

    fn archive_bytes(&self) -> u64 {
        std::fs::read_dir(&self.archive_dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.metadata().ok())
                    .filter(|m| m.is_file())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }
}

/// The job with settings only (polyperf-cleanup without extra flags, the scheduler).
pub async fn run(ctx: &mut JobContext) -> Result<Stats> {
    run_with(ctx, &Options::default()).await
}

/// The job: routine prune, then the emergency sequence when free space is under a threshold.
pub async fn run_with(ctx: &mut JobContext, options: &Options) -> Result<Stats> {
    if let Some(dir) = &options.archive_dir {
        ctx.settings.archive.dir = dir.clone();
    }
    let settings = ctx.settings.clone();
    let guard = Guard {
        settings: &settings,
        db: settings.general.db.clone(),
        archive_dir: settings.archive.dir.clone(),
    };
    let conn = &mut ctx.conn;
    let now = ctx.now;
    let c = &settings.cleanup;
    let mut stats = Stats::default();

    let start = guard.measure()?;
    stats.free_bytes_before = start.free_bytes;
    stats.free_percent_before = start.free_percent;
    stats.warning = start.level < Level::Ok;

    if ctx.dry_run {
        let routine = retention_cutoffs(c, now);
        stats.pruned = count_prunable(conn, &routine)?;
        stats.pruned_rows = stats.pruned.total();
        stats.emergency = start.level == Level::Below;
        if stats.emergency {
            stats.steps = STEPS
                .iter()
                .filter(|s| **s != "offload" || c.archive_offload_dir.is_some())
                .map(|s| s.to_string())
                .collect();
        }
        stats.free_bytes_after = start.free_bytes;
        stats.free_percent_after = start.free_percent;
        stats.below_threshold = stats.emergency;
        fill_sizes(&guard, &mut stats);
        return Ok(stats);
    }

    // Routine, every run. A failure here (a full disk can refuse even a DELETE) is reported and
    // the emergency sequence still gets its chance.
    if let Err(e) = routine(conn, &guard, now, &mut stats) {
        let message = crate::error::one_line(&e);
        tracing::warn!(error = %message, "routine cleanup failed");
        stats.step_errors.push(format!("routine: {message}"));
    }

    let mut current = guard.measure()?;
    if current.level == Level::Below {
        stats.emergency = true;
        tracing::warn!(
            free_bytes = current.free_bytes,
            min_free_bytes = c.min_free_bytes,
            min_free_percent = c.min_free_percent,
            "free space under the threshold: running the emergency sequence"
        );
        // Space taken from the reserve file is owed: the sequence goes on until the reserve
        // could be re-created, not just until the freed ballast lifts the level.
        let mut owed = 0;
        for step in STEPS {
            let repaid =
                current.free_bytes >= owed + (c.min_free_bytes as f64 * c.warning_factor) as u64;
            if current.level == Level::Ok && repaid {
                break;
            }
            if step == "offload" && c.archive_offload_dir.is_none() {
                continue;
            }
            if step == "reserve" {
                match release_reserve(&guard.db) {
                    Ok(0) => continue,
                    Ok(n) => owed = n,
                    Err(e) => stats
                        .step_errors
                        .push(format!("reserve: {}", crate::error::one_line(&e))),
                }
                stats.steps.push(step.to_string());
                current = guard.measure()?;
                tracing::info!(
                    step,
                    free_bytes = current.free_bytes,
                    "emergency step done: reserve file released"
                );
                continue;
            }
            // A failed step is reported and the next one still runs.
            if let Err(e) = emergency_step(conn, &guard, step, now, &mut stats) {
                let message = crate::error::one_line(&e);
                tracing::warn!(step, error = %message, "emergency step failed");
                stats.step_errors.push(format!("{step}: {message}"));
            }
            stats.steps.push(step.to_string());
            current = guard.measure()?;
            tracing::info!(
                step,
                free_bytes = current.free_bytes,
                level = ?current.level,
                "emergency step done"
            );
        }
    }
    if let Err(e) = ensure_reserve(&guard) {
        tracing::warn!(error = %crate::error::one_line(&e), "could not create the reserve file");
    }
    let current = guard.measure()?;
    stats.pruned_rows = stats.pruned.total();
    stats.free_bytes_after = current.free_bytes;
    stats.free_percent_after = current.free_percent;
    stats.below_threshold = current.level == Level::Below;
    fill_sizes(&guard, &mut stats);

    let failure = stats
        .below_threshold
        .then(|| taking_space(conn, &guard, &stats, c));
    if stats.emergency || stats.warning {
        if let Err(e) = notify(conn, &stats, failure.as_deref(), now) {
            let message = crate::error::one_line(&e);
            tracing::error!(error = %message, "could not queue the disk notification");
            if failure.is_none() {
                return Err(e.context("queuing the disk notification"));
            }
        }
    }
    if let Some(message) = failure {
        // The runner prints the error once, with these figures under --json.
        return Err(crate::runner::failed_with(message, &stats));
    }
    tracing::info!(
        free_bytes_before = stats.free_bytes_before,
        free_bytes_after = stats.free_bytes_after,
        pruned_rows = stats.pruned_rows,
        archived_rows = stats.archived_rows,
        offloaded_files = stats.offloaded_files,
        "cleanup finished"
    );
    Ok(stats)
}

/// Prune past retention, checkpoint a large WAL, give free pages back.
fn routine(
    conn: &mut Connection,
    guard: &Guard<'_>,
    now: DateTime<Utc>,
    stats: &mut Stats,
) -> Result<()> {
    let c = &guard.settings.cleanup;
    let tx = crate::db::write_tx(conn)?;
    stats.outbox_dropped += crate::outbox::enforce_bound(&tx)?;
    tx.commit()?;
    prune(conn, &retention_cutoffs(c, now), &mut stats.pruned)?;
    incremental_vacuum(conn)?;
    // In WAL mode the file only shrinks when the vacuum's pages are checkpointed.
    let (_, wal) = crate::db::file_sizes(&guard.db);
    if wal > c.wal_checkpoint_bytes || stats.pruned.total() > 0 {
        checkpoint(conn)?;
    }
    Ok(())
}

/// The ballast file beside the database (see `cleanup.reserve_bytes`).
pub fn reserve_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".reserve");
    PathBuf::from(p)
}

/// Deletes the reserve file; returns how many bytes it held (0 when there was none).
fn release_reserve(db: &Path) -> Result<u64> {
    let path = reserve_path(db);
    let Ok(meta) = std::fs::metadata(&path) else {
        return Ok(0);
    };
    remove_and_sync(&path)?;
    tracing::warn!(
        bytes = meta.len(),
        "released the reserve file to give SQLite room"
    );
    Ok(meta.len())
}

/// Creates the reserve file (really allocated, not sparse) when it is missing and the space
/// allows it without coming near the warning level.
fn ensure_reserve(guard: &Guard<'_>) -> Result<()> {
    let c = &guard.settings.cleanup;
    let path = reserve_path(&guard.db);
    if c.reserve_bytes == 0 || path.exists() {
        return Ok(());
    }
    let space = statvfs(&guard.db)?;
    let after = Space {
        free_bytes: space.free_bytes.saturating_sub(c.reserve_bytes),
        ..space
    };
    if level(
        after,
        c.min_free_bytes,
        c.min_free_percent,
        c.warning_factor,
    ) != Level::Ok
    {
        return Ok(());
    }
    let tmp = path.with_extension("reserve.tmp");
    let file = std::fs::File::create(&tmp)?;
    use std::os::fd::AsRawFd;
    // SAFETY: a valid open file descriptor; posix_fallocate only allocates blocks for it.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, c.reserve_bytes as libc::off_t) };
    if rc != 0 {
        drop(file);
        let _ = std::fs::remove_file(&tmp);
        anyhow::bail!(
            "allocating {} bytes for {}: error {rc}",
            c.reserve_bytes,
            path.display()
        );
    }
    file.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    tracing::info!(bytes = c.reserve_bytes, path = %path.display(), "created the reserve file");
    Ok(())
}

/// One step of the emergency sequence (see [`STEPS`]).
fn emergency_step(
    conn: &mut Connection,
    guard: &Guard<'_>,
    step: &str,
    now: DateTime<Utc>,
    stats: &mut Stats,
) -> Result<()> {
    let c = &guard.settings.cleanup;
    match step {
        "checkpoint" => checkpoint(conn)?,
        "prune" => {
            prune(conn, &aggressive_cutoffs(now), &mut stats.pruned)?;
            incremental_vacuum(conn)?;
            checkpoint(conn)?;
        }
        "archive" => {
            let cutoff = crate::time::days_before(now, c.emergency_retention_days)?;
            let a = crate::archive::archive_older_than(conn, guard.settings, cutoff, now, false)?;
            stats.archived_rows += a.rows_deleted;
            checkpoint(conn)?;
        }
        "vacuum" => {
            incremental_vacuum(conn)?;
            checkpoint(conn)?;
            full_vacuum_if_room(conn, guard)?;
        }
        "offload" => {
            if let Some(to) = &c.archive_offload_dir {
                stats.offloaded_files += offload(conn, guard, to, now)?;
            }
        }
        other => unreachable!("unknown step {other}"),
    }
    Ok(())
}

fn fill_sizes(guard: &Guard<'_>, stats: &mut Stats) {
    let (db, wal) = crate::db::file_sizes(&guard.db);
    stats.db_bytes = db;
    stats.wal_bytes = wal;
    stats.archive_bytes = guard.archive_bytes();
}

/// Cutoffs (DB time text) per table; rows strictly older are pruned.
struct Cutoffs {
    outbox: String,
    job_runs: String,
    prices_ms: i64,
    markets: String,
}

fn retention_cutoffs(c: &crate::config::Cleanup, now: DateTime<Utc>) -> Cutoffs {
    let days = |d: u32| crate::time::days_before(now, d).unwrap_or(DateTime::<Utc>::MIN_UTC);
    Cutoffs {
        outbox: to_db(days(c.outbox_retention_days)),
        job_runs: to_db(days(c.job_runs_retention_days)),
        prices_ms: days(c.prices_retention_days).timestamp_millis(),
        markets: to_db(days(c.prices_retention_days)),
    }
}

/// The emergency prune: everything housekeeping older than a day.
fn aggressive_cutoffs(now: DateTime<Utc>) -> Cutoffs {
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
/// Resolved markets whose window ended before the cutoff and no pending decision refers to.
const MARKETS_WHERE: &str = "closed = 1 AND outcome IS NOT NULL AND window_end < ?1
     AND slug NOT IN (SELECT market_slug FROM trades WHERE settlement_status = 'pending')";

fn count_prunable(conn: &Connection, cut: &Cutoffs) -> Result<Pruned> {
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
fn prune(conn: &mut Connection, cut: &Cutoffs, pruned: &mut Pruned) -> Result<()> {
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
fn checkpoint(conn: &Connection) -> Result<()> {
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

pub use crate::db::incremental_vacuum;

/// A full VACUUM rewrites the whole database through the WAL, so it needs about twice its size
/// free; with less it would fail and could fill the disk, so it is skipped.
fn full_vacuum_if_room(conn: &Connection, guard: &Guard<'_>) -> Result<()> {
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

/// Moves the oldest verified archive files to `to`, one at a time, until free space is above
/// the warning level: copy, fsync, check the copy's SHA-256 against the manifest, record
/// `offloaded_to`, then delete the original. A file whose copy does not match stays put.
fn offload(conn: &mut Connection, guard: &Guard<'_>, to: &Path, now: DateTime<Utc>) -> Result<u64> {
    std::fs::create_dir_all(to)
        .with_context(|| format!("creating offload directory {}", to.display()))?;
    let mut moved = 0;
    // A previous run may have recorded a copy and died before deleting the original.
    finish_offloads(conn, guard)?;
    let candidates: Vec<(String, String)> = {
        let mut stmt = conn.prepare(
            "SELECT file_name, sha256 FROM archives
             WHERE verified_at IS NOT NULL AND offloaded_to IS NULL
             ORDER BY created_at, id",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (name, sha) in candidates {
        if guard.measure()?.level == Level::Ok {
            break;
        }
        let src = guard.archive_dir.join(&name);
        if !src.exists() {
            tracing::warn!(file = %name, "verified archive file missing; not offloaded");
            continue;
        }
        if sha256_of(&src)? != sha {
            tracing::warn!(file = %name, "archive file no longer matches its manifest; not offloaded");
            continue;
        }
        let dest = to.join(&name);
        if let Err(e) = copy_verified(&src, &dest, &sha) {
            tracing::warn!(file = %name, error = %crate::error::one_line(&e), "offload copy failed; original kept");
            continue;
        }
        let dest_text = dest.to_string_lossy().into_owned();
        let tx = crate::db::write_tx(conn)?;
        tx.execute(
            "UPDATE archives SET offloaded_to = ?1 WHERE file_name = ?2",
            params![dest_text, name],
        )?;
        tx.commit()?;
        remove_and_sync(&src)?;
        tracing::info!(file = %name, to = %dest_text, at = %to_db(now), "archive file offloaded");
        moved += 1;
    }
    Ok(moved)
}

/// Deletes originals whose offloaded copy was recorded (and still verifies).
fn finish_offloads(conn: &Connection, guard: &Guard<'_>) -> Result<()> {
    let rows: Vec<(String, String, String)> = {
        let mut stmt = conn.prepare(
            "SELECT file_name, sha256, offloaded_to FROM archives WHERE offloaded_to IS NOT NULL",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (name, sha, to) in rows {
        let src = guard.archive_dir.join(&name);
        let to = PathBuf::from(to);
        let copy = if to.is_dir() { to.join(&name) } else { to };
        if !src.exists() || copy == src {
            continue;
        }
        if copy.exists() && sha256_of(&copy)? == sha {
            remove_and_sync(&src)?;
        } else if sha256_of(&src)? == sha {
            // The recorded copy is gone or damaged: the original is the file again.
            tracing::warn!(file = %name, copy = %copy.display(), "offloaded copy missing or damaged; keeping the original");
            conn.execute(
                "UPDATE archives SET offloaded_to = NULL WHERE file_name = ?1",
                params![name],
            )?;
        }
    }
    Ok(())
}

/// Copies `src` to `dest` through a temp name, fsyncs file and directory, then checks the copy
/// read back from disk against `sha`. On a mismatch the copy is removed and an error returned.
fn copy_verified(src: &Path, dest: &Path, sha: &str) -> Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let tmp = dest.with_extension("offload-tmp");
    let copied = (|| -> Result<()> {
        let mut from = File::open(src).with_context(|| format!("opening {}", src.display()))?;
        let mut out = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        std::io::copy(&mut from, &mut out).context("copying")?;
        out.flush()?;
        out.sync_all().context("fsync of the copy")?;
        Ok(())
    })();
    if let Err(e) = copied {
        // A half-written copy (a full offload disk) must not stay behind.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if dest.exists() {
        // A copy from an earlier attempt: keep it only if it is intact.
        if sha256_of(dest)? != sha {
            std::fs::remove_file(dest)?;
        }
    }
    std::fs::rename(&tmp, dest).context("renaming the copy")?;
    File::open(dir)?
        .sync_all()
        .context("fsync of the offload directory")?;
    let got = sha256_of(dest)?;
    if got != sha {
        let _ = std::fs::remove_file(dest);
        return Err(anyhow!(
            "copy {} has sha256 {got}, the manifest says {sha}",
            dest.display()
        ));
    }
    Ok(())
}

fn remove_and_sync(path: &Path) -> Result<()> {
    std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn sha256_of(path: &Path) -> Result<String> {
    let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// Tables reported by row count when space could not be recovered.
const TABLES: [&str; 8] = [
    "trades",
    "outbox",
    "job_runs",
    "prices",
    "markets",
    "reflections",
    "proposals",
    "parameter_history",
];

/// "What is taking the space": sizes and the biggest tables by row count.
fn taking_space(
    conn: &Connection,
    guard: &Guard<'_>,
    stats: &Stats,
    c: &crate::config::Cleanup,
) -> String {
    let mut counts: Vec<(&str, i64)> = TABLES
        .iter()
        .filter_map(|t| {
            // Table names come from the constant list above, never from input.
            let n = conn
                .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
                .optional()
                .ok()??;
            Some((*t, n))
        })
        .collect();
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    let tables = counts
        .iter()
        .take(4)
        .map(|(t, n)| format!("{t} {n} rows"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "free space still under the threshold after {}: {} bytes ({}%) free (minimum {} bytes and {}%); \
         taking the space: database {} bytes, WAL {} bytes, archive {} bytes ({}); biggest tables: {tables}{}",
        if stats.steps.is_empty() {
            "no step".to_string()
        } else {
            stats.steps.join(", ")
        },
        stats.free_bytes_after,
        stats.free_percent_after,
        c.min_free_bytes,
        c.min_free_percent,
        stats.db_bytes,
        stats.wal_bytes,
        stats.archive_bytes,
        guard.archive_dir.display(),
        if stats.step_errors.is_empty() {
            String::new()
        } else {
            format!("; failed: {}", stats.step_errors.join("; "))
        },
    )
}

/// Queues the disk notification in its own committed transaction, and says it on stderr.
fn notify(
    conn: &mut Connection,
    stats: &Stats,
    failure: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    let level = if stats.below_threshold {
        "critical"
    } else if stats.emergency {
        "recovered"
    } else {
        "warning"
    };
    let summary = match (failure, stats.emergency) {
        (Some(f), _) => f.to_string(),
        (None, true) => format!(
            "free space was under the threshold; after {} it is back to {} bytes",
            stats.steps.join(", "),
            stats.free_bytes_after
        ),
        (None, false) => format!(
            "free space {} bytes is under the warning level",
            stats.free_bytes_after
        ),
    };
    let report = crate::outbox::message::DiskReport {
        level: level.to_string(),
        summary: summary.clone(),
        free_bytes_before: stats.free_bytes_before,
        free_bytes_after: stats.free_bytes_after,
        free_percent_before: stats.free_percent_before,
        free_percent_after: stats.free_percent_after,
        steps: stats.steps.clone(),
        pruned_rows: stats.pruned_rows,
        archived_rows: stats.archived_rows,
        offloaded_files: stats.offloaded_files,
        db_bytes: stats.db_bytes,
        wal_bytes: stats.wal_bytes,
        archive_bytes: stats.archive_bytes,
        step_errors: stats.step_errors.clone(),
    };
    // An emergency is reported every run; a mere warning once a day.
    let key = if stats.emergency {
        format!("disk:{}", to_db(now))
    } else {
        format!("disk-warning:{}", now.format("%Y-%m-%d"))
    };
    // stderr first (the journal): on a full disk the outbox insert itself may fail. A failure
    // is said by the runner, once.
    if failure.is_none() {
        eprintln!("polyperf-cleanup: disk {level}: {summary}");
    }
    let tx = crate::db::write_tx(conn)?;
    let message = crate::outbox::Message::Disk(report);
    crate::outbox::enqueue(&tx, &message, Some(&key), now)?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        let gib = 1u64 << 30;
        let cases = [
            // free, total, min_bytes, min_percent, factor, expected
            (10 * gib, 100 * gib, gib, 5.0, 1.5, Level::Ok),
            (gib / 2, 100 * gib, gib, 5.0, 1.5, Level::Below),
            (gib + gib / 4, 100 * gib, gib, 1.0, 1.5, Level::Warning),
            (4 * gib, 100 * gib, gib, 5.0, 1.5, Level::Below),
            (6 * gib, 100 * gib, gib, 5.0, 1.5, Level::Warning),
            (8 * gib, 100 * gib, gib, 5.0, 1.5, Level::Ok),
            (6 * gib, 100 * gib, gib, 5.0, 1.0, Level::Ok),
            (0, 0, 0, 0.0, 1.5, Level::Ok),
        ];
        for (free, total, min_bytes, min_percent, factor, want) in cases {
            let space = Space {
                free_bytes: free,
                total_bytes: total,
            };
            assert_eq!(
                level(space, min_bytes, min_percent, factor),
                want,
                "{free}/{total} min {min_bytes} {min_percent}% ×{factor}"
            );
        }
    }

    #[test]
    fn statvfs_reports_space() {
        let dir = tempfile::tempdir().unwrap();
        let s = statvfs(&dir.path().join("missing/child")).unwrap();
        assert!(s.total_bytes > 0 && s.free_bytes <= s.total_bytes);
    }
}
