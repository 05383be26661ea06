//! Decision logging speed: bulk `polyperf log` of N JSON Lines decisions (library and process)
//! and single-decision `Tracker::log_decision` latency.
//!
//! `cargo bench --bench log [-- N_BULK N_SINGLE]` (defaults 100000 and 2000).

use std::io::Write;
use std::time::Instant;

use chrono::{Duration, Utc};
use polyperf::{sim, Tracker};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n_bulk = args.first().copied().unwrap_or(100_000);
    let n_single = args.get(1).copied().unwrap_or(2_000);
    let dir = tempfile::tempdir().expect("temp dir");

    // Decisions from the simulated trader: ~35 days of 1-minute candles, 3 decisions per market.
    let minutes = (n_bulk / 3 + 2) * 15 + 15;
    let start = Utc::now() - Duration::days(400);
    let candles = sim::candles(start, minutes, 1);
    let decisions: Vec<_> = sim::decisions(&candles, 3, 1)
        .into_iter()
        .take(n_bulk)
        .collect();
    assert_eq!(decisions.len(), n_bulk, "simulated enough decisions");
    let jsonl = dir.path().join("decisions.jsonl");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&jsonl).unwrap());
        for d in &decisions {
            serde_json::to_writer(&mut f, d).unwrap();
            f.write_all(b"\n").unwrap();
        }
    }
    let bytes = std::fs::metadata(&jsonl).unwrap().len();

    // 1. Library: Tracker::log_reader over the file (one transaction).
    let db = dir.path().join("lib.db");
    polyperf::db::create(&db).unwrap();
    let mut tracker = Tracker::open(&db).unwrap();
    let t = Instant::now();
    let report = tracker
        .log_reader(
            std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&jsonl).unwrap()),
            false,
        )
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(report.stored as usize, n_bulk);
    println!(
        "bulk log (library)   {n_bulk} decisions, {:.1} MB JSONL: {:.3} s = {:.0} decisions/s",
        bytes as f64 / 1e6,
        secs,
        n_bulk as f64 / secs
    );

    // 2. Again: all duplicates (the idempotency path).
    let t = Instant::now();
    let report = tracker
        .log_reader(
            std::io::BufReader::new(std::fs::File::open(&jsonl).unwrap()),
            false,
        )
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(report.duplicates as usize, n_bulk);
    println!(
        "bulk re-log (dups)   {n_bulk} decisions: {:.3} s = {:.0} decisions/s",
        secs,
        n_bulk as f64 / secs
    );

    // 3. The process, as the trader or an operator runs it: `polyperf log FILE`.
    let db2 = dir.path().join("proc.db");
    polyperf::db::create(&db2).unwrap();
    let t = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_polyperf"))
        .env("POLYPERF_DB", &db2)
        .env("POLYPERF_LOG_FORMAT", "json")
        .args(["--json", "log"])
        .arg(&jsonl)
        .output()
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "bulk log (process)   {n_bulk} decisions: {:.3} s = {:.0} decisions/s  ({})",
        secs,
        n_bulk as f64 / secs,
        String::from_utf8_lossy(&out.stdout).trim()
    );

    // 4. Single decisions, each its own durable transaction (synchronous=FULL).
    let db3 = dir.path().join("single.db");
    polyperf::db::create(&db3).unwrap();
    let mut tracker = Tracker::open(&db3).unwrap();
    let mut latencies: Vec<f64> = decisions
        .iter()
        .take(n_single)
        .map(|d| {
            let t = Instant::now();
            tracker.log_decision(d).unwrap();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    latencies.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize];
    println!(
        "single log_decision  {n_single} calls: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        pct(0.50),
        pct(0.99),
        latencies.last().unwrap()
    );
}
