//! The in-process scheduler behind `polyperf schedule`: every job on the cadences of the one
//! table of jobs ([`crate::runner::JOBS`], which the systemd timers and the crontab follow
//! too), for machines without systemd or cron (containers, a laptop). Each run is the same
//! library call as the binary (`runs::run`: lease, `job_runs` row, exit code); SIGTERM /
//! SIGINT stop new runs and wait for the runs in flight. What it adds to the table: which
//! library function each cadence calls.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use tokio_cron_scheduler::{Job as CronJob, JobScheduler};

use crate::config::Settings;
use crate::runner::{Cadence, Job, JobContext, JobFuture, JOBS};

/// A job's library function with its figures as JSON text in the job's own field order (what
/// `runs::run` records and prints: the important first).
pub type RunFn = for<'a> fn(&'a mut JobContext) -> JobFuture<'a, Box<RawValue>>;

/// One job the scheduler runs: one cadence of the table, whose run it is (lease, `job_runs`),
/// and the library function it calls.
pub struct Scheduled {
    /// The cadence's name, which `--only` takes.
    pub name: &'static str,
    pub job: Job,
    /// A 6-field cron expression with seconds, UTC.
    pub cadence: &'static str,
    pub run: RunFn,
}

/// The library function a cadence of the table calls: the job's run, or for the daily
/// reflection (`--trigger end_of_day`) the end-of-day trigger.
fn function(job: Job, cadence: &Cadence) -> RunFn {
    match job {
        Job::Settle => |ctx| as_json(crate::settle::run(ctx)),
        Job::Reflect if cadence.args == ["--trigger", "end_of_day"] => {
            |ctx| as_json(reflect_daily(ctx))
        }
        Job::Reflect => |ctx| as_json(crate::reflect::run(ctx)),
        Job::Adjust => |ctx| as_json(crate::adjust::run(ctx)),
        Job::Telegram => |ctx| as_json(crate::telegram::run(ctx)),
        Job::Archive => |ctx| as_json(crate::archive::run(ctx)),
        Job::Cleanup => |ctx| as_json(crate::cleanup::run(ctx)),
    }
}

/// Every cadence of every job, in the table's order.
pub fn scheduled() -> &'static [Scheduled] {
    static ALL: std::sync::OnceLock<Vec<Scheduled>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        JOBS.iter()
            .flat_map(|spec| {
                spec.cadences.iter().map(|cadence| Scheduled {
                    name: cadence.name,
                    job: spec.job,
                    cadence: cadence.cron,
                    run: function(spec.job, cadence),
                })
            })
            .collect()
    })
}

/// The job `--only` (or the demo) names, or bad input listing the known names.
pub fn find(name: &str) -> Result<&'static Scheduled> {
    let all = scheduled();
    all.iter().find(|s| s.name == name).ok_or_else(|| {
        crate::error::bad_input(format!(
            "--only: unknown job {name:?} (known: {})",
            all.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
        ))
    })
}

/// A job's future with its figures turned into JSON, so that every job fits one table. Raw
/// JSON text, not a `Value`: a `Value` would sort the figures by name.
fn as_json<'a, S: serde::Serialize>(
    run: impl Future<Output = Result<S>> + 'a,
) -> JobFuture<'a, Box<RawValue>> {
    Box::pin(async move { Ok(serde_json::value::to_raw_value(&run.await?)?) })
}

/// The daily reflection: the end-of-day trigger fired by the timer.
async fn reflect_daily(ctx: &mut JobContext) -> Result<crate::reflect::Stats> {
    let options = crate::reflect::Options {
        trigger: Some(crate::reflect::Requested::EndOfDay),
        engine: None,
        print_prompt: false,
    };
    crate::reflect::run_with(ctx, &options).await
}

/// Runs one job as its binary would, on a runtime of its own (the job's futures hold a SQLite
/// connection and are not `Send`), at the clock's time: the scheduler's tick, the one place
/// the library reads the clock. Returns the exit code.
pub fn run_job_now(job: &Scheduled, settings: Settings) -> u8 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(job = job.name, error = %e, "cannot start a runtime");
            return crate::error::EXIT_FAILED;
        }
    };
    runtime.block_on(run_job(job, settings, Utc::now()))
}

/// Runs one job as its binary would (`runs::run`), as of `now` (its lease and `job_runs`
/// times go by the clock). Returns the exit code.
pub async fn run_job(job: &Scheduled, settings: Settings, now: DateTime<Utc>) -> u8 {
    let run = crate::runs::Run {
        now,
        clock: Utc::now,
        dry_run: false,
        json: false,
    };
    crate::runs::run(job.job, settings, run, job.run).await
}

/// The jobs `--only` names (all of them without), in the table's order; an unknown name is
/// bad input naming the known ones.
pub fn select(only: &[String]) -> Result<Vec<&'static Scheduled>> {
    for name in only {
        find(name)?;
    }
    Ok(scheduled()
        .iter()
        .filter(|job| only.is_empty() || only.iter().any(|o| o == job.name))
        .collect())
}

/// The scheduler's runtime: runs go to blocking threads, so two workers are plenty.
fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Runs each job once now, one after the other (`--once`, a smoke test of the wiring).
pub fn run_once(settings: Settings, selected: Vec<&'static Scheduled>) -> Result<()> {
    runtime()?.block_on(async move {
        for job in selected {
            let settings = settings.clone();
            let code = tokio::task::spawn_blocking(move || run_job_now(job, settings)).await?;
            tracing::info!(code, "scheduled run finished");
        }
        Ok(())
    })
}

/// Runs the jobs on their cadences until SIGTERM / SIGINT, then waits for the runs in flight.
pub fn serve(settings: Settings, selected: Vec<&'static Scheduled>) -> Result<()> {
    runtime()?.block_on(serve_until_stopped(settings, selected))
}

async fn serve_until_stopped(settings: Settings, selected: Vec<&'static Scheduled>) -> Result<()> {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut scheduler = JobScheduler::new()
        .await
        .context("starting the scheduler")?;
    for job in selected {
        let (settings, in_flight) = (settings.clone(), in_flight.clone());
        let cron = job.cadence;
        let scheduled = CronJob::new_async(cron, move |_, _| {
            let (settings, in_flight) = (settings.clone(), in_flight.clone());
            Box::pin(async move {
                in_flight.fetch_add(1, Ordering::SeqCst);
                let code = tokio::task::spawn_blocking(move || run_job_now(job, settings))
                    .await
                    .unwrap_or(crate::error::EXIT_FAILED);
                tracing::info!(job = job.name, code, "scheduled run finished");
                in_flight.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .with_context(|| format!("bad cron expression for {}: {cron}", job.name))?;
        scheduler
            .add(scheduled)
            .await
            .with_context(|| format!("scheduling {}", job.name))?;
        tracing::info!(job = job.name, cron, "scheduled");
    }
    scheduler.start().await.context("starting the scheduler")?;
    wait_for_stop_signal().await?;
    tracing::info!("stopping: no new runs; waiting for runs in flight");
    if let Err(e) = scheduler.shutdown().await {
        tracing::warn!(error = %e, "scheduler shutdown");
    }
    while in_flight.load(Ordering::SeqCst) > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_stop_signal() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_binary_is_scheduled_once_under_its_name() {
        for job in Job::ALL {
            let entry = find(job.name()).unwrap();
            assert_eq!(entry.job, job);
        }
        let mut names: Vec<&str> = scheduled().iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), scheduled().len(), "names are unique");
        assert_eq!(find("reflect-daily").unwrap().job, Job::Reflect);
        let Err(err) = find("setle") else {
            panic!("an unknown name was found")
        };
        assert_eq!(crate::error::exit_code_for(&err), crate::error::EXIT_USAGE);
        assert!(err.to_string().contains("reflect-daily"), "{err}");
    }

    /// The minutes of a week (0 = Monday 00:00) at which a 6-field cron expression fires.
    /// Enough of cron for the table: `*`, numbers, lists, `Sun`.
    fn minutes_of_week(cron: &str) -> Vec<i64> {
        let fields: Vec<&str> = cron.split_whitespace().collect();
        let values = |field: &str, all: std::ops::Range<i64>| -> Vec<i64> {
            match field {
                "*" => all.collect(),
                list => list
                    .split(',')
                    .map(|v| match v {
                        "Sun" => 6,
                        v => v.parse().unwrap(),
                    })
                    .collect(),
            }
        };
        assert_eq!(
            (fields.len(), fields[0], fields[3], fields[4]),
            (6, "0", "*", "*"),
            "{cron}"
        );
        let mut out = Vec::new();
        for day in values(fields[5], 0..7) {
            for hour in values(fields[2], 0..24) {
                for minute in values(fields[1], 0..60) {
                    out.push(day * 1440 + hour * 60 + minute);
                }
            }
        }
        out
    }

    /// `health` reads each job's cadence through `longest_normal_gap`: it is the longest gap
    /// between two runs of the job's entries in the table (a week wraps around).
    #[test]
    fn health_reads_the_cadences_of_this_table() {
        for job in Job::ALL {
            let mut times: Vec<i64> = JOBS
                .iter()
                .filter(|s| s.job == job)
                .flat_map(|s| s.cadences.iter().flat_map(|c| minutes_of_week(c.cron)))
                .collect();
            times.sort_unstable();
            times.dedup();
            let mut longest = times[0] + 7 * 1440 - times[times.len() - 1];
            for pair in times.windows(2) {
                longest = longest.max(pair[1] - pair[0]);
            }
            assert_eq!(
                crate::health::longest_normal_gap(job).num_minutes(),
                longest,
                "{job:?}"
            );
        }
    }
}
