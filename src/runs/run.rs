//! One run of a job, from a binary (`cli::job`), the scheduler's tick or the demo: open the
//! database, take the lease and record the start, run the job function, record the end and
//! release the lease, print, and return the exit code. It lives with the tables it writes
//! (the lowest layer that may write them); what it prints and how is the runner's.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::RunEnd;
use crate::config::Settings;
use crate::error::{exit_code_for, one_line};
use crate::runner::{self, Ended, Job, JobContext, JobFuture};

/// A clock: the wall clock (`Utc::now`) in every binary, passed in so that no library code
/// reads the time itself.
pub type Clock = fn() -> DateTime<Utc>;

/// How a run is asked for (by a job binary, `cli::job::main`, or by the scheduler's tick).
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// The job's idea of now: `--now`, else the clock when the run was asked for.
    pub now: DateTime<Utc>,
    /// The clock the lease and the `job_runs` times go by, never `--now`: the lease guards real
    /// processes, whatever time a rerun pretends it is.
    pub clock: Clock,
    /// Compute and print, write nothing (not even the lease or the run record).
    pub dry_run: bool,
    /// Print the result as one JSON object.
    pub json: bool,
}

/// What taking the lease came to.
enum Start {
    /// The lease is ours and the run recorded under this id.
    Recorded(i64),
    /// A dry run, or a full disk: the job runs without a lease or a record.
    Unrecorded,
    /// Another run holds the lease, or the lease could not be taken: this exit code.
    Refused(u8),
}

/// A job's run (the body of a job binary, `cli::job::main`, and of each scheduled run): open,
/// lock, record, run, record, print. Returns the exit code.
pub async fn run<S, F>(which: Job, settings: Settings, run: Run, job: F) -> u8
where
    S: Serialize,
    F: for<'a> FnOnce(&'a mut JobContext) -> JobFuture<'a, S>,
{
    let name = which.binary();
    let secrets = settings.secrets();
    let scrub = |text: &str| crate::config::scrub_secrets(text, &secrets);
    let span = tracing::info_span!("job", job = name);
    let _enter = span.enter();
    let conn = match crate::db::open(&settings.general.db) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{name}: error: {}", scrub(&one_line(&e)));
            return exit_code_for(&e);
        }
    };
    let mut ctx = JobContext {
        name,
        settings,
        conn,
        now: run.now,
        dry_run: run.dry_run,
        interactive: std::io::stderr().is_terminal(),
    };
    let holder = uuid::Uuid::new_v4().to_string();
    let run_id = match start(&ctx, &holder, &run, &scrub) {
        Start::Recorded(id) => Some(id),
        Start::Unrecorded => None,
        Start::Refused(code) => return code,
    };
    let lease_secs = ctx.settings.general.lock_lease_secs;
    let heartbeat = run_id.map(|_| {
        let db = ctx.settings.general.db.clone();
        spawn_heartbeat(db, name, holder.clone(), lease_secs, run.clock)
    });
    let started = std::time::Instant::now();
    let result = job(&mut ctx)
        .await
        .and_then(|figures| files_intact(&ctx, figures));
    if let Some(handle) = heartbeat {
        handle.abort();
    }
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let ended = Ended::of(&result, scrub);
    if let Some(id) = run_id {
        record_end(&ctx, id, &ended, &holder, (run.clock)(), &scrub);
    }
    match &ended.error {
        None => tracing::info!(elapsed_ms, dry_run = run.dry_run, "job finished"),
        Some(message) => tracing::error!(elapsed_ms, error = %message, "job failed"),
    }
    runner::print_ended(name, &ended, run.json, run.dry_run, scrub);
    ended.code
}

/// Takes the lease and records the start, unless the run is dry (a dry run writes nothing, not
/// even its lease or run record).
fn start(ctx: &JobContext, holder: &str, run: &Run, scrub: &impl Fn(&str) -> String) -> Start {
    if run.dry_run {
        return Start::Unrecorded;
    }
    let lease_secs = ctx.settings.general.lock_lease_secs;
    match super::begin_run(
        &ctx.conn,
        ctx.name,
        holder,
        lease_secs,
        run.now,
        (run.clock)(),
    ) {
        Ok(Some(id)) => Start::Recorded(id),
        Ok(None) => Start::Refused(runner::print_locked(ctx.name, run.json)),
        // A full disk must not stop the job that frees space (cleanup), and the other jobs
        // then fail on their own writes with a clear error; so run without a lease.
        Err(e) if runner::is_disk_full(&e) => {
            tracing::warn!("the disk is full: running without a lease or a job_runs record");
            Start::Unrecorded
        }
        Err(e) => {
            let name = ctx.name;
            eprintln!(
                "{name}: error: taking the job lease: {}",
                scrub(&one_line(&e))
            );
            Start::Refused(exit_code_for(&e))
        }
    }
}

/// Records the end of the run and releases the lease; a failure to do so is logged (the run
/// itself has ended, and the next run closes a record left open).
fn record_end(
    ctx: &JobContext,
    id: i64,
    ended: &Ended,
    holder: &str,
    at: DateTime<Utc>,
    scrub: &impl Fn(&str) -> String,
) {
    let end = RunEnd {
        id,
        code: ended.code,
        stats: ended.figures.as_deref(),
        error: ended.error.as_deref(),
        at,
    };
    if let Err(e) = super::end_run(&ctx.conn, &end, ctx.name, holder) {
        tracing::error!(error = %scrub(&one_line(&e)), "could not record the end of the run");
    }
}

/// A job's figures, unless something deleted or replaced the database or its write-ahead log
/// while it ran (SQLite never does while a connection is open): then what the job wrote is in
/// a file other processes no longer see, and reaches the database only through this process's
/// checkpoint when it closes. The run fails saying so, with its figures.
fn files_intact<S: Serialize>(ctx: &JobContext, figures: S) -> Result<S> {
    match crate::db::files_replaced(&ctx.settings.general.db) {
        None => Ok(figures),
        Some(why) => Err(runner::failed_with(
            format!("{why}: what this run wrote is checkpointed from the open file when it ends, if it can be; never delete a database's -wal or -shm file while a job runs; check it with polyperf-cleanup (integrity) and polyperf status"),
            &figures,
        )),
    }
}

/// Extends the lease while the job runs, from its own connection, every third of the lease.
fn spawn_heartbeat(
    db: PathBuf,
    job: &'static str,
    holder: String,
    lease_secs: u64,
    clock: Clock,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let period = std::time::Duration::from_secs((lease_secs / 3).max(1));
        loop {
            tokio::time::sleep(period).await;
            let Ok(conn) = crate::db::open_existing(&db) else {
                continue;
            };
            let _ = super::extend_lease(&conn, job, &holder, lease_secs, clock());
        }
    })
}
