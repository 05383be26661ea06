//! Placeholder: filled by the settlement issue.

use anyhow::Result;
use rusqlite::Connection;
use serde::Serialize;

use crate::config::Settings;
use crate::runner::JobContext;

#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub status: &'static str,
}

pub async fn run(_ctx: &mut JobContext) -> Result<Stats> {
    Ok(Stats {
        status: "not implemented yet",
    })
}

/// Result of `polyperf settle-check`.
#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    pub checked: u64,
    pub mismatches: Vec<String>,
}

pub fn verify(_conn: &Connection, _settings: &Settings) -> Result<VerifyReport> {
    anyhow::bail!("settle-check is not implemented yet")
}
