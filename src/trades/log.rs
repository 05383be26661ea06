//! The decision log: the trader's [`Tracker`], writing decisions into `trades`, one row each,
//! idempotent by `decision_id` (a re-log with the same content is a duplicate, with other
//! content a [`crate::decision::Conflict`]), also once the row was archived. Failures come back
//! typed ([`LogError`]), each with its exit code. The statements are `insert.rs`'s; the bulk
//! path (parser and writer on two threads) is `bulk.rs`'s.

use std::io::BufRead;
use std::path::Path;

use anyhow::Result;
use rusqlite::Connection;

use super::insert::insert;
use super::logged::{LogError, LogReport, Logged};
use crate::decision::Decision;

/// The trader's handle on the log.
pub struct Tracker {
    conn: Connection,
}

impl Tracker {
    /// Opens (and migrates) the existing database at `path`; a missing one is refused (bad
    /// input naming the path): `polyperf init` creates it.
    pub fn open(path: &Path) -> Result<Tracker> {
        Ok(Tracker {
            conn: crate::db::open(path)?,
        })
    }

    pub fn from_connection(conn: Connection) -> Tracker {
        Tracker { conn }
    }

    /// Stores one decision in its own transaction. Logging the same decision twice stores it
    /// once; its id with other content is [`LogError::Conflict`] (exit 2), nothing stored.
    pub fn log_decision(&mut self, decision: &Decision) -> std::result::Result<Logged, LogError> {
        decision.validate().map_err(|error| LogError::Invalid {
            decision: None,
            error,
        })?;
        let tx = crate::db::write_tx(&mut self.conn)?;
        let logged = insert(&tx, decision)?;
        tx.commit()?;
        Ok(logged)
    }

    /// Stores many decisions in one transaction: all of them, or (an invalid decision, a
    /// conflict) none.
    pub fn log_batch(
        &mut self,
        decisions: &[Decision],
    ) -> std::result::Result<LogReport, LogError> {
        for (i, d) in decisions.iter().enumerate() {
            d.validate().map_err(|error| LogError::Invalid {
                decision: Some(i + 1),
                error,
            })?;
        }
        let mut report = LogReport::default();
        let tx = crate::db::write_tx(&mut self.conn)?;
        for d in decisions {
            match insert(&tx, d)? {
                Logged::Stored(_) => report.stored += 1,
                Logged::Duplicate => report.duplicates += 1,
            }
        }
        tx.commit()?;
        Ok(report)
    }

    /// Reads one JSON object (possibly pretty-printed), a JSON array, or JSON Lines from
    /// `input` and stores them in one transaction. Any bad line (invalid, not UTF-8, or a
    /// conflict with a stored decision) stores nothing unless `skip_invalid`; the report names
    /// each bad line and field (the first 100, in line order). Parsing overlaps the inserts
    /// (`bulk`: a writer thread holds the transaction).
    pub fn log_reader(
        &mut self,
        input: impl BufRead,
        skip_invalid: bool,
    ) -> std::result::Result<LogReport, LogError> {
        Ok(super::bulk::log_reader(
            &mut self.conn,
            input,
            skip_invalid,
        )?)
    }

    pub fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;
    use crate::trades::insert_many;

    #[test]
    fn the_same_decision_again_is_a_duplicate_other_content_a_conflict() {
        let dir = tempfile::tempdir().unwrap();
        let mut tracker =
            Tracker::from_connection(crate::db::create(&dir.path().join("t.db")).unwrap());
        let first = Decision::from_json(crate::decision::tests::GOOD).unwrap();
        assert!(matches!(
            tracker.log_decision(&first).unwrap(),
            Logged::Stored(_)
        ));
        // The same content written differently: 5.0 for "5.00", a number for a string.
        let mut v: serde_json::Value = serde_json::from_str(crate::decision::tests::GOOD).unwrap();
        v["position_size"] = serde_json::json!(5.0);
        v["executed_price"] = serde_json::json!(0.520);
        let same = Decision::from_json(&v.to_string()).unwrap();
        assert_eq!(tracker.log_decision(&same).unwrap(), Logged::Duplicate);
        // Other content under the same id: refused, typed, exit 2, both versions named.
        v["action"] = "YES".into();
        v["position_size"] = "500".into();
        let other = Decision::from_json(&v.to_string()).unwrap();
        let err = tracker.log_decision(&other).unwrap_err();
        let LogError::Conflict(conflict) = &err else {
            panic!("a typed conflict, not {err}");
        };
        assert_eq!(conflict.fields, ["action", "position_size"]);
        assert_eq!(
            err.to_string(),
            "decision_id 9b2f already stored with NO 5.00 @ 0.52; this line has YES 500.00 @ 0.52 (differs in action, position_size)"
        );
        assert_eq!(err.exit_code(), crate::error::EXIT_USAGE);
        // Through `?` into anyhow (as the binaries do), the exit code stays.
        let any: anyhow::Error = err.into();
        assert_eq!(crate::error::exit_code_for(&any), crate::error::EXIT_USAGE);
        let stored: String = tracker
            .connection()
            .query_row(
                "SELECT action || ' ' || position_size FROM trades",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stored, "NO 5.0", "the stored decision is unchanged");
    }

    #[test]
    fn multi_row_inserts_store_each_decision_once() {
        use chrono::{TimeZone, Utc};
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::create(&dir.path().join("t.db")).unwrap();
        let start = Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap();
        let all: Vec<Decision> = crate::sim::decisions(&crate::sim::candles(start, 600, 1), 10, 3)
            .into_iter()
            .take(200)
            .collect();
        let tx = crate::db::write_tx(&mut conn).unwrap();
        assert_eq!(insert_many(&tx, &all[..100]).unwrap().stored, 100);
        // Again, plus a duplicate inside one batch: only the 100 new ones are stored.
        let mut again = all.clone();
        again.insert(150, all[149].clone());
        let again = insert_many(&tx, &again).unwrap();
        assert_eq!((again.stored, again.conflicts.len()), (100, 0));
        // The same id twice in one chunk with other content: the second is a conflict.
        let mut twice = all[..3].to_vec();
        twice[1].decision_id = Some("new-1".into());
        twice[2].decision_id = Some("new-1".into());
        twice[2].position_size += Decimal::ONE;
        let done = insert_many(&tx, &twice).unwrap();
        assert_eq!(done.stored, 1);
        assert_eq!(done.conflicts.len(), 1);
        assert_eq!(done.conflicts[0].0, 2);
        tx.commit().unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM trades", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 201);
        let stored: crate::db::Money = conn
            .query_row("SELECT position_size FROM trades WHERE id = 7", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(stored.0, all[6].position_size);
    }
}
