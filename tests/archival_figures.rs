//! Every figure survives archival (issue 26): a simulated history over both fee eras, with
//! 50-50s and HOLDs, settled by polyperf-settle, then archived by polyperf-archive in two runs
//! that cut one day in two, and one file restored: `polyperf report --json` is the same JSON
//! (coverage notes aside) after each step, all time and for a window whose edges fall on whole
//! days; the equity curve runs on where archived days meet live rows.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use polyperf::metrics::{self, Window};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::common::{ok_json, succeeds, TestDb};

const NOW: &str = "2026-05-12T12:00:00Z";

/// Before the CLOB V2 cut-over (2026-04-28 11:00 UTC) and after it.
const DAYS: i64 = 30;

fn now() -> DateTime<Utc> {
    polyperf::time::parse_rfc3339(NOW).unwrap()
}

/// Settlement from the cached candles only: no Gamma, nothing on the network.
fn config(dir: &Path) -> PathBuf {
    let path = dir.join("polyperf.toml");
    std::fs::write(
        &path,
        "[settlement]\ngamma_enabled = false\nsource = \"price\"\n\
         [apis]\nbinance_api_base = \"http://127.0.0.1:9\"\nhttp_max_attempts = 1\n",
    )
    .unwrap();
    path
}

fn cmd(db: &TestDb, bin: &str) -> assert_cmd::Command {
    let mut cmd = db.cmd(bin);
    cmd.env("POLYPERF_CONFIG", config(db.dir.path()));
    cmd
}

/// A month of the simulated trader's decisions, settled; some positions resolved 50-50 (as
/// Gamma reports them: no result, half a dollar a share).
fn history() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("performance.db");
    polyperf::demo::simulate(&path, now(), DAYS, 11).unwrap();
    let db = TestDb { dir, path };
    succeeds(cmd(&db, "polyperf-settle").args(["--now", NOW]));
    let n = db
        .conn()
        .execute(
            "UPDATE trades SET actual_outcome = NULL, is_win = NULL, settlement_source = 'gamma',
                    profit_loss = round(position_size / executed_price * 0.5 - position_size, 6)
              WHERE action != 'HOLD' AND settlement_status = 'settled' AND id % 41 = 0",
            [],
        )
        .unwrap();
    assert!(n > 5, "too few 50-50s: {n}");
    db
}

/// `polyperf report --json` with `args`, without its coverage notes.
fn report(db: &TestDb, args: &[&str]) -> Value {
    let mut v = ok_json(
        cmd(db, "polyperf")
            .args(["report", "--json", "--now", NOW])
            .args(args),
    );
    v.as_object_mut().unwrap().remove("coverage");
    v
}

/// The figures a user reads, all time and from a whole day on.
fn figures(db: &TestDb) -> [Value; 2] {
    [
        report(db, &[]),
        report(db, &["--since", "2026-04-25T00:00:00Z"]),
    ]
}

fn archive(db: &TestDb, older_than_days: &str) {
    succeeds(cmd(db, "polyperf-archive").args(["--now", NOW, "--older-than", older_than_days]));
}

fn differences(before: &Value, after: &Value) -> Vec<String> {
    let (Some(b), Some(a)) = (before.as_object(), after.as_object()) else {
        return vec![format!("{before} != {after}")];
    };
    b.iter()
        .filter(|(k, v)| a.get(*k) != Some(*v))
        .map(|(k, v)| {
            format!(
                "{k}: before {v}, after {}",
                a.get(k).unwrap_or(&Value::Null)
            )
        })
        .collect()
}

fn assert_same(before: &[Value; 2], after: &[Value; 2], step: &str) {
    for (b, a) in before.iter().zip(after) {
        let diff = differences(b, a);
        assert!(diff.is_empty(), "{step}: {diff:#?}");
    }
}

#[test]
fn every_figure_is_the_same_after_archival_a_split_day_and_a_restore() {
    let db = history();
    let before = figures(&db);
    let all = &before[0];
    // The history is what the test claims: both fee eras, 50-50s, HOLDs, wins and losses.
    let fees = &all["fees_by_asset"];
    for asset in ["shares", "collateral"] {
        assert!(
            fees[asset].as_str().unwrap().parse::<Decimal>().unwrap() > Decimal::ZERO,
            "{fees}"
        );
    }
    assert!(all["fifty_fifty"].as_u64().unwrap() > 5, "{all}");
    assert!(all["holds"].as_u64().unwrap() > 100, "{all}");
    assert!(all["wins"].as_u64().unwrap() > 100 && all["losses"].as_u64().unwrap() > 100);
    for key in [
        "max_drawdown",
        "brier",
        "profit_factor",
        "longest_losing_streak",
    ] {
        assert!(!all[key].is_null(), "{key}");
    }

    // 20 days back cuts 2026-04-22 at noon: its morning leaves now, its afternoon later.
    archive(&db, "20");
    let split_day = "2026-04-22";
    let parts = |db: &TestDb| {
        db.count(&format!(
            "SELECT count(*) FROM rollup_paths WHERE day = '{split_day}'"
        ))
    };
    assert_eq!(parts(&db), 1);
    assert!(db.count("SELECT count(*) FROM trades WHERE timestamp < '2026-04-22 12:00:00' AND settlement_status = 'settled'") == 0);
    assert_same(&before, &figures(&db), "after the first archival");

    // The rest of the split day (and ten more days) in a second run: two parts of one day.
    archive(&db, "10");
    assert_eq!(parts(&db), 2);
    assert_same(&before, &figures(&db), "after the second archival");

    // The first run's file of the split day's week goes back: exactly its part leaves.
    let first_file = db.dir.path().join("archive/trades-2026-W17.jsonl.gz");
    assert!(first_file.exists());
    let restored = ok_json(
        cmd(&db, "polyperf")
            .args(["archive", "restore", "--json"])
            .arg(&first_file),
    );
    assert!(restored["inserted"].as_u64().unwrap() > 100, "{restored}");
    assert_eq!(parts(&db), 1);
    assert_same(&before, &figures(&db), "after restoring one file");

    // Archived once more: still the same.
    archive(&db, "10");
    assert_same(
        &before,
        &figures(&db),
        "after archiving the restored rows again",
    );
    let v = ok_json(cmd(&db, "polyperf").args(["report", "--json", "--now", NOW]));
    assert_eq!(v["coverage"]["per_row_complete"], true, "{v}");
    assert!(v["coverage"]["rollup_decisions"].as_u64().unwrap() > 1000);
    // And the report says so to a person: the whole window, the archived part named.
    let out = cmd(&db, "polyperf")
        .args(["report", "--now", NOW])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let note = text.lines().find(|l| l.trim_start().starts_with("note"));
    let note = note.unwrap_or_else(|| panic!("no note in:\n{text}"));
    assert!(
        note.contains("every figure covers the whole window")
            && note.contains("archived decisions"),
        "{note}"
    );
}

/// The deepest fall of a curve drawn from its points, as the chart's drawdown panel draws it.
fn deepest(points: &[metrics::EquityPoint]) -> Decimal {
    let (mut peak, mut deepest) = (Decimal::ZERO, Decimal::ZERO);
    for p in points {
        peak = peak.max(p.cumulative);
        deepest = deepest.max(peak - p.cumulative);
    }
    deepest
}

#[test]
fn the_equity_curve_runs_on_where_archived_days_meet_live_rows() {
    let db = history();
    let conn = db.conn();
    let before = metrics::compute(&conn, &Window::All, now()).unwrap();
    // The 7-day window after archival counts its first day (archived in part) whole: before
    // archival, that is the window from the day's start.
    let day_start = polyperf::time::parse_rfc3339("2026-05-05T00:00:00Z").unwrap();
    let week_before = metrics::compute(&conn, &Window::Since(day_start), now()).unwrap();
    drop(conn);
    // Seven and a half days back: the 7-day window starts inside an archived day, whose
    // morning is archived and afternoon live.
    archive(&db, "20");
    archive(&db, "7");
    let conn = db.conn();
    let live_from = polyperf::time::epoch_secs("2026-05-05 12:00:00").unwrap();
    assert!(db.count("SELECT count(*) FROM rollup_paths WHERE day = '2026-05-05'") == 1);
    for (window, before) in [(Window::All, &before), (Window::Days(7), &week_before)] {
        let after = metrics::compute(&conn, &window, now()).unwrap();
        let curve = &after.equity;
        assert!(
            curve.windows(2).all(|w| w[0].at <= w[1].at),
            "{window:?}: out of order"
        );
        assert_eq!(curve.last().unwrap().cumulative, after.total_profit);
        // Where the live rows begin the curve is where it was before archival: every live
        // position's point is the very point it was (no step, no jump).
        let live_after: Vec<_> = curve.iter().filter(|p| p.at >= live_from).collect();
        let live_before: Vec<_> = before.equity.iter().filter(|p| p.at >= live_from).collect();
        assert!(live_after.len() > 100, "{window:?}");
        assert_eq!(live_after, live_before, "{window:?}");
        // The drawdown panel drawn from the points agrees with the figure, which is the same.
        assert_eq!(Some(deepest(curve)), after.max_drawdown, "{window:?}");
        assert_eq!(after.max_drawdown, before.max_drawdown, "{window:?}");
        assert_eq!(after.by_signal, before.by_signal, "{window:?}");
    }
}

/// A database archived by a version before the rollup kept details (schema 11): migration 0012
/// keeps its rollup as it was (details unknown: `detailed` 0), the figures that need rows say
/// so instead of passing the live rows off as the whole, a group holding such positions has no
/// break-even (no green bar on a win rate from other trades), and archiving the rest on top
/// keeps both kinds apart.
#[test]
fn a_rollup_from_before_the_details_migrates_and_says_what_it_covers() {
    let db = history();
    let mut conn = db.conn();
    let all_before = metrics::compute(&conn, &Window::All, now()).unwrap();
    // Back to schema 11's rollup: its rows as the version-11 archive job left them (and no
    // view over it: 0013 comes later).
    conn.execute_batch(
        "DROP VIEW daily_results; DROP TABLE rollup_groups; DROP TABLE rollup_paths; DROP TABLE rollup_files;
         CREATE TABLE daily_rollup_11 AS SELECT day, signal_type, action, is_end_phase, n, wins,
                losses, missed, profit_loss, fees, staked FROM daily_rollup;
         DROP TABLE daily_rollup;
         CREATE TABLE daily_rollup (
             day TEXT NOT NULL, signal_type TEXT NOT NULL DEFAULT '', action TEXT NOT NULL,
             is_end_phase INTEGER NOT NULL DEFAULT 0, n INTEGER NOT NULL DEFAULT 0,
             wins INTEGER NOT NULL DEFAULT 0, losses INTEGER NOT NULL DEFAULT 0,
             missed INTEGER NOT NULL DEFAULT 0, profit_loss REAL NOT NULL DEFAULT 0,
             fees REAL NOT NULL DEFAULT 0, staked REAL NOT NULL DEFAULT 0,
             PRIMARY KEY (day, signal_type, action, is_end_phase)) WITHOUT ROWID;
         DROP TABLE daily_rollup_11;
         PRAGMA user_version = 11;",
    )
    .unwrap();
    let mut settings = db.settings();
    settings.archive.dir = db.dir.path().join("archive");
    let cutoff = polyperf::time::parse_rfc3339("2026-04-22T12:00:00Z").unwrap();
    polyperf::archive::archive_older_than(&mut conn, &settings, cutoff, now(), false).unwrap();
    let legacy: i64 = db.count("SELECT sum(n) FROM daily_rollup");
    assert!(legacy > 500);
    drop(conn);

    // The current binary migrates it (any command does) and reads it.
    let v = ok_json(cmd(&db, "polyperf").args(["report", "--json", "--now", NOW]));
    assert_eq!(
        db.count("PRAGMA user_version"),
        polyperf::db::SCHEMA_VERSION
    );
    assert_eq!(db.count("SELECT sum(detailed) FROM daily_rollup"), 0);
    assert_eq!(db.count("SELECT sum(n) FROM daily_rollup"), legacy);
    assert_eq!(v["coverage"]["per_row_complete"], false, "{v}");
    let live_only = v["coverage"]["live_only"].as_array().unwrap();
    for key in ["max_drawdown", "brier", "calibration", "profit_factor"] {
        assert!(v[key].is_null(), "{key}: {}", v[key]);
        assert!(live_only.contains(&Value::from(key)), "{key}");
    }
    assert_eq!(
        v["total_profit"]
            .as_str()
            .unwrap()
            .parse::<Decimal>()
            .unwrap(),
        all_before.total_profit
    );
    // Every signal group holds archived positions: no break-even, so no bar coloured
    // against one from other trades than its win rate.
    for (name, group) in v["by_signal"].as_object().unwrap() {
        assert!(group["break_even"].is_null(), "{name}: {group}");
    }

    // The rest archived by this version: details for it, the old days still unknown.
    archive(&db, "10");
    let v = ok_json(cmd(&db, "polyperf").args(["report", "--json", "--now", NOW]));
    assert!(db.count("SELECT sum(detailed) FROM daily_rollup") > 500);
    assert_eq!(v["coverage"]["per_row_complete"], false);
    assert_eq!(
        v["total_profit"]
            .as_str()
            .unwrap()
            .parse::<Decimal>()
            .unwrap(),
        all_before.total_profit
    );
}
