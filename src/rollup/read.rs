//! The rollup as metrics read it: typed rows of the days a window covers.

use anyhow::Result;
use rusqlite::{params, Connection};
use rust_decimal::Decimal;

use super::figures::{Calibration, Sums, Whole};
use super::path::Mark;
use super::{Dimension, GroupTotals, Path};
use crate::db::Money;
use crate::kinds::Action;
use crate::money::pnl::BreakEven;

/// One `daily_rollup` row: archived settled decisions of one day and slice.
#[derive(Debug, Clone, Default)]
pub struct Slice {
    pub day: String,
    pub signal_type: String,
    /// None: the column holds no word a decision's action is (a hand edit).
    pub action: Option<Action>,
    pub is_end_phase: bool,
    pub n: u64,
    pub wins: u64,
    pub losses: u64,
    pub missed: u64,
    pub profit_loss: Decimal,
    pub fees: Decimal,
    pub staked: Decimal,
    /// Of the `n`, those whose details (below) are kept.
    pub detailed: u64,
    pub whole: Whole,
    pub break_even: BreakEven,
}

/// One `rollup_groups` row.
#[derive(Debug, Clone)]
pub struct GroupRow {
    pub day: String,
    pub dimension: Dimension,
    pub name: String,
    /// An hour's or a price bucket's sums.
    pub sums: Sums,
    /// A calibration bucket's.
    pub calibration: Calibration,
}

/// One `rollup_paths` row: the positions of a day one archive file took.
#[derive(Debug, Clone)]
pub struct Part {
    /// Its first position's time as stored and id: where it goes in the order of
    /// [`super::path`].
    pub first_at: String,
    pub first_id: i64,
    pub path: Path,
}

pub(super) fn count(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<u64> {
    Ok(r.get::<_, i64>(i)?.max(0) as u64)
}

pub(super) fn money(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Decimal> {
    Ok(Money::get(r, i)?.unwrap_or_default())
}

/// A decimal kept as exact text (the Brier and confidence sums).
pub(super) fn exact(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Decimal> {
    let text: String = r.get(i)?;
    Ok(text.parse().unwrap_or_default())
}

/// A `rollup_groups` row from column 0 on (wins, losses, …, brier_sum). A calibration bucket's
/// counts are in both [`Sums`] and [`Calibration`]; the caller reads the one its dimension uses.
pub(super) fn read_group(r: &rusqlite::Row<'_>) -> rusqlite::Result<GroupTotals> {
    let (wins, losses) = (count(r, 0)?, count(r, 1)?);
    Ok(GroupTotals {
        sums: Sums {
            wins,
            losses,
            fifty_fifty: count(r, 2)?,
            holds: count(r, 3)?,
            missed: count(r, 4)?,
            profit: money(r, 5)?,
            fees: money(r, 6)?,
            staked: money(r, 7)?,
            break_even: BreakEven::from_terms(money(r, 8)?, money(r, 9)?),
        },
        calibration: Calibration {
            trades: wins + losses,
            wins,
            confidence_sum: exact(r, 10)?,
            brier_sum: exact(r, 11)?,
        },
    })
}

/// Calls `each` with every `daily_rollup` row of the days `from_day..=to_day`.
pub fn each_slice(
    conn: &Connection,
    (from_day, to_day): (&str, &str),
    mut each: impl FnMut(&Slice),
) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT day, signal_type, action, is_end_phase, n, wins, losses, missed, profit_loss,
                fees, staked, detailed, gross_profit, gross_loss, fees_shares, fees_collateral,
                break_even_at_risk, break_even_swing, missed_priced, missed_per_dollar
           FROM daily_rollup WHERE day >= ?1 AND day <= ?2",
    )?;
    let mut rows = stmt.query(params![from_day, to_day])?;
    while let Some(r) = rows.next()? {
        each(&Slice {
            day: r.get(0)?,
            signal_type: r.get(1)?,
            // A word no action is (a hand edit) makes the row inconsistent, not the report fail.
            action: r.get_ref(2)?.as_str().ok().and_then(Action::parse),
            is_end_phase: r.get::<_, i64>(3)? != 0,
            n: count(r, 4)?,
            wins: count(r, 5)?,
            losses: count(r, 6)?,
            missed: count(r, 7)?,
            profit_loss: money(r, 8)?,
            fees: money(r, 9)?,
            staked: money(r, 10)?,
            detailed: count(r, 11)?,
            whole: Whole {
                gross_profit: money(r, 12)?,
                gross_loss: money(r, 13)?,
                fees_shares: money(r, 14)?,
                fees_collateral: money(r, 15)?,
                missed_priced: count(r, 18)?,
                missed_per_dollar: money(r, 19)?,
            },
            break_even: BreakEven::from_terms(money(r, 16)?, money(r, 17)?),
        });
    }
    Ok(())
}

/// Calls `each` with every `rollup_groups` row of the days `from_day..=to_day`.
pub fn each_group(
    conn: &Connection,
    (from_day, to_day): (&str, &str),
    mut each: impl FnMut(&GroupRow),
) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT wins, losses, fifty_fifty, holds, missed, profit_loss, fees, staked,
                break_even_at_risk, break_even_swing, confidence_sum, brier_sum, day, dimension,
                name
           FROM rollup_groups WHERE day >= ?1 AND day <= ?2",
    )?;
    let mut rows = stmt.query(params![from_day, to_day])?;
    while let Some(r) = rows.next()? {
        let Some(dimension) = r.get_ref(13)?.as_str().ok().and_then(Dimension::parse) else {
            continue;
        };
        let group = read_group(r)?;
        each(&GroupRow {
            day: r.get(12)?,
            dimension,
            name: r.get(14)?,
            sums: group.sums,
            calibration: group.calibration,
        });
    }
    Ok(())
}

/// The parts of the days `from_day..=to_day`, in the order of their first positions.
pub fn parts(conn: &Connection, (from_day, to_day): (&str, &str)) -> Result<Vec<Part>> {
    let mut stmt = conn.prepare_cached(concat!(
        "SELECT ",
        part_columns!(),
        " FROM rollup_paths WHERE day >= ?1 AND day <= ?2 ORDER BY first_at, first_id"
    ))?;
    let parts = stmt
        .query_map(params![from_day, to_day], read_part)?
        .collect::<rusqlite::Result<Vec<Part>>>()?;
    Ok(parts)
}

/// A part's columns, in [`read_part`]'s order.
macro_rules! part_columns {
    () => {
        "first_at, first_id, first_secs, last_secs, positions, net, high, high_secs, high_seq, \
         low, low_secs, low_seq, drawdown, peak, peak_secs, peak_seq, trough_secs, trough_seq, \
         run_start, run_end, run_longest, one_run"
    };
}
pub(super) use part_columns;

/// A `rollup_paths` row of [`part_columns`].
pub(super) fn read_part(r: &rusqlite::Row<'_>) -> rusqlite::Result<Part> {
    let mark = |level: usize| -> rusqlite::Result<Mark> {
        Ok(Mark {
            level: money(r, level)?,
            at: r.get(level + 1)?,
            seq: count(r, level + 2)?,
        })
    };
    let peak = mark(13)?;
    let drawdown = money(r, 12)?;
    Ok(Part {
        first_at: r.get(0)?,
        first_id: r.get(1)?,
        path: Path {
            first_at: r.get(2)?,
            last_at: r.get(3)?,
            positions: count(r, 4)?,
            net: money(r, 5)?,
            high: mark(6)?,
            low: mark(9)?,
            drawdown,
            peak,
            trough: Mark {
                level: peak.level - drawdown,
                at: r.get(16)?,
                seq: count(r, 17)?,
            },
            run_start: count(r, 18)?,
            run_end: count(r, 19)?,
            run_longest: count(r, 20)?,
            one_run: r.get::<_, i64>(21)? != 0,
        },
    })
}
