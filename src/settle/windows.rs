//! Pending decisions without a market window: Gamma fills it, or they are set aside.

use std::collections::{HashMap, HashSet};

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::cache::{cached_market, tolerate, upsert_market, Api, Memory};
use super::{gamma, reasons, Plan, Stats};
use crate::trades::{mark_unsettleable, set_window, without_window, Due};

/// A market's window: (start, end).
type Window = (DateTime<Utc>, DateTime<Utc>);

/// Pending decisions without a window: Gamma's `eventStartTime`/`endDate` fill it; those it
/// cannot fill are set aside ("no market window: ...") `NO_WINDOW_WAIT_HOURS` after they
/// were logged, never counted as losses.
pub(super) async fn fill_windows(
    conn: &mut Connection,
    plan: &Plan,
    memory: &mut Memory,
    stats: &mut Stats,
) -> Result<()> {
    let rows = without_window(conn)?;
    if rows.is_empty() {
        return Ok(());
    }
    let windows = if plan.rules.gamma {
        ask_windows(conn, plan, memory, &rows).await?
    } else {
        HashMap::new()
    };
    if plan.dry_run {
        return Ok(());
    }
    let tx = crate::db::write_tx(conn)?;
    for info in memory.markets.values() {
        upsert_market(&tx, info, plan.now)?;
    }
    for row in &rows {
        // A timestamp that is no time (a hand edit) waited long enough.
        let waited = row.timestamp.is_none_or(|t| t <= plan.no_window_before);
        if let Some(window) = windows.get(&row.market_slug) {
            set_window(&tx, row.id, *window)?;
        } else if waited && !memory.gamma_down {
            let slug = &row.market_slug;
            let reason = reasons::no_window(plan.rules.gamma, memory.markets.contains_key(slug));
            if mark_unsettleable(&tx, row.id, reason, plan.now)? {
                stats.unsettleable += 1;
                tracing::warn!(decision_id = %row.decision_id, %slug, "no market window: unsettleable");
            }
        } else {
            stats.pending += 1;
        }
    }
    tx.commit()?;
    Ok(())
}

/// The windows of the rows' markets: from the `markets` cache, else from Gamma's single-market
/// endpoint (which also knows markets that are still open).
async fn ask_windows(
    conn: &Connection,
    plan: &Plan,
    memory: &mut Memory,
    rows: &[Due],
) -> Result<HashMap<String, Window>> {
    let slugs: HashSet<&String> = rows.iter().map(|r| &r.market_slug).collect();
    let mut windows = HashMap::new();
    for slug in slugs {
        if let Some(w) = cached_market(conn, slug)?.and_then(|m| m.window) {
            windows.insert(slug.clone(), w);
            continue;
        }
        if memory.gamma_down {
            continue;
        }
        let answer = gamma::fetch_one(&plan.http, &plan.gamma_base, slug).await;
        let Some(answer) = tolerate(memory, Api::Gamma, answer)? else {
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
    Ok(windows)
}
