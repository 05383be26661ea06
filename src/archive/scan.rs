//! A full check of one archive file without touching the database: header against its table
//! and name, gzip CRC, every line, ids ascending, the header's count and id range. Restore,
//! verify and reconciliation all read files through here.

use std::path::Path;

use anyhow::Result;
use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;
use serde::Serialize;

use super::check;
use super::format::{is_second_header, parse_file_name, parse_line, ArchiveReader, Header};
use super::tables::{table, table_columns, Table};
use crate::error::bad_input;

/// What a full check of a file found.
#[derive(Debug, Clone, Serialize)]
pub struct FileSummary {
    pub header: Header,
    pub rows: u64,
    pub min_id: Option<i64>,
    pub max_id: Option<i64>,
    pub sha256: String,
    pub size_bytes: u64,
    /// SHA-256 of the row lines (see `RowDigest` in format.rs): the same for any compression of the rows.
    pub content_sha256: String,
}

/// Checks a whole file without touching the database: header (format, version, a known table
/// whose columns exist here, and the table the file name says), gzip CRC, every line a JSON
/// object with exactly the header's columns, ids increasing, count and id range as the header
/// says. Every failure is bad input naming the file and line.
pub fn scan_file(conn: &Connection, path: &Path) -> Result<FileSummary> {
    scan(conn, path, |_, _, _| Ok(()))
}

pub(super) fn scan(
    conn: &Connection,
    path: &Path,
    mut each: impl FnMut(&ArchiveReader, &str, Vec<SqlValue>) -> Result<()>,
) -> Result<FileSummary> {
    let mut reader = ArchiveReader::open(path)?;
    let header = reader.header()?;
    let (_, bounds) = check_header(conn, path, &reader, &header)?;
    let (mut rows, mut min_id, mut max_id) = (0u64, None, None::<i64>);
    let mut line = String::new();
    while reader.next_line(&mut line)? {
        // One row more than the header counts is refused at once: with the line bound, no file
        // expands past what its header claims.
        if rows == header.rows {
            return Err(beyond_header(&reader, &line, header.rows));
        }
        let values = parse_line(&reader, &line, &header.columns).map_err(|e| {
            if is_second_header(&line) {
                joined(&reader)
            } else {
                e
            }
        })?;
        let SqlValue::Integer(id) = values[0] else {
            return Err(reader.error("field `id`: not an integer"));
        };
        if let Some(previous) = max_id.filter(|m| id <= *m) {
            return Err(reader.error(format_args!(
                "field `id`: {id} follows {previous}; archive files list rows by ascending id"
            )));
        }
        bounds.check(&values).map_err(|e| reader.error(e))?;
        min_id = min_id.or(Some(id));
        max_id = Some(id);
        rows += 1;
        each(&reader, &line, values)?;
    }
    let (sha256, size_bytes, content_sha256) = reader.finish()?;
    if rows != header.rows || min_id != header.min_id || max_id != header.max_id {
        return Err(bad_input(format!(
            "{}: line 1: field `rows`: the file holds {rows} rows ({}), the header says {} ({})",
            path.display(),
            id_range(min_id, max_id),
            header.rows,
            id_range(header.min_id, header.max_id)
        )));
    }
    Ok(FileSummary {
        header,
        rows,
        min_id,
        max_id,
        sha256,
        size_bytes,
        content_sha256,
    })
}

/// A line past the header's row count: another archive's header (two files joined), or one
/// row too many.
fn beyond_header(reader: &ArchiveReader, line: &str, rows: u64) -> anyhow::Error {
    if is_second_header(line) {
        joined(reader)
    } else {
        reader.error(format_args!(
            "field `rows`: the header says {rows} rows, and the file holds more"
        ))
    }
}

/// Two archive files joined into one (`cat a.jsonl.gz b.jsonl.gz`): each must be restored on
/// its own.
fn joined(reader: &ArchiveReader) -> anyhow::Error {
    reader.error(
        "a second archive header: this file is archive files joined together (cat a.jsonl.gz b.jsonl.gz); restore each file on its own",
    )
}

/// `ids 3..17`, or `no ids`.
pub(super) fn id_range(min_id: Option<i64>, max_id: Option<i64>) -> String {
    match (min_id, max_id) {
        (Some(lo), Some(hi)) => format!("ids {lo}..{hi}"),
        _ => "no ids".into(),
    }
}

/// Checks a header before anything is read or built from it: the table and week the file name
/// gives (when it follows the archive's naming) and the table's columns here. Returns the table
/// and where its rows must lie. Bad input naming the file, line 1 and the field.
pub(super) fn check_header(
    conn: &Connection,
    path: &Path,
    reader: &ArchiveReader,
    header: &Header,
) -> Result<(&'static Table, check::RowBounds)> {
    let t = table(&header.table)
        .ok_or_else(|| reader.error(format_args!("unknown table {:?}", header.table)))?;
    let named = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(parse_file_name);
    let here = table_columns(conn, t.name)?;
    let bounds = check::header_bounds(
        header,
        t,
        named
            .as_ref()
            .map(|(table, week, _)| (*table, week.as_str())),
        &here,
    )
    .map_err(|e| reader.error(e))?;
    Ok((t, bounds))
}
