//! `polyperf`: the operator CLI. Dispatch only: each command lives in `polyperf::cli`.

use std::process::ExitCode;

use clap::Parser;
use polyperf::cli::Cli;
use polyperf::error::{exit_code_for, one_line};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.run(&cli.global) {
        Ok(code) => ExitCode::from(polyperf::output::exit_code(code)),
        Err(e) => {
            eprintln!("polyperf: error: {}", one_line(&e));
            ExitCode::from(exit_code_for(&e))
        }
    }
}
