//! What a run remembers of markets (this run's answers, the `markets` cache table, Gamma) and of
//! candles (the `prices` cache table, Binance), and how a remote outage is kept for the end.

use std::collections::{HashMap, HashSet};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use rust_decimal::Decimal;

use super::binance::{self, Candle, MINUTE_MS};
use super::fees::FeeModel;
use super::gamma::{self, MarketInfo};
use super::pnl::Outcome;
use super::Plan;
use crate::db::{BtcPrice, Money};
use crate::time::{from_db, to_db};

/// Run-wide memory: markets already asked about, candles fetched (kept only in a dry run, where
/// the cache table is not written).
#[derive(Default)]
pub(super) struct Memory {
    pub(super) markets: HashMap<String, MarketInfo>,
    pub(super) asked: HashSet<String>,
    pub(super) candles: HashMap<i64, (Decimal, Decimal)>,
    pub(super) results: Vec<(Decimal, crate::outbox::message::SettledResult)>,
    /// The first remote outage of the run: the affected markets stay pending, the others are
    /// settled, and the run ends with this error (exit 75). After it the API is not asked again.
    pub(super) outage: Option<anyhow::Error>,
    pub(super) gamma_down: bool,
    pub(super) binance_down: bool,
}

/// Keeps a remote outage for the end of the run (`Ok(None)`); other errors, such as a malformed
/// answer, go up at once.
pub(super) fn tolerate<T>(memory: &mut Memory, result: Result<T>) -> Result<Option<T>> {
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

pub(super) fn cached_market(conn: &Connection, slug: &str) -> Result<Option<MarketInfo>> {
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

pub(super) fn upsert_market(conn: &Connection, m: &MarketInfo, now: DateTime<Utc>) -> Result<()> {
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

/// Writes markets fetched this run into the `markets` cache.
pub(super) fn upsert_markets(
    conn: &Connection,
    markets: &[MarketInfo],
    now: DateTime<Utc>,
) -> Result<()> {
    for info in markets {
        upsert_market(conn, info, now)?;
    }
    Ok(())
}

/// Official information for `slugs`: from this run's memory, the `markets` cache, then Gamma
/// (several slugs per request) for those not resolved yet and not asked yet this run.
pub(super) async fn official(
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
        if plan.rules.gamma && !memory.gamma_down && !resolved && !memory.asked.contains(*slug) {
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
pub(super) async fn candles_for(
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
