//! `polyperf demo`: the whole system offline on embedded defaults, in `./demo`: synthetic BTC
//! prices, a simulated trader, then the jobs. No network, no keys.

use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::{Duration, Utc};
use rusqlite::params;

use crate::runner::GlobalArgs;
use crate::sim;
use crate::time::to_db;

#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Directory for the demo's database, archive and report
    #[arg(long, default_value = "demo")]
    pub dir: PathBuf,
    /// Days of simulated trading
    #[arg(long, default_value_t = 1)]
    pub days: i64,
    /// Seed of the synthetic data
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

pub fn cli(global: &GlobalArgs, args: DemoArgs) -> Result<()> {
    crate::runner::init_tracing("human");
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let db_path = args.dir.join("performance.db");
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db_path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    let mut settings = crate::config::Settings::default();
    settings.general.db = db_path.clone();
    let now = Utc::now();
    let start = sim::days_before(now, args.days);
    let minutes = (args.days * 24 * 60) as usize;
    let candles = sim::candles(start, minutes, args.seed);
    let decisions = sim::decisions(&candles, 3, args.seed);

    let mut tracker = crate::Tracker::open(&db_path)?;
    let report = tracker.log_batch(&decisions)?;
    let conn = tracker.connection();
    let tx = crate::db::write_tx(conn)?;
    {
        let mut stmt = tx.prepare("INSERT OR IGNORE INTO prices (symbol, open_time_ms, open, high, low, close, source, fetched_at) VALUES ('BTCUSDT', ?1, ?2, ?3, ?4, ?5, 'demo', ?6)")?;
        for c in &candles {
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
    println!(
        "polyperf demo: {} ({} days of prices, {} decisions logged)",
        db_path.display(),
        args.days,
        report.stored
    );
    let status = crate::status::collect(conn, &settings, now + Duration::minutes(1))?;
    if global.json {
        println!("{}", serde_json::to_string(&status)?);
    } else {
        print!("{}", crate::status::render(&status));
    }
    Ok(())
}
