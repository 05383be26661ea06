//! A `trades` row as every reader gets it: [`Trade`], read with the one column list
//! [`COLUMNS`] (the decision's own columns, [`DECISION_COLUMNS`], then its settlement's). The
//! domain's words are enums ([`Action`], [`Outcome`], [`SettlementStatus`], [`Liquidity`],
//! [`FeeAsset`]); money is exact ([`Money`] / [`BtcPrice`]).
//!
//! A value that cannot be what its column holds (a hand edit) never stops a reader: a money
//! column reads as missing and is named in [`Trade::unreadable`], a time or a confidence that
//! is not one reads as `None`.

use chrono::{DateTime, Utc};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rust_decimal::Decimal;

use crate::db::{BtcPrice, Money, MAX_ROW_MONEY};
use crate::kinds::{Action, FeeAsset, Liquidity, Outcome, SettlementStatus};
use crate::time::from_db;

/// The decision's own columns, in the order [`DECISION_COLUMNS`] names them.
macro_rules! decision_columns {
    () => {
        "timestamp, market_slug, market_id, action, confidence, position_size, reasoning, \
         btc_price, price_to_beat, time_remaining_seconds, is_end_phase, social_score, \
         market_score, final_score, final_confidence, signal_type, rsi, macd, trend, yes_price, \
         no_price, executed_price, market_start, market_end, fee_rate, liquidity, fee_paid, \
         bankroll"
    };
}

/// Every column a [`Trade`] is read from, in [`Trade::read`]'s order: the id and key, the
/// decision's own columns, then its settlement.
macro_rules! columns {
    () => {
        concat!(
            "id, decision_id, ",
            $crate::trades::row::decision_columns!(),
            ", settlement_status, settlement_source, settled_at, unsettleable_reason, \
             actual_outcome, is_win, is_missed_opportunity, profit_loss, fee, fee_rate_used, \
             fee_exponent_used, fee_asset, payout, end_price, start_price"
        )
    };
}

/// The columns a [`Scored`] is read from, in [`Scored::read`]'s order.
macro_rules! scored_columns {
    () => {
        "timestamp, action, confidence, signal_type, is_end_phase, settlement_status, \
         settlement_source, actual_outcome, is_win, profit_loss, fee, position_size, \
         final_score, is_missed_opportunity, yes_price, no_price, fee_asset, executed_price, id"
    };
}

pub(crate) use {columns, decision_columns, scored_columns};

/// `columns!()` as a constant.
pub const COLUMNS: &str = columns!();

/// `scored_columns!()` as a constant: a subset of [`COLUMNS`].
pub const SCORED_COLUMNS: &str = scored_columns!();

/// The decision's own columns by name, in `decision_columns!()`'s order (what an archive
/// file's values are put in to be read as a decision): the decision format's fields.
pub const DECISION_COLUMNS: [&str; 28] = crate::decision::FIELDS;

/// One decision and its settlement, typed.
///
/// `confidence` is the one type every reader compares: the decimal the trader wrote, i.e.
/// the shortest decimal that reads back as the stored REAL (0.7 stays 0.7, never
/// 0.69999999999999995559). A threshold `t` is met when `confidence >= t`, exactly in
/// decimal, the way the trader meant it: the confidence threshold, the replay's bands and the
/// reflection's near-threshold band all compare so.
#[derive(Debug, Clone, PartialEq)]
pub struct Trade {
    pub id: i64,
    pub decision_id: String,
    /// When the trader decided (None: the column holds no time, a hand edit).
    pub timestamp: Option<DateTime<Utc>>,
    pub market_slug: String,
    pub market_id: Option<i64>,
    pub action: Action,
    /// None: the column holds no finite number (a hand edit).
    pub confidence: Option<Decimal>,
    pub position_size: Option<Decimal>,
    pub reasoning: Option<String>,
    pub btc_price: Option<Decimal>,
    pub price_to_beat: Option<Decimal>,
    pub time_remaining_seconds: Option<i64>,
    pub is_end_phase: Option<bool>,
    pub social_score: Option<f64>,
    pub market_score: Option<f64>,
    pub final_score: Option<f64>,
    pub final_confidence: Option<f64>,
    pub signal_type: Option<String>,
    pub rsi: Option<f64>,
    pub macd: Option<f64>,
    pub trend: Option<String>,
    pub yes_price: Option<Decimal>,
    pub no_price: Option<Decimal>,
    pub executed_price: Option<Decimal>,
    /// The market's window, as stored (the trader's, or the slug's, or Gamma's).
    pub market_start: Option<DateTime<Utc>>,
    pub market_end: Option<DateTime<Utc>>,
    /// A fee rate the trader logged.
    pub fee_rate: Option<Decimal>,
    pub liquidity: Liquidity,
    pub fee_paid: Option<Decimal>,
    pub bankroll: Option<Decimal>,
    pub settlement_status: SettlementStatus,
    /// `gamma` or `price`, once settled.
    pub settlement_source: Option<&'static str>,
    /// When it was settled, as stored: the trade feed's watermark compares this text.
    pub settled_at: Option<String>,
    pub unsettleable_reason: Option<String>,
    /// UP or DOWN; None while unsettled and for a 50-50 (see [`Trade::outcome`]).
    pub actual_outcome: Option<Outcome>,
    pub is_win: Option<bool>,
    pub is_missed_opportunity: Option<bool>,
    pub profit_loss: Option<Decimal>,
    pub fee: Option<Decimal>,
    pub fee_rate_used: Option<Decimal>,
    pub fee_exponent_used: Option<i64>,
    /// The asset the settled fee was charged in (None: settled before the column existed,
    /// which always meant shares; [`FeeAsset::stored`]).
    pub fee_asset: Option<FeeAsset>,
    pub payout: Option<Decimal>,
    pub end_price: Option<Decimal>,
    pub start_price: Option<Decimal>,
    /// The money and price columns that hold no amount (not a number: a hand edit), in
    /// column order: each reads as missing. Settlement sets a YES/NO aside when one it needs
    /// is among them.
    pub unreadable: Vec<&'static str>,
}

impl Default for Trade {
    /// A pending HOLD with nothing logged (tests and pure callers fill in what they need).
    fn default() -> Trade {
        Trade {
            id: 0,
            decision_id: String::new(),
            timestamp: None,
            market_slug: String::new(),
            market_id: None,
            action: Action::Hold,
            confidence: None,
            position_size: None,
            reasoning: None,
            btc_price: None,
            price_to_beat: None,
            time_remaining_seconds: None,
            is_end_phase: None,
            social_score: None,
            market_score: None,
            final_score: None,
            final_confidence: None,
            signal_type: None,
            rsi: None,
            macd: None,
            trend: None,
            yes_price: None,
            no_price: None,
            executed_price: None,
            market_start: None,
            market_end: None,
            fee_rate: None,
            liquidity: Liquidity::Taker,
            fee_paid: None,
            bankroll: None,
            settlement_status: SettlementStatus::Pending,
            settlement_source: None,
            settled_at: None,
            unsettleable_reason: None,
            actual_outcome: None,
            is_win: None,
            is_missed_opportunity: None,
            profit_loss: None,
            fee: None,
            fee_rate_used: None,
            fee_exponent_used: None,
            fee_asset: None,
            payout: None,
            end_price: None,
            start_price: None,
            unreadable: Vec::new(),
        }
    }
}

impl Trade {
    /// Reads a row of [`COLUMNS`] starting at column `at`.
    pub fn read(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Trade> {
        let mut cells = Cells {
            source: Source::From(r, at),
            unreadable: Vec::new(),
        };
        let mut t = Trade {
            id: cells.get(0)?,
            decision_id: cells.get(1)?,
            timestamp: cells.time(2)?,
            market_slug: cells.get(3)?,
            market_id: cells.get(4)?,
            action: cells.get(5)?,
            confidence: cells.confidence(6)?,
            position_size: cells.money(7, "position_size")?,
            reasoning: cells.get(8)?,
            btc_price: cells.btc(9, "btc_price")?,
            price_to_beat: cells.btc(10, "price_to_beat")?,
            time_remaining_seconds: cells.get(11)?,
            is_end_phase: cells.get(12)?,
            social_score: cells.get(13)?,
            market_score: cells.get(14)?,
            final_score: cells.get(15)?,
            final_confidence: cells.get(16)?,
            signal_type: cells.get(17)?,
            rsi: cells.get(18)?,
            macd: cells.get(19)?,
            trend: cells.get(20)?,
            yes_price: cells.money(21, "yes_price")?,
            no_price: cells.money(22, "no_price")?,
            executed_price: cells.money(23, "executed_price")?,
            market_start: cells.time(24)?,
            market_end: cells.time(25)?,
            fee_rate: cells.money(26, "fee_rate")?,
            liquidity: cells.get::<Option<Liquidity>>(27)?.unwrap_or_default(),
            fee_paid: cells.money(28, "fee_paid")?,
            bankroll: cells.money(29, "bankroll")?,
            ..Trade::default()
        };
        t.settlement_status = cells.get(30)?;
        t.settlement_source = cells.source(31)?;
        t.settled_at = cells.get(32)?;
        t.unsettleable_reason = cells.get(33)?;
        t.actual_outcome = cells.get(34)?;
        t.is_win = cells.get(35)?;
        t.is_missed_opportunity = cells.get(36)?;
        t.profit_loss = cells.money(37, "profit_loss")?;
        t.fee = cells.money(38, "fee")?;
        t.fee_rate_used = cells.money(39, "fee_rate_used")?;
        t.fee_exponent_used = cells.get(40)?;
        t.fee_asset = cells.get(41)?;
        t.payout = cells.money(42, "payout")?;
        t.end_price = cells.btc(43, "end_price")?;
        t.start_price = cells.btc(44, "start_price")?;
        t.unreadable = cells.unreadable;
        Ok(t)
    }

    /// How its market resolved: the stored outcome, or a 50-50 for a row the official source
    /// settled without one (the column holds only UP and DOWN). None while unsettled.
    pub fn outcome(&self) -> Option<Outcome> {
        outcome(
            self.actual_outcome,
            self.settlement_status,
            self.settlement_source,
        )
    }

    /// This row as the readers that add rows up take it: an amount past [`MAX_ROW_MONEY`]
    /// (written by hand) reads as missing too, so no sum over rows can overflow.
    pub fn for_sums(mut self) -> Trade {
        let mut past = Vec::new();
        for (name, amount) in [
            ("position_size", &mut self.position_size),
            ("yes_price", &mut self.yes_price),
            ("no_price", &mut self.no_price),
            ("executed_price", &mut self.executed_price),
            ("fee_paid", &mut self.fee_paid),
            ("bankroll", &mut self.bankroll),
            ("profit_loss", &mut self.profit_loss),
            ("fee", &mut self.fee),
            ("payout", &mut self.payout),
        ] {
            if amount.is_some_and(|v| v.abs() > MAX_ROW_MONEY) {
                *amount = None;
                past.push(name);
            }
        }
        self.unreadable.extend(past);
        self
    }

    /// A settled YES or NO whose market resolved 50-50: neither won nor lost.
    pub fn is_fifty_fifty(&self) -> bool {
        self.action.is_trade() && self.outcome() == Some(Outcome::Split)
    }

    /// The asset its settled fee was charged in ([`FeeAsset::stored`]: shares when the row
    /// predates the column).
    pub fn fee_asset_or_shares(&self) -> FeeAsset {
        self.fee_asset.unwrap_or_default()
    }
}

/// How a market resolved, from a row's outcome columns (see [`Trade::outcome`]).
fn outcome(
    stored: Option<Outcome>,
    status: SettlementStatus,
    source: Option<&'static str>,
) -> Option<Outcome> {
    match (stored, status) {
        (Some(outcome), _) => Some(outcome),
        (None, SettlementStatus::Settled) if source == Some("gamma") => Some(Outcome::Split),
        _ => None,
    }
}

/// A decision as the figures count it, over every row of a window that may span all of
/// history: the columns of [`SCORED_COLUMNS`] only (a [`Trade`]'s other columns would cost
/// the metrics' scan three quarters again as much). Fields read as a [`Trade`]'s do.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub timestamp: Option<DateTime<Utc>>,
    pub action: Action,
    pub confidence: Option<Decimal>,
    pub signal_type: Option<String>,
    pub is_end_phase: Option<bool>,
    pub settlement_status: SettlementStatus,
    pub settlement_source: Option<&'static str>,
    pub actual_outcome: Option<Outcome>,
    pub is_win: Option<bool>,
    pub profit_loss: Option<Decimal>,
    pub fee: Option<Decimal>,
    pub position_size: Option<Decimal>,
    pub final_score: Option<f64>,
    pub is_missed_opportunity: Option<bool>,
    pub yes_price: Option<Decimal>,
    pub no_price: Option<Decimal>,
    pub fee_asset: Option<FeeAsset>,
    pub executed_price: Option<Decimal>,
    /// The row's id: with the time as stored, the order the figures fold rows in
    /// ([`crate::trades::sql::IN_WINDOW`]'s `ORDER BY timestamp, id`).
    pub id: i64,
    /// As [`Trade::unreadable`].
    pub unreadable: Vec<&'static str>,
}

impl Default for Scored {
    /// A pending HOLD with nothing logged (tests fill in what they need).
    fn default() -> Scored {
        let t = Trade::default();
        Scored {
            timestamp: t.timestamp,
            action: t.action,
            confidence: t.confidence,
            signal_type: None,
            is_end_phase: None,
            settlement_status: t.settlement_status,
            settlement_source: None,
            actual_outcome: None,
            is_win: None,
            profit_loss: None,
            fee: None,
            position_size: None,
            final_score: None,
            is_missed_opportunity: None,
            yes_price: None,
            no_price: None,
            fee_asset: None,
            executed_price: None,
            id: 0,
            unreadable: Vec::new(),
        }
    }
}

impl Scored {
    /// Reads a row of [`SCORED_COLUMNS`] starting at column `at`.
    pub fn read(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Scored> {
        Scored::from_cells(Cells {
            source: Source::From(r, at),
            unreadable: Vec::new(),
        })
    }

    /// Reads the [`SCORED_COLUMNS`] of a row whose columns are elsewhere: column `i` of
    /// `SCORED_COLUMNS` is the row's column `at[i]` (a table row read with all its columns;
    /// [`ABSENT`]: a column it does not have, NULL).
    pub fn read_at(r: &rusqlite::Row<'_>, at: &[usize]) -> rusqlite::Result<Scored> {
        Scored::from_cells(Cells {
            source: Source::At(r, at),
            unreadable: Vec::new(),
        })
    }

    /// The same from an archive line's values: column `i` of `SCORED_COLUMNS` is `values[at[i]]`.
    pub fn read_values(values: &[SqlValue], at: &[usize]) -> rusqlite::Result<Scored> {
        Scored::from_cells(Cells {
            source: Source::Values(values, at),
            unreadable: Vec::new(),
        })
    }

    fn from_cells(mut cells: Cells<'_, '_>) -> rusqlite::Result<Scored> {
        let mut s = Scored {
            timestamp: cells.time(0)?,
            action: cells.get(1)?,
            confidence: cells.confidence(2)?,
            signal_type: cells.get(3)?,
            is_end_phase: cells.get(4)?,
            settlement_status: cells.get(5)?,
            settlement_source: cells.source(6)?,
            actual_outcome: cells.get(7)?,
            is_win: cells.get(8)?,
            profit_loss: cells.money(9, "profit_loss")?,
            fee: cells.money(10, "fee")?,
            position_size: cells.money(11, "position_size")?,
            final_score: cells.get(12)?,
            is_missed_opportunity: cells.get(13)?,
            yes_price: cells.money(14, "yes_price")?,
            no_price: cells.money(15, "no_price")?,
            fee_asset: cells.get(16)?,
            executed_price: cells.money(17, "executed_price")?,
            id: cells.get(18)?,
            unreadable: Vec::new(),
        };
        s.unreadable = cells.unreadable;
        Ok(s)
    }

    /// As [`Trade::outcome`].
    pub fn outcome(&self) -> Option<Outcome> {
        outcome(
            self.actual_outcome,
            self.settlement_status,
            self.settlement_source,
        )
    }

    /// A settled YES or NO whose market resolved 50-50: neither won nor lost.
    pub fn is_fifty_fifty(&self) -> bool {
        self.action.is_trade() && self.outcome() == Some(Outcome::Split)
    }

    /// As [`Trade::fee_asset_or_shares`].
    pub fn fee_asset_or_shares(&self) -> FeeAsset {
        self.fee_asset.unwrap_or_default()
    }
}

/// A decimal the trader meant by a stored REAL: the shortest decimal text that reads back as
/// the same f64 (Rust's `Display` of f64), so `0.7` is 0.7. None for a value that is not a
/// finite number a Decimal holds exactly (more than 28 places, or too large).
pub fn decimal_of_real(value: f64) -> Option<Decimal> {
    use std::fmt::Write;
    if !value.is_finite() {
        return None;
    }
    // The common case without formatting: the fewest decimal places (up to 9) whose nearest
    // integer k reads back exactly (k / 10^s is one correctly rounded IEEE division while k
    // is below 2^53) is the shortest decimal, as `Display` would write it.
    if value.abs() < 1e6 {
        let mut scale = 1.0;
        for places in 0..=9u32 {
            let k = (value * scale).round();
            if k / scale == value {
                return Some(Decimal::new(k as i64, places));
            }
            scale *= 10.0;
        }
    }
    let mut text = Digits {
        bytes: [0; 40],
        len: 0,
    };
    write!(text, "{value}").ok()?;
    Decimal::from_str_exact(text.as_str()).ok()
}

/// Room for the digits of a confidence, without an allocation (a longer text is no value a
/// Decimal holds).
struct Digits {
    bytes: [u8; 40],
    len: usize,
}

impl Digits {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl std::fmt::Write for Digits {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(std::fmt::Error)?;
        self.bytes
            .get_mut(self.len..end)
            .ok_or(std::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Where a row's cells are: a row's columns from `at` on, a row's columns by position, or an
/// archive line's values by position.
enum Source<'a, 'b> {
    From(&'a rusqlite::Row<'b>, usize),
    At(&'a rusqlite::Row<'b>, &'a [usize]),
    Values(&'a [SqlValue], &'a [usize]),
}

/// The cells of one row, read leniently where a hand edit may have put anything.
struct Cells<'a, 'b> {
    source: Source<'a, 'b>,
    unreadable: Vec<&'static str>,
}

impl Cells<'_, '_> {
    fn get<T: rusqlite::types::FromSql>(&self, i: usize) -> rusqlite::Result<T> {
        match self.source {
            Source::From(row, at) => row.get(at + i),
            Source::At(..) | Source::Values(..) => T::column_result(self.value(i)?).map_err(|e| {
                let null = rusqlite::types::Type::Null;
                rusqlite::Error::FromSqlConversionFailure(i, null, e.into())
            }),
        }
    }

    /// Cell `i`; a column the row does not have ([`ABSENT`]) is NULL.
    fn value(&self, i: usize) -> rusqlite::Result<ValueRef<'_>> {
        match self.source {
            Source::From(row, at) => row.get_ref(at + i),
            Source::At(row, at) => match position(at, i)? {
                ABSENT => Ok(ValueRef::Null),
                p => row.get_ref(p),
            },
            Source::Values(values, at) => match position(at, i)? {
                ABSENT => Ok(ValueRef::Null),
                p => values
                    .get(p)
                    .map(ValueRef::from)
                    .ok_or(rusqlite::Error::InvalidColumnIndex(i)),
            },
        }
    }

    /// A stored time; anything that is not one reads as None.
    fn time(&self, i: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
        Ok(match self.value(i)? {
            ValueRef::Text(t) => std::str::from_utf8(t).ok().and_then(|t| from_db(t).ok()),
            _ => None,
        })
    }

    fn confidence(&self, i: usize) -> rusqlite::Result<Option<Decimal>> {
        Ok(match self.value(i)? {
            ValueRef::Real(f) => decimal_of_real(f),
            ValueRef::Integer(n) => Some(Decimal::from(n)),
            _ => None,
        })
    }

    fn source(&self, i: usize) -> rusqlite::Result<Option<&'static str>> {
        Ok(match self.value(i)? {
            ValueRef::Text(b"gamma") => Some("gamma"),
            ValueRef::Text(b"price") => Some("price"),
            ValueRef::Null => None,
            _ => Some("unknown"),
        })
    }

    /// An amount, or None (its column noted in `unreadable`) when the column holds none.
    fn amount(
        &mut self,
        value: rusqlite::types::FromSqlResult<Option<Decimal>>,
        name: &'static str,
    ) -> Option<Decimal> {
        value.unwrap_or_else(|_| {
            self.unreadable.push(name);
            None
        })
    }

    fn money(&mut self, i: usize, name: &'static str) -> rusqlite::Result<Option<Decimal>> {
        let value = Money::from_value(self.value(i)?);
        Ok(self.amount(value, name))
    }

    fn btc(&mut self, i: usize, name: &'static str) -> rusqlite::Result<Option<Decimal>> {
        let value = BtcPrice::from_value(self.value(i)?);
        Ok(self.amount(value, name))
    }
}

/// The position of a column a row read by position does not have (a table or file from an
/// older version): it reads as NULL.
pub const ABSENT: usize = usize::MAX;

/// Where cell `i` is in a row read by position.
fn position(at: &[usize], i: usize) -> rusqlite::Result<usize> {
    at.get(i)
        .copied()
        .ok_or(rusqlite::Error::InvalidColumnIndex(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The column list and the names of the decision's columns are one list.
    #[test]
    fn the_decision_columns_are_one_list() {
        let text: Vec<&str> = decision_columns!().split(',').map(str::trim).collect();
        assert_eq!(text, DECISION_COLUMNS);
        let all: Vec<&str> = COLUMNS.split(',').map(str::trim).collect();
        assert_eq!(all[2..30], DECISION_COLUMNS);
        assert_eq!(all.len(), 45);
        // The figures' columns are the same columns.
        for column in SCORED_COLUMNS.split(',').map(str::trim) {
            assert!(all.contains(&column), "{column}");
        }
    }

    /// A stored confidence reads as the decimal the trader wrote, so thresholds compare
    /// exactly: 0.7 ≥ 0.7, and 0.85 is outside [0.75, 0.85).
    #[test]
    fn confidence_reads_as_the_decimal_written() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(decimal_of_real(0.7), Some(d("0.7")));
        assert_eq!(decimal_of_real(0.85), Some(d("0.85")));
        assert_eq!(decimal_of_real(1.0), Some(d("1")));
        assert_eq!(decimal_of_real(0.1 + 0.2), Some(d("0.30000000000000004")));
        assert!(decimal_of_real(0.85).unwrap() >= d("0.75") + d("0.10"));
        assert_eq!(decimal_of_real(f64::NAN), None);
        assert_eq!(decimal_of_real(1e300), None);
        assert_eq!(decimal_of_real(1e-7), Some(d("0.0000001")));
        assert_eq!(decimal_of_real(-0.25), Some(d("-0.25")));
        assert_eq!(decimal_of_real(0.123456789012), Some(d("0.123456789012")));
    }

    proptest::proptest! {
        /// The fast path and `Display` agree on every value: the shortest decimal that reads
        /// back as the same f64.
        #[test]
        fn the_shortest_decimal_reads_back(value in proptest::num::f64::ANY) {
            if let Some(d) = decimal_of_real(value) {
                let text = d.to_string();
                proptest::prop_assert_eq!(text.parse::<f64>().unwrap(), value);
                if value != 0.0 {
                    proptest::prop_assert_eq!(text, format!("{value}"));
                }
            }
        }

        #[test]
        fn confidences_read_as_written(k in 0u32..=1_000_000, places in 0u32..=6) {
            let written = Decimal::new(i64::from(k), places).normalize();
            let stored: f64 = written.to_string().parse().unwrap();
            proptest::prop_assert_eq!(decimal_of_real(stored), Some(written));
        }
    }
}
