//! The archive file format (SPEC §5): the header line, file names, the hashing writer and
//! reader, the line reader with its digests, and one row as a JSON line, both ways.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use flate2::read::MultiGzDecoder;
use rusqlite::types::{Value as SqlValue, ValueRef};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::tables::{table, TABLES};
use crate::error::bad_input;

/// The `format` field of every archive header.
pub const FORMAT: &str = "polyperf-archive";
pub const VERSION: u32 = 1;

/// The longest line an archive file may hold. Our own rows are far shorter: a trade is at most
/// ~70 KB (10,000 characters of reasoning, every one escaped as `\u001f`, plus bounded ids,
/// slugs and labels); outbox and job_runs rows hold our own messages and error texts. A longer
/// line is refused naming the file and line, read in bounded memory (a 2 MB gzip that expands
/// to one 2 GiB line needed 2.1 GB).
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// The most an archive file may expand to, whatever its header claims (16 GiB: a week of a
/// decision every 40 ms). With [`MAX_LINE_BYTES`] and no more rows than the header counts
/// (`scan` refuses the first extra one), a file can only expand to what its header claims.
pub const MAX_DECOMPRESSED_BYTES: u64 = 16 << 30;

/// The header line of an archive file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Header {
    pub format: String,
    pub version: u32,
    pub table: String,
    pub rows: u64,
    pub min_id: Option<i64>,
    pub max_id: Option<i64>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iso_week: Option<String>,
    pub columns: Vec<String>,
}

/// `trades-2026-W07.jsonl.gz`, `trades-2026-W07.2.jsonl.gz`.
pub(super) fn file_name(table: &str, week: &str, part: i64) -> String {
    if part <= 1 {
        format!("{table}-{week}.jsonl.gz")
    } else {
        format!("{table}-{week}.{part}.jsonl.gz")
    }
}

/// The inverse of [`file_name`]: (table, week, part).
pub(super) fn parse_file_name(name: &str) -> Option<(&'static str, String, i64)> {
    let stem = name.strip_suffix(".jsonl.gz")?;
    let t = TABLES.iter().find(|t| {
        stem.strip_prefix(t.name)
            .and_then(|r| r.strip_prefix('-'))
            .is_some_and(|r| r.as_bytes().first().is_some_and(u8::is_ascii_digit))
    })?;
    let rest = &stem[t.name.len() + 1..];
    let (week, part) = match rest.split_once('.') {
        Some((week, part)) => (week, part.parse().ok().filter(|p| *p >= 2)?),
        None => (rest, 1),
    };
    let (year, w) = week.split_once("-W")?;
    if year.len() != 4 || w.len() != 2 || year.parse::<u32>().is_err() || w.parse::<u32>().is_err()
    {
        return None;
    }
    Some((t.name, week.to_string(), part))
}

/// Writes through to `inner`, hashing and counting the bytes.
pub(super) struct HashingWriter<W> {
    pub(super) inner: W,
    pub(super) hasher: Sha256,
    pub(super) bytes: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Reads from `inner`, hashing and counting the bytes.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// A digest of the sequence of ids, to compare what was written with what is read back.
#[derive(Default)]
pub(super) struct IdDigest(Sha256);

impl IdDigest {
    pub(super) fn push(&mut self, id: i64) {
        self.0.update(id.to_le_bytes());
    }
    pub(super) fn finish(self) -> String {
        hex(&self.0.finalize())
    }
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An archive file opened for streaming: gunzipped lines, with the compressed bytes hashed and
/// the row lines (every line after the header) digested.
///
/// The file is read as gzip defines it, every member in turn (what `zcat` does): a file some
/// tool wrote as several members (`bgzip`, a writer that flushes members) holds one archive
/// and is read as one; two archive files joined with `cat` hold a second header, which is
/// refused as such ([`is_second_header`]).
pub(super) struct ArchiveReader {
    lines: BufReader<MultiGzDecoder<HashingReader<BufReader<File>>>>,
    name: String,
    pub(super) line_no: u64,
    /// Bytes gunzipped so far.
    expanded: u64,
    /// SHA-256 of the row lines, each with its newline: the file's content, whatever the
    /// compression (see [`RowDigest`]).
    rows: RowDigest,
}

/// The content digest of an archive file: SHA-256 of its row lines (after the header), each
/// followed by a newline, as the archive writes them. A re-compressed copy of a file has the
/// same digest; an edited, dropped or added row changes it. `archives.content_sha256`.
#[derive(Default, Clone)]
pub(super) struct RowDigest(Sha256);

impl RowDigest {
    pub(super) fn push(&mut self, line: &[u8]) {
        self.0.update(line);
        if line.last() != Some(&b'\n') {
            self.0.update(b"\n");
        }
    }
    pub(super) fn finish(self) -> String {
        hex(&self.0.finalize())
    }
}

impl ArchiveReader {
    pub(super) fn open(path: &Path) -> Result<ArchiveReader> {
        let file = File::open(path).map_err(|e| bad_input(format!("{}: {e}", path.display())))?;
        let hashing = HashingReader {
            inner: BufReader::with_capacity(1 << 16, file),
            hasher: Sha256::new(),
            bytes: 0,
        };
        Ok(ArchiveReader {
            lines: BufReader::with_capacity(1 << 16, MultiGzDecoder::new(hashing)),
            name: path.display().to_string(),
            line_no: 0,
            expanded: 0,
            rows: RowDigest::default(),
        })
    }

    /// The next line without its newline; false at the end. Bad input naming the file and the
    /// line: damaged gzip data (truncation, CRC, a flipped byte), a line longer than
    /// [`MAX_LINE_BYTES`] (read no further than that), a line that is not UTF-8, more than
    /// [`MAX_DECOMPRESSED_BYTES`] in all.
    pub(super) fn next_line(&mut self, line: &mut String) -> Result<bool> {
        let mut bytes = std::mem::take(line).into_bytes();
        bytes.clear();
        let limit = MAX_LINE_BYTES as u64 + 1;
        let n = (&mut self.lines)
            .take(limit)
            .read_until(b'\n', &mut bytes)
            .map_err(|e| {
                bad_input(format!(
                    "{}: damaged gzip data after line {}: {e}",
                    self.name, self.line_no
                ))
            })?;
        if n == 0 {
            return Ok(false);
        }
        self.line_no += 1;
        self.expanded = self.expanded.saturating_add(n as u64);
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
        } else if bytes.len() > MAX_LINE_BYTES {
            return Err(self.error(format_args!(
                "longer than {} MiB (archive rows are far shorter): not an archive this program wrote",
                MAX_LINE_BYTES >> 20
            )));
        }
        if self.expanded > MAX_DECOMPRESSED_BYTES {
            return Err(self.error(format_args!(
                "the file expands past {} GiB, more than any archive file holds",
                MAX_DECOMPRESSED_BYTES >> 30
            )));
        }
        *line = String::from_utf8(bytes).map_err(|e| {
            self.error(format_args!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ))
        })?;
        if self.line_no > 1 {
            self.rows.push(line.as_bytes());
        }
        Ok(true)
    }

    pub(super) fn error(&self, what: impl std::fmt::Display) -> anyhow::Error {
        bad_input(format!("{}: line {}: {what}", self.name, self.line_no))
    }

    pub(super) fn header(&mut self) -> Result<Header> {
        let mut line = String::new();
        if !self.next_line(&mut line)? {
            return Err(bad_input(format!("{}: empty file, no header", self.name)));
        }
        let header: Header = serde_json::from_str(&line)
            .map_err(|e| self.error(format_args!("not an archive header ({e})")))?;
        if header.format != FORMAT {
            return Err(self.error(format_args!(
                "format is {:?}, not {FORMAT:?}",
                header.format
            )));
        }
        if header.version != VERSION {
            return Err(self.error(format_args!("unsupported version {}", header.version)));
        }
        if table(&header.table).is_none() {
            return Err(self.error(format_args!("unknown table {:?}", header.table)));
        }
        if header.columns.first().map(String::as_str) != Some("id") {
            return Err(self.error("the first column must be id"));
        }
        let distinct: HashSet<&String> = header.columns.iter().collect();
        if distinct.len() != header.columns.len() {
            return Err(self.error("duplicate column in header"));
        }
        Ok(header)
    }

    /// Reads to the real end of the file (past the gzip trailer) and returns the digests:
    /// (sha256 of the bytes, size, content digest of the rows).
    pub(super) fn finish(self) -> Result<(String, u64, String)> {
        let rows = self.rows.finish();
        let mut hashing = self.lines.into_inner().into_inner();
        std::io::copy(&mut hashing, &mut std::io::sink())?;
        Ok((hex(&hashing.hasher.finalize()), hashing.bytes, rows))
    }
}

/// Whether a line that is not a row of the file is instead another archive's header: the file
/// is two archive files joined (`cat a.jsonl.gz b.jsonl.gz`).
pub(super) fn is_second_header(line: &str) -> bool {
    serde_json::from_str::<Header>(line).is_ok_and(|h| h.format == FORMAT)
}

/// The id at the start of a line we wrote (`{"id":123,...`), else from a full parse.
pub(super) fn line_id(line: &str) -> Option<i64> {
    if let Some(rest) = line.strip_prefix("{\"id\":") {
        let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '-'))?;
        return rest[..end].parse().ok();
    }
    let row: serde_json::Value = serde_json::from_str(line).ok()?;
    row.get("id")?.as_i64()
}

/// Appends one row as a JSON object: TEXT as strings, INTEGER and REAL as numbers (serde_json
/// writes the shortest f64 that round-trips, so money stored at 6 decimals is written as
/// `9.65`, and read back bit for bit), NULL as null. Files written before migration 0002 hold
/// money as exact decimal strings; restore puts them into the REAL columns as numbers.
pub(super) fn write_row(
    out: &mut Vec<u8>,
    keys: &[Vec<u8>],
    row: &rusqlite::Row<'_>,
) -> Result<()> {
    out.push(b'{');
    for (i, key) in keys.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(key);
        match row.get_ref(i)? {
            ValueRef::Null => out.extend_from_slice(b"null"),
            ValueRef::Integer(v) => write!(out, "{v}")?,
            ValueRef::Real(f) if f.is_finite() => serde_json::to_writer(&mut *out, &f)?,
            ValueRef::Real(f) => bail!("column {i} holds a non-finite number {f}"),
            ValueRef::Text(t) => serde_json::to_writer(&mut *out, std::str::from_utf8(t)?)?,
            ValueRef::Blob(_) => bail!("column {i} holds a blob, which the archive format lacks"),
        }
    }
    out.push(b'}');
    Ok(())
}

/// `"name":` for each column, written once.
pub(super) fn json_keys(columns: &[String]) -> Vec<Vec<u8>> {
    columns
        .iter()
        .map(|c| {
            let mut key = serde_json::to_vec(c).unwrap_or_default();
            key.push(b':');
            key
        })
        .collect()
}

/// One parsed line: the values in header column order.
pub(super) fn parse_line(
    reader: &ArchiveReader,
    line: &str,
    columns: &[String],
) -> Result<Vec<SqlValue>> {
    let object = serde_json::from_str::<crate::json::JsonObject>(line)
        .map_err(|e| reader.error(format_args!("not a JSON object ({e})")))?
        .0;
    if object.len() != columns.len() {
        return Err(reader.error(format_args!(
            "{} fields, the header lists {} columns",
            object.len(),
            columns.len()
        )));
    }
    let in_order = object.iter().zip(columns).all(|((k, _), c)| k == c);
    let mut values = Vec::with_capacity(columns.len());
    for (i, column) in columns.iter().enumerate() {
        let raw = if in_order {
            object[i].1
        } else {
            object
                .iter()
                .find(|(k, _)| k == column)
                .ok_or_else(|| reader.error(format_args!("missing column {column}")))?
                .1
        };
        values.push(
            sql_value(raw.get())
                .map_err(|why| reader.error(format_args!("column {column}: {why}")))?,
        );
    }
    Ok(values)
}

/// A JSON value (already checked to be valid JSON) as the SQL value the archive wrote it from:
/// strings are TEXT, numbers with a fraction or exponent REAL (Rust's parse is correctly
/// rounded, so ryu's output comes back bit for bit), other numbers INTEGER, null NULL.
pub(super) fn sql_value(raw: &str) -> std::result::Result<SqlValue, String> {
    match raw.as_bytes().first() {
        Some(b'n') => Ok(SqlValue::Null),
        Some(b'"') if !raw.contains('\\') => Ok(SqlValue::Text(raw[1..raw.len() - 1].to_string())),
        Some(b'"') => serde_json::from_str::<String>(raw)
            .map(SqlValue::Text)
            .map_err(|e| e.to_string()),
        Some(b'-' | b'0'..=b'9') if raw.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) => raw
            .parse::<f64>()
            .map(SqlValue::Real)
            .map_err(|e| format!("{raw}: {e}")),
        Some(b'-' | b'0'..=b'9') => raw
            .parse::<i64>()
            .map(SqlValue::Integer)
            .map_err(|_| format!("{raw} is out of range")),
        _ => Err(format!("{raw} is not a column value")),
    }
}

/// SHA-256 of a file's bytes, as the manifest records it.
pub(super) fn file_sha256(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(|e| bad_input(format!("{}: {e}", path.display())))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).with_context(|| format!("reading {}", path.display()))?;
    Ok(hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip() {
        let cases = [
            ("trades", "2026-W07", 1, "trades-2026-W07.jsonl.gz"),
            ("trades", "2026-W07", 2, "trades-2026-W07.2.jsonl.gz"),
            ("job_runs", "2025-W52", 11, "job_runs-2025-W52.11.jsonl.gz"),
            ("outbox", "2026-W01", 1, "outbox-2026-W01.jsonl.gz"),
        ];
        for (t, week, part, name) in cases {
            assert_eq!(file_name(t, week, part), name);
            assert_eq!(
                parse_file_name(name),
                Some((table(t).unwrap().name, week.to_string(), part))
            );
        }
        for bad in [
            "trades-2026-W07.jsonl",
            "trades-2026-W7.jsonl.gz",
            "trades-2026-W07.1.jsonl.gz",
            "prices-2026-W07.jsonl.gz",
            ".trades-2026-W07.jsonl.gz.12.tmp",
            "trades-2026-W07.jsonl.gz.rejected",
        ] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn json_values_come_back_as_written() {
        let cases: [(&str, Option<SqlValue>); 9] = [
            ("null", Some(SqlValue::Null)),
            ("\"4.30\"", Some(SqlValue::Text("4.30".into()))),
            ("\"a\\\"b\"", Some(SqlValue::Text("a\"b".into()))),
            ("-12", Some(SqlValue::Integer(-12))),
            ("1.0", Some(SqlValue::Real(1.0))),
            (
                "-1.8646994730721254",
                Some(SqlValue::Real(-1.8646994730721254)),
            ),
            ("1e300", Some(SqlValue::Real(1e300))),
            ("99999999999999999999", None),
            ("true", None),
        ];
        for (raw, want) in cases {
            assert_eq!(sql_value(raw).ok(), want, "{raw}");
        }
    }

    #[test]
    fn line_ids() {
        assert_eq!(line_id("{\"id\":42,\"x\":1}"), Some(42));
        assert_eq!(line_id("{\"x\":1,\"id\":7}"), Some(7));
        assert_eq!(line_id("{\"x\":1}"), None);
        assert_eq!(line_id("not json"), None);
    }
}
