//! polyperf-telegram: see `polyperf::telegram`.

use std::process::ExitCode;

use clap::Parser;
use polyperf::cli::{job, JobArgs};
use polyperf::runner::Job;
use polyperf::telegram::Options;

#[derive(Parser)]
#[command(
    name = "polyperf-telegram",
    version,
    about = "Send queued notifications; read commands and approval presses"
)]
struct Args {
    #[command(flatten)]
    job: JobArgs,
    /// One pass: deliver what is due, handle waiting updates, exit (the default)
    #[arg(long, conflicts_with = "watch")]
    once: bool,
    /// Keep going with long polling until SIGTERM/SIGINT (for a Type=simple service)
    #[arg(long)]
    watch: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let options = Options { watch: args.watch };
    job::main(Job::Telegram, args.job, move |ctx| {
        Box::pin(polyperf::telegram::run_with(ctx, options))
    })
}
