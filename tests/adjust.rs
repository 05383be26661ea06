//! polyperf-adjust: tiers, validation, cooldown, supersede, expiry, replay evidence, rollback
//! watch, the tier-3 guard, approvals through `decide`, and the job as a process.

use chrono::{DateTime, Duration, Utc};
use polyperf::adjust;
use polyperf::config::Settings;
use polyperf::kinds::Method;
use polyperf::proposals::Status;
use polyperf::proposals::Verdict;
use rusqlite::{params, Connection};

use crate::common::fixtures::{insert_settled, Settled};
use crate::common::{stdout_json, succeeds, TestDb};

fn t(s: &str) -> DateTime<Utc> {
    polyperf::time::parse_rfc3339(s).unwrap()
}

const NOW: &str = "2026-03-01T12:00:00Z";

/// The test database's settings at autonomy `tier1` (tier 1 applies, tier 2 asks): what most of
/// these tests exercise. A fresh install observes (`a_fresh_install_observes_but_still_pauses`).
fn tier1(db: &TestDb) -> Settings {
    let mut s = db.settings();
    s.adjust.autonomy = polyperf::config::Autonomy::Tier1;
    s
}

fn db_time(t: DateTime<Utc>) -> String {
    polyperf::time::to_db(t)
}

/// Inserts a settled YES trade (or a loss) at `at` with P&L `pnl` and confidence `conf`.
fn trade(conn: &Connection, id: &str, at: DateTime<Utc>, conf: f64, win: bool, pnl: &str) {
    let settled = Settled {
        decision_id: id,
        at,
        action: if win { "YES" } else { "NO" },
        confidence: conf,
        final_score: 0.3,
        outcome: "UP",
        profit_loss: Some(pnl),
        is_win: Some(win),
    };
    insert_settled(conn, &settled).unwrap();
}

/// `n` losses of 1 USDC, one an hour, the last an hour before `now`: the guard's
/// consecutive-losses rule fires at 5.
fn losses(conn: &Connection, n: i64, now: DateTime<Utc>) {
    for i in 0..n {
        trade(
            conn,
            &format!("l{i}"),
            now - Duration::hours(n - i),
            0.8,
            false,
            "-1",
        );
    }
}

/// Inserts a settled HOLD.
fn hold(
    conn: &Connection,
    id: &str,
    at: DateTime<Utc>,
    conf: f64,
    score: f64,
    price: &str,
    outcome: &str,
) {
    conn.execute(
        "INSERT INTO trades (decision_id, timestamp, market_slug, action, confidence, position_size, btc_price,
                             yes_price, no_price, final_score, settlement_status, actual_outcome)
         VALUES (?1, ?2, 'btc-updown-15m-1770805800', 'HOLD', ?3, '0', '66000', ?4, ?4, ?5, 'settled', ?6)",
        params![id, db_time(at), conf, price, score, outcome],
    )
    .unwrap();
}

fn propose(conn: &Connection, name: &str, current: &str, proposed: &str) -> i64 {
    conn.execute(
        "INSERT INTO proposals (created_at, parameter_name, current_value, proposed_value, reason, expected_impact, suggested_tier)
         VALUES (datetime('now'), ?1, ?2, ?3, 'test reason', 'better', 1)",
        params![name, current, proposed],
    )
    .unwrap();
    conn.last_insert_rowid()
}

fn status_of(conn: &Connection, id: i64) -> (String, Option<String>, Option<i64>) {
    conn.query_row(
        "SELECT status, status_reason, tier FROM proposals WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .unwrap()
}

fn value(conn: &Connection, name: &str) -> String {
    conn.query_row(
        "SELECT value FROM parameters WHERE name = ?1",
        [name],
        |r| r.get(0),
    )
    .unwrap()
}

fn run(db: &TestDb, settings: &Settings, now: &str) -> adjust::Stats {
    let mut conn = db.conn();
    adjust::run_sync(&mut conn, settings, t(now), false).unwrap()
}

const CONF: &str = "bot_confidence_threshold";

/// Every applied change has exactly one history row and one notification naming it.
fn assert_one_row_and_note_per_change(db: &TestDb) {
    let conn = db.conn();
    let mut stmt = conn.prepare("SELECT id FROM parameter_history").unwrap();
    let ids: Vec<i64> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    for id in ids {
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM outbox WHERE kind IN ('applied', 'rollback') AND json_extract(payload, '$.history_id') = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "history #{id} has {n} notifications");
    }
    let applied = db.count("SELECT count(*) FROM proposals WHERE status = 'applied'");
    let with_rows = db.count(
        "SELECT count(*) FROM proposals p WHERE status = 'applied' AND (SELECT count(*) FROM parameter_history h WHERE h.proposal_id = p.id) = 1",
    );
    assert_eq!(applied, with_rows);
}

#[test]
fn tier_one_is_applied_once_with_history_and_notification() {
    let db = TestDb::new();
    let s = tier1(&db);
    let id = propose(&db.conn(), CONF, "0.75", "0.77");
    let stats = run(&db, &s, NOW);
    assert_eq!(stats.applied, 1, "{stats:?}");
    let conn = db.conn();
    assert_eq!(value(&conn, CONF), "0.77");
    let (status, _, tier) = status_of(&conn, id);
    assert_eq!((status.as_str(), tier), ("applied", Some(1)));
    let (method, pid, old, new): (String, i64, String, String) = conn
        .query_row(
            "SELECT approval_method, proposal_id, old_value, new_value FROM parameter_history",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(
        (method.as_str(), pid, old.as_str(), new.as_str()),
        ("auto", id, "0.75", "0.77")
    );
    assert_one_row_and_note_per_change(&db);
    // A rerun does nothing.
    let again = run(&db, &s, NOW);
    assert_eq!(again, adjust::Stats::default());
    assert_eq!(db.count("SELECT count(*) FROM parameter_history"), 1);
    assert_eq!(
        db.count("SELECT count(*) FROM outbox WHERE kind = 'applied'"),
        1
    );
}

#[test]
fn bad_proposals_are_rejected_with_reasons() {
    let db = TestDb::new();
    let s = tier1(&db);
    let conn = db.conn();
    let cases = [
        ("no_such_param", "1", "2", "unknown parameter"),
        (CONF, "0.75", "NaN", "not a decimal"),
        (CONF, "0.75", "inf", "not a decimal"),
        (CONF, "0.75", "-0.8", "negative"),
        (CONF, "0.75", "0.99", "outside its bounds"),
        (CONF, "0.75", "0.40", "outside its bounds"),
        (CONF, "0.75", "0.91", "exceeds the tier-2 limit"),
        (CONF, "0.75", "0.75", "equals the current value"),
        (CONF, "zero", "0.76", "current value"),
        ("bot_max_position_dollars", "10", "1e999", "not a decimal"),
    ];
    let ids: Vec<i64> = cases
        .iter()
        .map(|(n, c, p, _)| propose(&conn, n, c, p))
        .collect();
    let stats = run(&db, &s, NOW);
    assert_eq!(stats.rejected, cases.len() as u64, "{stats:?}");
    for (id, (_, _, proposed, why)) in ids.iter().zip(cases) {
        let (status, reason, _) = status_of(&conn, *id);
        assert_eq!(status, "rejected", "{proposed}");
        assert!(
            reason.as_deref().unwrap_or("").contains(why),
            "{proposed}: {reason:?}"
        );
    }
    assert_eq!(value(&conn, CONF), "0.75");
    assert_eq!(db.count("SELECT count(*) FROM parameter_history"), 0);
}

#[test]
fn cooldown_sends_a_small_change_to_approval() {
    for (hours_ago, expected) in [
        (2, "awaiting_approval"),
        (23, "awaiting_approval"),
        (24, "applied"),
        (30, "applied"),
    ] {
        let db = TestDb::new();
        let s = tier1(&db);
        let conn = db.conn();
        conn.execute(
            "INSERT INTO parameter_history (timestamp, parameter_name, old_value, new_value, reason, approval_method)
             VALUES (?1, ?2, '0.74', '0.75', 'earlier', 'auto')",
            params![db_time(t(NOW) - Duration::hours(hours_ago)), CONF],
        )
        .unwrap();
        let id = propose(&conn, CONF, "0.75", "0.76");
        run(&db, &s, NOW);
        let (status, reason, _) = status_of(&conn, id);
        assert_eq!(status, expected, "{hours_ago} h: {reason:?}");
        if expected == "awaiting_approval" {
            assert!(reason.unwrap().contains("cooldown"));
        }
    }
}

#[test]
fn tier_two_asks_approval_and_decide_is_idempotent() {
    let db = TestDb::new();
    let s = tier1(&db);
    let mut conn = db.conn();
    let id = propose(&conn, CONF, "0.75", "0.851"); // 13.3% after rounding to 0.85
    let stats = run(&db, &s, NOW);
    assert_eq!(stats.awaiting_approval, 1);
    let payload: String = conn
        .query_row(
            "SELECT payload FROM outbox WHERE kind = 'approval' AND dedup_key = ?1",
            [format!("approval:{id}")],
            |r| r.get(0),
        )
        .unwrap();
    let payload: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(payload["proposal_id"], id);
    assert_eq!(payload["proposed"], "0.85");
    assert_eq!(payload["current"], "0.75");
    assert_eq!(payload["tier"], 2);
    assert_eq!(payload["expires_at"], "2026-03-01 18:00:00");
    // The replay travels as figures, not as the proposal's raw evidence JSON.
    assert!(payload.get("evidence").is_none(), "{payload}");
    assert_eq!(payload["replay"]["days"], 14);
    assert!(payload["replay"]["judgeable"].is_boolean());
    let nonce = payload["nonce"].as_str().unwrap().to_string();
    assert!(nonce.len() >= 8 && nonce.len() <= 12);

    let now = t("2026-03-01T13:00:00Z");
    let wrong = polyperf::proposals::apply_verdict(
        &mut conn,
        &s,
        &polyperf::proposals::Request {
            proposal_id: id,
            nonce: Some("deadbeef"),
            verdict: Verdict::Approve,
            by: "alice",
            method: Method::Telegram,
        },
        now,
    )
    .unwrap();
    assert!(!wrong.changed, "{wrong:?}");
    assert_eq!(value(&conn, CONF), "0.75");
    let unknown = polyperf::proposals::apply_verdict(
        &mut conn,
        &s,
        &polyperf::proposals::Request {
            proposal_id: 999,
            nonce: None,
            verdict: Verdict::Approve,
            by: "alice",
            method: Method::Telegram,
        },
        now,
    )
    .unwrap();
    assert!(!unknown.changed && unknown.message.contains("no proposal #999"));

    let ok = polyperf::proposals::apply_verdict(
        &mut conn,
        &s,
        &polyperf::proposals::Request {
            proposal_id: id,
            nonce: Some(&nonce),
            verdict: Verdict::Approve,
            by: "alice",
            method: Method::Telegram,
        },
        now,
    )
    .unwrap();
    assert!(ok.changed && ok.status == Some(Status::Applied), "{ok:?}");
    assert_eq!(value(&conn, CONF), "0.85");
    let again = polyperf::proposals::apply_verdict(
        &mut conn,
        &s,
        &polyperf::proposals::Request {
            proposal_id: id,
            nonce: Some(&nonce),
            verdict: Verdict::Approve,
            by: "alice",
            method: Method::Telegram,
        },
        now,
    )
    .unwrap();
    assert!(
        !again.changed && again.message.contains("already applied"),
        "{again:?}"
    );
    let reject_after = polyperf::proposals::apply_verdict(
        &mut conn,
        &s,
        &polyperf::proposals::Request {
            proposal_id: id,
            nonce: None,
            verdict: Verdict::Reject,
            by: "bob",
            method: Method::Telegram,
        },
        now,
    )
    .unwrap();
    assert!(!reject_after.changed);
    let (method, by): (String, String) = conn
        .query_row("SELECT h.approval_method, p.decided_by FROM parameter_history h JOIN proposals p ON p.history_id = h.id", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!((method.as_str(), by.as_str()), ("telegram", "alice"));
    assert_eq!(db.count("SELECT count(*) FROM parameter_history"), 1);
    assert_one_row_and_note_per_change(&db);
}

#[test]
fn superseded_when_the_live_value_moved() {
    let db = TestDb::new();
    let s = tier1(&db);
    let mut conn = db.conn();
    let stale = propose(&conn, CONF, "0.70", "0.72");
    let waiting = propose(&conn, CONF, "0.75", "0.85");
    let stats = run(&db, &s, NOW);
    assert_eq!(
        (stats.superseded, stats.awaiting_approval),
        (1, 1),
        "{stats:?}"
    );
    assert_eq!(status_of(&conn, stale).0, "superseded");
    // The value changes by hand while the request waits: approving it now applies nothing.
    {
        let tx = polyperf::db::write_tx(&mut conn).unwrap();
        let change = polyperf::params::Change {
            name: CONF,
            new_value: "0.80".parse().unwrap(),
            reason: "by hand",
            method: Method::Cli,
            proposal_id: None,
            reverts_history_id: None,
            by: "op",
        };
        polyperf::params::apply_change(&tx, &Default::default(), &change, t(NOW)).unwrap();
        tx.commit().unwrap();
    }
    let out = polyperf::proposals::apply_verdict(
        &mut conn,
        &s,
        &polyperf::proposals::Request {
            proposal_id: waiting,
            nonce: None,
            verdict: Verdict::Approve,
            by: "alice",
            method: Method::Telegram,
        },
        t(NOW),
    )
    .unwrap();
    assert_eq!(out.status, Some(Status::Superseded), "{out:?}");
    assert_eq!(value(&conn, CONF), "0.80");
    let out = polyperf::proposals::apply_verdict(
        &mut conn,
        &s,
        &polyperf::proposals::Request {
            proposal_id: waiting,
            nonce: None,
            verdict: Verdict::Approve,
            by: "alice",
            method: Method::Telegram,
        },
        t(NOW),
    )
    .unwrap();
    assert!(!out.changed && out.message.contains("superseded"));
}

#[test]
fn approval_requests_expire() {
    let db = TestDb::new();
    let s = tier1(&db);
    let mut conn = db.conn();
    let id = propose(&conn, CONF, "0.75", "0.85");
    run(&db, &s, NOW);
    // 5 h 59 m later it still waits; at 6 h it expires, with a notification.
    assert_eq!(run(&db, &s, "2026-03-01T17:59:59Z").expired, 0);
    assert_eq!(run(&db, &s, "2026-03-01T18:00:00Z").expired, 1);
    assert_eq!(status_of(&conn, id).0, "expired");
    assert_eq!(
        db.count("SELECT count(*) FROM outbox WHERE dedup_key = 'expired:1'"),
        1
    );
    let out = polyperf::proposals::apply_verdict(
        &mut conn,
        &s,
        &polyperf::proposals::Request {
            proposal_id: id,
            nonce: None,
            verdict: Verdict::Approve,
            by: "alice",
            method: Method::Telegram,
        },
        t("2026-03-01T18:01:00Z"),
    )
    .unwrap();
    assert!(!out.changed && out.message.contains("expired"), "{out:?}");
    assert_eq!(value(&conn, CONF), "0.75");
    // decide() itself expires a request the job has not seen yet.
    let id2 = propose(&conn, CONF, "0.75", "0.85");
    run(&db, &s, "2026-03-02T00:00:00Z");
    let out = polyperf::proposals::apply_verdict(
        &mut conn,
        &s,
        &polyperf::proposals::Request {
            proposal_id: id2,
            nonce: None,
            verdict: Verdict::Approve,
            by: "alice",
            method: Method::Telegram,
        },
        t("2026-03-02T07:00:00Z"),
    )
    .unwrap();
    assert_eq!(out.status, Some(Status::Expired));
    assert_eq!(value(&conn, CONF), "0.75");
}

#[test]
fn replay_matches_a_hand_computed_fixture() {
    let db = TestDb::new();
    let s = tier1(&db);
    let conn = db.conn();
    let now = t(NOW);
    let day = |d: i64| now - Duration::days(d);
    trade(&conn, "a", day(1), 0.80, true, "4.00");
    trade(&conn, "b", day(2), 0.76, false, "-5.00");
    // Would be taken at 0.72: favoured YES at 0.50, market went UP: 10 USDC wins 9.30.
    hold(&conn, "c", day(3), 0.72, 0.3, "0.50", "UP");
    // Below 0.72: stays a HOLD.
    hold(&conn, "d", day(3), 0.71, -0.2, "0.50", "UP");
    // Above the current 0.75: held for another reason, the threshold does not change it.
    hold(&conn, "e", day(4), 0.90, 0.5, "0.50", "UP");
    // Older than the 14-day window.
    trade(&conn, "f", day(20), 0.90, false, "-5.00");

    let ev = adjust::evidence(
        &conn,
        &s,
        CONF,
        "0.75".parse().unwrap(),
        "0.72".parse().unwrap(),
        now,
    )
    .unwrap();
    assert_eq!(
        (ev.actual.n, ev.actual.wins, ev.actual.pnl.to_string()),
        (2, 1, "-1".to_string())
    );
    assert_eq!(
        (ev.replayed.n, ev.replayed.wins, ev.replayed.pnl.to_string()),
        (3, 2, "8.3".to_string())
    );
    assert_eq!((ev.added, ev.dropped), (1, 0));
    assert!(!ev.says_loses_money);
    // Raising to 0.77 skips the 0.76 loss: 1 trade, +4.
    let ev = adjust::evidence(
        &conn,
        &s,
        CONF,
        "0.75".parse().unwrap(),
        "0.77".parse().unwrap(),
        now,
    )
    .unwrap();
    assert_eq!(
        (ev.replayed.n, ev.replayed.pnl.to_string(), ev.dropped),
        (1, "4".to_string(), 1)
    );
    // Position cap 10 -> 12: each 5 USDC trade is settled again at 6 USDC through
    // settlement's fee function (12 shares at 0.50, taker fee 12 × 0.07 × 0.25 = 0.21 in shares
    // in March 2026): the win makes 12 − 0.42 − 6 = 5.58, the loss −6.
    let ev = adjust::evidence(
        &conn,
        &s,
        "bot_max_position_dollars",
        "10".parse().unwrap(),
        "12".parse().unwrap(),
        now,
    )
    .unwrap();
    assert_eq!(ev.replayed.pnl.to_string(), "-0.42");
    // Against keeping 10 (-1 as recorded), the larger stake would have lost less.
    assert_eq!(ev.difference.to_string(), "0.58");
    assert!(!ev.says_loses_money && ev.better_than_actual);
    // Exposure cannot be judged: never tier 1.
    let ev = adjust::evidence(
        &conn,
        &s,
        "bot_max_exposure_fraction",
        "0.50".parse().unwrap(),
        "0.51".parse().unwrap(),
        now,
    )
    .unwrap();
    assert!(!ev.judgeable && ev.says_loses_money);

    // The job stores the evidence; 0.72 (4%) is tier 1 and applied.
    let id = propose(&conn, CONF, "0.75", "0.72");
    let exposure = propose(&conn, "bot_max_exposure_fraction", "0.50", "0.51");
    run(&db, &s, NOW);
    let (status, _, tier) = status_of(&conn, id);
    assert_eq!((status.as_str(), tier), ("applied", Some(1)));
    let stored: String = conn
        .query_row("SELECT evidence FROM proposals WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap();
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored["replayed"]["pnl"], "8.3");
    assert_eq!(stored["actual"]["n"], 2);
    let (status, reason, _) = status_of(&conn, exposure);
    assert_eq!(status, "awaiting_approval", "{reason:?}");
}

#[test]
fn a_replay_showing_a_loss_blocks_tier_one() {
    let db = TestDb::new();
    let s = tier1(&db);
    let conn = db.conn();
    let now = t(NOW);
    trade(&conn, "a", now - Duration::days(1), 0.80, true, "4.00");
    // Lowering to 0.73 would have taken this HOLD, which lost.
    hold(
        &conn,
        "b",
        now - Duration::days(1),
        0.74,
        0.3,
        "0.50",
        "DOWN",
    );
    let id = propose(&conn, CONF, "0.75", "0.73");
    run(&db, &s, NOW);
    let (status, reason, tier) = status_of(&conn, id);
    assert_eq!((status.as_str(), tier), ("awaiting_approval", Some(2)));
    assert!(reason.unwrap().contains("replay"));
}

/// 20 trades before `at` (15 won) and 20 after with `after_wins` won (spread evenly); each
/// win +4, loss -5.
fn before_and_after(conn: &Connection, at: DateTime<Utc>, after_wins: usize) {
    for i in 0..20 {
        let won = i % 4 != 0;
        trade(
            conn,
            &format!("pre{i}"),
            at - Duration::hours(40 - i as i64),
            0.8,
            won,
            if won { "4" } else { "-5" },
        );
    }
    for i in 0..20 {
        // The wins spread evenly, so no losing streak pauses trading on the way.
        let won = (i * after_wins) / 20 != ((i + 1) * after_wins) / 20;
        trade(
            conn,
            &format!("post{i}"),
            at + Duration::hours(1 + i as i64),
            0.8,
            won,
            if won { "4" } else { "-5" },
        );
    }
}

#[test]
fn rollback_watch_reverts_a_clearly_worse_tier_one_change_not_noise() {
    for (after_wins, expect_rollback) in [(4, true), (12, false)] {
        let db = TestDb::new();
        let mut s = tier1(&db);
        // The guard is off here: its rules would pause trading in the run, and then a human
        // decides the rollback (`no_change_is_applied_in_the_run_that_pauses_trading`).
        s.adjust.daily_loss_limit = rust_decimal::Decimal::ZERO;
        s.adjust.win_rate_window = 0;
        s.adjust.max_consecutive_losses = 0;
        s.adjust.max_drawdown = rust_decimal::Decimal::ZERO;
        let conn = db.conn();
        let change_at = t("2026-03-01T00:00:00Z");
        let id = propose(&conn, CONF, "0.75", "0.77");
        let stats = run(&db, &s, "2026-03-01T00:00:00Z");
        assert_eq!(stats.applied, 1);
        before_and_after(&conn, change_at, after_wins);
        let later = "2026-03-02T00:00:00Z";
        let stats = run(&db, &s, later);
        assert_eq!(
            stats.rolled_back,
            u64::from(expect_rollback),
            "after {after_wins} wins: {stats:?}"
        );
        if expect_rollback {
            assert_eq!(value(&conn, CONF), "0.75");
            let (method, reverts): (String, i64) = conn
                .query_row("SELECT approval_method, reverts_history_id FROM parameter_history ORDER BY id DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap();
            let applied: i64 = conn
                .query_row(
                    "SELECT history_id FROM proposals WHERE id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!((method.as_str(), reverts), ("rollback", applied));
            assert_eq!(db.count("SELECT count(*) FROM parameter_history"), 2);
        } else {
            assert_eq!(value(&conn, CONF), "0.77");
        }
        assert_eq!(run(&db, &s, later).rolled_back, 0);
        assert_one_row_and_note_per_change(&db);
    }
}

#[test]
fn rollback_watch_proposes_undoing_a_worse_tier_two_change() {
    let db = TestDb::new();
    let s = tier1(&db);
    let mut conn = db.conn();
    let id = propose(&conn, CONF, "0.75", "0.85");
    run(&db, &s, "2026-03-01T00:00:00Z");
    let out = polyperf::proposals::apply_verdict(
        &mut conn,
        &s,
        &polyperf::proposals::Request {
            proposal_id: id,
            nonce: None,
            verdict: Verdict::Approve,
            by: "alice",
            method: Method::Cli,
        },
        t("2026-03-01T00:00:00Z"),
    )
    .unwrap();
    assert_eq!(out.status, Some(Status::Applied));
    before_and_after(&conn, t("2026-03-01T00:00:00Z"), 3);
    let stats = run(&db, &s, "2026-03-02T00:00:00Z");
    assert_eq!(
        (stats.rolled_back, stats.awaiting_approval),
        (0, 1),
        "{stats:?}"
    );
    assert_eq!(value(&conn, CONF), "0.85");
    let (rid, current, proposed, status, tier): (i64, String, String, String, i64) = conn
        .query_row("SELECT id, current_value, proposed_value, status, tier FROM proposals WHERE rollback_of IS NOT NULL", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap();
    assert_eq!(
        (current.as_str(), proposed.as_str(), status.as_str(), tier),
        ("0.85", "0.75", "awaiting_approval", 2)
    );
    // A rerun proposes nothing new; approving restores the old value, linked to the change.
    assert_eq!(run(&db, &s, "2026-03-02T00:00:00Z").awaiting_approval, 0);
    let out = polyperf::proposals::apply_verdict(
        &mut conn,
        &s,
        &polyperf::proposals::Request {
            proposal_id: rid,
            nonce: None,
            verdict: Verdict::Approve,
            by: "alice",
            method: Method::Telegram,
        },
        t("2026-03-02T01:00:00Z"),
    )
    .unwrap();
    assert_eq!(out.status, Some(Status::Applied));
    assert_eq!(value(&conn, CONF), "0.75");
    assert_eq!(
        db.count("SELECT count(*) FROM parameter_history WHERE reverts_history_id IS NOT NULL"),
        1
    );
}

/// Runs the guard on a fresh database filled by `fill`; returns the rule that paused, if any.
fn guard_on(fill: impl Fn(&Connection, DateTime<Utc>)) -> Option<String> {
    let db = TestDb::new();
    let s = tier1(&db);
    let mut conn = db.conn();
    fill(&conn, t(NOW));
    let out = adjust::guard(&mut conn, &s, t(NOW)).unwrap();
    let state = polyperf::control::state(&conn).unwrap();
    assert_eq!(out.is_some(), state.paused);
    state.rule
}

#[test]
fn each_pause_rule_fires_at_its_threshold_and_not_below() {
    let streak = |n: usize| {
        move |c: &Connection, now: DateTime<Utc>| {
            trade(c, "w", now - Duration::hours(10), 0.8, true, "1");
            for i in 0..n {
                trade(
                    c,
                    &format!("l{i}"),
                    now - Duration::hours(9 - i as i64),
                    0.8,
                    false,
                    "-1",
                );
            }
        }
    };
    assert_eq!(guard_on(streak(4)), None);
    assert_eq!(guard_on(streak(5)).as_deref(), Some("consecutive_losses"));

    let day_loss = |loss: &'static str| {
        move |c: &Connection, now: DateTime<Utc>| {
            trade(c, "l", now - Duration::hours(23), 0.8, false, loss);
            trade(c, "w", now - Duration::hours(1), 0.8, true, "0");
        }
    };
    assert_eq!(guard_on(day_loss("-49.99")), None);
    assert_eq!(guard_on(day_loss("-50")).as_deref(), Some("daily_loss"));

    // Two days ago (outside the 24 h rule): up 1, then down to 1 − x.
    let drawdown = |loss: &'static str| {
        move |c: &Connection, now: DateTime<Utc>| {
            trade(c, "w", now - Duration::hours(50), 0.8, true, "1");
            trade(c, "l", now - Duration::hours(49), 0.8, false, loss);
            trade(c, "w2", now - Duration::hours(48), 0.8, true, "0");
        }
    };
    assert_eq!(guard_on(drawdown("-99.99")), None);
    assert_eq!(guard_on(drawdown("-100")).as_deref(), Some("drawdown"));

    // 20 trades, losses in runs of at most 3, tiny amounts.
    let win_rate = |wins: usize| {
        move |c: &Connection, now: DateTime<Utc>| {
            let pattern: Vec<bool> = (0..20).map(|i| (i * wins) % 20 < wins).collect();
            assert_eq!(pattern.iter().filter(|w| **w).count(), wins);
            for (i, won) in pattern.iter().enumerate() {
                trade(
                    c,
                    &format!("t{i}"),
                    now - Duration::hours(72 - i as i64),
                    0.8,
                    *won,
                    if *won { "0.01" } else { "-0.01" },
                );
            }
        }
    };
    assert_eq!(guard_on(win_rate(7)), None);
    assert_eq!(guard_on(win_rate(6)).as_deref(), Some("win_rate"));
}

#[test]
fn a_pause_fires_once_and_a_human_resume_sticks() {
    let db = TestDb::new();
    let s = tier1(&db);
    let mut conn = db.conn();
    losses(&conn, 5, t(NOW));
    let stats = run(&db, &s, NOW);
    assert!(stats.paused && stats.pause_reason.unwrap().contains("5 consecutive losses"));
    run(&db, &s, NOW);
    assert_eq!(
        db.count("SELECT count(*) FROM control_events WHERE action = 'pause'"),
        1
    );
    assert_eq!(
        db.count("SELECT count(*) FROM outbox WHERE kind = 'pause'"),
        1
    );
    {
        let tx = polyperf::db::write_tx(&mut conn).unwrap();
        polyperf::control::resume(
            &tx,
            &Default::default(),
            "op",
            "checked",
            t("2026-03-01T12:30:00Z"),
        )
        .unwrap();
        tx.commit().unwrap();
    }
    let stats = run(&db, &s, "2026-03-01T13:00:00Z");
    assert!(!stats.paused, "{stats:?}");
}

#[test]
fn auto_resume_after_the_configured_hours() {
    let db = TestDb::new();
    let mut s = tier1(&db);
    s.adjust.auto_resume_after_hours = Some(2);
    let conn = db.conn();
    losses(&conn, 5, t(NOW));
    assert!(run(&db, &s, NOW).paused);
    assert!(run(&db, &s, "2026-03-01T13:59:59Z").paused);
    assert!(!run(&db, &s, "2026-03-01T14:00:00Z").paused);
    assert_eq!(
        db.count("SELECT count(*) FROM control_events WHERE action = 'resume' AND by = 'adjust'"),
        1
    );
}

/// A fresh install (default settings) observes: a small change is only reported, yet the
/// tier-3 guard still pauses trading, since it protects money.
#[test]
fn a_fresh_install_observes_but_still_pauses() {
    let db = TestDb::new();
    let s = db.settings();
    let conn = db.conn();
    losses(&conn, 5, t(NOW));
    let small = propose(&conn, CONF, "0.75", "0.76");
    let stats = run(&db, &s, NOW);
    assert!(stats.paused, "{stats:?}");
    assert_eq!((stats.applied, stats.awaiting_approval), (0, 0));
    assert_eq!(status_of(&conn, small).0, "reported");
    assert_eq!(value(&conn, CONF), "0.75");
    assert_eq!(db.count("SELECT paused FROM trading_control"), 1);
}

#[test]
fn observe_applies_nothing() {
    let db = TestDb::new();
    let mut s = tier1(&db);
    s.adjust.autonomy = polyperf::config::Autonomy::Observe;
    let conn = db.conn();
    let small = propose(&conn, CONF, "0.75", "0.76");
    let big = propose(&conn, CONF, "0.75", "0.85");
    let stats = run(&db, &s, NOW);
    assert_eq!((stats.applied, stats.awaiting_approval), (0, 0));
    assert_eq!(
        status_of(&conn, small),
        ("reported".to_string(), status_of(&conn, small).1, Some(1))
    );
    assert_eq!(status_of(&conn, big).0, "reported");
    assert_eq!(value(&conn, CONF), "0.75");
    assert_eq!(
        db.count("SELECT count(*) FROM outbox WHERE kind = 'approval'"),
        0
    );
}

#[test]
fn job_process_pauses_and_status_sees_it_from_a_new_process() {
    let db = TestDb::new();
    let conn = db.conn();
    // `polyperf proposals approve` uses the real clock, so this test does too.
    let now = Utc::now();
    let now_arg = now.to_rfc3339();
    losses(&conn, 5, now);
    let id = propose(&conn, CONF, "0.75", "0.85");
    drop(conn);
    let out = succeeds(
        db.cmd("polyperf-adjust")
            .env("POLYPERF_ADJUST_AUTONOMY", "tier1")
            .args(["--json", "--now", &now_arg]),
    );
    let json = stdout_json(&out);
    for key in [
        "applied",
        "awaiting_approval",
        "rejected",
        "expired",
        "superseded",
        "rolled_back",
        "paused",
        "pause_reason",
    ] {
        assert!(json.get(key).is_some(), "missing {key}: {json}");
    }
    assert_eq!(json["paused"], true);
    assert_eq!(json["awaiting_approval"], 1);
    assert!(json["pause_reason"]
        .as_str()
        .unwrap()
        .contains("consecutive losses"));

    let out = db
        .cmd("polyperf")
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let status = stdout_json(&out);
    assert_eq!(status["trading_paused"], true);
    assert_eq!(status["control"]["rule"], "consecutive_losses");
    assert_eq!(status["pending_approvals"], 1);

    // The CLI approves; a second approve says it was already applied (exit 0), reject refuses.
    let out = succeeds(
        db.cmd("polyperf")
            .env("POLYPERF_ADJUST_AUTONOMY", "tier1")
            .args(["proposals", "approve", &id.to_string(), "--json"]),
    );
    assert_eq!(stdout_json(&out)["status"], "applied");
    let out = db
        .cmd("polyperf")
        .args(["proposals", "reject", &id.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = db
        .cmd("polyperf")
        .args(["proposals", "show", &id.to_string(), "--json"])
        .output()
        .unwrap();
    assert_eq!(stdout_json(&out)["status"], "applied");
    let out = db
        .cmd("polyperf")
        .args(["proposals", "list", "--json"])
        .output()
        .unwrap();
    assert_eq!(stdout_json(&out)["proposals"].as_array().unwrap().len(), 1);
    assert_eq!(
        db.count("SELECT count(*) FROM parameter_history WHERE approval_method = 'cli'"),
        1
    );
}

#[test]
fn dry_run_reports_and_writes_nothing() {
    let db = TestDb::new();
    let s = tier1(&db);
    let mut conn = db.conn();
    losses(&conn, 5, t(NOW));
    propose(&conn, CONF, "0.75", "0.76");
    propose(&conn, CONF, "0.75", "0.85");
    let stats = adjust::run_sync(&mut conn, &s, t(NOW), true).unwrap();
    // The five losses would pause trading: a run that pauses applies nothing, so even the
    // small change would go to a human.
    assert!(stats.paused && stats.awaiting_approval == 2, "{stats:?}");
    assert_eq!(
        db.count("SELECT count(*) FROM proposals WHERE status = 'pending'"),
        2
    );
    assert_eq!(db.count("SELECT count(*) FROM outbox"), 0);
    assert_eq!(db.count("SELECT paused FROM trading_control"), 0);
    assert_eq!(value(&conn, CONF), "0.75");
}

/// `tier1` and `full` differ on a tier-2 change the replay favours: `tier1` asks a human;
/// `full` asks too until a recent walk-forward evaluation shows the loop's changes earning
/// money (95% interval above 0), and then applies it on its own, notified, method `auto`.
#[test]
fn full_applies_tier_two_only_when_the_evaluation_agrees_tier1_never() {
    use polyperf::config::{Autonomy, Engine};
    use rust_decimal::Decimal;
    let dec = |s: &str| s.parse::<Decimal>().unwrap();
    let setup = || {
        let db = TestDb::new();
        let conn = db.conn();
        // Below 0.85 the trader loses, above it wins: raising 0.75 -> 0.85 (tier 2) would
        // have made more than what happened.
        for i in 0..6 {
            let at = t(NOW) - Duration::hours(20 - i);
            trade(&conn, &format!("lo{i}"), at, 0.8, false, "-5");
            trade(&conn, &format!("hi{i}"), at, 0.9, true, "4.5");
        }
        let id = propose(&conn, CONF, "0.75", "0.85");
        (db, id)
    };
    let agreeing = |db: &TestDb, ci_low: &str, at: &str| {
        let result = serde_json::json!({});
        let new = polyperf::evaluations::New {
            since: None,
            until: None,
            engine: Engine::Rules,
            autonomy: Autonomy::Full,
            baseline_profit: dec("0"),
            adjusted_profit: dec("30"),
            improvement: dec("30"),
            ci: [dec(ci_low), dec("50")],
            changes: 1,
            result: &result,
        };
        polyperf::evaluations::insert(&db.conn(), &new, t(at)).unwrap();
    };

    let (db, id) = setup();
    agreeing(&db, "10", NOW);
    let stats = run(&db, &tier1(&db), NOW);
    assert_eq!((stats.applied, stats.awaiting_approval), (0, 1));
    assert_eq!(status_of(&db.conn(), id).0, "awaiting_approval");

    let mut full = tier1(&db);
    full.adjust.autonomy = Autonomy::Full;
    // No evaluation, one whose interval includes 0, or one older than the replay window:
    // a human decides.
    for evaluation in [
        None,
        Some(("-2", NOW)),
        Some(("10", "2026-02-01T12:00:00Z")),
    ] {
        let (db, id) = setup();
        if let Some((low, at)) = evaluation {
            agreeing(&db, low, at);
        }
        let stats = run(&db, &full, NOW);
        assert_eq!(stats.awaiting_approval, 1, "{evaluation:?}");
        let (status, why, tier) = status_of(&db.conn(), id);
        assert_eq!((status.as_str(), tier), ("awaiting_approval", Some(2)));
        assert!(why.unwrap().contains("walk-forward"), "{evaluation:?}");
    }

    let (db, id) = setup();
    agreeing(&db, "10", NOW);
    let stats = run(&db, &full, NOW);
    assert_eq!((stats.applied, stats.awaiting_approval), (1, 0));
    let conn = db.conn();
    assert_eq!(status_of(&conn, id).0, "applied");
    assert_eq!(value(&conn, CONF), "0.85");
    assert_eq!(
        db.count("SELECT count(*) FROM parameter_history WHERE approval_method = 'auto'"),
        1
    );
    assert_one_row_and_note_per_change(&db);
}

/// A settled YES of 5 USDC at 0.50 in a 15-minute market (`market_end` set, so positions
/// overlap), with the trader's bankroll when it logged one.
fn trade_with_bankroll(
    conn: &Connection,
    id: &str,
    at: DateTime<Utc>,
    won: bool,
    bankroll: Option<&str>,
) {
    trade(conn, id, at, 0.8, won, if won { "4" } else { "-5" });
    conn.execute(
        "UPDATE trades SET market_end = ?2, bankroll = ?3 WHERE decision_id = ?1",
        params![id, db_time(at + Duration::minutes(15)), bankroll],
    )
    .unwrap();
}

/// Issue 24: an exposure change is judged only against the bankroll the trader logged with
/// its decisions; without one it is never tier 1 (a human decides, told why).
#[test]
fn an_exposure_change_is_judged_only_against_a_logged_bankroll() {
    const EXPOSURE: &str = "bot_max_exposure_fraction";
    let now = t(NOW);
    let setup = |bankroll: Option<&str>| {
        let db = TestDb::new();
        let conn = db.conn();
        // Two overlapping 5 USDC trades every hour; the second of each pair loses. At an
        // exposure of 0.50 of 20 USDC both fit (10 open); at 0.48 (9.60) the second does not.
        for h in 1..=10 {
            let at = now - Duration::hours(h);
            trade_with_bankroll(&conn, &format!("a{h}"), at, true, bankroll);
            trade_with_bankroll(
                &conn,
                &format!("b{h}"),
                at + Duration::minutes(1),
                false,
                bankroll,
            );
        }
        let id = propose(&conn, EXPOSURE, "0.50", "0.48");
        (db, id)
    };
    // Without a bankroll in the record: not judged, so never tier 1.
    let (db, id) = setup(None);
    let s = tier1(&db);
    let ev = adjust::evidence(
        &db.conn(),
        &s,
        EXPOSURE,
        "0.50".parse().unwrap(),
        "0.48".parse().unwrap(),
        now,
    )
    .unwrap();
    assert!(!ev.judgeable && ev.says_loses_money, "{ev:?}");
    assert!(
        ev.why_not.as_deref().unwrap().contains("bankroll"),
        "{ev:?}"
    );
    assert_eq!(ev.replayed.n, 0);
    run(&db, &s, NOW);
    let (status, reason, tier) = status_of(&db.conn(), id);
    assert_eq!((status.as_str(), tier), ("awaiting_approval", Some(2)));
    assert!(reason.unwrap().contains("replay"));
    assert_eq!(value(&db.conn(), EXPOSURE), "0.50");

    // With the bankroll logged: the replay skips the ten losing trades beyond 0.48 of it.
    let (db, id) = setup(Some("20"));
    let ev = adjust::evidence(
        &db.conn(),
        &s,
        EXPOSURE,
        "0.50".parse().unwrap(),
        "0.48".parse().unwrap(),
        now,
    )
    .unwrap();
    assert!(ev.judgeable, "{ev:?}");
    assert_eq!((ev.actual.n, ev.replayed.n, ev.dropped), (20, 10, 10));
    assert_eq!(ev.difference.to_string(), "50");
    run(&db, &s, NOW);
    let (status, _, tier) = status_of(&db.conn(), id);
    assert_eq!((status.as_str(), tier), ("applied", Some(1)));
}

/// Issue 24: a run whose tier-3 guard pauses trading applies nothing: the tier-1 change it
/// would have applied goes to a human, saying why; so does a rollback it would have made.
#[test]
fn no_change_is_applied_in_the_run_that_pauses_trading() {
    let db = TestDb::new();
    let s = tier1(&db);
    let conn = db.conn();
    losses(&conn, 5, t(NOW));
    // 0.75 -> 0.76 skips no trade (all at 0.80): a tier-1 change the replay does not oppose.
    let id = propose(&conn, CONF, "0.75", "0.76");
    let stats = run(&db, &s, NOW);
    assert!(stats.paused, "{stats:?}");
    assert_eq!((stats.applied, stats.awaiting_approval), (0, 1));
    let (status, why, tier) = status_of(&conn, id);
    assert_eq!((status.as_str(), tier), ("awaiting_approval", Some(1)));
    assert!(why.unwrap().contains("trading was paused in this run"));
    assert_eq!(
        db.count("SELECT json_extract(payload, '$.tier') FROM outbox WHERE kind = 'approval'"),
        1
    );
    assert_eq!(value(&conn, CONF), "0.75");
    assert_eq!(db.count("SELECT count(*) FROM parameter_history"), 0);
    // Without the pause the same change applies on its own.
    let db = TestDb::new();
    let id = propose(&db.conn(), CONF, "0.75", "0.76");
    assert_eq!(run(&db, &tier1(&db), NOW).applied, 1);
    assert_eq!(status_of(&db.conn(), id).0, "applied");
    // A clearly worse tier-1 change found in a run that pauses (the day's losses) is not
    // reverted on its own: a rollback is proposed to a human.
    let db = TestDb::new();
    let s = tier1(&db);
    propose(&db.conn(), CONF, "0.75", "0.77");
    assert_eq!(run(&db, &s, "2026-03-01T00:00:00Z").applied, 1);
    before_and_after(&db.conn(), t("2026-03-01T00:00:00Z"), 4);
    let stats = run(&db, &s, "2026-03-02T00:00:00Z");
    assert!(stats.paused, "{stats:?}");
    assert_eq!((stats.rolled_back, stats.awaiting_approval), (0, 1));
    assert_eq!(value(&db.conn(), CONF), "0.77");
    assert_eq!(
        db.count("SELECT count(*) FROM proposals WHERE rollback_of IS NOT NULL AND status = 'awaiting_approval'"),
        1
    );
}

/// Issue 24: the live evidence counts only the decisions a change would alter: a raised
/// threshold skips the trades between the old and new value, not every trade below the new one.
#[test]
fn the_evidence_alters_only_the_decisions_between_the_old_and_new_value() {
    let db = TestDb::new();
    let s = tier1(&db);
    let conn = db.conn();
    let now = t(NOW);
    // The trader took trades below its threshold too (another rule of its own): those stay.
    for (i, conf) in [0.60, 0.70, 0.74, 0.75, 0.76, 0.76, 0.77, 0.80]
        .iter()
        .enumerate()
    {
        trade(
            &conn,
            &format!("t{i}"),
            now - Duration::hours(i as i64 + 1),
            *conf,
            false,
            "-5",
        );
    }
    let ev = adjust::evidence(
        &conn,
        &s,
        CONF,
        "0.75".parse().unwrap(),
        "0.77".parse().unwrap(),
        now,
    )
    .unwrap();
    // [0.75, 0.77): three trades skipped, five kept.
    assert_eq!((ev.actual.n, ev.replayed.n, ev.dropped), (8, 5, 3));
    assert_eq!(ev.difference.to_string(), "15");
    // Unchanged: nothing altered, exactly.
    let same = adjust::evidence(
        &conn,
        &s,
        CONF,
        "0.75".parse().unwrap(),
        "0.75".parse().unwrap(),
        now,
    )
    .unwrap();
    assert_eq!((same.dropped, same.added), (0, 0));
    assert_eq!(same.difference, rust_decimal::Decimal::ZERO);
    assert_eq!(same.actual, same.replayed);
    assert!(
        ev.summary.starts_with(
            "Replay, last 14 days: +15.00 USDC against keeping 0.75: 5 trades instead of 8"
        ),
        "{}",
        ev.summary
    );
}

/// Issue 24: the bankroll column (migration 0011) on a database with data at the previous
/// version: every row kept (no bankroll), re-logging stays idempotent, new decisions carry it.
#[test]
fn migration_0011_adds_the_bankroll_to_a_database_with_data() {
    use crate::common::{decision_json, ok_json, write_jsonl};
    let db = TestDb::new();
    std::fs::remove_file(&db.path).unwrap();
    let mut conn = Connection::open(&db.path).unwrap();
    let before = polyperf::db::migration_names()
        .position(|n| n == "0011_decision_bankroll")
        .unwrap() as i64;
    polyperf::db::migrate_to(&mut conn, before).unwrap();
    for i in 0..30 {
        trade(
            &conn,
            &format!("old{i}"),
            t(NOW) - Duration::hours(i + 1),
            0.8,
            i % 2 == 0,
            if i % 2 == 0 { "4" } else { "-5" },
        );
    }
    drop(conn);
    let conn = polyperf::db::open(&db.path).unwrap();
    assert_eq!(db.count("SELECT count(*) FROM trades"), 30);
    assert_eq!(
        db.count("SELECT count(*) FROM trades WHERE bankroll IS NULL"),
        30
    );
    let ev = adjust::evidence(
        &conn,
        &tier1(&db),
        "bot_max_exposure_fraction",
        "0.50".parse().unwrap(),
        "0.40".parse().unwrap(),
        t(NOW),
    )
    .unwrap();
    assert!(!ev.judgeable);
    // Decisions logged with a bankroll keep it, as a number; the same lines again are
    // duplicates, and another bankroll under the same id is a conflict naming it.
    let lines: Vec<_> = (0..10)
        .map(|i| {
            let mut d = decision_json(i);
            d["bankroll"] = serde_json::json!("250.50");
            d
        })
        .collect();
    let file = write_jsonl(db.dir.path(), "with-bankroll.jsonl", &lines);
    let report = ok_json(db.cmd("polyperf").args(["--json", "log"]).arg(&file));
    assert_eq!(report["stored"], 10);
    let real: f64 = conn
        .query_row(
            "SELECT bankroll FROM trades WHERE decision_id = 'd-3' AND typeof(bankroll) = 'real'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(real, 250.5);
    let report = ok_json(db.cmd("polyperf").args(["--json", "log"]).arg(&file));
    assert_eq!(
        (report["stored"].as_u64(), report["duplicates"].as_u64()),
        (Some(0), Some(10))
    );
    let mut changed = lines.clone();
    changed[4]["bankroll"] = serde_json::json!(300);
    let file = write_jsonl(db.dir.path(), "changed.jsonl", &changed);
    let refused = db.cmd("polyperf").arg("log").arg(&file).assert().code(2);
    let err = String::from_utf8_lossy(&refused.get_output().stderr).to_string();
    assert!(err.contains("line 5") && err.contains("bankroll"), "{err}");
}

/// Telegram's plain text of an HTML message (what a callback's `message.text` carries).
fn plain(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Issue 24: an approval a phone can decide on. The replay in one line, no JSON; a change the
/// replay says loses money says so plainly and its button says "Approve anyway"; no buttons
/// when the autonomy cannot apply it; after the press the message says who decided, when and
/// what happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_on_a_phone_states_the_replay_and_its_outcome() {
    use crate::telegram::{bot_server, calls, mount_updates, run as telegram_run, CHAT};
    use serde_json::json;
    let setup = || {
        let db = TestDb::new();
        let conn = db.conn();
        let now = t(NOW);
        // The trades a raise to 0.79 would skip (0.76) won; the others are mixed.
        for i in 0..12 {
            let at = now - Duration::hours(i + 1);
            trade(&conn, &format!("w{i}"), at, 0.76, true, "4.5");
            let won = i % 2 == 0;
            trade(
                &conn,
                &format!("m{i}"),
                at,
                0.85,
                won,
                if won { "4.5" } else { "-5" },
            );
        }
        // 0.75 -> 0.79 is 5.3%: tier 2, a human decides.
        let id = propose(&conn, CONF, "0.75", "0.79");
        run(&db, &tier1(&db), NOW);
        assert_eq!(status_of(&conn, id).0, "awaiting_approval");
        (db, id)
    };
    let telegram = |db: &TestDb, server: &wiremock::MockServer, autonomy| {
        let mut s = crate::telegram::settings(db, server);
        s.telegram.allowed_user_ids = vec![111];
        s.adjust.autonomy = autonomy;
        s
    };
    let at = t("2026-03-01T12:05:00Z");

    // Under observe nothing can be applied: no buttons, and the message says so.
    let (db, _) = setup();
    let server = bot_server().await;
    mount_updates(&server, json!([])).await;
    let s = telegram(&db, &server, polyperf::config::Autonomy::Observe);
    telegram_run(&db, s, at).await.unwrap();
    let approvals = |sent: Vec<serde_json::Value>| -> Vec<serde_json::Value> {
        sent.into_iter()
            .filter(|m| m["text"].as_str().unwrap().contains("Approval needed"))
            .collect()
    };
    let sent = approvals(calls(&server, "sendMessage").await);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].get("reply_markup").is_none(), "{}", sent[0]);
    assert!(sent[0]["text"]
        .as_str()
        .unwrap()
        .contains("Autonomy is observe"));

    // Under tier1: the replay in one line, the loss said plainly, "Approve anyway".
    let (db, id) = setup();
    let server = bot_server().await;
    mount_updates(&server, json!([])).await;
    telegram_run(
        &db,
        telegram(&db, &server, polyperf::config::Autonomy::Tier1),
        at,
    )
    .await
    .unwrap();
    let sent = approvals(calls(&server, "sendMessage").await);
    assert_eq!(sent.len(), 1);
    let text = sent[0]["text"].as_str().unwrap().to_string();
    assert!(
        text.contains("Replay, last 14 days: -54.00 USDC against keeping 0.75 — 12 trades instead of 24, win rate 50.0% vs 75.0%"),
        "{text}"
    );
    assert!(text.contains("would have LOST 54.00 USDC"), "{text}");
    assert!(!text.contains('{') && !text.contains("evidence"), "{text}");
    assert!(
        text.chars().count() < 500,
        "{} characters: {text}",
        text.chars().count()
    );
    let keyboard = &sent[0]["reply_markup"]["inline_keyboard"][0];
    assert_eq!(keyboard[0]["text"], "Approve anyway");
    let data = keyboard[0]["callback_data"].as_str().unwrap().to_string();

    // The press: applied, and the message edited to say by whom, when and what happened.
    let server = bot_server().await;
    let press = json!({"update_id": 7001, "callback_query": {"id": "cb7001",
        "from": {"id": 111, "is_bot": false, "first_name": "Ann"},
        "message": {"message_id": 42, "date": 1772366700, "chat": {"id": CHAT, "type": "supergroup"},
                    "text": plain(&text)},
        "chat_instance": "1", "data": data}});
    mount_updates(&server, json!([press])).await;
    let pressed = t("2026-03-01T12:07:00Z");
    telegram_run(
        &db,
        telegram(&db, &server, polyperf::config::Autonomy::Tier1),
        pressed,
    )
    .await
    .unwrap();
    assert_eq!(value(&db.conn(), CONF), "0.79");
    assert_eq!(status_of(&db.conn(), id).0, "applied");
    let edits = calls(&server, "editMessageText").await;
    assert_eq!(edits.len(), 1);
    let edited = edits[0]["text"].as_str().unwrap();
    assert!(
        edited.starts_with("<b>Approved by telegram:111 at 2026-03-01 12:07:00 UTC: applied</b>"),
        "{edited}"
    );
    assert!(!edited.contains("Approval needed"), "{edited}");
    assert!(edited.contains("Replay, last 14 days"), "{edited}");
    assert!(
        edited.contains(&format!(
            "proposal #{id} applied: bot_confidence_threshold 0.75 -&gt; 0.79"
        )),
        "{edited}"
    );
}
