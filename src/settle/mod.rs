//! Settlement (polyperf-settle): decides the outcome and fee-aware P&L of every decision whose
//! window has ended, from Gamma's official resolution or, as a fallback, Binance candles.
//! Never holds a transaction across an HTTP call; every write is compare-and-set.
//!
//! Files: [`pnl`] and `decide.rs` are the pure part (outcome and money; a row's verdict from
//! `Rules`); [`gamma`] and [`binance`] the APIs; `batch.rs` settles one batch of due
//! rows; `cache.rs` remembers markets and candles; `store.rs` holds the SQL on `trades`;
//! `windows.rs` fills missing market windows; `correct.rs` corrects price results once the
//! official one is known.

mod batch;
pub mod binance;
mod cache;
mod correct;
mod decide;
pub mod fees;
pub mod gamma;
mod lag;
pub mod pnl;
mod reasons;
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
use self::fees::FeeModel;
use self::store::select_due;
use self::windows::fill_windows;
use crate::config::Notify;
use crate::error::bad_input;
use crate::http::Http;
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
    symbol: String,
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
        symbol: s.price_symbol.clone(),
        notify: ctx.settings.telegram.notify,
    };
    let cutoff = sub(ctx.now, Duration::seconds(i64::from(s.grace_seconds)))?;
    let lag_cutoff = sub(ctx.now, Duration::hours(i64::from(s.alert_lag_hours)))?;
    let mut stats = Stats::default();
    let mut memory = Memory::default();

    fill_windows(&mut ctx.conn, &plan, &mut memory, &mut stats).await?;

    let mut cursor = (String::new(), 0i64);
    loop {
        let rows = select_due(&ctx.conn, cutoff, &cursor, batch_size)?;
        let Some(last) = rows.last() else { break };
        cursor = (last.end_text.clone().unwrap_or_default(), last.id);
        settle_batch(&mut ctx.conn, &plan, &mut memory, &rows, &mut stats).await?;
    }

    if plan.rules.gamma {
        correct_price_results(&mut ctx.conn, &plan, &mut memory, &mut stats).await?;
    }
    if !plan.dry_run {
        lag::alert_lagging(&mut ctx.conn, &plan.notify, lag_cutoff, ctx.now)?;
        if stats.settled > 0 || stats.corrected > 0 {
            queue_summary(&mut ctx.conn, &plan.notify, &stats, &mut memory, ctx.now)?;
        }
    }
    stats.http_requests = plan.http.requests();
    stats.profit = stats.profit.normalize();
    if let Some(outage) = memory.outage.take() {
        tracing::warn!(
            n_settled = stats.settled,
            n_pending = stats.pending,
            "a remote API was unavailable: work left for the next run"
        );
        return Err(outage);
    }
    // The runner prints the figures, once.
    Ok(stats)
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
