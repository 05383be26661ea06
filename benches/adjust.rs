//! Speed of polyperf-adjust on a realistic database: N settled decisions over the replay
//! window, P pending proposals. `cargo bench --bench adjust -- [N] [P]` (defaults 20000, 20;
//! env ADJUST_BENCH_TRADES / ADJUST_BENCH_PROPOSALS also work).

use std::time::Instant;

use chrono::Duration;
use polyperf::config::Settings;

mod common;

use common::fixtures::{insert_settled, Settled};

fn arg(index: usize, env: &str, default: usize) -> usize {
    std::env::args()
        .filter(|a| !a.starts_with('-'))
        .nth(index)
        .or_else(|| std::env::var(env).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let n_trades = arg(1, "ADJUST_BENCH_TRADES", 20_000);
    let n_proposals = arg(2, "ADJUST_BENCH_PROPOSALS", 20);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.db");
    let mut conn = polyperf::db::create(&path).expect("open");
    let now = polyperf::time::parse_rfc3339("2026-03-01T12:00:00Z").unwrap();
    let mut settings = Settings::default();
    settings.general.db = path.clone();
    // Keep the guard quiet so every run does the full proposal work.
    settings.adjust.max_consecutive_losses = 0;
    settings.adjust.daily_loss_limit = rust_decimal::Decimal::ZERO;
    settings.adjust.max_drawdown = rust_decimal::Decimal::ZERO;
    settings.adjust.win_rate_window = 0;

    let started = Instant::now();
    {
        let tx = polyperf::db::write_tx(&mut conn).unwrap();
        let mut rng = polyperf::sim::Rng::new(7);
        for i in 0..n_trades {
            let at =
                now - Duration::seconds((i as i64 * 13 * 86_400 / n_trades.max(1) as i64) + 60);
            let hold = rng.next_f64() < 0.4;
            let won = rng.next_f64() < 0.55;
            let conf = 0.5 + rng.next_f64() * 0.5;
            let id = format!("b{i}");
            let settled = Settled {
                decision_id: &id,
                at,
                action: if hold {
                    "HOLD"
                } else if won {
                    "YES"
                } else {
                    "NO"
                },
                confidence: conf,
                final_score: if i % 2 == 0 { 0.3 } else { -0.3 },
                outcome: if won { "UP" } else { "DOWN" },
                profit_loss: if hold {
                    None
                } else if won {
                    Some("4.65")
                } else {
                    Some("-5")
                },
                is_win: if hold { None } else { Some(won) },
            };
            insert_settled(&tx, &settled).unwrap();
        }
        tx.commit().unwrap();
    }
    let fill_ms = started.elapsed().as_secs_f64() * 1e3;

    let values = ["0.74", "0.76", "0.72", "0.80", "0.70"];
    for i in 0..n_proposals {
        conn.execute(
            "INSERT INTO proposals (created_at, parameter_name, current_value, proposed_value) VALUES ('2026-03-01 11:00:00', 'bot_confidence_threshold', '0.75', ?1)",
            [values[i % values.len()]],
        )
        .unwrap();
    }

    let started = Instant::now();
    let rows = polyperf::replay::load_rows(&conn, now, 14).unwrap();
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    let ev = polyperf::adjust::evidence(
        &conn,
        &settings,
        "bot_confidence_threshold",
        "0.75".parse().unwrap(),
        "0.72".parse().unwrap(),
        now,
    )
    .unwrap();
    let evidence_ms = started.elapsed().as_secs_f64() * 1e3;

    let started = Instant::now();
    let stats = polyperf::adjust::run_sync(&mut conn, &settings, now, false).unwrap();
    let run_ms = started.elapsed().as_secs_f64() * 1e3;

    let mut guard_settings = settings.clone();
    guard_settings.adjust = polyperf::config::Adjust::default();
    let started = Instant::now();
    let reps = 50;
    for _ in 0..reps {
        let g = polyperf::adjust::guard::figures(&conn, &guard_settings.adjust, now).unwrap();
        std::hint::black_box(g);
    }
    let guard_ms = started.elapsed().as_secs_f64() * 1e3 / reps as f64;

    println!("adjust bench: {n_trades} settled decisions, {n_proposals} proposals");
    println!("  fill                 {fill_ms:9.1} ms");
    println!(
        "  load replay rows     {load_ms:9.2} ms  ({} rows)",
        rows.len()
    );
    println!(
        "  one evidence         {evidence_ms:9.2} ms  (replayed n {})",
        ev.replayed.n
    );
    println!(
        "  full run             {run_ms:9.2} ms  ({:.2} ms/proposal; applied {}, awaiting {}, rejected {}, superseded {})",
        run_ms / n_proposals.max(1) as f64,
        stats.applied,
        stats.awaiting_approval,
        stats.rejected,
        stats.superseded
    );
    println!("  guard figures        {guard_ms:9.3} ms");
}
