//! `polyperf schedule`: every job in-process on the timers' cadences (`crate::schedule`), or
//! each once with `--once`.

use anyhow::Result;

use super::GlobalArgs;
use crate::schedule;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ScheduleArgs {
    /// Run only these jobs (comma-separated short names, e.g. settle,adjust)
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Run each selected job once now, then exit (a smoke test of the wiring)
    #[arg(long)]
    pub once: bool,
}

pub fn run(global: &GlobalArgs, args: ScheduleArgs) -> Result<u8> {
    let settings = global.settings()?;
    crate::runner::init_tracing(settings.general.log_format);
    let selected = schedule::select(&args.only)?;
    crate::db::open(&settings.general.db)?; // migrate once, up front, and fail early
    if args.once {
        schedule::run_once(settings, selected)?;
    } else {
        schedule::serve(settings, selected)?;
    }
    Ok(0)
}
