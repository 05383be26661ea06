//! Placeholder: filled by the adjuster issue.

use anyhow::Result;
use serde::Serialize;

use crate::runner::{GlobalArgs, JobContext};

#[derive(clap::Subcommand, Debug, Clone)]
pub enum ProposalsCmd {
    /// List proposals (newest first)
    List,
    /// Show one proposal with its evidence
    Show { id: i64 },
    /// Approve and apply a proposal awaiting approval
    Approve { id: i64 },
    /// Reject a proposal
    Reject { id: i64 },
}

#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub status: &'static str,
}

pub async fn run(_ctx: &mut JobContext) -> Result<Stats> {
    Ok(Stats {
        status: "not implemented yet",
    })
}

pub fn proposals_cli(_global: &GlobalArgs, _cmd: ProposalsCmd) -> Result<u8> {
    anyhow::bail!("proposals commands are not implemented yet")
}

/// A human's verdict on a proposal awaiting approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Approve,
    Reject,
}

/// What [`decide`] did.
#[derive(Debug, Clone, Serialize)]
pub struct DecideOutcome {
    pub proposal_id: i64,
    /// The proposal's status afterwards (`applied`, `rejected`, or unchanged).
    pub status: String,
    /// Whether anything changed.
    pub changed: bool,
    /// One line for the human: what happened, or why nothing did.
    pub message: String,
}

/// Approves or rejects proposal `proposal_id` (Telegram buttons and commands, `polyperf
/// proposals approve|reject`). `nonce`, when given (button presses), must match the proposal's.
/// A proposal already decided, expired, superseded or unknown changes nothing and says why.
pub fn decide(
    _conn: &mut rusqlite::Connection,
    _settings: &crate::config::Settings,
    _proposal_id: i64,
    _nonce: Option<&str>,
    _verdict: Verdict,
    _by: &str,
    _method: crate::params::Method,
    _now: chrono::DateTime<chrono::Utc>,
) -> Result<DecideOutcome> {
    anyhow::bail!("approvals are not implemented yet")
}
