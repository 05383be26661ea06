//! Price-settled decisions whose market now has a different official result: the official one
//! wins, the row is corrected and the disagreement recorded.

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;
use chrono::Duration;
use rusqlite::Connection;

use super::cache::{official, upsert_markets, Memory};
use super::decide::{decide, price_evidence, Settlement, Verdict};
use super::store::{record_disagreement, Disagreement};
use super::{Plan, Stats};
use crate::kinds::Outcome;
use crate::time::sub;
use crate::trades::{correct_settlement, price_settled_since, Due};

/// How far back price-settled rows are re-checked against the official result.
const CORRECTION_HORIZON_HOURS: i64 = 48;

/// The corrections of one market: the disagreement to record and each corrected settlement
/// with the outcome it replaces.
type Corrections = (Disagreement, Vec<(Settlement, Outcome)>);

/// Price-settled decisions of the last two days whose market now has an official result that
/// differs: the official one wins and the row is corrected.
pub(super) async fn correct_price_results(
    conn: &mut Connection,
    plan: &Plan,
    memory: &mut Memory,
    stats: &mut Stats,
) -> Result<()> {
    let since = sub(plan.now, Duration::hours(CORRECTION_HORIZON_HOURS))?;
    let rows = price_settled_since(conn, since)?;
    if rows.is_empty() {
        return Ok(());
    }
    let mut by_market: BTreeMap<&str, Vec<&Due>> = BTreeMap::new();
    for row in &rows {
        by_market
            .entry(row.market_slug.as_str())
            .or_default()
            .push(row);
    }
    let slugs: Vec<&str> = by_market.keys().copied().collect();
    let fresh = official(conn, plan, memory, &slugs).await?;
    let mut changes = Vec::new();
    for (slug, market_rows) in &by_market {
        changes.extend(market_corrections(plan, memory, slug, market_rows));
    }
    if plan.dry_run {
        for (_, corrections) in &changes {
            stats.corrected += corrections.len() as u64;
        }
        return Ok(());
    }
    let tx = crate::db::write_tx(conn)?;
    upsert_markets(&tx, &fresh, plan.now)?;
    for (mut disagreement, corrections) in changes {
        for (s, old) in &corrections {
            if correct_settlement(&tx, s, *old, plan.now)? {
                disagreement.corrected += 1;
                tracing::warn!(decision_id = %s.decision_id, slug = %s.slug, from = %old, to = s.outcome.as_str(), "corrected to the official outcome");
            }
        }
        if disagreement.corrected > 0 {
            stats.corrected += disagreement.corrected;
            if record_disagreement(&tx, &plan.notify, &disagreement, plan.now)? {
                stats.disagreements += 1;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

/// The rows of one market whose price outcome differs from its official one, settled anew
/// with the official outcome (keeping the stored price evidence). None when nothing differs or
/// the market has no official result yet.
fn market_corrections(
    plan: &Plan,
    memory: &Memory,
    slug: &str,
    market_rows: &[&Due],
) -> Option<Corrections> {
    let market = memory.markets.get(slug);
    let official = market.and_then(|m| m.outcome)?;
    let mut corrections = Vec::new();
    let mut evidence = None;
    for row in market_rows {
        // A price-settled row always has its outcome (the column's CHECK: UP or DOWN).
        let Some(old) = row.actual_outcome.filter(|old| *old != official) else {
            continue;
        };
        let candles = HashMap::new();
        let prices = price_evidence(row, &candles);
        if let Some(Verdict::Settled(mut s)) =
            decide(&plan.rules, row, market, Some(official), prices)
        {
            // Keep the stored price evidence: it is what the fallback saw (unreadable
            // evidence, a hand edit, is as good as none).
            s.start_price = row.start_price;
            s.end_price = row.end_price;
            evidence = evidence.or(row.start_price.zip(row.end_price));
            corrections.push((*s, old));
        }
    }
    if corrections.is_empty() {
        return None;
    }
    let (start, end) = evidence.unwrap_or_default();
    // What the price fallback had said: the outcome the first correction replaces.
    let price = corrections
        .first()
        .map(|(_, old)| *old)
        .unwrap_or(if official == Outcome::Up {
            Outcome::Down
        } else {
            Outcome::Up
        });
    let disagreement = Disagreement {
        slug: slug.to_string(),
        official,
        price,
        start,
        end,
        corrected: 0,
    };
    Some((disagreement, corrections))
}
