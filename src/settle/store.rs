//! Settlement's SQL on `trades` and `settlement_disagreements`: the due rows, the compare-and-set
//! writes of a settlement, a correction and an unsettleable row, and disagreements.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use rust_decimal::Decimal;

use super::decide::{read_row, Row, Settlement, ROW_COLUMNS};
use crate::config::Notify;
use crate::db::{BtcPrice, Money};
use crate::kinds::Outcome;
use crate::outbox;
use crate::time::to_db;
use crate::trades::SETTLED;

/// The next batch of due decisions, in window-end order, after `cursor` (end, id): one query
/// on `idx_trades_pending`.
pub(super) fn select_due(
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

/// A disagreement between the official and the price outcome of a market.
pub(super) struct Disagreement {
    pub(super) slug: String,
    pub(super) official: Outcome,
    pub(super) price: Outcome,
    pub(super) start: Decimal,
    pub(super) end: Decimal,
    pub(super) corrected: u64,
}

/// Writes the settlement of a row that is still pending; false when it no longer is.
pub(super) fn write_settlement(
    conn: &Connection,
    s: &Settlement,
    now: DateTime<Utc>,
) -> Result<bool> {
    let mut stmt = conn.prepare_cached(
        "UPDATE trades SET settlement_status = 'settled', actual_outcome = ?1, is_win = ?2,
            is_missed_opportunity = ?3, profit_loss = ?4, fee = ?5, fee_rate_used = ?6,
            fee_exponent_used = ?7, payout = ?8, settlement_source = ?9, end_price = ?10,
            start_price = ?11, settled_at = ?12, unsettleable_reason = NULL, fee_asset = ?14
         WHERE id = ?13 AND settlement_status = 'pending'",
    )?;
    bind_settlement(&mut stmt, s, now)?;
    Ok(stmt.raw_execute()? == 1)
}

/// Corrects a price-settled row to the official settlement `s`; false unless the row is still
/// price-settled with `old_outcome` (what the correction was decided from).
pub(super) fn correct_settlement(
    conn: &Connection,
    s: &Settlement,
    old_outcome: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let mut stmt = conn.prepare_cached(
        "UPDATE trades SET actual_outcome = ?1, is_win = ?2, is_missed_opportunity = ?3,
            profit_loss = ?4, fee = ?5, fee_rate_used = ?6, fee_exponent_used = ?7, payout = ?8,
            settlement_source = ?9, end_price = ?10, start_price = ?11, settled_at = ?12,
            fee_asset = ?14
         WHERE id = ?13 AND settlement_status = 'settled' AND settlement_source = 'price'
           AND actual_outcome = ?15",
    )?;
    bind_settlement(&mut stmt, s, now)?;
    stmt.raw_bind_parameter(15, old_outcome)?;
    Ok(stmt.raw_execute()? == 1)
}

/// Binds what both writes set: ?1 to ?12 the settlement, ?13 the row's id, ?14 the fee asset.
fn bind_settlement(
    stmt: &mut rusqlite::Statement<'_>,
    s: &Settlement,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    let money = s.money.as_ref();
    let fee = s.fee.filter(|_| money.is_some());
    // NULL for a 50-50 (the column's CHECK knows UP and DOWN); is_win is NULL then too.
    stmt.raw_bind_parameter(1, s.outcome.column())?;
    stmt.raw_bind_parameter(2, s.is_win)?;
    stmt.raw_bind_parameter(3, s.missed)?;
    stmt.raw_bind_parameter(4, money.map(|m| Money(m.profit_loss)))?;
    stmt.raw_bind_parameter(5, money.map(|m| Money(m.fee)))?;
    stmt.raw_bind_parameter(6, fee.map(|f| Money(f.rate)))?;
    stmt.raw_bind_parameter(7, fee.map(|f| f.exponent))?;
    stmt.raw_bind_parameter(8, money.map(|m| Money(m.payout)))?;
    stmt.raw_bind_parameter(9, s.source)?;
    stmt.raw_bind_parameter(10, s.end_price.map(BtcPrice))?;
    stmt.raw_bind_parameter(11, s.start_price.map(BtcPrice))?;
    stmt.raw_bind_parameter(12, to_db(now))?;
    stmt.raw_bind_parameter(13, s.id)?;
    stmt.raw_bind_parameter(14, money.map(|m| m.asset.as_str()))
}

pub(super) fn mark_unsettleable(
    conn: &Connection,
    id: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
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
pub(super) fn record_disagreement(
    conn: &Connection,
    notify: &Notify,
    d: &Disagreement,
    now: DateTime<Utc>,
) -> Result<bool> {
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
    let note = crate::outbox::message::SourcesDisagree {
        market_slug: d.slug.clone(),
        official_outcome: Some(d.official),
        price_outcome: Some(d.price),
        start_price: d.start,
        end_price: d.end,
        trades_corrected: d.corrected,
    };
    outbox::enqueue(
        conn,
        notify,
        &crate::outbox::Message::Disagreement(note),
        Some(&format!("disagreement:{}", d.slug)),
        now,
    )?;
    if new {
        tracing::warn!(slug = %d.slug, official = d.official.as_str(), price = d.price.as_str(), "official and price outcomes disagree");
    }
    Ok(new)
}

pub(super) fn stored_prices(
    conn: &Connection,
    id: i64,
) -> Result<(Option<Decimal>, Option<Decimal>)> {
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

/// Pending decisions without a market window.
pub(super) fn select_without_window(conn: &Connection) -> Result<Vec<Row>> {
    let sql = format!(
        "SELECT {ROW_COLUMNS} FROM trades WHERE settlement_status = 'pending' AND market_end IS NULL"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map([], read_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Sets the window of a pending decision that has none yet.
pub(super) fn set_window(
    conn: &Connection,
    id: i64,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
) -> Result<()> {
    conn.execute(
        "UPDATE trades SET market_start = ?1, market_end = ?2
         WHERE id = ?3 AND settlement_status = 'pending' AND market_end IS NULL",
        params![to_db(start), to_db(end), id],
    )?;
    Ok(())
}

/// Decisions settled by price since `since`: what an official result may still correct.
pub(super) fn select_price_settled_since(
    conn: &Connection,
    since: DateTime<Utc>,
) -> Result<Vec<Row>> {
    let sql = format!(
        "SELECT {ROW_COLUMNS} FROM trades WHERE {SETTLED} AND settled_at >= ?1
           AND settlement_source = 'price'"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map(params![to_db(since)], read_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}
