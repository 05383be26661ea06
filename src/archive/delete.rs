//! Step 6: the rows of a recorded file leave the database, in one transaction with the rollup
//! and the index of archived decisions, and only while each is still byte for byte what the
//! file holds.

use std::path::Path;

use anyhow::{anyhow, bail, Result};
use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::format::{json_keys, line_id, write_row, ArchiveReader};
use super::tables::{column_list, table, table_columns};
use crate::archives as manifest;
use crate::rollup::{Delta, TradeColumns};

/// Step 6 for a manifest row: in one transaction, deletes each row of the file that is still
/// exactly what the file holds, adds the deleted trades to the rollup, sets `deleted_at`.
/// Rows already gone are skipped, so this is safe to repeat. Returns the rows deleted.
pub(super) fn delete_archived(
    conn: &mut Connection,
    dir: &Path,
    manifest_id: i64,
    now: DateTime<Utc>,
) -> Result<u64> {
    let manifest::Recorded {
        table: table_name,
        file: file_name,
        sha256,
        ..
    } = manifest::recorded(conn, manifest_id)?;
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
    let index = t.name == "trades" && crate::decision::archived::kept(&tx)?;
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
        delete_runs(&tx, &mut delete, runs.drain(..), index, &file_name)?;
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
    manifest::mark_deleted(&tx, manifest_id, now)?;
    tx.commit()?;
    tracing::info!(file = %file_name, deleted, "archived rows deleted");
    Ok(deleted)
}

/// Deletes runs of matching rows `(first id, last id, rows)`; for trades, their decisions go
/// into the index of archived decisions first, so that a re-log stays a duplicate or a
/// conflict.
fn delete_runs(
    tx: &Connection,
    delete: &mut rusqlite::Statement<'_>,
    runs: impl Iterator<Item = (i64, i64, usize)>,
    trades: bool,
    file_name: &str,
) -> Result<()> {
    for (first, last, n) in runs {
        if trades {
            crate::decision::archived::index_rows(tx, first, last)?;
        }
        let removed = delete.execute([first, last])?;
        if removed != n {
            bail!("{file_name}: ids {first}..={last} held {removed} rows, not {n}; rows kept");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{archive_older_than, restore, RestoreRequest};
    use crate::config::Settings;

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
}
