//! The manifest (`archives` table): every statement that reads or writes it.

use std::path::{Path, PathBuf};

use anyhow::Result;
use rusqlite::Connection;

use super::verify::FileStatus;

pub(super) struct ManifestRow {
    pub(super) file: String,
    pub(super) table: String,
    pub(super) week: String,
    pub(super) part: i64,
    pub(super) rows: i64,
    pub(super) min_id: Option<i64>,
    pub(super) max_id: Option<i64>,
    pub(super) sha256: String,
    /// The rows digest (see [`super::format::RowDigest`]); None for files archived before it was recorded.
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
