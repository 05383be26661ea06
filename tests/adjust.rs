//! polyperf-adjust: tiers, validation, cooldown, supersede, expiry, replay evidence, rollback
//! watch, the tier-3 guard, approvals through `decide`, and the job as a process.

use chrono::{DateTime, Duration, Utc};
use polyperf::adjust::{self, Verdict};
use polyperf::config::Settings;
use polyperf::params::Method;
use polyperf::proposals::Status;
use rusqlite::{params, Connection};

use crate::common::fixtures::{insert_settled, Settled};
use crate::common::{stdout_json, succeeds, TestDb};

fn t(s: &str) -> DateTime<Utc> {
    polyperf::time::parse_rfc3339(s).unwrap()
}

const NOW: &str = "2026-03-01T12:00:00Z";

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
    let s = db.settings();
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
    let s = db.settings();
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
        let s = db.settings();
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
    let s = db.settings();
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
    assert!(payload["evidence"]["summary"].is_string());
    let nonce = payload["nonce"].as_str().unwrap().to_string();
    assert!(nonce.len() >= 8 && nonce.len() <= 12);

    let now = t("2026-03-01T13:00:00Z");
    let wrong = adjust::decide(
        &mut conn,
        &s,
        &adjust::Request {
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
    let unknown = adjust::decide(
        &mut conn,
        &s,
        &adjust::Request {
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

    let ok = adjust::decide(
        &mut conn,
        &s,
        &adjust::Request {
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
    let again = adjust::decide(
        &mut conn,
        &s,
        &adjust::Request {
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
    let reject_after = adjust::decide(
        &mut conn,
        &s,
        &adjust::Request {
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
    let s = db.settings();
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
    let out = adjust::decide(
        &mut conn,
        &s,
        &adjust::Request {
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
    let out = adjust::decide(
        &mut conn,
        &s,
        &adjust::Request {
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
    let s = db.settings();
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
    let out = adjust::decide(
        &mut conn,
        &s,
        &adjust::Request {
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
    let out = adjust::decide(
        &mut conn,
        &s,
        &adjust::Request {
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
    let s = db.settings();
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
    // Position cap 10 -> 12: P&L scales by 1.2.
    let ev = adjust::evidence(
        &conn,
        &s,
        "bot_max_position_dollars",
        "10".parse().unwrap(),
        "12".parse().unwrap(),
        now,
    )
    .unwrap();
    assert_eq!(ev.replayed.pnl.to_string(), "-1.2");
    assert!(ev.says_loses_money);
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
    let s = db.settings();
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

/// 20 trades before `at` (15 won) and 20 after with `after_wins` won; each win +4, loss -5.
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
        let won = i < after_wins;
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
        let s = db.settings();
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
    let s = db.settings();
    let mut conn = db.conn();
    let id = propose(&conn, CONF, "0.75", "0.85");
    run(&db, &s, "2026-03-01T00:00:00Z");
    let out = adjust::decide(
        &mut conn,
        &s,
        &adjust::Request {
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
    let out = adjust::decide(
        &mut conn,
        &s,
        &adjust::Request {
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
    let s = db.settings();
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
    let s = db.settings();
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
    let mut s = db.settings();
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

#[test]
fn observe_applies_nothing() {
    let db = TestDb::new();
    let mut s = db.settings();
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
    let out =
        succeeds(
            db.cmd("polyperf")
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
    let s = db.settings();
    let mut conn = db.conn();
    losses(&conn, 5, t(NOW));
    propose(&conn, CONF, "0.75", "0.76");
    propose(&conn, CONF, "0.75", "0.85");
    let stats = adjust::run_sync(&mut conn, &s, t(NOW), true).unwrap();
    // The five losses make the replay negative, so even the small change needs approval.
    assert!(stats.paused && stats.awaiting_approval == 2, "{stats:?}");
    assert_eq!(
        db.count("SELECT count(*) FROM proposals WHERE status = 'pending'"),
        2
    );
    assert_eq!(db.count("SELECT count(*) FROM outbox"), 0);
    assert_eq!(db.count("SELECT paused FROM trading_control"), 0);
    assert_eq!(value(&conn, CONF), "0.75");
}
