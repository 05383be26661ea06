//! Crash reconciliation: what a crashed run left (temp files, recorded files whose rows were not
//! deleted yet, final files without a manifest row) is finished, adopted or set aside.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::delete::delete_archived;
use super::format::{parse_file_name, Header};
use super::scan::scan_file;
use super::tables::table_columns;
use super::Stats;
use crate::archives as manifest;
use crate::time::to_db;

/// Finishes what a crashed run left: removes dead temp files; for manifest rows whose rows were
/// not deleted yet, checks the file and deletes them (or drops the manifest row when the file is
/// missing or damaged: its rows are all still in the database); adopts a checked final file that
/// has no manifest row (a crash between rename and record), or sets a damaged one aside.
pub fn reconcile(
    conn: &mut Connection,
    dir: &Path,
    now: DateTime<Utc>,
    stats: &mut Stats,
) -> Result<()> {
    let finals = sweep(dir, stats)?;
    for recorded in manifest::not_deleted(conn)? {
        stats.rows_deleted += finish_recorded(conn, dir, &recorded, now, stats)?;
    }
    for name in finals {
        if !manifest::knows(conn, &name)? {
            stats.rows_deleted += adopt(conn, dir, &name, now, stats)?;
        }
    }
    Ok(())
}

/// Removes temp files no live process writes and sets links aside; returns the names of the
/// regular files named like archive files. One entry that cannot be looked at or removed (a
/// foreign file, its permissions) is named in a warning and passed over, never a reason to
/// stop every run.
fn sweep(dir: &Path, stats: &mut Stats) -> Result<Vec<String>> {
    let mut finals = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot read an entry of the archive directory; passed over");
                continue;
            }
        };
        if let Err(e) = sweep_one(&entry, &mut finals, stats) {
            tracing::warn!(file = %entry.path().display(), error = %format!("{e:#}"), "passed over");
        }
    }
    Ok(finals)
}

fn sweep_one(entry: &std::fs::DirEntry, finals: &mut Vec<String>, stats: &mut Stats) -> Result<()> {
    let Some(name) = entry.file_name().to_str().map(str::to_string) else {
        return Ok(());
    };
    if name.starts_with('.') && name.ends_with(".tmp") && name.contains(".jsonl.gz.") {
        let pid: Option<i32> = name
            .trim_end_matches(".tmp")
            .rsplit('.')
            .next()
            .and_then(|p| p.parse().ok());
        if pid.is_none_or(|p| p == std::process::id() as i32 || !crate::host::alive(i64::from(p))) {
            tracing::warn!(file = %name, "removing a temp file left by a crashed run");
            std::fs::remove_file(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
        }
    } else if parse_file_name(&name).is_some() {
        // The job writes regular files only: a link named like an archive file is not its
        // own, and following it could adopt (and delete rows for) a file anywhere.
        let file_type = entry.file_type()?;
        if file_type.is_symlink() {
            tracing::warn!(file = %name, "archive file is a symbolic link, which the archive job never writes; set aside, not followed");
            set_aside(&entry.path(), stats);
        } else if file_type.is_file() {
            finals.push(name);
        }
    }
    Ok(())
}

/// A recorded file whose rows were not deleted yet: deletes them if the file checks, else drops
/// the manifest row. Returns the rows deleted.
fn finish_recorded(
    conn: &mut Connection,
    dir: &Path,
    recorded: &manifest::Recorded,
    now: DateTime<Utc>,
    stats: &mut Stats,
) -> Result<u64> {
    let name = &recorded.file;
    let path = dir.join(name);
    let check = regular_file(&path)
        .and_then(|()| scan_file(conn, &path))
        .and_then(|s| {
            if s.sha256 != recorded.sha256 {
                Err(anyhow!(
                    "sha256 {} differs from the manifest's {}",
                    s.sha256,
                    recorded.sha256
                ))
            } else {
                same_columns(conn, &s.header)
            }
        });
    match check {
        Ok(()) => {
            tracing::warn!(file = %name, "finishing an archive file a crashed run left");
            delete_archived(conn, dir, recorded.id, now)
        }
        Err(e) => {
            // deleted_at is set in the transaction that deletes, so every row is still here.
            tracing::warn!(file = %name, error = %crate::error::one_line(&e), "archive file unusable; its rows stay in the database");
            set_aside(&path, stats);
            manifest::forget(conn, recorded.id)?;
            Ok(0)
        }
    }
}

/// A final file without a manifest row (a crash between rename and record): recorded and its
/// rows deleted if it checks, else set aside. Returns the rows deleted.
fn adopt(
    conn: &mut Connection,
    dir: &Path,
    name: &str,
    now: DateTime<Utc>,
    stats: &mut Stats,
) -> Result<u64> {
    let path = dir.join(name);
    let Some((table_name, week, part)) = parse_file_name(name) else {
        return Ok(0);
    };
    // scan_file refuses a header for another table or week than the name says, and rows
    // outside that week.
    match scan_file(conn, &path).and_then(|s| same_columns(conn, &s.header).map(|()| s)) {
        Ok(s) => {
            tracing::warn!(file = %name, "adopting an archive file a crashed run left");
            let id = manifest::insert(
                conn,
                &manifest::NewEntry {
                    table: table_name,
                    week: &week,
                    part,
                    file: name,
                    rows: s.rows,
                    min_id: s.min_id,
                    max_id: s.max_id,
                    sha256: &s.sha256,
                    size_bytes: s.size_bytes,
                    content_sha256: &s.content_sha256,
                    created_at: s.header.created_at.clone(),
                    verified_at: to_db(now),
                },
            )?;
            delete_archived(conn, dir, id, now)
        }
        Err(e) => {
            tracing::warn!(file = %name, error = %crate::error::one_line(&e), "archive file without manifest row is damaged or not for the table and week it is named for; set aside");
            set_aside(&path, stats);
            Ok(0)
        }
    }
}

/// A regular file (not a link, which could lead out of the archive directory).
fn regular_file(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => bail!("{} is not a regular file", path.display()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// A file whose rows are still to be deleted must have the table's current columns (the
/// delete compares each row with its line). One written before a migration changed the table
/// cannot be finished: its rows are all still in the database and are archived again.
fn same_columns(conn: &Connection, header: &Header) -> Result<()> {
    if table_columns(conn, &header.table)? == header.columns {
        Ok(())
    } else {
        Err(anyhow!(
            "written before the table {} changed (a migration)",
            header.table
        ))
    }
}

/// Renames a damaged file (or a link, never its target) to `<name>.rejected`: kept for a human,
/// out of the archive's way.
fn set_aside(path: &Path, stats: &mut Stats) {
    if std::fs::symlink_metadata(path).is_ok() {
        let mut target = path.as_os_str().to_owned();
        target.push(".rejected");
        match std::fs::rename(path, &target) {
            Ok(()) => stats.files_set_aside += 1,
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "could not set the file aside")
            }
        }
    }
}
