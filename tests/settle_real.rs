//! Issue 23: nothing real stops settlement. polyperf-settle as a process against local Gamma and
//! Binance servers answering as the real ones do (WIRE.md): odd outcome lists, 50-50, paged
//! listings, Binance refusing the host, assets other than BTC, bodies over the bound, and an
//! outage that is one alert.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::common::{ok_json, TestDb};
use crate::settle::{
    decision, gamma_market, gamma_returns, kline, log, row, settle, settle_check, window_klines,
    DEAD, DOWN, LATER, SLUG, START, UP,
};

/// Binance's geo-block, as it answers US hosts (WIRE.md).
const GEO_BLOCK: &str = "{\"code\": 0, \"msg\": \"Service unavailable from a restricted location according to 'b. Eligibility' in https://www.binance.com/en/terms. Please contact customer service if you believe you received this message in error.\"}";

fn slug_at(k: i64) -> String {
    format!("btc-updown-15m-{}", START + k * 900)
}

/// The outbox rows of a kind, oldest first: (status, payload).
fn outbox(db: &TestDb, kind: &str) -> Vec<(String, Value)> {
    let conn = db.conn();
    let mut stmt = conn
        .prepare("SELECT status, payload FROM outbox WHERE kind = ?1 ORDER BY id")
        .unwrap();
    stmt.query_map([kind], |r| {
        let payload: String = r.get(1)?;
        Ok((r.get(0)?, serde_json::from_str(&payload).unwrap()))
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

/// One Gamma answer holding every shape real answers were seen in: each market affects only
/// its own decisions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_outcome_lists_affect_only_their_market() {
    let db = TestDb::new();
    let mut decisions = Vec::new();
    for k in 0..7 {
        decisions.push(decision(
            &format!("m{k}-yes"),
            &slug_at(k),
            "YES",
            "10",
            Some("0.5"),
            0.3,
        ));
    }
    decisions.push(decision(
        "m6-no",
        &slug_at(6),
        "NO",
        "10",
        Some("0.5"),
        -0.3,
    ));
    decisions.push(decision("m6-hold", &slug_at(6), "HOLD", "0", None, 0.4));
    log(&db, &decisions);
    let market = |k: i64, outcomes: Value, prices: &str| {
        let mut m = gamma_market(&slug_at(k), START + k * 900, Some(prices));
        m["outcomes"] = outcomes;
        m
    };
    let answer = json!([
        market(0, json!("[\"Up \", \"Down\"]"), "[\"1\", \"0\"]"),
        market(1, json!("[\"YES\", \"NO\"]"), "[\"0\", \"1\"]"),
        market(2, json!("[\"Up\", \"Down\", \"Flat\"]"), "[\"1\", \"0\", \"0\"]"),
        market(3, json!("[\"Hanyu Guo\", \"McCartney Kessler\"]"), "[\"1\", \"0\"]"),
        market(
            4,
            json!("[\"Up\", \"Down\"]"),
            "[\"0.9999999999999999999999999999999999999999\", \"0.0000000000000000000000000000000000000001\"]"
        ),
        market(5, json!("[\"Up\", \"Down\"]"), "[\"0\", \"0\"]"),
        market(6, json!("[\"Up\", \"Down\"]"), "[\"0.5\", \"0.5\"]"),
    ]);
    let gamma = MockServer::start().await;
    gamma_returns(&gamma, answer).await;
    let now = "2026-02-21T16:30:00Z";
    let (code, stats) = settle(&db, &gamma.uri(), DEAD, now, &["--source", "gamma"]);
    assert_eq!(code, 0, "{stats}");
    assert_eq!(
        (
            stats["settled"].as_u64(),
            stats["unsettleable"].as_u64(),
            stats["pending"].as_u64(),
            stats["fifty_fifty"].as_u64()
        ),
        (Some(5), Some(2), Some(2), Some(2)),
        "{stats}"
    );
    let outcome = |id: &str| {
        let r = row(&db, id);
        (
            r["settlement_status"].clone(),
            r["actual_outcome"].clone(),
            r["is_win"].clone(),
        )
    };
    assert_eq!(outcome("m0-yes"), (json!("settled"), json!("UP"), json!(1)));
    assert_eq!(
        outcome("m1-yes"),
        (json!("settled"), json!("DOWN"), json!(0))
    );
    for (id, k, why) in [
        (
            "m2-yes",
            2,
            "3 outcomes (\"Up\", \"Down\", \"Flat\"), not Up and Down",
        ),
        (
            "m3-yes",
            3,
            "outcomes \"Hanyu Guo\", \"McCartney Kessler\" are not Up and Down",
        ),
    ] {
        let r = row(&db, id);
        assert_eq!(r["settlement_status"], "unsettleable", "{id}");
        assert_eq!(
            r["unsettleable_reason"],
            format!("market {}: {why}", slug_at(k)),
            "{id}"
        );
    }
    // A 40-digit live price and a closed market priced ["0", "0"]: not resolved yet.
    assert_eq!(row(&db, "m4-yes")["settlement_status"], "pending");
    assert_eq!(row(&db, "m5-yes")["settlement_status"], "pending");
    assert_eq!(
        stats["market_problems"].as_array().unwrap().len(),
        2,
        "{stats}"
    );
    // 50-50: $0.50 a share on either side. 20 shares at 0.50, taker fee 0.35 taken in shares
    // (February 2026): (20 − 0.7) × 0.5 − 10 = −0.35. Neither a win nor a loss.
    for id in ["m6-yes", "m6-no"] {
        let r = row(&db, id);
        assert_eq!(
            (
                r["settlement_status"].clone(),
                r["actual_outcome"].clone(),
                r["is_win"].clone()
            ),
            (json!("settled"), Value::Null, Value::Null),
            "{id}"
        );
        assert_eq!(
            (r["profit_loss"].clone(), r["payout"].clone()),
            (json!("-0.35"), json!("9.65")),
            "{id}"
        );
    }
    assert_eq!(row(&db, "m6-hold")["settlement_status"], "settled");
    assert_eq!(settle_check(&db, &[]).1["mismatches"], json!([]));
    // The figures: two 50-50s in the money, out of the win rate.
    let report = ok_json(db.cmd("polyperf").args(["report", "--json", "--now", now]));
    assert_eq!(
        (
            report["wins"].clone(),
            report["losses"].clone(),
            report["fifty_fifty"].clone()
        ),
        (json!(1), json!(1), json!(2)),
        "{report}"
    );
    assert_eq!(report["win_rate"], 0.5);
    // 9.3 (win in shares) − 10 (loss) − 0.35 − 0.35.
    assert_eq!(report["total_profit"], "-1.4");
    let text = crate::common::succeeds(db.cmd("polyperf").args(["report", "--now", now]));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("6 (2 settled, 2 resolved 50-50, 2 pending), 1 holds"),
        "{text}"
    );
    // A rerun changes nothing and asks only about the markets still open.
    let (code, again) = settle(&db, &gamma.uri(), DEAD, now, &["--source", "gamma"]);
    assert_eq!((code, again["settled"].as_u64()), (0, Some(0)), "{again}");
}

/// A 50-50 after the CLOB V2 cut-over: the fee on top of the stake, half the shares paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_fifty_after_the_cut_over_charges_the_fee_in_collateral() {
    let db = TestDb::new();
    let start = 1_777_374_000; // 2026-04-28 11:00 UTC, the cut-over
    let slug = format!("btc-updown-15m-{start}");
    let mut yes = decision("v2", &slug, "YES", "10", Some("0.4"), 0.3);
    yes["timestamp"] = json!(start + 60);
    log(&db, &[yes]);
    let gamma = MockServer::start().await;
    gamma_returns(
        &gamma,
        json!([gamma_market(&slug, start, Some("[\"0.5\", \"0.5\"]"))]),
    )
    .await;
    let (code, stats) = settle(&db, &gamma.uri(), DEAD, "2026-04-28T11:20:00Z", &[]);
    assert_eq!(code, 0, "{stats}");
    // 25 shares at 0.40, fee 25 × 0.07 × 0.24 = 0.42 USDC: 25 × 0.5 − 10 − 0.42.
    let r = row(&db, "v2");
    assert_eq!(
        (
            r["profit_loss"].clone(),
            r["payout"].clone(),
            r["fee_asset"].clone(),
            r["is_win"].clone()
        ),
        (
            json!("2.08"),
            json!("12.5"),
            json!("collateral"),
            Value::Null
        )
    );
    assert_eq!(settle_check(&db, &[]).1["mismatches"], json!([]));
}

/// Answers `/markets` as Gamma pages it: `limit` markets from `offset`, and records each query.
struct PagedGamma {
    markets: Vec<Value>,
    queries: Arc<Mutex<Vec<HashMap<String, String>>>>,
}

impl Respond for PagedGamma {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut q: HashMap<String, String> = HashMap::new();
        let mut slugs = Vec::new();
        for (k, v) in request.url.query_pairs() {
            if k == "slug" {
                slugs.push(v.into_owned());
            } else {
                q.insert(k.into_owned(), v.into_owned());
            }
        }
        self.queries.lock().unwrap().push(q.clone());
        let number =
            |k: &str, default: usize| q.get(k).and_then(|v| v.parse().ok()).unwrap_or(default);
        let page: Vec<Value> = self
            .markets
            .iter()
            .filter(|m| slugs.iter().any(|s| m["slug"] == *s))
            .skip(number("offset", 0))
            .take(number("limit", 20))
            .cloned()
            .collect();
        ResponseTemplate::new(200).set_body_json(page)
    }
}

/// 130 resolved markets asked in one request: a full page of 100 asks for the next (offset
/// 100), and every market settles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_gamma_page_asks_for_the_next() {
    let db = TestDb::new();
    let decisions: Vec<Value> = (0..130)
        .map(|k| {
            let mut d = decision(&format!("p{k}"), &slug_at(k), "YES", "5", Some("0.5"), 0.1);
            d["timestamp"] = json!(START + k * 900 + 60);
            d
        })
        .collect();
    log(&db, &decisions);
    let queries = Arc::new(Mutex::new(Vec::new()));
    let gamma = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/markets"))
        .respond_with(PagedGamma {
            markets: (0..130)
                .map(|k| gamma_market(&slug_at(k), START + k * 900, UP))
                .collect(),
            queries: queries.clone(),
        })
        .mount(&gamma)
        .await;
    let now = "2026-02-23T00:00:00Z";
    let (code, stats) = settle(&db, &gamma.uri(), DEAD, now, &["--source", "gamma"]);
    assert_eq!(code, 0, "{stats}");
    assert_eq!(stats["settled"], 130, "{stats}");
    let asked: Vec<(String, String, String)> = queries
        .lock()
        .unwrap()
        .iter()
        .map(|q| (q["limit"].clone(), q["offset"].clone(), q["closed"].clone()))
        .collect();
    assert_eq!(
        asked,
        [
            ("100".into(), "0".into(), "true".into()),
            ("100".into(), "100".into(), "true".into())
        ]
    );
}

/// Binance refusing the host (HTTP 451 with its body, or 403 from its CDN): the official
/// results settle in the same run, which exits 0; the refusal is one alert, Binance is not
/// asked again, and a line says when a host answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_refusing_this_host_is_reported_once_and_official_results_settle() {
    for (status, body) in [(451, GEO_BLOCK), (403, "<html>403 Forbidden</html>")] {
        let db = TestDb::new();
        let other = slug_at(1);
        log(
            &db,
            &[
                decision("resolved", SLUG, "YES", "10", Some("0.5"), 0.4),
                decision("needs-prices", &other, "YES", "10", Some("0.5"), 0.4),
            ],
        );
        let gamma = MockServer::start().await;
        gamma_returns(&gamma, json!([gamma_market(SLUG, START, UP)])).await;
        let blocked = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/api/v3/klines"))
            .respond_with(ResponseTemplate::new(status).set_body_string(body))
            .mount(&blocked)
            .await;
        let (code, stats) = settle(&db, &gamma.uri(), &blocked.uri(), LATER, &[]);
        assert_eq!(code, 0, "{status}: {stats}");
        assert_eq!(row(&db, "resolved")["settlement_status"], "settled");
        assert_eq!(row(&db, "needs-prices")["settlement_status"], "pending");
        let off = stats["price_fallback_off"][0].as_str().unwrap();
        assert!(off.contains(&format!("HTTP {status}")), "{off}");
        assert_eq!(
            blocked.received_requests().await.unwrap().len(),
            1,
            "{status}: no retry"
        );
        let notes = outbox(&db, "price_source");
        assert_eq!(notes.len(), 1, "{status}: {notes:?}");
        assert_eq!(notes[0].1["refused"], true);
        // Later runs neither ask the refusing host nor say it again, and do not fail.
        for now in ["2026-02-21T16:10:00Z", "2026-02-21T16:20:00Z"] {
            let (code, stats) = settle(&db, &gamma.uri(), &blocked.uri(), now, &[]);
            assert_eq!(code, 0, "{stats}");
        }
        assert_eq!(blocked.received_requests().await.unwrap().len(), 1);
        assert_eq!(outbox(&db, "price_source").len(), 1);
        // A day later the host is asked once more; the same refusal is not news.
        let (code, _) = settle(
            &db,
            &gamma.uri(),
            &blocked.uri(),
            "2026-02-22T17:00:00Z",
            &[],
        );
        assert_eq!(code, 0);
        assert_eq!(blocked.received_requests().await.unwrap().len(), 2);
        assert_eq!(outbox(&db, "price_source").len(), 1);
        // Pointed at a host that answers: the price fallback is back, and says so.
        let binance = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/api/v3/klines"))
            .respond_with(ResponseTemplate::new(200).set_body_json(other_window_klines()))
            .mount(&binance)
            .await;
        let (code, stats) = settle(
            &db,
            &gamma.uri(),
            &binance.uri(),
            "2026-02-22T17:10:00Z",
            &[],
        );
        assert_eq!(code, 0, "{stats}");
        let r = row(&db, "needs-prices");
        assert_eq!(
            (r["settlement_source"].clone(), r["is_win"].clone()),
            (json!("price"), json!(1))
        );
        let notes = outbox(&db, "price_source");
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert_eq!(notes[1].1["refused"], false);
    }
}

/// Klines of the market after the test window (`slug_at(1)`): it went up.
fn other_window_klines() -> Value {
    let t0 = START + 900;
    Value::Array(
        (0..15)
            .map(|i| {
                kline(
                    t0 + i * 60,
                    "68500.00",
                    if i == 14 { "68600.00" } else { "68500.00" },
                )
            })
            .collect(),
    )
}

/// Answers klines only for one symbol (the others: 400 `Invalid symbol.`), recording what it
/// was asked for.
struct OneSymbol {
    symbol: &'static str,
    start: i64,
    asked: Arc<Mutex<Vec<String>>>,
}

impl Respond for OneSymbol {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let q: HashMap<_, _> = request.url.query_pairs().into_owned().collect();
        let symbol = q.get("symbol").cloned().unwrap_or_default();
        self.asked.lock().unwrap().push(symbol.clone());
        if symbol != self.symbol {
            return ResponseTemplate::new(400)
                .set_body_json(json!({"code": -1121, "msg": "Invalid symbol."}));
        }
        let rows: Vec<Value> = (0..15)
            .map(|i| {
                kline(
                    self.start + i * 60,
                    "2500.00",
                    if i == 14 { "2490.00" } else { "2500.00" },
                )
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(Value::Array(rows))
    }
}

/// The asset comes from the slug: an ETH market settles from ETHUSDT candles (never BTC's), an
/// asset Binance does not list and one without a symbol wait for Gamma; the map is a setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_asset_settles_from_its_own_symbol() {
    let db = TestDb::new();
    let eth = format!("eth-updown-15m-{START}");
    let sol = format!("sol-updown-15m-{START}");
    let doge = format!("doge-updown-15m-{START}");
    let mut lines = Vec::new();
    for (id, slug) in [("eth", &eth), ("sol", &sol), ("doge", &doge)] {
        let mut d = decision(id, slug, "NO", "10", Some("0.5"), -0.2);
        d["btc_price"] = json!("2500.00");
        d["price_to_beat"] = Value::Null;
        lines.push(d);
    }
    log(&db, &lines);
    let asked = Arc::new(Mutex::new(Vec::new()));
    let binance = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v3/klines"))
        .respond_with(OneSymbol {
            symbol: "ETHUSDT",
            start: START,
            asked: asked.clone(),
        })
        .mount(&binance)
        .await;
    let (code, stats) = settle(&db, DEAD, &binance.uri(), LATER, &["--source", "price"]);
    assert_eq!(code, 0, "{stats}");
    // ETH went down (2500.00 → 2490.00): the NO wins.
    let r = row(&db, "eth");
    assert_eq!(
        (
            r["settlement_status"].clone(),
            r["actual_outcome"].clone(),
            r["is_win"].clone()
        ),
        (json!("settled"), json!("DOWN"), json!(1))
    );
    assert_eq!(row(&db, "sol")["settlement_status"], "pending");
    assert_eq!(row(&db, "doge")["settlement_status"], "pending");
    let mut symbols = asked.lock().unwrap().clone();
    symbols.sort();
    symbols.dedup();
    assert_eq!(
        symbols,
        ["ETHUSDT", "SOLUSDT"],
        "never BTCUSDT, nothing for DOGE"
    );
    // The candles are cached under the asset's own symbol.
    assert_eq!(
        db.count("SELECT count(*) FROM prices WHERE symbol = 'ETHUSDT'"),
        15
    );
    assert_eq!(
        db.count("SELECT count(*) FROM prices WHERE symbol <> 'ETHUSDT'"),
        0
    );
    // SOLUSDT refused (400): said once, by symbol.
    let notes = outbox(&db, "price_source");
    assert_eq!(
        (notes.len(), notes[0].1["symbol"].clone()),
        (1, json!("SOLUSDT")),
        "{notes:?}"
    );

    // The map is a setting (the environment's form): SOL from another symbol, DOGE from one.
    asked.lock().unwrap().clear();
    let out = db
        .cmd("polyperf-settle")
        .env("BINANCE_API_BASE", binance.uri())
        .env(
            "POLYPERF_SETTLEMENT_PRICE_SYMBOLS",
            "BTC=BTCUSDT, sol=SOLUSDC, DOGE=DOGEUSDT",
        )
        .args([
            "--json",
            "--now",
            "2026-02-22T16:00:00Z",
            "--source",
            "price",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut symbols = asked.lock().unwrap().clone();
    symbols.sort();
    symbols.dedup();
    assert_eq!(symbols, ["DOGEUSDT", "SOLUSDC"]);
    // A map that is not ASSET=SYMBOL is refused naming the setting.
    let out = db
        .cmd("polyperf-settle")
        .env("POLYPERF_SETTLEMENT_PRICE_SYMBOLS", "ETH:ETHUSDT")
        .args(["--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("settlement.price_symbols"));
}

/// A Gamma body over 16 MiB is an error for that request naming its URL (no query): the run
/// fails (exit 1), yet the decisions the price fallback can settle are settled in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_bound_fails_only_its_request() {
    let db = TestDb::new();
    log(
        &db,
        &[decision("by-price", SLUG, "YES", "10", Some("0.5"), 0.4)],
    );
    let gamma = MockServer::start().await;
    let huge = format!(
        "[{{\"slug\": \"{SLUG}\", \"question\": \"{}\"}}]",
        "x".repeat(17 << 20)
    );
    Mock::given(method("GET"))
        .and(path("/markets"))
        .respond_with(ResponseTemplate::new(200).set_body_string(huge))
        .mount(&gamma)
        .await;
    let binance = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v3/klines"))
        .respond_with(ResponseTemplate::new(200).set_body_json(window_klines("68600.00")))
        .mount(&binance)
        .await;
    let (code, out) = settle(&db, &gamma.uri(), &binance.uri(), LATER, &[]);
    assert_eq!(code, 1, "{out}");
    let error = out["error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "gamma markets: the response body from {}/markets is larger than 16 MiB",
            gamma.uri()
        )),
        "{error}"
    );
    assert!(!error.contains("slug="), "no query in errors: {error}");
    let r = row(&db, "by-price");
    assert_eq!(
        (
            r["settlement_status"].clone(),
            r["settlement_source"].clone()
        ),
        (json!("settled"), json!("price"))
    );
}

/// `n` decisions on `n / 5` markets from START, each inside its window.
fn lagging_decisions(db: &TestDb, n: i64) {
    let lines: Vec<Value> = (0..n)
        .map(|i| {
            let k = i / 5;
            let mut d = decision(
                &format!("lag-{i}"),
                &slug_at(k),
                "YES",
                "5",
                Some("0.5"),
                0.1,
            );
            d["timestamp"] = json!(START + k * 900 + 60);
            d
        })
        .collect();
    log(db, &lines);
}

/// Gamma and Binance down while 2,500 decisions lag: one alert (not 2,500), updated while it
/// waits, repeated 6 hours after it was sent, and a line once they settle. The run stays fast.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_one_alert_updated_repeated_and_cleared() {
    let db = TestDb::new();
    lagging_decisions(&db, 2_500);
    let last_end = START + 500 * 900;
    let at = |secs: i64| {
        chrono::DateTime::from_timestamp(last_end + secs, 0)
            .unwrap()
            .to_rfc3339()
    };
    let started = Instant::now();
    let (code, out) = settle(&db, DEAD, DEAD, &at(2 * 3600), &[]);
    let took = started.elapsed();
    assert_eq!(code, 75, "{out}");
    assert!(took.as_secs() < 30, "the run took {took:?}");
    let alerts = outbox(&db, "settlement_lag");
    assert_eq!(
        alerts.len(),
        1,
        "one alert, not one per decision: {:?}",
        alerts.first()
    );
    let alert = &alerts[0].1;
    assert_eq!(
        (alert["unsettled"].clone(), alert["lag_hours"].clone()),
        (json!(2500), json!(1))
    );
    assert_eq!(alert["oldest_window_start"], "2026-02-21 14:30:00");
    let causes = alert["causes"].to_string();
    assert!(
        causes.contains("Gamma: ") && causes.contains("Binance: "),
        "{causes}"
    );
    // Ten minutes later: the same row, updated in place while it waits.
    settle(&db, DEAD, DEAD, &at(2 * 3600 + 600), &[]);
    let alerts = outbox(&db, "settlement_lag");
    assert_eq!(alerts.len(), 1);
    assert_ne!(alerts[0].1["at"], alert["at"]);
    // Sent: not repeated within 6 hours, repeated after.
    db.conn()
        .execute(
            "UPDATE outbox SET status = 'sent' WHERE kind = 'settlement_lag'",
            [],
        )
        .unwrap();
    settle(&db, DEAD, DEAD, &at(5 * 3600), &[]);
    assert_eq!(outbox(&db, "settlement_lag").len(), 1);
    settle(&db, DEAD, DEAD, &at(9 * 3600), &[]);
    assert_eq!(outbox(&db, "settlement_lag").len(), 2);
    // Gamma back: everything settles, and one line says the lag cleared.
    let gamma = MockServer::start().await;
    gamma_returns(
        &gamma,
        Value::Array(
            (0..500)
                .map(|k| gamma_market(&slug_at(k), START + k * 900, DOWN))
                .collect(),
        ),
    )
    .await;
    let (code, stats) = settle(&db, &gamma.uri(), DEAD, &at(10 * 3600), &[]);
    assert_eq!(
        (code, stats["settled"].as_u64()),
        (0, Some(2500)),
        "{stats}"
    );
    let alerts = outbox(&db, "settlement_lag");
    assert_eq!(alerts.len(), 3, "{alerts:?}");
    assert_eq!(alerts[2].1["cleared"], true);
    let (code, _) = settle(&db, &gamma.uri(), DEAD, &at(11 * 3600), &[]);
    assert_eq!(code, 0);
    assert_eq!(outbox(&db, "settlement_lag").len(), 3);
}
