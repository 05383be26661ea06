//! `polyperf alert`: queues a failed unit's alert (systemd `OnFailure=`), after saying it on
//! stderr, so that it gets out even when the database is the problem.

use anyhow::Result;
use chrono::Utc;

use super::{open, print, GlobalArgs};
use crate::outbox::message::JobFailure;
use crate::outbox::Message;

#[derive(clap::Args, Debug, Clone)]
pub struct Alert {
    /// The failed unit, e.g. polyperf-settle.service
    #[arg(long)]
    unit: String,
    /// Its result (default: $MONITOR_SERVICE_RESULT, set by systemd for OnFailure= units)
    #[arg(long, env = "MONITOR_SERVICE_RESULT")]
    result: Option<String>,
    /// Its exit status (default: $MONITOR_EXIT_STATUS)
    #[arg(long, env = "MONITOR_EXIT_STATUS")]
    exit_status: Option<String>,
}

impl Alert {
    pub fn run(self, global: &GlobalArgs) -> Result<u8> {
        let Alert {
            unit,
            result,
            exit_status,
        } = self;
        // The alert must get out even when the database is the problem: print it first.
        eprintln!(
            "polyperf alert: {unit} failed (result {}, exit status {})",
            result.as_deref().unwrap_or("?"),
            exit_status.as_deref().unwrap_or("?")
        );
        let message = Message::JobFailure(JobFailure {
            unit: unit.clone(),
            result,
            exit_status,
            host: std::env::var("HOSTNAME").ok(),
        });
        let (settings, conn) = open(global)?;
        let now = Utc::now();
        let key = format!("job_failure:{unit}:{}", now.timestamp());
        crate::outbox::enqueue(&conn, &settings.telegram.notify, &message, Some(&key), now)?;
        print(global.json, &message.payload(), |_| {
            format!("alert queued for {unit}")
        });
        Ok(0)
    }
}
