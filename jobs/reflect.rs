//! polyperf-reflect: see `polyperf::reflect`.

use std::process::ExitCode;

use clap::Parser;
use polyperf::cli::{job, JobArgs};
use polyperf::config::Engine;
use polyperf::reflect::{self, Options, Requested};
use polyperf::runner::Job;

#[derive(Parser)]
#[command(name = "polyperf-reflect", version, about = "polyperf reflect job")]
struct Args {
    #[command(flatten)]
    job: JobArgs,
    /// Fire a trigger by hand: end_of_day (once per UTC day) or manual (always)
    #[arg(long, value_enum)]
    trigger: Option<Requested>,
    /// Analysis engine [default: openai when OPENAI_API_KEY is set, else rules]
    #[arg(long, value_enum)]
    engine: Option<Engine>,
    /// Print the prompt and exit, writing nothing
    #[arg(long)]
    print_prompt: bool,
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    let opts = Options {
        trigger: args.trigger,
        engine: args.engine,
        print_prompt: args.print_prompt,
    };
    // Printing the prompt writes nothing: not even a run record.
    args.job.dry_run |= opts.print_prompt;
    job::main(Job::Reflect, args.job, move |ctx| {
        Box::pin(async move { reflect::run_with(ctx, &opts).await })
    })
}
