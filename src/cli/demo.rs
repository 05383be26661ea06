//! `polyperf demo`: the whole system offline on embedded defaults, in `./demo`: two weeks of
//! synthetic BTC prices, a simulated trader, then every job in timer order (settle from the
//! generated candles, reflect with the rules engine, adjust, telegram disabled, the walk-forward
//! evaluation, archive what is older than a week, restore one file, cleanup) and the report. No
//! network, no keys; finishes in seconds, and leaves a database its printed suggestions work on.

use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use super::report::ReportArgs;
use super::GlobalArgs;
use crate::demo;

#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Directory for the demo's database, archive and report
    #[arg(long, default_value = "demo")]
    pub dir: PathBuf,
    /// Days of simulated trading (1 to 366); the last 7 stay live, older days are archived
    #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(i64).range(1..=366))]
    pub days: i64,
    /// Seed of the synthetic data
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// `println!` through [`crate::output`]: a reader that went away ends the demo's story quietly.
macro_rules! say {
    ($($arg:tt)*) => {
        crate::output::println(&format!($($arg)*))
    };
}

fn heading(text: &str) {
    say!(
        "\n── {text} {}",
        "─".repeat(70usize.saturating_sub(text.len()))
    );
}

/// The commands the demo suggests at the end, as they run from where the demo ran: this very
/// binary by its path (`target/release/polyperf` after README's `cargo run --release`; no
/// `polyperf` on PATH is assumed), and the ready SQL queries when the `sqlite3` shell is
/// installed. Each works on what the demo leaves (a test runs them as printed).
pub fn suggestions(
    dir: &std::path::Path,
    db: &std::path::Path,
    archive: &std::path::Path,
) -> Vec<String> {
    let chart = dir.join("week.png");
    let (db, archive, chart) = (db.display(), archive.display(), chart.display());
    let exe = this_binary();
    let mut lines = Vec::new();
    if std::path::Path::new("sql/queries").is_dir() && on_path("sqlite3") {
        lines.push(format!("sqlite3 {db} < sql/queries/all_time.sql"));
        lines.push(format!("sqlite3 {db} < sql/queries/win_rate_by_signal.sql"));
        lines.push(format!("sqlite3 {db} < sql/queries/daily_pnl.sql"));
    }
    lines.extend([
        format!("{exe} --db {db} status"),
        format!("{exe} --db {db} report --by day"),
        format!("{exe} --db {db} report --days 7 --chart {chart}"),
        format!("{exe} --db {db} archive list --archive-dir {archive}"),
        format!("{exe} --db {db} archive verify --archive-dir {archive}"),
    ]);
    lines
}

/// This binary's path as the user can type it from here: relative to the working directory
/// when it lies below it (`target/release/polyperf`), else absolute; `polyperf` if unknown.
fn this_binary() -> String {
    let Ok(exe) = std::env::current_exe() else {
        return "polyperf".into();
    };
    let here = std::env::current_dir().unwrap_or_default();
    match exe.strip_prefix(&here) {
        Ok(relative) => relative.display().to_string(),
        Err(_) => exe.display().to_string(),
    }
}

/// Whether `program` is found on PATH.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// The demo's run: its settings, database, `now`, and a runtime to run jobs on.
struct Demo {
    settings: crate::config::Settings,
    db_path: PathBuf,
    now: DateTime<Utc>,
    runtime: tokio::runtime::Runtime,
}

impl Demo {
    /// Runs one job of the table by name, as the scheduler would, at `now`.
    fn job(&self, name: &str) -> Result<u8> {
        let job = crate::schedule::find(name)?;
        let run = crate::schedule::run_job(job, self.settings.clone(), self.now);
        Ok(self.runtime.block_on(run))
    }
}

pub fn run(global: &GlobalArgs, args: DemoArgs) -> Result<u8> {
    crate::runner::init_tracing_at(crate::config::LogFormat::Human, global.log_level());
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let settings = demo::demo_settings(&args.dir);
    let db_path = settings.general.db.clone();
    demo::remove_database(&db_path);
    let _ = std::fs::remove_dir_all(&settings.archive.dir);
    let started = std::time::Instant::now();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let demo = Demo {
        settings,
        db_path,
        now: Utc::now(),
        runtime,
    };
    trade(&demo, &args)?;
    jobs(&demo)?;
    evaluate(&demo)?;
    archive(&demo, &args)?;
    heading("8. polyperf-cleanup: disk check and housekeeping");
    demo.job("cleanup")?;
    let (html, chart) = report(&demo, global, &args)?;
    say!(
        "\ndemo finished in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    say!("  database  {}", demo.db_path.display());
    say!("  archive   {}", demo.settings.archive.dir.display());
    say!(
        "  report    {}  (chart {})",
        html.display(),
        chart.display()
    );
    say!("try:");
    for command in suggestions(&args.dir, &demo.db_path, &demo.settings.archive.dir) {
        say!("  $ {command}");
    }
    Ok(0)
}

/// Step 1: a simulated trader logs its decisions (and the candles they were taken on).
fn trade(demo: &Demo, args: &DemoArgs) -> Result<()> {
    heading(&format!(
        "1. a simulated trader logs {} days of decisions",
        args.days
    ));
    let trading = demo::simulate(&demo.db_path, demo.now, args.days, args.seed)?;
    say!(
        "{} decisions on {} markets logged to {} ({} BTC candles generated, {:.0} → {:.0} USD)",
        trading.stored,
        trading.markets,
        demo.db_path.display(),
        trading.candles,
        trading.first_open,
        trading.last_close
    );
    Ok(())
}

/// Steps 2 to 5: settle, reflect, adjust and telegram in timer order, then what waits to be
/// sent.
fn jobs(demo: &Demo) -> Result<()> {
    heading("2. polyperf-settle: outcomes and fee-aware P&L from the price history");
    demo.job("settle")?;
    heading("3. polyperf-reflect: triggers and the rules engine");
    demo.job("reflect")?;
    demo.job("reflect-daily")?;
    heading("4. polyperf-adjust: tiers, approvals, the emergency-pause guard");
    demo.job("adjust")?;
    heading("5. polyperf-telegram: disabled, so messages stay queued");
    demo.job("telegram")?;
    for queued in demo::queued_messages(&demo.db_path)? {
        say!(
            "[{}: {} queued] {}",
            queued.kind,
            queued.n,
            queued.text.lines().take(4).collect::<Vec<_>>().join(" | ")
        );
    }
    let feed = demo::feed_preview(&demo.settings, demo.now)?;
    say!(
        "[trade feed: {} new trades, {} results waiting; read from `trades` once Telegram is on] {}",
        crate::words::count(feed.alerts),
        crate::words::count(feed.results),
        feed.last_result.unwrap_or_default()
    );
    Ok(())
}

/// Step 6: the walk-forward evaluation of the learning loop, stored for the report.
fn evaluate(demo: &Demo) -> Result<()> {
    heading("6. polyperf evaluate: what the learning loop's changes would have earned");
    let conn = crate::db::open(&demo.db_path)?;
    let opts = crate::evaluate::Options {
        now: demo.now,
        engine: crate::config::Engine::Rules,
        autonomy: demo.settings.adjust.autonomy,
        since: None,
    };
    let e = crate::evaluate::run(&conn, &demo.settings, &opts, &mut crate::evaluate::Rules)?;
    crate::evaluate::store(&conn, &e, demo.now)?;
    say!(
        "{} days replayed, {} changes; improvement {} USDC (95% CI {}..{}); the report shows it",
        e.folds,
        e.changes.len(),
        e.improvement.profit.round_dp(2),
        e.improvement.ci[0],
        e.improvement.ci[1]
    );
    Ok(())
}

/// Step 7: archival, the all-time P&L before and after it, and one file restored.
fn archive(demo: &Demo, args: &DemoArgs) -> Result<()> {
    heading(&format!(
        "7. polyperf-archive: days older than {} to compressed JSON",
        demo::LIVE_DAYS
    ));
    let all_time = || -> Result<rust_decimal::Decimal> {
        let conn = crate::db::open(&demo.db_path)?;
        let window = crate::metrics::Window::All;
        Ok(crate::metrics::compute(&conn, &window, demo.now)?.total_profit)
    };
    let before = all_time()?;
    demo.job("archive")?;
    say!(
        "all-time P&L before archival {} / after {} (the daily rollup keeps all-time figures)",
        before,
        all_time()?
    );
    match demo::restore_first(&demo.settings, &args.dir)? {
        Some(restored) => say!(
            "restored {} into {}: {} rows inserted, {} skipped (polyperf archive restore FILE)",
            restored.file.display(),
            restored.into.display(),
            restored.report.inserted,
            restored.report.skipped
        ),
        None => say!(
            "no archive file yet: every decision is younger than {} days",
            demo::LIVE_DAYS
        ),
    }
    Ok(())
}

/// Step 9: the report of all time, archived days and live rows alike (every figure survives
/// archival), with its HTML page and chart, then the status. Returns where the page and the
/// chart are.
fn report(demo: &Demo, global: &GlobalArgs, args: &DemoArgs) -> Result<(PathBuf, PathBuf)> {
    heading("9. polyperf report (all time: the archived days and the live rows)");
    let html = args.dir.join("report.html");
    let chart = args.dir.join("chart.svg");
    let report_args = ReportArgs {
        by: Some(crate::metrics::By::Day),
        html: Some(html.clone()),
        chart: Some(chart.clone()),
        now: Some(demo.now),
        ..Default::default()
    };
    let report_global = GlobalArgs {
        db: Some(demo.db_path.clone()),
        config: None,
        json: global.json,
        verbose: global.verbose,
    };
    super::report::run(&report_global, report_args)?;

    heading("status");
    let conn = crate::db::open(&demo.db_path)?;
    let status = crate::status::collect(&conn, &demo.settings, demo.now)?;
    crate::output::print(&crate::status::render(&status));
    Ok((html, chart))
}
