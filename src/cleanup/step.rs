//! The steps of the emergency sequence, in the order they run.

use serde::{Deserialize, Serialize};

/// A step of the emergency sequence, printed by its name (`reserve`, `checkpoint`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Delete the reserve file, so SQLite has room to work.
    Reserve,
    /// `wal_checkpoint(TRUNCATE)`.
    Checkpoint,
    /// Housekeeping rows older than a day.
    Prune,
    /// Archive with `cleanup.emergency_retention_days`.
    Archive,
    /// Incremental, then (with room for it) full VACUUM.
    Vacuum,
    /// Move verified archive files to `cleanup.archive_offload_dir` (only when it is set).
    Offload,
}

impl Step {
    /// The steps, in the order they run.
    pub const ALL: [Step; 6] = [
        Step::Reserve,
        Step::Checkpoint,
        Step::Prune,
        Step::Archive,
        Step::Vacuum,
        Step::Offload,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Reserve => "reserve",
            Step::Checkpoint => "checkpoint",
            Step::Prune => "prune",
            Step::Archive => "archive",
            Step::Vacuum => "vacuum",
            Step::Offload => "offload",
        }
    }

    /// Whether the step runs with these settings (offload needs somewhere to offload to).
    pub(super) fn enabled(self, c: &crate::config::Cleanup) -> bool {
        self != Step::Offload || c.archive_offload_dir.is_some()
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
