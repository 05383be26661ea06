//! The write path, steps 1 to 5 of one file (see the module map in `mod.rs`): stream a week's
//! rows into a temp file, read it back, link it into place, record it in the manifest; then
//! step 6 hands the file to [`super::delete`].

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Utc};
use flate2::write::GzEncoder;
use flate2::Compression;
use rusqlite::{params, Connection};
use sha2::{Digest, Sha256};

use super::delete::delete_archived;
use super::format::{
    file_name, hex, json_keys, line_id, parse_file_name, write_row, ArchiveReader, HashingWriter,
    Header, IdDigest, RowDigest, FORMAT, VERSION,
};
use super::tables::{column_list, week_sql, Table, Week};
use super::{crash_point, Stats};
use crate::time::to_db;

/// Steps 1-6 for one week of one table.
#[allow(clippy::too_many_arguments)]
pub(super) fn write_week(
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
