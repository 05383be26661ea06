//! `polyperf log`: decisions from a file or stdin into the database (`Tracker`, `trades::log`).

use std::io::BufReader;
use std::path::PathBuf;

use anyhow::Result;

use super::{open, print, GlobalArgs};
use crate::error::{bad_input, EXIT_USAGE};
use crate::Tracker;

#[derive(clap::Args, Debug, Clone)]
pub struct Log {
    /// Input file; `-` or nothing reads stdin
    file: Option<PathBuf>,
    /// Store the good lines and report the bad ones, instead of storing nothing; exits 0
    /// when at least one line was good (2 when none was)
    #[arg(long)]
    skip_invalid: bool,
}

impl Log {
    pub fn run(self, global: &GlobalArgs) -> Result<u8> {
        let Log { file, skip_invalid } = self;
        let (_, conn) = open(global)?;
        let mut tracker = Tracker::from_connection(conn);
        let report = match file.filter(|f| f.as_os_str() != "-") {
            Some(path) => {
                let f = std::fs::File::open(&path)
                    .map_err(|e| bad_input(format!("{}: {e}", path.display())))?;
                tracker.log_reader(BufReader::with_capacity(1 << 20, f), skip_invalid)?
            }
            None => tracker.log_reader(std::io::stdin().lock(), skip_invalid)?,
        };
        for e in &report.errors {
            eprintln!("polyperf log: {e}");
        }
        print(global.json, &report, |r| {
            format!(
                "stored {}, duplicates {}, invalid {}",
                r.stored, r.duplicates, r.invalid
            )
        });
        if report.invalid > 0 && !skip_invalid {
            eprintln!("polyperf log: nothing stored because of {} invalid line(s); fix them or pass --skip-invalid", report.invalid);
            return Ok(EXIT_USAGE);
        }
        if report.invalid > 0 && report.stored + report.duplicates == 0 {
            eprintln!("polyperf log: no line was valid");
            return Ok(EXIT_USAGE);
        }
        Ok(0)
    }
}
