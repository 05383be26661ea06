//! A `decision_id` logged again. The same content is a harmless duplicate; other content is a
//! conflict, refused with both versions named, so nothing the trader sent is lost silently.
//! "The same" compares canonical values, not JSON text: `"5.00"` and `5.0` are one amount, and
//! times compare at the stored precision (whole seconds).

use std::fmt;

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension};
use rust_decimal::Decimal;

use super::{Action, Decision, Liquidity};
use crate::db::{BtcPrice, Money};
use crate::time::{from_db, to_db};

/// An existing `decision_id` logged with other content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub decision_id: String,
    /// The stored version, in short (`NO 5.00 @ 0.52`).
    pub stored: String,
    /// The refused version, in short.
    pub refused: String,
    /// The fields whose values differ.
    pub fields: Vec<&'static str>,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "decision_id {} already stored with {}; this line has {} (differs in {})",
            self.decision_id,
            self.stored,
            self.refused,
            self.fields.join(", ")
        )
    }
}

impl std::error::Error for Conflict {}

/// Columns read back to compare, in [`stored_decision`]'s order.
pub(super) const COLUMNS: [&str; 28] = [
    "timestamp",
    "market_slug",
    "market_id",
    "action",
    "confidence",
    "position_size",
    "reasoning",
    "btc_price",
    "price_to_beat",
    "time_remaining_seconds",
    "is_end_phase",
    "social_score",
    "market_score",
    "final_score",
    "final_confidence",
    "signal_type",
    "rsi",
    "macd",
    "trend",
    "yes_price",
    "no_price",
    "executed_price",
    "market_start",
    "market_end",
    "fee_rate",
    "liquidity",
    "fee_paid",
    "bankroll",
];

const SELECT: &str = "SELECT timestamp, market_slug, market_id, action, confidence, position_size,
    reasoning, btc_price, price_to_beat, time_remaining_seconds, is_end_phase, social_score,
    market_score, final_score, final_confidence, signal_type, rsi, macd, trend, yes_price,
    no_price, executed_price, market_start, market_end, fee_rate, liquidity, fee_paid, bankroll
    FROM trades WHERE decision_id = ?1";

/// A row's values by position ([`COLUMNS`]' order): a row of a query, or values read from an
/// archive file.
pub(super) trait Columns {
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
        Some(Ok(stored)) => {
            let fields = differences(new, &stored);
            (!fields.is_empty()).then(|| Conflict {
                decision_id: key,
                stored: short(&stored),
                refused: short(new),
                fields,
            })
        }
        // A row written by something else that polyperf cannot read: never silently equal.
        Some(Err(why)) => Some(Conflict {
            decision_id: key,
            stored: format!("a row polyperf cannot read ({why})"),
            refused: short(new),
            fields: vec!["stored row"],
        }),
    })
}

/// `NO 5.00 @ 0.52`, or `HOLD`: the same amount reads the same, however it was written.
pub(super) fn short(d: &Decision) -> String {
    match d.executed_price {
        Some(p) if d.action != Action::Hold => {
            let mut usdc = d.position_size.normalize();
            if usdc.scale() < 2 {
                usdc.rescale(2);
            }
            format!("{} {usdc} @ {}", d.action.as_str(), p.normalize())
        }
        _ => d.action.as_str().to_string(),
    }
}

/// The fields in which two versions of a decision differ (canonical comparison). The window
/// counts only when the new version determines one: a stored window may have come from Gamma.
fn differences(new: &Decision, stored: &Decision) -> Vec<&'static str> {
    let second = |t: DateTime<Utc>| to_db(t);
    let window = |d: &Decision| d.window().map(|(s, e)| (second(s), second(e)));
    let new_window = window(new);
    [
        (
            "timestamp",
            second(new.timestamp) == second(stored.timestamp),
        ),
        ("market_slug", new.market_slug == stored.market_slug),
        ("market_id", new.market_id == stored.market_id),
        ("action", new.action == stored.action),
        ("confidence", new.confidence == stored.confidence),
        ("position_size", new.position_size == stored.position_size),
        ("reasoning", new.reasoning == stored.reasoning),
        ("btc_price", new.btc_price == stored.btc_price),
        ("price_to_beat", new.price_to_beat == stored.price_to_beat),
        (
            "time_remaining_seconds",
            new.time_remaining_seconds == stored.time_remaining_seconds,
        ),
        ("is_end_phase", new.is_end_phase == stored.is_end_phase),
        ("social_score", new.social_score == stored.social_score),
        ("market_score", new.market_score == stored.market_score),
        ("final_score", new.final_score == stored.final_score),
        (
            "final_confidence",
            new.final_confidence == stored.final_confidence,
        ),
        ("signal_type", new.signal_type == stored.signal_type),
        ("rsi", new.rsi == stored.rsi),
        ("macd", new.macd == stored.macd),
        ("trend", new.trend == stored.trend),
        ("yes_price", new.yes_price == stored.yes_price),
        ("no_price", new.no_price == stored.no_price),
        (
            "executed_price",
            new.executed_price == stored.executed_price,
        ),
        ("fee_rate", new.fee_rate == stored.fee_rate),
        ("liquidity", new.liquidity == stored.liquidity),
        ("fee_paid", new.fee_paid == stored.fee_paid),
        ("bankroll", new.bankroll == stored.bankroll),
        (
            "market_window",
            new_window.is_none() || new_window == window(stored),
        ),
    ]
    .into_iter()
    .filter(|(_, same)| !same)
    .map(|(field, _)| field)
    .collect()
}

/// A stored row as a decision (`Err` says which column cannot be read).
fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<std::result::Result<Decision, String>> {
    Ok(stored_decision(r))
}

type Column<T> = std::result::Result<T, String>;

/// A stored row (in [`COLUMNS`]' order) as a decision; `Err` names the column that cannot be
/// read.
pub(super) fn stored_decision<R: Columns + ?Sized>(r: &R) -> Column<Decision> {
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
