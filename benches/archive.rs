//! Archive and restore N simulated decisions (default 1,000,000): rows/s both ways and peak
//! memory (VmHWM, reset between phases). `cargo bench --bench archive [-- N]` or
//! `POLYPERF_BENCH_ROWS=N`.

use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};

fn vm_hwm_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Resets the peak-RSS counter (Linux >= 4.0), so each phase reports its own peak.
fn reset_hwm() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .or_else(|| std::env::var("POLYPERF_BENCH_ROWS").ok()?.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let mut settings = polyperf::config::Settings::default();
    settings.general.db = dir.path().join("source.db");
    settings.archive.dir = dir.path().join("archive");
    let mut conn = polyperf::db::create(&settings.general.db)?;

    // Seed day by day (100 decisions per 15-minute market), so seeding memory stays small.
    let started = Instant::now();
    let first_day = Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap();
    let mut stored = 0;
    let mut day = 0;
    while stored < n {
        let candles = polyperf::sim::candles(first_day + Duration::days(day), 1440, day as u64);
        let decisions = polyperf::sim::decisions(&candles, 100, 7);
        let tx = polyperf::db::write_tx(&mut conn)?;
        for d in decisions.iter().take(n - stored) {
            polyperf::decision::insert(&tx, d)?;
            stored += 1;
        }
        tx.commit()?;
        day += 1;
    }
    conn.execute_batch(
        "UPDATE trades SET
           settlement_status = CASE WHEN id % 11 = 0 THEN 'unsettleable' ELSE 'settled' END,
           actual_outcome = CASE WHEN id % 11 = 0 THEN NULL WHEN id % 2 = 0 THEN 'UP' ELSE 'DOWN' END,
           is_win = CASE WHEN id % 11 = 0 OR action = 'HOLD' THEN NULL ELSE (id % 3 != 0) END,
           is_missed_opportunity = CASE WHEN action = 'HOLD' AND id % 11 != 0 THEN id % 2 END,
           profit_loss = CASE WHEN id % 11 = 0 THEN NULL WHEN action = 'HOLD' THEN '0'
                              WHEN id % 3 != 0 THEN '4.3' || (id % 10) ELSE '-' || position_size END,
           fee = CASE WHEN action = 'HOLD' OR id % 11 = 0 THEN NULL ELSE '0.0' || (id % 97) END,
           settled_at = datetime(timestamp, '+20 minutes');
         PRAGMA wal_checkpoint(TRUNCATE);",
    )?;
    let db_bytes = std::fs::metadata(&settings.general.db)?.len();
    println!(
        "seeded {stored} decisions over {day} days in {:.1}s ({:.0} MB database)",
        started.elapsed().as_secs_f64(),
        db_bytes as f64 / 1e6
    );

    let now = first_day + Duration::days(day + 60);
    reset_hwm();
    let started = Instant::now();
    let stats = polyperf::archive::archive_older_than(
        &mut conn,
        &settings,
        now - Duration::days(30),
        now,
        false,
    )?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "archive: {} trades in {} files, {:.0} MB written, {:.1}s, {:.0} rows/s, peak {:.1} MB",
        stats.rows_archived.trades,
        stats.files_written,
        stats.bytes_written as f64 / 1e6,
        secs,
        stats.rows_archived.trades as f64 / secs,
        vm_hwm_mb()
    );
    assert_eq!(stats.rows_archived.trades as usize, n);
    drop(conn);

    let mut fresh = polyperf::db::create(&dir.path().join("restored.db"))?;
    let mut files: Vec<_> = std::fs::read_dir(&settings.archive.dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    reset_hwm();
    let started = Instant::now();
    let mut inserted = 0;
    for file in &files {
        let request = polyperf::archive::RestoreRequest {
            file,
            archive_dir: &settings.archive.dir,
            dry_run: false,
            progress: false,
        };
        inserted += polyperf::archive::restore(&mut fresh, &request)?.inserted;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "restore: {inserted} rows from {} files, {:.1}s, {:.0} rows/s, peak {:.1} MB",
        files.len(),
        secs,
        inserted as f64 / secs,
        vm_hwm_mb()
    );
    assert_eq!(inserted as usize, n);
    Ok(())
}
