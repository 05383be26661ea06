//! Placeholder: `polyperf report` is filled by the metrics issue.

use anyhow::Result;
use chrono::{DateTime, Utc};
use std::path::PathBuf;

use crate::runner::GlobalArgs;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ReportArgs {
    /// Only the last N days
    #[arg(long, conflicts_with = "since")]
    pub days: Option<u32>,
    /// Only decisions at or after this time (RFC 3339)
    #[arg(long, value_parser = crate::time::parse_now_arg)]
    pub since: Option<DateTime<Utc>>,
    /// Write a self-contained HTML page here
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write an SVG chart (equity curve, win rate by signal) here
    #[arg(long, value_name = "FILE")]
    pub chart: Option<PathBuf>,
    #[arg(long, value_name = "RFC3339", value_parser = crate::time::parse_now_arg)]
    pub now: Option<DateTime<Utc>>,
}

pub fn cli(_global: &GlobalArgs, _args: ReportArgs) -> Result<()> {
    anyhow::bail!("report is not implemented yet")
}

/// A short plain-text performance summary (Telegram's /report, notifications).
pub fn summary_text(
    _conn: &rusqlite::Connection,
    _days: Option<u32>,
    _now: DateTime<Utc>,
) -> Result<String> {
    anyhow::bail!("report is not implemented yet")
}
