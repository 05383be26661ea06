//! Settlement (polyperf-settle): decides the outcome and fee-aware P&L of every decision whose
//! window has ended, from Gamma's official resolution or, as a fallback, Binance candles.
//! Pure math lives in [`pnl`]; the APIs in [`gamma`] and [`binance`]; this module does the SQL.
//! Never holds a transaction across an HTTP call; every write is compare-and-set.

pub mod binance;
mod decide;
pub mod fees;
pub mod gamma;
mod lag;
pub mod pnl;
mod reasons;
mod verify;

pub use verify::{verify, VerifyReport};

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use rust_decimal::Decimal;
use serde::Serialize;

use self::binance::{Candle, MINUTE_MS};
use self::decide::{decide, price_evidence, read_row, Row, Settlement, Verdict, ROW_COLUMNS};
use self::fees::{FeeAssetRule, FeeModel};
use self::gamma::MarketInfo;
use self::pnl::{Outcome, TieRule};
use crate::db::{BtcPrice, Money};
use crate::error::bad_input;
use crate::http::Http;
use crate::outbox::{self, message, Message};
use crate::runner::JobContext;
use crate::time::{from_db, sub, to_db};

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
    pub holds_scored: u64,
    pub missed_opportunities: u64,
    /// Due decisions looked at and left pending (no result yet, or waiting for the official one).
    pub pending: u64,
    pub unsettleable: u64,
    pub disagreements: u64,
    pub corrected: u64,
    pub http_requests: u64,
    /// Sum of `profit_loss` of the decisions settled by this run (USDC).
    pub profit: Decimal,
}

/// Settles with the settings' source and batch size.
pub async fn run(ctx: &mut JobContext) -> Result<Stats> {
    run_with(ctx, &Options::default()).await
}

/// How far back price-settled rows are re-checked against the official result.
const CORRECTION_HORIZON_HOURS: i64 = 48;
/// How long after its timestamp a decision whose window neither its slug nor Gamma gives stays
/// pending before it is set aside as unsettleable.
const NO_WINDOW_WAIT_HOURS: i64 = 24;
/// Largest results listed in the settlement summary message.
const SUMMARY_TOP: usize = 5;

/// Everything a run decides once.
struct Plan {
    source: Source,
    gamma: bool,
    tie: TieRule,
    default_fee: FeeModel,
    default_exponent: u32,
    fee_asset: FeeAssetRule,
    now: DateTime<Utc>,
    /// Windows that ended before this had `official_wait_minutes` to get their official result.
    official_before: DateTime<Utc>,
    /// Decisions logged before this without a window are set aside ([`NO_WINDOW_WAIT_HOURS`]).
    no_window_before: DateTime<Utc>,
    dry_run: bool,
    http: Http,
    gamma_base: String,
    binance_base: String,
    symbol: String,
}

/// Run-wide memory: markets already asked about, candles fetched (kept only in a dry run, where
/// the cache table is not written).
#[derive(Default)]
struct Memory {
    markets: HashMap<String, MarketInfo>,
    asked: HashSet<String>,
    candles: HashMap<i64, (Decimal, Decimal)>,
    results: Vec<(Decimal, message::SettledResult)>,
    /// The first remote outage of the run: the affected markets stay pending, the others are
    /// settled, and the run ends with this error (exit 75). After it the API is not asked again.
    outage: Option<anyhow::Error>,
    gamma_down: bool,
    binance_down: bool,
}

/// Keeps a remote outage for the end of the run (`Ok(None)`); other errors, such as a malformed
/// answer, go up at once.
fn tolerate<T>(memory: &mut Memory, result: Result<T>) -> Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if crate::error::kind_of(&e) == Some(crate::error::Kind::TempFail) => {
            tracing::warn!(error = %crate::error::one_line(&e), "remote API unavailable: its markets stay pending");
            memory.outage.get_or_insert(e);
            Ok(None)
        }
        Err(e) => Err(e),
    }
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
    let plan = Plan {
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
        now: ctx.now,
        official_before: sub(
            ctx.now,
            Duration::minutes(i64::from(s.official_wait_minutes)),
        )?,
        no_window_before: sub(ctx.now, Duration::hours(NO_WINDOW_WAIT_HOURS))?,
        dry_run: ctx.dry_run,
        http: Http::from_settings(&ctx.settings.apis)?,
        gamma_base: ctx.settings.apis.gamma_api_base.clone(),
        binance_base: ctx.settings.apis.binance_api_base.clone(),
        symbol: s.price_symbol.clone(),
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

    if plan.gamma {
        correct_price_results(&mut ctx.conn, &plan, &mut memory, &mut stats).await?;
    }
    if !plan.dry_run {
        lag::alert_lagging(&mut ctx.conn, lag_cutoff, ctx.now)?;
        if stats.settled > 0 || stats.corrected > 0 {
            queue_summary(&mut ctx.conn, &stats, &mut memory, ctx.now)?;
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
    tracing::info!(
        n_settled = stats.settled,
        n_pending = stats.pending,
        n_unsettleable = stats.unsettleable,
        n_corrected = stats.corrected,
        http_requests = stats.http_requests,
        profit = %stats.profit,
        "settlement finished"
    );
    Ok(stats)
}

/// The next batch of due decisions, in window-end order, after `cursor` (end, id): one query
/// on `idx_trades_pending`.
fn select_due(
    conn: &Connection,
    cutoff: DateTime<Utc>,
    cursor: &(String, i64),
    limit: u32,
) -> Result<Vec<Row>> {
    let sql = format!(
        "SELECT {ROW_COLUMNS} FROM trades
         WHERE settlement_status = 'pending' AND market_end <= ?1 AND (market_end, id) > (?2, ?3)
         ORDER BY market_end, id LIMIT ?4"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![to_db(cutoff), cursor.0, cursor.1, limit], read_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Pending decisions without a window: Gamma's `eventStartTime`/`endDate` fill it; those it
/// cannot fill are set aside ("no market window: ...") [`NO_WINDOW_WAIT_HOURS`] after they
/// were logged, never counted as losses.
async fn fill_windows(
    conn: &mut Connection,
    plan: &Plan,
    memory: &mut Memory,
    stats: &mut Stats,
) -> Result<()> {
    let rows: Vec<Row> = {
        let sql = format!("SELECT {ROW_COLUMNS} FROM trades WHERE settlement_status = 'pending' AND market_end IS NULL");
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt
            .query_map([], read_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows
    };
    if rows.is_empty() {
        return Ok(());
    }
    let slugs: Vec<String> = rows
        .iter()
        .map(|r| r.slug.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut windows: HashMap<String, (DateTime<Utc>, DateTime<Utc>)> = HashMap::new();
    if plan.gamma {
        for slug in &slugs {
            if let Some(w) = cached_market(conn, slug)?.and_then(|m| m.window) {
                windows.insert(slug.clone(), w);
                continue;
            }
            if memory.gamma_down {
                continue;
            }
            // The single-market endpoint also knows markets that are still open.
            let answer = gamma::fetch_one(&plan.http, &plan.gamma_base, slug).await;
            let Some(answer) = tolerate(memory, answer)? else {
                memory.gamma_down = true;
                continue;
            };
            if let Some(info) = answer {
                if let Some(w) = info.window {
                    windows.insert(slug.clone(), w);
                }
                memory.asked.insert(slug.clone());
                memory.markets.insert(slug.clone(), info);
            }
        }
    }
    if plan.dry_run {
        return Ok(());
    }
    let tx = crate::db::write_tx(conn)?;
    for info in memory.markets.values() {
        upsert_market(&tx, info, plan.now)?;
    }
    for row in &rows {
        if let Some((start, end)) = windows.get(&row.slug) {
            tx.execute(
                "UPDATE trades SET market_start = ?1, market_end = ?2
                 WHERE id = ?3 AND settlement_status = 'pending' AND market_end IS NULL",
                params![to_db(*start), to_db(*end), row.id],
            )?;
        } else if row.timestamp <= plan.no_window_before && !memory.gamma_down {
            let reason = reasons::no_window(plan.gamma, memory.markets.contains_key(&row.slug));
            if mark_unsettleable(&tx, row.id, reason, plan.now)? {
                stats.unsettleable += 1;
                tracing::warn!(decision_id = %row.decision_id, slug = %row.slug, "no market window: unsettleable");
            }
        } else {
            stats.pending += 1;
        }
    }
    tx.commit()?;
    Ok(())
}

fn cached_market(conn: &Connection, slug: &str) -> Result<Option<MarketInfo>> {
    let mut stmt = conn.prepare_cached(
        "SELECT market_id, window_start, window_end, closed, resolution_status, outcome, fee_rate,
                fee_exponent, fees_enabled FROM markets WHERE slug = ?1",
    )?;
    let row = stmt
        .query_row(params![slug], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, bool>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
                Money::get(r, 6)?,
                r.get::<_, Option<i64>>(7)?,
                r.get::<_, Option<bool>>(8)?,
            ))
        })
        .optional()?;
    let Some((market_id, ws, we, closed, status, outcome, rate, exponent, fees_enabled)) = row
    else {
        return Ok(None);
    };
    let time = |t: Option<String>| t.and_then(|t| from_db(&t).ok());
    let window = time(ws).zip(time(we));
    let fee = match (fees_enabled, rate, exponent) {
        (Some(false), _, _) => Some(FeeModel::NONE),
        (_, Some(rate), Some(exponent)) => Some(
            FeeModel::new(rate, Decimal::from(exponent))
                .with_context(|| format!("markets fee schedule of {slug}"))?,
        ),
        _ => None,
    };
    Ok(Some(MarketInfo {
        slug: slug.to_string(),
        market_id,
        window,
        closed,
        resolution_status: status,
        outcome: outcome.as_deref().and_then(Outcome::parse),
        fee,
        fees_enabled,
    }))
}

fn upsert_market(conn: &Connection, m: &MarketInfo, now: DateTime<Utc>) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO markets (slug, market_id, window_start, window_end, closed, resolution_status,
                              outcome, fee_rate, fee_exponent, fees_enabled, fetched_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (slug) DO UPDATE SET market_id = excluded.market_id,
             window_start = excluded.window_start, window_end = excluded.window_end,
             closed = excluded.closed, resolution_status = excluded.resolution_status,
             outcome = excluded.outcome, fee_rate = excluded.fee_rate,
             fee_exponent = excluded.fee_exponent, fees_enabled = excluded.fees_enabled,
             fetched_at = excluded.fetched_at",
    )?;
    stmt.execute(params![
        m.slug,
        m.market_id,
        m.window.map(|w| to_db(w.0)),
        m.window.map(|w| to_db(w.1)),
        m.closed,
        m.resolution_status,
        m.outcome.map(Outcome::as_str),
        m.fee.map(|f| Money(f.rate)),
        m.fee.map(|f| f.exponent),
        m.fees_enabled,
        to_db(now),
    ])?;
    Ok(())
}

/// Official information for `slugs`: from this run's memory, the `markets` cache, then Gamma
/// (several slugs per request) for those not resolved yet and not asked yet this run.
async fn official(
    conn: &Connection,
    plan: &Plan,
    memory: &mut Memory,
    slugs: &[&str],
) -> Result<Vec<MarketInfo>> {
    let mut to_ask = Vec::new();
    for slug in slugs {
        if !memory.markets.contains_key(*slug) {
            if let Some(info) = cached_market(conn, slug)? {
                memory.markets.insert(slug.to_string(), info);
            }
        }
        let resolved = memory
            .markets
            .get(*slug)
            .is_some_and(|m| m.outcome.is_some());
        if plan.gamma && !memory.gamma_down && !resolved && !memory.asked.contains(*slug) {
            to_ask.push(slug.to_string());
        }
    }
    let mut fresh = Vec::new();
    for chunk in to_ask.chunks(gamma::SLUGS_PER_REQUEST) {
        let answer = gamma::fetch_closed(&plan.http, &plan.gamma_base, chunk).await;
        let Some(markets) = tolerate(memory, answer)? else {
            memory.gamma_down = true;
            break;
        };
        for info in markets {
            memory.markets.insert(info.slug.clone(), info.clone());
            fresh.push(info);
        }
        memory.asked.extend(chunk.iter().cloned());
    }
    Ok(fresh)
}

/// Candles of the given minutes: from memory and the `prices` cache; when `fetch`, the missing
/// ones from Binance (1,000 minutes a request). Returns the newly fetched candles to cache.
async fn candles_for(
    conn: &Connection,
    plan: &Plan,
    memory: &mut Memory,
    minutes: &[i64],
    fetch: &HashSet<i64>,
    found: &mut HashMap<i64, (Decimal, Decimal)>,
) -> Result<Vec<Candle>> {
    let mut stmt = conn
        .prepare_cached("SELECT open, close FROM prices WHERE symbol = ?1 AND open_time_ms = ?2")?;
    let mut missing = Vec::new();
    for &minute in minutes {
        if let Some(c) = memory.candles.get(&minute) {
            found.insert(minute, *c);
            continue;
        }
        let row: Option<(BtcPrice, BtcPrice)> = stmt
            .query_row(params![plan.symbol, minute], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .with_context(|| format!("prices at {minute}"))?;
        match row {
            Some((open, close)) => {
                found.insert(minute, (open.0, close.0));
            }
            None if fetch.contains(&minute) => missing.push(minute),
            None => {}
        }
    }
    missing.sort_unstable();
    missing.dedup();
    let mut fetched = Vec::new();
    for start in binance::plan_requests(&missing) {
        if memory.binance_down {
            break;
        }
        let answer = binance::fetch(&plan.http, &plan.binance_base, &plan.symbol, start).await;
        let Some(candles) = tolerate(memory, answer)? else {
            memory.binance_down = true;
            break;
        };
        for c in candles {
            // Only whole minutes that have closed are final.
            if c.open_time_ms + MINUTE_MS > plan.now.timestamp_millis() {
                continue;
            }
            found.insert(c.open_time_ms, (c.open, c.close));
            if plan.dry_run {
                memory.candles.insert(c.open_time_ms, (c.open, c.close));
            }
            fetched.push(c);
        }
    }
    Ok(fetched)
}

/// A disagreement between the official and the price outcome of a market.
struct Disagreement {
    slug: String,
    official: Outcome,
    price: Outcome,
    start: Decimal,
    end: Decimal,
    corrected: u64,
}

async fn settle_batch(
    conn: &mut Connection,
    plan: &Plan,
    memory: &mut Memory,
    rows: &[Row],
    stats: &mut Stats,
) -> Result<()> {
    let mut by_market: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    let mut verdicts = Vec::new();
    for row in rows {
        if row.end.is_some_and(crate::market::plausible_end) {
            by_market.entry(row.slug.as_str()).or_default().push(row);
        } else {
            let reason = reasons::unusable_end(row.end_text.as_deref());
            verdicts.push(Verdict::Unsettleable(row.id, reason));
        }
    }
    let slugs: Vec<&str> = by_market.keys().copied().collect();
    let fresh = official(conn, plan, memory, &slugs).await?;

    // Minutes whose candles we want: fetched for markets that may settle by price, only read
    // from the cache for markets settled officially (to notice disagreements for free).
    let mut minutes = Vec::new();
    let mut fetch = HashSet::new();
    for (slug, market_rows) in &by_market {
        let official = memory.markets.get(*slug).and_then(|m| m.outcome);
        // Rows without a parsable end were set aside above.
        let end = market_rows[0].end.unwrap_or(DateTime::<Utc>::MAX_UTC);
        let price_allowed = match plan.source {
            Source::Price => true,
            Source::Gamma => false,
            Source::Auto => !plan.gamma || end <= plan.official_before,
        };
        let mut wanted = vec![end.timestamp_millis() - MINUTE_MS];
        if let Some(start) = market_rows[0].start {
            wanted.push(start.timestamp_millis());
        }
        if official.is_none() && price_allowed {
            fetch.insert(wanted[0]);
            if market_rows.iter().any(|r| r.price_to_beat.is_none()) && wanted.len() > 1 {
                fetch.insert(wanted[1]);
            }
        }
        if official.is_some() || price_allowed {
            minutes.extend(wanted);
        }
    }
    let mut candles = HashMap::new();
    let fetched = candles_for(conn, plan, memory, &minutes, &fetch, &mut candles).await?;

    let mut disagreements = Vec::new();
    for (slug, market_rows) in &by_market {
        let market = memory.markets.get(*slug);
        let official = market.and_then(|m| m.outcome);
        // Rows without a parsable end were set aside above.
        let end = market_rows[0].end.unwrap_or(DateTime::<Utc>::MAX_UTC);
        let price_allowed = match plan.source {
            Source::Price => true,
            Source::Gamma => false,
            Source::Auto => !plan.gamma || end <= plan.official_before,
        };
        for row in market_rows {
            let prices = price_evidence(row, &candles);
            let usable_prices = if official.is_some() || price_allowed {
                prices
            } else {
                None
            };
            match decide(plan, row, market, official, usable_prices) {
                Some(v) => verdicts.push(v),
                None => stats.pending += 1,
            }
        }
        if let (Some(official), Some((start, end))) =
            (official, price_evidence(market_rows[0], &candles))
        {
            let price = pnl::outcome_from_prices(start, end, plan.tie);
            if price != official {
                disagreements.push(Disagreement {
                    slug: slug.to_string(),
                    official,
                    price,
                    start,
                    end,
                    corrected: 0,
                });
            }
        }
    }

    if plan.dry_run {
        for v in &verdicts {
            count(stats, memory, v);
        }
        stats.disagreements += disagreements.len() as u64;
        return Ok(());
    }
    let tx = crate::db::write_tx(conn)?;
    binance::store_candles(&tx, &plan.symbol, &fetched, "binance", plan.now)?;
    for info in &fresh {
        upsert_market(&tx, info, plan.now)?;
    }
    for v in &verdicts {
        let written = match v {
            Verdict::Settled(s) => write_settlement(&tx, s, plan.now, None)?,
            Verdict::Unsettleable(id, reason) => {
                let written = mark_unsettleable(&tx, *id, reason, plan.now)?;
                if written {
                    tracing::warn!(trade_id = id, %reason, "decision cannot be settled");
                }
                written
            }
        };
        if written {
            count(stats, memory, v);
        }
    }
    for d in &disagreements {
        if record_disagreement(&tx, d, plan.now)? {
            stats.disagreements += 1;
        }
    }
    tx.commit()?;
    Ok(())
}

fn count(stats: &mut Stats, memory: &mut Memory, v: &Verdict) {
    match v {
        Verdict::Unsettleable(..) => stats.unsettleable += 1,
        Verdict::Settled(s) => {
            stats.settled += 1;
            match (s.is_win, &s.money) {
                (Some(true), Some(m)) => {
                    stats.wins += 1;
                    stats.profit = stats.profit.saturating_add(m.profit_loss);
                }
                (Some(false), Some(m)) => {
                    stats.losses += 1;
                    stats.profit = stats.profit.saturating_add(m.profit_loss);
                }
                _ => {
                    stats.holds_scored += 1;
                    if s.missed == Some(true) {
                        stats.missed_opportunities += 1;
                    }
                }
            }
            if let Some(m) = &s.money {
                memory.results.push((
                    m.profit_loss,
                    message::SettledResult {
                        decision_id: s.decision_id.clone(),
                        market_slug: s.slug.clone(),
                        action: s.action.clone(),
                        outcome: s.outcome.as_str().to_string(),
                        profit_loss: m.profit_loss,
                    },
                ));
                // Keep only the largest results in memory.
                if memory.results.len() > 4 * SUMMARY_TOP {
                    memory.results.sort_by_key(|r| std::cmp::Reverse(r.0.abs()));
                    memory.results.truncate(SUMMARY_TOP);
                }
            }
        }
    }
}

/// Writes a settlement. Without `expect_outcome`: only if the row is still pending. With it
/// (a correction): only if the row is still price-settled with that outcome.
fn write_settlement(
    conn: &Connection,
    s: &Settlement,
    now: DateTime<Utc>,
    expect_outcome: Option<&str>,
) -> Result<bool> {
    let money = s.money.as_ref();
    let values = params![
        s.outcome.as_str(),
        s.is_win,
        s.missed,
        money.map(|m| Money(m.profit_loss)),
        money.map(|m| Money(m.fee)),
        s.fee.filter(|_| money.is_some()).map(|f| Money(f.rate)),
        s.fee.filter(|_| money.is_some()).map(|f| f.exponent),
        money.map(|m| Money(m.payout)),
        s.source,
        s.end_price.map(BtcPrice),
        s.start_price.map(BtcPrice),
        to_db(now),
        s.id,
        expect_outcome,
        money.map(|m| m.asset.as_str()),
    ];
    let n = if expect_outcome.is_none() {
        conn.prepare_cached(
            "UPDATE trades SET settlement_status = 'settled', actual_outcome = ?1, is_win = ?2,
                is_missed_opportunity = ?3, profit_loss = ?4, fee = ?5, fee_rate_used = ?6,
                fee_exponent_used = ?7, payout = ?8, settlement_source = ?9, end_price = ?10,
                start_price = ?11, settled_at = ?12, unsettleable_reason = NULL, fee_asset = ?15
             WHERE id = ?13 AND settlement_status = 'pending' AND ?14 IS NULL",
        )?
        .execute(values)?
    } else {
        conn.prepare_cached(
            "UPDATE trades SET actual_outcome = ?1, is_win = ?2, is_missed_opportunity = ?3,
                profit_loss = ?4, fee = ?5, fee_rate_used = ?6, fee_exponent_used = ?7, payout = ?8,
                settlement_source = ?9, end_price = ?10, start_price = ?11, settled_at = ?12,
                fee_asset = ?15
             WHERE id = ?13 AND settlement_status = 'settled' AND settlement_source = 'price'
               AND actual_outcome = ?14",
        )?
        .execute(values)?
    };
    Ok(n == 1)
}

fn mark_unsettleable(conn: &Connection, id: i64, reason: &str, now: DateTime<Utc>) -> Result<bool> {
    let n = conn.prepare_cached(
        "UPDATE trades SET settlement_status = 'unsettleable', unsettleable_reason = ?1, settled_at = ?2,
            is_win = NULL, profit_loss = NULL
         WHERE id = ?3 AND settlement_status = 'pending'",
    )?
    .execute(params![reason, to_db(now), id])?;
    Ok(n == 1)
}

/// Records a market's disagreement once and queues one notification for it. Returns whether it
/// was new. Corrections found later add to `trades_corrected`.
fn record_disagreement(conn: &Connection, d: &Disagreement, now: DateTime<Utc>) -> Result<bool> {
    let new = conn.execute(
        "INSERT INTO settlement_disagreements (market_slug, official_outcome, price_outcome, end_price,
             start_price, trades_corrected, detected_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (market_slug) DO NOTHING",
        params![d.slug, d.official.as_str(), d.price.as_str(), BtcPrice(d.end), BtcPrice(d.start), d.corrected, to_db(now)],
    )? == 1;
    if !new && d.corrected > 0 {
        conn.execute(
            "UPDATE settlement_disagreements SET trades_corrected = trades_corrected + ?1 WHERE market_slug = ?2",
            params![d.corrected, d.slug],
        )?;
    }
    let note = message::SourcesDisagree {
        market_slug: d.slug.clone(),
        official_outcome: d.official.as_str().to_string(),
        price_outcome: d.price.as_str().to_string(),
        start_price: d.start,
        end_price: d.end,
        trades_corrected: d.corrected,
    };
    outbox::enqueue(
        conn,
        &Message::Disagreement(note),
        Some(&format!("disagreement:{}", d.slug)),
        now,
    )?;
    if new {
        tracing::warn!(slug = %d.slug, official = d.official.as_str(), price = d.price.as_str(), "official and price outcomes disagree");
    }
    Ok(new)
}

/// Price-settled decisions of the last two days whose market now has an official result that
/// differs: the official one wins and the row is corrected.
async fn correct_price_results(
    conn: &mut Connection,
    plan: &Plan,
    memory: &mut Memory,
    stats: &mut Stats,
) -> Result<()> {
    let since = sub(plan.now, Duration::hours(CORRECTION_HORIZON_HOURS))?;
    let rows: Vec<Row> = {
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM trades WHERE settlement_status = 'settled' AND settled_at >= ?1
               AND settlement_source = 'price'"
        );
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt
            .query_map(params![to_db(since)], read_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows
    };
    if rows.is_empty() {
        return Ok(());
    }
    let mut by_market: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for row in &rows {
        by_market.entry(row.slug.as_str()).or_default().push(row);
    }
    let slugs: Vec<&str> = by_market.keys().copied().collect();
    let fresh = official(conn, plan, memory, &slugs).await?;
    let mut changes = Vec::new();
    for (slug, market_rows) in &by_market {
        let market = memory.markets.get(*slug);
        let Some(official) = market.and_then(|m| m.outcome) else {
            continue;
        };
        let mut corrections = Vec::new();
        let mut evidence = None;
        for row in market_rows {
            let old = row.actual_outcome.as_deref().and_then(Outcome::parse);
            if old == Some(official) {
                continue;
            }
            let candles = HashMap::new();
            let prices = price_evidence(row, &candles);
            if let Some(Verdict::Settled(mut s)) = decide(plan, row, market, Some(official), prices)
            {
                // Keep the stored price evidence: it is what the fallback saw.
                let (start, end) = stored_prices(conn, row.id)?;
                s.start_price = start;
                s.end_price = end;
                evidence = evidence.or(start.zip(end));
                corrections.push((s, row.actual_outcome.clone().unwrap_or_default()));
            }
        }
        if !corrections.is_empty() {
            let (start, end) = evidence.unwrap_or_default();
            let price = if official == Outcome::Up {
                Outcome::Down
            } else {
                Outcome::Up
            };
            changes.push((
                Disagreement {
                    slug: slug.to_string(),
                    official,
                    price,
                    start,
                    end,
                    corrected: 0,
                },
                corrections,
            ));
        }
    }
    if plan.dry_run {
        for (_, corrections) in &changes {
            stats.corrected += corrections.len() as u64;
        }
        return Ok(());
    }
    let tx = crate::db::write_tx(conn)?;
    for info in &fresh {
        upsert_market(&tx, info, plan.now)?;
    }
    for (mut disagreement, corrections) in changes {
        for (s, old) in &corrections {
            if write_settlement(&tx, s, plan.now, Some(old))? {
                disagreement.corrected += 1;
                tracing::warn!(decision_id = %s.decision_id, slug = %s.slug, from = %old, to = s.outcome.as_str(), "corrected to the official outcome");
            }
        }
        if disagreement.corrected > 0 {
            stats.corrected += disagreement.corrected;
            if record_disagreement(&tx, &disagreement, plan.now)? {
                stats.disagreements += 1;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

fn stored_prices(conn: &Connection, id: i64) -> Result<(Option<Decimal>, Option<Decimal>)> {
    // Unreadable evidence (a hand edit) is as good as none.
    let price = |r: &rusqlite::Row<'_>, i| -> rusqlite::Result<Option<Decimal>> {
        Ok(BtcPrice::from_value(r.get_ref(i)?).ok().flatten())
    };
    Ok(conn.query_row(
        "SELECT start_price, end_price FROM trades WHERE id = ?1",
        params![id],
        |r| Ok((price(r, 0)?, price(r, 1)?)),
    )?)
}

fn queue_summary(
    conn: &mut Connection,
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
    outbox::enqueue(&tx, &Message::Settlement(summary), None, now)?;
    tx.commit()?;
    Ok(())
}
