//! `polyperf pause` and `polyperf resume`: the trading switch (`crate::control`).

use anyhow::Result;
use chrono::Utc;

use super::{open, operator, print, GlobalArgs};
use crate::control;

#[derive(clap::Args, Debug, Clone)]
pub struct Pause {
    /// Why trading stops (kept in the audit trail and sent to Telegram)
    #[arg(long)]
    reason: String,
    /// Who is pausing (default: $USER)
    #[arg(long)]
    by: Option<String>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct Resume {
    /// Why trading resumes (kept in the audit trail)
    #[arg(long, default_value = "resumed by operator")]
    reason: String,
    /// Who is resuming (default: $USER)
    #[arg(long)]
    by: Option<String>,
}

/// Prints whether the switch moved and where it stands (`--json`), or one of two sentences.
fn print_switch(
    global: &GlobalArgs,
    conn: &rusqlite::Connection,
    changed: bool,
    done: &str,
    unchanged: &str,
) -> Result<u8> {
    let state = control::state(conn)?;
    print(
        global.json,
        &serde_json::json!({"changed": changed, "state": state}),
        |_| if changed { done } else { unchanged }.to_string(),
    );
    Ok(0)
}

impl Pause {
    pub fn run(self, global: &GlobalArgs) -> Result<u8> {
        let Pause { reason, by } = self;
        let (settings, mut conn) = open(global)?;
        let by = operator(by);
        let tx = crate::db::write_tx(&mut conn)?;
        let changed = control::pause(
            &tx,
            &settings.telegram.notify,
            &control::Pause {
                reason: &reason,
                by: &by,
                rule: None,
                figures: None,
                auto_resume_at: None,
            },
            Utc::now(),
        )?;
        tx.commit()?;
        let done = format!("trading paused: {reason}");
        print_switch(global, &conn, changed, &done, "trading was already paused")
    }
}

impl Resume {
    pub fn run(self, global: &GlobalArgs) -> Result<u8> {
        let Resume { reason, by } = self;
        let (settings, mut conn) = open(global)?;
        let by = operator(by);
        let tx = crate::db::write_tx(&mut conn)?;
        let changed = control::resume(&tx, &settings.telegram.notify, &by, &reason, Utc::now())?;
        tx.commit()?;
        print_switch(
            global,
            &conn,
            changed,
            "trading resumed",
            "trading was not paused",
        )
    }
}
