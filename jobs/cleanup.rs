//! polyperf-cleanup: see `polyperf::cleanup`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use polyperf::cleanup::Options;
use polyperf::cli::{job, JobArgs};
use polyperf::runner::Job;

#[derive(Parser)]
#[command(
    name = "polyperf-cleanup",
    version,
    about = "polyperf cleanup job: disk-space guard"
)]
struct Args {
    #[command(flatten)]
    job: JobArgs,
    /// Archive directory (watched, and where the emergency archive writes) [default: archive]
    #[arg(long, env = "POLYPERF_ARCHIVE_DIR", value_name = "DIR")]
    archive_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let options = Options {
        archive_dir: args.archive_dir,
    };
    job::main(Job::Cleanup, args.job, move |ctx| {
        Box::pin(async move { polyperf::cleanup::run_with(ctx, &options).await })
    })
}
