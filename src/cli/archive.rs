//! `polyperf archive {list,verify,restore}`: flags and printing; the work is the library's
//! (`archive::list`, `archive::verify`, `archive::restore`).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::Utc;

use super::{open, print, GlobalArgs};
use crate::archive::{list, restore, verify, FileStatus, RestoreReport, RestoreRequest};

#[derive(clap::Subcommand, Debug, Clone)]
pub enum ArchiveCmd {
    /// List archive files with weeks, rows, sizes and checksum status
    List {
        /// Where the archive files are (default: the `archive.dir` setting, `archive`)
        #[arg(long, env = "POLYPERF_ARCHIVE_DIR")]
        archive_dir: Option<PathBuf>,
    },
    /// Re-read archive files and compare with the manifest (non-zero exit on any mismatch)
    Verify {
        /// Only this file (default: every file in the manifest and the directory)
        file: Option<PathBuf>,
        /// Where the archive files are (default: the `archive.dir` setting, `archive`)
        #[arg(long, env = "POLYPERF_ARCHIVE_DIR")]
        archive_dir: Option<PathBuf>,
    },
    /// Put archive files' rows back (rows already present are skipped). Several files are
    /// restored in the order given, each in its own transaction; the first one refused stops
    /// the command (exit 2, naming it and the files restored before it)
    Restore {
        /// The archive files (`TABLE-YYYY-Www[.N].jsonl.gz`), one or more
        #[arg(required = true, num_args = 1.., value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Check the file and count what would be inserted; change nothing
        #[arg(long)]
        dry_run: bool,
        /// Where this database's archive files are (to compare a copy with its original)
        #[arg(long, env = "POLYPERF_ARCHIVE_DIR")]
        archive_dir: Option<PathBuf>,
    },
}

/// The files, after the directory they were looked for in (and how to point elsewhere when
/// some are missing).
fn render_files(dir: &Path, files: &[FileStatus]) -> String {
    let mut s = format!("archive directory {}\n", dir.display());
    if files.iter().any(|f| f.status.starts_with("missing")) {
        s.push_str("(files are missing there: name the directory with --archive-dir or POLYPERF_ARCHIVE_DIR)\n");
    }
    if files.is_empty() {
        s.push_str("no archive files\n");
        return s;
    }
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
                let dir = &settings.archive.dir;
                let files = list(&conn, dir)?;
                print(
                    global.json,
                    &serde_json::json!({ "archive_dir": dir, "files": files }),
                    |_| render_files(dir, &files),
                );
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
                let dir = &settings.archive.dir;
                print(
                    global.json,
                    &serde_json::json!({ "archive_dir": dir, "files": files, "mismatches": mismatches }),
                    |_| render_files(dir, &files) + &format!("{mismatches} mismatch(es)\n"),
                );
                Ok(if mismatches > 0 {
                    crate::error::EXIT_FAILED
                } else {
                    crate::error::EXIT_OK
                })
            }
            ArchiveCmd::Restore {
                files,
                dry_run,
                archive_dir,
            } => {
                let archive_dir = archive_dir.unwrap_or(settings.archive.dir);
                let reports = restore_each(&mut conn, &files, &archive_dir, dry_run, global.json)?;
                if global.json {
                    match reports.as_slice() {
                        // One file: its report, as before several were accepted.
                        [one] => print(true, one, |_| String::new()),
                        many => print(
                            true,
                            &serde_json::json!({
                                "files": many,
                                "rows": many.iter().map(|r| r.rows).sum::<u64>(),
                                "inserted": many.iter().map(|r| r.inserted).sum::<u64>(),
                                "skipped": many.iter().map(|r| r.skipped).sum::<u64>(),
                            }),
                            |_| String::new(),
                        ),
                    }
                }
                Ok(crate::error::EXIT_OK)
            }
        }
    }
}

fn restore_line(r: &RestoreReport) -> String {
    format!(
        "{}{}: {} rows, inserted {}, skipped {} (already present)",
        r.file,
        if r.dry_run { " (dry run)" } else { "" },
        r.rows,
        r.inserted,
        r.skipped
    )
}

/// Restores the files in order, each in its own transaction (printing each line as it is done
/// unless `json`); a refused file stops there, its error naming the files restored before it.
fn restore_each(
    conn: &mut rusqlite::Connection,
    files: &[PathBuf],
    archive_dir: &Path,
    dry_run: bool,
    json: bool,
) -> Result<Vec<RestoreReport>> {
    let mut done: Vec<RestoreReport> = Vec::with_capacity(files.len());
    for file in files {
        let request = RestoreRequest {
            file,
            archive_dir,
            dry_run,
            progress: std::io::stderr().is_terminal(),
        };
        match restore(conn, &request) {
            Ok(report) => {
                if !json {
                    crate::output::println(&restore_line(&report));
                }
                done.push(report);
            }
            Err(e) if done.is_empty() => return Err(e),
            Err(e) => {
                let before: Vec<&str> = done.iter().map(|r| r.file.as_str()).collect();
                let what = if dry_run { "checked" } else { "restored" };
                return Err(e.context(format!(
                    "{} stopped the restore; {what} before it, each in its own transaction: {}",
                    file.display(),
                    before.join(", ")
                )));
            }
        }
    }
    Ok(done)
}
