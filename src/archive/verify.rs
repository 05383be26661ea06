//! `polyperf archive list` and `verify`: the manifest against the directory and the files.

use std::collections::HashSet;
use std::path::Path;

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::Serialize;

use super::format::parse_file_name;
use super::restore::{restore, RestoreRequest};
use super::scan::scan_file;
use super::trust;
use crate::archives::{self as manifest, manifest, ManifestRow};
use crate::time::to_db;

/// One line of `polyperf archive list` / `verify`.
#[derive(Debug, Clone, Serialize)]
pub struct FileStatus {
    pub file: String,
    pub table: Option<String>,
    pub week: Option<String>,
    pub part: Option<i64>,
    pub rows: Option<i64>,
    pub size_bytes: Option<u64>,
    pub sha256: Option<String>,
    pub deleted: bool,
    pub verified_at: Option<String>,
    /// `ok`, `missing: <the path looked for>`, `size differs`, `not in manifest`, `offloaded`,
    /// or what a check found.
    pub status: String,
}

/// The status of a file that is not where it was looked for, naming that place.
fn missing(path: &Path) -> String {
    format!("missing: no {}", path.display())
}

fn unlisted(dir: &Path, conn_files: &HashSet<String>) -> Result<Vec<FileStatus>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if let Some((table_name, week, part)) = parse_file_name(&name) {
            if !conn_files.contains(&name) {
                out.push(FileStatus {
                    file: name,
                    table: Some(table_name.into()),
                    week: Some(week),
                    part: Some(part),
                    rows: None,
                    size_bytes: entry.metadata().ok().map(|m| m.len()),
                    sha256: None,
                    deleted: false,
                    verified_at: None,
                    status: "not in manifest".into(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(out)
}

/// `polyperf archive list`: the manifest and the directory, without reading file contents
/// (status: `ok` when the file is there with its recorded size).
pub fn list(conn: &Connection, dir: &Path) -> Result<Vec<FileStatus>> {
    let rows = manifest(conn)?;
    let names: HashSet<String> = rows.iter().map(|r| r.file.clone()).collect();
    let mut out: Vec<FileStatus> = rows
        .iter()
        .map(|r| {
            let path = r.path(dir);
            let status = match std::fs::metadata(&path) {
                Err(_) => missing(&path),
                Ok(m) if m.len() != r.size_bytes => "size differs".to_string(),
                Ok(_) if r.offloaded_to.is_some() => "offloaded".to_string(),
                Ok(_) => "ok".to_string(),
            };
            file_status(r, status)
        })
        .collect();
    out.extend(unlisted(dir, &names)?);
    Ok(out)
}

/// `polyperf archive verify [FILE]`: re-reads each file (or the one given) in full and compares
/// its rows with its manifest row (by the rows digest, so a re-compressed copy of the same rows
/// is `ok`, as restore accepts it); sets `verified_at` on a match (and records the rows digest
/// of a file archived before it existed). A FILE the manifest does not name is `ok` when it
/// holds exactly the rows of a manifest entry, else its status says what restore would do with
/// it. Returns every file's status; any status other than `ok` is a mismatch.
pub fn verify(
    conn: &mut Connection,
    dir: &Path,
    file: Option<&Path>,
    now: DateTime<Utc>,
) -> Result<Vec<FileStatus>> {
    let rows = manifest(conn)?;
    let names: HashSet<String> = rows.iter().map(|r| r.file.clone()).collect();
    let wanted = file.map(|f| {
        f.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string()
    });
    let mut out = Vec::new();
    for row in rows
        .iter()
        .filter(|r| wanted.as_ref().is_none_or(|w| *w == r.file))
    {
        let path = match file {
            Some(f) if f.exists() => f.to_path_buf(),
            _ => row.path(dir),
        };
        if !path.exists() {
            out.push(file_status(row, missing(&path)));
            continue;
        }
        let status = match scan_file(conn, &path) {
            Err(e) => crate::error::one_line(&e),
            Ok(s) => match row.mismatch(&s) {
                Some(why) => why,
                None => {
                    manifest::mark_verified(conn, &row.file, &s.content_sha256, now)?;
                    "ok".into()
                }
            },
        };
        let mut st = file_status(row, status);
        if st.status == "ok" {
            st.verified_at = Some(to_db(now));
        }
        out.push(st);
    }
    match (&wanted, file) {
        (Some(w), Some(f)) if !names.contains(w) => {
            let status = match scan_file(conn, f) {
                Err(e) => crate::error::one_line(&e),
                Ok(s) => {
                    let known = trust::Manifest::load(conn, &s.header.table, dir)?;
                    match known.same_rows(&s) {
                        Some(_) => "ok".to_string(),
                        None => match restore(conn, &RestoreRequest::dry_run(f, dir)) {
                            Ok(r) => format!(
                                "intact, but not in manifest: restore would insert {} rows and skip {}",
                                r.inserted, r.skipped
                            ),
                            Err(e) => format!(
                                "not in manifest, and restore would refuse it: {}",
                                crate::error::one_line(&e)
                            ),
                        },
                    }
                }
            };
            out.push(FileStatus {
                file: w.clone(),
                table: None,
                week: None,
                part: None,
                rows: None,
                size_bytes: std::fs::metadata(f).ok().map(|m| m.len()),
                sha256: None,
                deleted: false,
                verified_at: None,
                status,
            });
        }
        (None, _) => out.extend(unlisted(dir, &names)?),
        _ => {}
    }
    Ok(out)
}

/// A manifest row as `archive list` / `verify` show it, with what was found of its file.
fn file_status(row: &ManifestRow, status: String) -> FileStatus {
    FileStatus {
        file: row.file.clone(),
        table: Some(row.table.clone()),
        week: Some(row.week.clone()),
        part: Some(row.part),
        rows: Some(row.rows),
        size_bytes: Some(row.size_bytes),
        sha256: Some(row.sha256.clone()),
        deleted: row.deleted,
        verified_at: row.verified_at.clone(),
        status,
    }
}
