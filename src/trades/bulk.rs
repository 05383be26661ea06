//! [`super::Tracker::log_reader`]'s work on two threads (issue 20): this thread reads and parses the
//! input while a writer thread inserts what is already parsed, in one transaction taken when the
//! first batch is ready (so a `polyperf log -` waiting on its input holds no lock). Parsing and validating is about a third of a bulk log's CPU, so on
//! two cores the two halves overlap. The outcome is the same as one thread's: every line
//! stored, or (a bad line without `skip_invalid`, a conflict) nothing.

use std::io::BufRead;
use std::sync::mpsc::{sync_channel, Receiver};

use anyhow::{anyhow, Result};
use rusqlite::Connection;

use super::insert::{insert_rows, RowValues, BATCH};
use super::logged::LogReport;
use crate::decision::{for_each_document, Decision};

/// Batches in flight between the threads (each BATCH decisions).
const QUEUE: usize = 4;

/// At most this many bad lines are named in a report.
const MAX_ERRORS: usize = 100;

/// What the parsing thread hands the writer.
enum Message {
    /// Decisions with their line numbers and row values (worked out on this thread).
    Batch(Vec<(usize, Decision, RowValues)>),
    /// The input is read: commit unless a line was bad (and `skip_invalid` is off).
    End { bad_lines: u64 },
}

/// What the writer did.
#[derive(Default)]
struct Written {
    stored: u64,
    duplicates: u64,
    /// (line, message) of each conflict.
    conflicts: Vec<(usize, String)>,
}

pub(super) fn log_reader(
    conn: &mut Connection,
    input: impl BufRead,
    skip_invalid: bool,
) -> Result<LogReport> {
    let (sender, receiver) = sync_channel::<Message>(QUEUE);
    let mut bad: Vec<(usize, String)> = Vec::new();
    let mut bad_lines = 0u64;
    let written = std::thread::scope(|scope| -> Result<Written> {
        let writer = std::thread::Builder::new()
            .name("decision-writer".into())
            .spawn_scoped(scope, move || write(conn, receiver, skip_invalid))?;
        let mut batch = Vec::with_capacity(BATCH);
        // A send fails only when the writer stopped (an error it returns below).
        let mut writer_gone = false;
        let read = for_each_document(input, |line_no, document| {
            match document.and_then(Decision::from_json) {
                Ok(d) if bad_lines == 0 || skip_invalid => {
                    let values = RowValues::of(&d);
                    batch.push((line_no, d, values));
                    if batch.len() == BATCH && !writer_gone {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        writer_gone = sender.send(Message::Batch(full)).is_err();
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    bad_lines += 1;
                    if bad.len() < MAX_ERRORS {
                        bad.push((line_no, e.to_string()));
                    }
                }
            }
            Ok(())
        });
        if read.is_ok() && !writer_gone {
            if !batch.is_empty() {
                writer_gone = sender.send(Message::Batch(batch)).is_err();
            }
            if !writer_gone {
                let _ = sender.send(Message::End { bad_lines });
            }
        }
        // Without End the writer rolls back.
        drop(sender);
        let written = writer
            .join()
            .map_err(|_| anyhow!("the decision writer thread panicked"))?;
        read?;
        written
    })?;
    let invalid = bad_lines + written.conflicts.len() as u64;
    let mut errors = bad;
    errors.extend(written.conflicts);
    errors.sort_by_key(|(line, _)| *line);
    errors.truncate(MAX_ERRORS);
    let committed = invalid == 0 || skip_invalid;
    Ok(LogReport {
        stored: if committed { written.stored } else { 0 },
        duplicates: if committed { written.duplicates } else { 0 },
        invalid,
        errors: errors
            .into_iter()
            .map(|(line, e)| format!("line {line}: {e}"))
            .collect(),
    })
}

/// The writer thread: inserts every batch in one transaction and commits at `End` when
/// nothing was refused (or `skip_invalid`); anything else rolls back.
fn write(conn: &mut Connection, batches: Receiver<Message>, skip_invalid: bool) -> Result<Written> {
    // The write lock is taken once there is something to write, not while the input is idle:
    // a trader that opens `polyperf log -` and writes later must not lock the jobs out.
    let mut batches = batches.into_iter().peekable();
    if batches.peek().is_none() {
        return Ok(Written::default()); // no End: the reader failed before any line
    }
    let tx = crate::db::write_tx(conn)?;
    let mut written = Written::default();
    let mut decisions: Vec<Decision> = Vec::with_capacity(BATCH);
    let mut values: Vec<RowValues> = Vec::with_capacity(BATCH);
    let mut lines: Vec<usize> = Vec::with_capacity(BATCH);
    for message in batches {
        match message {
            Message::Batch(batch) => {
                // After a refused conflict nothing will be committed: only read on.
                if !written.conflicts.is_empty() && !skip_invalid {
                    continue;
                }
                decisions.clear();
                values.clear();
                lines.clear();
                for (line, d, v) in batch {
                    lines.push(line);
                    decisions.push(d);
                    values.push(v);
                }
                let done = insert_rows(&tx, &decisions, &values)?;
                written.stored += done.stored;
                written.duplicates += (decisions.len() - done.conflicts.len()) as u64 - done.stored;
                for (i, conflict) in done.conflicts {
                    written.conflicts.push((lines[i], conflict.to_string()));
                }
            }
            Message::End { bad_lines } => {
                if skip_invalid || (bad_lines == 0 && written.conflicts.is_empty()) {
                    tx.commit()?;
                }
                return Ok(written);
            }
        }
    }
    Ok(written) // no End: the reader failed; the transaction rolls back
}
