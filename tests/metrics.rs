//! Metrics and `polyperf report` on fixture databases whose expected figures are worked out by
//! hand here.

use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use polyperf::metrics::{self, Window};
use rusqlite::{params, Connection};
use rust_decimal::Decimal;

use crate::common::{ok_json, succeeds, TestDb};

pub(crate) fn t(s: &str) -> DateTime<Utc> {
    polyperf::time::parse_rfc3339(s).unwrap()
}

pub(crate) fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// One decision row, written as the settle job leaves it.
#[derive(Clone)]
pub(crate) struct Row {
    pub(crate) at: DateTime<Utc>,
    pub(crate) action: &'static str,
    pub(crate) status: &'static str,
    pub(crate) win: Option<bool>,
    pub(crate) pl: Option<&'static str>,
    pub(crate) fee: &'static str,
    pub(crate) size: &'static str,
    pub(crate) confidence: f64,
    pub(crate) signal: Option<&'static str>,
    pub(crate) end_phase: bool,
    pub(crate) final_score: f64,
    pub(crate) missed: Option<bool>,
}

impl Row {
    pub(crate) fn trade(at: DateTime<Utc>, win: bool) -> Row {
        Row {
            at,
            action: "YES",
            status: "settled",
            win: Some(win),
            pl: Some(if win { "4.0" } else { "-5.0" }),
            fee: "0.10",
            size: "5.00",
            confidence: 0.8,
            signal: Some("BULLISH"),
            end_phase: false,
            final_score: 0.3,
            missed: None,
        }
    }
}

fn insert(conn: &Connection, id: usize, r: &Row) {
    let settled = r.status == "settled";
    conn.execute(
        "INSERT INTO trades (decision_id, timestamp, market_slug, action, confidence, position_size,
            btc_price, signal_type, is_end_phase, final_score, yes_price, no_price, executed_price,
            settlement_status, is_win, profit_loss, fee, is_missed_opportunity, actual_outcome,
            unsettleable_reason)
         VALUES (?1, ?2, ?17, ?3, ?4, ?5, '66940.0', ?6, ?7, ?8, '0.40',
            '0.25', ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        params![
            format!("fx-{id}"),
            polyperf::time::to_db(r.at),
            r.action,
            r.confidence,
            r.size,
            r.signal,
            r.end_phase,
            r.final_score,
            (r.action != "HOLD").then_some("0.52"),
            r.status,
            if settled { r.win } else { None },
            if settled { r.pl } else { None },
            if settled && r.action != "HOLD" { Some(r.fee) } else { None },
            if settled { r.missed } else { None },
            settled.then_some("UP"),
            (r.status == "unsettleable").then_some("no window"),
            // The market whose window the decision was taken in.
            format!("btc-updown-15m-{}", r.at.timestamp() - r.at.timestamp().rem_euclid(900)),
        ],
    )
    .unwrap();
}

pub(crate) fn load(db: &TestDb, rows: &[Row]) {
    let conn = db.conn();
    for (i, r) in rows.iter().enumerate() {
        insert(&conn, i, r);
    }
}

/// The seed's fixture: 10 trades an hour apart, the first 8 settled, trade i wins when
/// i % 3 != 0 (+4.0), else loses (−5.0).
fn seed_fixture(start: DateTime<Utc>) -> Vec<Row> {
    (0..10)
        .map(|i| {
            let mut r = Row::trade(start + Duration::hours(i), i % 3 != 0);
            if i >= 8 {
                r.status = "pending";
            }
            r
        })
        .collect()
}

#[test]
fn seed_fixture_figures_by_hand() {
    let db = TestDb::new();
    let start = t("2026-02-10T00:00:00Z");
    load(&db, &seed_fixture(start));
    let m = metrics::compute(&db.conn(), &Window::All, t("2026-02-11T00:00:00Z")).unwrap();
    // Settled i = 0..7: losses at 0, 3, 6; wins at 1, 2, 4, 5, 7.
    assert_eq!((m.trades, m.settled, m.pending), (10, 8, 2));
    assert_eq!((m.wins, m.losses), (5, 3));
    assert_eq!(m.win_rate, Some(0.625));
    let [low, high] = m.win_rate_ci.unwrap();
    assert!(
        (low - 0.3057).abs() < 1e-3 && (high - 0.8632).abs() < 1e-3,
        "{low} {high}"
    );
    assert_eq!(m.total_profit, d("5.0")); // 5 × 4 − 3 × 5
    assert_eq!(m.fees, d("0.80"));
    assert_eq!(m.staked, d("40"));
    assert!((m.roi.unwrap() - 0.125).abs() < 1e-12);
    assert_eq!(m.avg_profit, Some(d("0.625")));
    assert!((m.profit_factor.unwrap() - 20.0 / 15.0).abs() < 1e-12);
    // Curve: −5, −1, 3, −2, 2, 6, 1, 5: every fall is 5.
    assert_eq!(m.max_drawdown, Some(d("5")));
    assert_eq!(
        (m.longest_losing_streak, m.current_losing_streak),
        (Some(1), Some(0))
    );
    // Every trade at confidence 0.8: Brier = (5 × 0.04 + 3 × 0.64) / 8.
    assert!((m.brier.unwrap() - (5.0 * 0.04 + 3.0 * 0.64) / 8.0).abs() < 1e-12);
    let calibration = m.calibration.as_ref().unwrap();
    let bucket = calibration.iter().find(|b| b.low == 0.8).unwrap();
    assert_eq!((bucket.trades, bucket.wins), (8, 5));
    assert_eq!(m.by_signal["BULLISH"].settled, 8);
    assert_eq!(m.by_action["YES"].total_profit, d("5.0"));
    assert_eq!(m.by_end_phase["not_end_phase"].wins, 5);
    assert_eq!(m.by_hour["00"].losses, 1);
    assert_eq!(m.coverage.rollup_decisions, 0);
}

#[test]
fn window_includes_a_trade_at_exactly_n_days() {
    let db = TestDb::new();
    let now = t("2026-02-11T12:00:00Z");
    let seven_days = now - Duration::days(7);
    load(
        &db,
        &[
            Row::trade(seven_days - Duration::seconds(1), false), // just outside
            Row::trade(seven_days, true),                         // exactly 7 days: inside
            Row::trade(now, true),                                // exactly now: inside
            Row::trade(now + Duration::seconds(1), false),        // after now: outside
        ],
    );
    let m = metrics::compute(&db.conn(), &Window::Days(7), now).unwrap();
    assert_eq!((m.settled, m.wins, m.losses), (2, 2, 0));
    assert_eq!(m.total_profit, d("8.0"));
    let m = metrics::compute(&db.conn(), &Window::Since(seven_days), now).unwrap();
    assert_eq!(m.settled, 2);
    let m = metrics::compute(&db.conn(), &Window::All, now).unwrap();
    assert_eq!(m.settled, 4);
}

#[test]
fn holds_and_unsettleable_rows_stay_out_of_the_win_rate() {
    let db = TestDb::new();
    let at = t("2026-02-11T10:00:00Z");
    let hold = |missed: bool, score: f64| Row {
        action: "HOLD",
        win: None,
        pl: None,
        size: "0",
        final_score: score,
        missed: Some(missed),
        ..Row::trade(at, false)
    };
    let mut unsettleable = Row::trade(at, false);
    unsettleable.status = "unsettleable";
    load(
        &db,
        &[
            Row::trade(at, true),
            Row::trade(at, false),
            hold(true, 0.3),  // YES favoured at 0.40: (1 − 0.4) / 0.4 = 1.5
            hold(true, -0.2), // NO favoured at 0.25: 3
            hold(false, 0.1),
            unsettleable,
        ],
    );
    let m = metrics::compute(&db.conn(), &Window::All, at).unwrap();
    assert_eq!(
        (m.trades, m.settled, m.wins, m.losses, m.holds),
        (2, 2, 1, 1, 3)
    );
    assert_eq!(m.win_rate, Some(0.5));
    assert_eq!(m.total_profit, d("-1.0"));
    assert_eq!(m.missed_opportunities.count, 2);
    assert_eq!(m.missed_opportunities.profit_per_dollar, d("4.5"));
    assert_eq!(m.by_action["HOLD"].settled, 0);
    assert_eq!(m.by_action["HOLD"].missed, 2);
    assert_eq!(m.by_action["HOLD"].win_rate, None);
}

/// A month of mixed decisions across signals, actions and end phases.
fn month(start: DateTime<Utc>) -> Vec<Row> {
    let signals = [Some("BULLISH"), Some("BEARISH"), None];
    let pls = ["4.0", "3.1", "0.77"];
    (0..300)
        .map(|i| {
            let at = start + Duration::minutes(i as i64 * 137);
            let mut r = Row::trade(at, i % 5 < 3);
            r.signal = signals[i % 3];
            r.end_phase = i % 4 == 0;
            r.confidence = 0.5 + (i % 50) as f64 / 100.0;
            if r.win == Some(true) {
                r.pl = Some(pls[i % 3]);
            }
            match i % 7 {
                0 => {
                    r.action = "HOLD";
                    r.win = None;
                    r.pl = None;
                    r.size = "0";
                    r.missed = Some(i % 2 == 0);
                }
                1 => r.action = "NO",
                2 => r.status = "unsettleable",
                _ => {}
            }
            r
        })
        .collect()
}

/// Archives the settled and unsettleable rows before `cutoff` the way the archive job does:
/// their sums go into daily_rollup (same semantics), then the rows leave `trades`.
pub(crate) fn simulate_archival(conn: &mut Connection, cutoff: &str) {
    let tx = conn.transaction().unwrap();
    tx.execute(
        "INSERT INTO daily_rollup (day, signal_type, action, is_end_phase, n, wins, losses, missed,
                                   profit_loss, fees, staked)
         SELECT date(timestamp), coalesce(signal_type, ''), action, coalesce(is_end_phase, 0),
                count(*),
                coalesce(sum(action != 'HOLD' AND is_win = 1), 0),
                coalesce(sum(action != 'HOLD' AND is_win = 0), 0),
                coalesce(sum(action = 'HOLD' AND is_missed_opportunity = 1), 0),
                coalesce(round(sum(CASE WHEN action != 'HOLD' THEN profit_loss END), 6), 0),
                coalesce(round(sum(CASE WHEN action != 'HOLD' THEN fee END), 6), 0),
                coalesce(round(sum(CASE WHEN action != 'HOLD' THEN position_size END), 6), 0)
           FROM trades
          WHERE settlement_status = 'settled' AND timestamp < ?1
          GROUP BY 1, 2, 3, 4",
        [cutoff],
    )
    .unwrap();
    tx.execute(
        "DELETE FROM trades WHERE settlement_status IN ('settled', 'unsettleable') AND timestamp < ?1",
        [cutoff],
    )
    .unwrap();
    tx.commit().unwrap();
}

#[test]
fn rollup_plus_live_equals_the_figures_before_archival() {
    let db = TestDb::new();
    let start = t("2026-01-01T00:00:00Z");
    load(&db, &month(start));
    let now = t("2026-01-30T00:00:00Z");
    let mut conn = db.conn();
    let before = metrics::compute(&conn, &Window::All, now).unwrap();
    // The window from Jan 10 00:00 starts on a day boundary, so day granularity is exact.
    let week_window = Window::Since(t("2026-01-10T00:00:00Z"));
    let before_window = metrics::compute(&conn, &week_window, now).unwrap();
    assert!(
        before.settled > 100 && before.holds > 10,
        "fixture too small"
    );

    simulate_archival(&mut conn, "2026-01-15 00:00:00");
    let archived: i64 = conn
        .query_row("SELECT coalesce(sum(n), 0) FROM daily_rollup", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(archived > 50, "nothing archived");
    let after = metrics::compute(&conn, &Window::All, now).unwrap();
    let after_window = metrics::compute(&conn, &week_window, now).unwrap();

    for (b, a) in [(&before, &after), (&before_window, &after_window)] {
        assert_eq!(
            (a.trades, a.settled, a.pending, a.wins, a.losses, a.holds),
            (b.trades, b.settled, b.pending, b.wins, b.losses, b.holds)
        );
        assert_eq!(a.win_rate, b.win_rate);
        assert_eq!(a.win_rate_ci, b.win_rate_ci);
        assert_eq!(
            (a.total_profit, a.fees, a.staked, a.avg_profit),
            (b.total_profit, b.fees, b.staked, b.avg_profit)
        );
        assert_eq!(a.roi, b.roi);
        assert_eq!(a.missed_opportunities.count, b.missed_opportunities.count);
        // A rollup without details (as archived before migration 0012): the groups holding
        // archived positions have no break-even, rather than one from other trades than their
        // win rate; everything else is the same.
        for (after, before) in [
            (&a.by_signal, &b.by_signal),
            (&a.by_action, &b.by_action),
            (&a.by_end_phase, &b.by_end_phase),
        ] {
            let without_break_even = |m: &std::collections::BTreeMap<String, metrics::Group>| {
                m.iter()
                    .map(|(k, g)| {
                        let mut g = g.clone();
                        g.break_even = None;
                        (k.clone(), g)
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(without_break_even(after), without_break_even(before));
            for (name, g) in after.iter() {
                if g.settled > 0 && a.coverage.rollup_decisions > 0 {
                    assert_eq!(g.break_even, None, "{name}");
                }
            }
        }
        assert_eq!(
            a.coverage.live_decisions + a.coverage.rollup_decisions,
            b.coverage.live_decisions
        );
    }
    assert_eq!(after.coverage.rollup_decisions as i64, archived);
    assert_eq!(
        after.coverage.rollup_days.as_ref().unwrap()[0],
        "2026-01-01"
    );
    assert!(after.coverage.live_only.contains(&"max_drawdown"));
}

#[test]
fn summary_text_is_short_plain_text() {
    let db = TestDb::new();
    let now = t("2026-02-11T00:00:00Z");
    let text = polyperf::report::summary_text(&db.conn(), Some(7), now).unwrap();
    assert!(text.contains("no settled trades in this window"), "{text}");
    load(&db, &seed_fixture(t("2026-02-10T00:00:00Z")));
    let text = polyperf::report::summary_text(&db.conn(), Some(7), now).unwrap();
    assert!(text.contains("62.5%") && text.contains("+5.00"), "{text}");
    assert!(
        text.chars().count() <= 1500 && !text.contains('<'),
        "{text}"
    );
}

#[test]
fn report_binary_json_html_and_chart() {
    let db = TestDb::new();
    // Empty database: a clear message, exit 0.
    let out = succeeds(db.cmd("polyperf").args([
        "report",
        "--days",
        "7",
        "--now",
        "2026-02-11T00:00:00Z",
    ]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no settled trades in this window"));

    load(&db, &seed_fixture(t("2026-02-10T00:00:00Z")));
    db.conn()
        .execute(
            "INSERT INTO reflections (timestamp, trigger_type, insights)
             VALUES ('2026-02-10 12:00:00', 'end_of_day', '{\"summary\":\"Bullish <signals> work\"}')",
            [],
        )
        .unwrap();
    let html = db.dir.path().join("report.html");
    let chart = db.dir.path().join("chart.svg");
    let v = ok_json(
        db.cmd("polyperf")
            .args([
                "report",
                "--json",
                "--now",
                "2026-02-11T00:00:00Z",
                "--html",
            ])
            .arg(&html)
            .arg("--chart")
            .arg(&chart),
    );
    for field in [
        "trades",
        "settled",
        "wins",
        "losses",
        "win_rate",
        "win_rate_ci",
        "total_profit",
        "fees",
        "profit_factor",
        "max_drawdown",
        "brier",
        "by_signal",
        "calibration",
        "missed_opportunities",
        "by_action",
        "by_end_phase",
        "by_hour",
        "avg_profit",
        "roi",
        "longest_losing_streak",
        "current_losing_streak",
    ] {
        assert!(v.get(field).is_some(), "missing {field} in {v}");
    }
    assert_eq!(v["win_rate"], 0.625);
    assert_eq!(d(v["total_profit"].as_str().unwrap()), d("5.0"));
    assert_eq!(v["wins"], 5);
    assert_eq!(v["win_rate_ci"].as_array().unwrap().len(), 2);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg") && page.contains("id=\"chart-equity\""));
    assert!(
        page.contains("Bullish &lt;signals&gt; work"),
        "insights escaped and shown"
    );
    assert!(
        !page.contains("http://") || !page.contains("src=\"http"),
        "no network"
    );
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("<polyline"));

    // Bad input: exit 2.
    let out = db
        .cmd("polyperf")
        .args(["report", "--days", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
