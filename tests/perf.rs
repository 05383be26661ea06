//! Issue 20: the lean `trades` table. Migration 0008 converts a database with data in place
//! (nothing lost, idempotence kept), and every hot query on `trades` still finds its rows
//! through an index (the documented list below, checked with EXPLAIN QUERY PLAN).

use polyperf::decision::Decision;
use rusqlite::Connection;

use crate::common::{decision_json, fixtures, ok_json, write_jsonl, TestDb};

/// The indexes of `trades`, name and SQL, sorted.
fn trade_indexes(conn: &Connection) -> Vec<(String, Option<String>)> {
    let mut stmt = conn
        .prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'trades' ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// Every column of every row, as text, in id order.
fn all_rows(conn: &Connection) -> Vec<String> {
    let mut stmt = conn.prepare("SELECT * FROM trades ORDER BY id").unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        (0..n)
            .map(|i| Ok(format!("{:?}", r.get_ref(i)?)))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map(|v| v.join("|"))
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

/// `polyperf log` of `lines` (written to `name`): (stored, duplicates).
fn log(db: &TestDb, name: &str, lines: &[serde_json::Value]) -> (u64, u64) {
    let file = write_jsonl(db.dir.path(), name, lines);
    let report = ok_json(db.cmd("polyperf").args(["--json", "log"]).arg(&file));
    let count = |key: &str| report[key].as_u64().unwrap_or(u64::MAX);
    (count("stored"), count("duplicates"))
}

#[test]
fn lean_trades_migration_converts_a_database_with_data_in_place() {
    let db = TestDb::new();
    std::fs::remove_file(&db.path).unwrap();
    let mut conn = Connection::open(&db.path).unwrap();
    let before = polyperf::db::migration_names()
        .position(|n| n == "0008_lean_trades")
        .unwrap() as i64;
    polyperf::db::migrate_to(&mut conn, before).unwrap();
    // 300 decisions logged and half of them settled at the previous version. Today's decision
    // log also writes the bankroll column (migration 0012): it is there only while they are
    // written, then dropped again, leaving the previous version's table.
    let lines: Vec<_> = (0..300).map(decision_json).collect();
    let tx = conn.transaction().unwrap();
    tx.execute_batch("ALTER TABLE trades ADD COLUMN bankroll REAL")
        .unwrap();
    for line in &lines {
        let d = Decision::from_json(&line.to_string()).unwrap();
        polyperf::trades::insert(&tx, &d).unwrap();
    }
    tx.execute_batch("ALTER TABLE trades DROP COLUMN bankroll")
        .unwrap();
    tx.execute(
        "UPDATE trades SET timestamp = '2026-02-10 10:30:00' WHERE id <= 150",
        [],
    )
    .unwrap();
    fixtures::settle_in_sql(&tx, "2026-02-11 00:00:00").unwrap();
    tx.commit().unwrap();
    let names = |idx: &[(String, Option<String>)]| -> Vec<String> {
        idx.iter().map(|(n, _)| n.clone()).collect()
    };
    assert!(names(&trade_indexes(&conn)).contains(&"idx_trades_decision_content".to_string()));
    let rows = all_rows(&conn);
    drop(conn);

    let conn = polyperf::db::open(&db.path).unwrap();
    // Every row and value kept; migration 0012, applied too, adds the bankroll (none logged).
    let rows: Vec<String> = rows.iter().map(|r| format!("{r}|Null")).collect();
    assert_eq!(all_rows(&conn), rows, "every row and value kept");
    let indexes = trade_indexes(&conn);
    assert_eq!(
        names(&indexes),
        [
            "idx_trades_is_win",
            "idx_trades_pending",
            "idx_trades_settled_at",
            "idx_trades_signal_type",
            "idx_trades_timestamp",
            "sqlite_autoindex_trades_1",
        ]
    );
    let is_win = indexes[0].1.as_deref().unwrap();
    assert!(is_win.ends_with("WHERE is_win IS NOT NULL"), "{is_win}");
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    drop(conn);

    // Idempotence is kept across the conversion: the same file again stores nothing, a
    // changed line is refused as a conflict naming it, and new decisions go in.
    assert_eq!(log(&db, "same.jsonl", &lines), (0, 300));
    let mut changed = lines.clone();
    changed[200]["confidence"] = serde_json::json!(0.55);
    let file = write_jsonl(db.dir.path(), "changed.jsonl", &changed);
    let refused = db.cmd("polyperf").arg("log").arg(&file).assert().code(2);
    let err = String::from_utf8_lossy(&refused.get_output().stderr).to_string();
    assert!(
        err.contains("line 201: decision_id d-200 already stored"),
        "{err}"
    );
    let more: Vec<_> = (300..700).map(decision_json).collect();
    assert_eq!(log(&db, "more.jsonl", &[lines, more].concat()), (400, 300));
    assert_eq!(db.count("SELECT count(*) FROM trades"), 700);
}

/// The hot queries on `trades` (the statements `polyperf::trades` runs, so a change there is
/// checked here) and the index each must SEARCH (or the whole plan line, where an ordered scan
/// of a partial index is the plan). A query added to a job's hot path belongs here.
fn hot_queries() -> Vec<(&'static str, String, &'static str)> {
    use polyperf::trades::sql;
    vec![
        ("settle queue", sql::DUE.into(), "idx_trades_pending"),
        (
            "windows to look up",
            sql::WITHOUT_WINDOW.into(),
            "idx_trades_pending",
        ),
        ("lag alert", sql::LAGGING.into(), "idx_trades_pending"),
        (
            "health's lag",
            sql::OLDEST_DUE_END.into(),
            "idx_trades_pending",
        ),
        (
            "re-log and conflicts",
            sql::RELOGGED.into(),
            "sqlite_autoindex_trades_1",
        ),
        ("trade feed", sql::ALERTS.into(), "INTEGER PRIMARY KEY"),
        ("result feed", sql::RESULTS.into(), "idx_trades_settled_at"),
        (
            "recent results (reflection triggers)",
            sql::RECENT_POSITIONS.into(),
            // Newest first through the partial index of settled rows, stopping at the limit.
            "SCAN t USING INDEX idx_trades_settled_at",
        ),
        (
            "settled since",
            sql::PRICE_SETTLED_SINCE.into(),
            "idx_trades_settled_at",
        ),
        (
            "guard window",
            sql::RECENT_WINS.into(),
            "idx_trades_timestamp",
        ),
        (
            "metrics period",
            sql::IN_WINDOW.into(),
            "idx_trades_timestamp",
        ),
        (
            "archive selection",
            format!("SELECT id FROM trades WHERE {}", polyperf::trades::FINISHED),
            "idx_trades_timestamp",
        ),
        (
            "operator: wins (SPEC §4 index)",
            "SELECT count(*) FROM trades WHERE is_win = 1".into(),
            "idx_trades_is_win",
        ),
        (
            "operator: by signal (SPEC §4 index)",
            "SELECT count(*) FROM trades WHERE signal_type = ?1".into(),
            "idx_trades_signal_type",
        ),
    ]
}

#[test]
fn every_hot_query_on_trades_uses_an_index() {
    let db = TestDb::new();
    let conn = db.conn();
    for (what, sql, index) in hot_queries() {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        // Parameters left unbound (NULL): the plan does not depend on their values.
        let mut rows = stmt.raw_query();
        let mut plan: Vec<String> = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            plan.push(row.get(3).unwrap());
        }
        let on_trades: Vec<&String> = plan
            .iter()
            .filter(|l| l.contains("trades") && !l.contains("reflection_trades"))
            .collect();
        assert!(
            !on_trades.is_empty()
                && on_trades
                    .iter()
                    .all(|l| *l == index || (l.starts_with("SEARCH") && l.contains(index))),
            "{what}: expected a SEARCH using {index}, got {plan:?}"
        );
    }
}

/// The bulk log parses on one thread and writes on another (decision/reader.rs): bad lines
/// found by either (invalid values while parsing, conflicts while writing) are named in line
/// order with `--skip-invalid`, which stores the rest; without it a bad line stores nothing.
#[test]
fn bad_lines_from_both_threads_are_named_in_order_and_nothing_or_the_rest_is_stored() {
    let db = TestDb::new();
    let lines: Vec<_> = (0..600).map(decision_json).collect();
    assert_eq!(log(&db, "later.jsonl", &lines[400..]), (200, 0));
    let mut again = lines.clone();
    again[10]["confidence"] = serde_json::json!(1.7);
    again[500]["confidence"] = serde_json::json!(0.55);
    let file = write_jsonl(db.dir.path(), "again.jsonl", &again);
    // Without --skip-invalid the first bad line stops the storing (nothing after it is tried).
    let refused = db.cmd("polyperf").arg("log").arg(&file).assert().code(2);
    let err = String::from_utf8_lossy(&refused.get_output().stderr).to_string();
    assert!(err.contains("line 11: field `confidence`"), "{err}");
    assert_eq!(db.count("SELECT count(*) FROM trades"), 200);
    let out = db
        .cmd("polyperf")
        .args(["--json", "log", "--skip-invalid"])
        .arg(&file)
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let (invalid, conflict) = (err.find("line 11: "), err.find("line 501: "));
    assert!(
        invalid.is_some() && conflict.is_some() && invalid < conflict,
        "{err}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        (
            report["stored"].as_u64(),
            report["duplicates"].as_u64(),
            report["invalid"].as_u64()
        ),
        (Some(399), Some(199), Some(2))
    );
    assert_eq!(db.count("SELECT count(*) FROM trades"), 599);
}
