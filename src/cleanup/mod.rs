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
//!
//! Files: `space.rs` (free space, levels, the reserve file), `prune.rs` (housekeeping rows,
//! checkpoint, VACUUM), `offload.rs` (moving verified archive files), `step.rs` (the sequence).

use std::path::PathBuf;

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use crate::runner::JobContext;
use crate::time::to_db;

mod offload;
mod prune;
mod space;
mod step;

pub use crate::db::incremental_vacuum;
pub use prune::Pruned;
pub use space::{level, reserve_path, statvfs, Level, Space};
pub use step::Step;

use offload::offload;
use prune::{
    aggressive_cutoffs, checkpoint, count_prunable, full_vacuum_if_room, prune, retention_cutoffs,
};
use space::{ensure_reserve, release_reserve, Guard, Measure};

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
    pub steps: Vec<Step>,
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
    /// What `PRAGMA quick_check` found (`ok`, `damaged`, `incomplete`, `failed`); absent when
    /// `cleanup.integrity_check_secs` is 0. Damaged or failed: an alert, and exit 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrity: Option<crate::integrity::Verdict>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrity_problems: Option<String>,
}

/// Job flags beyond the common ones.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Overrides `archive.dir`.
    pub archive_dir: Option<PathBuf>,
}

/// The job with settings only (polyperf-cleanup without extra flags, the scheduler).
pub async fn run(ctx: &mut JobContext) -> Result<Stats> {
    run_with(ctx, &Options::default()).await
}

/// The job: routine prune, then the emergency sequence when free space is under a threshold.
pub async fn run_with(ctx: &mut JobContext, options: &Options) -> Result<Stats> {
    let settings = crate::archive::with_dir(&ctx.settings, options.archive_dir.as_deref());
    let guard = Guard {
        settings: &settings,
        db: settings.general.db.clone(),
        archive_dir: settings.archive.dir.clone(),
    };
    let conn = &mut ctx.conn;
    let now = ctx.now;
    let mut stats = Stats::default();

    let start = guard.measure()?;
    stats.free_bytes_before = start.free_bytes;
    stats.free_percent_before = start.free_percent;
    stats.warning = start.level < Level::Ok;

    if ctx.dry_run {
        dry_run(conn, &guard, start, now, &mut stats)?;
        return Ok(stats);
    }

    // Routine, every run. A failure here (a full disk can refuse even a DELETE) is reported and
    // the emergency sequence still gets its chance.
    if let Err(e) = routine(conn, &guard, now, &mut stats) {
        let message = crate::error::one_line(&e);
        tracing::warn!(error = %message, "routine cleanup failed");
        stats.step_errors.push(format!("routine: {message}"));
    }

    let current = guard.measure()?;
    if current.level == Level::Below {
        emergency(conn, &guard, current, now, &mut stats)?;
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
    report(conn, &guard, &stats, now)?;
    let check = check_integrity(conn, &settings, now);
    stats.integrity = check.as_ref().map(|c| c.result);
    match check {
        Some(c) if c.result.is_alarm() => {
            stats.integrity_problems = c.problems.clone();
            Err(crate::runner::failed_with(
                integrity_failure(&settings, &c),
                &stats,
            ))
        }
        _ => Ok(stats),
    }
}

/// Runs `PRAGMA quick_check` within `cleanup.integrity_check_secs`, records the result and,
/// when the database is damaged (or could not be checked), queues an alert (one a day). A
/// database too damaged to record in is still reported: the run fails naming the problem.
fn check_integrity(
    conn: &mut Connection,
    settings: &crate::config::Settings,
    now: DateTime<Utc>,
) -> Option<crate::integrity::Check> {
    let secs = settings.cleanup.integrity_check_secs;
    if secs == 0 {
        return None;
    }
    let check = crate::integrity::quick_check(conn, std::time::Duration::from_secs(secs), now);
    let (result, elapsed_ms) = (check.result.as_str(), check.elapsed_ms);
    if check.result == crate::integrity::Verdict::Incomplete {
        tracing::warn!(elapsed_ms, "integrity check stopped at its time limit");
    } else {
        tracing::info!(result, elapsed_ms, "integrity check");
    }
    let recorded = crate::db::write_tx(conn).and_then(|tx| {
        crate::integrity::record(&tx, &check)?;
        if check.result.is_alarm() {
            let alert = crate::outbox::Message::JobFailure(crate::outbox::message::JobFailure {
                unit: "polyperf-cleanup".into(),
                result: Some(format!("integrity check: {result}")),
                exit_status: None,
                host: Some(crate::host::current().host),
            });
            let key = format!("integrity:{}", now.format("%Y-%m-%d"));
            crate::outbox::enqueue(&tx, &settings.telegram.notify, &alert, Some(&key), now)?;
        }
        tx.commit()?;
        Ok(())
    });
    if let Err(e) = recorded {
        tracing::error!(error = %crate::error::one_line(&e), "could not record the integrity check");
    }
    Some(check)
}

/// The run's error when the check found damage or could not run: what, and what to do.
fn integrity_failure(settings: &crate::config::Settings, c: &crate::integrity::Check) -> String {
    format!(
        "integrity check {} ({}): stop the jobs, copy {db} (with any -wal file) aside, run `sqlite3 {db} 'PRAGMA integrity_check'`, then restore a backup or recover it (sqlite3 .recover)",
        c.result.as_str(),
        c.problems.as_deref().unwrap_or("no detail"),
        db = settings.general.db.display()
    )
}

/// What a run would do: the prunable rows and, under a threshold, the steps it would take.
fn dry_run(
    conn: &Connection,
    guard: &Guard<'_>,
    start: Measure,
    now: DateTime<Utc>,
    stats: &mut Stats,
) -> Result<()> {
    let c = &guard.settings.cleanup;
    stats.pruned = count_prunable(conn, &retention_cutoffs(c, now))?;
    stats.pruned_rows = stats.pruned.total();
    stats.emergency = start.level == Level::Below;
    if stats.emergency {
        stats.steps = Step::ALL.into_iter().filter(|s| s.enabled(c)).collect();
    }
    stats.free_bytes_after = start.free_bytes;
    stats.free_percent_after = start.free_percent;
    stats.below_threshold = stats.emergency;
    fill_sizes(guard, stats);
    Ok(())
}

/// The emergency sequence: step after step until free space is back above the warning level
/// and the reserve could be re-created. A failed step is reported and the next one still runs.
fn emergency(
    conn: &mut Connection,
    guard: &Guard<'_>,
    mut current: Measure,
    now: DateTime<Utc>,
    stats: &mut Stats,
) -> Result<()> {
    let c = &guard.settings.cleanup;
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
    for step in Step::ALL {
        let repaid =
            current.free_bytes >= owed + (c.min_free_bytes as f64 * c.warning_factor) as u64;
        if current.level == Level::Ok && repaid {
            break;
        }
        if !step.enabled(c) {
            continue;
        }
        if step == Step::Reserve {
            match release_reserve(&guard.db) {
                Ok(0) => continue,
                Ok(n) => owed = n,
                Err(e) => stats
                    .step_errors
                    .push(format!("reserve: {}", crate::error::one_line(&e))),
            }
            stats.steps.push(step);
            current = guard.measure()?;
            tracing::info!(
                step = step.as_str(),
                free_bytes = current.free_bytes,
                "emergency step done: reserve file released"
            );
            continue;
        }
        if let Err(e) = emergency_step(conn, guard, step, now, stats) {
            let message = crate::error::one_line(&e);
            tracing::warn!(step = step.as_str(), error = %message, "emergency step failed");
            stats.step_errors.push(format!("{step}: {message}"));
        }
        stats.steps.push(step);
        current = guard.measure()?;
        tracing::info!(
            step = step.as_str(),
            free_bytes = current.free_bytes,
            level = ?current.level,
            "emergency step done"
        );
    }
    Ok(())
}

/// The end of a run: the disk notification when there was anything to say, and the failure
/// (with what takes the space) when free space is still under a threshold.
fn report(
    conn: &mut Connection,
    guard: &Guard<'_>,
    stats: &Stats,
    now: DateTime<Utc>,
) -> Result<()> {
    let failure = stats
        .below_threshold
        .then(|| taking_space(conn, guard, stats, &guard.settings.cleanup));
    if stats.emergency || stats.warning {
        if let Err(e) = notify(
            conn,
            &guard.settings.telegram.notify,
            stats,
            failure.as_deref(),
            now,
        ) {
            let message = crate::error::one_line(&e);
            tracing::error!(error = %message, "could not queue the disk notification");
            if failure.is_none() {
                return Err(e.context("queuing the disk notification"));
            }
        }
    }
    if let Some(message) = failure {
        // The runner prints the error once, with these figures under --json.
        return Err(crate::runner::failed_with(message, stats));
    }
    // The runner prints the figures, once.
    Ok(())
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

/// One step of the emergency sequence after the reserve (see [`Step`]).
fn emergency_step(
    conn: &mut Connection,
    guard: &Guard<'_>,
    step: Step,
    now: DateTime<Utc>,
    stats: &mut Stats,
) -> Result<()> {
    let c = &guard.settings.cleanup;
    match step {
        // The reserve is released by the sequence itself (it needs no database).
        Step::Reserve => {}
        Step::Checkpoint => checkpoint(conn)?,
        Step::Prune => {
            prune(conn, &aggressive_cutoffs(now), &mut stats.pruned)?;
            incremental_vacuum(conn)?;
            checkpoint(conn)?;
        }
        Step::Archive => {
            let cutoff = crate::time::days_before(now, c.emergency_retention_days)?;
            let a = crate::archive::archive_older_than(conn, guard.settings, cutoff, now, false)?;
            stats.archived_rows += a.rows_deleted;
            checkpoint(conn)?;
        }
        Step::Vacuum => {
            incremental_vacuum(conn)?;
            checkpoint(conn)?;
            full_vacuum_if_room(conn, guard)?;
        }
        Step::Offload => {
            if let Some(to) = &c.archive_offload_dir {
                stats.offloaded_files += offload(conn, guard, to, now)?;
            }
        }
    }
    Ok(())
}

fn fill_sizes(guard: &Guard<'_>, stats: &mut Stats) {
    let (db, wal) = crate::db::file_sizes(&guard.db);
    stats.db_bytes = db;
    stats.wal_bytes = wal;
    stats.archive_bytes = guard.archive_bytes();
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
            step_names(&stats.steps)
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

/// `reserve, checkpoint, prune`.
fn step_names(steps: &[Step]) -> String {
    steps
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Queues the disk notification in its own committed transaction, and says it on stderr.
fn notify(
    conn: &mut Connection,
    policy: &crate::config::Notify,
    stats: &Stats,
    failure: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    use crate::outbox::message::DiskLevel;
    let level = if stats.below_threshold {
        DiskLevel::Critical
    } else if stats.emergency {
        DiskLevel::Recovered
    } else {
        DiskLevel::Warning
    };
    let summary = match (failure, stats.emergency) {
        (Some(f), _) => f.to_string(),
        (None, true) => format!(
            "free space was under the threshold; after {} it is back to {} ({:.1}% free)",
            step_names(&stats.steps),
            crate::words::bytes(stats.free_bytes_after),
            stats.free_percent_after
        ),
        (None, false) => format!(
            "free space {} ({:.1}% free) is under the warning level",
            crate::words::bytes(stats.free_bytes_after),
            stats.free_percent_after
        ),
    };
    let report = crate::outbox::message::DiskReport {
        level,
        summary: summary.clone(),
        free_bytes_before: stats.free_bytes_before,
        free_bytes_after: stats.free_bytes_after,
        free_percent_before: stats.free_percent_before,
        free_percent_after: stats.free_percent_after,
        steps: stats.steps.iter().map(|s| s.as_str().to_string()).collect(),
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
        eprintln!("polyperf-cleanup: disk {}: {summary}", level.as_str());
    }
    let tx = crate::db::write_tx(conn)?;
    let message = crate::outbox::Message::Disk(report);
    crate::outbox::enqueue(&tx, policy, &message, Some(&key), now)?;
    tx.commit()?;
    Ok(())
}
