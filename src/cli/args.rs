//! The flags every binary shares: `GlobalArgs` (`--db`, `--config`, `--json`) and, for the
//! job binaries, `JobArgs` (`--dry-run`, `--now`), with their environment fallbacks.

use std::path::PathBuf;

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::config::Settings;
use crate::time::parse_now_arg;

/// Flags every binary takes.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct GlobalArgs {
    /// SQLite database file [default: data/performance.db]
    #[arg(long, env = "POLYPERF_DB", value_name = "PATH", global = true)]
    pub db: Option<PathBuf>,
    /// TOML settings file (optional; environment variables override it)
    #[arg(long, env = "POLYPERF_CONFIG", value_name = "PATH", global = true)]
    pub config: Option<PathBuf>,
    /// Print the result as one JSON object on stdout
    #[arg(long, global = true)]
    pub json: bool,
    /// Log progress (info) on stderr too: commands log only warnings by default, jobs always
    /// log at info (RUST_LOG overrides both)
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

/// Flags every job binary takes.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct JobArgs {
    #[command(flatten)]
    pub global: GlobalArgs,
    /// Compute and print, write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// The job's idea of "now" (RFC 3339), for reruns and tests
    #[arg(long, value_name = "RFC3339", value_parser = parse_now_arg)]
    pub now: Option<DateTime<Utc>>,
}

impl GlobalArgs {
    /// The default log level of an operator's command: `warn`, or `info` with `--verbose`.
    pub fn log_level(&self) -> &'static str {
        if self.verbose {
            "info"
        } else {
            "warn"
        }
    }

    /// Settings from the config file and environment, with `--db` applied.
    pub fn settings(&self) -> Result<Settings> {
        let mut settings = Settings::load(self.config.as_deref())?;
        if let Some(db) = &self.db {
            settings.general.db = db.clone();
        }
        Ok(settings)
    }
}
