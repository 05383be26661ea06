//! Step 6: the rows of a recorded file leave the database, in one transaction with the rollup
//! and the index of archived decisions, and only while each is still byte for byte what the
//! file holds.

use std::path::Path;

use anyhow::{anyhow, bail, Result};
use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::format::{json_keys, line_id, write_row, ArchiveReader};
use super::tables::{column_list, table, table_columns, TableKind};
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
    let tx = crate::db::write_tx(conn)?;
    let columns = table_columns(&tx, t.name)?;
    let mut lines = Lines {
        reader: ArchiveReader::open(&dir.join(&file_name))?,
        line: String::new(),
        last: None,
    };
    let header = lines.reader.header()?;
    if header.columns != columns || header.table != t.name {
        bail!("{file_name}: its columns are not the table's current columns; rows kept");
    }
    let trades = t.kind == TableKind::Trades;
    let index = trades && crate::trades::archived::kept(&tx)?;
    let mut merge = Merge {
        keys: json_keys(&columns),
        facts: trades.then(|| TradeColumns::new(&columns)).transpose()?,
        ..Merge::default()
    };
    // The file's ids ascend, and so does a cursor over the table: one merge walk compares each
    // row with its line, and runs of consecutive matching rows leave in one range DELETE each
    // (no lookup per row). A row missing from the file or changed ends a run, so a range never
    // covers a row that must stay.
    let mut select = tx.prepare(&format!(
        "SELECT {} FROM {} WHERE id >= ?1 ORDER BY id",
        column_list(&columns),
        t.name
    ))?;
    // Trades leave through their owner (with their decisions' index entries).
    let mut delete = match trades {
        true => None,
        false => Some(tx.prepare(&format!(
            "DELETE FROM {} WHERE id BETWEEN ?1 AND ?2",
            t.name
        ))?),
    };
    let mut at = lines.next_id()?;
    while let Some(start) = at {
        at = merge.pass(&mut select, &mut lines, start)?;
        let runs = merge.runs.drain(..);
        delete_runs(&tx, delete.as_mut(), runs, index, &file_name)?;
    }
    let (actual_sha, _, _) = lines.reader.finish()?;
    if actual_sha != sha256 {
        bail!("{file_name}: sha256 {actual_sha} differs from the manifest's {sha256}; rows kept");
    }
    if merge.changed > 0 {
        let changed = merge.changed;
        tracing::warn!(file = %file_name, changed, "rows changed after they were archived; kept in the database");
    }
    drop((select, delete));
    // The rollup changes in the same transaction as the DELETE (and before it commits), so the
    // figures never miss or double count a row, whatever the moment of a crash.
    merge.rollup.archived(&tx, &file_name)?;
    manifest::mark_deleted(&tx, manifest_id, now)?;
    tx.commit()?;
    let deleted = merge.deleted;
    tracing::info!(file = %file_name, deleted, "archived rows deleted");
    Ok(deleted)
}

/// Runs of matching rows pending their DELETE before a pass stops to delete them.
const MAX_RUNS: usize = 10_000;

/// An archive file's lines in id order, and the last id read.
struct Lines {
    reader: ArchiveReader,
    line: String,
    last: Option<i64>,
}

impl Lines {
    /// The next line's id (its text in `line`); None at the end. Ids must ascend.
    fn next_id(&mut self) -> Result<Option<i64>> {
        if !self.reader.next_line(&mut self.line)? {
            return Ok(None);
        }
        let id = line_id(&self.line).ok_or_else(|| self.reader.error("no id"))?;
        if self.last.is_some_and(|prev| id <= prev) {
            return Err(self.reader.error("ids are not ascending; rows kept"));
        }
        self.last = Some(id);
        Ok(Some(id))
    }
}

/// What the merge walk found so far.
#[derive(Default)]
struct Merge {
    keys: Vec<Vec<u8>>,
    /// For trades: where the rollup's columns are.
    facts: Option<TradeColumns>,
    rollup: Delta,
    deleted: u64,
    changed: u64,
    /// (first id, last id, rows) of each run of matching rows still to delete.
    runs: Vec<(i64, i64, usize)>,
    /// The row being compared, written as a line.
    current: Vec<u8>,
}

impl Merge {
    /// One pass over the table's rows from id `start` (the current line's) against the file's
    /// lines, until the lines end, the table ends or [`MAX_RUNS`] runs wait. Returns the line id
    /// the next pass starts from (None: done).
    fn pass(
        &mut self,
        select: &mut rusqlite::Statement<'_>,
        lines: &mut Lines,
        start: i64,
    ) -> Result<Option<i64>> {
        let mut at = Some(start);
        let mut run: Option<(i64, i64, usize)> = None;
        let mut rows = select.query([start])?;
        while let Some(row) = rows.next()? {
            let db_id: i64 = row.get(0)?;
            // Lines whose rows are already gone: no row between them, so the run goes on.
            while at.is_some_and(|id| id < db_id) {
                at = lines.next_id()?;
            }
            let Some(id) = at else {
                break;
            };
            if id > db_id {
                // A row the file does not hold stays, and ends the run.
                self.runs.extend(run.take());
                continue;
            }
            if self.same(row, &lines.line)? {
                run = Some(run.map_or((id, id, 1), |(first, _, n)| (first, id, n + 1)));
            } else {
                self.runs.extend(run.take());
            }
            at = lines.next_id()?;
            if at.is_none() || self.runs.len() >= MAX_RUNS {
                // Done, or delete what is pending and go on from the next line.
                self.runs.extend(run.take());
                return Ok(at);
            }
        }
        self.runs.extend(run.take());
        if at.is_some() {
            // The table has no more rows: the remaining lines' rows are gone already.
            while lines.next_id()?.is_some() {}
        }
        Ok(None)
    }

    /// Whether `row` is still byte for byte its `line`: then it counts as deleted (and into
    /// the rollup), else as changed.
    fn same(&mut self, row: &rusqlite::Row<'_>, line: &str) -> Result<bool> {
        self.current.clear();
        write_row(&mut self.current, &self.keys, row)?;
        if self.current != line.as_bytes() {
            self.changed += 1;
            return Ok(false);
        }
        if let Some(facts) = &self.facts {
            self.rollup.add_trade(&facts.of(row)?)?;
        }
        self.deleted += 1;
        Ok(true)
    }
}

/// Deletes runs of matching rows `(first id, last id, rows)` with `delete`; trades (no
/// statement) through their owner, their decisions into the index of archived decisions
/// first (`index`), so that a re-log stays a duplicate or a conflict.
fn delete_runs(
    tx: &Connection,
    mut delete: Option<&mut rusqlite::Statement<'_>>,
    runs: impl Iterator<Item = (i64, i64, usize)>,
    index: bool,
    file_name: &str,
) -> Result<()> {
    for (first, last, n) in runs {
        let removed = match delete.as_deref_mut() {
            Some(stmt) => stmt.execute([first, last])?,
            None => crate::trades::delete_archived_range(tx, first, last, index)?,
        };
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
            crate::trades::insert(&tx, d).unwrap();
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
