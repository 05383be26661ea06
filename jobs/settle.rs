//! polyperf-settle: see `polyperf::settle`.

use std::process::ExitCode;

use clap::Parser;
use polyperf::cli::{job, JobArgs};
use polyperf::runner::Job;
use polyperf::settle::{Options, Source};

#[derive(Parser)]
#[command(name = "polyperf-settle", version, about = "polyperf settle job")]
struct Args {
    #[command(flatten)]
    job: JobArgs,
    /// Where outcomes come from [default: the `settlement.source` setting, normally auto]
    #[arg(long, value_enum)]
    source: Option<Source>,
    /// Decisions per batch (one transaction each) [default: `settlement.batch_size`]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    batch_size: Option<u32>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let options = Options {
        source: args.source,
        batch_size: args.batch_size,
    };
    job::main(Job::Settle, args.job, move |ctx| {
        Box::pin(async move { polyperf::settle::run_with(ctx, &options).await })
    })
}
