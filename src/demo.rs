//! The offline demo's pieces (`polyperf demo` runs them in timer order and prints): local
//! settings, a simulated trader's decisions and candles, the queued messages as text, and one
//! archive file restored. No network, no keys.

use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::archive::RestoreReport;
use crate::config::Settings;
use crate::sim;

/// Days of the demo's trading that stay in `trades`; older ones are archived.
pub const LIVE_DAYS: u32 = 7;

/// The demo's settings: everything local, nothing reaches the network.
pub fn demo_settings(dir: &Path) -> Settings {
    let mut s = Settings::default();
    s.general.db = dir.join("performance.db");
    s.general.log_format = crate::config::LogFormat::Human;
    s.archive.dir = dir.join("archive");
    // The last week stays live (reports, status and the ready queries show it); older days go
    // to the archive and the daily rollup.
    s.archive.retention_days = LIVE_DAYS;
    s.settlement.gamma_enabled = false;
    s.settlement.source = crate::config::Source::Price;
    // Unroutable on purpose: every candle the demo needs is already in the price cache.
    s.apis.binance_api_base = "http://127.0.0.1:9".into();
    s.apis.http_max_attempts = 1;
    s.reflect.engine = crate::config::Engine::Rules;
    // A fresh install only observes; the demo shows tier 1 applied and tier 2 asking approval.
    s.adjust.autonomy = crate::config::Autonomy::Tier1;
    s.telegram.enabled = false;
    s.llm.api_key = None;
    // The demo's files take a few MB: judge free space by bytes only, so a laptop or CI host
    // whose disk is over 95% full still sees the hourly check pass instead of an emergency that
    // would archive the week the demo keeps live.
    s.cleanup.min_free_percent = 0.0;
    s.cleanup.min_free_bytes = 64 << 20;
    // No 64 MiB ballast file beside a demo database: it guards a server's disk, not a demo.
    s.cleanup.reserve_bytes = 0;
    s
}

/// Deletes a database file with its WAL and shared-memory files (a demo starts afresh), and the
/// ballast file an older demo left beside it.
pub fn remove_database(path: &Path) {
    for suffix in ["", "-wal", "-shm", ".reserve"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

/// What the simulated trader did.
#[derive(Debug, Clone, PartialEq)]
pub struct Trading {
    pub stored: u64,
    pub markets: usize,
    pub candles: usize,
    pub first_open: rust_decimal::Decimal,
    pub last_close: rust_decimal::Decimal,
}

/// A fresh database at `db` with `days` of a simulated trader's decisions up to `now`, and the
/// generated BTC candles in the price cache (settlement finds them there).
pub fn simulate(db: &Path, now: DateTime<Utc>, days: i64, seed: u64) -> Result<Trading> {
    let start = sim::days_before(now, days);
    let minutes = (now - start).num_minutes().max(0) as usize;
    let candles = sim::candles(start, minutes, seed);
    let decisions = sim::decisions(&candles, 3, seed);
    let mut tracker = crate::Tracker::from_connection(crate::db::create(db)?);
    let report = tracker.log_batch(&decisions)?;
    cache_candles(tracker.connection(), &candles, now)?;
    Ok(Trading {
        stored: report.stored,
        markets: decisions.len() / 3,
        candles: candles.len(),
        first_open: candles.first().map(|c| c.open).unwrap_or_default(),
        last_close: candles.last().map(|c| c.close).unwrap_or_default(),
    })
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

/// One archive file restored into a fresh database.
pub struct Restored {
    pub file: PathBuf,
    pub into: PathBuf,
    pub report: RestoreReport,
}

/// Restores the first trades archive file into a fresh `restored.db` in `dir`, to show the
/// round trip. `None` when there is no archive file.
pub fn restore_first(settings: &Settings, dir: &Path) -> Result<Option<Restored>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(&settings.archive.dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("trades-"))
    });
    files.sort();
    let Some(file) = files.into_iter().next() else {
        return Ok(None);
    };
    let into = dir.join("restored.db");
    remove_database(&into);
    let mut conn = crate::db::create(&into)?;
    let request = crate::archive::RestoreRequest {
        file: &file,
        archive_dir: &settings.archive.dir,
        dry_run: false,
        progress: false,
    };
    let report = crate::archive::restore(&mut conn, &request)?;
    Ok(Some(Restored { file, into, report }))
}

/// The waiting messages of one kind: how many, and the newest as Telegram would show it (as
/// plain text).
pub struct Queued {
    pub kind: String,
    pub n: i64,
    pub text: String,
}

/// One [`Queued`] per kind of waiting message, oldest kind first.
pub fn queued_messages(db: &Path) -> Result<Vec<Queued>> {
    let conn = crate::db::open(db)?;
    Ok(crate::outbox::pending_by_kind(&conn)?
        .into_iter()
        .map(|(kind, n, payload)| {
            let text = strip_tags(&crate::telegram::render::render_row(&kind, &payload));
            Queued { kind, n, text }
        })
        .collect())
}

/// The trade feed's waiting alerts and results (they are read from `trades`, not queued), with
/// the newest result as plain text.
pub fn feed_preview(
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<crate::telegram::feed::Preview> {
    let mut conn = crate::db::open(&settings.general.db)?;
    let mut preview = crate::telegram::feed::preview(&mut conn, settings, now)?;
    preview.last_result = preview.last_result.as_deref().map(strip_tags);
    Ok(preview)
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
