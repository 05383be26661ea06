//! Benchmark of `polyperf report`'s metrics on a large database: N decisions (default
//! 1,000,000; `cargo bench --bench report -- 100000` or POLYPERF_BENCH_ROWS for less) spread
//! over a year, settled in SQL, then the 7-day and all-time figures are timed.

use std::time::Instant;

use chrono::Duration;
use polyperf::metrics::{self, Window};
use polyperf::sim::Rng;
use rusqlite::params;

mod common;

fn main() -> anyhow::Result<()> {
    let n = common::rows(1_000_000);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.db");
    let mut conn = polyperf::db::create(&path)?;
    let now = polyperf::time::parse_rfc3339("2026-02-11T12:00:00Z")?;
    let span_secs = 365 * 24 * 3600;
    let signals = [
        "STRONG_BULLISH",
        "BULLISH",
        "NEUTRAL",
        "BEARISH",
        "STRONG_BEARISH",
    ];
    let mut rng = Rng::new(42);

    let started = Instant::now();
    let tx = polyperf::db::write_tx(&mut conn)?;
    {
        // Inserted already settled, as the settle job leaves them (the trade-alert trigger only
        // fires for pending rows).
        let mut stmt = tx.prepare(
            "INSERT INTO trades (decision_id, timestamp, market_slug, action, confidence,
                position_size, btc_price, signal_type, is_end_phase, final_score, yes_price,
                no_price, executed_price, settlement_status, is_win, profit_loss, fee,
                is_missed_opportunity, actual_outcome)
             VALUES (?1, ?2, 'btc-updown-15m-1770805800', ?3, ?4, ?5, '66940.0', ?6, ?7, ?8,
                '0.51', '0.50', ?9, 'settled', ?10, ?11, ?12, ?13, 'UP')",
        )?;
        for i in 0..n {
            let at = now - Duration::seconds(span_secs - (i as i64 * span_secs / n as i64));
            let hold = rng.next_f64() < 0.3;
            let win = rng.next_f64() < 0.55;
            let (action, size, exec, is_win, pl, fee, missed) = if hold {
                ("HOLD", "0", None, None, None, None, Some(win))
            } else {
                let pl = if win { "4.42" } else { "-5.00" };
                (
                    if i % 2 == 0 { "YES" } else { "NO" },
                    "5.00",
                    Some("0.52"),
                    Some(win),
                    Some(pl),
                    Some("0.0873"),
                    None,
                )
            };
            stmt.execute(params![
                format!("bench-{i}"),
                polyperf::time::to_db(at),
                action,
                0.5 + rng.next_f64() / 2.0,
                size,
                signals[i % 5],
                i % 4 == 0,
                rng.next_f64() - 0.5,
                exec,
                is_win,
                pl,
                fee,
                missed,
            ])?;
        }
    }
    tx.commit()?;
    println!(
        "inserted {n} settled decisions in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    for (label, window) in [("7 days", Window::Days(7)), ("all time", Window::All)] {
        let mut best = f64::MAX;
        let mut settled = 0;
        for _ in 0..3 {
            let started = Instant::now();
            let m = metrics::compute(&conn, &window, now)?;
            best = best.min(started.elapsed().as_secs_f64());
            settled = m.settled + m.holds;
        }
        println!(
            "report {label:>8}: {settled:>8} settled decisions, best of 3 {:.3}s",
            best
        );
    }
    let started = Instant::now();
    let m = metrics::compute(&conn, &Window::Days(7), now)?;
    let _ = polyperf::report::render_table(&m, false);
    let _ = polyperf::report::html_page(&m, &polyperf::report::Extras::default());
    println!(
        "7-day compute + table + html: {:.3}s",
        started.elapsed().as_secs_f64()
    );
    // The charts alone, over the all-time figures (the equity curve's many points).
    let all = metrics::compute(&conn, &Window::All, now)?;
    let chart = polyperf::report::chart::png;
    timed("png", || chart(&all).map(|b| b.len()))?;
    timed("svg", || {
        polyperf::report::chart::svg(&all).map(|s| s.len())
    })?;
    let equity = polyperf::report::chart::equity_png;
    timed("equity png", || equity(&all).map(|b| b.len()))?;
    Ok(())
}

/// Runs one chart rendering and prints its size and time.
fn timed(label: &str, render: impl FnOnce() -> anyhow::Result<usize>) -> anyhow::Result<()> {
    let started = Instant::now();
    let bytes = render()?;
    println!(
        "all-time {label:>10} chart: {bytes:>8} bytes in {:.3}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
