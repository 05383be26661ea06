//! The `job_runs` and `job_locks` tables: every statement on them. A job's lease (taken,
//! extended, released, taken over from a holder that died), the record of each run (started,
//! refused as locked, ended, closed as crashed), and what `status` reads of them. [`run`] runs
//! one job from start to exit code around them (open, lease, record, run, record, print): the
//! one place the binaries, the scheduler and the demo start a job.

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use crate::runner::Job;
use crate::time::to_db;

mod run;

pub use run::{run, Clock, Run};

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
                .is_some_and(|pid| !crate::host::still_running(pid, self.pid_start.as_deref()))
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

/// Takes the lease and records the start of the run, in one transaction (one fsync: cron
/// starts some jobs every minute, so start-up cost matters). `None`: a live holder has the
/// lease; the refused run is recorded as `locked`. Taking over from a holder that died closes
/// its run as `crashed`. `wall` is the clock's time (the lease's), `now` the job's.
pub fn begin_run(
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
            let why = crate::runner::locked_message(job);
            record_locked(&tx, job, now, wall, &why)?;
            None
        }
    };
    tx.commit()?;
    Ok(id)
}

/// How a run ended, for its `job_runs` row.
pub struct RunEnd<'a> {
    pub id: i64,
    pub code: u8,
    /// The figures as JSON text, in the job's field order; none when there are none.
    pub stats: Option<&'a str>,
    pub error: Option<&'a str>,
    /// The clock's time at the end.
    pub at: DateTime<Utc>,
}

/// Records the end of the run and releases the lease, in one transaction.
pub fn end_run(conn: &Connection, ended: &RunEnd<'_>, job: &str, holder: &str) -> Result<()> {
    let tx = conn.unchecked_transaction()?;
    tx.execute(
        "UPDATE job_runs SET finished_at = ?1, status = ?2, exit_code = ?3, stats = ?4, error = ?5 WHERE id = ?6",
        params![
            to_db(ended.at),
            crate::runner::status_of(ended.code),
            ended.code,
            ended.stats,
            ended.error,
            ended.id
        ],
    )?;
    release_lease(&tx, job, holder)?;
    tx.commit()?;
    Ok(())
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
    let me = crate::host::current();
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

/// Extends a held lease by `lease_secs` from `now` (the clock's time): the running job's
/// heartbeat.
pub fn extend_lease(
    conn: &Connection,
    job: &str,
    holder: &str,
    lease_secs: u64,
    now: DateTime<Utc>,
) -> Result<()> {
    let expires = to_db(crate::time::add(now, lease_duration(lease_secs))?);
    conn.execute(
        "UPDATE job_locks SET expires_at = ?1 WHERE job = ?2 AND holder = ?3",
        params![expires, job, holder],
    )?;
    Ok(())
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
