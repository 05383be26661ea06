//! What every job's run shares, from a binary or the scheduler: tracing, the lease in
//! `job_locks`, the `job_runs` record, `--json` / human output and the exit code (SPEC §1).
//! A job itself is one library function `async fn(&mut JobContext) -> Result<Stats>`; the
//! flags and the clock come from the caller (`cli::job`, `schedule`), never from here.

use std::future::Future;
use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::config::{LogFormat, Settings};
use crate::error::{exit_code_for, one_line, Kind, EXIT_OK, EXIT_TEMPFAIL, EXIT_USAGE};
use crate::time::to_db;

/// The six job binaries. Their table of cadences and functions is `schedule::JOBS`; this is
/// only their names, which the lease, `job_runs` and `status` go by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Job {
    Settle,
    Reflect,
    Adjust,
    Telegram,
    Archive,
    Cleanup,
}

impl Job {
    pub const ALL: [Job; 6] = [
        Job::Settle,
        Job::Reflect,
        Job::Adjust,
        Job::Telegram,
        Job::Archive,
        Job::Cleanup,
    ];

    /// The binary, which is also the job's name in `job_locks` and `job_runs`.
    pub fn binary(self) -> &'static str {
        match self {
            Job::Settle => "polyperf-settle",
            Job::Reflect => "polyperf-reflect",
            Job::Adjust => "polyperf-adjust",
            Job::Telegram => "polyperf-telegram",
            Job::Archive => "polyperf-archive",
            Job::Cleanup => "polyperf-cleanup",
        }
    }

    /// The short name (`settle`), as `status` lists it.
    pub fn name(self) -> &'static str {
        let binary = self.binary();
        binary.strip_prefix("polyperf-").unwrap_or(binary)
    }
}

/// The future a job function returns, boxed so it may borrow the context:
/// `|ctx| Box::pin(polyperf::settle::run(ctx))`.
pub type JobFuture<'a, S> = std::pin::Pin<Box<dyn Future<Output = Result<S>> + 'a>>;

/// A job that failed with figures worth keeping (what it did before it failed): `--json` prints
/// them with the error, and `job_runs.stats` records them. Make one with [`failed_with`].
#[derive(Debug)]
pub struct FailedWith {
    pub message: String,
    pub stats: serde_json::Value,
}

impl std::fmt::Display for FailedWith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FailedWith {}

/// A plain failure (exit 1) that carries the job's figures, e.g. cleanup's steps when free
/// space stayed under the threshold.
pub fn failed_with(message: impl Into<String>, stats: &impl Serialize) -> anyhow::Error {
    anyhow::Error::new(FailedWith {
        message: message.into(),
        stats: serde_json::to_value(stats).unwrap_or_default(),
    })
}

/// Everything a job function gets.
pub struct JobContext {
    pub name: &'static str,
    pub settings: Settings,
    pub conn: Connection,
    pub now: DateTime<Utc>,
    pub dry_run: bool,
    /// Whether stderr is a terminal (progress output is only drawn there).
    pub interactive: bool,
}

impl JobContext {
    /// A context over an open connection (the in-process scheduler and tests use this).
    pub fn new(
        name: &'static str,
        settings: Settings,
        conn: Connection,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> JobContext {
        JobContext {
            name,
            settings,
            conn,
            now,
            dry_run,
            interactive: false,
        }
    }
}

/// Starts tracing on stderr for a job (or the scheduler): human-readable on a terminal, JSON
/// lines otherwise (journald), or as `log_format` / `POLYPERF_LOG_FORMAT` says. `RUST_LOG`
/// filters; the default is `info`.
pub fn init_tracing(log_format: LogFormat) {
    init_tracing_at(log_format, "info");
}

/// As [`init_tracing`] with another default level: the operator's commands print their answer
/// on stdout and log only warnings (`warn`) unless asked (`--verbose`, `RUST_LOG`). Then warns
/// about environment variables that look like misspelt settings (`TELEGRAM_ENABLE`).
pub fn init_tracing_at(log_format: LogFormat, default_level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let json = logs_as_json(log_format, std::io::stderr().is_terminal());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .try_init()
    };
    // A second init (tests, the scheduler) keeps the first subscriber, and has warned already.
    if result.is_ok() {
        let env: Vec<(String, String)> = std::env::vars().collect();
        for warning in crate::config::misspelt_env_names(&env) {
            tracing::warn!("{warning}");
        }
    }
}

/// Whether logs are JSON lines: `auto` (the default) is human-readable on a terminal and JSON
/// anywhere else (journald, cron's logger, a pipe); `human` and `json` force one.
pub fn logs_as_json(log_format: LogFormat, stderr_is_terminal: bool) -> bool {
    match log_format {
        LogFormat::Json => true,
        LogFormat::Human => false,
        LogFormat::Auto => !stderr_is_terminal,
    }
}

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

/// A job's run (the body of a job binary, `cli::job::main`, and of each scheduled run): open,
/// lock, record, run, record, print. Returns the exit code.
pub async fn run<S, F>(which: Job, settings: Settings, run: Run, job: F) -> u8
where
    S: Serialize,
    F: for<'a> FnOnce(&'a mut JobContext) -> JobFuture<'a, S>,
{
    let name = which.binary();
    let Run {
        now,
        clock,
        dry_run,
        json,
    } = run;
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
    let lease_secs = settings.general.lock_lease_secs;
    let mut ctx = JobContext {
        name,
        settings,
        conn,
        now,
        dry_run,
        interactive: std::io::stderr().is_terminal(),
    };

    // A dry run writes nothing, not even its lease or run record.
    let holder = uuid::Uuid::new_v4().to_string();
    let mut run_id = None;
    if !dry_run {
        match begin_run(&ctx.conn, name, &holder, lease_secs, now, clock()) {
            Ok(Some(id)) => run_id = Some(id),
            Ok(None) => return locked(name, json),
            // A full disk must not stop the job that frees space (cleanup), and the other jobs
            // then fail on their own writes with a clear error; so run without a lease.
            Err(e) if is_disk_full(&e) => {
                tracing::warn!("the disk is full: running without a lease or a job_runs record");
            }
            Err(e) => {
                eprintln!(
                    "{name}: error: taking the job lease: {}",
                    scrub(&one_line(&e))
                );
                return exit_code_for(&e);
            }
        }
    }

    let heartbeat = (!dry_run).then(|| {
        spawn_heartbeat(
            ctx.settings.general.db.clone(),
            name,
            holder.clone(),
            lease_secs,
            clock,
        )
    });
    let started = std::time::Instant::now();
    let result = job(&mut ctx)
        .await
        .and_then(|figures| files_intact(&ctx, figures));
    if let Some(handle) = heartbeat {
        handle.abort();
    }
    let elapsed_ms = started.elapsed().as_millis() as u64;

    // The figures' text keeps the job's own field order (the important first), for job_runs
    // and for people; the Value (keys sorted) is only for the failure's JSON line.
    let (code, stats, error) = match &result {
        Ok(_) => (EXIT_OK, serde_json::Value::Null, None),
        Err(e) => (
            exit_code_for(e),
            e.chain()
                .find_map(|cause| cause.downcast_ref::<FailedWith>())
                .map_or(serde_json::Value::Null, |f| f.stats.clone()),
            Some(scrub(&one_line(e))),
        ),
    };
    let figures_text = match &result {
        Ok(figures) => serde_json::to_string(figures).ok(),
        Err(_) => (!stats.is_null()).then(|| stats.to_string()),
    };
    if let Some(id) = run_id {
        let ended = RunEnd {
            id,
            code,
            stats: figures_text.as_deref(),
            error: error.as_deref(),
            at: clock(),
        };
        if let Err(e) = end_run(&ctx.conn, &ended, name, &holder) {
            tracing::error!(error = %scrub(&one_line(&e)), "could not record the end of the run");
        }
    }
    match (&result, error) {
        (Ok(_), _) => {
            // The figures are printed once, here (and kept in job_runs); the log line says
            // only that the run finished. In the job's own field order: the important first.
            tracing::info!(elapsed_ms, dry_run, "job finished");
            let text = scrub(figures_text.as_deref().unwrap_or("{}"));
            if json {
                crate::output::println(&text);
            } else {
                print_human(name, &text, dry_run);
            }
        }
        (Err(e), message) => {
            // Always Some for an error; an empty message would still be reported.
            let message = message.unwrap_or_default();
            let kind = crate::error::kind_of(e);
            tracing::error!(elapsed_ms, error = %message, "job failed");
            if json {
                let status = match kind {
                    Some(Kind::TempFail) => "tempfail",
                    Some(Kind::BadInput) => "bad_input",
                    None => "failed",
                };
                // The figures gathered before the failure, then the verdict.
                let mut out = match &stats {
                    serde_json::Value::Object(figures) => figures.clone(),
                    _ => serde_json::Map::new(),
                };
                out.insert("status".into(), status.into());
                out.insert("error".into(), message.clone().into());
                crate::output::println(&scrub(&serde_json::Value::Object(out).to_string()));
            }
            eprintln!("{name}: error: {message}");
        }
    }
    code
}

/// Another run holds the lease: said once (on stdout with `--json`), exit 75.
fn locked(name: &str, json: bool) -> u8 {
    let message = format!("another {name} run holds the lock; leaving the work for the next run");
    tracing::warn!("{message}");
    if json {
        crate::output::println(
            &serde_json::json!({"status": "locked", "error": message}).to_string(),
        );
    } else {
        eprintln!("{name}: {message}");
    }
    EXIT_TEMPFAIL
}

/// A job's figures, unless something deleted or replaced the database or its write-ahead log
/// while it ran (SQLite never does while a connection is open): then what the job wrote is in
/// a file other processes no longer see, and reaches the database only through this process's
/// checkpoint when it closes. The run fails saying so, with its figures.
fn files_intact<S: Serialize>(ctx: &JobContext, figures: S) -> Result<S> {
    match crate::db::files_replaced(&ctx.settings.general.db) {
        None => Ok(figures),
        Some(why) => Err(failed_with(
            format!("{why}: what this run wrote is checkpointed from the open file when it ends, if it can be; never delete a database's -wal or -shm file while a job runs; check it with polyperf-cleanup (integrity) and polyperf status"),
            &figures,
        )),
    }
}

/// Prints a run's figures (a JSON object's text) as aligned `key  value` lines, in the order
/// they are written there.
pub fn print_human(name: &str, stats: &str, dry_run: bool) {
    let suffix = if dry_run {
        " (dry run: nothing written)"
    } else {
        ""
    };
    let mut text = format!("{name}: done{suffix}\n");
    let fields = crate::json::fields_in_order(stats);
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, shown) in fields {
        let shown = crate::status::figure_for_people(&key, &shown);
        text.push_str(&format!("  {key:<width$}  {shown}\n"));
    }
    crate::output::print(&text);
}

/// Takes the lease and records the start of the run, in one transaction (one fsync: cron
/// starts some jobs every minute, so start-up cost matters). `None`: a live holder has the
/// lease; the refused run is recorded as `locked`. Taking over from a holder that died closes
/// its run as `crashed`. `wall` is the clock's time (the lease's), `now` the job's.
fn begin_run(
    conn: &Connection,
    job: &str,
    holder: &str,
    lease_secs: u64,
    now: DateTime<Utc>,
    wall: DateTime<Utc>,
) -> Result<Option<i64>> {
    // IMMEDIATE: the lease row is read, then written; no other writer may come in between.
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    let id = match acquire_lease(&tx, job, holder, lease_secs, wall)? {
        Lease::Taken { previous } => {
            let id = start_run(&tx, job, now, wall)?;
            tx.execute(
                "UPDATE job_locks SET run_id = ?1 WHERE job = ?2 AND holder = ?3",
                params![id, job, holder],
            )?;
            close_crashed_runs(&tx, job, id, previous.as_ref(), wall)?;
            Some(id)
        }
        Lease::Held => {
            record_locked(
                &tx,
                job,
                now,
                wall,
                &format!("another {job} run holds the lock; leaving the work for the next run"),
            )?;
            None
        }
    };
    tx.commit()?;
    Ok(id)
}

/// Records the end of the run and releases the lease, in one transaction.
/// How a run ended, for its `job_runs` row.
struct RunEnd<'a> {
    id: i64,
    code: u8,
    /// The figures as JSON text, in the job's field order; none when there are none.
    stats: Option<&'a str>,
    error: Option<&'a str>,
    /// The clock's time at the end.
    at: DateTime<Utc>,
}

fn end_run(conn: &Connection, ended: &RunEnd<'_>, job: &str, holder: &str) -> Result<()> {
    let tx = conn.unchecked_transaction()?;
    finish_run(&tx, ended)?;
    release_lease(&tx, job, holder)?;
    tx.commit()?;
    Ok(())
}

/// The lease as a duration (settings keep `lock_lease_secs` within a week; clamped anyway so a
/// value from anywhere cannot overflow).
fn lease_duration(lease_secs: u64) -> Duration {
    Duration::seconds(lease_secs.min(i64::MAX as u64 / 1000) as i64)
}

/// The lease row of a job, as its holder recorded it.
#[derive(Debug, Clone)]
pub struct LeaseHolder {
    pub holder: String,
    pub pid: Option<i64>,
    pub host: Option<String>,
    pub pid_start: Option<String>,
    pub run_id: Option<i64>,
    pub expires_at: String,
}

impl LeaseHolder {
    /// Whether the holder's process is known to be gone: recorded on this host, and its pid no
    /// longer runs the process that took the lease. A lease from another host (or one without a
    /// host) can only expire.
    fn died_here(&self, host: &str) -> bool {
        self.host.as_deref() == Some(host)
            && self
                .pid
                .is_some_and(|pid| !crate::process::still_running(pid, self.pid_start.as_deref()))
    }
}

/// What [`acquire_lease`] found.
#[derive(Debug)]
pub enum Lease {
    /// The lease is ours; `previous` is the holder it was taken from (expired, or dead here).
    Taken { previous: Option<LeaseHolder> },
    /// A live holder has it.
    Held,
}

/// Takes the job's lease unless a live holder has it. The lease goes by the clock (`now` here
/// is the clock's time), not `--now`: it guards real processes. Part of the caller's
/// transaction, which should be IMMEDIATE (the row is read, then written).
pub fn acquire_lease(
    conn: &Connection,
    job: &str,
    holder: &str,
    lease_secs: u64,
    now: DateTime<Utc>,
) -> Result<Lease> {
    let me = crate::process::current();
    let previous = conn
        .query_row(
            "SELECT holder, pid, host, pid_start, run_id, expires_at FROM job_locks WHERE job = ?1",
            [job],
            |r| {
                Ok(LeaseHolder {
                    holder: r.get(0)?,
                    pid: r.get(1)?,
                    host: r.get(2)?,
                    pid_start: r.get(3)?,
                    run_id: r.get(4)?,
                    expires_at: r.get(5)?,
                })
            },
        )
        .optional()?;
    if let Some(p) = &previous {
        let expired = p.expires_at.as_str() <= to_db(now).as_str();
        if !expired && !p.died_here(&me.host) {
            return Ok(Lease::Held);
        }
        if !expired {
            tracing::warn!(
                previous_pid = p.pid,
                host = %me.host,
                "the lease holder's process is gone: taking over its lease at once"
            );
        }
    }
    let expires = crate::time::add(now, lease_duration(lease_secs))?;
    conn.execute(
        "INSERT OR REPLACE INTO job_locks (job, holder, pid, acquired_at, expires_at, host, pid_start)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![job, holder, me.pid, to_db(now), to_db(expires), me.host, me.start],
    )?;
    Ok(Lease::Taken { previous })
}

/// Closes the runs of `job` left `running` by processes that died (a lease holder that was
/// taken over, or runs older than leases with a holder) as `crashed`, with why. The caller holds
/// the lease, so no other run of the job is alive (one whose lease expired while it hung
/// records its own end over this when it finishes).
fn close_crashed_runs(
    conn: &Connection,
    job: &str,
    current_run: i64,
    previous: Option<&LeaseHolder>,
    wall: DateTime<Utc>,
) -> Result<()> {
    let why = match previous {
        Some(p) if p.expires_at.as_str() > to_db(wall).as_str() => format!(
            "crashed: its process (pid {} on {}) died without recording its end; the next run took over its lease",
            p.pid.unwrap_or(0),
            p.host.as_deref().unwrap_or("?")
        ),
        _ => "crashed: its process died or hung without recording its end (its lease expired)"
            .to_string(),
    };
    let n = conn.execute(
        "UPDATE job_runs SET status = 'crashed', finished_at = ?1, error = ?2
         WHERE job = ?3 AND status = 'running' AND id != ?4",
        params![to_db(wall), why, job, current_run],
    )?;
    if n > 0 {
        tracing::warn!(runs = n, "closed runs whose process died as crashed");
    }
    Ok(())
}

/// Whether a run of `job` holds its lease (or held it and died without releasing it): the
/// Telegram feed holds back the results a settlement run may still be writing.
pub fn lease_taken(conn: &Connection, job: Job) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM job_locks WHERE job = ?1)")?
        .query_row([job.binary()], |r| r.get(0))?)
}

pub fn release_lease(conn: &Connection, job: &str, holder: &str) -> Result<()> {
    conn.execute(
        "DELETE FROM job_locks WHERE job = ?1 AND holder = ?2",
        params![job, holder],
    )?;
    Ok(())
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
            let Ok(expires) = crate::time::add(clock(), lease_duration(lease_secs)) else {
                continue;
            };
            let expires = to_db(expires);
            let _ = conn.execute(
                "UPDATE job_locks SET expires_at = ?1 WHERE job = ?2 AND holder = ?3",
                params![expires, job, holder],
            );
        }
    })
}

fn start_run(conn: &Connection, job: &str, now: DateTime<Utc>, wall: DateTime<Utc>) -> Result<i64> {
    conn.execute(
        "INSERT INTO job_runs (job, started_at, status, now) VALUES (?1, ?2, 'running', ?3)",
        params![job, to_db(wall), to_db(now)],
    )?;
    Ok(conn.last_insert_rowid())
}

fn record_locked(
    conn: &Connection,
    job: &str,
    now: DateTime<Utc>,
    wall: DateTime<Utc>,
    message: &str,
) -> Result<()> {
    let wall = to_db(wall);
    conn.execute(
        "INSERT INTO job_runs (job, started_at, finished_at, status, exit_code, now, error)
         VALUES (?1, ?2, ?2, 'locked', 75, ?3, ?4)",
        params![job, wall, to_db(now), message],
    )?;
    Ok(())
}

fn finish_run(conn: &Connection, ended: &RunEnd<'_>) -> Result<()> {
    let status = match ended.code {
        EXIT_OK => "ok",
        EXIT_USAGE => "bad_input",
        EXIT_TEMPFAIL => "tempfail",
        _ => "failed",
    };
    conn.execute(
        "UPDATE job_runs SET finished_at = ?1, status = ?2, exit_code = ?3, stats = ?4, error = ?5 WHERE id = ?6",
        params![to_db(ended.at), status, ended.code, ended.stats, ended.error, ended.id],
    )?;
    Ok(())
}

/// The last finished run of each job, for `status`.
pub fn last_runs(conn: &Connection) -> Result<serde_json::Map<String, serde_json::Value>> {
    let mut map = serde_json::Map::new();
    for job in Job::ALL {
        let row = conn
            .query_row(
                "SELECT started_at, finished_at, status, exit_code, stats, error FROM job_runs
                 WHERE job = ?1 ORDER BY id DESC LIMIT 1",
                params![job.binary()],
                |r| {
                    Ok(serde_json::json!({
                        "started_at": r.get::<_, String>(0)?,
                        "finished_at": r.get::<_, Option<String>>(1)?,
                        "status": r.get::<_, String>(2)?,
                        "exit_code": r.get::<_, Option<i64>>(3)?,
                        "stats": r.get::<_, Option<String>>(4)?.and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok()),
                        "error": r.get::<_, Option<String>>(5)?,
                    }))
                },
            )
            .optional()?;
        map.insert(
            job.name().to_string(),
            row.unwrap_or(serde_json::Value::Null),
        );
    }
    Ok(map)
}

/// What `health` asks of a job's runs: when it last succeeded (the `now` of its newest `ok`
/// run: the clock, unless that run was given `--now`) and whether a run of it holds a lease
/// that has not expired at `now` (the Telegram service, `--watch`, is one run that lasts days).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Liveness {
    pub last_success: Option<String>,
    pub running: bool,
}

pub fn liveness(conn: &Connection, job: Job, now: DateTime<Utc>) -> Result<Liveness> {
    Ok(conn
        .prepare_cached(
            "SELECT (SELECT max(coalesce(now, started_at)) FROM job_runs
                     WHERE job = ?1 AND status = 'ok'),
                    EXISTS (SELECT 1 FROM job_locks WHERE job = ?1 AND expires_at > ?2)",
        )?
        .query_row(params![job.binary(), to_db(now)], |r| {
            Ok(Liveness {
                last_success: r.get(0)?,
                running: r.get(1)?,
            })
        })?)
}

/// Each job's last recorded figures as (name, value) text, in the order the job wrote them
/// (the important first), for people; [`last_runs`] has them as JSON.
pub fn last_figures(
    conn: &Connection,
) -> Result<std::collections::BTreeMap<String, Vec<(String, String)>>> {
    let mut out = std::collections::BTreeMap::new();
    for job in Job::ALL {
        let stats: Option<String> = conn
            .query_row(
                "SELECT stats FROM job_runs WHERE job = ?1 ORDER BY id DESC LIMIT 1",
                params![job.binary()],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        if let Some(text) = stats {
            out.insert(job.name().to_string(), crate::json::fields_in_order(&text));
        }
    }
    Ok(out)
}

/// Whether SQLite failed because the disk (or the database's size limit) is full.
pub fn is_disk_full(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<rusqlite::Error>(),
            Some(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::DiskFull
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default (`auto`) gives people a readable log on a terminal and machines JSON lines
    /// everywhere else; the units and the crontab also say `json` explicitly.
    #[test]
    fn auto_logs_are_human_on_a_terminal_and_json_elsewhere() {
        assert_eq!(Settings::default().general.log_format, LogFormat::Auto);
        assert!(!logs_as_json(LogFormat::Auto, true));
        assert!(logs_as_json(LogFormat::Auto, false));
        assert!(logs_as_json(LogFormat::Json, true));
        assert!(!logs_as_json(LogFormat::Human, false));
    }
}
