//! What a run remembers of markets (this run's answers, the `markets` cache table, Gamma) and of
//! candles (the `prices` cache table, Binance), and how a remote outage is kept for the end.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use rust_decimal::Decimal;

use super::binance::{self, MINUTE_MS};
use super::gamma::{self, MarketInfo};
use super::Plan;
use crate::db::{BtcPrice, Money};
use crate::http::HttpError;
use crate::kinds::Outcome;
use crate::market::Candle;
use crate::money::fees::FeeModel;
use crate::time::{from_db, to_db};

/// A symbol's candles: open minute (ms) → (open, close).
pub(super) type Candles = HashMap<i64, (Decimal, Decimal)>;

/// The two remote APIs, for [`tolerate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Api {
    Gamma,
    Binance,
}

/// Run-wide memory: markets already asked about, candles fetched (kept only in a dry run, where
/// the cache table is not written), and what went wrong with each API.
#[derive(Default)]
pub(super) struct Memory {
    pub(super) markets: HashMap<String, MarketInfo>,
    pub(super) asked: HashSet<String>,
    /// Candles fetched in a dry run, by symbol.
    pub(super) candles: HashMap<String, Candles>,
    pub(super) results: Vec<(Decimal, crate::outbox::message::SettledResult)>,
    /// The first remote outage of the run: the affected markets stay pending, the others are
    /// settled, and the run ends with this error (exit 75). After it the API is not asked again.
    pub(super) outage: Option<anyhow::Error>,
    /// The first answer that could not be used at all (a body that is not the API's JSON, or
    /// too large): the same as an outage, but the run ends with exit 1 so that it is noticed.
    pub(super) failure: Option<anyhow::Error>,
    pub(super) gamma_down: bool,
    pub(super) binance_down: bool,
    /// What went wrong with each API this run, in one line (for the outage alert).
    pub(super) gamma_trouble: Option<String>,
    pub(super) binance_trouble: Option<String>,
    /// Price sources refused this run or before (`sources`): `*` for the whole host (HTTP 451
    /// or 403), else a symbol (HTTP 400), with what the host said. Their markets wait for the
    /// official result; the run does not fail for it.
    pub(super) refused: BTreeMap<String, String>,
    /// The refusals this run met itself (the others were remembered from earlier runs).
    pub(super) refused_now: BTreeMap<String, String>,
    /// Symbols Binance gave candles for this run.
    pub(super) answered: HashSet<String>,
    /// Why Gamma's answer about a market cannot settle its decisions, by market.
    pub(super) market_problems: BTreeMap<String, String>,
}

/// Keeps a remote failure for the end of the run (`Ok(None)`) and marks the API down for the
/// rest of it: an outage (exit 75) or an unusable answer (exit 1). Bad settings (a base URL
/// that is no URL) go up at once (exit 2).
pub(super) fn tolerate<T>(memory: &mut Memory, api: Api, result: Result<T>) -> Result<Option<T>> {
    let e = match result {
        Ok(value) => return Ok(Some(value)),
        Err(e) => e,
    };
    let kind = crate::error::kind_of(&e);
    if kind == Some(crate::error::Kind::BadInput) {
        return Err(e);
    }
    let line = crate::error::one_line(&e);
    tracing::warn!(error = %line, "remote API unavailable: its markets stay pending");
    match api {
        Api::Gamma => {
            memory.gamma_down = true;
            memory.gamma_trouble = Some(line);
        }
        Api::Binance => {
            memory.binance_down = true;
            memory.binance_trouble = Some(line);
        }
    }
    if kind == Some(crate::error::Kind::TempFail) {
        memory.outage.get_or_insert(e);
    } else {
        memory.failure.get_or_insert(e);
    }
    Ok(None)
}

pub(super) fn cached_market(conn: &Connection, slug: &str) -> Result<Option<MarketInfo>> {
    let mut stmt = conn.prepare_cached(
        "SELECT market_id, window_start, window_end, closed, resolution_status, outcome, fee_rate,
                fee_exponent, fees_enabled, split FROM markets WHERE slug = ?1",
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
                r.get::<_, bool>(9)?,
            ))
        })
        .optional()?;
    let Some((market_id, ws, we, closed, status, outcome, rate, exponent, fees_enabled, split)) =
        row
    else {
        return Ok(None);
    };
    let outcome = match outcome.as_deref() {
        Some(text) => Outcome::parse(text),
        None => split.then_some(Outcome::Split),
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
        outcome,
        fee,
        fees_enabled,
        problem: None,
    }))
}

/// Caches what Gamma said of a market; an answer that cannot settle its decisions is not kept
/// (the market is asked again).
pub(super) fn upsert_market(conn: &Connection, m: &MarketInfo, now: DateTime<Utc>) -> Result<()> {
    if m.problem.is_some() {
        return Ok(());
    }
    let mut stmt = conn.prepare_cached(
        "INSERT INTO markets (slug, market_id, window_start, window_end, closed, resolution_status,
                              outcome, fee_rate, fee_exponent, fees_enabled, fetched_at, split)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (slug) DO UPDATE SET market_id = excluded.market_id,
             window_start = excluded.window_start, window_end = excluded.window_end,
             closed = excluded.closed, resolution_status = excluded.resolution_status,
             outcome = excluded.outcome, fee_rate = excluded.fee_rate,
             fee_exponent = excluded.fee_exponent, fees_enabled = excluded.fees_enabled,
             fetched_at = excluded.fetched_at, split = excluded.split",
    )?;
    stmt.execute(params![
        m.slug,
        m.market_id,
        m.window.map(|w| to_db(w.0)),
        m.window.map(|w| to_db(w.1)),
        m.closed,
        m.resolution_status,
        m.outcome.and_then(Outcome::column),
        m.fee.map(|f| Money(f.rate)),
        m.fee.map(|f| f.exponent),
        m.fees_enabled,
        to_db(now),
        m.outcome == Some(Outcome::Split),
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
        let Some(markets) = tolerate(memory, Api::Gamma, answer)? else {
            break;
        };
        for info in markets {
            if let Some(problem) = &info.problem {
                tracing::warn!(slug = %info.slug, problem = problem.reason(), "gamma: a market that cannot settle its decisions");
                let why = problem.reason().to_string();
                memory.market_problems.insert(info.slug.clone(), why);
            }
            memory.markets.insert(info.slug.clone(), info.clone());
            fresh.push(info);
        }
        memory.asked.extend(chunk.iter().cloned());
    }
    Ok(fresh)
}

/// What a batch wants of one symbol's candles: every minute it would use, and those it may
/// fetch when they are not cached.
#[derive(Default)]
pub(super) struct Wanted {
    pub(super) minutes: Vec<i64>,
    pub(super) fetch: HashSet<i64>,
}

/// Candles of `symbol` for the wanted minutes: from memory and the `prices` cache; the missing
/// ones that may be fetched from Binance (1,000 minutes a request), unless Binance is down or
/// refuses this host or symbol. Returns the newly fetched candles to cache.
pub(super) async fn candles_for(
    conn: &Connection,
    plan: &Plan,
    memory: &mut Memory,
    symbol: &str,
    wanted: &Wanted,
    found: &mut Candles,
) -> Result<Vec<Candle>> {
    let mut stmt = conn
        .prepare_cached("SELECT open, close FROM prices WHERE symbol = ?1 AND open_time_ms = ?2")?;
    let mut missing = Vec::new();
    let remembered = memory.candles.get(symbol);
    for &minute in &wanted.minutes {
        if let Some(c) = remembered.and_then(|m| m.get(&minute)) {
            found.insert(minute, *c);
            continue;
        }
        let row: Option<(BtcPrice, BtcPrice)> = stmt
            .query_row(params![symbol, minute], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .with_context(|| format!("prices of {symbol} at {minute}"))?;
        match row {
            Some((open, close)) => {
                found.insert(minute, (open.0, close.0));
            }
            None if wanted.fetch.contains(&minute) => missing.push(minute),
            None => {}
        }
    }
    missing.sort_unstable();
    missing.dedup();
    let mut fetched = Vec::new();
    for start in binance::plan_requests(&missing) {
        if memory.binance_down || memory.refused.contains_key("*") {
            break;
        }
        if memory.refused.contains_key(symbol) {
            break;
        }
        let answer = binance::fetch(&plan.http, &plan.binance_base, symbol, start).await;
        let answer = match refusal(&answer) {
            Some((scope, why)) => {
                let scope = if scope { "*" } else { symbol };
                tracing::warn!(symbol, why = %why, "binance refuses: the price fallback waits for the official result");
                memory.refused.insert(scope.to_string(), why.clone());
                memory.refused_now.insert(scope.to_string(), why);
                break;
            }
            None => answer.map_err(banned_is_temporary),
        };
        let Some(candles) = tolerate(memory, Api::Binance, answer)? else {
            break;
        };
        memory.answered.insert(symbol.to_string());
        for c in candles {
            // Only whole minutes that have closed are final.
            if c.open_time_ms + MINUTE_MS > plan.now.timestamp_millis() {
                continue;
            }
            found.insert(c.open_time_ms, (c.open, c.close));
            if plan.dry_run {
                let candles = memory.candles.entry(symbol.to_string()).or_default();
                candles.insert(c.open_time_ms, (c.open, c.close));
            }
            fetched.push(c);
        }
    }
    Ok(fetched)
}

/// Binance's 418 is a temporary IP ban after repeated 429s (WIRE.md): try later (exit 75).
fn banned_is_temporary(e: anyhow::Error) -> anyhow::Error {
    let banned = e
        .chain()
        .find_map(|c| c.downcast_ref::<HttpError>())
        .is_some_and(|h| matches!(h, HttpError::Rejected { status: 418, .. }));
    if banned {
        crate::error::temp_fail(crate::error::one_line(&e))
    } else {
        e
    }
}

/// Whether an error is Binance refusing rather than failing: HTTP 451 (its geo-block) or 403
/// (its CDN) refuse this host for every symbol (`true`); 400 refuses the symbol (`false`, e.g.
/// `{"code": -1121, "msg": "Invalid symbol."}`). No retry fixes either.
fn refusal<T>(answer: &Result<T>) -> Option<(bool, String)> {
    let e = answer.as_ref().err()?;
    let http = e.chain().find_map(|c| c.downcast_ref::<HttpError>())?;
    match http {
        HttpError::Rejected { status, detail, .. } => {
            let why = format!("HTTP {status}: {detail}");
            match status {
                451 | 403 => Some((true, why)),
                400 => Some((false, why)),
                _ => None,
            }
        }
        HttpError::Unavailable { .. } => None,
    }
}
