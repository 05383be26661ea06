//! Price sources that refuse: Binance answers HTTP 451 (its geo-block) or 403 (its CDN) to a
//! whole host, and 400 to a symbol it does not list. No retry fixes either (WIRE.md), so the
//! refusal is remembered in `settlement_state` (`price_refused:*` or `price_refused:<symbol>`):
//! reported once (a `price_source` alert, not one per run), the fallback left off without asking
//! again for [`RECHECK_HOURS`] (or until `BINANCE_API_BASE` points elsewhere), and a line sent
//! when it answers again. Decisions that need a price wait for the official result meanwhile;
//! the run does not fail for it.

use std::collections::{BTreeMap, HashSet};

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};

use crate::config::Notify;
use crate::outbox::{self, message::PriceSourceNote, Message};
use crate::time::{from_db, to_db};

/// How long a refusal is trusted before the host is asked again.
pub(super) const RECHECK_HOURS: i64 = 24;

/// The scope of a refusal of every symbol.
pub(super) const EVERY_SYMBOL: &str = "*";

const PREFIX: &str = "price_refused:";

/// One remembered refusal.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Refusal {
    /// The `BINANCE_API_BASE` that refused.
    base: String,
    /// What it said.
    detail: String,
    since: String,
    checked_at: String,
}

/// The refusals still in force for `base`: scope (`*` or a symbol) → what the host said.
/// Refusals checked over [`RECHECK_HOURS`] ago, or made by another base, are asked again.
pub(super) fn load(
    conn: &Connection,
    base: &str,
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, String>> {
    let recheck_before = now
        .checked_sub_signed(Duration::hours(RECHECK_HOURS))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    Ok(stored(conn)?
        .into_iter()
        .filter(|(_, r)| {
            r.base == base && from_db(&r.checked_at).is_ok_and(|at| at > recheck_before)
        })
        .map(|(scope, r)| (scope, r.detail))
        .collect())
}

/// What a run learnt of its price source.
pub(super) struct Seen<'a> {
    pub base: &'a str,
    /// Refusals this run met (not those it only remembered: their check time stays, so the
    /// host is asked again once [`RECHECK_HOURS`] have passed).
    pub refused: &'a BTreeMap<String, String>,
    /// Symbols the host gave candles for.
    pub answered: &'a HashSet<String>,
    pub notify: &'a Notify,
    pub now: DateTime<Utc>,
}

/// Remembers new refusals (one alert each, unless this base already refused that scope) and
/// forgets those the host no longer makes (one line each), in one transaction.
pub(super) fn record(conn: &mut Connection, seen: &Seen<'_>) -> Result<()> {
    let tx = crate::db::write_tx(conn)?;
    let before = stored(&tx)?;
    let now = to_db(seen.now);
    for (scope, detail) in seen.refused {
        let known = before.get(scope);
        // A new refusal, or another host refusing too, is news; the same one again is not.
        if known.is_none_or(|k| k.base != seen.base) {
            note(&tx, seen, scope, true, detail)?;
            tracing::warn!(scope = %scope, %detail, "binance refuses: the price fallback is off");
        }
        let refusal = Refusal {
            base: seen.base.to_string(),
            detail: detail.clone(),
            since: known
                .filter(|k| k.base == seen.base)
                .map_or(now.clone(), |k| k.since.clone()),
            checked_at: now.clone(),
        };
        tx.prepare_cached(
            "INSERT INTO settlement_state (key, value, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )?
        .execute(params![
            format!("{PREFIX}{scope}"),
            serde_json::to_string(&refusal)?,
            now
        ])?;
    }
    for (scope, refusal) in &before {
        let answers = if scope == EVERY_SYMBOL {
            !seen.answered.is_empty()
        } else {
            seen.answered.contains(scope)
        };
        if answers && !seen.refused.contains_key(scope) {
            note(&tx, seen, scope, false, &refusal.detail)?;
            tx.execute(
                "DELETE FROM settlement_state WHERE key = ?1",
                params![format!("{PREFIX}{scope}")],
            )?;
            tracing::info!(scope = %scope, "binance answers again: the price fallback is back");
        }
    }
    tx.commit()?;
    Ok(())
}

fn note(
    conn: &Connection,
    seen: &Seen<'_>,
    scope: &str,
    refused: bool,
    detail: &str,
) -> Result<()> {
    let message = Message::PriceSource(PriceSourceNote {
        source: "Binance".into(),
        symbol: (scope != EVERY_SYMBOL).then(|| scope.to_string()),
        refused,
        detail: crate::http::short(detail),
    });
    outbox::enqueue(conn, seen.notify, &message, None, seen.now)?;
    Ok(())
}

/// Every stored refusal, by scope. A value that cannot be read (edited by hand) is dropped.
fn stored(conn: &Connection) -> Result<BTreeMap<String, Refusal>> {
    let mut stmt = conn
        .prepare_cached("SELECT key, value FROM settlement_state WHERE key >= ?1 AND key < ?2")?;
    let rows = stmt
        .query_map(params![PREFIX, "price_refused;"], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|(key, value)| {
            let scope = key.strip_prefix(PREFIX)?.to_string();
            Some((scope, serde_json::from_str(&value).ok()?))
        })
        .collect())
}
