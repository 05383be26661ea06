//! What the archive moves out of `trades` and puts back: which rows are finished (the archive
//! copies the table week by week, generically for every archivable table, from [`NAME`],
//! [`TIME_COLUMN`] and [`FINISHED`]), a range of archived rows leaving together with their
//! entries in the index of archived decisions, whether a row is present, and the facts of a
//! row the daily rollup counts ([`TradeFacts`], by column name: a file of any version).

use anyhow::{anyhow, Result};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::Connection;
use rust_decimal::Decimal;

use crate::db::Money;
use crate::kinds::{Action, SettlementStatus};
use crate::trades::row::ABSENT;
use crate::trades::{Scored, SCORED_COLUMNS};

/// The table's name, as the archive's files and manifest name it.
pub const NAME: &str = "trades";

/// The column an archive file's week is cut by.
pub const TIME_COLUMN: &str = "timestamp";

/// A finished decision, older than the cutoff `?1`: settled or set aside (a pending one is
/// never archived). Uses `idx_trades_timestamp`.
pub const FINISHED: &str = "settlement_status IN ('settled', 'unsettleable') AND timestamp < ?1";

/// Deletes the archived rows with ids `first..=last` (archive step 6, in its transaction);
/// with `index`, their decisions go into the index of archived decisions first, so that a
/// re-log stays a duplicate or a conflict. Returns how many rows left.
pub fn delete_archived_range(
    conn: &Connection,
    first: i64,
    last: i64,
    index: bool,
) -> Result<usize> {
    if index {
        super::archived::index_rows(conn, first, last)?;
    }
    Ok(conn
        .prepare_cached("DELETE FROM trades WHERE id BETWEEN ?1 AND ?2")?
        .execute([first, last])?)
}

/// Whether the row `id` is present.
pub fn is_present(conn: &Connection, id: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM trades WHERE id = ?1)")?
        .query_row([id], |r| r.get(0))?)
}

/// The columns of a trade the rollup needs, as stored (money read through [`Money`]), and the
/// row as the figures read it ([`Scored`]: what the rollup's details keep of it).
#[derive(Debug, Clone)]
pub struct TradeFacts<'a> {
    pub scored: Scored,
    pub timestamp: &'a str,
    pub signal_type: Option<&'a str>,
    pub action: Action,
    pub is_end_phase: Option<i64>,
    pub settlement_status: SettlementStatus,
    pub is_win: Option<i64>,
    pub is_missed_opportunity: Option<i64>,
    pub profit_loss: Option<Decimal>,
    pub fee: Option<Decimal>,
    pub position_size: Option<Decimal>,
}

/// Where the rollup's columns are in a trades row (as the archive reads it from the table or
/// from a file's header), and where [`SCORED_COLUMNS`]' are.
pub struct TradeColumns([usize; 10], Vec<usize>);

impl TradeColumns {
    const NAMES: [&'static str; 10] = [
        "timestamp",
        "signal_type",
        "action",
        "is_end_phase",
        "settlement_status",
        "is_win",
        "is_missed_opportunity",
        "profit_loss",
        "fee",
        "position_size",
    ];

    pub fn new(columns: &[String]) -> Result<TradeColumns> {
        let mut at = [0; 10];
        for (slot, name) in at.iter_mut().zip(Self::NAMES) {
            *slot = columns
                .iter()
                .position(|c| c == name)
                .ok_or_else(|| anyhow!("trades has no column {name}"))?;
        }
        // Columns added since a file was written read as NULL; its id it always has.
        let scored: Vec<usize> = SCORED_COLUMNS
            .split(',')
            .map(|name| {
                let name = name.trim();
                columns.iter().position(|c| c == name).unwrap_or(ABSENT)
            })
            .collect();
        if scored.last() == Some(&ABSENT) {
            return Err(anyhow!("trades has no column id"));
        }
        Ok(TradeColumns(at, scored))
    }

    /// The facts of a row read with the table's columns.
    pub fn of<'a>(&self, row: &'a rusqlite::Row<'_>) -> Result<TradeFacts<'a>> {
        let scored = Scored::read_at(row, &self.1)?;
        self.facts(scored, |i| Ok(row.get_ref(self.0[i])?))
    }

    /// The same facts from a parsed archive line (for restore): money as numbers (files written
    /// since migration 0002) or as exact decimal strings (files written before it).
    pub fn of_values<'a>(&self, values: &'a [SqlValue]) -> Result<TradeFacts<'a>> {
        let scored = Scored::read_values(values, &self.1)?;
        self.facts(scored, |i| {
            values
                .get(self.0[i])
                .map(ValueRef::from)
                .ok_or_else(|| anyhow!("trades.{}: no value", Self::NAMES[i]))
        })
    }

    fn facts<'a>(
        &self,
        scored: Scored,
        cell: impl Fn(usize) -> Result<ValueRef<'a>>,
    ) -> Result<TradeFacts<'a>> {
        let name = |i: usize| Self::NAMES[i];
        let text = |i: usize| -> Result<Option<&'a str>> {
            Ok(match cell(i)? {
                ValueRef::Text(t) => Some(std::str::from_utf8(t)?),
                _ => None,
            })
        };
        let int = |i: usize| -> Result<Option<i64>> {
            Ok(match cell(i)? {
                ValueRef::Integer(v) => Some(v),
                _ => None,
            })
        };
        let money = |i: usize| -> Result<Option<Decimal>> {
            Money::from_value(cell(i)?).map_err(|e| anyhow!("trades.{}: {e}", name(i)))
        };
        let word = |i: usize| -> Result<&'a str> {
            text(i)?.ok_or_else(|| anyhow!("trades.{}: no value", name(i)))
        };
        Ok(TradeFacts {
            scored,
            timestamp: text(0)?.unwrap_or_default(),
            signal_type: text(1)?,
            action: word(2)?
                .parse()
                .map_err(|e| anyhow!("trades.action: {e}"))?,
            is_end_phase: int(3)?,
            settlement_status: word(4)?
                .parse()
                .map_err(|e| anyhow!("trades.settlement_status: {e}"))?,
            is_win: int(5)?,
            is_missed_opportunity: int(6)?,
            profit_loss: money(7)?,
            fee: money(8)?,
            position_size: money(9)?,
        })
    }
}
