//! polyperf-cleanup: see `polyperf::cleanup`.

use std::process::ExitCode;

use clap::Parser;
use polyperf::runner::{self, JobArgs};

#[derive(Parser)]
#[command(name = "polyperf-cleanup", version, about = "polyperf cleanup job")]
struct Args {
    #[command(flatten)]
    job: JobArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    runner::main("polyperf-cleanup", args.job, |ctx| {
        Box::pin(polyperf::cleanup::run(ctx))
    })
}
