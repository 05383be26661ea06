//! polyperf-adjust: see `polyperf::adjust`.

use std::process::ExitCode;

use clap::Parser;
use polyperf::cli::{job, JobArgs};
use polyperf::runner::Job;

#[derive(Parser)]
#[command(name = "polyperf-adjust", version, about = "polyperf adjust job")]
struct Args {
    #[command(flatten)]
    job: JobArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    job::main(Job::Adjust, args.job, |ctx| {
        Box::pin(polyperf::adjust::run(ctx))
    })
}
