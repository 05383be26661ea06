//! Decision logging speed: bulk `polyperf log` of N JSON Lines decisions (library and process)
//! and single-decision `Tracker::log_decision` latency, on decisions shaped like a real
//! trader's (`common::trader_jsonl`, as `benches/floor.rs` uses).
//!
//! `cargo bench --bench log [-- N_BULK N_SINGLE]` (defaults 100000 and 2000).

use std::time::Instant;

use polyperf::decision::Decision;
use polyperf::Tracker;

mod common;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n_bulk = args.first().copied().unwrap_or(100_000);
    let n_single = args.get(1).copied().unwrap_or(2_000);
    let dir = tempfile::tempdir().expect("temp dir");

    // Decisions shaped like a real trader's (every optional field, ~70% YES/NO, UUID ids,
    // reasoning of a sentence or two): the simulated trader's short lines logged 3x faster.
    let text = common::trader_jsonl(n_bulk.max(n_single), 20);
    let jsonl = dir.path().join("decisions.jsonl");
    let bulk_lines: String = text.split_inclusive('\n').take(n_bulk).collect();
    std::fs::write(&jsonl, bulk_lines).unwrap();
    let decisions: Vec<Decision> = text
        .lines()
        .take(n_single)
        .map(|l| Decision::from_json(l).expect("a valid decision"))
        .collect();
    let bytes = std::fs::metadata(&jsonl).unwrap().len();

    // 1. Library: Tracker::log_reader over the file (one transaction).
    let db = dir.path().join("lib.db");
    polyperf::db::create(&db).unwrap();
    let mut tracker = Tracker::open(&db).unwrap();
    let (report, secs) = timed_log(&mut tracker, &jsonl);
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

    // 5. (Last, so that its million-row insert does not share the disk with the latencies
    //    above.) Bulk log into a database that has archived 1,000,000 decisions (issue 23: every chunk
    //    of 256 asks the index of archived decisions whether it re-logs one of them).
    let db5 = dir.path().join("archived.db");
    polyperf::db::create(&db5).unwrap();
    let mut tracker = Tracker::open(&db5).unwrap();
    tracker
        .connection()
        .execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000)
             INSERT INTO archived_decisions (decision_id, fingerprint, summary, trade_id)
             SELECT printf('%08x-0000-4000-8000-%012x', i * 2654435761 % 4294967296, i), i,
                    'YES 5.00 @ 0.52', i FROM n;
             PRAGMA wal_checkpoint(TRUNCATE);",
        )
        .unwrap();
    let (report, secs) = timed_log(&mut tracker, &jsonl);
    assert_eq!(report.stored as usize, n_bulk);
    println!(
        "bulk log, 1,000,000 archived decisions indexed: {:.3} s = {:.0} decisions/s",
        secs,
        n_bulk as f64 / secs
    );
}

/// `Tracker::log_reader` over the JSON Lines file at `path` (one transaction), and its seconds.
fn timed_log(tracker: &mut Tracker, path: &std::path::Path) -> (polyperf::trades::LogReport, f64) {
    let t = Instant::now();
    let report = tracker
        .log_reader(
            std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path).unwrap()),
            false,
        )
        .unwrap();
    (report, t.elapsed().as_secs_f64())
}
