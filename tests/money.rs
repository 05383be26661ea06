//! Money that sqlite3 reads as numbers (issue 16): an operator's plain SQL on money columns,
//! the exact round trip through Rust, the migration of version-1 databases holding money as
//! text, the ready queries in `sql/queries/`, and `polyperf log` refusing more decimals than a
//! column keeps.

use std::path::{Path, PathBuf};
use std::process::Command;

use polyperf::db::{BtcPrice, Money};
use rusqlite::{params, Connection};
use rust_decimal::Decimal;

use crate::common::{decision_json, money_sum, sql_statements as statements, write_jsonl, TestDb};

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The P&Ls of the report (max 19.954806, which text comparison put below 9.997049)
/// and more around 5, so `> 5` and the order differ between text and numbers.
const PNLS: [&str; 8] = [
    "9.997049",
    "19.954806",
    "-10.35",
    "5.000001",
    "4.999999",
    "-2.5",
    "0.35",
    "12",
];

/// A database with one settled YES per P&L in [`PNLS`] (logged, then settled by binding money
/// as settlement does).
fn settled_db() -> TestDb {
    let db = TestDb::new();
    let lines: Vec<_> = (0..PNLS.len())
        .map(|i| {
            let mut d = decision_json(3 * i + 1);
            d["timestamp"] = format!("2026-02-{:02}T10:30:00Z", 10 + i % 2).into();
            d
        })
        .collect();
    let file = write_jsonl(db.dir.path(), "d.jsonl", &lines);
    crate::common::ok_json(db.cmd("polyperf").args(["--json", "log"]).arg(&file));
    let conn = db.conn();
    for (i, pnl) in PNLS.iter().enumerate() {
        let pnl = d(pnl);
        conn.execute(
            "UPDATE trades SET settlement_status = 'settled', actual_outcome = 'UP', is_win = ?1,
                    profit_loss = ?2, fee = ?3, fee_asset = 'collateral'
             WHERE decision_id = ?4",
            params![
                pnl > Decimal::ZERO,
                Money(pnl),
                Money(d("0.17472")),
                format!("d-{}", 3 * i + 1)
            ],
        )
        .unwrap();
    }
    db
}

#[test]
fn plain_sql_compares_sorts_and_sums_money_as_numbers() {
    let db = settled_db();
    let conn = db.conn();
    let max: f64 = conn
        .query_row("SELECT max(profit_loss) FROM trades", [], |r| r.get(0))
        .unwrap();
    assert_eq!(max, 19.954806);
    let order: Vec<f64> = conn
        .prepare("SELECT profit_loss FROM trades ORDER BY profit_loss DESC")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        order,
        [19.954806, 12.0, 9.997049, 5.000001, 4.999999, 0.35, -2.5, -10.35]
    );
    assert_eq!(
        db.count("SELECT count(*) FROM trades WHERE profit_loss > 5"),
        4
    );
    let sum: f64 = conn
        .query_row("SELECT sum(profit_loss) FROM trades", [], |r| r.get(0))
        .unwrap();
    let exact = PNLS.iter().map(|p| d(p)).sum::<Decimal>();
    assert!((sum - 39.451855).abs() < 1e-6, "sum {sum}");
    assert_eq!(exact, d("39.451855"));
    // Rust reads every value back exactly, and sums them exactly.
    assert_eq!(money_sum(&conn, "SELECT profit_loss FROM trades"), exact);
    let types: Vec<String> = conn
        .prepare("SELECT DISTINCT typeof(profit_loss) || typeof(position_size) || typeof(btc_price) || typeof(executed_price) FROM trades")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(types, ["realrealrealreal"]);

    // The same with the sqlite3 shell an operator uses, when it is installed.
    let Some(out) = sqlite3(
        &db.path,
        "SELECT max(profit_loss) FROM trades;
         SELECT count(*) FROM trades WHERE profit_loss > 5;
         SELECT group_concat(profit_loss, ' ') FROM (SELECT profit_loss FROM trades ORDER BY profit_loss DESC);
         SELECT round(sum(profit_loss), 6) FROM trades;",
    ) else {
        return;
    };
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "19.954806",
            "4",
            "19.954806 12.0 9.997049 5.000001 4.999999 0.35 -2.5 -10.35",
            "39.451855"
        ]
    );
}

/// Runs SQL with the sqlite3 shell; `None` (with the reason printed) when it is not installed.
fn sqlite3(db: &Path, sql: &str) -> Option<String> {
    let out = match Command::new("sqlite3").arg(db).arg(sql).output() {
        Ok(out) => out,
        Err(e) => {
            eprintln!("skipping the sqlite3 shell part: sqlite3 cannot run ({e})");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "sqlite3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn ready_queries_show_numeric_money() {
    let db = settled_db();
    // Archived days count too: one rollup day before the live ones.
    db.conn()
        .execute(
            "INSERT INTO daily_rollup (day, signal_type, action, is_end_phase, n, wins, losses,
                                       missed, profit_loss, fees, staked)
             VALUES ('2026-02-01', 'BULLISH', 'YES', 0, 3, 2, 1, 0, ?1, ?2, ?3)",
            params![Money(d("7.25")), Money(d("0.5")), Money(d("15"))],
        )
        .unwrap();
    let queries = repo().join("sql/queries");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&queries)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    // Through rusqlite, every statement of every file runs and money comes back as numbers.
    let conn = db.conn();
    for path in &files {
        for statement in statements(path) {
            let mut stmt = conn
                .prepare(&statement)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
            let mut rows = stmt.query([]).unwrap();
            while let Some(row) = rows.next().unwrap() {
                for (i, name) in names.iter().enumerate() {
                    if ["pnl", "fees", "profit_loss", "best", "worst"].contains(&name.as_str()) {
                        let kind = row.get_ref(i).unwrap().data_type();
                        assert!(
                            matches!(
                                kind,
                                rusqlite::types::Type::Real
                                    | rusqlite::types::Type::Integer
                                    | rusqlite::types::Type::Null
                            ),
                            "{}: {name} is {kind:?}",
                            path.display()
                        );
                    }
                }
            }
        }
    }
    // Daily P&L: the live days (8 trades over two days) and the archived one.
    let daily = query_rows(&conn, &queries.join("daily_pnl.sql"));
    assert_eq!(daily.len(), 3, "{daily:?}");
    assert_eq!(daily[2][0], "2026-02-01");
    assert_eq!((daily[2][1].as_str(), daily[2][4].as_str()), ("3", "7.25"));
    let live_pnl: f64 = daily[..2]
        .iter()
        .map(|r| r[4].parse::<f64>().unwrap())
        .sum();
    assert!((live_pnl - 39.45).abs() < 0.011, "{daily:?}");
    // The largest results, best first, and those above 5 USDC.
    let largest = query_rows(&conn, &queries.join("largest_results.sql"));
    assert_eq!(largest[0][3], "19.954806", "{largest:?}");
    assert_eq!(largest[1][3], "12.0", "{largest:?}");

    // And with the sqlite3 shell, exactly as README shows.
    for path in &files {
        let Ok(out) = Command::new("sqlite3")
            .arg(&db.path)
            .stdin(std::fs::File::open(path).unwrap())
            .output()
        else {
            eprintln!("skipping the sqlite3 shell part: sqlite3 is not installed");
            return;
        };
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        if path.ends_with("largest_results.sql") {
            let first = text.lines().nth(2).unwrap_or_default();
            assert!(first.contains("19.954806"), "{text}");
        }
    }
}

/// The rows of a query file's first statement, each value as text.
fn query_rows(conn: &Connection, path: &Path) -> Vec<Vec<String>> {
    let statement = statements(path).remove(0);
    let mut stmt = conn.prepare(&statement).unwrap();
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| {
            Ok((0..n)
                .map(|i| match r.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Null => String::new(),
                    rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                    rusqlite::types::ValueRef::Real(v) => format!("{v:?}"),
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into(),
                    rusqlite::types::ValueRef::Blob(_) => "<blob>".into(),
                })
                .collect())
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

#[test]
fn log_refuses_more_places_than_a_column_keeps() {
    let db = TestDb::new();
    // (field, value): money and share prices keep 6 places, BTC prices 8.
    for (field, value) in [
        ("position_size", "5.1234567"),
        ("executed_price", "0.5234567"),
        ("btc_price", "66940.123456789"),
        ("fee_paid", "0.0000001"),
    ] {
        let mut line = decision_json(1);
        line[field] = value.into();
        let file = write_jsonl(db.dir.path(), "d.jsonl", &[decision_json(2), line]);
        let out = db
            .cmd("polyperf")
            .args(["--json", "log"])
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{field}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("line 2")
                && stderr.contains(field)
                && stderr.contains("decimal places"),
            "{stderr}"
        );
        assert_eq!(db.count("SELECT count(*) FROM trades"), 0, "{field}");
    }
    // At the column's places, the values read back exactly.
    let mut line = decision_json(1);
    line["position_size"] = "5.123456".into();
    line["btc_price"] = "66940.12345678".into();
    line["fee_paid"] = "0.000001".into();
    line["liquidity"] = "maker".into();
    let file = write_jsonl(db.dir.path(), "d.jsonl", &[line]);
    crate::common::ok_json(db.cmd("polyperf").args(["--json", "log"]).arg(&file));
    let (size, btc, fee_paid, liquidity): (Money, BtcPrice, Money, String) = db
        .conn()
        .query_row(
            "SELECT position_size, btc_price, fee_paid, liquidity FROM trades",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(
        (size.0, btc.0, fee_paid.0, liquidity.as_str()),
        (d("5.123456"), d("66940.12345678"), d("0.000001"), "maker")
    );
}

/// A database file as a version-1 binary left it (money as text).
fn version_1_database(path: &Path) -> Connection {
    let mut conn = Connection::open(path).unwrap();
    polyperf::db::migrate_to(&mut conn, 1).unwrap();
    conn
}

/// Columns of the tables migration 0002 rebuilds, each with its declared type.
const REBUILT: [&str; 5] = [
    "trades",
    "daily_rollup",
    "markets",
    "prices",
    "settlement_disagreements",
];

#[test]
fn a_version_1_database_with_text_money_is_converted_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let conn = version_1_database(&path);
    conn.execute_batch(
        "INSERT INTO trades (timestamp, market_slug, action, confidence, position_size, btc_price,
                             price_to_beat, yes_price, no_price, executed_price, actual_outcome,
                             profit_loss, is_win, decision_id, market_end, fee_rate,
                             settlement_status, fee, fee_rate_used, fee_exponent_used, payout,
                             end_price, start_price)
         VALUES
           ('2026-02-11 10:30:00', 'btc-updown-15m-1770805800', 'YES', 0.8, '10.00', '66940.0',
            '66826.14', '0.51', '0.50', '0.52', 'UP', '9.997049', 1, 'a', '2026-02-11 10:45:00',
            NULL, 'settled', '0.17472', '0.07', '1', '19.997049', '66900.5', '66826.14'),
           ('2026-02-11 10:31:00', 'btc-updown-15m-1770805800', 'NO', 0.9, '20', '66940.0',
            NULL, NULL, NULL, '0.48', 'UP', '19.954806', 1, 'b', '2026-02-11 10:45:00',
            '0.072', 'settled', '0.35', '0.072', '1', '39.954806', NULL, NULL),
           ('2026-02-11 10:32:00', 'btc-updown-15m-1770805800', 'YES', 0.7, '5.00', '66940.0',
            NULL, NULL, NULL, '0.55', 'DOWN', '-5.00', 0, 'c', '2026-02-11 10:45:00',
            NULL, 'settled', '0.1', '0.07', '1', '0', NULL, NULL),
           ('2026-02-11 10:33:00', 'btc-updown-15m-1770805800', 'HOLD', 0.3, '0', '66940.0',
            NULL, NULL, NULL, NULL, 'UP', NULL, NULL, 'd', '2026-02-11 10:45:00',
            NULL, 'settled', NULL, NULL, NULL, NULL, NULL, NULL),
           ('2026-02-11 10:34:00', 'btc-updown-15m-1770805800', 'YES', 0.8, '7.5', '66940.0',
            NULL, NULL, NULL, '0.6', NULL, NULL, NULL, 'e', '2026-02-11 10:45:00',
            NULL, 'pending', NULL, NULL, NULL, NULL, NULL, NULL),
           ('2026-02-11 10:35:00', 'btc-updown-15m-1770805800', 'YES', 0.8, '1', '66940.0',
            NULL, NULL, NULL, '0.6', NULL, NULL, NULL, 'archived', NULL,
            NULL, 'pending', NULL, NULL, NULL, NULL, NULL, NULL);
         -- The highest id left (archived): its number must never be given out again.
         DELETE FROM trades WHERE decision_id = 'archived';
         INSERT INTO daily_rollup VALUES ('2026-02-01', 'BULLISH', 'YES', 0, 3, 2, 1, 0,
                                          '4.30', '0.52416', '30.00');
         INSERT INTO markets VALUES ('btc-updown-15m-1770805800', '1', NULL, NULL, 1, 'resolved',
                                     'UP', '0.07', '1', 1, '2026-02-11 10:50:00');
         INSERT INTO prices VALUES ('BTCUSDT', 1770805800000, '68522.30', '68525.53',
                                    '68484.35', '68484.35000001', 'binance', '2026-02-11 10:50:00');
         INSERT INTO settlement_disagreements (market_slug, official_outcome, price_outcome,
                                               end_price, start_price, detected_at)
         VALUES ('x', 'UP', 'DOWN', '66900.5', '66900.51', '2026-02-11 10:50:00');",
    )
    .unwrap();
    // The bug this migration fixes: text compares as text.
    let max: String = conn
        .query_row("SELECT max(profit_loss) FROM trades", [], |r| r.get(0))
        .unwrap();
    assert_eq!(max, "9.997049");
    drop(conn);

    // Any binary opening it migrates it in place.
    let conn = polyperf::db::open(&path).unwrap();
    assert_eq!(
        polyperf::db::schema_version(&conn).unwrap(),
        polyperf::db::SCHEMA_VERSION
    );
    let max: f64 = conn
        .query_row("SELECT max(profit_loss) FROM trades", [], |r| r.get(0))
        .unwrap();
    assert_eq!(max, 19.954806);
    let text = |sql: &str| -> String { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        text("SELECT group_concat(decision_id, '') FROM (SELECT decision_id FROM trades WHERE profit_loss > 5 ORDER BY profit_loss DESC)"),
        "ba"
    );
    // Every money and price column is a number now, and reads back as the text it was.
    let types = text(
        "SELECT group_concat(DISTINCT typeof(position_size) || typeof(btc_price) || typeof(executed_price)) FROM trades WHERE action != 'HOLD'",
    );
    assert_eq!(types, "realrealreal");
    let row: (Money, BtcPrice, Money, Money, Money, BtcPrice, i64, String) = conn
        .query_row(
            "SELECT position_size, price_to_beat, profit_loss, fee, payout, end_price,
                    fee_exponent_used, fee_asset
             FROM trades WHERE decision_id = 'a'",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(
        (row.0 .0, row.1 .0, row.2 .0, row.3 .0, row.4 .0, row.5 .0),
        (
            d("10"),
            d("66826.14"),
            d("9.997049"),
            d("0.17472"),
            d("19.997049"),
            d("66900.5")
        )
    );
    // Settled before fee assets were recorded: always in shares. Fills were takers.
    assert_eq!((row.6, row.7.as_str()), (1, "shares"));
    assert_eq!(
        text("SELECT group_concat(decision_id || ':' || coalesce(fee_asset, '-') || ':' || liquidity, ' ') FROM trades"),
        "a:shares:taker b:shares:taker c:shares:taker d:-:taker e:-:taker"
    );
    assert_eq!(
        money_sum(&conn, "SELECT profit_loss FROM trades"),
        d("24.951855")
    );
    let rollup: (Money, Money, Money, String) = conn
        .query_row(
            "SELECT profit_loss, fees, staked, typeof(staked) FROM daily_rollup",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(
        (rollup.0 .0, rollup.1 .0, rollup.2 .0, rollup.3.as_str()),
        (d("4.3"), d("0.52416"), d("30"), "real")
    );
    let market: (Money, i64) = conn
        .query_row("SELECT fee_rate, fee_exponent FROM markets", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((market.0 .0, market.1), (d("0.07"), 1));
    let candle: (BtcPrice, BtcPrice, String) = conn
        .query_row("SELECT open, close, typeof(close) FROM prices", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(
        (candle.0 .0, candle.1 .0, candle.2.as_str()),
        (d("68522.3"), d("68484.35000001"), "real")
    );
    let disagreement: (BtcPrice, BtcPrice) = conn
        .query_row(
            "SELECT end_price, start_price FROM settlement_disagreements",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (disagreement.0 .0, disagreement.1 .0),
        (d("66900.5"), d("66900.51"))
    );

    // Indexes are back, the trade alert still fires, and the archived row's id stays taken.
    for index in [
        "idx_trades_timestamp",
        "idx_trades_signal_type",
        "idx_trades_is_win",
        "idx_trades_pending",
        "idx_trades_settled_at",
    ] {
        assert_eq!(
            text(&format!(
                "SELECT count(*) || '' FROM sqlite_schema WHERE type = 'index' AND name = '{index}'"
            )),
            "1",
            "{index}"
        );
    }
    drop(conn);
    let mut tracker = polyperf::decision::Tracker::open(&path).unwrap();
    let decision: polyperf::Decision = decision_json(7).to_string().parse().unwrap();
    let polyperf::decision::Logged::Stored(id) = tracker.log_decision(&decision).unwrap() else {
        panic!("not stored");
    };
    assert_eq!(id, 7, "ids of archived rows are never reused");
    let conn = tracker.connection();
    let stored: (f64, f64) = conn
        .query_row(
            "SELECT position_size, executed_price FROM trades WHERE id = 7",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(stored, (5.0, 0.52));
    // Settlement's own check reads the migrated rows.
    let report = polyperf::settle::verify(conn, &polyperf::config::Settings::default()).unwrap();
    assert_eq!(report.checked, 4);
}

#[test]
fn the_money_migration_keeps_every_column_index_and_trigger() {
    // Built as the binary before this migration left it, whatever that migration's number.
    let money = polyperf::db::migration_names()
        .position(|name| name.ends_with("money_as_numbers"))
        .expect("the money migration") as i64
        + 1;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("before.db");
    let mut conn = Connection::open(&path).unwrap();
    polyperf::db::migrate_to(&mut conn, money - 1).unwrap();
    let schema = |conn: &Connection| -> Vec<String> {
        let mut names: Vec<String> = conn
            .prepare(
                "SELECT s.type || ' ' || s.name FROM sqlite_schema s
                 WHERE s.type IN ('index', 'trigger') AND s.name NOT LIKE 'sqlite_autoindex%'
                   AND s.tbl_name IN ('trades', 'daily_rollup', 'markets', 'prices', 'settlement_disagreements')
                 UNION ALL
                 SELECT 'column ' || m.name || '.' || c.name FROM sqlite_schema m, pragma_table_info(m.name) c
                 WHERE m.type = 'table'
                   AND m.name IN ('trades', 'daily_rollup', 'markets', 'prices', 'settlement_disagreements')",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        names.sort();
        names
    };
    let before = schema(&conn);
    assert!(before.len() > 60, "{before:?}");
    // This migration alone (a later one drops the trade-alert trigger on purpose).
    polyperf::db::migrate_to(&mut conn, money).unwrap();
    let after = schema(&conn);
    let lost: Vec<&String> = before.iter().filter(|n| !after.contains(n)).collect();
    assert!(lost.is_empty(), "lost in the rebuild: {lost:?}");
    for table in REBUILT {
        assert!(after
            .iter()
            .any(|n| n.starts_with(&format!("column {table}."))));
    }
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let fk: i64 = conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(fk, 0);
}
