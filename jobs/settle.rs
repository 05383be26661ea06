//! polyperf-settle: see `polyperf::settle`.

use std::process::ExitCode;

use clap::Parser;
use polyperf::runner::{self, JobArgs};

#[derive(Parser)]
#[command(name = "polyperf-settle", version, about = "polyperf settle job")]
struct Args {
    #[command(flatten)]
    job: JobArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    runner::main("polyperf-settle", args.job, |ctx| {
        Box::pin(polyperf::settle::run(ctx))
    })
}
