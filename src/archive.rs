//! Crash-safe archival of finished rows to `archive/<table>-<ISO week>.jsonl.gz` (SPEC §5), and
//! `polyperf archive {list,verify,restore}`. A row leaves the database only after its file is
//! written, fsynced, read back, renamed into place and recorded in `archives`; never otherwise.
//!
//! The steps of one file (numbered for `POLYPERF_FAULT_ARCHIVE_CRASH_AFTER_STEP`, a test hook that
//! aborts the process right after step K):
//! 1. stream the week's rows from one read snapshot into a temp file in the archive directory,
//!    flush and fsync it;
//! 2. read it back: gzip CRC, row count, the sequence of ids, SHA-256;
//! 3. link it into place under its final name (never overwriting: a taken name gets the next part);
//! 4. fsync the directory;
//! 5. record it in `archives` (the manifest);
//! 6. one transaction: add the rows to `daily_rollup`, delete them, set `deleted_at`;
//! 7. `PRAGMA incremental_vacuum` (after all files).
//!
//! Step 6 deletes a row only if it is still byte-for-byte what the file holds (a row changed after
//! it was written stays in the database; the stale copy in the file is skipped on restore). The
//! rollup is updated in that same transaction, before the DELETE: "rollup first" and "never
//! counted twice" both hold whatever the moment of a crash. On start, [`reconcile`] finishes what
//! a crashed run left: manifest rows not yet deleted, temp files, final files without manifest row.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Datelike, Days, NaiveDate, Utc, Weekday};
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Settings;
use crate::error::bad_input;
use crate::rollup::{Delta, TradeColumns};
use crate::runner::JobContext;
use crate::time::{from_db, to_db};

mod check;
#[cfg(test)]
mod proptests;
mod restore;
mod trust;

pub use restore::{restore, Origin, RestoreReport, RestoreRequest};

/// The `format` field of every archive header.
pub const FORMAT: &str = "polyperf-archive";
pub const VERSION: u32 = 1;

/// An archivable table: its time column and what "finished" means (`?1` is the cutoff).
struct Table {
    kind: TableKind,
    name: &'static str,
    time_col: &'static str,
    finished: &'static str,
}

/// The archivable tables, for what differs between them beyond their SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TableKind {
    Trades,
    Outbox,
    JobRuns,
}

/// Only finished rows: settled or unsettleable trades, sent or failed outbox rows, job runs that
/// ended. The SQL is constant; values are bound.
const TABLES: [Table; 3] = [
    Table {
        kind: TableKind::Trades,
        name: "trades",
        time_col: "timestamp",
        finished: "settlement_status IN ('settled', 'unsettleable') AND timestamp < ?1",
    },
    Table {
        kind: TableKind::Outbox,
        name: "outbox",
        time_col: "created_at",
        finished: "status IN ('sent', 'failed') AND created_at < ?1",
    },
    Table {
        kind: TableKind::JobRuns,
        name: "job_runs",
        time_col: "started_at",
        finished: "status != 'running' AND started_at < ?1",
    },
];

fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

/// Rows moved out per table.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct RowsArchived {
    pub trades: u64,
    pub outbox: u64,
    pub job_runs: u64,
}

impl RowsArchived {
    fn add(&mut self, table: &str, n: u64) {
        match table {
            "trades" => self.trades += n,
            "outbox" => self.outbox += n,
            _ => self.job_runs += n,
        }
    }
}

/// What a run did: the `--json` object of polyperf-archive.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    /// Archive files written (in a dry run: that would be written).
    pub files_written: u64,
    /// Rows written to new files, per table.
    pub rows_archived: RowsArchived,
    /// Compressed bytes written.
    pub bytes_written: u64,
    /// Rows deleted from the database (including work finished for a crashed run).
    pub rows_deleted: u64,
    /// Database bytes given back by `incremental_vacuum`.
    pub freed_bytes: u64,
}

/// Job flags beyond the common ones.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Archive rows older than this many days (default: `archive.retention_days`).
    pub older_than_days: Option<u32>,
    /// Overrides `archive.dir`.
    pub archive_dir: Option<PathBuf>,
}

/// The job with settings only (polyperf-archive without extra flags, the scheduler).
pub async fn run(ctx: &mut JobContext) -> Result<Stats> {
    run_with(ctx, &Options::default()).await
}

/// The job: archive finished rows older than the retention.
pub async fn run_with(ctx: &mut JobContext, options: &Options) -> Result<Stats> {
    if let Some(dir) = &options.archive_dir {
        ctx.settings.archive.dir = dir.clone();
    }
    let days = options
        .older_than_days
        .unwrap_or(ctx.settings.archive.retention_days);
    let cutoff = crate::time::days_before(ctx.now, days)?;
    let stats = archive_older_than(&mut ctx.conn, &ctx.settings, cutoff, ctx.now, ctx.dry_run)?;
    tracing::info!(
        files_written = stats.files_written,
        rows_deleted = stats.rows_deleted,
        bytes_written = stats.bytes_written,
        freed_bytes = stats.freed_bytes,
        "archive finished"
    );
    Ok(stats)
}

/// Archives every finished row older than `cutoff` into `settings.archive.dir`, after finishing
/// whatever a crashed run left. Cleanup calls this with its emergency retention. The caller
/// holds a job lease; without one, two concurrent calls stay safe (no overwrite, compare-and-
/// delete) but may write the same rows twice.
pub fn archive_older_than(
    conn: &mut Connection,
    settings: &Settings,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<Stats> {
    let dir = settings.archive.dir.as_path();
    let cutoff = to_db(cutoff);
    let mut stats = Stats::default();
    if dry_run {
        for t in &TABLES {
            for_each_week(conn, t, &cutoff, |conn, week| {
                let n: u64 =
                    conn.query_row(&week_sql(t, "count(*)"), week.params(&cutoff), |r| r.get(0))?;
                stats.files_written += 1;
                stats.rows_archived.add(t.name, n);
                stats.rows_deleted += n;
                Ok(())
            })?;
        }
        return Ok(stats);
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating archive directory {}", dir.display()))?;
    let pages_before = page_count(conn)?;
    reconcile(conn, dir, now, &mut stats)?;
    for t in &TABLES {
        let columns = table_columns(conn, t.name)?;
        for_each_week(conn, t, &cutoff, |conn, week| {
            write_week(conn, dir, t, &columns, week, &cutoff, now, &mut stats)
        })?;
    }
    // Page by page to the end: one step of the pragma frees only one page.
    crate::db::incremental_vacuum(conn)?;
    crash_point(7);
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let pages_after = page_count(conn)?;
    stats.freed_bytes = (pages_before.saturating_sub(pages_after) * page_size).max(0) as u64;
    Ok(stats)
}

fn page_count(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA page_count", [], |r| r.get(0))?)
}

/// The test hook: `POLYPERF_FAULT_ARCHIVE_CRASH_AFTER_STEP=K` aborts the process after step K.
/// Fault points use the `POLYPERF_FAULT_` prefix, which no setting claims, so they never need
/// to be settings.
fn crash_point(step: u32) {
    let target = std::env::var("POLYPERF_FAULT_ARCHIVE_CRASH_AFTER_STEP")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok());
    if target == Some(step) {
        eprintln!("polyperf-archive: crashing after step {step} (POLYPERF_FAULT_ARCHIVE_CRASH_AFTER_STEP)");
        std::process::abort();
    }
}

/// One ISO week of one table, bounded by the cutoff.
struct Week {
    label: String,
    start: String,
    end: String,
}

impl Week {
    fn of(time: DateTime<Utc>) -> Week {
        let iso = time.iso_week();
        let monday = NaiveDate::from_isoywd_opt(iso.year(), iso.week(), Weekday::Mon)
            .unwrap_or(time.date_naive())
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc();
        Week {
            label: format!("{}-W{:02}", iso.year(), iso.week()),
            start: to_db(monday),
            end: to_db(monday.checked_add_days(Days::new(7)).unwrap_or(monday)),
        }
    }

    fn params<'a>(&'a self, cutoff: &'a str) -> [&'a str; 3] {
        [cutoff, &self.start, &self.end]
    }
}

/// `SELECT <what> FROM <table> WHERE finished AND in the week` (?1 cutoff, ?2 start, ?3 end).
fn week_sql(t: &Table, what: &str) -> String {
    format!(
        "SELECT {what} FROM {} WHERE {} AND {time} >= ?2 AND {time} < ?3",
        t.name,
        t.finished,
        time = t.time_col
    )
}

/// Calls `f` for each ISO week holding finished rows of `t` older than `cutoff`, oldest first.
fn for_each_week(
    conn: &mut Connection,
    t: &Table,
    cutoff: &str,
    mut f: impl FnMut(&mut Connection, &Week) -> Result<()>,
) -> Result<()> {
    let next_sql = format!(
        "SELECT min({time}) FROM {} WHERE {} AND {time} >= ?2",
        t.name,
        t.finished,
        time = t.time_col
    );
    let mut from = String::new();
    loop {
        let next: Option<String> =
            conn.query_row(&next_sql, params![cutoff, from], |r| r.get(0))?;
        let Some(next) = next else { return Ok(()) };
        let week = match from_db(&next) {
            Ok(time) => Week::of(time),
            Err(_) => {
                // Stored times are always `to_db` text; skip past a foreign value, loudly.
                tracing::warn!(table = t.name, time = %next, "row time is not a timestamp; not archived");
                from = format!("{next}\u{10FFFF}");
                continue;
            }
        };
        f(conn, &week)?;
        from = week.end.clone();
    }
}

/// The table's columns, in table order.
fn table_columns(conn: &Connection, name: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")?;
    let columns = stmt
        .query_map([name], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if columns.is_empty() {
        bail!("table {name} does not exist");
    }
    Ok(columns)
}

/// `"a", "b"` for a SELECT / INSERT of known column names (from `pragma_table_info`).
fn column_list(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

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
fn file_name(table: &str, week: &str, part: i64) -> String {
    if part <= 1 {
        format!("{table}-{week}.jsonl.gz")
    } else {
        format!("{table}-{week}.{part}.jsonl.gz")
    }
}

/// The inverse of [`file_name`]: (table, week, part).
fn parse_file_name(name: &str) -> Option<(&'static str, String, i64)> {
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
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
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
struct IdDigest(Sha256);

impl IdDigest {
    fn push(&mut self, id: i64) {
        self.0.update(id.to_le_bytes());
    }
    fn finish(self) -> String {
        hex(&self.0.finalize())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An archive file opened for streaming: gunzipped lines, with the compressed bytes hashed and
/// the row lines (every line after the header) digested.
struct ArchiveReader {
    lines: BufReader<GzDecoder<HashingReader<BufReader<File>>>>,
    name: String,
    line_no: u64,
    /// SHA-256 of the row lines, each with its newline: the file's content, whatever the
    /// compression (see [`RowDigest`]).
    rows: RowDigest,
}

/// The content digest of an archive file: SHA-256 of its row lines (after the header), each
/// followed by a newline, as the archive writes them. A re-compressed copy of a file has the
/// same digest; an edited, dropped or added row changes it. `archives.content_sha256`.
#[derive(Default, Clone)]
struct RowDigest(Sha256);

impl RowDigest {
    fn push(&mut self, line: &[u8]) {
        self.0.update(line);
        if line.last() != Some(&b'\n') {
            self.0.update(b"\n");
        }
    }
    fn finish(self) -> String {
        hex(&self.0.finalize())
    }
}

impl ArchiveReader {
    fn open(path: &Path) -> Result<ArchiveReader> {
        let file = File::open(path).map_err(|e| bad_input(format!("{}: {e}", path.display())))?;
        let hashing = HashingReader {
            inner: BufReader::with_capacity(1 << 16, file),
            hasher: Sha256::new(),
            bytes: 0,
        };
        Ok(ArchiveReader {
            lines: BufReader::with_capacity(1 << 16, GzDecoder::new(hashing)),
            name: path.display().to_string(),
            line_no: 0,
            rows: RowDigest::default(),
        })
    }

    /// The next line without its newline; false at the end. A gzip error (truncation, CRC)
    /// is bad input naming the file.
    fn next_line(&mut self, line: &mut String) -> Result<bool> {
        line.clear();
        let n = self.lines.read_line(line).map_err(|e| {
            bad_input(format!(
                "{}: damaged gzip data after line {}: {e}",
                self.name, self.line_no
            ))
        })?;
        if n == 0 {
            return Ok(false);
        }
        self.line_no += 1;
        if line.ends_with('\n') {
            line.pop();
        }
        if self.line_no > 1 {
            self.rows.push(line.as_bytes());
        }
        Ok(true)
    }

    fn error(&self, what: impl std::fmt::Display) -> anyhow::Error {
        bad_input(format!("{}: line {}: {what}", self.name, self.line_no))
    }

    fn header(&mut self) -> Result<Header> {
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
    fn finish(self) -> Result<(String, u64, String)> {
        let rows = self.rows.finish();
        let mut hashing = self.lines.into_inner().into_inner();
        std::io::copy(&mut hashing, &mut std::io::sink())?;
        Ok((hex(&hashing.hasher.finalize()), hashing.bytes, rows))
    }
}

/// The id at the start of a line we wrote (`{"id":123,...`), else from a full parse.
fn line_id(line: &str) -> Option<i64> {
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
fn write_row(out: &mut Vec<u8>, keys: &[Vec<u8>], row: &rusqlite::Row<'_>) -> Result<()> {
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
fn json_keys(columns: &[String]) -> Vec<Vec<u8>> {
    columns
        .iter()
        .map(|c| {
            let mut key = serde_json::to_vec(c).unwrap_or_default();
            key.push(b':');
            key
        })
        .collect()
}

/// Steps 1-6 for one week of one table.
#[allow(clippy::too_many_arguments)]
fn write_week(
    conn: &mut Connection,
    dir: &Path,
    t: &Table,
    columns: &[String],
    week: &Week,
    cutoff: &str,
    now: DateTime<Utc>,
    stats: &mut Stats,
) -> Result<()> {
    // One read snapshot for the count and the rows, so the header matches the body.
    let snapshot = conn.transaction()?;
    let (rows, min_id, max_id): (u64, Option<i64>, Option<i64>) = snapshot.query_row(
        &week_sql(t, "count(*), min(id), max(id)"),
        week.params(cutoff),
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    if rows == 0 {
        return Ok(());
    }
    let mut part = next_part(&snapshot, dir, t.name, &week.label)?;
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        file_name(t.name, &week.label, part),
        std::process::id()
    ));
    let header = Header {
        format: FORMAT.into(),
        version: VERSION,
        table: t.name.into(),
        rows,
        min_id,
        max_id,
        created_at: to_db(now),
        iso_week: Some(week.label.clone()),
        columns: columns.to_vec(),
    };
    let file = File::create(&temp).with_context(|| format!("creating {}", temp.display()))?;
    let hashing = HashingWriter {
        inner: BufWriter::with_capacity(1 << 16, file),
        hasher: Sha256::new(),
        bytes: 0,
    };
    let mut gz = GzEncoder::new(hashing, Compression::fast());
    let mut line = serde_json::to_vec(&header)?;
    line.push(b'\n');
    gz.write_all(&line)?;
    let mut ids = IdDigest::default();
    let mut content = RowDigest::default();
    let mut written = 0u64;
    {
        let keys = json_keys(columns);
        let sql = week_sql(t, &column_list(columns)) + " ORDER BY id";
        let mut stmt = snapshot.prepare(&sql)?;
        let mut cursor = stmt.query(week.params(cutoff))?;
        while let Some(row) = cursor.next()? {
            line.clear();
            write_row(&mut line, &keys, row)
                .with_context(|| format!("{} row {:?}", t.name, row.get_ref(0)))?;
            line.push(b'\n');
            gz.write_all(&line)?;
            content.push(&line);
            ids.push(row.get(0)?);
            written += 1;
        }
    }
    drop(snapshot);
    if written != rows {
        bail!("{}: read {written} rows but counted {rows}", t.name);
    }
    let hashing = gz.finish()?;
    let sha256 = hex(&hashing.hasher.finalize());
    let size_bytes = hashing.bytes;
    let file = hashing
        .inner
        .into_inner()
        .map_err(|e| anyhow!("flushing {}: {}", temp.display(), e.error()))?;
    file.sync_all()
        .with_context(|| format!("fsync {}", temp.display()))?;
    drop(file);
    crash_point(1);

    // Step 2: what is on disk is what we meant to write.
    let back = read_back(&temp)?;
    let content_sha256 = content.finish();
    let expected = (rows, ids.finish(), sha256.clone(), content_sha256.clone());
    if back != expected {
        let _ = std::fs::remove_file(&temp);
        bail!(
            "{}: read back {} rows / sha256 {} but wrote {} rows / sha256 {}",
            temp.display(),
            back.0,
            back.2,
            expected.0,
            expected.2
        );
    }
    crash_point(2);

    // Step 3: a hard link never replaces an existing file; a taken name means the next part.
    let final_name = loop {
        let name = file_name(t.name, &week.label, part);
        match std::fs::hard_link(&temp, dir.join(&name)) {
            Ok(()) => break name,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => part += 1,
            Err(e) => return Err(e).with_context(|| format!("linking {}", temp.display())),
        }
    };
    std::fs::remove_file(&temp).with_context(|| format!("removing {}", temp.display()))?;
    crash_point(3);
    sync_dir(dir)?;
    crash_point(4);

    let tx = crate::db::write_tx(conn)?;
    tx.execute(
        "INSERT INTO archives (table_name, iso_week, part, file_name, rows, min_id, max_id,
                               sha256, size_bytes, created_at, verified_at, content_sha256)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11)",
        params![
            t.name,
            week.label,
            part,
            final_name,
            rows,
            min_id,
            max_id,
            sha256,
            size_bytes,
            to_db(now),
            content_sha256
        ],
    )?;
    let manifest_id = tx.last_insert_rowid();
    tx.commit()?;
    crash_point(5);
    tracing::info!(file = %final_name, rows, size_bytes, "archive file written");
    stats.files_written += 1;
    stats.rows_archived.add(t.name, rows);
    stats.bytes_written += size_bytes;

    stats.rows_deleted += delete_archived(conn, dir, manifest_id, now)?;
    crash_point(6);
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("fsync directory {}", dir.display()))
}

/// The next free part number of a week: past every manifest row and every file on disk.
fn next_part(conn: &Connection, dir: &Path, table: &str, week: &str) -> Result<i64> {
    let in_manifest: Option<i64> = conn.query_row(
        "SELECT max(part) FROM archives WHERE table_name = ?1 AND iso_week = ?2",
        params![table, week],
        |r| r.get(0),
    )?;
    let mut part = in_manifest.unwrap_or(0);
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        if let Some((t, w, p)) = name.to_str().and_then(parse_file_name) {
            if t == table && w == week {
                part = part.max(p);
            }
        }
    }
    Ok(part + 1)
}

/// Step 2: gunzip (checking the CRC), count rows, digest the ids, hash the bytes and the rows.
fn read_back(path: &Path) -> Result<(u64, String, String, String)> {
    let mut reader = ArchiveReader::open(path)?;
    reader.header()?;
    let mut line = String::new();
    let mut ids = IdDigest::default();
    let mut rows = 0;
    while reader.next_line(&mut line)? {
        let id = line_id(&line).ok_or_else(|| reader.error("no id"))?;
        ids.push(id);
        rows += 1;
    }
    let (sha256, _, content) = reader.finish()?;
    Ok((rows, ids.finish(), sha256, content))
}

/// Step 6 for a manifest row: in one transaction, deletes each row of the file that is still
/// exactly what the file holds, adds the deleted trades to the rollup, sets `deleted_at`.
/// Rows already gone are skipped, so this is safe to repeat. Returns the rows deleted.
fn delete_archived(
    conn: &mut Connection,
    dir: &Path,
    manifest_id: i64,
    now: DateTime<Utc>,
) -> Result<u64> {
    let (table_name, file_name, sha256): (String, String, String) = conn.query_row(
        "SELECT table_name, file_name, sha256 FROM archives WHERE id = ?1",
        [manifest_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let t = table(&table_name).ok_or_else(|| anyhow!("manifest names table {table_name:?}"))?;
    let path = dir.join(&file_name);
    let tx = crate::db::write_tx(conn)?;
    let columns = table_columns(&tx, t.name)?;
    let mut reader = ArchiveReader::open(&path)?;
    let header = reader.header()?;
    if header.columns != columns || header.table != t.name {
        bail!("{file_name}: its columns are not the table's current columns; rows kept");
    }
    let keys = json_keys(&columns);
    let facts = (t.name == "trades")
        .then(|| TradeColumns::new(&columns))
        .transpose()?;
    // The file's ids ascend, and so does a cursor over the table: one merge walk compares each
    // row with its line, and runs of consecutive matching rows leave in one range DELETE each
    // (no lookup per row). A row missing from the file or changed ends a run, so a range never
    // covers a row that must stay.
    let mut select = tx.prepare(&format!(
        "SELECT {} FROM {} WHERE id >= ?1 ORDER BY id",
        column_list(&columns),
        t.name
    ))?;
    let mut delete = tx.prepare(&format!(
        "DELETE FROM {} WHERE id BETWEEN ?1 AND ?2",
        t.name
    ))?;
    let mut rollup = Delta::default();
    let (mut deleted, mut changed) = (0u64, 0u64);
    let mut line = String::new();
    let mut current = Vec::new();
    // (first id, last id, rows) of each run of matching rows still to delete.
    let mut runs: Vec<(i64, i64, usize)> = Vec::new();
    const MAX_RUNS: usize = 10_000;
    let mut file_id: Option<i64> = None;
    let mut next_file_id = |reader: &mut ArchiveReader, line: &mut String| -> Result<Option<i64>> {
        if !reader.next_line(line)? {
            return Ok(None);
        }
        let id = line_id(line).ok_or_else(|| reader.error("no id"))?;
        if file_id.is_some_and(|prev| id <= prev) {
            return Err(reader.error("ids are not ascending; rows kept"));
        }
        file_id = Some(id);
        Ok(Some(id))
    };
    let mut at = next_file_id(&mut reader, &mut line)?;
    while let Some(start) = at {
        let mut run: Option<(i64, i64, usize)> = None;
        let mut rows = select.query([start])?;
        let mut table_done = true;
        while let Some(row) = rows.next()? {
            let db_id: i64 = row.get(0)?;
            // Lines whose rows are already gone: no row between them, so the run goes on.
            while at.is_some_and(|id| id < db_id) {
                at = next_file_id(&mut reader, &mut line)?;
            }
            let Some(id) = at else {
                table_done = false;
                break;
            };
            if id > db_id {
                // A row the file does not hold stays, and ends the run.
                runs.extend(run.take());
                continue;
            }
            current.clear();
            write_row(&mut current, &keys, row)?;
            if current == line.as_bytes() {
                if let Some(facts) = &facts {
                    rollup.add_trade(&facts.of(row)?)?;
                }
                run = Some(run.map_or((id, id, 1), |(first, _, n)| (first, id, n + 1)));
                deleted += 1;
            } else {
                changed += 1;
                runs.extend(run.take());
            }
            at = next_file_id(&mut reader, &mut line)?;
            if at.is_none() || runs.len() >= MAX_RUNS {
                // Done, or delete what is pending and go on from the next line.
                table_done = false;
                break;
            }
        }
        runs.extend(run.take());
        drop(rows);
        if table_done {
            // The table has no more rows: the remaining lines' rows are gone already.
            while next_file_id(&mut reader, &mut line)?.is_some() {}
            at = None;
        }
        for (first, last, n) in runs.drain(..) {
            let removed = delete.execute([first, last])?;
            if removed != n {
                bail!("{file_name}: ids {first}..={last} held {removed} rows, not {n}; rows kept");
            }
        }
    }
    let (actual_sha, _, _) = reader.finish()?;
    if actual_sha != sha256 {
        bail!("{file_name}: sha256 {actual_sha} differs from the manifest's {sha256}; rows kept");
    }
    if changed > 0 {
        tracing::warn!(file = %file_name, changed, "rows changed after they were archived; kept in the database");
    }
    drop((select, delete));
    // The rollup changes in the same transaction as the DELETE (and before it commits), so the
    // figures never miss or double count a row, whatever the moment of a crash.
    rollup.apply(&tx, 1)?;
    tx.execute(
        "UPDATE archives SET deleted_at = ?1 WHERE id = ?2",
        params![to_db(now), manifest_id],
    )?;
    tx.commit()?;
    tracing::info!(file = %file_name, deleted, "archived rows deleted");
    Ok(deleted)
}

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
    let mut finals = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if name.starts_with('.') && name.ends_with(".tmp") && name.contains(".jsonl.gz.") {
            let pid: Option<i32> = name
                .trim_end_matches(".tmp")
                .rsplit('.')
                .next()
                .and_then(|p| p.parse().ok());
            if pid.map_or(true, |p| {
                p == std::process::id() as i32 || !crate::process::alive(i64::from(p))
            }) {
                tracing::warn!(file = %name, "removing a temp file left by a crashed run");
                std::fs::remove_file(entry.path())?;
            }
        } else if parse_file_name(&name).is_some() {
            // The job writes regular files only: a link named like an archive file is not its
            // own, and following it could adopt (and delete rows for) a file anywhere.
            let file_type = entry.file_type()?;
            if file_type.is_symlink() {
                tracing::warn!(file = %name, "archive file is a symbolic link, which the archive job never writes; set aside, not followed");
                set_aside(&entry.path());
            } else if file_type.is_file() {
                finals.push(name);
            }
        }
    }

    let pending: Vec<(i64, String, String)> = {
        let mut stmt = conn.prepare(
            "SELECT id, file_name, sha256 FROM archives
             WHERE deleted_at IS NULL AND offloaded_to IS NULL ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (id, name, sha256) in pending {
        let path = dir.join(&name);
        let check = regular_file(&path)
            .and_then(|()| scan_file(conn, &path))
            .and_then(|s| {
                if s.sha256 != sha256 {
                    Err(anyhow!(
                        "sha256 {} differs from the manifest's {sha256}",
                        s.sha256
                    ))
                } else {
                    same_columns(conn, &s.header)
                }
            });
        match check {
            Ok(()) => {
                tracing::warn!(file = %name, "finishing an archive file a crashed run left");
                stats.rows_deleted += delete_archived(conn, dir, id, now)?;
            }
            Err(e) => {
                // deleted_at is set in the transaction that deletes, so every row is still here.
                tracing::warn!(file = %name, error = %crate::error::one_line(&e), "archive file unusable; its rows stay in the database");
                set_aside(&path);
                conn.execute("DELETE FROM archives WHERE id = ?1", [id])?;
            }
        }
    }

    for name in finals {
        let known: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM archives WHERE file_name = ?1)",
            [&name],
            |r| r.get(0),
        )?;
        if known {
            continue;
        }
        let path = dir.join(&name);
        let Some((table_name, week, part)) = parse_file_name(&name) else {
            continue;
        };
        // scan_file refuses a header for another table or week than the name says, and rows
        // outside that week.
        match scan_file(conn, &path).and_then(|s| same_columns(conn, &s.header).map(|()| s)) {
            Ok(s) => {
                tracing::warn!(file = %name, "adopting an archive file a crashed run left");
                conn.execute(
                    "INSERT INTO archives (table_name, iso_week, part, file_name, rows, min_id,
                                           max_id, sha256, size_bytes, created_at, verified_at,
                                           content_sha256)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                    params![
                        table_name,
                        week,
                        part,
                        name,
                        s.rows,
                        s.min_id,
                        s.max_id,
                        s.sha256,
                        s.size_bytes,
                        s.header.created_at,
                        to_db(now),
                        s.content_sha256
                    ],
                )?;
                let id = conn.last_insert_rowid();
                stats.rows_deleted += delete_archived(conn, dir, id, now)?;
            }
            Err(e) => {
                tracing::warn!(file = %name, error = %crate::error::one_line(&e), "archive file without manifest row is damaged or not for the table and week it is named for; set aside");
                set_aside(&path);
            }
        }
    }
    Ok(())
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
fn set_aside(path: &Path) {
    if std::fs::symlink_metadata(path).is_ok() {
        let mut target = path.as_os_str().to_owned();
        target.push(".rejected");
        if let Err(e) = std::fs::rename(path, &target) {
            tracing::warn!(file = %path.display(), error = %e, "could not set the file aside");
        }
    }
}

/// What a full check of a file found.
#[derive(Debug, Clone, Serialize)]
pub struct FileSummary {
    pub header: Header,
    pub rows: u64,
    pub min_id: Option<i64>,
    pub max_id: Option<i64>,
    pub sha256: String,
    pub size_bytes: u64,
    /// SHA-256 of the row lines (see [`RowDigest`]): the same for any compression of the rows.
    pub content_sha256: String,
}

/// One parsed line: the values in header column order.
fn parse_line(reader: &ArchiveReader, line: &str, columns: &[String]) -> Result<Vec<SqlValue>> {
    let object = serde_json::from_str::<JsonObject>(line)
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
fn sql_value(raw: &str) -> std::result::Result<SqlValue, String> {
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

/// A JSON object as its fields in order, borrowed from the line (no map, no copies: archive
/// lines are wide and many). Keys with escapes are rejected; column names have none.
struct JsonObject<'a>(Vec<(&'a str, &'a serde_json::value::RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for JsonObject<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visitor<'a> {
            type Value = JsonObject<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<JsonObject<'a>, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(48));
                while let Some(entry) =
                    map.next_entry::<&'de str, &'de serde_json::value::RawValue>()?
                {
                    fields.push(entry);
                }
                Ok(JsonObject(fields))
            }
        }
        d.deserialize_map(Visitor(std::marker::PhantomData))
    }
}

/// Checks a whole file without touching the database: header (format, version, a known table
/// whose columns exist here, and the table the file name says), gzip CRC, every line a JSON
/// object with exactly the header's columns, ids increasing, count and id range as the header
/// says. Every failure is bad input naming the file and line.
pub fn scan_file(conn: &Connection, path: &Path) -> Result<FileSummary> {
    scan(conn, path, |_, _, _| Ok(()))
}

fn scan(
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
        let values = parse_line(&reader, &line, &header.columns)?;
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

/// `ids 3..17`, or `no ids`.
fn id_range(min_id: Option<i64>, max_id: Option<i64>) -> String {
    match (min_id, max_id) {
        (Some(lo), Some(hi)) => format!("ids {lo}..{hi}"),
        _ => "no ids".into(),
    }
}

/// Checks a header before anything is read or built from it: the table and week the file name
/// gives (when it follows the archive's naming) and the table's columns here. Returns the table
/// and where its rows must lie. Bad input naming the file, line 1 and the field.
fn check_header(
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

/// SHA-256 of a file's bytes, as the manifest records it.
fn file_sha256(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(|e| bad_input(format!("{}: {e}", path.display())))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).with_context(|| format!("reading {}", path.display()))?;
    Ok(hex(&hasher.finalize()))
}

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
    /// `ok`, `missing`, `size differs`, `not in manifest`, `offloaded`, or what a check found.
    pub status: String,
}

struct ManifestRow {
    file: String,
    table: String,
    week: String,
    part: i64,
    rows: i64,
    min_id: Option<i64>,
    max_id: Option<i64>,
    sha256: String,
    /// The rows digest (see [`RowDigest`]); None for files archived before it was recorded.
    content_sha256: Option<String>,
    size_bytes: u64,
    deleted: bool,
    verified_at: Option<String>,
    offloaded_to: Option<String>,
}

fn manifest(conn: &Connection) -> Result<Vec<ManifestRow>> {
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
    fn status(&self, status: String) -> FileStatus {
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
    fn path(&self, dir: &Path) -> PathBuf {
        match &self.offloaded_to {
            Some(to) if Path::new(to).is_dir() => Path::new(to).join(&self.file),
            Some(to) => PathBuf::from(to),
            None => dir.join(&self.file),
        }
    }
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
            let status = match std::fs::metadata(r.path(dir)) {
                Err(_) => "missing".to_string(),
                Ok(m) if m.len() != r.size_bytes => "size differs".to_string(),
                Ok(_) if r.offloaded_to.is_some() => "offloaded".to_string(),
                Ok(_) => "ok".to_string(),
            };
            r.status(status)
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
        .filter(|r| wanted.as_ref().map_or(true, |w| *w == r.file))
    {
        let path = match file {
            Some(f) if f.exists() => f.to_path_buf(),
            _ => row.path(dir),
        };
        if !path.exists() {
            out.push(row.status("missing".into()));
            continue;
        }
        let status = match scan_file(conn, &path) {
            Err(e) => crate::error::one_line(&e),
            Ok(s) => match row.mismatch(&s) {
                Some(why) => why,
                None => {
                    conn.execute(
                        "UPDATE archives SET verified_at = ?1,
                                content_sha256 = coalesce(content_sha256, ?2)
                         WHERE file_name = ?3",
                        params![to_db(now), s.content_sha256, row.file],
                    )?;
                    "ok".into()
                }
            },
        };
        let mut st = row.status(status);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Step 6's merge walk: a row changed after it was written stays, rows already gone or
    /// not in the file are skipped, every other row of the file leaves, the rollup counts
    /// exactly the rows deleted.
    #[test]
    fn delete_keeps_changed_rows_and_deletes_the_rest() {
        use chrono::TimeZone;
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::default();
        settings.general.db = dir.path().join("t.db");
        settings.archive.dir = dir.path().join("archive");
        let mut conn = crate::db::create(&settings.general.db).unwrap();
        let start = Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap();
        let candles = crate::sim::candles(start, 600, 1);
        let tx = crate::db::write_tx(&mut conn).unwrap();
        for d in crate::sim::decisions(&candles, 10, 3).iter().take(300) {
            crate::decision::insert(&tx, d).unwrap();
        }
        tx.commit().unwrap();
        conn.execute_batch(
            "UPDATE trades SET settlement_status = 'settled', is_win = id % 2, profit_loss = '1.5',
                               settled_at = timestamp;
             UPDATE trades SET settlement_status = 'pending' WHERE id = 120;",
        )
        .unwrap();
        let now = start + chrono::Duration::days(60);
        let stats = archive_older_than(&mut conn, &settings, now, now, false).unwrap();
        assert_eq!(stats.rows_deleted, 299);
        let rollup_n = |c: &Connection| -> i64 {
            c.query_row("SELECT coalesce(sum(n), 0) FROM daily_rollup", [], |r| {
                r.get(0)
            })
            .unwrap()
        };
        assert_eq!(rollup_n(&conn), 299);
        let file = std::fs::read_dir(&settings.archive.dir)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let request = RestoreRequest {
            file: &file,
            archive_dir: &settings.archive.dir,
            dry_run: false,
            progress: false,
        };
        restore(&mut conn, &request).unwrap();
        assert_eq!(rollup_n(&conn), 0);
        // Rows 1, 150 and 300 change; row 151 is gone already; row 120 (pending) is not in
        // the file but inside its id range.
        conn.execute_batch(
            "UPDATE trades SET profit_loss = '2.5' WHERE id IN (1, 150, 300);
             DELETE FROM trades WHERE id = 151;
             UPDATE archives SET deleted_at = NULL;",
        )
        .unwrap();
        let manifest_id: i64 = conn
            .query_row("SELECT id FROM archives", [], |r| r.get(0))
            .unwrap();
        let deleted = delete_archived(&mut conn, &settings.archive.dir, manifest_id, now).unwrap();
        assert_eq!(deleted, 295);
        let left: Vec<i64> = conn
            .prepare("SELECT id FROM trades ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(left, vec![1, 120, 150, 300]);
        assert_eq!(rollup_n(&conn), 295);
    }

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
    fn iso_weeks_start_on_monday_and_cross_years() {
        let cases = [
            ("2026-02-11 10:30:00", "2026-W07", "2026-02-09 00:00:00"),
            ("2026-01-01 00:00:00", "2026-W01", "2025-12-29 00:00:00"),
            ("2027-01-01 12:00:00", "2026-W53", "2026-12-28 00:00:00"),
            ("2026-02-15 23:59:59", "2026-W07", "2026-02-09 00:00:00"),
        ];
        for (time, label, start) in cases {
            let week = Week::of(from_db(time).unwrap());
            assert_eq!(
                (week.label.as_str(), week.start.as_str()),
                (label, start),
                "{time}"
            );
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
