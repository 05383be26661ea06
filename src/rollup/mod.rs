//! The per-day rollup of archived trades: what metrics add to the live `trades` table so that
//! every figure survives archival. Holds ONLY rows that have left `trades`; the archive job
//! adds them in the transaction that deletes them, restore takes them out again.
//!
//! - `daily_rollup`: per day, signal, action and end phase, the sums (n, wins, losses, missed,
//!   P&L, fees, staked) and, since migration 0012, the details (`detailed` of its decisions):
//!   gross P&L, fees by asset, break-even terms, priced missed opportunities.
//! - `rollup_groups`: per day, the groups no slice keeps (by hour, by price, calibration
//!   buckets with their Brier sums).
//! - `rollup_paths`: per day and archive file, the path of the positions the file took
//!   (drawdown, losing streaks, the curve's turning points: [`path`]), which compose in time
//!   order; `rollup_files` lists the files whose rows' details are in the rollup.
//!
//! What one row adds is [`figures`]'s, the same definition metrics folds live rows with.

use std::collections::BTreeMap;

use anyhow::Result;
use rusqlite::{params, Connection, OptionalExtension};
use rust_decimal::Decimal;

use crate::kinds::{Action, SettlementStatus};
use crate::money::pnl::BreakEven;
pub use crate::trades::{TradeColumns, TradeFacts};

pub mod figures;
pub mod path;
mod read;
mod store;

use figures::{Calibration, RowFigures, Sums, Whole};
pub use path::Path;
pub use read::{each_group, each_slice, parts, GroupRow, Part, Slice};

/// The first archived UTC day with a settled position (a day of HOLDs only has none).
pub fn first_day_with_a_result(conn: &Connection) -> Result<Option<chrono::NaiveDate>> {
    let first: Option<String> = conn
        .prepare_cached("SELECT min(day) FROM daily_rollup WHERE wins + losses > 0")?
        .query_row([], |r| r.get(0))?;
    Ok(first.and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()))
}

/// One `daily_rollup` row's key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    /// 'YYYY-MM-DD' (UTC) of the decision.
    pub day: String,
    /// '' when the decision had no signal type.
    pub signal_type: String,
    pub action: Action,
    /// 0 when unknown.
    pub is_end_phase: i64,
}

/// The figures of one `daily_rollup` row (or of a change to it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// Settled decisions.
    pub n: i64,
    /// Settled YES/NO that won / lost.
    pub wins: i64,
    pub losses: i64,
    /// Settled HOLDs that were missed opportunities.
    pub missed: i64,
    pub profit_loss: Decimal,
    pub fees: Decimal,
    /// position_size of settled YES/NO.
    pub staked: Decimal,
    /// Of the `n` decisions, those whose details below are kept (archived since 0012).
    pub detailed: i64,
    pub whole: Whole,
    pub break_even: BreakEven,
}

impl Totals {
    fn add(&mut self, other: &Totals, sign: i64) {
        let s = Decimal::from(sign);
        self.n += sign * other.n;
        self.wins += sign * other.wins;
        self.losses += sign * other.losses;
        self.missed += sign * other.missed;
        self.profit_loss += s * other.profit_loss;
        self.fees += s * other.fees;
        self.staked += s * other.staked;
        self.detailed += sign * other.detailed;
        self.whole.merge(&other.whole, sign);
        let ((a, b), (c, d)) = (self.break_even.terms(), other.break_even.terms());
        self.break_even = BreakEven::from_terms(a + s * c, b + s * d);
    }

    /// Without the details: what an archive file written before 0012 added.
    fn without_details(&self) -> Totals {
        Totals {
            detailed: 0,
            whole: Whole::default(),
            break_even: BreakEven::default(),
            ..self.clone()
        }
    }

    fn is_zero(&self) -> bool {
        *self == Totals::default()
    }
}

/// A group of `rollup_groups`: which breakdown, and its name in it.
pub type GroupKey = (String, Dimension, String);

/// The breakdowns `rollup_groups` keeps per day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dimension {
    /// Hour of day (UTC, "00".."23").
    Hour,
    /// Price bucket ([`figures::price_bucket`]).
    Price,
    /// Calibration bucket ("0".."5", [`figures::bucket_of`]).
    Confidence,
}

impl Dimension {
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Hour => "hour",
            Dimension::Price => "price",
            Dimension::Confidence => "confidence",
        }
    }

    pub fn parse(s: &str) -> Option<Dimension> {
        [Dimension::Hour, Dimension::Price, Dimension::Confidence]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// A group's sums as `rollup_groups` keeps them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupTotals {
    pub sums: Sums,
    pub calibration: Calibration,
}

/// One settled position of a day, for its path.
#[derive(Debug, Clone)]
struct Step {
    /// Its time as stored and its id: the order of [`path`].
    at: String,
    id: i64,
    secs: i64,
    profit: Decimal,
    won: Option<bool>,
}

/// Rollup changes accumulated in memory (bounded by days × slices, and one step per archived
/// position for the paths), then applied.
#[derive(Debug, Default, Clone)]
pub struct Delta {
    rows: BTreeMap<Key, Totals>,
    groups: BTreeMap<GroupKey, GroupTotals>,
    steps: BTreeMap<String, Vec<Step>>,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Adds one trade. Only settled decisions count; unsettleable (and pending) ones are ignored.
    pub fn add_trade(&mut self, t: &TradeFacts<'_>) -> Result<()> {
        if t.settlement_status != SettlementStatus::Settled {
            return Ok(());
        }
        let day = t.timestamp.get(..10).unwrap_or(t.timestamp).to_string();
        let key = Key {
            day: day.clone(),
            signal_type: t.signal_type.unwrap_or("").to_string(),
            action: t.action,
            is_end_phase: t.is_end_phase.unwrap_or(0),
        };
        let traded = t.action.is_trade();
        let mut row = Totals {
            n: 1,
            profit_loss: t.profit_loss.unwrap_or_default(),
            fees: t.fee.unwrap_or_default(),
            ..Totals::default()
        };
        if traded {
            match t.is_win {
                Some(1) => row.wins = 1,
                Some(0) => row.losses = 1,
                _ => {}
            }
            row.staked = t.position_size.unwrap_or_default();
        } else if t.is_missed_opportunity == Some(1) {
            row.missed = 1;
        }
        if let Some(figures) = figures::of(&t.scored) {
            row.detailed = 1;
            self.add_details(t, &day, &figures, &mut row);
        }
        self.rows.entry(key).or_default().add(&row, 1);
        Ok(())
    }

    /// What the figures that need the row keep of it: its slice's details, its hour, price and
    /// calibration groups, and its step in the day's path.
    fn add_details(
        &mut self,
        t: &TradeFacts<'_>,
        day: &str,
        figures: &RowFigures,
        row: &mut Totals,
    ) {
        let stamp = t
            .scored
            .timestamp
            .map(crate::time::to_db)
            .unwrap_or_default();
        let hour = stamp.get(11..13).unwrap_or("??").to_string();
        match figures {
            RowFigures::Position(p) => {
                row.whole.add_position(p);
                if let Some(be) = &p.break_even {
                    row.break_even.merge(be);
                }
                self.group(day, Dimension::Hour, hour).sums.add_position(p);
                if let Some(price) = p.price {
                    let bucket = figures::price_bucket(price).to_string();
                    self.group(day, Dimension::Price, bucket)
                        .sums
                        .add_position(p);
                }
                if let (Some(c), Some(won)) = (p.confidence, p.is_win) {
                    let bucket = figures::bucket_of(c).to_string();
                    self.group(day, Dimension::Confidence, bucket)
                        .calibration
                        .add(c, won);
                }
                self.steps.entry(day.to_string()).or_default().push(Step {
                    at: t.timestamp.to_string(),
                    id: t.scored.id,
                    secs: t.scored.timestamp.map_or(0, |at| at.timestamp()),
                    profit: p.profit,
                    won: p.is_win,
                });
            }
            RowFigures::Hold(h) => {
                row.whole.add_hold(h);
                self.group(day, Dimension::Hour, hour).sums.add_hold(h);
            }
            RowFigures::Inconsistent => {}
        }
    }

    fn group(&mut self, day: &str, dimension: Dimension, name: String) -> &mut GroupTotals {
        self.groups
            .entry((day.to_string(), dimension, name))
            .or_default()
    }

    /// Another delta's changes too (restore's rows that went back and those merged with a live
    /// decision leave the rollup together).
    pub fn absorb(&mut self, other: Delta) {
        for (key, totals) in other.rows {
            self.rows.entry(key).or_default().add(&totals, 1);
        }
        for (key, group) in other.groups {
            let mine = self.groups.entry(key).or_default();
            mine.sums.merge(&group.sums, 1);
            mine.calibration.merge(&group.calibration, 1);
        }
        for (day, steps) in other.steps {
            self.steps.entry(day).or_default().extend(steps);
        }
    }

    /// The first bucket of these changes that `daily_rollup` already counts (with how many
    /// archived decisions it holds). Rows that fall into such a bucket cannot be told apart from
    /// rows this database archived: the rollup keeps no ids.
    pub fn first_already_counted(&self, conn: &Connection) -> Result<Option<(&Key, i64)>> {
        let mut select = conn.prepare_cached(
            "SELECT n FROM daily_rollup
             WHERE day = ?1 AND signal_type = ?2 AND action = ?3 AND is_end_phase = ?4",
        )?;
        for key in self.rows.keys() {
            let k = params![key.day, key.signal_type, key.action, key.is_end_phase];
            let n: Option<i64> = select.query_row(k, |r| r.get(0)).optional()?;
            if let Some(n) = n.filter(|n| *n > 0) {
                return Ok(Some((key, n)));
            }
        }
        Ok(None)
    }

    /// The rows of archive file `file` left `trades`: adds them to the rollup, their paths
    /// under the file's name. Part of the caller's transaction.
    pub fn archived(&self, conn: &Connection, file: &str) -> Result<()> {
        store::apply_slices(conn, &self.rows, 1, true)?;
        if !store::details_kept(conn)? {
            return Ok(());
        }
        store::apply_groups(conn, &self.groups, 1)?;
        for (day, steps) in &self.steps {
            store::add_part(conn, day, file, part_of(steps))?;
        }
        store::mark_file(conn, file)
    }

    /// The rows went back into `trades`: takes them out of the rollup. `files` are the archive
    /// files that hold exactly these rows (the one they left with, and any earlier file of
    /// the same rows: rows restored and archived again). Rows that left with a file archived
    /// before the details existed (0012) take out only their sums; since, their details and
    /// the file's paths too. Part of the caller's transaction.
    pub fn restored(&self, conn: &Connection, files: &[&str]) -> Result<()> {
        if !store::details_kept(conn)? {
            return store::apply_slices(conn, &self.rows, -1, false);
        }
        let mut detailed = false;
        for file in files {
            detailed |= store::forget_file(conn, file)?;
        }
        store::apply_slices(conn, &self.rows, -1, detailed)?;
        if detailed {
            store::apply_groups(conn, &self.groups, -1)?;
            for file in files {
                store::remove_parts(conn, file)?;
            }
        }
        Ok(())
    }

    /// Adds (`sign` = 1) or subtracts (`sign` = -1) the sums of the accumulated changes to
    /// `daily_rollup`, details included, without paths (tests that build a rollup by hand).
    pub fn apply(&self, conn: &Connection, sign: i64) -> Result<()> {
        store::apply_slices(conn, &self.rows, sign, true)
    }
}

/// The path of one day's positions, in the order of [`path`]; with the time and id of its
/// first position (where it goes among other parts and live rows).
fn part_of(steps: &[Step]) -> Option<(String, i64, Path)> {
    let mut order: Vec<&Step> = steps.iter().collect();
    order.sort_by(|a, b| (a.at.as_str(), a.id).cmp(&(b.at.as_str(), b.id)));
    let first = order.first()?;
    let path = order
        .iter()
        .map(|s| Path::unit(s.secs, s.profit, s.won))
        .fold(None, |acc, unit| path::then(acc, &unit))?;
    Some((first.at.clone(), first.id, path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Money;
    use std::str::FromStr;

    fn trade<'a>(
        action: &'a str,
        status: &'a str,
        is_win: Option<i64>,
        missed: Option<i64>,
        pl: Option<&'a str>,
    ) -> TradeFacts<'a> {
        TradeFacts {
            scored: crate::trades::Scored {
                timestamp: crate::time::from_db("2026-02-11 10:30:00").ok(),
                action: action.parse().unwrap(),
                settlement_status: status.parse().unwrap(),
                is_win: is_win.map(|w| w == 1),
                is_missed_opportunity: missed.map(|m| m == 1),
                profit_loss: pl.map(|p| Decimal::from_str(p).unwrap()),
                fee: Some(Decimal::new(1, 2)),
                position_size: Some(Decimal::new(500, 2)),
                ..Default::default()
            },
            timestamp: "2026-02-11 10:30:00",
            signal_type: None,
            action: action.parse().unwrap(),
            is_end_phase: None,
            settlement_status: status.parse().unwrap(),
            is_win,
            is_missed_opportunity: missed,
            profit_loss: pl.map(|p| Decimal::from_str(p).unwrap()),
            fee: Some(Decimal::new(1, 2)),
            position_size: Some(Decimal::new(500, 2)),
        }
    }

    #[test]
    fn counts_each_kind_of_trade() {
        // (trade, expected n, wins, losses, missed, staked)
        let cases = [
            (
                trade("YES", "settled", Some(1), None, Some("4.5")),
                1,
                1,
                0,
                0,
                "5.00",
            ),
            (
                trade("NO", "settled", Some(0), None, Some("-5")),
                1,
                0,
                1,
                0,
                "5.00",
            ),
            (
                trade("HOLD", "settled", None, Some(1), None),
                1,
                0,
                0,
                1,
                "0",
            ),
            (
                trade("HOLD", "settled", None, Some(0), None),
                1,
                0,
                0,
                0,
                "0",
            ),
            (
                trade("YES", "unsettleable", None, None, None),
                0,
                0,
                0,
                0,
                "0",
            ),
        ];
        for (t, n, wins, losses, missed, staked) in cases {
            let mut delta = Delta::default();
            delta.add_trade(&t).unwrap();
            let got = delta.rows.values().next().cloned().unwrap_or_default();
            assert_eq!(
                (got.n, got.wins, got.losses, got.missed),
                (n, wins, losses, missed),
                "{t:?}"
            );
            assert_eq!(got.staked, Decimal::from_str(staked).unwrap(), "{t:?}");
        }
    }

    #[test]
    fn apply_then_subtract_leaves_nothing_and_sums_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::db::create(&dir.path().join("rollup.db")).unwrap();
        let mut delta = Delta::default();
        delta
            .add_trade(&trade("YES", "settled", Some(1), None, Some("0.1")))
            .unwrap();
        delta
            .add_trade(&trade("YES", "settled", Some(1), None, Some("0.2")))
            .unwrap();
        delta.apply(&conn, 1).unwrap();
        delta.apply(&conn, 1).unwrap();
        // 0.1 + 0.2 + 0.1 + 0.2 is 0.6000000000000001 in f64; stored and read back it is 0.6.
        let (n, pl, fees, typ): (i64, Money, Money, String) = conn
            .query_row(
                "SELECT n, profit_loss, fees, typeof(profit_loss) FROM daily_rollup",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(
            (n, pl.0, fees.0),
            (4, Decimal::new(6, 1), Decimal::new(4, 2))
        );
        assert_eq!((pl.0.to_string(), typ.as_str()), ("0.6".into(), "real"));
        delta.apply(&conn, -1).unwrap();
        delta.apply(&conn, -1).unwrap();
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM daily_rollup", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 0);
    }
}
