//! Placeholder: filled by its issue.

use serde::Serialize;

use crate::runner::JobContext;

/// What a run did.
#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub status: &'static str,
}

/// Not implemented yet: records the run and does nothing.
pub async fn run(_ctx: &mut JobContext) -> anyhow::Result<Stats> {
    Ok(Stats {
        status: "not implemented yet",
    })
}
