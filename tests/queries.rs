//! The operator's SQL against `polyperf report` (issue 26): the `daily_results` view and every
//! ready query in `sql/queries/`, run as README says (the real `sqlite3` when installed, else
//! their statements through rusqlite) on a generated history that polyperf-archive partly
//! archived, give the report's totals; README's one-liners run and agree; migration 0013 on a
//! database with data; `report --days N` is the last N UTC days, as Telegram's `/report N`.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use rusqlite::types::Value;
use rust_decimal::Decimal;
use serde_json::Value as Json;

use crate::common::histories::{generate, Market, Spec};
use crate::common::{ok_json, TestDb};

/// The report's "now": the day after the generated history's last (2026-03-02 .. 03-15).
const NOW: &str = "2026-03-16T12:00:00Z";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s)
        .or_else(|_| Decimal::from_scientific(s))
        .unwrap_or_else(|e| panic!("{s:?} is not a number: {e}"))
}

fn money(v: &Json) -> Decimal {
    dec(v
        .as_str()
        .unwrap_or_else(|| panic!("money as a string: {v}")))
}

/// A figure a query printed in cents against the report's exact one: the same to the cent.
fn same_cents(printed: &str, exact: Decimal, what: &str) {
    let diff = (dec(printed) - exact).abs();
    assert!(
        diff <= Decimal::new(5, 3),
        "{what}: the query printed {printed}, the report says {exact}"
    );
}

/// Two weeks of hourly decisions (about half of them traded, the rest HOLDs) with three signal
/// types, then by hand: two 50-50s (one archived, one live), fees charged in collateral and
/// rows settled before `fee_asset` existed, a pending trade and an unsettleable one.
fn history(db: &TestDb) {
    let mut conn = db.conn();
    let spec = Spec {
        market: Market::Edge,
        days: 14,
        per_day: 24,
        threshold: Decimal::new(70, 2),
        seed: 26,
    };
    generate(&mut conn, &spec);
    conn.execute_batch(
        "UPDATE trades SET signal_type = CASE id % 3 WHEN 0 THEN 'BULLISH'
                                                    WHEN 1 THEN 'STRONG_BEARISH' END;
         UPDATE trades SET fee_asset = 'collateral' WHERE action <> 'HOLD' AND id % 7 = 0;
         UPDATE trades SET fee_asset = NULL WHERE action <> 'HOLD' AND id % 11 = 0;
         INSERT INTO trades (decision_id, timestamp, market_slug, action, confidence, position_size,
                             btc_price, executed_price, signal_type, market_end, settlement_status,
                             settlement_source, settled_at, actual_outcome, is_win, profit_loss,
                             fee, fee_asset, liquidity)
         VALUES ('split-old', '2026-03-04 10:07:00', 'btc-updown-15m-1772618400', 'YES', 0.8, 10,
                 '66000', 0.5, 'BULLISH', '2026-03-04 10:15:00', 'settled', 'gamma',
                 '2026-03-04 10:16:00', NULL, NULL, -0.35, 0.35, 'shares', 'taker'),
                ('split-new', '2026-03-14 09:07:00', 'btc-updown-15m-1773478800', 'NO', 0.9, 5,
                 '66000', 0.5, NULL, '2026-03-14 09:15:00', 'settled', 'gamma',
                 '2026-03-14 09:16:00', NULL, NULL, -0.175, 0.175, 'shares', 'taker'),
                ('waiting', '2026-03-16 11:50:00', 'btc-updown-15m-1773661500', 'YES', 0.8, 10,
                 '66000', 0.5, 'BULLISH', '2026-03-16 12:00:00', 'pending', NULL, NULL, NULL,
                 NULL, NULL, NULL, NULL, 'taker');
         INSERT INTO trades (decision_id, timestamp, market_slug, action, confidence, position_size,
                             btc_price, executed_price, settlement_status, unsettleable_reason)
         VALUES ('broken', '2026-03-05 10:00:00', 'btc-updown-15m-1772704800', 'NO', 0.8, 10,
                 '66000', 0.5, 'unsettleable', 'no price');",
    )
    .unwrap();
}

/// polyperf-archive as a process: rows older than 6 days at NOW (before 2026-03-10 12:00, so one
/// day is split between the archive and live rows).
fn archive(db: &TestDb) -> Json {
    let v = ok_json(
        db.cmd("polyperf-archive")
            .args(["--older-than", "6", "--now", NOW, "--json"]),
    );
    assert!(v["rows_deleted"].as_u64().unwrap() > 100, "{v}");
    assert!(db.count("SELECT count(*) FROM trades WHERE timestamp < '2026-03-10'") <= 1);
    assert!(db.count("SELECT count(*) FROM trades WHERE timestamp < '2026-03-10 12:00:00'") <= 1);
    assert!(
        db.count("SELECT count(*) FROM trades WHERE substr(timestamp, 1, 10) = '2026-03-10'") > 5
    );
    v
}

fn report(db: &TestDb, args: &[&str]) -> Json {
    ok_json(
        db.cmd("polyperf")
            .args(["report", "--json", "--now", NOW])
            .args(args),
    )
}

/// Every row of the view, as text, in key order.
fn view_rows(db: &TestDb) -> Vec<Vec<String>> {
    let conn = db.conn();
    let mut stmt = conn
        .prepare("SELECT * FROM daily_results ORDER BY day, action, signal_type")
        .unwrap();
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| {
            (0..n)
                .map(|i| Ok(format!("{:?}", r.get::<_, Value>(i)?)))
                .collect::<rusqlite::Result<Vec<String>>>()
        })
        .unwrap()
        .collect::<rusqlite::Result<Vec<_>>>()
        .unwrap();
    rows
}

/// One result table a query printed: its column names and its rows, as text.
#[derive(Debug)]
struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn at(&self, row: usize, column: &str) -> &str {
        let i = self
            .columns
            .iter()
            .position(|c| c == column)
            .unwrap_or_else(|| panic!("no column {column} in {:?}", self.columns));
        &self.rows[row][i]
    }
}

/// A `.mode column` rule line: dashes under each column, spaces between.
fn is_rule(line: &str) -> bool {
    line.contains('-') && line.chars().all(|c| c == '-' || c == ' ')
}

/// sqlite3's `.mode column` output, `.headers on`: each table is a header line, a rule, its
/// rows; the rule's dashes give each column's place.
fn parse_columns(text: &str) -> Vec<Table> {
    let lines: Vec<Vec<char>> = text.lines().map(|l| l.chars().collect()).collect();
    let is_rule_at = |i: usize| lines.get(i).is_some_and(|l| is_rule(&String::from_iter(l)));
    let mut tables = Vec::new();
    let mut i = 0;
    while i + 1 < lines.len() {
        if !is_rule_at(i + 1) {
            i += 1;
            continue;
        }
        let rule = &lines[i + 1];
        let starts: Vec<usize> = (0..rule.len())
            .filter(|&k| rule[k] == '-' && (k == 0 || rule[k - 1] == ' '))
            .collect();
        let cells = |line: &[char]| -> Vec<String> {
            (0..starts.len())
                .map(|c| {
                    let from = starts[c].min(line.len());
                    let to = starts
                        .get(c + 1)
                        .map_or(line.len(), |s| (*s).min(line.len()));
                    String::from_iter(&line[from..to]).trim().to_string()
                })
                .collect()
        };
        let columns = cells(&lines[i]);
        let mut rows = Vec::new();
        let mut k = i + 2;
        while k < lines.len() && !is_rule_at(k + 1) {
            rows.push(cells(&lines[k]));
            k += 1;
        }
        tables.push(Table { columns, rows });
        i = k;
    }
    tables
}

/// A value as sqlite3 prints it.
fn text_of(v: Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Integer(i) => i.to_string(),
        Value::Real(f) => f.to_string(),
        Value::Text(s) => s,
        Value::Blob(b) => format!("{b:?}"),
    }
}

/// A query file's result tables: through `sqlite3 DB < FILE` when sqlite3 is installed (as
/// README runs it), else its statements through rusqlite.
fn run_file(db: &Path, file: &Path) -> Vec<Table> {
    let out = std::process::Command::new("sqlite3")
        .arg(db)
        .stdin(std::fs::File::open(file).unwrap())
        .output();
    if let Ok(out) = out {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "{}: {stderr}",
            file.display()
        );
        return parse_columns(&String::from_utf8_lossy(&out.stdout));
    }
    let conn = rusqlite::Connection::open(db).unwrap();
    crate::common::sql_statements(file)
        .iter()
        .map(|sql| query_table(&conn, sql))
        .filter(|t| !t.rows.is_empty())
        .collect()
}

fn query_table(conn: &rusqlite::Connection, sql: &str) -> Table {
    let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
    let n = columns.len();
    let rows = stmt
        .query_map([], |r| {
            (0..n)
                .map(|i| Ok(text_of(r.get::<_, Value>(i)?)))
                .collect::<rusqlite::Result<Vec<String>>>()
        })
        .unwrap()
        .collect::<rusqlite::Result<Vec<_>>>()
        .unwrap();
    Table { columns, rows }
}

/// One SQL statement as `sqlite3 DB "SQL"` prints it (list mode, `|` between columns), or
/// through rusqlite without sqlite3.
fn run_line(db: &Path, sql: &str) -> Vec<Vec<String>> {
    match std::process::Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
    {
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success() && stderr.is_empty(), "{sql}: {stderr}");
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| l.split('|').map(str::to_string).collect())
                .collect()
        }
        Err(_) => {
            let conn = rusqlite::Connection::open(db).unwrap();
            query_table(&conn, sql).rows
        }
    }
}

fn query_file(name: &str) -> PathBuf {
    repo().join("sql/queries").join(name)
}

/// The view counts every settled decision once, whether its row is live or archived: its rows
/// are the same before archival, after polyperf-archive moved a week and a half out, and after
/// a file is restored; and its plain sums are the report's all-time totals each time.
#[test]
fn daily_results_is_the_same_before_and_after_archival_and_restore() {
    let db = TestDb::new();
    history(&db);
    let before = view_rows(&db);
    assert!(before.len() > 14 * 4, "{} rows", before.len());
    let totals = |db: &TestDb| -> (Decimal, i64, i64, i64, i64, Decimal, Decimal) {
        let conn = db.conn();
        conn.query_row(
            "SELECT round(sum(profit_loss), 6), sum(wins), sum(losses), sum(fifty_fifty),
                    sum(CASE WHEN action = 'HOLD' THEN decisions END),
                    round(sum(fees), 6), round(sum(staked), 6)
             FROM daily_results",
            [],
            |r| {
                let m =
                    |i| -> rusqlite::Result<Decimal> { Ok(dec(&r.get::<_, f64>(i)?.to_string())) };
                Ok((
                    m(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    m(5)?,
                    m(6)?,
                ))
            },
        )
        .unwrap()
    };
    let agree = |db: &TestDb, when: &str| {
        let v = report(db, &[]);
        let (profit, wins, losses, splits, holds, fees, staked) = totals(db);
        assert_eq!(profit, money(&v["total_profit"]), "{when}");
        assert_eq!(
            (wins, losses),
            (v["wins"].as_i64().unwrap(), v["losses"].as_i64().unwrap())
        );
        assert_eq!(splits, 2, "{when}");
        assert_eq!(splits, v["fifty_fifty"].as_i64().unwrap(), "{when}");
        assert_eq!(holds, v["holds"].as_i64().unwrap(), "{when}");
        assert_eq!(fees, money(&v["fees"]), "{when}");
        assert_eq!(staked, money(&v["staked"]), "{when}");
    };
    agree(&db, "before archival");
    assert_eq!(
        db.count("SELECT coalesce(sum(archived), 0) FROM daily_results"),
        0
    );

    archive(&db);
    assert_eq!(view_rows(&db).len(), before.len());
    let after = view_rows(&db);
    let unchanged = |rows: &[Vec<String>]| -> Vec<Vec<String>> {
        // The `archived` column says where each count comes from; everything else is the same.
        rows.iter().map(|r| r[..r.len() - 1].to_vec()).collect()
    };
    assert_eq!(unchanged(&after), unchanged(&before));
    assert!(db.count("SELECT sum(archived) FROM daily_results") > 100);
    agree(&db, "after archival");

    let file = std::fs::read_dir(db.dir.path().join("archive"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("trades-2026-W10"))
        .expect("the first week's trades file");
    crate::common::succeeds(db.cmd("polyperf").args(["archive", "restore"]).arg(&file));
    assert_eq!(unchanged(&view_rows(&db)), unchanged(&before));
    agree(&db, "after restoring a week");
}

/// Each ready query in sql/queries/, run as printed in README on a database that
/// polyperf-archive partly archived, says what the report says: all_time.sql its totals,
/// daily_pnl.sql its periods by day, win_rate_by_signal.sql its groups by signal, to the cent.
/// fees_by_asset.sql has no row for the HOLDs and equals the report's split, before and after
/// archival; every query on `trades` says in its first line that it reads live rows.
#[test]
fn ready_queries_agree_with_the_report_over_archived_and_live_days() {
    let db = TestDb::new();
    history(&db);
    let live = report(&db, &[]);
    let fees = run_file(&db.path, &query_file("fees_by_asset.sql"));
    let assets: Vec<&str> = fees[0].rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(assets, ["collateral", "shares"], "{fees:?}");
    for (row, asset) in assets.iter().enumerate() {
        let exact = money(&live["fees_by_asset"][asset]);
        same_cents(fees[0].at(row, "fees"), exact, asset);
    }

    archive(&db);
    let v = report(&db, &["--by", "day"]);
    assert!(v["coverage"]["rollup_decisions"].as_u64().unwrap() > 100);

    let all = &run_file(&db.path, &query_file("all_time.sql"))[0];
    assert_eq!(all.rows.len(), 1);
    for key in ["settled", "wins", "losses", "fifty_fifty", "holds"] {
        assert_eq!(all.at(0, key), v[key].to_string(), "{key}");
    }
    same_cents(all.at(0, "profit"), money(&v["total_profit"]), "profit");
    same_cents(all.at(0, "fees"), money(&v["fees"]), "fees");
    same_cents(all.at(0, "staked"), money(&v["staked"]), "staked");
    assert_eq!(all.at(0, "first_day"), "2026-03-02");

    let daily = &run_file(&db.path, &query_file("daily_pnl.sql"))[0];
    let periods = v["periods"].as_array().unwrap();
    assert_eq!(daily.rows.len(), periods.len());
    assert_eq!(daily.rows.len(), 14);
    for (row, p) in periods.iter().enumerate() {
        assert_eq!(daily.at(row, "day"), p["period"].as_str().unwrap());
        for key in ["trades", "wins"] {
            assert_eq!(daily.at(row, key), p[key].to_string(), "{key} of {p}");
        }
        same_cents(daily.at(row, "pnl"), money(&p["profit"]), "a day's P&L");
        same_cents(daily.at(row, "fees"), money(&p["fees"]), "a day's fees");
    }

    let signals = &run_file(&db.path, &query_file("win_rate_by_signal.sql"))[0];
    let groups = v["by_signal"].as_object().unwrap();
    assert_eq!(signals.rows.len(), groups.len());
    assert_eq!(groups.len(), 3, "{groups:?}");
    for row in 0..signals.rows.len() {
        let g = &groups[signals.at(row, "signal_type")];
        assert_eq!(signals.at(row, "trades"), g["settled"].to_string());
        assert_eq!(signals.at(row, "wins"), g["wins"].to_string());
        same_cents(
            signals.at(row, "pnl"),
            money(&g["total_profit"]),
            "a signal's P&L",
        );
    }

    // No empty row for the HOLDs (they pay no fee); the split is the report's, archived days
    // included.
    let fees = run_file(&db.path, &query_file("fees_by_asset.sql"));
    let assets: Vec<&str> = fees[0].rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(assets, ["collateral", "shares"], "{fees:?}");
    for (row, asset) in assets.iter().enumerate() {
        same_cents(
            fees[0].at(row, "fees"),
            money(&v["fees_by_asset"][asset]),
            asset,
        );
    }
    for entry in std::fs::read_dir(repo().join("sql/queries")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let reads_trades = text.to_lowercase().contains("from trades");
        let first = text.lines().next().unwrap_or("");
        assert_eq!(
            reads_trades,
            first.starts_with("-- Live rows only"),
            "{}: {first}",
            path.display()
        );
        run_file(&db.path, &path);
    }
}

/// The one-liners of README's "Inspecting with sqlite3" (database path swapped for the test's):
/// each runs; the totals from `daily_results` are the report's; grouping fees by asset gives no
/// row without an asset.
#[test]
fn readme_sqlite3_lines_run_and_their_totals_are_the_report() {
    let db = TestDb::new();
    history(&db);
    archive(&db);
    let v = report(&db, &[]);
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = readme
        .split("## Inspecting with sqlite3")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README's sqlite3 section");
    let lines: Vec<String> = section
        .lines()
        .filter_map(|l| l.strip_prefix("sqlite3 data/performance.db \""))
        .map(|l| l[..l.rfind('"').expect("closing quote")].to_string())
        .collect();
    assert!(lines.len() >= 6, "{lines:?}");
    let mut checked = 0;
    for sql in &lines {
        let rows = run_line(&db.path, sql);
        if sql.contains("GROUP BY") {
            assert!(rows.iter().all(|r| !r[0].is_empty()), "{sql}: {rows:?}");
        }
        if sql.starts_with("SELECT round(sum(profit_loss), 2), round(sum(fees), 2), sum(wins), sum(losses) FROM daily_results") {
            let r = &rows[0];
            same_cents(&r[0], money(&v["total_profit"]), sql);
            same_cents(&r[1], money(&v["fees"]), sql);
            assert_eq!((r[2].as_str(), r[3].as_str()), (v["wins"].to_string().as_str(), v["losses"].to_string().as_str()));
            checked += 1;
        }
        if sql.contains("sum(fifty_fifty)") {
            assert_eq!(rows[0][0], v["fifty_fifty"].to_string(), "{sql}");
            checked += 1;
        }
    }
    assert_eq!(checked, 2, "{lines:?}");
    // The exact total, as README promises.
    let exact = run_line(
        &db.path,
        "SELECT round(sum(profit_loss), 6) FROM daily_results",
    );
    assert_eq!(dec(&exact[0][0]), money(&v["total_profit"]));
}

/// Migration 0013 on a database with data at the version before it: live and archived rows are
/// kept as they were, the view appears, and its totals are the report's.
#[test]
fn migration_0013_adds_daily_results_to_a_database_with_data() {
    let db = TestDb::new();
    std::fs::remove_file(&db.path).unwrap();
    let mut conn = rusqlite::Connection::open(&db.path).unwrap();
    let before = polyperf::db::migration_names()
        .position(|n| n == "0013_daily_results")
        .unwrap() as i64;
    polyperf::db::migrate_to(&mut conn, before).unwrap();
    let spec = Spec {
        market: Market::Edge,
        days: 6,
        per_day: 24,
        threshold: Decimal::new(70, 2),
        seed: 13,
    };
    generate(&mut conn, &spec);
    crate::metrics::simulate_archival(&mut conn, "2026-03-05 00:00:00");
    let count = |conn: &rusqlite::Connection, sql: &str| -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    };
    let (n_live, n_rollup) = (
        count(&conn, "SELECT count(*) FROM trades"),
        count(&conn, "SELECT sum(n) FROM daily_rollup"),
    );
    assert!(
        n_live > 50 && n_rollup > 50,
        "{n_live} live, {n_rollup} archived"
    );
    drop(conn);

    let conn = polyperf::db::open(&db.path).unwrap();
    assert_eq!(polyperf::db::schema_version(&conn).unwrap(), before + 1);
    assert_eq!(count(&conn, "SELECT count(*) FROM trades"), n_live);
    assert_eq!(count(&conn, "SELECT sum(n) FROM daily_rollup"), n_rollup);
    assert_eq!(
        count(&conn, "SELECT sum(archived) FROM daily_results"),
        n_rollup
    );
    assert_eq!(
        count(&conn, "SELECT count(DISTINCT day) FROM daily_results"),
        6
    );
    let v = report(&db, &[]);
    let exact = run_line(
        &db.path,
        "SELECT round(sum(profit_loss), 6), sum(wins), sum(losses) FROM daily_results",
    );
    assert_eq!(dec(&exact[0][0]), money(&v["total_profit"]));
    assert_eq!(exact[0][1], v["wins"].to_string());
    assert_eq!(exact[0][2], v["losses"].to_string());
}

/// `report --days 3` is today and the two UTC days before it, as Telegram's `/report 3` counts
/// them (not 72 rolling hours): a loss at 18:00 three days ago is in neither, and both give the
/// same total; the text, the HTML page and --json say "last 3 UTC days".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_days_are_utc_days_as_telegram_report() {
    use crate::fakes::{Fakes, Faults};
    use crate::metrics::{load, t, Row};
    const NOW: &str = "2026-02-11T12:00:00Z";
    const CHAT: i64 = -1002626;
    const ANN: i64 = 111;
    let fakes = Fakes::start(Arc::new(Vec::new()), Faults::default(), "262626:UTC-days").await;
    let db = TestDb::new();
    load(
        &db,
        &[
            // Within 72 hours of NOW, but on the fourth UTC day back.
            Row::trade(t("2026-02-08T18:00:00Z"), false),
            Row::trade(t("2026-02-09T01:00:00Z"), true),
            Row::trade(t("2026-02-11T08:00:00Z"), true),
            Row::trade(t("2026-02-11T09:00:00Z"), false),
        ],
    );
    fakes
        .telegram_state
        .lock()
        .unwrap()
        .push_command(CHAT, ANN, "/report 3");
    let mut telegram = db.cmd("polyperf-telegram");
    for (k, v) in fakes.env(CHAT, ANN) {
        telegram.env(k, v);
    }
    let stats = ok_json(
        telegram
            .env("POLYPERF_TELEGRAM_NOTIFY_TRADE", "off")
            .env("POLYPERF_TELEGRAM_NOTIFY_RESULT", "off")
            .args(["--json", "--now", NOW]),
    );
    assert_eq!(stats["commands"], 1, "{stats}");
    let caption = fakes.telegram_state.lock().unwrap().photos[0]
        .caption
        .clone();

    let v = ok_json(
        db.cmd("polyperf")
            .args(["report", "--json", "--days", "3", "--now", NOW]),
    );
    assert_eq!(v["window"]["label"], "last 3 UTC days");
    assert_eq!(v["window"]["from"], "2026-02-09 00:00:00");
    assert_eq!(money(&v["total_profit"]), dec("3.0"));
    assert_eq!(
        (v["wins"].as_u64(), v["losses"].as_u64()),
        (Some(2), Some(1))
    );
    assert!(
        caption.starts_with("Performance, last 3 UTC days\nTrades: 3 settled (2 W / 1 L)"),
        "{caption}"
    );
    assert!(caption.contains("L: +3.00 USDC"), "{caption}");

    let html = db.dir.path().join("report.html");
    let out = crate::common::succeeds(
        db.cmd("polyperf")
            .args(["report", "--days", "3", "--now", NOW, "--html"])
            .arg(&html),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("polyperf report: last 3 UTC days"),
        "{text}"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("<p>last 3 UTC days &middot;"),
        "no label in the page"
    );
    let today = ok_json(
        db.cmd("polyperf")
            .args(["report", "--json", "--days", "1", "--now", NOW]),
    );
    assert_eq!(today["window"]["label"], "today (UTC)");
    assert_eq!(money(&today["total_profit"]), dec("-1.0"));
}
