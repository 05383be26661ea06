//! A stored decision read back as a [`Decision`] (strictly: a column polyperf cannot read is
//! named, never guessed), from a `trades` row or an archive file's values in
//! [`DECISION_COLUMNS`]' order; and the look-up that tells a re-logged decision's duplicate
//! from its [`Conflict`].

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension};
use rust_decimal::Decimal;

#[cfg(doc)]
use super::row::DECISION_COLUMNS;
use crate::db::{BtcPrice, Money};
use crate::decision::{Conflict, Decision};
use crate::kinds::{Action, Liquidity};
use crate::time::from_db;

/// The stored version of a decision, by its key.
const SELECT: &str = concat!(
    "SELECT ",
    super::row::decision_columns!(),
    " FROM trades WHERE decision_id = ?1"
);

/// A row's values by position ([`DECISION_COLUMNS`]' order): a row of a query, or values read from an
/// archive file.
pub trait Columns {
    fn value(&self, i: usize) -> rusqlite::Result<ValueRef<'_>>;
}

impl Columns for rusqlite::Row<'_> {
    fn value(&self, i: usize) -> rusqlite::Result<ValueRef<'_>> {
        self.get_ref(i)
    }
}

impl Columns for [rusqlite::types::Value] {
    fn value(&self, i: usize) -> rusqlite::Result<ValueRef<'_>> {
        Ok(self.get(i).map_or(ValueRef::Null, ValueRef::from))
    }
}

/// The conflict between `new` and the row stored under its key, if their content differs.
/// `None` when they are the same decision (or nothing is stored under the key).
pub(super) fn find(conn: &Connection, new: &Decision) -> Result<Option<Conflict>> {
    let key = new.key();
    let mut stmt = conn.prepare_cached(SELECT)?;
    let stored = stmt.query_row([&key], read).optional()?;
    Ok(match stored {
        None => None,
        Some(Ok(stored)) => Conflict::between(new, &stored),
        // A row written by something else that polyperf cannot read: never silently equal.
        Some(Err(why)) => Some(Conflict::unreadable(new, &why)),
    })
}

/// A stored row as a decision (`Err` says which column cannot be read).
fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<std::result::Result<Decision, String>> {
    Ok(stored_decision(r))
}

type Column<T> = std::result::Result<T, String>;

/// A stored row (in [`DECISION_COLUMNS`]' order) as a decision; `Err` names the column that cannot be
/// read.
pub fn stored_decision<R: Columns + ?Sized>(r: &R) -> Column<Decision> {
    let action: String = col(r, 3, "action")?;
    let liquidity: Option<String> = col(r, 25, "liquidity")?;
    Ok(Decision {
        decision_id: None,
        timestamp: required(time_col(r, 0, "timestamp")?, "timestamp")?,
        market_slug: col(r, 1, "market_slug")?,
        market_id: col(r, 2, "market_id")?,
        action: Action::parse(&action).ok_or_else(|| format!("action {action:?}"))?,
        confidence: col(r, 4, "confidence")?,
        position_size: required(money(r, 5, "position_size")?, "position_size")?,
        reasoning: col(r, 6, "reasoning")?,
        btc_price: required(btc(r, 7, "btc_price")?, "btc_price")?,
        price_to_beat: btc(r, 8, "price_to_beat")?,
        time_remaining_seconds: col(r, 9, "time_remaining_seconds")?,
        is_end_phase: col(r, 10, "is_end_phase")?,
        social_score: col(r, 11, "social_score")?,
        market_score: col(r, 12, "market_score")?,
        final_score: col(r, 13, "final_score")?,
        final_confidence: col(r, 14, "final_confidence")?,
        signal_type: col(r, 15, "signal_type")?,
        rsi: col(r, 16, "rsi")?,
        macd: col(r, 17, "macd")?,
        trend: col(r, 18, "trend")?,
        yes_price: money(r, 19, "yes_price")?,
        no_price: money(r, 20, "no_price")?,
        executed_price: money(r, 21, "executed_price")?,
        market_start: time_col(r, 22, "market_start")?,
        market_end: time_col(r, 23, "market_end")?,
        fee_rate: money(r, 24, "fee_rate")?,
        liquidity: liquidity
            .as_deref()
            .map(|l| Liquidity::parse(l).ok_or_else(|| format!("liquidity {l:?}")))
            .transpose()?
            .unwrap_or_default(),
        fee_paid: money(r, 26, "fee_paid")?,
        bankroll: money(r, 27, "bankroll")?,
    })
}

fn col<T: rusqlite::types::FromSql, R: Columns + ?Sized>(r: &R, i: usize, name: &str) -> Column<T> {
    let value = r.value(i).map_err(|e| format!("{name}: {e}"))?;
    T::column_result(value).map_err(|e| format!("{name}: {e}"))
}

/// A money column as stored (a number; exact decimal text in older rows).
fn money<R: Columns + ?Sized>(r: &R, i: usize, name: &str) -> Column<Option<Decimal>> {
    let value = r.value(i).map_err(|e| format!("{name}: {e}"))?;
    Money::from_value(value).map_err(|e| format!("{name}: {e}"))
}

fn btc<R: Columns + ?Sized>(r: &R, i: usize, name: &str) -> Column<Option<Decimal>> {
    let value = r.value(i).map_err(|e| format!("{name}: {e}"))?;
    BtcPrice::from_value(value).map_err(|e| format!("{name}: {e}"))
}

fn time_col<R: Columns + ?Sized>(r: &R, i: usize, name: &str) -> Column<Option<DateTime<Utc>>> {
    col::<Option<String>, R>(r, i, name)?
        .map(|t| from_db(&t).map_err(|_| format!("{name} {t:?}")))
        .transpose()
}

fn required<T>(value: Option<T>, name: &str) -> Column<T> {
    value.ok_or_else(|| format!("{name} NULL"))
}
