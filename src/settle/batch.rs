//! One batch of due decisions: grouped by market, official results and candles gathered, each
//! row judged by `decide.rs`, and the verdicts written in one transaction.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use rust_decimal::Decimal;

use super::binance::{self, MINUTE_MS};
use super::cache::{candles_for, official, upsert_markets, Memory};
use super::decide::{decide, price_allowed, price_evidence, Row, Verdict};
use super::gamma::MarketInfo;
use super::pnl;
use super::store::{mark_unsettleable, record_disagreement, write_settlement, Disagreement};
use super::{reasons, Plan, Stats, SUMMARY_TOP};

/// One market's due rows, and whether price evidence may settle them.
struct MarketRows<'a> {
    slug: &'a str,
    rows: Vec<&'a Row>,
    /// The window's end; the start minute of the first row's window, if known.
    end: DateTime<Utc>,
    start: Option<DateTime<Utc>>,
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
    rows: &[Row],
    stats: &mut Stats,
) -> Result<()> {
    let mut decided = Decided::default();
    let markets = group_by_market(plan, rows, &mut decided.verdicts);
    let slugs: Vec<&str> = markets.iter().map(|m| m.slug).collect();
    let fresh = official(conn, plan, memory, &slugs).await?;
    let (minutes, fetch) = wanted_minutes(&markets, memory);
    let mut candles = HashMap::new();
    let fetched = candles_for(conn, plan, memory, &minutes, &fetch, &mut candles).await?;
    for market in &markets {
        let info = memory.markets.get(market.slug);
        stats.pending += judge_market(plan, market, info, &candles, &mut decided);
    }

    if plan.dry_run {
        for v in &decided.verdicts {
            count(stats, memory, v);
        }
        stats.disagreements += decided.disagreements.len() as u64;
        return Ok(());
    }
    let tx = crate::db::write_tx(conn)?;
    binance::store_candles(&tx, &plan.symbol, &fetched, "binance", plan.now)?;
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
    plan: &Plan,
    rows: &'a [Row],
    verdicts: &mut Vec<Verdict>,
) -> Vec<MarketRows<'a>> {
    let mut by_market: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for row in rows {
        if row.end.is_some_and(crate::market::plausible_end) {
            by_market.entry(row.slug.as_str()).or_default().push(row);
        } else {
            let reason = reasons::unusable_end(row.end_text.as_deref());
            verdicts.push(Verdict::Unsettleable(row.id, reason));
        }
    }
    by_market
        .into_iter()
        .map(|(slug, rows)| {
            // Rows without a parsable end were set aside above.
            let end = rows[0].end.unwrap_or(DateTime::<Utc>::MAX_UTC);
            MarketRows {
                slug,
                start: rows[0].start,
                end,
                price_allowed: price_allowed(&plan.rules, end),
                rows,
            }
        })
        .collect()
}

/// Minutes whose candles we want: fetched for markets that may settle by price, only read
/// from the cache for markets settled officially (to notice disagreements for free). Returns
/// (every minute wanted, the minutes to fetch when missing).
fn wanted_minutes(markets: &[MarketRows<'_>], memory: &Memory) -> (Vec<i64>, HashSet<i64>) {
    let mut minutes = Vec::new();
    let mut fetch = HashSet::new();
    for market in markets {
        let official = memory.markets.get(market.slug).and_then(|m| m.outcome);
        let mut wanted = vec![market.end.timestamp_millis() - MINUTE_MS];
        if let Some(start) = market.start {
            wanted.push(start.timestamp_millis());
        }
        if official.is_none() && market.price_allowed {
            fetch.insert(wanted[0]);
            if market.rows.iter().any(|r| r.price_to_beat.is_none()) && wanted.len() > 1 {
                fetch.insert(wanted[1]);
            }
        }
        if official.is_some() || market.price_allowed {
            minutes.extend(wanted);
        }
    }
    (minutes, fetch)
}

/// Judges one market's rows into `decided`, and notes a disagreement between its official and
/// price outcomes. Returns how many rows stay pending.
fn judge_market(
    plan: &Plan,
    market: &MarketRows<'_>,
    info: Option<&MarketInfo>,
    candles: &HashMap<i64, (Decimal, Decimal)>,
    decided: &mut Decided,
) -> u64 {
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
