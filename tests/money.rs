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
    let mut tracker = polyperf::Tracker::open(&path).unwrap();
    let decision: polyperf::Decision = decision_json(7).to_string().parse().unwrap();
    let polyperf::trades::Logged::Stored(id) = tracker.log_decision(&decision).unwrap() else {
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

/// Rows an older polyperf settled (before it knew the CLOB V2 fee rules) keep their old money
/// after the migration; `settle-check` lists them and `settle-check --fix` re-settles their
/// money under today's rules in one transaction, once. A row that differs in more than its money
/// is listed and left alone.
#[test]
fn settle_check_fix_resettles_rows_an_older_version_settled() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let conn = version_1_database(&path);
    conn.execute_batch(
        "INSERT INTO trades (timestamp, market_slug, action, confidence, position_size, btc_price,
                             executed_price, actual_outcome, profit_loss, is_win, decision_id,
                             settlement_status, fee, fee_rate_used, fee_exponent_used, payout)
         VALUES
           -- After the cut-over, settled with the fee in shares: a loss of 10 (today -10.35) and
           -- a win of 18.60 (today 19.30).
           ('2026-05-02 10:30:00', 'btc-updown-15m-1777717800', 'YES', 0.8, '10', '94010.5',
            '0.50', 'DOWN', '-10', 0, 'v2-loss', 'settled', '0.35', '0.07', '1', '0'),
           ('2026-05-02 10:31:00', 'btc-updown-15m-1777717800', 'NO', 0.8, '20', '94010.5',
            '0.50', 'DOWN', '18.6', 1, 'v2-win', 'settled', '0.7', '0.07', '1', '38.6'),
           -- Before the cut-over: the same rule then and now, nothing to change.
           ('2026-02-11 10:30:00', 'btc-updown-15m-1770805800', 'YES', 0.8, '10', '66940.0',
            '0.50', 'UP', '9.3', 1, 'v1-win', 'settled', '0.35', '0.07', '1', '19.3'),
           -- An outcome and is_win that disagree: not a money question, listed and kept.
           ('2026-02-11 10:32:00', 'btc-updown-15m-1770805800', 'YES', 0.8, '10', '66940.0',
            '0.50', 'UP', '-10', 0, 'odd', 'settled', '0.35', '0.07', '1', '0');",
    )
    .unwrap();
    drop(conn);
    let db_cmd = |args: &[&str]| {
        let mut cmd = crate::common::bin_cmd("polyperf");
        cmd.arg("--db").arg(&path).args(args);
        cmd.output().unwrap()
    };
    let out = db_cmd(&["settle-check", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report = crate::common::stdout_json(&out);
    let listed = report["mismatches"].to_string();
    for id in ["v2-loss", "v2-win", "odd"] {
        assert!(listed.contains(id), "{id} not listed: {listed}");
    }
    assert!(!listed.contains("v1-win"), "{listed}");

    let out = db_cmd(&["settle-check", "--fix", "--json"]);
    let report = crate::common::stdout_json(&out);
    assert_eq!(out.status.code(), Some(1), "the odd row stays: {report}");
    assert_eq!(report["fixed"], 2, "{report}");
    assert_eq!(report["profit_change"], "0.35", "{report}");
    let listed = report["mismatches"].to_string();
    assert!(
        listed.contains("odd") && !listed.contains("v2-"),
        "{listed}"
    );
    let conn = polyperf::db::open(&path).unwrap();
    let money = |id: &str| -> (Decimal, Decimal, String) {
        conn.query_row(
            "SELECT profit_loss, payout, fee_asset FROM trades WHERE decision_id = ?1",
            [id],
            |r| {
                Ok((
                    Money::get(r, 0)?.unwrap(),
                    Money::get(r, 1)?.unwrap(),
                    r.get(2)?,
                ))
            },
        )
        .unwrap()
    };
    assert_eq!(money("v2-loss"), (d("-10.35"), d("0"), "collateral".into()));
    assert_eq!(money("v2-win"), (d("19.3"), d("40"), "collateral".into()));
    assert_eq!(money("v1-win"), (d("9.3"), d("19.3"), "shares".into()));
    assert_eq!(money("odd").0, d("-10"));
    // Once only.
    let again = crate::common::stdout_json(&db_cmd(&["settle-check", "--fix", "--json"]));
    assert_eq!(again["fixed"], 0, "{again}");
}

/// Issue 23: the bounds that keep every P&L exactly representable are refused at `log` naming
/// the field (and the window, for a timestamp far from it), by the process and the library;
/// rows already stored that break them are set aside with a reason at settlement, and the rest
/// settles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amounts_are_bounded_so_every_result_is_exact() {
    let db = TestDb::new();
    // (change to a valid line, field, message in the error)
    type Change = fn(&mut serde_json::Value);
    let cases: [(Change, &str, &str); 5] = [
        (
            |d| d["executed_price"] = "0.000001".into(),
            "executed_price",
            "0.000001 is outside 0.001 to 0.999",
        ),
        (
            |d| d["executed_price"] = "0.9999".into(),
            "executed_price",
            "0.9999 is outside 0.001 to 0.999",
        ),
        (
            |d| {
                d["position_size"] = "1000000".into();
                d["executed_price"] = "0.001".into();
            },
            "position_size",
            "1000000 at executed_price 0.001 buys more than 100000000 shares",
        ),
        (
            |d| d["fee_paid"] = "5.000001".into(),
            "fee_paid",
            "5.000001 is above the stake (position_size 5.00)",
        ),
        (
            |d| d["timestamp"] = "2099-01-01T00:00:00Z".into(),
            "timestamp",
            "2099-01-01 00:00:00 is far from its market's window 2026-02-11 10:30:00 to 2026-02-11 10:45:00 (from market_slug)",
        ),
    ];
    for (change, field, message) in cases {
        let mut line = decision_json(1);
        change(&mut line);
        let file = write_jsonl(db.dir.path(), "d.jsonl", &[decision_json(2), line.clone()]);
        let out = db
            .cmd("polyperf")
            .args(["--json", "log"])
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{field}: {stderr}");
        assert!(
            stderr.contains(&format!("line 2: field `{field}`: {message}")),
            "{stderr}"
        );
        assert_eq!(db.count("SELECT count(*) FROM trades"), 0, "{field}");
        let decision = polyperf::Decision::from_json(&line.to_string());
        assert_eq!(decision.unwrap_err().field, field);
    }
    // At the bounds, decisions log and settle within what the columns hold.
    let mut edge = decision_json(1);
    edge["position_size"] = "100000".into();
    edge["executed_price"] = "0.001".into();
    edge["fee_paid"] = "0.5".into();
    let file = write_jsonl(db.dir.path(), "d.jsonl", &[edge]);
    crate::common::ok_json(db.cmd("polyperf").args(["--json", "log"]).arg(&file));

    // Rows written before the bounds (or by hand): set aside, each with a reason.
    let conn = db.conn();
    for (id, size, price, fee_paid, timestamp) in [
        (
            "tiny-price",
            "1000000",
            "0.000001",
            None,
            "2026-02-11 10:31:00",
        ),
        ("big-fee", "5", "0.5", Some("6"), "2026-02-11 10:31:00"),
        ("far", "5", "0.5", None, "2099-01-01 00:00:00"),
    ] {
        conn.execute(
            "INSERT INTO trades (decision_id, timestamp, market_slug, action, confidence,
                position_size, btc_price, executed_price, fee_paid, market_start, market_end)
             VALUES (?1, ?2, 'btc-updown-15m-1770805800', 'YES', 0.8, ?3, '66940', ?4, ?5,
                '2026-02-11 10:30:00', '2026-02-11 10:45:00')",
            params![id, timestamp, size, price, fee_paid],
        )
        .unwrap();
    }
    drop(conn);
    let gamma = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::path("/markets"))
        .respond_with(
            wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!([{
                "id": "1", "slug": "btc-updown-15m-1770805800",
                "eventStartTime": "2026-02-11T10:30:00Z", "endDate": "2026-02-11T10:45:00Z",
                "closed": true, "umaResolutionStatus": "resolved",
                "outcomes": "[\"Up\", \"Down\"]", "outcomePrices": "[\"1\", \"0\"]",
                "feesEnabled": true, "feeSchedule": {"exponent": 1, "rate": 0.07, "takerOnly": true}
            }])),
        )
        .mount(&gamma)
        .await;
    let out = db
        .cmd("polyperf-settle")
        .env("GAMMA_API_BASE", gamma.uri())
        .env("BINANCE_API_BASE", "http://127.0.0.1:1")
        .args(["--json", "--now", "2026-02-11T11:00:00Z"])
        .output()
        .unwrap();
    let stats = crate::common::stdout_json(&out);
    assert_eq!(out.status.code(), Some(0), "{stats}");
    assert_eq!(
        (stats["settled"].as_u64(), stats["unsettleable"].as_u64()),
        (Some(1), Some(3)),
        "{stats}"
    );
    let reason = |id: &str| -> String {
        db.conn()
            .query_row(
                "SELECT unsettleable_reason FROM trades WHERE decision_id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert!(reason("tiny-price").starts_with("executed_price 0.000001 is outside 0.001 to 0.999"));
    assert_eq!(
        reason("big-fee"),
        "fee_paid 6 is above the stake (position_size 5)"
    );
    assert_eq!(
        reason("far"),
        "timestamp 2099-01-01 00:00:00 is far from its market's window 2026-02-11 10:30:00 to 2026-02-11 10:45:00"
    );
    // The decision at the bounds: 10^8 shares won, less its logged fee (taken in shares in
    // February 2026: 0.5 / 0.001 = 500 of them) and the stake: 99,899,500, exact in its column.
    let (pl, kind): (Money, String) = db
        .conn()
        .query_row(
            "SELECT profit_loss, typeof(profit_loss) FROM trades WHERE decision_id = 'd-1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((pl.0, kind.as_str()), (d("99899500"), "real"));
}

/// Migration 0010 on a database with data at the version before it: the waiting outbox rows counted per
/// kind (and kept so by its triggers), trades files archived before it marked for indexing,
/// markets without a 50-50.
#[test]
fn migration_0010_converts_a_database_with_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("before.db");
    let mut conn = Connection::open(&path).unwrap();
    let before = polyperf::db::migration_names()
        .position(|n| n == "0010_settlement_never_stops")
        .unwrap() as i64;
    polyperf::db::migrate_to(&mut conn, before).unwrap();
    conn.execute_batch(
        "INSERT INTO outbox (kind, payload, status) VALUES
           ('settlement', '{}', 'pending'), ('settlement', '{}', 'pending'),
           ('approval', '{}', 'pending'), ('text', '{}', 'sent');
         INSERT INTO archives (table_name, iso_week, file_name, rows, sha256, size_bytes,
                               created_at, deleted_at)
         VALUES ('trades', '2026-W01', 'trades-2026-W01.jsonl.gz', 3, 'x', 1, '2026-01-10', '2026-01-10'),
                ('trades', '2026-W02', 'trades-2026-W02.jsonl.gz', 3, 'y', 1, '2026-01-17', NULL),
                ('outbox', '2026-W01', 'outbox-2026-W01.jsonl.gz', 3, 'z', 1, '2026-01-10', '2026-01-10');
         INSERT INTO markets (slug, closed, outcome, fetched_at)
         VALUES ('btc-updown-15m-1770805800', 1, 'UP', '2026-02-11 10:50:00');",
    )
    .unwrap();
    drop(conn);
    let conn = polyperf::db::open(&path).unwrap();
    let pending = |kind: &str| -> i64 {
        conn.query_row(
            "SELECT coalesce(sum(n), 0) FROM outbox_pending WHERE kind = ?1",
            [kind],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(
        (pending("settlement"), pending("approval"), pending("text")),
        (2, 1, 0)
    );
    // The triggers keep the counts: sending one, queuing one, deleting one.
    conn.execute_batch(
        "UPDATE outbox SET status = 'sent' WHERE id = 1;
         INSERT INTO outbox (kind, payload) VALUES ('text', '{}');
         DELETE FROM outbox WHERE kind = 'approval';",
    )
    .unwrap();
    assert_eq!(
        (pending("settlement"), pending("approval"), pending("text")),
        (1, 0, 1)
    );
    let indexed: Vec<(String, i64)> = conn
        .prepare("SELECT file_name, decisions_indexed FROM archives ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(
        indexed,
        [
            ("trades-2026-W01.jsonl.gz".to_string(), 0),
            ("trades-2026-W02.jsonl.gz".to_string(), 1),
            ("outbox-2026-W01.jsonl.gz".to_string(), 1)
        ]
    );
    let split: i64 = conn
        .query_row("SELECT split FROM markets", [], |r| r.get(0))
        .unwrap();
    assert_eq!(split, 0);
    assert_eq!(
        conn.query_row("SELECT count(*) FROM archived_decisions", [], |r| r
            .get::<_, i64>(0))
            .unwrap(),
        0
    );
}
