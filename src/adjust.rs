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
    Ok(Stats { status: "not implemented yet" })
}

pub fn proposals_cli(_global: &GlobalArgs, _cmd: ProposalsCmd) -> Result<u8> {
    anyhow::bail!("proposals commands are not implemented yet")
}
