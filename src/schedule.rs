//! `polyperf schedule`: every job in-process on the timers' cadences, for machines without
//! systemd or cron (containers, a laptop). Each run is the same library call as the binary
//! (`runner::run`: lease, `job_runs` row, exit code); SIGTERM / SIGINT stop new runs and wait
//! for the runs in flight.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::config::Settings;
use crate::runner::{self, GlobalArgs};

/// The cadences, as 6-field cron expressions (with seconds) in UTC: the same as systemd/*.timer.
pub const CADENCES: &[(&str, &str)] = &[
    ("settle", "0 2,17,32,47 * * * *"),
    ("reflect", "0 5,20,35,50 * * * *"),
    ("reflect-daily", "0 10 0 * * *"),
    ("adjust", "0 7,22,37,52 * * * *"),
    ("telegram", "0 * * * * *"),
    ("archive", "0 30 3 * * Sun"),
    ("cleanup", "0 45 * * * *"),
];

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ScheduleArgs {
    /// Run only these jobs (comma-separated short names, e.g. settle,adjust)
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Run each selected job once now, then exit (a smoke test of the wiring)
    #[arg(long)]
    pub once: bool,
}

/// Runs one job by its short name, as its binary would, on a runtime of its own (the job's
/// futures hold a SQLite connection and are not `Send`). Returns the exit code.
pub fn run_job_blocking(
    job: &str,
    settings: Settings,
    now: Option<chrono::DateTime<chrono::Utc>>,
) -> u8 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(job, error = %e, "cannot start a runtime");
            return crate::error::EXIT_FAILED;
        }
    };
    runtime.block_on(run_job(job, settings, now))
}

/// Runs one job by its short name through the shared runner. Returns the exit code.
pub async fn run_job(
    job: &str,
    settings: Settings,
    now: Option<chrono::DateTime<chrono::Utc>>,
) -> u8 {
    match job {
        "settle" => {
            runner::run("polyperf-settle", settings, false, now, false, |ctx| {
                Box::pin(crate::settle::run(ctx))
            })
            .await
        }
        "reflect" => {
            runner::run("polyperf-reflect", settings, false, now, false, |ctx| {
                Box::pin(crate::reflect::run(ctx))
            })
            .await
        }
        "reflect-daily" => {
            let options = crate::reflect::Options {
                trigger: Some(crate::reflect::Requested::EndOfDay),
                engine: None,
                print_prompt: false,
            };
            runner::run(
                "polyperf-reflect",
                settings,
                false,
                now,
                false,
                move |ctx| Box::pin(async move { crate::reflect::run_with(ctx, &options).await }),
            )
            .await
        }
        "adjust" => {
            runner::run("polyperf-adjust", settings, false, now, false, |ctx| {
                Box::pin(crate::adjust::run(ctx))
            })
            .await
        }
        "telegram" => {
            runner::run("polyperf-telegram", settings, false, now, false, |ctx| {
                Box::pin(crate::telegram::run(ctx))
            })
            .await
        }
        "archive" => {
            runner::run("polyperf-archive", settings, false, now, false, |ctx| {
                Box::pin(crate::archive::run(ctx))
            })
            .await
        }
        "cleanup" => {
            runner::run("polyperf-cleanup", settings, false, now, false, |ctx| {
                Box::pin(crate::cleanup::run(ctx))
            })
            .await
        }
        other => {
            tracing::error!(job = other, "unknown job");
            crate::error::EXIT_USAGE
        }
    }
}

pub fn cli(global: &GlobalArgs, args: ScheduleArgs) -> Result<()> {
    let settings = global.settings()?;
    runner::init_tracing(settings.general.log_format);
    for name in &args.only {
        if !CADENCES.iter().any(|(job, _)| job == name) {
            return Err(crate::error::bad_input(format!(
                "--only: unknown job {name:?} (known: {})",
                CADENCES
                    .iter()
                    .map(|(j, _)| *j)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let selected: Vec<(&str, &str)> = CADENCES
        .iter()
        .copied()
        .filter(|(job, _)| args.only.is_empty() || args.only.iter().any(|o| o == job))
        .collect();
    crate::db::open(&settings.general.db)?; // migrate once, up front, and fail early
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        if args.once {
            for (job, _) in &selected {
                let (job, settings) = (job.to_string(), settings.clone());
                let code =
                    tokio::task::spawn_blocking(move || run_job_blocking(&job, settings, None))
                        .await?;
                tracing::info!(code, "scheduled run finished");
            }
            return Ok(());
        }
        serve(settings, selected).await
    })
}

async fn serve(settings: Settings, selected: Vec<(&'static str, &'static str)>) -> Result<()> {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut scheduler = JobScheduler::new()
        .await
        .context("starting the scheduler")?;
    for (job, cron) in &selected {
        let (job, settings, in_flight) = (*job, settings.clone(), in_flight.clone());
        let scheduled = Job::new_async(*cron, move |_, _| {
            let (settings, in_flight) = (settings.clone(), in_flight.clone());
            Box::pin(async move {
                in_flight.fetch_add(1, Ordering::SeqCst);
                let code =
                    tokio::task::spawn_blocking(move || run_job_blocking(job, settings, None))
                        .await
                        .unwrap_or(crate::error::EXIT_FAILED);
                tracing::info!(job, code, "scheduled run finished");
                in_flight.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .with_context(|| format!("bad cron expression for {job}: {cron}"))?;
        scheduler
            .add(scheduled)
            .await
            .with_context(|| format!("scheduling {job}"))?;
        tracing::info!(job, cron, "scheduled");
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
