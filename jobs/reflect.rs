//! polyperf-reflect: see `polyperf::reflect`.

use std::process::ExitCode;

use clap::Parser;
use polyperf::runner::{self, JobArgs};

#[derive(Parser)]
#[command(name = "polyperf-reflect", version, about = "polyperf reflect job")]
struct Args {
    #[command(flatten)]
    job: JobArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    runner::main("polyperf-reflect", args.job, |ctx| {
        Box::pin(polyperf::reflect::run(ctx))
    })
}
