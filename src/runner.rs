//! What every job's run shares below the tables: the one table of jobs ([`JOBS`]: name,
//! binary, cadences, the longest normal gap between successful runs), the context a job
//! function gets ([`JobContext`]), tracing, how a run's result is printed (`--json` or aligned
//! figures) and its exit code (SPEC §1). The lease and the `job_runs` record are the tables'
//! (`crate::runs`), which also runs one job from start to exit code; the flags and the clock
//! come from the caller (`cli::job`, `schedule`), never from here.

use std::future::Future;
use std::io::IsTerminal;

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::Serialize;

use crate::config::{LogFormat, Settings};
use crate::error::{Kind, EXIT_OK, EXIT_TEMPFAIL, EXIT_USAGE};

/// The six job binaries, one row each of [`JOBS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Job {
    Settle,
    Reflect,
    Adjust,
    Telegram,
    Archive,
    Cleanup,
}

/// When a job's timer starts it: one of its rows in the systemd timers, the crontab and the
/// in-process scheduler, which all follow this table (tests hold them to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    /// The name `polyperf schedule --only` takes and the timer's (`polyperf-<name>.timer`).
    pub name: &'static str,
    /// When, as a 6-field cron expression with seconds, UTC.
    pub cron: &'static str,
    /// What the timer passes the binary (`--trigger end_of_day`).
    pub args: &'static [&'static str],
}

/// One job: its names, when it runs, and how long it may normally go without succeeding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobSpec {
    pub job: Job,
    /// The short name (`settle`), as `status` lists it.
    pub name: &'static str,
    /// The binary, which is also the job's name in `job_locks` and `job_runs`.
    pub binary: &'static str,
    /// The timers' cadences, the first the job's main one.
    pub cadences: &'static [Cadence],
    /// Under systemd a service that waits for work (`--watch`) rather than a timer; cron and
    /// the scheduler start it on its cadence.
    pub watches: bool,
    /// The longest gap between two of its runs on its cadences (a week wraps around; a test in
    /// `schedule` computes it from them). `health` calls the job overdue after twice this
    /// without a success.
    pub normal_gap_minutes: u32,
}

/// Every job, in [`Job`]'s order: the one table the scheduler, the lease, `status` and the
/// timers' documentation read.
pub const JOBS: [JobSpec; 6] = [
    JobSpec {
        job: Job::Settle,
        name: "settle",
        binary: "polyperf-settle",
        // 2 minutes after each 15-minute market close.
        cadences: &[Cadence {
            name: "settle",
            cron: "0 2,17,32,47 * * * *",
            args: &[],
        }],
        watches: false,
        normal_gap_minutes: 15,
    },
    JobSpec {
        job: Job::Reflect,
        name: "reflect",
        binary: "polyperf-reflect",
        cadences: &[
            Cadence {
                name: "reflect",
                cron: "0 5,20,35,50 * * * *",
                args: &[],
            },
            Cadence {
                name: "reflect-daily",
                cron: "0 10 0 * * *",
                args: &["--trigger", "end_of_day"],
            },
        ],
        watches: false,
        normal_gap_minutes: 15,
    },
    JobSpec {
        job: Job::Adjust,
        name: "adjust",
        binary: "polyperf-adjust",
        cadences: &[Cadence {
            name: "adjust",
            cron: "0 7,22,37,52 * * * *",
            args: &[],
        }],
        watches: false,
        normal_gap_minutes: 15,
    },
    JobSpec {
        job: Job::Telegram,
        name: "telegram",
        binary: "polyperf-telegram",
        cadences: &[Cadence {
            name: "telegram",
            cron: "0 * * * * *",
            args: &["--once"],
        }],
        watches: true,
        normal_gap_minutes: 1,
    },
    JobSpec {
        job: Job::Archive,
        name: "archive",
        binary: "polyperf-archive",
        // Sunday 03:30.
        cadences: &[Cadence {
            name: "archive",
            cron: "0 30 3 * * Sun",
            args: &[],
        }],
        watches: false,
        normal_gap_minutes: 7 * 24 * 60,
    },
    JobSpec {
        job: Job::Cleanup,
        name: "cleanup",
        binary: "polyperf-cleanup",
        cadences: &[Cadence {
            name: "cleanup",
            cron: "0 45 * * * *",
            args: &[],
        }],
        watches: false,
        normal_gap_minutes: 60,
    },
];

impl Job {
    pub const ALL: [Job; 6] = [
        Job::Settle,
        Job::Reflect,
        Job::Adjust,
        Job::Telegram,
        Job::Archive,
        Job::Cleanup,
    ];

    /// The job's row of [`JOBS`].
    pub fn spec(self) -> &'static JobSpec {
        // JOBS lists the jobs in the enum's order (a test holds it so).
        &JOBS[self as usize]
    }

    /// The binary, which is also the job's name in `job_locks` and `job_runs`.
    pub fn binary(self) -> &'static str {
        self.spec().binary
    }

    /// The short name (`settle`), as `status` lists it.
    pub fn name(self) -> &'static str {
        self.spec().name
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

/// How a run ended, as it is recorded and printed.
#[derive(Debug)]
pub struct Ended {
    pub code: u8,
    /// The figures as JSON text in the job's own field order (the important first); none for
    /// a failure that kept none.
    pub figures: Option<String>,
    /// The one-line error of a failure (secrets scrubbed).
    pub error: Option<String>,
    /// The figures of a failure as a JSON object (for the failure's `--json` line).
    pub failure_figures: serde_json::Value,
    /// The failure's kind (what `--json` says its status is).
    pub kind: Option<Kind>,
}

impl Ended {
    /// How a job's result reads: its exit code, figures and error, secrets scrubbed by
    /// `scrub`.
    pub fn of<S: Serialize>(result: &Result<S>, scrub: impl Fn(&str) -> String) -> Ended {
        match result {
            Ok(figures) => Ended {
                code: EXIT_OK,
                figures: serde_json::to_string(figures).ok(),
                error: None,
                failure_figures: serde_json::Value::Null,
                kind: None,
            },
            Err(e) => {
                let stats = e
                    .chain()
                    .find_map(|cause| cause.downcast_ref::<FailedWith>())
                    .map_or(serde_json::Value::Null, |f| f.stats.clone());
                Ended {
                    code: crate::error::exit_code_for(e),
                    figures: (!stats.is_null()).then(|| stats.to_string()),
                    error: Some(scrub(&crate::error::one_line(e))),
                    failure_figures: stats,
                    kind: crate::error::kind_of(e),
                }
            }
        }
    }

    /// The `job_runs.status` word of this exit code.
    pub fn status(&self) -> &'static str {
        status_of(self.code)
    }
}

/// The `job_runs.status` word of an exit code.
pub fn status_of(code: u8) -> &'static str {
    match code {
        EXIT_OK => "ok",
        EXIT_USAGE => "bad_input",
        EXIT_TEMPFAIL => "tempfail",
        _ => "failed",
    }
}

/// Prints how a run ended: its figures (once, here; `job_runs` keeps them too) as JSON or as
/// aligned lines, or the error on stderr (and with `--json` its figures and verdict on stdout).
pub fn print_ended(
    name: &str,
    ended: &Ended,
    json: bool,
    dry_run: bool,
    scrub: impl Fn(&str) -> String,
) {
    let Some(message) = &ended.error else {
        let text = scrub(ended.figures.as_deref().unwrap_or("{}"));
        if json {
            crate::output::println(&text);
        } else {
            print_human(name, &text, dry_run);
        }
        return;
    };
    if json {
        let status = match ended.kind {
            Some(Kind::TempFail) => "tempfail",
            Some(Kind::BadInput) => "bad_input",
            None => "failed",
        };
        // The figures gathered before the failure, then the verdict.
        let mut out = match &ended.failure_figures {
            serde_json::Value::Object(figures) => figures.clone(),
            _ => serde_json::Map::new(),
        };
        out.insert("status".into(), status.into());
        out.insert("error".into(), message.clone().into());
        crate::output::println(&scrub(&serde_json::Value::Object(out).to_string()));
    }
    eprintln!("{name}: error: {message}");
}

/// What a run refused because another holds the lease says (on stdout with `--json`); exit 75.
pub fn print_locked(name: &str, json: bool) -> u8 {
    let message = locked_message(name);
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

/// Why a run did nothing because another run of `job` holds the lease.
pub fn locked_message(job: &str) -> String {
    format!("another {job} run holds the lock; leaving the work for the next run")
}

/// Prints a run's figures (a JSON object's text) as aligned `key  value` lines, in the order
/// they are written there, each in the unit its name carries.
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
        let shown = crate::words::figure(&key, &shown);
        text.push_str(&format!("  {key:<width$}  {shown}\n"));
    }
    crate::output::print(&text);
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
    /// One table, in the enum's order, each name its binary's and each cadence a valid cron
    /// expression the scheduler can take, named uniquely.
    #[test]
    fn the_job_table_lists_every_job_once_in_order() {
        for (i, job) in Job::ALL.iter().enumerate() {
            let spec = job.spec();
            assert_eq!(spec.job, *job);
            assert_eq!(JOBS[i].job, *job);
            assert_eq!(spec.binary, format!("polyperf-{}", spec.name));
            assert!(!spec.cadences.is_empty(), "{}", spec.name);
            assert_eq!(spec.cadences[0].name, spec.name);
            assert!(spec.normal_gap_minutes > 0);
            for cadence in spec.cadences {
                assert_eq!(
                    cadence.cron.split_whitespace().count(),
                    6,
                    "{}",
                    cadence.cron
                );
            }
        }
        let mut names: Vec<&str> = JOBS
            .iter()
            .flat_map(|j| j.cadences.iter().map(|c| c.name))
            .collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n, "cadence names are unique");
    }

    #[test]
    fn auto_logs_are_human_on_a_terminal_and_json_elsewhere() {
        assert_eq!(Settings::default().general.log_format, LogFormat::Auto);
        assert!(!logs_as_json(LogFormat::Auto, true));
        assert!(logs_as_json(LogFormat::Auto, false));
        assert!(logs_as_json(LogFormat::Json, true));
        assert!(!logs_as_json(LogFormat::Human, false));
    }
}
