//! Placeholder: filled by the running-it-for-real issue.

use anyhow::Result;

use crate::runner::GlobalArgs;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ScheduleArgs {}

pub fn cli(_global: &GlobalArgs, _args: ScheduleArgs) -> Result<()> {
    anyhow::bail!("schedule is not implemented yet")
}
