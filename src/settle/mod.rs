//! Settlement (polyperf-settle): decides the outcome and fee-aware P&L of every decision whose
//! window has ended, from Gamma's official resolution or, as a fallback, Binance candles.
//! Never holds a transaction across an HTTP call; every write is compare-and-set.
//!
//! Nothing real stops a run: one market Gamma cannot describe, one remote answer that cannot
//! be read, one row that cannot be settled affects only itself (set aside with a reason, or left
//! to wait); an API that is down or refuses leaves only what needs it pending.
//!
//! Files: `decide.rs` is the pure part (a row's verdict from `Rules`; the outcome and money are
//! [`crate::money`]); [`gamma`] and [`binance`] the APIs; `batch.rs` settles one batch of due
//! rows; `cache.rs` remembers markets and candles; `store.rs` the disagreements (the SQL on
//! `trades` is `trades::settle`'s);
//! `windows.rs` fills missing market windows; `correct.rs` corrects price results once the
//! official one is known; `lag.rs` is the one outage alert; `sources.rs` remembers a price
//! source that refuses this host.

mod batch;
pub mod binance;
mod cache;
mod correct;
mod decide;
pub mod gamma;
mod lag;
mod reasons;
mod sources;
mod store;
mod verify;
mod windows;

pub use verify::{resettle, verify, VerifyReport};

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use rusqlite::Connection;
use rust_decimal::Decimal;
use serde::Serialize;

use self::batch::settle_batch;
use self::cache::Memory;
use self::correct::correct_price_results;
use self::decide::Rules;
use self::windows::fill_windows;
use crate::config::Notify;
use crate::error::bad_input;
use crate::http::Http;
use crate::money::fees::FeeModel;
use crate::outbox::{self, message, Message};
use crate::runner::JobContext;
use crate::time::sub;

/// Where outcomes may come from (`settlement.source`, `--source`).
pub use crate::config::Source;

/// Flags of polyperf-settle beyond the common ones; `None` keeps the setting.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub source: Option<Source>,
    pub batch_size: Option<u32>,
}

/// The `--json` object of a run.
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct Stats {
    pub settled: u64,
    pub wins: u64,
    pub losses: u64,
    /// Sum of `profit_loss` of the decisions settled by this run (USDC).
    pub profit: Decimal,
    pub holds_scored: u64,
    pub missed_opportunities: u64,
    /// Due decisions looked at and left pending (no result yet, or waiting for the official one).
    pub pending: u64,
    pub unsettleable: u64,
    pub disagreements: u64,
    pub corrected: u64,
    /// YES/NO decisions settled on a 50-50 resolution: $0.50 a share, neither a win nor a loss.
    pub fifty_fifty: u64,
    /// Decisions still pending `alert_lag_hours` after their window (one alert says so).
    pub lagging: u64,
    /// Why the price fallback is off, when its source refuses this host or a symbol.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub price_fallback_off: Vec<String>,
    /// Markets whose official answer cannot settle their decisions, each with why (the first
    /// `MAX_LISTED`): not an Up/Down market (its decisions are set aside), or an answer that
    /// cannot be read (they wait).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub market_problems: Vec<String>,
    pub http_requests: u64,
}

/// Settles with the settings' source and batch size.
pub async fn run(ctx: &mut JobContext) -> Result<Stats> {
    run_with(ctx, &Options::default()).await
}

/// pending before it is set aside as unsettleable.
const NO_WINDOW_WAIT_HOURS: i64 = 24;
/// Largest results listed in the settlement summary message.
const SUMMARY_TOP: usize = 5;
/// Markets listed by name in a run's figures.
const MAX_LISTED: usize = 20;

/// Everything a run decides once: the rules of a verdict, and where and how to ask.
struct Plan {
    rules: Rules,
    now: DateTime<Utc>,
    /// Decisions logged before this without a window are set aside ([`NO_WINDOW_WAIT_HOURS`]).
    no_window_before: DateTime<Utc>,
    dry_run: bool,
    http: Http,
    gamma_base: String,
    binance_base: String,
    /// Each asset's Binance symbol; an asset without one waits for the official result.
    symbols: crate::config::PriceSymbols,
    /// Whether (and how) its notifications are queued.
    notify: Notify,
}

pub async fn run_with(ctx: &mut JobContext, options: &Options) -> Result<Stats> {
    let s = &ctx.settings.settlement;
    let source = match options.source {
        Some(source) => source,
        None => s.source,
    };
    if source == Source::Gamma && !s.gamma_enabled {
        return Err(bad_input("--source gamma needs settlement.gamma_enabled"));
    }
    let batch_size = options.batch_size.unwrap_or(s.batch_size).max(1);
    let model = FeeModel::new(s.fee_rate, s.fee_exponent)
        .map_err(|e| bad_input(format!("settlement fee model: {e:#}")))?;
    let rules = Rules {
        source,
        gamma: s.gamma_enabled && source != Source::Price,
        tie: s.tie_rule,
        default_fee: if s.fees_enabled {
            model
        } else {
            FeeModel::NONE
        },
        default_exponent: model.exponent,
        fee_asset: s.fee_asset,
        official_before: sub(
            ctx.now,
            Duration::minutes(i64::from(s.official_wait_minutes)),
        )?,
    };
    let plan = Plan {
        rules,
        now: ctx.now,
        no_window_before: sub(ctx.now, Duration::hours(NO_WINDOW_WAIT_HOURS))?,
        dry_run: ctx.dry_run,
        http: Http::from_settings(&ctx.settings.apis)?,
        gamma_base: ctx.settings.apis.gamma_api_base.clone(),
        binance_base: ctx.settings.apis.binance_api_base.clone(),
        symbols: s.effective_price_symbols(),
        notify: ctx.settings.telegram.notify,
    };
    let cutoff = sub(ctx.now, Duration::seconds(i64::from(s.grace_seconds)))?;
    let lag_cutoff = sub(ctx.now, Duration::hours(i64::from(s.alert_lag_hours)))?;
    let lag_hours = s.alert_lag_hours;
    let mut stats = Stats::default();
    let mut memory = Memory {
        refused: sources::load(&ctx.conn, &plan.binance_base, ctx.now)?,
        ..Memory::default()
    };

    fill_windows(&mut ctx.conn, &plan, &mut memory, &mut stats).await?;

    let mut cursor = crate::trades::DueCursor::default();
    loop {
        let rows = crate::trades::due(&ctx.conn, cutoff, &mut cursor, batch_size)?;
        if rows.is_empty() {
            break;
        }
        settle_batch(&mut ctx.conn, &plan, &mut memory, &rows, &mut stats).await?;
    }

    if plan.rules.gamma {
        correct_price_results(&mut ctx.conn, &plan, &mut memory, &mut stats).await?;
    }
    let lag = lag::LagCheck {
        notify: &plan.notify,
        lag_hours,
        cutoff: lag_cutoff,
        now: ctx.now,
        causes: causes(&memory),
    };
    finish(&mut ctx.conn, &plan, &lag, memory, stats)
}

/// The end of a run: what it leaves for the operator (the lag alert, a refusing price source,
/// the summary), its figures, and its exit: an API that was down (75) or answered nothing
/// usable (1) left its markets pending while everything else was settled. A price source that
/// refuses this host is no failure of the run: it was reported once, and its markets wait for
/// the official result.
fn finish(
    conn: &mut Connection,
    plan: &Plan,
    lag: &lag::LagCheck<'_>,
    mut memory: Memory,
    mut stats: Stats,
) -> Result<Stats> {
    stats.market_problems = memory
        .market_problems
        .values()
        .take(MAX_LISTED)
        .cloned()
        .collect();
    stats.price_fallback_off = memory
        .refused
        .iter()
        .map(|(scope, why)| refusal_line(scope, why))
        .collect();
    if !plan.dry_run {
        stats.lagging = lag::alert_lagging(conn, lag)?;
        let seen = sources::Seen {
            base: &plan.binance_base,
            refused: &memory.refused_now,
            answered: &memory.answered,
            notify: &plan.notify,
            now: plan.now,
        };
        sources::record(conn, &seen)?;
        if stats.settled > 0 || stats.corrected > 0 {
            queue_summary(conn, &plan.notify, &stats, &mut memory, plan.now)?;
        }
    }
    stats.http_requests = plan.http.requests();
    stats.profit = stats.profit.normalize();
    if let Some(error) = memory.outage.take().or(memory.failure.take()) {
        tracing::warn!(
            n_settled = stats.settled,
            n_pending = stats.pending,
            "a remote API was unavailable: work left for the next run"
        );
        return Err(error);
    }
    // The runner prints the figures, once.
    Ok(stats)
}

/// One line per source that failed this run, for the lag alert.
fn causes(memory: &Memory) -> Vec<String> {
    let mut causes = Vec::new();
    if let Some(why) = &memory.gamma_trouble {
        causes.push(format!("Gamma: {why}"));
    }
    if let Some(why) = &memory.binance_trouble {
        causes.push(format!("Binance: {why}"));
    }
    for (scope, why) in &memory.refused {
        causes.push(refusal_line(scope, why));
    }
    causes
}

/// `Binance refuses this host (HTTP 451: …)`, or `… refuses ETHUSDT (…)`.
fn refusal_line(scope: &str, why: &str) -> String {
    let what = if scope == sources::EVERY_SYMBOL {
        "this host".to_string()
    } else {
        scope.to_string()
    };
    format!(
        "Binance refuses {what} ({}): the price fallback is off",
        crate::http::short(why)
    )
}

fn queue_summary(
    conn: &mut Connection,
    notify: &Notify,
    stats: &Stats,
    memory: &mut Memory,
    now: DateTime<Utc>,
) -> Result<()> {
    memory.results.sort_by_key(|r| std::cmp::Reverse(r.0.abs()));
    let summary = message::SettlementSummary {
        settled: stats.settled,
        wins: stats.wins,
        losses: stats.losses,
        holds_scored: stats.holds_scored,
        missed_opportunities: stats.missed_opportunities,
        unsettleable: stats.unsettleable,
        corrected: stats.corrected,
        disagreements: stats.disagreements,
        fifty_fifty: stats.fifty_fifty,
        profit: stats.profit,
        largest: memory
            .results
            .iter()
            .take(SUMMARY_TOP)
            .map(|(_, r)| r.clone())
            .collect(),
    };
    let tx = crate::db::write_tx(conn)?;
    outbox::enqueue(&tx, notify, &Message::Settlement(summary), None, now)?;
    tx.commit()?;
    Ok(())
}
