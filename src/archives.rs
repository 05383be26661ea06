//! The manifest of archive files (the `archives` table): every statement that reads or writes
//! it, for the archive job (write, delete, reconcile, verify, restore's trust, the decisions
//! index), cleanup's offload and `polyperf status`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use serde::Serialize;

use crate::time::to_db;

pub struct ManifestRow {
    pub file: String,
    pub table: String,
    pub week: String,
    pub part: i64,
    pub rows: i64,
    pub min_id: Option<i64>,
    pub max_id: Option<i64>,
    pub sha256: String,
    /// The rows digest (see `RowDigest` in format.rs); None for files archived before it was recorded.
    pub content_sha256: Option<String>,
    pub size_bytes: u64,
    pub deleted: bool,
    pub verified_at: Option<String>,
    pub offloaded_to: Option<String>,
}

pub fn manifest(conn: &Connection) -> Result<Vec<ManifestRow>> {
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
    /// Where the file is: the archive dir, or where cleanup moved it.
    pub fn path(&self, dir: &Path) -> PathBuf {
        located(dir, &self.file, self.offloaded_to.as_deref())
    }
}

/// Where a recorded file is: in the archive dir, or where cleanup moved it (`offloaded_to`, a
/// directory or the copy's own path).
pub fn located(dir: &Path, file: &str, offloaded_to: Option<&str>) -> PathBuf {
    match offloaded_to {
        Some(to) if Path::new(to).is_dir() => Path::new(to).join(file),
        Some(to) => PathBuf::from(to),
        None => dir.join(file),
    }
}

/// A manifest row to record: a file the write path wrote, or one reconciliation adopts.
pub struct NewEntry<'a> {
    pub table: &'a str,
    pub week: &'a str,
    pub part: i64,
    pub file: &'a str,
    pub rows: u64,
    pub min_id: Option<i64>,
    pub max_id: Option<i64>,
    pub sha256: &'a str,
    pub size_bytes: u64,
    pub content_sha256: &'a str,
    pub created_at: String,
    pub verified_at: String,
}

/// Records a file; returns its manifest id.
pub fn insert(conn: &Connection, e: &NewEntry<'_>) -> Result<i64> {
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
pub fn max_part(conn: &Connection, table: &str, week: &str) -> Result<Option<i64>> {
    Ok(conn.query_row(
        "SELECT max(part) FROM archives WHERE table_name = ?1 AND iso_week = ?2",
        params![table, week],
        |r| r.get(0),
    )?)
}

/// A recorded file: its table, its name and the SHA-256 of its bytes.
pub struct Recorded {
    pub id: i64,
    pub table: String,
    pub file: String,
    pub sha256: String,
}

fn recorded_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Recorded> {
    Ok(Recorded {
        id: r.get(0)?,
        table: r.get(1)?,
        file: r.get(2)?,
        sha256: r.get(3)?,
    })
}

/// The manifest row `id`.
pub fn recorded(conn: &Connection, id: i64) -> Result<Recorded> {
    Ok(conn.query_row(
        "SELECT id, table_name, file_name, sha256 FROM archives WHERE id = ?1",
        [id],
        recorded_row,
    )?)
}

/// Files recorded whose rows were not deleted yet (and that were not offloaded), oldest first.
pub fn not_deleted(conn: &Connection) -> Result<Vec<Recorded>> {
    let mut stmt = conn.prepare(
        "SELECT id, table_name, file_name, sha256 FROM archives
         WHERE deleted_at IS NULL AND offloaded_to IS NULL ORDER BY id",
    )?;
    let rows = stmt.query_map([], recorded_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Whether a manifest row names this file.
pub fn knows(conn: &Connection, file: &str) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM archives WHERE file_name = ?1)",
        [file],
        |r| r.get(0),
    )?)
}

/// The rows of manifest row `id` left the database (in the transaction that deleted them).
pub fn mark_deleted(conn: &Connection, id: i64, now: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "UPDATE archives SET deleted_at = ?1 WHERE id = ?2",
        params![to_db(now), id],
    )?;
    Ok(())
}

/// Drops a manifest row whose rows are all still in the database (its file is unusable).
pub fn forget(conn: &Connection, id: i64) -> Result<()> {
    conn.execute("DELETE FROM archives WHERE id = ?1", [id])?;
    Ok(())
}

/// A file was re-read and matched: `verified_at`, and the rows digest of a file archived
/// before digests were recorded.
pub fn mark_verified(
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

/// Trades files whose rows left the database before the index of archived decisions existed
/// and whose decisions are not indexed yet, oldest first: (id, file, where it was offloaded).
pub fn trades_files_not_indexed(conn: &Connection) -> Result<Vec<(i64, String, Option<String>)>> {
    Ok(conn
        .prepare(
            "SELECT id, file_name, offloaded_to FROM archives
             WHERE table_name = 'trades' AND deleted_at IS NOT NULL AND decisions_indexed = 0
             ORDER BY id",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?)
}

/// The decisions of manifest row `id` are indexed (in the transaction that indexed them).
pub fn mark_indexed(conn: &Connection, id: i64) -> Result<()> {
    conn.execute(
        "UPDATE archives SET decisions_indexed = 1 WHERE id = ?1",
        params![id],
    )?;
    Ok(())
}
