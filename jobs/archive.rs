//! polyperf-archive: see `polyperf::archive`.

use std::process::ExitCode;

use clap::Parser;
use polyperf::runner::{self, JobArgs};

#[derive(Parser)]
#[command(name = "polyperf-archive", version, about = "polyperf archive job")]
struct Args {
    #[command(flatten)]
    job: JobArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    runner::main("polyperf-archive", args.job, |ctx| {
        Box::pin(polyperf::archive::run(ctx))
    })
}
