//! polyperf-telegram: see `polyperf::telegram`.

use std::process::ExitCode;

use clap::Parser;
use polyperf::runner::{self, JobArgs};

#[derive(Parser)]
#[command(name = "polyperf-telegram", version, about = "polyperf telegram job")]
struct Args {
    #[command(flatten)]
    job: JobArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    runner::main("polyperf-telegram", args.job, |ctx| {
        Box::pin(polyperf::telegram::run(ctx))
    })
}
