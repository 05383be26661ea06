//! polyperf-archive: see `polyperf::archive`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use polyperf::archive::Options;
use polyperf::cli::{job, JobArgs};
use polyperf::runner::Job;

#[derive(Parser)]
#[command(name = "polyperf-archive", version, about = "polyperf archive job")]
struct Args {
    #[command(flatten)]
    job: JobArgs,
    /// Archive finished rows older than DAYS, 0 to 36500 [default: archive.retention_days, 30]
    #[arg(
        long,
        value_name = "DAYS",
        allow_hyphen_values = true,
        value_parser = polyperf::time::parse_days_or_zero_arg
    )]
    older_than: Option<u32>,
    /// Archive directory [default: archive.dir, `archive`]
    #[arg(long, value_name = "PATH")]
    archive_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let options = Options {
        older_than_days: args.older_than,
        archive_dir: args.archive_dir,
    };
    job::main(Job::Archive, args.job, move |ctx| {
        Box::pin(async move { polyperf::archive::run_with(ctx, &options).await })
    })
}
