//! Placeholder: filled by the archive issue.

use anyhow::Result;
use serde::Serialize;
use std::path::PathBuf;

use crate::runner::{GlobalArgs, JobContext};

#[derive(clap::Subcommand, Debug, Clone)]
pub enum ArchiveCmd {
    /// List archive files with weeks, rows, sizes and checksum status
    List {
        #[arg(long, env = "POLYPERF_ARCHIVE_DIR")]
        archive_dir: Option<PathBuf>,
    },
    /// Re-read archive files and compare with the manifest (non-zero exit on any mismatch)
    Verify {
        file: Option<PathBuf>,
        #[arg(long, env = "POLYPERF_ARCHIVE_DIR")]
        archive_dir: Option<PathBuf>,
    },
    /// Put an archive file's rows back (rows already present are skipped)
    Restore {
        file: PathBuf,
        #[arg(long)]
        dry_run: bool,
    },
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

pub fn cli(_global: &GlobalArgs, _cmd: ArchiveCmd) -> Result<u8> {
    anyhow::bail!("archive commands are not implemented yet")
}
