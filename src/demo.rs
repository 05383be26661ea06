//! `polyperf demo`: the whole system offline on embedded defaults, in `./demo`: a week of
//! synthetic BTC prices, a simulated trader, then every job in timer order (settle from the
//! generated candles, reflect with the rules engine, adjust, telegram disabled, archive a month
//! later, restore one file) and the report. No network, no keys; finishes in seconds.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};

use crate::cli::GlobalArgs;
use crate::config::Settings;
use crate::sim;

#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Directory for the demo's database, archive and report
    #[arg(long, default_value = "demo")]
    pub dir: PathBuf,
    /// Days of simulated trading (1 to 366)
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(i64).range(1..=366))]
    pub days: i64,
    /// Seed of the synthetic data
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// The demo's settings: everything local, nothing reaches the network.
pub fn demo_settings(dir: &Path) -> Settings {
    let mut s = Settings::default();
    s.general.db = dir.join("performance.db");
    s.general.log_format = crate::config::LogFormat::Human;
    s.archive.dir = dir.join("archive");
    s.settlement.gamma_enabled = false;
    s.settlement.source = crate::config::Source::Price;
    // Unroutable on purpose: every candle the demo needs is already in the price cache.
    s.apis.binance_api_base = "http://127.0.0.1:9".into();
    s.apis.http_max_attempts = 1;
    s.reflect.engine = crate::config::Engine::Rules;
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
    crate::runner::init_tracing(crate::config::LogFormat::Human);
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
    let mut tracker = crate::Tracker::from_connection(crate::db::create(&db_path)?);
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
    let run = |job: &str, at: DateTime<Utc>| -> Result<u8> {
        let job = crate::schedule::find(job)?;
        Ok(runtime.block_on(crate::schedule::run_job(job, settings.clone(), Some(at))))
    };

    heading("2. polyperf-settle: outcomes and fee-aware P&L from the price history");
    run("settle", now)?;
    heading("3. polyperf-reflect: triggers and the rules engine");
    run("reflect", now)?;
    run("reflect-daily", now)?;
    heading("4. polyperf-adjust: tiers, approvals, the emergency-pause guard");
    run("adjust", now)?;
    heading("5. polyperf-telegram: disabled, so messages stay queued");
    run("telegram", now)?;
    show_queued_messages(&db_path)?;

    heading("6. polyperf report");
    let html = args.dir.join("report.html");
    let chart = args.dir.join("chart.svg");
    let report_args = crate::cli::report::ReportArgs {
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
    crate::cli::report::run(&report_global, report_args)?;
    let before = crate::metrics::compute(
        &crate::db::open(&db_path)?,
        &crate::metrics::Window::All,
        now,
    )?;

    heading("status (before the month passes)");
    let conn = crate::db::open(&db_path)?;
    let status = crate::status::collect(&conn, &settings, now)?;
    print!("{}", crate::status::render(&status));

    heading("7. polyperf-archive, a month later: old rows to compressed JSON");
    run("archive", now + Duration::days(31))?;
    let after = crate::metrics::compute(
        &crate::db::open(&db_path)?,
        &crate::metrics::Window::All,
        now + Duration::days(31),
    )?;
    println!(
        "all-time P&L before archival {} / after {} (the daily rollup keeps all-time figures)",
        before.total_profit, after.total_profit
    );
    restore_one(&settings, &args.dir)?;

    heading("8. polyperf-cleanup: disk check and housekeeping");
    run("cleanup", now + Duration::days(31))?;

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
    crate::settle::binance::store_candles(&tx, "BTCUSDT", candles, "demo", now)?;
    tx.commit()?;
    Ok(())
}

/// Restores the first trades archive file into a fresh database, to show the round trip.
fn restore_one(settings: &Settings, dir: &Path) -> Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(&settings.archive.dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("trades-"))
    });
    files.sort();
    let Some(file) = files.first() else {
        println!("no archive file to restore");
        return Ok(());
    };
    let restored_db = dir.join("restored.db");
    for suffix in ["", "-wal", "-shm"] {
        let mut p = restored_db.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    let mut conn = crate::db::create(&restored_db)?;
    let request = crate::archive::RestoreRequest {
        file,
        archive_dir: &settings.archive.dir,
        dry_run: false,
        progress: false,
    };
    let report = crate::archive::restore(&mut conn, &request)?;
    println!(
        "restored {} into {}: {} rows inserted, {} skipped (polyperf archive restore FILE)",
        file.display(),
        restored_db.display(),
        report.inserted,
        report.skipped
    );
    Ok(())
}

/// Prints, as text, one queued message of each kind: what Telegram would show.
fn show_queued_messages(db: &Path) -> Result<()> {
    let conn = crate::db::open(db)?;
    let mut stmt = conn.prepare(
        "SELECT kind, count(*), (SELECT payload FROM outbox o2 WHERE o2.kind = o.kind AND o2.status = 'pending' ORDER BY id DESC LIMIT 1)
         FROM outbox o WHERE status = 'pending' GROUP BY kind ORDER BY min(id)",
    )?;
    let rows: Vec<(String, i64, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (kind, n, payload) in rows {
        let payload: serde_json::Value = serde_json::from_str(&payload).unwrap_or_default();
        let text = strip_tags(&crate::telegram::render::render_row(&kind, &payload));
        println!(
            "[{kind}: {n} queued] {}",
            text.lines().take(4).collect::<Vec<_>>().join(" | ")
        );
    }
    Ok(())
}

/// HTML message text as plain terminal text.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}
