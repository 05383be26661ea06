//! `polyperf pause` and `polyperf resume`: the trading switch (`crate::control`).

use anyhow::Result;
use chrono::Utc;

use super::{open, operator, print, GlobalArgs};
use crate::control;

#[derive(clap::Args, Debug, Clone)]
pub struct Pause {
    #[arg(long)]
    reason: String,
    /// Who is pausing (default: $USER)
    #[arg(long)]
    by: Option<String>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct Resume {
    #[arg(long, default_value = "resumed by operator")]
    reason: String,
    #[arg(long)]
    by: Option<String>,
}

impl Pause {
    pub fn run(self, global: &GlobalArgs) -> Result<u8> {
        let Pause { reason, by } = self;
        let (_, mut conn) = open(global)?;
        let by = operator(by);
        let tx = crate::db::write_tx(&mut conn)?;
        let changed = control::pause(
            &tx,
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
        let state = control::state(&conn)?;
        print(
            global.json,
            &serde_json::json!({"changed": changed, "state": state}),
            |_| {
                if changed {
                    format!("trading paused: {reason}")
                } else {
                    "trading was already paused".into()
                }
            },
        );
        Ok(0)
    }
}

impl Resume {
    pub fn run(self, global: &GlobalArgs) -> Result<u8> {
        let Resume { reason, by } = self;
        let (_, mut conn) = open(global)?;
        let by = operator(by);
        let tx = crate::db::write_tx(&mut conn)?;
        let changed = control::resume(&tx, &by, &reason, Utc::now())?;
        tx.commit()?;
        let state = control::state(&conn)?;
        print(
            global.json,
            &serde_json::json!({"changed": changed, "state": state}),
            |_| {
                if changed {
                    "trading resumed".into()
                } else {
                    "trading was not paused".into()
                }
            },
        );
        Ok(0)
    }
}
