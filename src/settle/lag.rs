//! The "still unsettled" alert: one `settlement_lag` message per decision still pending
//! `settlement.alert_lag_hours` (default 1) after its window ended; official results normally
//! arrive within minutes, so an hour is already unusual.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

use crate::config::Notify;
use crate::outbox::{self, message::SettlementLag, Message};
use crate::time::to_db;

/// One `settlement_lag` message per decision still pending `alert_lag_hours` after its window.
pub(super) fn alert_lagging(
    conn: &mut Connection,
    notify: &Notify,
    lag_cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<()> {
    let tx = crate::db::write_tx(conn)?;
    let rows: Vec<(i64, String, String, String)> = {
        let mut stmt = tx.prepare(
            "SELECT id, decision_id, market_slug, market_end FROM trades
             WHERE settlement_status = 'pending' AND market_end <= ?1 AND lag_alerted_at IS NULL",
        )?;
        let rows = stmt
            .query_map(params![to_db(lag_cutoff)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows
    };
    for (id, decision_id, slug, end) in &rows {
        let lag = SettlementLag {
            trade_id: *id,
            decision_id: decision_id.clone(),
            market_slug: slug.clone(),
            market_end: end.clone(),
        };
        outbox::enqueue(
            &tx,
            notify,
            &Message::SettlementLag(lag),
            Some(&format!("settlement_lag:{decision_id}")),
            now,
        )?;
        tx.execute(
            "UPDATE trades SET lag_alerted_at = ?1 WHERE id = ?2",
            params![to_db(now), id],
        )?;
    }
    tx.commit()?;
    if !rows.is_empty() {
        tracing::warn!(
            n_lagging = rows.len(),
            "decisions still unsettled long after their window"
        );
    }
    Ok(())
}
