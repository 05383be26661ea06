//! Reflection speed on a database of N settled decisions, none covered yet (the worst case: a
//! first run after a long backlog): trigger evaluation, reading the input, building the prompt,
//! the rules engine, storing, and a whole `reflect::run` through the job context; then the
//! steady-state run where no trigger fires.
//!
//! `cargo bench --bench reflect [-- N]` (default 100000).

use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use polyperf::config::Settings;
use polyperf::reflect::{self, input, prompt, rules, store, triggers};
use polyperf::runner::JobContext;
use rusqlite::params;

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("performance.db");
    let mut conn = polyperf::db::create(&path).expect("open db");
    let now = Utc.with_ymd_and_hms(2026, 2, 11, 12, 0, 0).unwrap();
    let signals = [
        "BULLISH",
        "BEARISH",
        "STRONG_BULLISH",
        "STRONG_BEARISH",
        "NEUTRAL",
    ];
    {
        let tx = polyperf::db::write_tx(&mut conn).unwrap();
        let mut stmt = tx
            .prepare(
                "INSERT INTO trades (decision_id, timestamp, market_slug, action, confidence,
                     position_size, btc_price, executed_price, signal_type, reasoning,
                     settlement_status, settled_at, is_win, profit_loss, actual_outcome)
                 VALUES (?1, ?2, 'btc-updown-15m-1770805800', ?3, ?4, '5.00', '66940.0', '0.52',
                     ?5, ?6, 'settled', ?7, ?8, ?9, 'UP')",
            )
            .unwrap();
        for i in 0..n {
            // Spread over the last 14 days, so half are in the 7-day window.
            let at = now - Duration::seconds((n - i) as i64 * 14 * 86_400 / n as i64);
            let win = (i * 7919) % 100 < 48;
            let hold = i % 5 == 0;
            stmt.execute(params![
                format!("b-{i}"),
                polyperf::time::to_db(at),
                if hold {
                    "HOLD"
                } else if i % 2 == 0 {
                    "YES"
                } else {
                    "NO"
                },
                0.5 + (i % 50) as f64 / 100.0,
                signals[i % signals.len()],
                format!("signals aligned {}", i % 37),
                polyperf::time::to_db(at + Duration::minutes(20)),
                (!hold).then_some(win as i64),
                (!hold).then_some(if win { "4.5" } else { "-5.00" }),
            ])
            .unwrap();
        }
        drop(stmt);
        tx.commit().unwrap();
    }
    let settings = {
        let mut s = Settings::default();
        s.general.db = path.clone();
        s
    };
    println!("reflect bench: {n} settled decisions, none covered");

    let t = Instant::now();
    let eval = triggers::evaluate(&conn, &settings, None, now).unwrap();
    report("triggers::evaluate", t, n);
    let t = Instant::now();
    let inp = input::load(&conn, &settings, &eval, now).unwrap();
    report("input::load", t, n);
    let t = Instant::now();
    let p = prompt::build(&inp);
    report("prompt::build", t, n);
    println!("  prompt: {} bytes", p.text().len());
    let t = Instant::now();
    let answer = rules::analyse(&inp, settings.reflect.min_sample);
    report("rules::analyse", t, n);
    let t = Instant::now();
    let record = store::Record {
        triggered: &eval.fired,
        covered: &eval.uncovered,
        engine: polyperf::config::Engine::Rules,
        model: None,
        answer: Ok(&answer),
        prompt: &p.text(),
        raw_answer: None,
        prompt_tokens: None,
        completion_tokens: None,
        failed: false,
        note: None,
    };
    store::save(&mut conn, &settings, &[record], None, now).unwrap();
    report("store::save (covers every decision)", t, n);

    // A whole run through the job context (manual trigger: the decisions are covered now).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let opts = reflect::Options {
        trigger: Some(reflect::Requested::Manual),
        ..Default::default()
    };
    let mut ctx = JobContext::new("polyperf-reflect", settings.clone(), conn, now, false);
    let t = Instant::now();
    let stats = runtime
        .block_on(reflect::run_with(&mut ctx, &opts))
        .unwrap();
    report("reflect::run_with (manual, rules)", t, n);
    assert_eq!(stats.status, "ok");
    let t = Instant::now();
    let runs = 20;
    for _ in 0..runs {
        let stats = runtime.block_on(reflect::run(&mut ctx)).unwrap();
        assert_eq!(stats.status, "skipped");
    }
    println!(
        "  {:<40} {:>10.2} ms per run",
        "reflect::run (nothing fires)",
        t.elapsed().as_secs_f64() * 1000.0 / runs as f64
    );
}

fn report(what: &str, started: Instant, n: usize) {
    let secs = started.elapsed().as_secs_f64();
    println!(
        "  {what:<40} {:>10.2} ms  ({:.0} decisions/s)",
        secs * 1000.0,
        n as f64 / secs.max(1e-9)
    );
}
