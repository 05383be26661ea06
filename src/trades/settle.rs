//! Settlement's statements on `trades`: the due rows (one query on `idx_trades_pending`), the
//! compare-and-set writes of a settlement, a correction and a row set aside, the windows of
//! rows without one, the lag alert's counts, and `settle-check`'s rows and money fixes. The
//! verdicts themselves are settlement's (`settle::decide`); this module only reads and writes.

use std::ops::Deref;

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use rust_decimal::Decimal;

use super::row::{columns, Trade};
use crate::db::{BtcPrice, Money};
use crate::kinds::{Action, Outcome};
use crate::money::fees::FeeModel;
use crate::money::pnl::Settled;
use crate::time::to_db;

/// The due rows after (end, id), in window-end order.
pub const DUE: &str = concat!(
    "SELECT ",
    columns!(),
    ", market_end FROM trades
     WHERE settlement_status = 'pending' AND market_end <= ?1 AND (market_end, id) > (?2, ?3)
     ORDER BY market_end, id LIMIT ?4"
);

/// Pending rows without a window.
pub const WITHOUT_WINDOW: &str = concat!(
    "SELECT ",
    columns!(),
    ", market_end FROM trades WHERE settlement_status = 'pending' AND market_end IS NULL"
);

/// Rows settled by price since ?1.
pub const PRICE_SETTLED_SINCE: &str = concat!(
    "SELECT ",
    columns!(),
    ", market_end FROM trades WHERE ",
    super::settled!(),
    " AND settled_at >= ?1 AND settlement_source = 'price'"
);

/// [`oldest_due_end`]'s query.
pub const OLDEST_DUE_END: &str = "SELECT min(market_end) FROM trades
     WHERE settlement_status = 'pending' AND market_end <= ?1";

/// How many decisions lag (pending, their window ended before ?1), and the oldest window end.
pub const LAGGING: &str = "SELECT count(*), min(market_end) FROM trades
     WHERE settlement_status = 'pending' AND market_end <= ?1";

/// A pending decision as settlement reads it: the row, and its `market_end` as stored (the
/// batch cursor goes by it, and a value that is no time is named in the reason it is set
/// aside with).
#[derive(Debug, Clone)]
pub struct Due {
    pub trade: Trade,
    pub market_end_text: Option<String>,
}

impl Deref for Due {
    type Target = Trade;
    fn deref(&self) -> &Trade {
        &self.trade
    }
}

fn read_due(r: &rusqlite::Row<'_>) -> rusqlite::Result<Due> {
    Ok(Due {
        trade: Trade::read(r, 0)?,
        market_end_text: r.get(45)?,
    })
}

/// Where the due rows go on from: the last row read (its stored end, its id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DueCursor {
    end: String,
    id: i64,
}

/// The next batch of due decisions (window ended at or before `cutoff`), in window-end order,
/// after `cursor`, which moves past them.
pub fn due(
    conn: &Connection,
    cutoff: DateTime<Utc>,
    cursor: &mut DueCursor,
    limit: u32,
) -> Result<Vec<Due>> {
    let mut stmt = conn.prepare_cached(DUE)?;
    let rows = stmt
        .query_map(
            params![to_db(cutoff), cursor.end, cursor.id, limit],
            read_due,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if let Some(last) = rows.last() {
        *cursor = DueCursor {
            end: last.market_end_text.clone().unwrap_or_default(),
            id: last.id,
        };
    }
    Ok(rows)
}

/// Pending decisions without a market window.
pub fn without_window(conn: &Connection) -> Result<Vec<Due>> {
    let mut stmt = conn.prepare(WITHOUT_WINDOW)?;
    let rows = stmt
        .query_map([], read_due)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Decisions settled by price since `since`: what an official result may still correct.
pub fn price_settled_since(conn: &Connection, since: DateTime<Utc>) -> Result<Vec<Due>> {
    let mut stmt = conn.prepare(PRICE_SETTLED_SINCE)?;
    let rows = stmt
        .query_map(params![to_db(since)], read_due)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Sets the window of a pending decision that has none yet.
pub fn set_window(
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

/// A settlement to write on its row: the verdict settlement decided for it.
#[derive(Debug, Clone)]
pub struct Settlement {
    pub id: i64,
    pub decision_id: String,
    pub slug: String,
    pub action: Action,
    pub outcome: Outcome,
    /// `gamma` or `price`.
    pub source: &'static str,
    pub is_win: Option<bool>,
    pub missed: Option<bool>,
    /// A YES/NO's money; None for a HOLD.
    pub money: Option<Settled>,
    /// The fee model that charged it.
    pub fee: Option<FeeModel>,
    pub end_price: Option<Decimal>,
    pub start_price: Option<Decimal>,
}

/// Writes the settlement of a row that is still pending; false when it no longer is.
pub fn write_settlement(conn: &Connection, s: &Settlement, now: DateTime<Utc>) -> Result<bool> {
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
pub fn correct_settlement(
    conn: &Connection,
    s: &Settlement,
    old_outcome: Outcome,
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
    stmt.raw_bind_parameter(15, old_outcome.column())?;
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
    stmt.raw_bind_parameter(14, money.map(|m| m.asset))
}

/// Sets a pending row aside with `reason`; false when it is no longer pending.
pub fn mark_unsettleable(
    conn: &Connection,
    id: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE trades SET settlement_status = 'unsettleable', unsettleable_reason = ?1,
                settled_at = ?2, is_win = NULL, profit_loss = NULL
             WHERE id = ?3 AND settlement_status = 'pending'",
        )?
        .execute(params![reason, to_db(now), id])?;
    Ok(n == 1)
}

/// The end of the oldest window whose decision is still pending although it ended at or
/// before `cutoff`, as stored (the settlement lag's start: what `health` asks, one indexed
/// `min`).
pub fn oldest_due_end(conn: &Connection, cutoff: DateTime<Utc>) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached(OLDEST_DUE_END)?
        .query_row(params![to_db(cutoff)], |r| r.get(0))?)
}

/// How many decisions are still pending although their window ended at or before `cutoff`,
/// and the oldest such window (start when known, end) as stored.
pub fn lagging(
    conn: &Connection,
    cutoff: DateTime<Utc>,
) -> Result<(u64, Option<String>, Option<String>)> {
    let (n, oldest_end): (i64, Option<String>) = conn
        .prepare_cached(LAGGING)?
        .query_row(params![to_db(cutoff)], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let Some(end) = oldest_end else {
        return Ok((n.max(0) as u64, None, None));
    };
    let start = conn
        .prepare_cached(
            "SELECT market_start FROM trades
             WHERE settlement_status = 'pending' AND market_end = ?1 LIMIT 1",
        )?
        .query_row(params![end], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .flatten();
    Ok((n.max(0) as u64, start, Some(end)))
}

/// Every settled decision, in id order (what `settle-check` recomputes).
pub fn each_settled(conn: &Connection, mut each: impl FnMut(Trade) -> Result<()>) -> Result<()> {
    let mut stmt = conn.prepare(concat!(
        "SELECT ",
        columns!(),
        " FROM trades WHERE ",
        super::settled!(),
        " ORDER BY id"
    ))?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        each(Trade::read(r, 0)?)?;
    }
    Ok(())
}

/// Rewrites the money of settled trades `(id, money under today's rules)` (`settle-check
/// --fix`; part of the caller's transaction). Returns how many rows it changed.
pub fn rewrite_money(
    conn: &Connection,
    fixes: &[(i64, Settled)],
    now: DateTime<Utc>,
) -> Result<u64> {
    let mut update = conn.prepare(
        "UPDATE trades SET profit_loss = ?1, fee = ?2, payout = ?3, fee_asset = ?4,
             settled_at = ?5
         WHERE id = ?6 AND settlement_status = 'settled'",
    )?;
    let mut n = 0u64;
    for (id, m) in fixes {
        n += update.execute(params![
            Money(m.profit_loss),
            Money(m.fee),
            Money(m.payout),
            m.asset,
            to_db(now),
            id
        ])? as u64;
    }
    Ok(n)
}
