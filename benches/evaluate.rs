//! `polyperf evaluate` over N settled decisions (default 100,000) spread over a year (one
//! every ~5 minutes, 15-minute markets), with the rules engine at autonomy tier1: wall time
//! and peak memory (VmHWM). The history has an edge (below 0.80 a third of trades lose more
//! often), so the loop reflects and changes parameters along the way.
//!
//! `cargo bench --bench evaluate [-- N]` (aim: under 10 s for 100,000).

mod common;

use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use polyperf::config::{Autonomy, Engine, Settings};
use polyperf::evaluate::{self, Options, Rules};
use rusqlite::params;

fn main() {
    let n = common::rows(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("performance.db");
    let mut conn = polyperf::db::create(&path).expect("open db");
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let span = 365 * 86_400i64;
    {
        let tx = polyperf::db::write_tx(&mut conn).unwrap();
        let mut stmt = tx
            .prepare(
                "INSERT INTO trades (decision_id, timestamp, market_slug, action, confidence,
                     position_size, btc_price, executed_price, yes_price, no_price, final_score,
                     market_end, settlement_status, settled_at, actual_outcome, is_win,
                     profit_loss, fee, fee_asset, liquidity, is_missed_opportunity)
                 VALUES (?1, ?2, 'btc-updown-15m-1767225600', ?3, ?4, ?5, '66000', ?6, '0.50',
                     '0.50', ?7, ?8, 'settled', ?8, ?9, ?10, ?11, ?12, ?13, 'taker', ?14)",
            )
            .unwrap();
        for i in 0..n {
            let at = start + Duration::seconds(i as i64 * span / n as i64);
            let end = at + Duration::minutes(15);
            let conf = 0.70 + (i % 25) as f64 / 100.0;
            let hold = conf < 0.75;
            // Below 0.80 a trade wins 40% of the time, above it 60%.
            let p = if conf < 0.80 { 40 } else { 60 };
            let up = (i * 7919) % 100 < p;
            let won = up;
            stmt.execute(params![
                format!("e-{i}"),
                polyperf::time::to_db(at),
                if hold { "HOLD" } else { "YES" },
                conf,
                if hold { "0" } else { "10" },
                if hold { None } else { Some("0.50") },
                0.3,
                polyperf::time::to_db(end),
                if up { "UP" } else { "DOWN" },
                if hold { None } else { Some(won) },
                if hold {
                    None
                } else if won {
                    Some("9.3")
                } else {
                    Some("-10")
                },
                if hold { None } else { Some("0.35") },
                if hold { None } else { Some("shares") },
                if hold { Some(up) } else { None },
            ])
            .unwrap();
        }
        drop(stmt);
        tx.commit().unwrap();
    }
    drop(conn);
    let conn = polyperf::db::open(&path).unwrap();
    let settings = Settings::default();
    let opts = Options {
        now: start + Duration::seconds(span) + Duration::hours(1),
        engine: Engine::Rules,
        autonomy: Autonomy::Tier1,
        since: None,
    };
    common::reset_peak();
    let t = Instant::now();
    let e = evaluate::run(&conn, &settings, &opts, &mut Rules).unwrap();
    let secs = t.elapsed().as_secs_f64();
    for c in &e.changes {
        println!(
            "  {} {} {} -> {} (tier {:?}, {})",
            c.at, c.parameter, c.old, c.new, c.tier, c.method
        );
    }
    println!(
        "evaluate: {n} decisions, {} days, {} reflections, {} changes, improvement {} (95% CI {}..{}), {:.2}s, peak {:.1} MB",
        e.folds,
        e.reflections,
        e.changes.len(),
        e.improvement.profit,
        e.improvement.ci[0],
        e.improvement.ci[1],
        secs,
        common::vm_kib("VmHWM:") as f64 / 1024.0
    );
}
