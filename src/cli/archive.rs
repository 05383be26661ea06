//! `polyperf archive {list,verify,restore}`: flags and printing; the work is the library's
//! (`archive::list`, `archive::verify`, `archive::restore`).

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;
use chrono::Utc;

use super::{open, print, GlobalArgs};
use crate::archive::{list, restore, verify, FileStatus, RestoreRequest};

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
        /// Check the file and count what would be inserted; change nothing
        #[arg(long)]
        dry_run: bool,
        /// Where this database's archive files are (to compare a copy with its original)
        #[arg(long, env = "POLYPERF_ARCHIVE_DIR")]
        archive_dir: Option<PathBuf>,
    },
}

fn render_files(files: &[FileStatus]) -> String {
    if files.is_empty() {
        return "no archive files\n".into();
    }
    let mut s = String::new();
    for f in files {
        s.push_str(&format!(
            "{:<36} {:>9} rows {:>12} bytes  {}{}\n",
            f.file,
            f.rows.map(|r| r.to_string()).unwrap_or_else(|| "?".into()),
            f.size_bytes
                .map(|r| r.to_string())
                .unwrap_or_else(|| "?".into()),
            f.status,
            if f.deleted {
                ""
            } else {
                " (rows still in the database)"
            },
        ));
    }
    s
}

/// `polyperf archive ...`; returns the exit code.
impl ArchiveCmd {
    pub fn run(self, global: &GlobalArgs) -> Result<u8> {
        let (mut settings, mut conn) = open(global)?;
        match self {
            ArchiveCmd::List { archive_dir } => {
                if let Some(dir) = archive_dir {
                    settings.archive.dir = dir;
                }
                let files = list(&conn, &settings.archive.dir)?;
                print(global.json, &serde_json::json!({ "files": files }), |_| {
                    render_files(&files)
                });
                Ok(crate::error::EXIT_OK)
            }
            ArchiveCmd::Verify { file, archive_dir } => {
                if let Some(dir) = archive_dir {
                    settings.archive.dir = dir;
                }
                let files = verify(
                    &mut conn,
                    &settings.archive.dir,
                    file.as_deref(),
                    Utc::now(),
                )?;
                let mismatches = files.iter().filter(|f| f.status != "ok").count();
                print(
                    global.json,
                    &serde_json::json!({ "files": files, "mismatches": mismatches }),
                    |_| render_files(&files) + &format!("{mismatches} mismatch(es)\n"),
                );
                Ok(if mismatches > 0 {
                    crate::error::EXIT_FAILED
                } else {
                    crate::error::EXIT_OK
                })
            }
            ArchiveCmd::Restore {
                file,
                dry_run,
                archive_dir,
            } => {
                let request = RestoreRequest {
                    file: &file,
                    archive_dir: archive_dir.as_deref().unwrap_or(&settings.archive.dir),
                    dry_run,
                    progress: std::io::stderr().is_terminal(),
                };
                let report = restore(&mut conn, &request)?;
                print(global.json, &report, |r| {
                    format!(
                        "{}{}: {} rows, inserted {}, skipped {} (already present)",
                        r.file,
                        if r.dry_run { " (dry run)" } else { "" },
                        r.rows,
                        r.inserted,
                        r.skipped
                    )
                });
                Ok(crate::error::EXIT_OK)
            }
        }
    }
}
