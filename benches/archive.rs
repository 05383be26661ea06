//! Archive and restore N simulated decisions (default 1,000,000): rows/s both ways and peak
//! memory (VmHWM, reset between phases). `cargo bench --bench archive [-- N]` or
//! `POLYPERF_BENCH_ROWS=N`.

use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};

mod common;

/// Peak resident memory so far, in MiB (NaN when unknown).
fn vm_hwm_mb() -> f64 {
    match common::vm_kib("VmHWM:") {
        0 => f64::NAN,
        kib => kib as f64 / 1024.0,
    }
}

fn main() -> anyhow::Result<()> {
    let n = common::rows(1_000_000);
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
            polyperf::trades::insert(&tx, d)?;
            stored += 1;
        }
        tx.commit()?;
        day += 1;
    }
    common::fixtures::settle_in_sql(&conn, "9999-12-31")?;
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    let db_bytes = std::fs::metadata(&settings.general.db)?.len();
    println!(
        "seeded {stored} decisions over {day} days in {:.1}s ({:.0} MB database)",
        started.elapsed().as_secs_f64(),
        db_bytes as f64 / 1e6
    );

    let now = first_day + Duration::days(day + 60);
    common::reset_peak();
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
    common::reset_peak();
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
