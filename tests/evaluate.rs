//! `polyperf evaluate`: the walk-forward replay of the learning loop over settled histories
//! with and without an edge, no look-ahead, the autonomy flag, the CLI and the report.

use chrono::{DateTime, Duration, Utc};
use polyperf::config::{Autonomy, Engine, Settings};
use polyperf::evaluate::{self, Evaluation, Options, Rules};
use rusqlite::{params, Connection};
use rust_decimal::Decimal;

use crate::common::{stdout_json, succeeds, TestDb};

fn t(s: &str) -> DateTime<Utc> {
    polyperf::time::parse_rfc3339(s).unwrap()
}

const START: &str = "2026-03-01T00:00:00Z";
const DAYS: i64 = 20;

fn now() -> DateTime<Utc> {
    t(START) + Duration::days(DAYS)
}

/// A settled YES of 10 USDC at 0.50 in a 15-minute market, settled by settlement's rule
/// (taker, fee in shares: a win makes 9.30, a loss costs 10).
fn trade(conn: &Connection, at: DateTime<Utc>, conf: f64, won: bool) {
    conn.execute(
        "INSERT INTO trades (decision_id, timestamp, market_slug, action, confidence, position_size,
                             btc_price, executed_price, yes_price, no_price, final_score,
                             market_end, settlement_status, actual_outcome, profit_loss, is_win,
                             fee, fee_asset, liquidity, settled_at)
         VALUES (?1, ?2, 'btc-updown-15m-1772323200', 'YES', ?3, '10', '66000', '0.50', '0.50',
                 '0.50', 0.3, ?4, 'settled', ?5, ?6, ?7, '0.35', 'shares', 'taker', ?4)",
        params![
            format!("d-{}", polyperf::time::to_db(at)),
            polyperf::time::to_db(at),
            conf,
            polyperf::time::to_db(at + Duration::minutes(15)),
            if won { "UP" } else { "DOWN" },
            if won { "9.3" } else { "-10" },
            won
        ],
    )
    .unwrap();
}

/// One decision an hour for `days` from START: `outcome(i, hour)` gives (confidence, won).
fn history(db: &TestDb, days: i64, outcome: impl Fn(i64) -> (f64, bool)) {
    let conn = db.conn();
    for i in 0..days * 24 {
        let (conf, won) = outcome(i);
        trade(&conn, t(START) + Duration::hours(i), conf, won);
    }
}

/// Below 0.85 the trader always loses, above it always wins (twice as often): profitable,
/// but the third of its trades below 0.85 costs money.
fn edge(i: i64) -> (f64, bool) {
    if i % 3 == 0 {
        (0.78, false)
    } else {
        (0.90, true)
    }
}

/// No edge: the outcome does not depend on the confidence, and a win comes once in
/// 19.3 / 10 trades, settlement's fee-aware break-even at 0.50 (p = 10 / 19.3).
fn null(i: i64) -> (f64, bool) {
    let x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
    let u = x as f64 / (1u64 << 53) as f64;
    let conf = [0.78, 0.82, 0.86, 0.90][(i % 4) as usize];
    (conf, u < 10.0 / 19.3)
}

fn settings(db: &TestDb) -> Settings {
    db.settings()
}

fn evaluate(db: &TestDb, autonomy: Autonomy) -> Evaluation {
    let opts = Options {
        now: now(),
        engine: Engine::Rules,
        autonomy,
        since: None,
    };
    evaluate::run(&db.conn(), &settings(db), &opts, &mut Rules).unwrap()
}

#[test]
fn on_an_edge_it_raises_the_threshold_and_shows_an_interval_above_zero() {
    let db = TestDb::new();
    history(&db, DAYS, edge);
    let e = evaluate(&db, Autonomy::Tier1);
    let raised = e
        .changes
        .iter()
        .filter(|c| c.parameter == "bot_confidence_threshold" && c.new > c.old)
        .count();
    assert!(raised > 0, "{:#?}", e.changes);
    assert!(e.improvement.ci[0] > Decimal::ZERO, "{:?}", e.improvement);
    assert_eq!(e.improvement.profit, e.adjusted.profit - e.baseline.profit);
    assert!(e.adjusted.win_rate > e.baseline.win_rate);
    assert!(e.criteria.met, "{:?}", e.criteria);
    // The walk's reflections saw the decisions as the loop would have made them: the trades
    // below the raised threshold as HOLDs, the others at the stake then in force.
    assert!(e.baseline.trades > e.adjusted.trades);
    assert!(
        e.decisions_rewritten >= e.baseline.trades - e.adjusted.trades,
        "{e:?}"
    );
    // Exact: what really happened is 320 wins of 9.30 and 160 losses of 10.
    assert_eq!(e.baseline.trades, 480);
    assert_eq!(e.baseline.profit, Decimal::from(1376));
    // The same database gives the same answer.
    assert_eq!(evaluate(&db, Autonomy::Tier1), e);
}

/// The rules engine looks every day, finds no clear verdict, and the loop changes nothing.
#[test]
fn with_no_edge_the_interval_includes_zero() {
    let db = TestDb::new();
    history(&db, DAYS, null);
    let e = evaluate(&db, Autonomy::Tier1);
    // It looked every day and found nothing to act on: the record is the baseline, exactly.
    assert!(e.folds as i64 + 1 >= DAYS, "{} days walked", e.folds);
    assert!(e.changes.is_empty(), "{:#?}", e.changes);
    assert_eq!(e.adjusted.profit, e.baseline.profit);
    assert_eq!(e.adjusted.trades, e.baseline.trades);
    let [lo, hi] = e.improvement.ci;
    assert!(
        lo <= Decimal::ZERO && hi >= Decimal::ZERO,
        "{:?} {:#?}",
        e.improvement,
        e.changes
    );
}

/// The loop acts on an early losing streak below 0.85 (it raises the threshold), but from then
/// on the outcome does not depend on the confidence: the trades the new threshold skips are
/// worth nothing on average, and the interval includes 0 although the changes did something.
#[test]
fn a_change_without_an_edge_afterwards_is_not_credited() {
    let db = TestDb::new();
    history(&db, DAYS, |i| {
        if i < 4 * 24 {
            edge(i)
        } else {
            let (_, won) = null(i);
            (if i % 3 == 0 { 0.78 } else { 0.90 }, won)
        }
    });
    let e = evaluate(&db, Autonomy::Tier1);
    assert!(
        e.changes
            .iter()
            .any(|c| c.parameter == "bot_confidence_threshold"),
        "{:#?}",
        e.changes
    );
    assert!(e.adjusted.trades < e.baseline.trades, "{:?}", e.adjusted);
    let [lo, hi] = e.improvement.ci;
    assert!(
        lo < Decimal::ZERO && hi > Decimal::ZERO,
        "{:?}",
        e.improvement
    );
}

/// Issue 24: `polyperf evaluate` ends with a verdict and the next step, and the report says
/// "earned" only when the interval excludes 0: here the loop's change is not told apart from
/// 0 (the history of `a_change_without_an_edge_afterwards_is_not_credited`).
#[test]
fn the_verdict_says_what_to_do_and_earned_only_above_zero() {
    let db = TestDb::new();
    history(&db, DAYS, |i| {
        if i < 4 * 24 {
            edge(i)
        } else {
            let (_, won) = null(i);
            (if i % 3 == 0 { 0.78 } else { 0.90 }, won)
        }
    });
    let now_arg = now().to_rfc3339();
    let out =
        succeeds(
            db.cmd("polyperf")
                .args(["evaluate", "--now", &now_arg, "--autonomy", "tier1"]),
        );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = text.lines().collect();
    let (verdict, next) = (lines[lines.len() - 2], lines[lines.len() - 1]);
    assert!(
        verdict.starts_with("Verdict: the loop's changes made ")
            && verdict.contains("not told apart from 0"),
        "{text}"
    );
    assert_eq!(
        next, "Next: stay at observe: the interval includes 0.",
        "{text}"
    );
    let report = succeeds(db.cmd("polyperf").args(["report", "--now", &now_arg]));
    let report = String::from_utf8_lossy(&report.stdout).to_string();
    assert!(report.contains("not told apart from 0"), "{report}");
    assert!(!report.contains("earned"), "{report}");
    // Configured at tier1 already, the same verdict says to go back to observe.
    let json = stdout_json(&succeeds(
        db.cmd("polyperf")
            .args(["--json", "evaluate", "--now", &now_arg])
            .env("POLYPERF_ADJUST_AUTONOMY", "tier1"),
    ));
    assert_eq!(json["verdict"]["result"], "not_shown");
    assert!(json["verdict"]["next_step"]
        .as_str()
        .unwrap()
        .starts_with("go back to observe"));
    // On an edge the interval lies above 0: earned, and the next step is to move up.
    let db = TestDb::new();
    history(&db, DAYS, edge);
    let json = stdout_json(&succeeds(db.cmd("polyperf").args([
        "--json",
        "evaluate",
        "--now",
        &now_arg,
        "--autonomy",
        "tier1",
    ])));
    assert_eq!(json["verdict"]["result"], "earned", "{json}");
    assert!(json["verdict"]["next_step"]
        .as_str()
        .unwrap()
        .starts_with("move up to tier1"));
}

/// Changing the future (every outcome after day 10 flipped) changes nothing the loop did
/// before it: the walk only sees a decision once its market has ended.
#[test]
fn the_walk_does_not_look_ahead() {
    let cut = t(START) + Duration::days(10);
    let before_cut = |e: &Evaluation| {
        e.changes
            .iter()
            .filter(|c| polyperf::time::from_db(&c.at).unwrap() <= cut)
            .cloned()
            .collect::<Vec<_>>()
    };
    let db = TestDb::new();
    history(&db, DAYS, edge);
    let honest = evaluate(&db, Autonomy::Tier1);
    let altered = TestDb::new();
    history(&altered, DAYS, |i| {
        let (conf, won) = edge(i);
        if t(START) + Duration::hours(i) >= cut {
            (conf, !won)
        } else {
            (conf, won)
        }
    });
    let other = evaluate(&altered, Autonomy::Tier1);
    assert!(!before_cut(&honest).is_empty());
    assert_eq!(before_cut(&honest), before_cut(&other));
    assert_ne!(
        honest.changes, other.changes,
        "the future must matter after the cut"
    );
}

/// `--autonomy observe` changes nothing; `tier1` does: the operator can ask what tier1 would
/// have done before switching.
#[test]
fn observe_changes_nothing_and_earns_nothing() {
    let db = TestDb::new();
    history(&db, DAYS, edge);
    let e = evaluate(&db, Autonomy::Observe);
    assert!(e.changes.is_empty());
    assert_eq!(e.improvement.profit, Decimal::ZERO);
    assert_eq!(e.improvement.ci, [Decimal::ZERO; 2]);
    assert_eq!(e.adjusted, e.baseline);
    assert_eq!(e.decisions_rewritten, 0);
}

#[test]
fn the_command_prints_json_stores_it_and_changes_no_parameter() {
    let db = TestDb::new();
    history(&db, DAYS, edge);
    let now_arg = now().to_rfc3339();
    let run = || {
        stdout_json(&succeeds(db.cmd("polyperf").args([
            "--json",
            "evaluate",
            "--now",
            &now_arg,
            "--autonomy",
            "tier1",
        ])))
    };
    let json = run();
    for side in ["baseline", "adjusted"] {
        for key in [
            "trades",
            "wins",
            "win_rate",
            "profit",
            "fees",
            "max_drawdown",
        ] {
            assert!(json[side].get(key).is_some(), "{side}.{key}: {json}");
        }
    }
    assert!(json["improvement"]["ci"].as_array().unwrap().len() == 2);
    let change = &json["changes"][0];
    for key in ["at", "parameter", "old", "new", "tier"] {
        assert!(change.get(key).is_some(), "changes[0].{key}: {json}");
    }
    assert!(json["criteria"].get("win_rate_change").is_some());
    assert!(json["criteria"]
        .get("missed_opportunities_change")
        .is_some());
    assert_eq!(run(), json, "deterministic");
    assert_eq!(db.count("SELECT count(*) FROM evaluations"), 2);
    assert_eq!(db.count("SELECT count(*) FROM parameter_history"), 0);
    assert_eq!(db.count("SELECT count(*) FROM proposals"), 0);
    let conn = db.conn();
    let threshold: String = conn
        .query_row(
            "SELECT value FROM parameters WHERE name = 'bot_confidence_threshold'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(threshold, "0.75");

    // The report shows the latest evaluation, as text, JSON and on the HTML page.
    let out = succeeds(db.cmd("polyperf").args(["report", "--now", &now_arg]));
    let text = String::from_utf8_lossy(&out.stdout);
    let profit = json["improvement"]["profit"]
        .as_str()
        .unwrap()
        .parse::<Decimal>()
        .unwrap();
    assert!(
        text.contains(&format!(
            "the changes it made earned {} USDC (95% CI",
            profit.round_dp(2)
        )),
        "{text}"
    );
    let out = succeeds(
        db.cmd("polyperf")
            .args(["--json", "report", "--now", &now_arg]),
    );
    assert_eq!(
        stdout_json(&out)["evaluation"]["changes"],
        json["changes"].as_array().unwrap().len()
    );
    let html = db.dir.path().join("report.html");
    succeeds(
        db.cmd("polyperf")
            .args(["report", "--now", &now_arg, "--html"])
            .arg(&html),
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("Learning loop") && page.contains("95% CI"),
        "{page}"
    );
}

#[test]
fn bad_flags_are_refused_with_exit_2() {
    let db = TestDb::new();
    for args in [
        vec!["evaluate", "--autonomy", "reckless"],
        vec!["evaluate", "--engine", "auto"],
        vec!["evaluate", "--days", "0"],
    ] {
        let out = db.cmd("polyperf").args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    let out = db
        .cmd("polyperf")
        .args(["evaluate", "--engine", "openai"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("OPENAI_API_KEY"));
    // An empty history is not an error: nothing to replay, nothing earned.
    let json = stdout_json(&succeeds(db.cmd("polyperf").args(["--json", "evaluate"])));
    assert_eq!(
        (
            json["baseline"]["trades"].as_u64(),
            json["improvement"]["profit"].as_str()
        ),
        (Some(0), Some("0"))
    );
}

/// `--engine openai` asks the configured model (a local fake) once per reflection the walk
/// makes, stores each answer by its prompt's hash, and a rerun asks nothing: same answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_is_asked_once_and_its_answers_are_reused() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    let answer = crate::fakes::model_answer("bot_confidence_threshold", "0.75", "0.76");
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1772323200,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.to_string()},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 800, "completion_tokens": 200, "total_tokens": 1000}
        })))
        .mount(&server)
        .await;
    let db = TestDb::new();
    history(&db, 5, edge);
    let now_arg = (t(START) + Duration::days(5)).to_rfc3339();
    let run = || {
        stdout_json(&succeeds(
            db.cmd("polyperf")
                .args([
                    "--json",
                    "evaluate",
                    "--engine",
                    "openai",
                    "--autonomy",
                    "tier1",
                ])
                .args(["--now", &now_arg])
                .env("OPENAI_BASE_URL", format!("{}/v1", server.uri()))
                .env("OPENAI_API_KEY", "sk-test-evaluate"),
        ))
    };
    let first = run();
    assert_eq!(first["engine"], "openai");
    let asked = server.received_requests().await.unwrap().len();
    assert_eq!(asked as u64, first["reflections"].as_u64().unwrap());
    assert!(asked > 0);
    assert_eq!(
        db.count("SELECT count(*) FROM evaluation_answers"),
        asked as i64
    );
    // The model's first answer (0.75 -> 0.76, tier 1) was applied in the walk.
    assert_eq!(first["changes"][0]["new"], "0.76", "{first}");
    let second = run();
    assert_eq!(server.received_requests().await.unwrap().len(), asked);
    assert_eq!(second, first);
}
