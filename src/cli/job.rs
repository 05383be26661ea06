//! The body of every job binary (`jobs/*.rs`): settings from the flags, tracing, a runtime,
//! then the job's run through `runs::run`, and the exit code.

use std::process::ExitCode;

use chrono::Utc;
use serde::Serialize;

use super::args::JobArgs;
use crate::error::{exit_code_for, one_line};
use crate::runner::{self, Job, JobContext, JobFuture};

/// Runs a job binary from start to exit code. `job` is the library function.
pub fn main<S, F>(which: Job, args: JobArgs, job: F) -> ExitCode
where
    S: Serialize,
    F: for<'a> FnOnce(&'a mut JobContext) -> JobFuture<'a, S>,
{
    let name = which.binary();
    let settings = match args.global.settings() {
        Ok(s) => s,
        Err(e) => return fail_early(name, &e),
    };
    runner::init_tracing(settings.general.log_format);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return fail_early(
                name,
                &anyhow::Error::new(e).context("starting the async runtime"),
            )
        }
    };
    let run = crate::runs::Run {
        now: args.now.unwrap_or_else(Utc::now),
        clock: Utc::now,
        dry_run: args.dry_run,
        json: args.global.json,
    };
    let code = runtime.block_on(crate::runs::run(which, settings, run, job));
    ExitCode::from(crate::output::exit_code(code))
}

fn fail_early(name: &str, err: &anyhow::Error) -> ExitCode {
    eprintln!("{name}: error: {}", one_line(err));
    ExitCode::from(exit_code_for(err))
}
