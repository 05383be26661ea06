//! The write path, steps 1 to 5 of one file (see the module map in `mod.rs`): stream a week's
//! rows into a temp file, read it back, link it into place, record it in the manifest; then
//! step 6 hands the file to [`super::delete`].

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Utc};
use flate2::write::GzEncoder;
use flate2::Compression;
use rusqlite::Connection;
use sha2::{Digest, Sha256};

use super::delete::delete_archived;
use super::format::{
    file_name, hex, json_keys, line_id, parse_file_name, write_row, ArchiveReader, HashingWriter,
    Header, IdDigest, RowDigest, FORMAT, MAX_DECOMPRESSED_BYTES, MAX_LINE_BYTES, VERSION,
};
use super::tables::{column_list, week_sql, Table, Week};
use super::{crash_point, Stats};
use crate::archives as manifest;
use crate::time::to_db;

/// What writing the weeks of one table shares: where, which table and columns, the cutoff and
/// the time of the run.
pub(super) struct WeekWriter<'a> {
    pub(super) dir: &'a Path,
    pub(super) table: &'a Table,
    pub(super) columns: Vec<String>,
    pub(super) cutoff: &'a str,
    pub(super) now: DateTime<Utc>,
}

/// A week's rows as one read snapshot counted them (the header is written from this).
struct Counted {
    rows: u64,
    min_id: Option<i64>,
    max_id: Option<i64>,
}

/// What step 1 wrote to the temp file, and so what step 2 must read back.
struct Written {
    temp: PathBuf,
    part: i64,
    counted: Counted,
    /// Digest of the ids in file order ([`IdDigest`]).
    ids: String,
    sha256: String,
    size_bytes: u64,
    content_sha256: String,
}

impl WeekWriter<'_> {
    /// Steps 1-6 for one week of the table.
    pub(super) fn write(
        &self,
        conn: &mut Connection,
        week: &Week,
        stats: &mut Stats,
    ) -> Result<()> {
        let mut written = match self.write_temp(conn, week) {
            Ok(Some(written)) => written,
            Ok(None) => return Ok(()),
            Err(e) => match e.downcast_ref::<Unreadable>() {
                // Left in the database (and named) rather than failing every run.
                Some(why) => {
                    tracing::warn!(table = self.table.name, week = %week.label, "week not archived: {why}");
                    stats.weeks_not_archived += 1;
                    return Ok(());
                }
                None => return Err(e),
            },
        };
        crash_point(1);
        check_read_back(&written)?;
        crash_point(2);
        let final_name = self.link_into_place(&mut written, week)?;
        let manifest_id = self.record(conn, week, &written, &final_name)?;
        crash_point(5);
        let (rows, size_bytes) = (written.counted.rows, written.size_bytes);
        tracing::info!(file = %final_name, rows, size_bytes, "archive file written");
        stats.files_written += 1;
        stats.rows_archived.add(self.table.name, rows);
        stats.bytes_written += size_bytes;

        stats.rows_deleted += delete_archived(conn, self.dir, manifest_id, self.now)?;
        crash_point(6);
        Ok(())
    }

    /// Step 1: streams the week's rows from one read snapshot (so the header matches the body)
    /// into a temp file, flushed and fsynced. None when the week has no rows.
    fn write_temp(&self, conn: &mut Connection, week: &Week) -> Result<Option<Written>> {
        let t = self.table;
        let snapshot = conn.transaction()?;
        let counted: Counted = snapshot.query_row(
            &week_sql(t, "count(*), min(id), max(id)"),
            week.params(self.cutoff),
            |r| {
                Ok(Counted {
                    rows: r.get(0)?,
                    min_id: r.get(1)?,
                    max_id: r.get(2)?,
                })
            },
        )?;
        if counted.rows == 0 {
            return Ok(None);
        }
        let part = next_part(&snapshot, self.dir, t.name, &week.label)?;
        let temp = self.dir.join(format!(
            ".{}.{}.tmp",
            file_name(t.name, &week.label, part),
            std::process::id()
        ));
        let file = File::create(&temp).with_context(|| format!("creating {}", temp.display()))?;
        let mut gz = GzEncoder::new(
            HashingWriter {
                inner: BufWriter::with_capacity(1 << 16, file),
                hasher: Sha256::new(),
                bytes: 0,
            },
            Compression::fast(),
        );
        let mut line = serde_json::to_vec(&self.header(week, &counted))?;
        line.push(b'\n');
        gz.write_all(&line)?;
        let mut ids = IdDigest::default();
        let mut content = RowDigest::default();
        let mut n_written = 0u64;
        let mut expanded = line.len() as u64;
        {
            let keys = json_keys(&self.columns);
            let sql = week_sql(t, &column_list(&self.columns)) + " ORDER BY id";
            let mut stmt = snapshot.prepare(&sql)?;
            let mut cursor = stmt.query(week.params(self.cutoff))?;
            while let Some(row) = cursor.next()? {
                line.clear();
                write_row(&mut line, &keys, row)
                    .with_context(|| format!("{} row {:?}", t.name, row.get_ref(0)))?;
                line.push(b'\n');
                expanded += line.len() as u64;
                if line.len() > MAX_LINE_BYTES || expanded > MAX_DECOMPRESSED_BYTES {
                    drop(gz);
                    let _ = std::fs::remove_file(&temp);
                    return Err(anyhow::Error::new(Unreadable {
                        table: t.name,
                        id: row.get(0)?,
                        line_bytes: line.len(),
                    }));
                }
                gz.write_all(&line)?;
                content.push(&line);
                ids.push(row.get(0)?);
                n_written += 1;
            }
        }
        drop(snapshot);
        if n_written != counted.rows {
            bail!(
                "{}: read {n_written} rows but counted {}",
                t.name,
                counted.rows
            );
        }
        let (sha256, size_bytes) = finish_file(gz, &temp)?;
        Ok(Some(Written {
            temp,
            part,
            counted,
            ids: ids.finish(),
            sha256,
            size_bytes,
            content_sha256: content.finish(),
        }))
    }

    fn header(&self, week: &Week, counted: &Counted) -> Header {
        Header {
            format: FORMAT.into(),
            version: VERSION,
            table: self.table.name.into(),
            rows: counted.rows,
            min_id: counted.min_id,
            max_id: counted.max_id,
            created_at: to_db(self.now),
            iso_week: Some(week.label.clone()),
            columns: self.columns.clone(),
        }
    }

    /// Steps 3 and 4: a hard link never replaces an existing file, so a taken name means the
    /// next part; then the temp name goes and the directory is fsynced. Returns the final name.
    fn link_into_place(&self, written: &mut Written, week: &Week) -> Result<String> {
        let temp = &written.temp;
        let final_name = loop {
            let name = file_name(self.table.name, &week.label, written.part);
            match std::fs::hard_link(temp, self.dir.join(&name)) {
                Ok(()) => break name,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => written.part += 1,
                Err(e) => return Err(e).with_context(|| format!("linking {}", temp.display())),
            }
        };
        std::fs::remove_file(temp).with_context(|| format!("removing {}", temp.display()))?;
        crash_point(3);
        sync_dir(self.dir)?;
        crash_point(4);
        Ok(final_name)
    }

    /// Step 5: the manifest row, in its own transaction. Returns its id.
    fn record(
        &self,
        conn: &mut Connection,
        week: &Week,
        written: &Written,
        final_name: &str,
    ) -> Result<i64> {
        let tx = crate::db::write_tx(conn)?;
        let id = manifest::insert(
            &tx,
            &manifest::NewEntry {
                table: self.table.name,
                week: &week.label,
                part: written.part,
                file: final_name,
                rows: written.counted.rows,
                min_id: written.counted.min_id,
                max_id: written.counted.max_id,
                sha256: &written.sha256,
                size_bytes: written.size_bytes,
                content_sha256: &written.content_sha256,
                created_at: to_db(self.now),
                verified_at: to_db(self.now),
            },
        )?;
        tx.commit()?;
        Ok(id)
    }
}

/// A week whose file no reader would accept: a row longer than [`MAX_LINE_BYTES`] as a line
/// (a text stored before texts were bounded), or more than [`MAX_DECOMPRESSED_BYTES`] in all.
/// The week stays in the database, named in a warning, and the rest of the run goes on.
#[derive(Debug)]
struct Unreadable {
    table: &'static str,
    id: i64,
    line_bytes: usize,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} row {} is {} bytes as an archive line (at most {} are read back), or the week's file would expand past {} GiB; its week stays in the database",
            self.table,
            self.id,
            self.line_bytes,
            MAX_LINE_BYTES,
            MAX_DECOMPRESSED_BYTES >> 30
        )
    }
}

impl std::error::Error for Unreadable {}

/// Ends the gzip stream, flushes and fsyncs the file; returns the SHA-256 and size of its bytes.
fn finish_file(
    gz: GzEncoder<HashingWriter<BufWriter<File>>>,
    path: &Path,
) -> Result<(String, u64)> {
    let hashing = gz.finish()?;
    let sha256 = hex(&hashing.hasher.finalize());
    let file = hashing
        .inner
        .into_inner()
        .map_err(|e| anyhow!("flushing {}: {}", path.display(), e.error()))?;
    file.sync_all()
        .with_context(|| format!("fsync {}", path.display()))?;
    Ok((sha256, hashing.bytes))
}

/// Step 2: what is on disk is what we meant to write; the temp file goes when it is not.
fn check_read_back(written: &Written) -> Result<()> {
    let back = read_back(&written.temp)?;
    let expected = (
        written.counted.rows,
        written.ids.clone(),
        written.sha256.clone(),
        written.content_sha256.clone(),
    );
    if back != expected {
        let _ = std::fs::remove_file(&written.temp);
        bail!(
            "{}: read back {} rows / sha256 {} but wrote {} rows / sha256 {}",
            written.temp.display(),
            back.0,
            back.2,
            expected.0,
            expected.2
        );
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("fsync directory {}", dir.display()))
}

/// The next free part number of a week: past every manifest row and every file on disk.
fn next_part(conn: &Connection, dir: &Path, table: &str, week: &str) -> Result<i64> {
    let mut part = manifest::max_part(conn, table, week)?.unwrap_or(0);
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
