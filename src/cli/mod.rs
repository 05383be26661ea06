//! The command-line layer: the operator CLI (`polyperf`), the flags every binary shares
//! ([`args`]) and the body of the job binaries ([`job`]); opening the database for a command
//! and printing results as JSON or text. Subcommands live with the module they drive.

pub mod args;
pub mod job;

use anyhow::Result;
use rusqlite::Connection;
use serde::Serialize;

use crate::config::Settings;
pub use args::{GlobalArgs, JobArgs};

/// Loads settings, starts tracing and opens (migrating) the database.
pub fn open(global: &GlobalArgs) -> Result<(Settings, Connection)> {
    let settings = global.settings()?;
    crate::runner::init_tracing(settings.general.log_format);
    let conn = crate::db::open(&settings.general.db)?;
    Ok((settings, conn))
}

/// Prints `value` as one JSON object when `json`, else the text `human` makes.
pub fn print<T: Serialize>(json: bool, value: &T, human: impl FnOnce(&T) -> String) {
    if json {
        println!(
            "{}",
            serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
        );
    } else {
        let text = human(value);
        print!("{text}");
        if !text.ends_with('\n') {
            println!();
        }
    }
}
