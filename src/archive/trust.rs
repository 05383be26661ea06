//! Whose rows an archive file holds, judged by its rows and their ids, never by its compressed
//! bytes: the manifest entry whose rows it holds exactly (this database archived them), or rows
//! this database archived but that differ (an edited copy: refused, naming the first line and
//! field that differ), or rows it never archived (a foreign file). `archive verify` and
//! `archive restore` both decide here, so they agree.

use std::path::{Path, PathBuf};

use anyhow::Result;
use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;

use super::format::{file_sha256, line_id, parse_line, ArchiveReader};
use super::scan::{id_range, FileSummary};
use crate::archives::{manifest, ManifestRow};

/// The manifest entries of one table.
pub(super) struct Manifest {
    entries: Vec<ManifestRow>,
    dir: PathBuf,
}

impl Manifest {
    pub(super) fn load(conn: &Connection, table: &str, dir: &Path) -> Result<Manifest> {
        let mut entries = manifest(conn)?;
        entries.retain(|e| e.table == table);
        Ok(Manifest {
            entries,
            dir: dir.to_path_buf(),
        })
    }

    /// The entry whose rows the file holds exactly: the same rows digest, count and id range
    /// (for entries recorded before rows digests existed: the same bytes).
    pub(super) fn same_rows(&self, file: &FileSummary) -> Option<&ManifestRow> {
        self.entries.iter().find(|e| e.holds_rows_of(file))
    }

    /// Every entry holding exactly these rows (a file's rows archived, restored and archived
    /// again are held by two).
    pub(super) fn all_with_rows(&self, file: &FileSummary) -> Vec<&ManifestRow> {
        self.entries
            .iter()
            .filter(|e| e.holds_rows_of(file))
            .collect()
    }

    /// The entry whose bytes are these (an unchanged file this database wrote).
    pub(super) fn same_bytes(&self, sha256: &str) -> Option<&ManifestRow> {
        self.entries.iter().find(|e| e.sha256 == sha256)
    }

    /// The entry written to this very file (in the archive directory, or where it was offloaded).
    pub(super) fn at_path(&self, path: &Path) -> Option<&ManifestRow> {
        let here = std::fs::canonicalize(path).ok()?;
        self.entries
            .iter()
            .find(|e| std::fs::canonicalize(e.path(&self.dir)).is_ok_and(|p| p == here))
    }

    /// An entry whose rows left the database (so, for trades, count in `daily_rollup`) and whose
    /// id range holds `id`.
    pub(super) fn archived_holding(&self, id: i64) -> Option<&ManifestRow> {
        self.entries.iter().find(|e| {
            e.deleted && e.min_id.is_some_and(|lo| lo <= id) && e.max_id.is_some_and(|hi| id <= hi)
        })
    }

    /// Why `file` (whose row on `line` has id `id`, in the id range of `entry`, archived here)
    /// is not what this database archived: the first line and field where it differs from the
    /// archived original when that is at hand and intact, else the ids and digests.
    pub(super) fn explain(&self, entry: &ManifestRow, file: &Path, line: u64, id: i64) -> String {
        let original = entry.path(&self.dir);
        let same_file = std::fs::canonicalize(&original).ok() == std::fs::canonicalize(file).ok();
        if !same_file && file_sha256(&original).is_ok_and(|sha| sha == entry.sha256) {
            match first_difference(&original, file) {
                Ok(Some(difference)) => return difference,
                Ok(None) => {
                    return format!(
                        "its rows hold the values of the archived original {} but are written differently; restore the original",
                        entry.file
                    )
                }
                Err(e) => tracing::warn!(error = %crate::error::one_line(&e), "comparing with the archived original failed"),
            }
        }
        format!(
            "line {line}: field `id`: row {id} was archived by this database in {} (ids {}..{}, {} rows) and counts in its figures, but this file's rows differ from that archive; restore the original file",
            entry.file,
            entry.min_id.unwrap_or(0),
            entry.max_id.unwrap_or(0),
            entry.rows
        )
    }
}

impl ManifestRow {
    pub(super) fn holds_rows_of(&self, file: &FileSummary) -> bool {
        let same_digest = match &self.content_sha256 {
            Some(content) => *content == file.content_sha256,
            None => self.sha256 == file.sha256,
        };
        same_digest
            && u64::try_from(self.rows).is_ok_and(|n| n == file.rows)
            && self.min_id == file.min_id
            && self.max_id == file.max_id
    }

    /// Why a file this entry names does not hold its rows (None when it does).
    pub(super) fn mismatch(&self, file: &FileSummary) -> Option<String> {
        if self.holds_rows_of(file) {
            return None;
        }
        if u64::try_from(self.rows).ok() != Some(file.rows)
            || self.min_id != file.min_id
            || self.max_id != file.max_id
        {
            return Some(format!(
                "holds {} rows ({}), the manifest says {} ({})",
                file.rows,
                id_range(file.min_id, file.max_id),
                self.rows,
                id_range(self.min_id, self.max_id)
            ));
        }
        Some(match &self.content_sha256 {
            Some(content) => format!(
                "its rows differ from the archived ones: rows sha256 {} differs from the manifest's {content}",
                file.content_sha256
            ),
            None => format!(
                "sha256 {} differs from the manifest's {}",
                file.sha256, self.sha256
            ),
        })
    }
}

/// The first line where `file` differs from `original` in a value (not in how it is written):
/// `line L: field F is X, the archived original <name> has Y`. None when every value is equal.
fn first_difference(original: &Path, file: &Path) -> Result<Option<String>> {
    let name = original
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut a = ArchiveReader::open(original)?;
    let mut b = ArchiveReader::open(file)?;
    let (ha, hb) = (a.header()?, b.header()?);
    let (mut la, mut lb) = (String::new(), String::new());
    loop {
        let more_a = a.next_line(&mut la)?;
        // A damaged file ends early; the original goes on.
        let more_b = b.next_line(&mut lb).unwrap_or_default();
        let line = b.line_no.max(a.line_no);
        match (more_a, more_b) {
            (false, false) => return Ok(None),
            (true, false) => {
                return Ok(Some(format!(
                    "line {line}: field `id`: the file ends, the archived original {name} has a row with id {} here",
                    line_id(&la).unwrap_or(0)
                )))
            }
            (false, true) => {
                return Ok(Some(format!(
                    "line {line}: field `id`: row {} is not in the archived original {name}, which ends before it",
                    line_id(&lb).unwrap_or(0)
                )))
            }
            (true, true) => {}
        }
        if la == lb {
            continue;
        }
        let va = parse_line(&a, &la, &ha.columns)?;
        let vb = match parse_line(&b, &lb, &hb.columns) {
            Ok(v) => v,
            Err(e) => return Ok(Some(crate::error::one_line(&e))),
        };
        for (i, column) in ha.columns.iter().enumerate() {
            let theirs = hb
                .columns
                .iter()
                .position(|c| c == column)
                .map_or(&SqlValue::Null, |j| &vb[j]);
            if *theirs != va[i] {
                return Ok(Some(format!(
                    "line {line}: field `{column}` is {}, the archived original {name} has {}",
                    super::check::show(theirs),
                    super::check::show(&va[i])
                )));
            }
        }
    }
}
