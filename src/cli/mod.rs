//! Shared pieces of the operator CLI (`polyperf`): opening the database for a command and
//! printing results as JSON or text. Subcommands live with the module they drive.

use anyhow::Result;
use rusqlite::Connection;
use serde::Serialize;

use crate::config::Settings;
use crate::runner::GlobalArgs;

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
