//! polyperf-settle against local Gamma and Binance servers speaking the real wire formats.

use std::collections::HashMap;

use polyperf::runner::JobContext;
use polyperf::settle::{self, Options, Source};
use polyperf::sim;
use polyperf::{Decision, Tracker};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::common::{money_sum, stdout_json, TestDb};
use polyperf::db::Money;

/// 2026-02-21 14:30 UTC: the window [14:30, 14:45).
pub(crate) const START: i64 = 1771684200;
pub(crate) const SLUG: &str = "btc-updown-15m-1771684200";
/// Inside the official wait (60 min) after the window's end.
pub(crate) const SOON: &str = "2026-02-21T14:50:00Z";
/// After the official wait.
pub(crate) const LATER: &str = "2026-02-21T16:00:00Z";

pub(crate) fn decision(
    id: &str,
    slug: &str,
    action: &str,
    size: &str,
    price: Option<&str>,
    score: f64,
) -> Value {
    json!({"decision_id": id, "timestamp": "2026-02-21T14:31:00Z", "market_slug": slug,
        "action": action, "confidence": 0.8, "position_size": size, "btc_price": "68500.00",
        "price_to_beat": "68500.00", "final_score": score, "executed_price": price})
}

pub(crate) fn log(db: &TestDb, decisions: &[Value]) {
    let decisions: Vec<Decision> = decisions
        .iter()
        .map(|d| Decision::from_json(&d.to_string()).expect("valid decision"))
        .collect();
    let report = Tracker::open(&db.path)
        .unwrap()
        .log_batch(&decisions)
        .unwrap();
    assert_eq!(report.stored as usize, decisions.len());
}

/// YES and NO at 0.5 for 10, and two HOLDs leaning each way.
fn four_decisions(db: &TestDb) {
    log(
        db,
        &[
            decision("yes", SLUG, "YES", "10", Some("0.5"), 0.4),
            decision("no", SLUG, "NO", "10", Some("0.5"), -0.4),
            decision("hold-up", SLUG, "HOLD", "0", None, 0.3),
            decision("hold-down", SLUG, "HOLD", "0", None, -0.2),
        ],
    );
}

/// A Gamma market object as the real API sends it.
pub(crate) fn gamma_market(slug: &str, start: i64, prices: Option<&str>) -> Value {
    let iso = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    json!({"id": "1066851", "slug": slug, "question": "Bitcoin Up or Down",
        "eventStartTime": iso(start), "endDate": iso(start + 900),
        "closed": prices.is_some(), "umaResolutionStatus": if prices.is_some() { "resolved" } else { "" },
        "outcomes": "[\"Up\", \"Down\"]", "outcomePrices": prices.unwrap_or("[\"0.585\", \"0.415\"]"),
        "clobTokenIds": "[\"9226\", \"9336\"]", "feesEnabled": true, "feeType": "crypto_fees_v2",
        "feeSchedule": {"exponent": 1, "rate": 0.07, "takerOnly": true, "rebateRate": 0.2}})
}

pub(crate) const UP: Option<&str> = Some("[\"1\", \"0\"]");

/// The market of the window starting at `start`, resolved Up.
fn resolved_up(start: i64) -> Value {
    gamma_market(&format!("btc-updown-15m-{start}"), start, UP)
}
pub(crate) const DOWN: Option<&str> = Some("[\"0\", \"1\"]");

/// One kline row for minute `t` (seconds) with the given open and close.
pub(crate) fn kline(t: i64, open: &str, close: &str) -> Value {
    json!([
        t * 1000,
        open,
        open.max(close),
        open.min(close),
        close,
        "7.44951",
        t * 1000 + 59_999,
        "510123.10",
        1234,
        "3.10000",
        "212345.60",
        "0"
    ])
}

/// Klines of the test window: open 68500.00, last minute closing at `end_close`.
pub(crate) fn window_klines(end_close: &str) -> Value {
    let rows: Vec<Value> = (0..15)
        .map(|i| {
            let close = if i == 14 { end_close } else { "68500.00" };
            kline(START + i * 60, "68500.00", close)
        })
        .collect();
    Value::Array(rows)
}

pub(crate) async fn gamma_returns(server: &MockServer, body: Value) {
    Mock::given(method("GET"))
        .and(path("/markets"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

pub(crate) async fn binance_returns(server: &MockServer, body: Value) {
    Mock::given(method("GET"))
        .and(path("/api/v3/klines"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

/// A local Gamma and a local Binance, answering nothing yet.
async fn servers() -> (MockServer, MockServer) {
    (MockServer::start().await, MockServer::start().await)
}

/// `polyperf settle-check --json` with `env`: (exit code, its object).
pub(crate) fn settle_check(db: &TestDb, env: &[(&str, &str)]) -> (Option<i32>, Value) {
    let mut cmd = db.cmd("polyperf");
    cmd.envs(env.iter().copied())
        .args(["settle-check", "--json"]);
    let out = cmd.output().unwrap();
    (out.status.code(), stdout_json(&out))
}

/// Runs polyperf-settle as a process; returns (exit code, --json object).
pub(crate) fn settle(
    db: &TestDb,
    gamma: &str,
    binance: &str,
    now: &str,
    extra: &[&str],
) -> (i32, Value) {
    let output = db
        .cmd("polyperf-settle")
        .env("GAMMA_API_BASE", gamma)
        .env("BINANCE_API_BASE", binance)
        .env("POLYPERF_APIS_HTTP_BACKOFF_MS", "5")
        .env("POLYPERF_APIS_HTTP_MAX_ATTEMPTS", "3")
        .args(["--json", "--now", now])
        .args(extra)
        .output()
        .unwrap();
    (output.status.code().unwrap(), stdout_json(&output))
}

pub(crate) fn row(db: &TestDb, decision_id: &str) -> HashMap<String, Value> {
    let conn = db.conn();
    let mut stmt = conn
        .prepare("SELECT settlement_status, actual_outcome, is_win, is_missed_opportunity, profit_loss, fee, fee_rate_used, payout, settlement_source, unsettleable_reason, fee_asset, typeof(profit_loss) AS profit_loss_type FROM trades WHERE decision_id = ?1")
        .unwrap();
    let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
    stmt.query_row([decision_id], |r| {
        Ok(names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let v: rusqlite::types::Value = r.get(i).unwrap();
                let v = match v {
                    rusqlite::types::Value::Null => Value::Null,
                    rusqlite::types::Value::Integer(i) => json!(i),
                    rusqlite::types::Value::Text(t) => json!(t),
                    // Money is REAL at 6 decimals: shown as the exact decimal polyperf reads.
                    rusqlite::types::Value::Real(f) => {
                        let money = Money::from_value(rusqlite::types::ValueRef::Real(f));
                        json!(money.unwrap().unwrap().to_string())
                    }
                    other => json!(format!("{other:?}")),
                };
                (n.clone(), v)
            })
            .collect())
    })
    .unwrap()
}

pub(crate) const DEAD: &str = "http://127.0.0.1:1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_result_settles_with_fees_and_a_rerun_does_nothing() {
    let db = TestDb::new();
    four_decisions(&db);
    let gamma = MockServer::start().await;
    gamma_returns(&gamma, json!([gamma_market(SLUG, START, UP)])).await;

    let (code, stats) = settle(&db, &gamma.uri(), DEAD, SOON, &[]);
    assert_eq!(code, 0, "{stats}");
    assert_eq!(stats["settled"], 4);
    assert_eq!(
        (stats["wins"].as_u64(), stats["losses"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        (
            stats["holds_scored"].as_u64(),
            stats["missed_opportunities"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(stats["http_requests"], 1);
    // 20 shares at 0.5, fee 20 × 0.07 × 0.25 = 0.35 taken in shares: payout 19.3, profit 9.3.
    assert_eq!(stats["profit"], "-0.7");
    let yes = row(&db, "yes");
    assert_eq!(yes["actual_outcome"], "UP");
    assert_eq!(yes["is_win"], 1);
    assert_eq!(yes["profit_loss"], "9.3");
    assert_eq!(yes["fee"], "0.35");
    assert_eq!(yes["fee_rate_used"], "0.07");
    assert_eq!(yes["payout"], "19.3");
    assert_eq!(yes["settlement_source"], "gamma");
    let no = row(&db, "no");
    assert_eq!(
        (
            no["is_win"].clone(),
            no["profit_loss"].clone(),
            no["payout"].clone()
        ),
        (json!(0), json!("-10"), json!("0"))
    );
    assert_eq!(row(&db, "hold-up")["is_missed_opportunity"], 1);
    assert_eq!(row(&db, "hold-down")["is_missed_opportunity"], 0);
    assert_eq!(row(&db, "hold-down")["is_win"], Value::Null);
    assert_eq!(
        db.count("SELECT count(*) FROM outbox WHERE kind = 'settlement'"),
        1
    );
    assert_eq!(
        db.count("SELECT count(*) FROM markets WHERE outcome = 'UP'"),
        1
    );

    let (code, again) = settle(&db, &gamma.uri(), DEAD, SOON, &[]);
    assert_eq!(code, 0);
    assert_eq!(again["settled"], 0);
    assert_eq!(
        again["http_requests"], 0,
        "a resolved market is not asked again"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM outbox WHERE kind = 'settlement'"),
        1
    );

    let (code, check) = settle_check(&db, &[]);
    assert_eq!(code, Some(0));
    assert_eq!(check["checked"], 4);
    // A tampered row is reported and fails the check.
    db.conn()
        .execute(
            "UPDATE trades SET profit_loss = '9.31' WHERE decision_id = 'yes'",
            [],
        )
        .unwrap();
    let (code, check) = settle_check(&db, &[]);
    assert_eq!(code, Some(1));
    assert_eq!(check["mismatches"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unresolved_market_waits_then_falls_back_to_prices_with_ties_up() {
    let db = TestDb::new();
    four_decisions(&db);
    let (gamma, binance) = servers().await;
    // Not resolved yet: the closed listing does not contain it.
    gamma_returns(&gamma, json!([])).await;
    // The last minute closes exactly at price_to_beat: a tie, which resolves Up.
    binance_returns(&binance, window_klines("68500.00")).await;

    let (code, stats) = settle(&db, &gamma.uri(), &binance.uri(), SOON, &[]);
    assert_eq!(code, 0, "{stats}");
    assert_eq!(
        (stats["settled"].as_u64(), stats["pending"].as_u64()),
        (Some(0), Some(4))
    );
    assert_eq!(
        binance.received_requests().await.unwrap().len(),
        0,
        "no fallback inside the official wait"
    );
    assert_eq!(row(&db, "yes")["settlement_status"], "pending");

    let (code, stats) = settle(&db, &gamma.uri(), &binance.uri(), LATER, &[]);
    assert_eq!(code, 0, "{stats}");
    assert_eq!(stats["settled"], 4);
    let yes = row(&db, "yes");
    assert_eq!(
        (
            yes["actual_outcome"].clone(),
            yes["settlement_source"].clone()
        ),
        (json!("UP"), json!("price"))
    );
    let requests = binance.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let query: HashMap<_, _> = requests[0].url.query_pairs().into_owned().collect();
    assert_eq!(query["symbol"], "BTCUSDT");
    assert_eq!(query["interval"], "1m");
    assert_eq!(query["limit"], "1000");
    assert!(db.count("SELECT count(*) FROM prices WHERE source = 'binance'") >= 15);

    // With the tie rule set to down, the same tie would be a loss for YES: settle-check notices.
    let (code, _) = settle_check(&db, &[("POLYPERF_SETTLEMENT_TIE_RULE", "down")]);
    assert_eq!(code, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_result_corrects_a_disagreeing_price_settlement() {
    let db = TestDb::new();
    four_decisions(&db);
    let (gamma, binance) = servers().await;
    gamma_returns(&gamma, json!([])).await;
    // Binance: down by a few dollars.
    binance_returns(&binance, window_klines("68497.00")).await;
    let (code, stats) = settle(&db, &gamma.uri(), &binance.uri(), LATER, &[]);
    assert_eq!((code, stats["settled"].as_u64()), (0, Some(4)));
    assert_eq!(row(&db, "yes")["actual_outcome"], "DOWN");

    // Chainlink said Up: the official result wins.
    gamma.reset().await;
    gamma_returns(&gamma, json!([gamma_market(SLUG, START, UP)])).await;
    let (code, stats) = settle(
        &db,
        &gamma.uri(),
        &binance.uri(),
        "2026-02-21T16:10:00Z",
        &[],
    );
    assert_eq!(code, 0, "{stats}");
    assert_eq!(
        (stats["corrected"].as_u64(), stats["disagreements"].as_u64()),
        (Some(4), Some(1))
    );
    let yes = row(&db, "yes");
    assert_eq!(
        (
            yes["actual_outcome"].clone(),
            yes["is_win"].clone(),
            yes["settlement_source"].clone()
        ),
        (json!("UP"), json!(1), json!("gamma"))
    );
    assert_eq!(yes["profit_loss"], "9.3");
    assert_eq!(row(&db, "hold-up")["is_missed_opportunity"], 1);
    assert_eq!(db.count("SELECT trades_corrected FROM settlement_disagreements WHERE market_slug = 'btc-updown-15m-1771684200' AND official_outcome = 'UP' AND price_outcome = 'DOWN'"), 4);
    assert_eq!(
        db.count("SELECT count(*) FROM outbox WHERE kind = 'disagreement'"),
        1
    );

    let (_, stats) = settle(
        &db,
        &gamma.uri(),
        &binance.uri(),
        "2026-02-21T16:20:00Z",
        &[],
    );
    assert_eq!(
        (stats["corrected"].as_u64(), stats["disagreements"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(
        db.count("SELECT count(*) FROM outbox WHERE kind = 'disagreement'"),
        1
    );
    let check = db.cmd("polyperf").args(["settle-check"]).output().unwrap();
    assert_eq!(check.status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_and_cached_prices_disagreeing_are_recorded() {
    let db = TestDb::new();
    four_decisions(&db);
    let (gamma, binance) = servers().await;
    binance_returns(&binance, window_klines("68497.00")).await;
    gamma_returns(&gamma, json!([gamma_market(SLUG, START, UP)])).await;
    // The candles are already cached (as the demo and earlier runs leave them).
    let conn = db.conn();
    for k in window_klines("68497.00").as_array().unwrap() {
        conn.execute(
            "INSERT INTO prices (symbol, open_time_ms, open, high, low, close, fetched_at) VALUES ('BTCUSDT', ?1, ?2, ?2, ?3, ?3, '2026-02-21 14:46:00')",
            rusqlite::params![k[0].as_i64().unwrap(), k[1].as_str().unwrap(), k[4].as_str().unwrap()],
        )
        .unwrap();
    }
    let (code, stats) = settle(&db, &gamma.uri(), &binance.uri(), SOON, &[]);
    assert_eq!(code, 0, "{stats}");
    assert_eq!(
        (stats["settled"].as_u64(), stats["disagreements"].as_u64()),
        (Some(4), Some(1))
    );
    assert_eq!(row(&db, "yes")["actual_outcome"], "UP");
    assert_eq!(
        binance.received_requests().await.unwrap().len(),
        0,
        "comparison uses only cached candles"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_a_429_then_succeeds() {
    let db = TestDb::new();
    four_decisions(&db);
    let gamma = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/markets"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "0")
                .set_body_string("slow down"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&gamma)
        .await;
    gamma_returns(&gamma, json!([gamma_market(SLUG, START, DOWN)])).await;
    let (code, stats) = settle(&db, &gamma.uri(), DEAD, SOON, &[]);
    assert_eq!(code, 0, "{stats}");
    assert_eq!(
        (stats["settled"].as_u64(), stats["http_requests"].as_u64()),
        (Some(4), Some(2))
    );
    assert_eq!(row(&db, "no")["is_win"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_down_exit_75_and_write_nothing() {
    let db = TestDb::new();
    four_decisions(&db);
    for extra in [&[][..], &["--source", "price"][..]] {
        let (code, out) = settle(&db, DEAD, DEAD, LATER, extra);
        assert_eq!(code, 75, "{out}");
        assert_eq!(out["status"], "tempfail");
        assert!(
            !out["error"].as_str().unwrap().contains("127.0.0.1"),
            "no URL in errors: {out}"
        );
    }
    assert_eq!(
        db.count("SELECT count(*) FROM trades WHERE settlement_status <> 'pending'"),
        0
    );
    assert_eq!(db.count("SELECT count(*) FROM prices"), 0);
    assert_eq!(db.count("SELECT count(*) FROM markets"), 0);
}

/// One market whose answer cannot be read waits (named in `--json`), the run does not fail;
/// an answer that is not the API's JSON at all fails the run (exit 1) and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_responses_are_clear_errors_and_write_nothing() {
    let db = TestDb::new();
    four_decisions(&db);
    let (gamma, binance) = servers().await;
    let mut broken = gamma_market(SLUG, START, UP);
    broken["outcomePrices"] = json!("[1, 0");
    gamma_returns(&gamma, json!([broken])).await;
    binance_returns(&binance, json!({"code": -1121, "msg": "Invalid symbol."})).await;

    let (code, out) = settle(&db, &gamma.uri(), &binance.uri(), SOON, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out["market_problems"],
        json!(["market btc-updown-15m-1771684200: outcomePrices is not a list of prices"]),
        "{out}"
    );
    assert_eq!(out["pending"], 4, "{out}");
    let (code, out) = settle(
        &db,
        &gamma.uri(),
        &binance.uri(),
        LATER,
        &["--source", "price"],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out["error"]
            .as_str()
            .unwrap()
            .contains("binance klines: malformed response"),
        "{out}"
    );
    gamma.reset().await;
    Mock::given(method("GET"))
        .and(path("/markets"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>oops"))
        .mount(&gamma)
        .await;
    let (code, _) = settle(&db, &gamma.uri(), &binance.uri(), SOON, &[]);
    assert_eq!(code, 1);
    assert_eq!(
        db.count("SELECT count(*) FROM trades WHERE settlement_status <> 'pending'"),
        0
    );
    assert_eq!(db.count("SELECT count(*) FROM markets"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsettleable_decisions_get_a_reason_and_do_not_stop_the_batch() {
    let db = TestDb::new();
    four_decisions(&db);
    log(
        &db,
        &[decision(
            "hourly",
            "bitcoin-up-or-down-january-7-2am-et",
            "YES",
            "5",
            Some("0.5"),
            0.1,
        )],
    );
    // A bad price that slipped in (the log validates; an old import might not).
    db.conn()
        .execute(
            "UPDATE trades SET executed_price = '1.2' WHERE decision_id = 'no'",
            [],
        )
        .unwrap();
    let gamma = MockServer::start().await;
    gamma_returns(&gamma, json!([gamma_market(SLUG, START, UP)])).await;
    Mock::given(method("GET"))
        .and(path("/markets/slug/bitcoin-up-or-down-january-7-2am-et"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"type": "not found"})))
        .mount(&gamma)
        .await;

    let (code, stats) = settle(&db, &gamma.uri(), DEAD, LATER, &[]);
    assert_eq!(code, 0, "{stats}");
    assert_eq!(
        (stats["settled"].as_u64(), stats["unsettleable"].as_u64()),
        (Some(3), Some(1))
    );
    let no = row(&db, "no");
    assert_eq!(
        (no["settlement_status"].clone(), no["is_win"].clone()),
        (json!("unsettleable"), Value::Null)
    );
    assert_eq!(
        no["unsettleable_reason"],
        "executed_price 1.2 is outside (0, 1)"
    );
    // Without a window, Gamma gets a day to learn the market before the row is set aside.
    assert_eq!(row(&db, "hourly")["settlement_status"], "pending");
    let (code, stats) = settle(&db, &gamma.uri(), DEAD, "2026-02-22T14:31:00Z", &[]);
    assert_eq!(
        (code, stats["unsettleable"].as_u64()),
        (0, Some(1)),
        "{stats}"
    );
    assert_eq!(
        row(&db, "hourly")["unsettleable_reason"],
        "no market window: the slug gives none and Gamma does not know the market"
    );
    assert_eq!(
        stats["losses"], 0,
        "unsettleable decisions are never losses"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_from_gamma_for_slugs_without_a_number_and_lag_alerts_once() {
    let db = TestDb::new();
    let slug = "bitcoin-up-or-down-february-21-9am-et";
    log(
        &db,
        &[decision("hourly", slug, "NO", "5", Some("0.4"), -0.1)],
    );
    let gamma = MockServer::start().await;
    let mut market = gamma_market(slug, START, None);
    market["endDate"] = json!("2026-02-21T15:30:00Z");
    Mock::given(method("GET"))
        .and(path(format!("/markets/slug/{slug}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(market))
        .mount(&gamma)
        .await;
    gamma_returns(&gamma, json!([])).await;
    let (code, stats) = settle(
        &db,
        &gamma.uri(),
        DEAD,
        "2026-02-21T15:40:00Z",
        &["--source", "gamma"],
    );
    assert_eq!(code, 0, "{stats}");
    assert_eq!(stats["pending"], 1);
    assert_eq!(
        db.count("SELECT count(*) FROM trades WHERE market_end = '2026-02-21 15:30:00'"),
        1
    );
    // Still unresolved 7 hours later: one lag alert, not one per run.
    for now in ["2026-02-21T22:40:00Z", "2026-02-21T22:50:00Z"] {
        let (code, _) = settle(&db, &gamma.uri(), DEAD, now, &["--source", "gamma"]);
        assert_eq!(code, 0);
    }
    assert_eq!(
        db.count("SELECT count(*) FROM outbox WHERE kind = 'settlement_lag'"),
        1
    );
}

/// Two runs at once (library level, separate connections, interleaving at every HTTP call):
/// each row is settled exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_runs_settle_each_row_once() {
    let db = TestDb::new();
    let mut decisions = Vec::new();
    for m in 0..30 {
        let slug = format!("btc-updown-15m-{}", START + m * 900);
        for k in 0..4 {
            decisions.push(decision(
                &format!("d{m}-{k}"),
                &slug,
                if k % 2 == 0 { "YES" } else { "NO" },
                "3",
                Some("0.6"),
                0.2,
            ));
        }
    }
    log(&db, &decisions);
    let gamma = MockServer::start().await;
    let markets: Vec<Value> = (0..30)
        .map(|m| {
            gamma_market(
                &format!("btc-updown-15m-{}", START + m * 900),
                START + m * 900,
                UP,
            )
        })
        .collect();
    gamma_returns(&gamma, Value::Array(markets)).await;
    let context = || {
        let mut settings = db.settings();
        settings.apis.gamma_api_base = gamma.uri();
        settings.apis.binance_api_base = DEAD.into();
        let now = polyperf::time::parse_rfc3339("2026-02-22T00:00:00Z").unwrap();
        JobContext::new("polyperf-settle", settings, db.conn(), now, false)
    };
    let (mut a, mut b) = (context(), context());
    let options = Options {
        source: Some(Source::Auto),
        batch_size: Some(7),
    };
    let (ra, rb) = tokio::join!(
        settle::run_with(&mut a, &options),
        settle::run_with(&mut b, &options)
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.settled + rb.settled, 120);
    assert_eq!(
        db.count("SELECT count(*) FROM trades WHERE settlement_status = 'settled'"),
        120
    );
    assert_eq!(ra.profit + rb.profit, expected_profit(&db));
}

fn expected_profit(db: &TestDb) -> rust_decimal::Decimal {
    money_sum(&db.conn(), "SELECT profit_loss FROM trades")
}

/// Two processes at once: one may find the lease taken (exit 75); rows are settled once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_processes_settle_each_row_once() {
    let db = TestDb::new();
    four_decisions(&db);
    let gamma = MockServer::start().await;
    gamma_returns(&gamma, json!([gamma_market(SLUG, START, UP)])).await;
    let spawn = || {
        let mut cmd = std::process::Command::new(crate::common::bin_path("polyperf-settle"));
        cmd.env_clear()
            .env("POLYPERF_DB", &db.path)
            .env("GAMMA_API_BASE", gamma.uri())
            .env("BINANCE_API_BASE", DEAD)
            .args(["--json", "--now", SOON])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        cmd.spawn().unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let mut settled = 0;
    for child in [a, b] {
        let output = child.wait_with_output().unwrap();
        let code = output.status.code().unwrap();
        assert!(code == 0 || code == 75, "exit {code}");
        settled += stdout_json(&output)["settled"].as_u64().unwrap_or(0);
    }
    assert_eq!(settled, 4);
    assert_eq!(
        db.count("SELECT count(*) FROM outbox WHERE kind = 'settlement'"),
        1
    );
}

/// Answers `/markets?slug=..&slug=..` with every asked market resolved Up (even start) or Down.
struct FakeGamma;

impl Respond for FakeGamma {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let markets: Vec<Value> = request
            .url
            .query_pairs()
            .filter(|(k, _)| k == "slug")
            .map(|(_, slug)| {
                let start: i64 = slug.rsplit('-').next().unwrap().parse().unwrap();
                gamma_market(&slug, start, if (start / 900) % 2 == 0 { UP } else { DOWN })
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(markets)
    }
}

/// Answers klines requests from a fixed candle path.
struct FakeBinance(Vec<sim::Candle>);

impl Respond for FakeBinance {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let q: HashMap<_, _> = request.url.query_pairs().into_owned().collect();
        let start: i64 = q["startTime"].parse().unwrap();
        let end: i64 = q["endTime"].parse().unwrap();
        let limit: usize = q["limit"].parse().unwrap();
        let rows: Vec<sim::Candle> = self
            .0
            .iter()
            .filter(|c| c.open_time_ms >= start && c.open_time_ms <= end)
            .take(limit)
            .cloned()
            .collect();
        ResponseTemplate::new(200).set_body_json(sim::klines_json(&rows))
    }
}

/// 10,000 decisions on 2,000 consecutive 15-minute markets.
fn many_decisions(db: &TestDb) -> i64 {
    let mut decisions = Vec::new();
    for m in 0..2000 {
        let slug = format!("btc-updown-15m-{}", START + m * 900);
        for k in 0..5 {
            let mut d = decision(
                &format!("d{m}-{k}"),
                &slug,
                ["YES", "NO", "HOLD", "YES", "NO"][k],
                "5",
                Some("0.55"),
                0.1,
            );
            if k == 2 {
                d["position_size"] = json!("0");
                d["executed_price"] = Value::Null;
            }
            d["price_to_beat"] = Value::Null;
            // Taken inside its own window (a decision far from it is refused).
            d["timestamp"] = json!(START + m * 900 + 60);
            decisions.push(d);
        }
    }
    log(db, &decisions);
    2000 * 15
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_decisions_take_few_requests() {
    let db = TestDb::new();
    let span_minutes = many_decisions(&db);
    let gamma = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/markets"))
        .respond_with(FakeGamma)
        .mount(&gamma)
        .await;
    let (code, stats) = settle(&db, &gamma.uri(), DEAD, "2026-03-30T00:00:00Z", &[]);
    assert_eq!(code, 0, "{stats}");
    assert_eq!(stats["settled"], 10_000);
    assert!(stats["http_requests"].as_u64().unwrap() <= 40, "{stats}");
    println!("gamma: {stats}");

    let db = TestDb::new();
    many_decisions(&db);
    let start = chrono::DateTime::from_timestamp(START, 0).unwrap();
    let binance = MockServer::start().await;
    let candles = sim::candles(start, span_minutes as usize + 60, 3);
    Mock::given(method("GET"))
        .and(path("/api/v3/klines"))
        .respond_with(FakeBinance(candles))
        .mount(&binance)
        .await;
    let (code, stats) = settle(
        &db,
        DEAD,
        &binance.uri(),
        "2026-03-30T00:00:00Z",
        &["--source", "price"],
    );
    assert_eq!(code, 0, "{stats}");
    assert_eq!(stats["settled"], 10_000);
    let requests = stats["http_requests"].as_u64().unwrap() as i64;
    println!("binance: {stats}");
    assert!(
        requests * 1000 <= 3 * span_minutes,
        "{requests} requests for {span_minutes} minutes"
    );
    assert_eq!(settle_check(&db, &[]).1["mismatches"], json!([]));
}

/// Binance down while Gamma answers: the officially resolved market is settled, the one that
/// needs prices stays pending, and the run exits 75 for the next run to finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_leaves_only_the_affected_markets_pending() {
    let db = TestDb::new();
    let other = format!("btc-updown-15m-{}", START + 900);
    log(
        &db,
        &[
            decision("resolved", SLUG, "YES", "10", Some("0.5"), 0.4),
            decision("needs-prices", &other, "YES", "10", Some("0.5"), 0.4),
        ],
    );
    let gamma = MockServer::start().await;
    gamma_returns(&gamma, json!([gamma_market(SLUG, START, UP)])).await;
    let binance = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v3/klines"))
        .respond_with(ResponseTemplate::new(503).set_body_string("maintenance"))
        .mount(&binance)
        .await;
    let (code, out) = settle(&db, &gamma.uri(), &binance.uri(), LATER, &[]);
    assert_eq!(code, 75, "{out}");
    assert!(
        out["error"].as_str().unwrap().contains("binance klines"),
        "{out}"
    );
    assert_eq!(row(&db, "resolved")["settlement_status"], "settled");
    assert_eq!(row(&db, "needs-prices")["settlement_status"], "pending");
    assert_eq!(
        binance.received_requests().await.unwrap().len(),
        3,
        "retried, then left for the next run"
    );
}

/// The demo's setup: candles pre-filled in `prices`, Gamma off, Binance unreachable. Everything
/// settles from the cache without a single request; a dry run first writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_candles_settle_offline_and_dry_run_writes_nothing() {
    let db = TestDb::new();
    let start = chrono::DateTime::from_timestamp(START, 0).unwrap();
    let candles = sim::candles(start, 24 * 60, 5);
    let decisions = sim::decisions(&candles, 3, 5);
    let n = decisions.len() as u64;
    Tracker::open(&db.path)
        .unwrap()
        .log_batch(&decisions)
        .unwrap();
    let conn = db.conn();
    for c in &candles {
        conn.execute(
            "INSERT INTO prices (symbol, open_time_ms, open, high, low, close, source, fetched_at) VALUES ('BTCUSDT', ?1, ?2, ?3, ?4, ?5, 'demo', '2026-02-22 00:00:00')",
            rusqlite::params![c.open_time_ms, c.open.to_string(), c.high.to_string(), c.low.to_string(), c.close.to_string()],
        )
        .unwrap();
    }
    let offline = |extra: &[&str]| {
        let output = db
            .cmd("polyperf-settle")
            .env("POLYPERF_SETTLEMENT_GAMMA_ENABLED", "false")
            .env("BINANCE_API_BASE", DEAD)
            .args([
                "--json",
                "--now",
                "2026-02-23T00:00:00Z",
                "--batch-size",
                "50",
            ])
            .args(extra)
            .output()
            .unwrap();
        (output.status.code().unwrap(), stdout_json(&output))
    };
    let (code, dry) = offline(&["--dry-run"]);
    assert_eq!(code, 0, "{dry}");
    assert_eq!(dry["settled"].as_u64(), Some(n));
    assert_eq!(
        db.count("SELECT count(*) FROM trades WHERE settlement_status <> 'pending'"),
        0
    );
    assert_eq!(
        db.count("SELECT count(*) FROM outbox WHERE kind <> 'trade'"),
        0
    );

    let (code, stats) = offline(&[]);
    assert_eq!(code, 0, "{stats}");
    assert_eq!(stats, dry, "the dry run predicted the run");
    assert_eq!(stats["http_requests"], 0);
    assert_eq!(
        db.count("SELECT count(*) FROM trades WHERE settlement_source = 'price'") as u64,
        n
    );
    // The simulated trader's own view of each window agrees with the settlement.
    assert_eq!(settle_check(&db, &[]).1["mismatches"], json!([]));
}

/// The window [10:45, 11:00) UTC of 2026-04-28, just before the CLOB V2 cut-over at 11:00.
const BEFORE_V2: i64 = 1777373100;
/// The window [11:00, 11:15): fills in it pay fees in collateral.
const AFTER_V2: i64 = 1777374000;

/// A decision of the fee-era test: YES/NO at 0.50 for 10 USDC, filled a minute into the window.
fn fill(id: &str, start: i64, action: &str, fill: &[(&str, Value)]) -> Value {
    let mut d = decision(
        id,
        &format!("btc-updown-15m-{start}"),
        action,
        "10",
        Some("0.50"),
        0.4,
    );
    d["timestamp"] = chrono::DateTime::from_timestamp(start + 60, 0)
        .unwrap()
        .to_rfc3339()
        .into();
    for (k, v) in fill {
        d[*k] = v.clone();
    }
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fees_by_era_liquidity_and_logged_fee_through_polyperf_settle() {
    let db = TestDb::new();
    let maker = [("liquidity", json!("maker"))];
    let paid = [("fee_paid", json!("0.2"))];
    let mut decisions = Vec::new();
    for (era, start) in [("before", BEFORE_V2), ("after", AFTER_V2)] {
        decisions.push(fill(&format!("{era}-taker-win"), start, "YES", &[]));
        decisions.push(fill(&format!("{era}-taker-loss"), start, "NO", &[]));
        decisions.push(fill(&format!("{era}-maker-win"), start, "YES", &maker));
        decisions.push(fill(&format!("{era}-paid-win"), start, "YES", &paid));
    }
    // January 2026's 0.25 / exponent-2 schedule: 100 shares at 50¢ pay $0.78 (the docs).
    let january = 1767618000; // 2026-01-05 13:00 UTC
    decisions.push(fill(
        "quadratic-win",
        january,
        "YES",
        &[("position_size", json!("50"))],
    ));
    log(&db, &decisions);
    let gamma = MockServer::start().await;
    let mut quadratic = resolved_up(january);
    quadratic["feeSchedule"] = json!({"exponent": 2, "rate": 0.25, "takerOnly": true});
    gamma_returns(
        &gamma,
        json!([resolved_up(BEFORE_V2), resolved_up(AFTER_V2), quadratic]),
    )
    .await;

    let (code, stats) = settle(&db, &gamma.uri(), DEAD, "2026-04-28T11:20:00Z", &[]);
    assert_eq!(code, 0, "{stats}");
    assert_eq!(stats["settled"], 9);
    // (decision, profit_loss, fee, fee_asset): the examples, feeSchedule 0.07 / 1.
    let expected = [
        ("before-taker-win", "9.3", "0.35", "shares"),
        ("before-taker-loss", "-10", "0.35", "shares"),
        ("before-maker-win", "10", "0", "shares"),
        ("before-paid-win", "9.6", "0.2", "shares"),
        ("after-taker-win", "9.65", "0.35", "collateral"),
        ("after-taker-loss", "-10.35", "0.35", "collateral"),
        ("after-maker-win", "10", "0", "collateral"),
        ("after-paid-win", "9.8", "0.2", "collateral"),
        // 100 shares: fee 0.78125 USDC = 1.5625 shares; payout 98.4375.
        ("quadratic-win", "48.4375", "0.78125", "shares"),
    ];
    for (id, profit, fee, asset) in expected {
        let r = row(&db, id);
        assert_eq!(
            (&r["profit_loss"], &r["fee"], &r["fee_asset"]),
            (&json!(profit), &json!(fee), &json!(asset)),
            "{id}"
        );
        assert_eq!(r["profit_loss_type"], "real", "{id}");
    }
    let (code, check) = settle_check(&db, &[]);
    assert_eq!(code, Some(0));
    assert_eq!(check["checked"], 9);
    assert_eq!(check["mismatches"], json!([]));
    // The report says in which asset the fees were charged.
    let report = crate::common::ok_json(db.cmd("polyperf").args([
        "report",
        "--json",
        "--now",
        "2026-04-28T12:00:00Z",
    ]));
    assert_eq!(report["fees"], "2.58125");
    assert_eq!(
        report["fees_by_asset"],
        json!({"shares": "1.68125", "collateral": "0.9"})
    );
    let text = db
        .cmd("polyperf")
        .args(["report", "--now", "2026-04-28T12:00:00Z"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("fees           2.58 USDC (in shares 1.68, in collateral 0.90)"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fee_asset_setting_overrides_the_era() {
    let db = TestDb::new();
    log(
        &db,
        &[
            fill("before-win", BEFORE_V2, "YES", &[]),
            fill("after-win", AFTER_V2, "YES", &[]),
        ],
    );
    let gamma = MockServer::start().await;
    gamma_returns(
        &gamma,
        json!([resolved_up(BEFORE_V2), resolved_up(AFTER_V2),]),
    )
    .await;
    let output = db
        .cmd("polyperf-settle")
        .env("GAMMA_API_BASE", gamma.uri())
        .env("BINANCE_API_BASE", DEAD)
        .env("POLYPERF_SETTLEMENT_FEE_ASSET", "collateral")
        .args(["--json", "--now", "2026-04-28T11:20:00Z"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    for id in ["before-win", "after-win"] {
        let r = row(&db, id);
        assert_eq!(
            (&r["profit_loss"], &r["fee_asset"]),
            (&json!("9.65"), &json!("collateral")),
            "{id}"
        );
    }
    // A value that is not one of the three is bad configuration naming the key.
    let output = db
        .cmd("polyperf-settle")
        .env("POLYPERF_SETTLEMENT_FEE_ASSET", "usdc")
        .args(["--json", "--now", "2026-04-28T11:20:00Z"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("fee_asset"), "{stderr}");
}
