//! The manifest (`archives` table): every statement that reads or writes it. Cleanup's offload
//! and `polyperf status` go through the public functions here.

use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use serde::Serialize;

use super::verify::FileStatus;
use crate::time::to_db;

pub(super) struct ManifestRow {
    pub(super) file: String,
    pub(super) table: String,
    pub(super) week: String,
    pub(super) part: i64,
    pub(super) rows: i64,
    pub(super) min_id: Option<i64>,
    pub(super) max_id: Option<i64>,
    pub(super) sha256: String,
    /// The rows digest (see `RowDigest` in format.rs); None for files archived before it was recorded.
    pub(super) content_sha256: Option<String>,
    pub(super) size_bytes: u64,
    pub(super) deleted: bool,
    pub(super) verified_at: Option<String>,
    pub(super) offloaded_to: Option<String>,
}

pub(super) fn manifest(conn: &Connection) -> Result<Vec<ManifestRow>> {
    let mut stmt = conn.prepare(
        "SELECT file_name, table_name, iso_week, part, rows, min_id, max_id, sha256, size_bytes,
                deleted_at IS NOT NULL, verified_at, offloaded_to, content_sha256
         FROM archives ORDER BY table_name, iso_week, part",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(ManifestRow {
            file: r.get(0)?,
            table: r.get(1)?,
            week: r.get(2)?,
            part: r.get(3)?,
            rows: r.get(4)?,
            min_id: r.get(5)?,
            max_id: r.get(6)?,
            sha256: r.get(7)?,
            size_bytes: r.get(8)?,
            deleted: r.get(9)?,
            verified_at: r.get(10)?,
            offloaded_to: r.get(11)?,
            content_sha256: r.get(12)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

impl ManifestRow {
    pub(super) fn status(&self, status: String) -> FileStatus {
        FileStatus {
            file: self.file.clone(),
            table: Some(self.table.clone()),
            week: Some(self.week.clone()),
            part: Some(self.part),
            rows: Some(self.rows),
            size_bytes: Some(self.size_bytes),
            sha256: Some(self.sha256.clone()),
            deleted: self.deleted,
            verified_at: self.verified_at.clone(),
            status,
        }
    }

    /// Where the file is: the archive dir, or where cleanup moved it.
    pub(super) fn path(&self, dir: &Path) -> PathBuf {
        match &self.offloaded_to {
            Some(to) if Path::new(to).is_dir() => Path::new(to).join(&self.file),
            Some(to) => PathBuf::from(to),
            None => dir.join(&self.file),
        }
    }
}

/// A manifest row to record: a file the write path wrote, or one reconciliation adopts.
pub(super) struct NewEntry<'a> {
    pub(super) table: &'a str,
    pub(super) week: &'a str,
    pub(super) part: i64,
    pub(super) file: &'a str,
    pub(super) rows: u64,
    pub(super) min_id: Option<i64>,
    pub(super) max_id: Option<i64>,
    pub(super) sha256: &'a str,
    pub(super) size_bytes: u64,
    pub(super) content_sha256: &'a str,
    pub(super) created_at: String,
    pub(super) verified_at: String,
}

/// Records a file; returns its manifest id.
pub(super) fn insert(conn: &Connection, e: &NewEntry<'_>) -> Result<i64> {
    conn.execute(
        "INSERT INTO archives (table_name, iso_week, part, file_name, rows, min_id, max_id,
                               sha256, size_bytes, created_at, verified_at, content_sha256)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            e.table,
            e.week,
            e.part,
            e.file,
            e.rows,
            e.min_id,
            e.max_id,
            e.sha256,
            e.size_bytes,
            e.created_at,
            e.verified_at,
            e.content_sha256
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The highest part recorded for a week of a table.
pub(super) fn max_part(conn: &Connection, table: &str, week: &str) -> Result<Option<i64>> {
    Ok(conn.query_row(
        "SELECT max(part) FROM archives WHERE table_name = ?1 AND iso_week = ?2",
        params![table, week],
        |r| r.get(0),
    )?)
}

/// A recorded file: its table, its name and the SHA-256 of its bytes.
pub(super) struct Recorded {
    pub(super) id: i64,
    pub(super) table: String,
    pub(super) file: String,
    pub(super) sha256: String,
}

const SELECT_RECORDED: &str = "SELECT id, table_name, file_name, sha256 FROM archives";

fn recorded_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Recorded> {
    Ok(Recorded {
        id: r.get(0)?,
        table: r.get(1)?,
        file: r.get(2)?,
        sha256: r.get(3)?,
    })
}

/// The manifest row `id`.
pub(super) fn recorded(conn: &Connection, id: i64) -> Result<Recorded> {
    let sql = format!("{SELECT_RECORDED} WHERE id = ?1");
    Ok(conn.query_row(&sql, [id], recorded_row)?)
}

/// Files recorded whose rows were not deleted yet (and that were not offloaded), oldest first.
pub(super) fn not_deleted(conn: &Connection) -> Result<Vec<Recorded>> {
    let sql =
        format!("{SELECT_RECORDED} WHERE deleted_at IS NULL AND offloaded_to IS NULL ORDER BY id");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([], recorded_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Whether a manifest row names this file.
pub(super) fn knows(conn: &Connection, file: &str) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM archives WHERE file_name = ?1)",
        [file],
        |r| r.get(0),
    )?)
}

/// The rows of manifest row `id` left the database (in the transaction that deleted them).
pub(super) fn mark_deleted(conn: &Connection, id: i64, now: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "UPDATE archives SET deleted_at = ?1 WHERE id = ?2",
        params![to_db(now), id],
    )?;
    Ok(())
}

/// Drops a manifest row whose rows are all still in the database (its file is unusable).
pub(super) fn forget(conn: &Connection, id: i64) -> Result<()> {
    conn.execute("DELETE FROM archives WHERE id = ?1", [id])?;
    Ok(())
}

/// A file was re-read and matched: `verified_at`, and the rows digest of a file archived
/// before digests were recorded.
pub(super) fn mark_verified(
    conn: &Connection,
    file: &str,
    content_sha256: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.execute(
        "UPDATE archives SET verified_at = ?1, content_sha256 = coalesce(content_sha256, ?2)
         WHERE file_name = ?3",
        params![to_db(now), content_sha256, file],
    )?;
    Ok(())
}

/// Files whose rows left the database, and those rows: `polyperf status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub files: i64,
    pub rows: i64,
}

/// What the archive holds (files whose rows left the database).
pub fn totals(conn: &Connection) -> Result<Totals> {
    Ok(conn.query_row(
        "SELECT count(*), coalesce(sum(rows), 0) FROM archives WHERE deleted_at IS NOT NULL",
        [],
        |r| {
            Ok(Totals {
                files: r.get(0)?,
                rows: r.get(1)?,
            })
        },
    )?)
}

/// An archive file cleanup may move elsewhere: its name and the SHA-256 of its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffloadFile {
    pub file_name: String,
    pub sha256: String,
}

/// Verified files still in the archive directory, oldest first: what cleanup offloads.
pub fn offload_candidates(conn: &Connection) -> Result<Vec<OffloadFile>> {
    let mut stmt = conn.prepare(
        "SELECT file_name, sha256 FROM archives
         WHERE verified_at IS NOT NULL AND offloaded_to IS NULL
         ORDER BY created_at, id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(OffloadFile {
            file_name: r.get(0)?,
            sha256: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Files recorded as offloaded, with where their copy is.
pub fn offloaded(conn: &Connection) -> Result<Vec<(OffloadFile, PathBuf)>> {
    let mut stmt = conn.prepare(
        "SELECT file_name, sha256, offloaded_to FROM archives WHERE offloaded_to IS NOT NULL",
    )?;
    let rows = stmt.query_map([], |r| {
        let file = OffloadFile {
            file_name: r.get(0)?,
            sha256: r.get(1)?,
        };
        Ok((file, PathBuf::from(r.get::<_, String>(2)?)))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Records that a file's verified copy is at `to` (before the original is deleted).
pub fn record_offload(conn: &Connection, file_name: &str, to: &str) -> Result<()> {
    conn.execute(
        "UPDATE archives SET offloaded_to = ?1 WHERE file_name = ?2",
        params![to, file_name],
    )?;
    Ok(())
}

/// The offloaded copy is gone or damaged: the original in the archive directory is the file.
pub fn clear_offload(conn: &Connection, file_name: &str) -> Result<()> {
    conn.execute(
        "UPDATE archives SET offloaded_to = NULL WHERE file_name = ?1",
        params![file_name],
    )?;
    Ok(())
}
