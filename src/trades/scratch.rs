//! The walk-forward evaluation's statements on `trades` in its scratch database (`main`, in
//! memory), which holds what was known at each point of the walk, copied from the live one
//! (attached read-only as `live`): which settled decisions became known when, copying a day's
//! worth, rewriting them as the loop would have made them, and letting old ones go as the
//! archive would.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

use super::row::{columns, Trade};
use crate::db::Money;
use crate::kinds::{Action, FeeAsset};
use crate::time::to_db;

/// Lists, once, when each settled decision of `live` made since `since` became known (its
/// market's end, else its time), indexed, so each day copies its own rows without scanning the
/// rest.
pub fn list_known(scratch: &Connection, since: DateTime<Utc>) -> Result<()> {
    scratch.execute_batch("CREATE TEMP TABLE known (id INTEGER PRIMARY KEY, at TEXT NOT NULL)")?;
    scratch.execute(
        concat!(
            "INSERT INTO temp.known SELECT id, COALESCE(market_end, timestamp) FROM live.trades
             WHERE ",
            super::settled!(),
            " AND timestamp >= ?1"
        ),
        [to_db(since)],
    )?;
    scratch.execute_batch("CREATE INDEX temp.idx_known_at ON known (at)")?;
    Ok(())
}

/// Copies into the scratch database the decisions that became known in [from, to), stamped
/// as settled then.
pub fn copy_known(scratch: &Connection, (from, to): (DateTime<Utc>, DateTime<Utc>)) -> Result<()> {
    scratch.execute(
        "INSERT INTO main.trades SELECT t.* FROM temp.known k JOIN live.trades t ON t.id = k.id
         WHERE k.at >= ?1 AND k.at < ?2 ORDER BY k.at, k.id",
        params![to_db(from), to_db(to)],
    )?;
    scratch.execute(
        "UPDATE main.trades SET settled_at = k.at FROM temp.known k
         WHERE k.id = main.trades.id AND k.at >= ?1 AND k.at < ?2",
        params![to_db(from), to_db(to)],
    )?;
    Ok(())
}

/// The decisions that became known in [from, to), in time order, as the replay takes them
/// (rows without a time or a confidence are left out).
pub fn known_rows(
    scratch: &Connection,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
) -> Result<Vec<Trade>> {
    let mut stmt = scratch.prepare(concat!(
        "SELECT ",
        columns!(),
        " FROM main.trades WHERE id IN (SELECT id FROM temp.known WHERE at >= ?1 AND at < ?2)
         ORDER BY timestamp, id"
    ))?;
    let rows = stmt
        .query_map(params![to_db(from), to_db(to)], |r| Trade::read(r, 0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows
        .into_iter()
        .filter(|t| t.timestamp.is_some() && t.confidence.is_some())
        .map(Trade::for_sums)
        .collect())
}

/// How the loop would have made a decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rewrite {
    /// Not traded; `missed` when the side its signal favoured won.
    Hold { missed: bool },
    /// Taken: its side, price, stake and settled money.
    Trade {
        action: Action,
        price: Option<rust_decimal::Decimal>,
        stake: rust_decimal::Decimal,
        pnl: rust_decimal::Decimal,
        won: bool,
        fee: rust_decimal::Decimal,
        fee_asset: Option<FeeAsset>,
    },
}

/// Rewrites decision `id` in the scratch database as the loop would have made it.
pub fn rewrite(scratch: &Connection, id: i64, as_made: &Rewrite) -> Result<()> {
    match *as_made {
        Rewrite::Hold { missed } => scratch.execute(
            "UPDATE main.trades SET action = ?3, position_size = 0, executed_price = NULL,
                 profit_loss = NULL, is_win = NULL, fee = NULL, fee_asset = NULL,
                 is_missed_opportunity = ?2
             WHERE id = ?1",
            params![id, missed, Action::Hold],
        )?,
        Rewrite::Trade {
            action,
            price,
            stake,
            pnl,
            won,
            fee,
            fee_asset,
        } => scratch.execute(
            "UPDATE main.trades SET action = ?2, position_size = ?3, executed_price = ?4,
                 profit_loss = ?5, is_win = ?6, fee = ?7, fee_asset = ?8,
                 is_missed_opportunity = NULL
             WHERE id = ?1",
            params![
                id,
                action,
                Money(stake),
                price.map(Money),
                Money(pnl),
                won,
                Money(fee),
                fee_asset,
            ],
        )?,
    };
    Ok(())
}

/// Removes from the scratch database the decisions settled before `before`, and the
/// reflections' record of having covered them, as polyperf-archive does live.
pub fn archive_before(scratch: &Connection, before: DateTime<Utc>) -> Result<()> {
    let before = to_db(before);
    scratch.execute(
        "DELETE FROM main.reflection_trades WHERE trade_id IN
             (SELECT id FROM main.trades WHERE settled_at < ?1)",
        [&before],
    )?;
    scratch.execute("DELETE FROM main.trades WHERE settled_at < ?1", [&before])?;
    Ok(())
}
