//! Decisions whose rows were archived (`archived_decisions`): their id, a fingerprint of their
//! canonical content and the short form a conflict names, so that a decision logged again after
//! archival is a duplicate or a [`Conflict`] exactly as while its row was live, and is never
//! stored (and counted) twice. The archive writes the entries in the transaction that deletes
//! the rows ([`index_rows`]); a restore that puts decisions back removes theirs ([`forget`]).
//!
//! The fingerprint is the decision's canonical one ([`canonical_fingerprint`]).

use anyhow::Result;
use rusqlite::{params, Connection, OptionalExtension};

use super::logged::Logged;
use super::row::DECISION_COLUMNS;
use super::stored::{stored_decision, Columns};
use crate::decision::{canonical_fingerprint, short, Conflict, Decision};

/// Whether this database keeps the index (migration 0010). Every binary migrates the database
/// it opens; this answers for a connection held at an older version (tests of older versions'
/// databases and files run today's code on them).
pub fn kept(conn: &Connection) -> Result<bool> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    Ok(version >= 9)
}

/// An archived decision as the index keeps it.
pub(super) struct Entry {
    /// `None`: its row could not be read as a decision (written by hand); any re-log conflicts.
    fingerprint: Option<i64>,
    summary: String,
}

impl Entry {
    /// The entry of a stored row (in [`DECISION_COLUMNS`]' order).
    fn of<R: Columns + ?Sized>(row: &R) -> Entry {
        match stored_decision(row) {
            Ok(d) => Entry {
                fingerprint: Some(canonical_fingerprint(&d)),
                summary: short(&d),
            },
            Err(why) => Entry {
                fingerprint: None,
                summary: format!("a row polyperf cannot read ({why})"),
            },
        }
    }

    /// A re-log of this archived decision: a duplicate, or the conflict that names both.
    pub(super) fn judge(&self, key: &str, d: &Decision) -> std::result::Result<Logged, Conflict> {
        if self.fingerprint == Some(canonical_fingerprint(d)) {
            return Ok(Logged::Duplicate);
        }
        Err(Conflict {
            decision_id: key.to_string(),
            stored: format!("{} (archived)", self.summary),
            refused: short(d),
            fields: vec!["content"],
        })
    }
}

/// The archived decision stored under `key`, if any.
pub(super) fn lookup(conn: &Connection, key: &str) -> Result<Option<Entry>> {
    if !kept(conn)? {
        return Ok(None);
    }
    Ok(conn
        .prepare_cached(
            "SELECT fingerprint, summary FROM archived_decisions WHERE decision_id = ?1",
        )?
        .query_row([key], |r| {
            Ok(Entry {
                fingerprint: r.get(0)?,
                summary: r.get(1)?,
            })
        })
        .optional()?)
}

/// Whether any decision was archived: the bulk log looks entries up only then.
pub(super) fn any(conn: &Connection) -> Result<bool> {
    if !kept(conn)? {
        return Ok(false);
    }
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM archived_decisions)")?
        .query_row([], |r| r.get(0))?)
}

/// The archived decisions among `keys`, by key.
pub(super) fn lookup_many(
    conn: &Connection,
    keys: &[&str],
) -> Result<std::collections::HashMap<String, Entry>> {
    let mut found = std::collections::HashMap::new();
    // At most 500 keys a statement (SQLite's parameter limit is far above).
    for chunk in keys.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let sql = format!(
            "SELECT decision_id, fingerprint, summary FROM archived_decisions
             WHERE decision_id IN ({marks})"
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(chunk), |r| {
            Ok((
                r.get::<_, String>(0)?,
                Entry {
                    fingerprint: r.get(1)?,
                    summary: r.get(2)?,
                },
            ))
        })?;
        for row in rows {
            let (key, entry) = row?;
            found.insert(key, entry);
        }
    }
    Ok(found)
}

/// Indexes the `trades` rows with ids `first..=last` (archive step 6, just before they are
/// deleted, in the same transaction). A decision already indexed keeps its first entry.
/// Returns how many entries were added.
pub fn index_rows(conn: &Connection, first: i64, last: i64) -> Result<u64> {
    let mut select = conn.prepare_cached(concat!(
        "SELECT id, decision_id, ",
        super::row::decision_columns!(),
        " FROM trades WHERE id BETWEEN ?1 AND ?2"
    ))?;
    let mut insert = conn.prepare_cached(INSERT)?;
    let mut rows = select.query(params![first, last])?;
    let mut added = 0u64;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let decision_id: String = row.get(1)?;
        let entry = Entry::of(&Shifted(row));
        added += insert.execute(params![decision_id, entry.fingerprint, entry.summary, id])? as u64;
    }
    Ok(added)
}

/// Indexes one archived row given as values: `columns` names them (an archive file's header).
/// For files archived before the index existed. A decision that is live again is skipped.
pub fn index_values(
    conn: &Connection,
    columns: &[String],
    values: &[rusqlite::types::Value],
) -> Result<bool> {
    let at = |name: &str| columns.iter().position(|c| c == name);
    let value = |name: &str| at(name).and_then(|i| values.get(i)).cloned();
    let (Some(rusqlite::types::Value::Integer(id)), Some(rusqlite::types::Value::Text(key))) =
        (value("id"), value("decision_id"))
    else {
        return Ok(false);
    };
    let ordered: Vec<rusqlite::types::Value> = DECISION_COLUMNS
        .iter()
        .map(|c| value(c).unwrap_or(rusqlite::types::Value::Null))
        .collect();
    let entry = Entry::of(ordered.as_slice());
    let live: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM trades WHERE decision_id = ?1)")?
        .query_row([&key], |r| r.get(0))?;
    if live {
        return Ok(false);
    }
    let n =
        conn.prepare_cached(INSERT)?
            .execute(params![key, entry.fingerprint, entry.summary, id])?;
    Ok(n == 1)
}

/// Removes the entries of decisions that are live again (a restore put their rows back, or
/// found them live under another id). Returns how many.
pub fn forget(conn: &Connection, decision_ids: &[String]) -> Result<u64> {
    let mut delete =
        conn.prepare_cached("DELETE FROM archived_decisions WHERE decision_id = ?1")?;
    let mut n = 0u64;
    for key in decision_ids {
        n += delete.execute([key])? as u64;
    }
    Ok(n)
}

/// The archived decision (its id then) that the live trade `trade_id` repeats, if any: a
/// restore of rows this database never archived must not bring back a decision it did.
pub fn archived_as(conn: &Connection, trade_id: i64) -> Result<Option<(String, i64)>> {
    Ok(conn
        .prepare_cached(
            "SELECT a.decision_id, a.trade_id FROM trades t
             JOIN archived_decisions a ON a.decision_id = t.decision_id WHERE t.id = ?1",
        )?
        .query_row([trade_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

const INSERT: &str =
    "INSERT OR IGNORE INTO archived_decisions (decision_id, fingerprint, summary, trade_id)
     VALUES (?1, ?2, ?3, ?4)";

/// A query row whose first two columns (id, decision_id) precede [`DECISION_COLUMNS`].
struct Shifted<'a, 'b>(&'a rusqlite::Row<'b>);

impl Columns for Shifted<'_, '_> {
    fn value(&self, i: usize) -> rusqlite::Result<rusqlite::types::ValueRef<'_>> {
        self.0.get_ref(i + 2)
    }
}
