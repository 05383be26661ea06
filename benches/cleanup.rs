//! polyperf-cleanup's routine prune of N past-retention housekeeping rows (default 500,000:
//! N/2 sent outbox rows, N/2 finished job runs) while a "trader" thread inserts decisions:
//! prune rows/s, the trader's worst and p99 insert latency during it, and a no-op run's time.
//! `cargo bench --bench cleanup [-- N]` or `POLYPERF_BENCH_ROWS=N`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use polyperf::runner::JobContext;

mod common;

fn main() -> anyhow::Result<()> {
    let n = common::rows(500_000);
    let dir = tempfile::tempdir()?;
    let mut settings = polyperf::config::Settings::default();
    settings.general.db = dir.path().join("bench.db");
    settings.archive.dir = dir.path().join("archive");
    settings.cleanup.min_free_bytes = 0;
    settings.cleanup.min_free_percent = 0.0;
    let conn = polyperf::db::create(&settings.general.db)?;
    let now = Utc.with_ymd_and_hms(2026, 3, 30, 0, 0, 0).unwrap();

    let started = Instant::now();
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO outbox (created_at, kind, payload, status, sent_at)
         SELECT datetime('2026-01-01', '+' || (i % 40000) || ' minutes'), 'settlement',
                '{\"trade_id\":' || i || ',\"profit_loss\":\"4.61\"}', 'sent', '2026-01-01 00:00:00'
         FROM n",
        [n / 2],
    )?;
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO job_runs (job, started_at, finished_at, status, exit_code, stats)
         SELECT 'polyperf-settle', datetime('2026-01-01', '+' || (i % 40000) || ' minutes'),
                datetime('2026-01-01', '+' || (i % 40000) || ' minutes', '+2 seconds'), 'ok', 0,
                '{\"settled\":' || i || '}'
         FROM n",
        [n - n / 2],
    )?;
    let (db_bytes, _) = polyperf::db::file_sizes(&settings.general.db);
    println!(
        "seeded {n} prunable rows in {:.1}s (database {:.1} MB)",
        started.elapsed().as_secs_f64(),
        db_bytes as f64 / 1e6
    );

    // The trader: one decision per transaction, as fast as it can, measuring each insert.
    let stop = Arc::new(AtomicBool::new(false));
    let trader = {
        let path = settings.general.db.clone();
        let stop = stop.clone();
        std::thread::spawn(move || -> anyhow::Result<Vec<Duration>> {
            let conn = polyperf::db::create(&path)?;
            let mut latencies = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                conn.execute(
                    "INSERT INTO trades (timestamp, market_slug, action, confidence, position_size,
                                         btc_price, decision_id)
                     VALUES ('2026-03-29 10:00:00', 'btc-updown-15m-1774778400', 'HOLD', 0.5, '0',
                             '66940.0', ?1)",
                    [format!("bench-{i}")],
                )?;
                latencies.push(t.elapsed());
                i += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            Ok(latencies)
        })
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut ctx = JobContext::new("polyperf-cleanup", settings.clone(), conn, now, false);
    let started = Instant::now();
    let stats = runtime.block_on(polyperf::cleanup::run(&mut ctx))?;
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut latencies = trader.join().expect("trader thread")?;
    latencies.sort();
    let p = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    println!(
        "prune: {} rows in {elapsed:.2}s = {:.0} rows/s (database after: {:.1} MB)",
        stats.pruned_rows,
        stats.pruned_rows as f64 / elapsed,
        stats.db_bytes as f64 / 1e6
    );
    println!(
        "trader during the prune: {} inserts, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        p(0.5),
        p(0.99),
        p(1.0)
    );

    let started = Instant::now();
    let again = runtime.block_on(polyperf::cleanup::run(&mut ctx))?;
    println!(
        "second run (nothing to prune): {} rows in {:.1} ms",
        again.pruned_rows,
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}
