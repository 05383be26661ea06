//! Benchmark of polyperf-settle: N decisions (default 100,000; `POLYPERF_BENCH_DECISIONS` or the
//! first argument) on 15-minute markets, 5 per market, settled in-process against a local
//! Binance (price source) and a local Gamma (official source). Prints wall time, HTTP requests
//! and peak memory (VmHWM, reset before each settle run).
//!
//! `cargo bench --bench settle` or `cargo bench --bench settle -- 10000`.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use polyperf::runner::JobContext;
use polyperf::settle::{self, Options, Source};
use polyperf::sim::{self, Candle};
use polyperf::Tracker;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const PER_MARKET: usize = 5;

struct FakeBinance(Vec<Candle>);

impl Respond for FakeBinance {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let q: HashMap<_, _> = request.url.query_pairs().into_owned().collect();
        let start: i64 = q["startTime"].parse().unwrap_or(0);
        let end: i64 = q["endTime"].parse().unwrap_or(0);
        let limit: usize = q["limit"].parse().unwrap_or(500);
        let first = self.0.partition_point(|c| c.open_time_ms < start);
        let rows: Vec<Candle> = self.0[first..]
            .iter()
            .take_while(|c| c.open_time_ms <= end)
            .take(limit)
            .cloned()
            .collect();
        ResponseTemplate::new(200).set_body_json(sim::klines_json(&rows))
    }
}

struct FakeGamma;

impl Respond for FakeGamma {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let iso = |t: i64| {
            DateTime::from_timestamp(t, 0)
                .unwrap_or_default()
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        };
        let markets: Vec<Value> = request
            .url
            .query_pairs()
            .filter(|(k, _)| k == "slug")
            .map(|(_, slug)| {
                let start: i64 = slug.rsplit('-').next().and_then(|n| n.parse().ok()).unwrap_or(0);
                let prices = if (start / 900) % 3 == 0 { "[\"0\", \"1\"]" } else { "[\"1\", \"0\"]" };
                json!({"id": "1", "slug": slug, "eventStartTime": iso(start), "endDate": iso(start + 900),
                    "closed": true, "umaResolutionStatus": "resolved", "outcomes": "[\"Up\", \"Down\"]",
                    "outcomePrices": prices, "feesEnabled": true,
                    "feeSchedule": {"exponent": 1, "rate": 0.07, "takerOnly": true, "rebateRate": 0.2}})
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(markets)
    }
}

mod common;

use common::{reset_peak, vm_kib};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .or_else(|| std::env::var("POLYPERF_BENCH_DECISIONS").ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let markets = n.div_ceil(PER_MARKET);
    let minutes = markets * 15 + 15;
    let start = DateTime::from_timestamp(1_748_736_000, 0).expect("valid start"); // 2025-06-01
    let candles = sim::candles(start, minutes, 11);
    let mut decisions = sim::decisions(&candles, PER_MARKET, 11);
    decisions.truncate(n);
    let now: DateTime<Utc> = start + Duration::minutes(minutes as i64) + Duration::days(1);
    println!(
        "settle bench: {} decisions on {markets} markets, {minutes} minutes of prices",
        decisions.len()
    );

    let binance = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v3/klines"))
        .respond_with(FakeBinance(candles))
        .mount(&binance)
        .await;
    let gamma = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/markets"))
        .respond_with(FakeGamma)
        .mount(&gamma)
        .await;

    for (label, source) in [
        ("price (binance)", Source::Price),
        ("official (gamma)", Source::Gamma),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("performance.db");
        polyperf::db::create(&db).expect("create db");
        let mut tracker = Tracker::open(&db).expect("open db");
        let logged = Instant::now();
        tracker.log_batch(&decisions).expect("log decisions");
        let log_secs = logged.elapsed().as_secs_f64();
        drop(tracker);

        let mut settings = polyperf::config::Settings::default();
        settings.general.db = db.clone();
        settings.apis.binance_api_base = binance.uri();
        settings.apis.gamma_api_base = gamma.uri();
        let conn = polyperf::db::create(&db).expect("open db");
        let mut ctx = JobContext::new("polyperf-settle", settings, conn, now, false);
        reset_peak();
        let rss_before = vm_kib("VmRSS:");
        let started = Instant::now();
        let stats = settle::run_with(
            &mut ctx,
            &Options {
                source: Some(source),
                batch_size: None,
            },
        )
        .await
        .expect("settle");
        let secs = started.elapsed().as_secs_f64();
        let peak = vm_kib("VmHWM:");
        println!(
            "{label}: settled {} in {secs:.2} s ({:.0} decisions/s), {} HTTP requests, profit {}, \
             RSS before {} MiB, peak {} MiB (logging took {log_secs:.2} s)",
            stats.settled,
            stats.settled as f64 / secs,
            stats.http_requests,
            stats.profit,
            rss_before / 1024,
            peak / 1024,
        );
        let check = Instant::now();
        let report = settle::verify(&ctx.conn, &ctx.settings).expect("verify");
        println!(
            "  settle-check: {} rows, {} mismatches in {:.2} s",
            report.checked,
            report.mismatches.len(),
            check.elapsed().as_secs_f64()
        );
    }
}
