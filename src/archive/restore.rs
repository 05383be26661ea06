//! `polyperf archive restore FILE`: puts a file's rows back in one transaction, or refuses the
//! file and writes nothing at all (no rows, no rollup change, no outbox message, no manifest
//! change).
//!
//! Whom the rows belong to decides what a restore may do (see [`super::trust`]):
//! - rows this database archived, exactly (any copy: the original, a re-compressed one): rows
//!   not present go back in and leave `daily_rollup` in the same transaction, so all-time
//!   figures stay what they were before archival;
//! - rows this database archived, but different (an edited P&L, a dropped row): refused, naming
//!   the line and field that differ;
//! - rows it never archived (a file from another machine): every value must pass the decision
//!   log's validation and the settlement rules ([`super::check`]), and no row may be one the
//!   rollup already counts.

use std::path::Path;

use anyhow::{anyhow, bail, Result};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, Transaction};
use serde::Serialize;

use super::check;
use super::format::{file_sha256, ArchiveReader, Header};
use super::scan::{check_header, scan, FileSummary};
use super::tables::{column_list, table, Table, TableKind};
use super::trust::Manifest;
use crate::error::bad_input;
use crate::rollup::Delta;
use crate::trades::TradeColumns;

/// Rows per multi-row INSERT on restore (x columns stays under SQLite's 32766 parameters).
const RESTORE_BATCH: usize = 32;

/// What to restore, and how.
#[derive(Debug, Clone, Copy)]
pub struct RestoreRequest<'a> {
    pub file: &'a Path,
    /// Where this database's archive files are (a copy is compared with its original there).
    pub archive_dir: &'a Path,
    /// Check everything and count what would be inserted; change nothing.
    pub dry_run: bool,
    /// Draw progress on stderr (large files).
    pub progress: bool,
}

impl<'a> RestoreRequest<'a> {
    /// A dry run without progress output (verify asks what a restore would do).
    pub fn dry_run(file: &'a Path, archive_dir: &'a Path) -> RestoreRequest<'a> {
        RestoreRequest {
            file,
            archive_dir,
            dry_run: true,
            progress: false,
        }
    }
}

/// What `polyperf archive restore` did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub file: String,
    pub table: String,
    pub rows: u64,
    pub inserted: u64,
    pub skipped: u64,
    pub dry_run: bool,
    pub origin: Origin,
}

/// Whose rows a restored file held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Rows this database archived (a manifest entry's rows, exactly).
    ArchivedHere,
    /// Rows this database never archived (checked value by value).
    Foreign,
}

/// Puts a file's rows back, skipping rows already present (same id, or same decision_id /
/// dedup_key), or refuses it (bad input naming the file, line and field; nothing written).
pub fn restore(conn: &mut Connection, request: &RestoreRequest<'_>) -> Result<RestoreReport> {
    let path = request.file;
    // The header first: a file for another table or week, or with columns this table lacks,
    // is refused before any SQL is built from it.
    let header = {
        let mut reader = ArchiveReader::open(path)?;
        let header = reader.header()?;
        check_header(conn, path, &reader, &header)?;
        header
    };
    let t = table(&header.table).ok_or_else(|| anyhow!("unknown table"))?;
    let manifest = Manifest::load(conn, t.name, request.archive_dir)?;
    // An unchanged file this database wrote needs no value checks; any other file is checked
    // row by row while it goes in (one pass), and the verdict comes at its end.
    let sha256 = file_sha256(path)?;
    let trusted = manifest.same_bytes(&sha256).is_some();
    let target = Target {
        path,
        header: &header,
        t,
        manifest: &manifest,
        progress: request.progress,
    };
    let tx = crate::db::write_tx(conn)?;
    let pass = target.insert(&tx, !trusted)?;
    if pass.summary.sha256 != sha256 {
        bail!("{}: the file changed while it was restored", path.display());
    }
    if let Some(entry) = manifest.same_rows(&pass.summary) {
        let deleted = entry.deleted;
        let (tx, pass) = if pass.invalid.is_none() {
            (tx, pass)
        } else {
            // This database's own rows, written before today's rules: they go back as they
            // were archived. The first pass stopped inserting at the row the rules refused.
            drop(tx);
            let tx = crate::db::write_tx(conn)?;
            let pass = target.insert(&tx, false)?;
            (tx, pass)
        };
        if deleted {
            let files: Vec<&str> = manifest
                .all_with_rows(&pass.summary)
                .iter()
                .map(|e| e.file.as_str())
                .collect();
            leave_rollup(&tx, target.path, &files, &pass)?;
        }
        return close(tx, request, &target, pass, Origin::ArchivedHere);
    }
    if let Some(why) = refusal(&target, &pass) {
        drop(tx);
        return Err(bad_input(why));
    }
    if let Some(why) = archived_here(&tx, &target, &pass)? {
        drop(tx);
        return Err(bad_input(why));
    }
    // A foreign file's rows must not be ones the rollup already counts. The rollup keeps no
    // ids, so a row falling into a bucket (day, signal, action, end phase) that holds archived
    // decisions could be one of them under another id: refused rather than maybe counted twice.
    if let Some((key, n)) = pass.rollup.first_already_counted(&tx)? {
        let why = format!(
            "{}: this database archived none of these rows, but it already counts {n} archived {} decision(s) of {} (signal {:?}) in its figures, and a foreign row on that day cannot be told apart from them; restore this database's own archive files for that day instead",
            target.path.display(),
            key.action,
            key.day,
            key.signal_type,
        );
        drop(tx);
        return Err(bad_input(why));
    }
    close(tx, request, &target, pass, Origin::Foreign)
}

/// Why a file whose rows are not exactly a manifest entry's is refused; None for a foreign file
/// that may go in.
fn refusal(target: &Target<'_>, pass: &Pass) -> Option<String> {
    let path = target.path;
    if let Some(entry) = target.manifest.at_path(path) {
        // The very file this database wrote, changed since.
        let why = match (&pass.invalid, &pass.conflict) {
            (Some(invalid), _) => invalid.clone(),
            (None, Some((line, id))) => format!(
                "{}: {}",
                path.display(),
                target.manifest.explain(entry, path, *line, *id)
            ),
            (None, None) => format!(
                "{}: {}",
                path.display(),
                entry
                    .mismatch(&pass.summary)
                    .unwrap_or_else(|| "differs from the manifest".into())
            ),
        };
        return Some(format!(
            "{why} (this database wrote {} and its rows changed since)",
            entry.file
        ));
    }
    if let Some(invalid) = &pass.invalid {
        return Some(invalid.clone());
    }
    let (line, id) = pass.conflict?;
    let entry = target.manifest.archived_holding(id)?;
    Some(format!(
        "{}: {}",
        path.display(),
        target.manifest.explain(entry, path, line, id)
    ))
}

/// Why a file of rows this database never archived may not go in: one of its trades is a
/// decision this database archived (under its own row, counted in the rollup), so restoring it
/// would count that decision twice. `None` when no such row was inserted.
fn archived_here(tx: &Transaction<'_>, target: &Target<'_>, pass: &Pass) -> Result<Option<String>> {
    if !crate::trades::archived::kept(tx)? {
        return Ok(None);
    }
    for id in &pass.inserted_trades {
        if let Some((key, archived_id)) = crate::trades::archived::archived_as(tx, *id)? {
            return Ok(Some(format!(
                "{}: row {id}: field `decision_id`: {key} was archived by this database as trade {archived_id}; restore this database's own archive file of it instead",
                target.path.display()
            )));
        }
    }
    Ok(None)
}

/// The rows of a file this database archived (and deleted) went back in: they leave the
/// rollup, in the same transaction.
fn leave_rollup(tx: &Transaction<'_>, path: &Path, files: &[&str], pass: &Pass) -> Result<()> {
    if let Some(why) = &pass.no_rollup {
        return Err(bad_input(format!(
            "{}: its rows cannot leave the daily rollup: {why}",
            path.display()
        )));
    }
    // The rows that went back and those merged with a live decision leave together: the
    // file's details and paths go at once.
    let mut leaving = Delta::default();
    leaving.absorb(pass.rollup.clone());
    leaving.absorb(pass.merged.clone());
    leaving.restored(tx, files)
}

/// Commits (or, in a dry run, rolls back) and reports.
fn close(
    tx: Transaction<'_>,
    request: &RestoreRequest<'_>,
    target: &Target<'_>,
    pass: Pass,
    origin: Origin,
) -> Result<RestoreReport> {
    if request.dry_run {
        tx.rollback()?;
    } else {
        // Restored trades are history: the Telegram feed never announces them.
        crate::trades::hold_back_restored(&tx, &pass.inserted_trades)?;
        // Their decisions are live again: a re-log now meets the row, not the index.
        if crate::trades::archived::kept(&tx)? {
            crate::trades::archived::forget(&tx, &pass.live_keys)?;
        }
        tx.commit()?;
    }
    Ok(RestoreReport {
        file: target.path.display().to_string(),
        table: target.t.name.into(),
        rows: pass.summary.rows,
        inserted: pass.inserted,
        skipped: pass.summary.rows - pass.inserted,
        dry_run: request.dry_run,
        origin,
    })
}

/// The file being restored.
struct Target<'a> {
    path: &'a Path,
    header: &'a Header,
    t: &'static Table,
    manifest: &'a Manifest,
    progress: bool,
}

/// What one pass over the file did inside its transaction.
struct Pass {
    summary: FileSummary,
    inserted: u64,
    /// The inserted trades, to take out of the rollup if the rows are this database's.
    rollup: Delta,
    /// Why the rollup changes could not be gathered (a trades file without a column the
    /// rollup needs).
    no_rollup: Option<String>,
    /// The first row that failed the value checks (bad input naming file, line and field);
    /// nothing after it was inserted.
    invalid: Option<String>,
    /// The first inserted row (line, id) whose id lies in rows this database archived.
    conflict: Option<(u64, i64)>,
    /// The ids of the trades inserted (empty for other tables).
    inserted_trades: Vec<i64>,
    /// Trades not inserted because their decision is live under another id (logged again
    /// after archival, before the index of archived decisions existed): for this database's
    /// own file they leave the rollup too, so the decision counts once.
    merged: Delta,
    /// The decisions this file puts back or finds live: their archived entries go.
    live_keys: Vec<String>,
}

impl Target<'_> {
    /// Reads the whole file, inserting its rows RESTORE_BATCH at a time; with `validate`, checks
    /// every row first and stops inserting at the first bad one (reading on, for the digests).
    fn insert(&self, tx: &Transaction<'_>, validate: bool) -> Result<Pass> {
        let (header, t) = (self.header, self.t);
        let (trades, no_rollup) = match t.kind {
            TableKind::Trades => match TradeColumns::new(&header.columns) {
                Ok(facts) => (Some(TradesPass::new(facts, &header.columns)), None),
                Err(e) => (None, Some(e.to_string())),
            },
            TableKind::Outbox | TableKind::JobRuns => (None, None),
        };
        let mut batches = Batches::new(tx, t, &header.columns, self.manifest, trades)?;
        let mut invalid: Option<String> = None;
        let mut done = 0u64;
        let foreign = check::ForeignRows::new(t, &header.columns);
        let show = self.progress && header.rows >= 100_000;
        let summary = scan(tx, self.path, |reader, line, values| {
            if invalid.is_some() {
                return Ok(());
            }
            if validate {
                if let Err(e) = foreign.check(&values, line) {
                    invalid = Some(crate::error::one_line(&reader.error(e)));
                    return Ok(());
                }
            }
            batches
                .push(reader.line_no, values)
                .map_err(|e| reader.error(format_args!("cannot insert: {e}")))?;
            done += 1;
            if show && done.is_multiple_of(50_000) {
                self.progress(done, "");
            }
            Ok(())
        })?;
        if invalid.is_none() {
            batches
                .flush()
                .map_err(|e| bad_input(format!("{}: cannot insert: {e}", self.path.display())))?;
        }
        if show {
            self.progress(done, "\n");
        }
        let trades = batches.trades.map(TradesPass::finish).unwrap_or_default();
        Ok(Pass {
            summary,
            inserted: batches.inserted,
            rollup: trades.rollup,
            no_rollup,
            invalid,
            conflict: batches.conflict,
            inserted_trades: trades.inserted,
            merged: trades.merged,
            live_keys: trades.live_keys,
        })
    }
}

/// The rows of a file going in, RESTORE_BATCH a statement: one multi-row INSERT per batch
/// (per-statement work once per batch); RETURNING names the rows inserted (not already
/// present).
struct Batches<'t, 'c> {
    tx: &'t Transaction<'c>,
    /// The INSERT for `n` rows.
    sql: Box<dyn Fn(usize) -> String + 't>,
    full: rusqlite::Statement<'t>,
    manifest: &'t Manifest,
    trades: Option<TradesPass>,
    /// (line, values) of the rows waiting.
    batch: Vec<(u64, Vec<SqlValue>)>,
    /// The ids the last statement inserted.
    ids: Vec<i64>,
    inserted: u64,
    /// The first inserted row (line, id) whose id lies in rows this database archived.
    conflict: Option<(u64, i64)>,
}

impl<'t, 'c> Batches<'t, 'c> {
    fn new(
        tx: &'t Transaction<'c>,
        t: &'static Table,
        columns: &'t [String],
        manifest: &'t Manifest,
        trades: Option<TradesPass>,
    ) -> Result<Self> {
        let sql = Box::new(move |n: usize| {
            let one = format!("({})", vec!["?"; columns.len()].join(", "));
            format!(
                "INSERT INTO {} ({}) VALUES {} ON CONFLICT DO NOTHING RETURNING id",
                t.name,
                column_list(columns),
                vec![one; n].join(", ")
            )
        });
        Ok(Batches {
            tx,
            full: tx.prepare(&sql(RESTORE_BATCH))?,
            sql,
            manifest,
            trades,
            batch: Vec::with_capacity(RESTORE_BATCH),
            ids: Vec::with_capacity(RESTORE_BATCH),
            inserted: 0,
            conflict: None,
        })
    }

    /// Adds one row; a full batch goes in.
    fn push(&mut self, line: u64, values: Vec<SqlValue>) -> Result<()> {
        self.batch.push((line, values));
        if self.batch.len() == RESTORE_BATCH {
            self.flush()?;
        }
        Ok(())
    }

    /// Inserts the rows waiting, and notes what became of each.
    fn flush(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let mut short;
        let stmt = if self.batch.len() == RESTORE_BATCH {
            &mut self.full
        } else {
            short = self.tx.prepare(&(self.sql)(self.batch.len()))?;
            &mut short
        };
        for (at, value) in (1..).zip(self.batch.iter().flat_map(|(_, values)| values)) {
            stmt.raw_bind_parameter(at, value)?;
        }
        self.ids.clear();
        let mut rows = stmt.raw_query();
        while let Some(row) = rows.next()? {
            self.ids.push(row.get(0)?);
        }
        drop(rows);
        for (line, values) in std::mem::take(&mut self.batch) {
            let SqlValue::Integer(id) = values[0] else {
                continue;
            };
            let went_in = self.ids.contains(&id);
            if went_in && self.conflict.is_none() && self.manifest.archived_holding(id).is_some() {
                self.conflict = Some((line, id));
            }
            if let Some(trades) = self.trades.as_mut() {
                match went_in {
                    true => trades.inserted(id, &values)?,
                    false => trades.skipped(self.tx, id, &values)?,
                }
            }
        }
        self.inserted += self.ids.len() as u64;
        Ok(())
    }
}

impl Target<'_> {
    /// `restoring FILE: 50000/200000 rows` on stderr, over the previous one.
    fn progress(&self, done: u64, end: &str) {
        eprint!(
            "\rrestoring {}: {done}/{} rows{end}",
            self.path.display(),
            self.header.rows
        );
    }
}

/// What a restore keeps track of for a trades file, row by row.
struct TradesPass {
    facts: TradeColumns,
    key_at: Option<usize>,
    done: TradesDone,
}

/// The trades part of a [`Pass`].
#[derive(Default)]
struct TradesDone {
    rollup: Delta,
    merged: Delta,
    inserted: Vec<i64>,
    live_keys: Vec<String>,
}

impl TradesPass {
    fn new(facts: TradeColumns, columns: &[String]) -> Self {
        TradesPass {
            facts,
            key_at: columns.iter().position(|c| c == "decision_id"),
            done: TradesDone::default(),
        }
    }

    fn key(&self, values: &[SqlValue]) -> Option<String> {
        match self.key_at.and_then(|i| values.get(i)) {
            Some(SqlValue::Text(key)) => Some(key.clone()),
            _ => None,
        }
    }

    /// A row that went in: the rollup change it brings, and its decision is live again.
    fn inserted(&mut self, id: i64, values: &[SqlValue]) -> Result<()> {
        self.done.inserted.push(id);
        self.done.rollup.add_trade(&self.facts.of_values(values)?)?;
        self.done.live_keys.extend(self.key(values));
        Ok(())
    }

    /// A row that did not go in: its id is present, or its decision is live under another id
    /// (logged again after archival before the index of archived decisions existed), which
    /// this row must not be counted beside.
    fn skipped(&mut self, conn: &Connection, id: i64, values: &[SqlValue]) -> Result<()> {
        if crate::trades::is_present(conn, id)? {
            return Ok(());
        }
        self.done.merged.add_trade(&self.facts.of_values(values)?)?;
        self.done.live_keys.extend(self.key(values));
        Ok(())
    }

    fn finish(self) -> TradesDone {
        self.done
    }
}
