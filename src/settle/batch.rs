//! One batch of due decisions: grouped by market, official results and candles (of each
//! market's own asset) gathered, each row judged by `decide.rs`, and the verdicts written in one
//! transaction.

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::binance::{self, MINUTE_MS};
use super::cache::{candles_for, official, upsert_markets, Candles, Memory, Wanted};
use super::decide::{decide, price_allowed, price_evidence, Verdict};
use super::gamma::{MarketInfo, Problem};
use super::store::{record_disagreement, Disagreement};
use super::{reasons, Plan, Stats, SUMMARY_TOP};
use crate::kinds::Outcome;
use crate::money::pnl;
use crate::trades::{mark_unsettleable, write_settlement, Due};

/// One market's due rows, and whether price evidence may settle them.
struct MarketRows<'a> {
    slug: &'a str,
    rows: Vec<&'a Due>,
    /// The window's end; the start minute of the first row's window, if known.
    end: DateTime<Utc>,
    start: Option<DateTime<Utc>>,
    /// The Binance symbol of the market's asset; `None`: no price source, it waits for Gamma.
    symbol: Option<&'a str>,
    price_allowed: bool,
}

/// What a batch decided: the writes, and the markets whose two outcomes disagree.
#[derive(Default)]
struct Decided {
    verdicts: Vec<Verdict>,
    disagreements: Vec<Disagreement>,
}

pub(super) async fn settle_batch(
    conn: &mut Connection,
    plan: &Plan,
    memory: &mut Memory,
    rows: &[Due],
    stats: &mut Stats,
) -> Result<()> {
    let mut decided = Decided::default();
    let markets = group_by_market(plan, rows, &mut decided.verdicts);
    let slugs: Vec<&str> = markets.iter().map(|m| m.slug).collect();
    let fresh = official(conn, plan, memory, &slugs).await?;
    let mut candles: HashMap<&str, Candles> = HashMap::new();
    let mut fetched = Vec::new();
    for (symbol, wanted) in wanted_minutes(&markets, memory) {
        let found = candles.entry(symbol).or_default();
        let new = candles_for(conn, plan, memory, symbol, &wanted, found).await?;
        fetched.push((symbol, new));
    }
    let no_candles = Candles::new();
    for market in &markets {
        let info = memory.markets.get(market.slug);
        let of_symbol = market.symbol.and_then(|s| candles.get(s));
        let prices = of_symbol.unwrap_or(&no_candles);
        stats.pending += judge_market(plan, market, info, prices, &mut decided);
    }

    if plan.dry_run {
        for v in &decided.verdicts {
            count(stats, memory, v);
        }
        stats.disagreements += decided.disagreements.len() as u64;
        return Ok(());
    }
    let tx = crate::db::write_tx(conn)?;
    for (symbol, new) in &fetched {
        binance::store_candles(&tx, symbol, new, "binance", plan.now)?;
    }
    upsert_markets(&tx, &fresh, plan.now)?;
    for v in &decided.verdicts {
        let written = match v {
            Verdict::Settled(s) => write_settlement(&tx, s, plan.now)?,
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
    for d in &decided.disagreements {
        if record_disagreement(&tx, &plan.notify, d, plan.now)? {
            stats.disagreements += 1;
        }
    }
    tx.commit()?;
    Ok(())
}

/// The rows by market, in slug order; a row without a plausible window end is unsettleable.
fn group_by_market<'a>(
    plan: &'a Plan,
    rows: &'a [Due],
    verdicts: &mut Vec<Verdict>,
) -> Vec<MarketRows<'a>> {
    let mut by_market: BTreeMap<&str, Vec<&Due>> = BTreeMap::new();
    for row in rows {
        if row.market_end.is_some_and(crate::market::plausible_end) {
            by_market
                .entry(row.market_slug.as_str())
                .or_default()
                .push(row);
        } else {
            let reason = reasons::unusable_end(row.market_end_text.as_deref());
            verdicts.push(Verdict::Unsettleable(row.id, reason));
        }
    }
    by_market
        .into_iter()
        .map(|(slug, rows)| {
            // Rows without a parsable end were set aside above.
            let end = rows[0].market_end.unwrap_or(DateTime::<Utc>::MAX_UTC);
            let symbol = crate::market::asset_of_slug(slug)
                .as_deref()
                .and_then(|asset| plan.symbols.of(asset));
            MarketRows {
                slug,
                start: rows[0].market_start,
                end,
                symbol,
                price_allowed: symbol.is_some() && price_allowed(&plan.rules, end),
                rows,
            }
        })
        .collect()
}

/// Minutes whose candles we want, by symbol: fetched for markets that may settle by price, only
/// read from the cache for markets settled officially (to notice disagreements for free).
fn wanted_minutes<'a>(markets: &[MarketRows<'a>], memory: &Memory) -> BTreeMap<&'a str, Wanted> {
    let mut by_symbol: BTreeMap<&str, Wanted> = BTreeMap::new();
    for market in markets {
        let Some(symbol) = market.symbol else {
            continue;
        };
        let official = memory.markets.get(market.slug).and_then(|m| m.outcome);
        let mut minutes = vec![market.end.timestamp_millis() - MINUTE_MS];
        if let Some(start) = market.start {
            minutes.push(start.timestamp_millis());
        }
        let wanted = by_symbol.entry(symbol).or_default();
        if official.is_none() && market.price_allowed {
            wanted.fetch.insert(minutes[0]);
            if market.rows.iter().any(|r| r.price_to_beat.is_none()) && minutes.len() > 1 {
                wanted.fetch.insert(minutes[1]);
            }
        }
        if official.is_some() || market.price_allowed {
            wanted.minutes.extend(minutes);
        }
    }
    by_symbol
}

/// Judges one market's rows into `decided`, and notes a disagreement between its official and
/// price outcomes. A market Gamma says is not Up/Down sets its rows aside; one whose answer
/// cannot be read waits as if unresolved. Returns how many rows stay pending.
fn judge_market(
    plan: &Plan,
    market: &MarketRows<'_>,
    info: Option<&MarketInfo>,
    candles: &Candles,
    decided: &mut Decided,
) -> u64 {
    if let Some(Problem::NotUpDown(why)) = info.and_then(|m| m.problem.as_ref()) {
        for row in &market.rows {
            decided
                .verdicts
                .push(Verdict::Unsettleable(row.id, why.clone()));
        }
        return 0;
    }
    let official = info.and_then(|m| m.outcome);
    let mut n_pending = 0;
    for row in &market.rows {
        let prices = price_evidence(row, candles);
        let usable_prices = if official.is_some() || market.price_allowed {
            prices
        } else {
            None
        };
        match decide(&plan.rules, row, info, official, usable_prices) {
            Some(v) => decided.verdicts.push(v),
            None => n_pending += 1,
        }
    }
    // A 50-50 is the exchange's call, not a direction prices could disagree with.
    let official = official.filter(|o| *o != Outcome::Split);
    if let (Some(official), Some((start, end))) =
        (official, price_evidence(market.rows[0], candles))
    {
        let price = pnl::outcome_from_prices(start, end, plan.rules.tie);
        if price != official {
            decided.disagreements.push(Disagreement {
                slug: market.slug.to_string(),
                official,
                price,
                start,
                end,
                corrected: 0,
            });
        }
    }
    n_pending
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
                (None, Some(m)) => {
                    stats.fifty_fifty += 1;
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
                    crate::outbox::message::SettledResult {
                        decision_id: s.decision_id.clone(),
                        market_slug: s.slug.clone(),
                        action: s.action,
                        outcome: s.outcome,
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
