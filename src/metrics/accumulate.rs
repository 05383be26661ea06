//! Folds rows into [`Metrics`]. Pure: the SQL lives in [`super::compute`] and the rollup's
//! readers. The archived parts come first ([`Accumulator::add_part`], in their order), then
//! the live rows in time order (`timestamp, id`: drawdown, streaks and the equity curve depend
//! on it), each part folded in where its first position falls among them
//! ([`crate::rollup::path`] writes the rule down).

use std::collections::{BTreeMap, VecDeque};

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::{
    wilson, Bucket, Coverage, EquityPoint, FeesByAsset, Group, Metrics, Missed, WindowInfo,
    BRIER_COIN_FLIP, LIVE_ONLY, Z95,
};
use crate::kinds::Action;
use crate::rollup::figures::{self, Calibration, Hold, Position, RowFigures, Sums, Whole};
use crate::rollup::path::{self, Path};
use crate::rollup::{Dimension, GroupRow, Part, Slice};
use crate::trades::Scored;

/// One `daily_rollup` row, as metrics read it.
pub type RollupRow = Slice;

/// Largest count one rollup row may hold (10^12 decisions in one day's slice) and largest
/// amount (10^21 USDC: 10^6 positions at settlement's bound): anything more was written by
/// hand. Sums over every row of a century's days stay far inside u64 and Decimal.
const MAX_ROLLUP_COUNT: u64 = 1_000_000_000_000;
const MAX_ROLLUP_MONEY: Decimal = Decimal::from_parts(0xDEA0_0000, 0x35C9_ADC5, 0x36, false, 0);

fn is_plausible(row: &Slice) -> bool {
    let w = &row.whole;
    let (at_risk, swing) = row.break_even.terms();
    row.action.is_some()
        && [
            row.n,
            row.wins,
            row.losses,
            row.missed,
            row.detailed,
            w.missed_priced,
        ]
        .iter()
        .all(|c| *c <= MAX_ROLLUP_COUNT)
        && [
            row.profit_loss,
            row.fees,
            row.staked,
            w.gross_profit,
            w.gross_loss,
            w.fees_shares,
            w.fees_collateral,
            w.missed_per_dollar,
            at_risk,
            swing,
        ]
        .iter()
        .all(|m| m.abs() <= MAX_ROLLUP_MONEY)
}

/// A group's sums, and how many of its positions were archived without details (its
/// break-even is then unknown: it would not come from the same trades as its win rate).
#[derive(Debug, Clone, Default)]
struct GroupAcc {
    sums: Sums,
    undetailed: u64,
}

impl GroupAcc {
    /// An archived slice's sums; its break-even terms only when every position has them.
    fn add_slice(&mut self, row: &Slice) {
        let fifty_fifty = row.n.saturating_sub(row.wins + row.losses);
        let sums = Sums {
            wins: row.wins,
            losses: row.losses,
            // The rollup counts every settled YES/NO in `n`: those neither won nor lost were 50-50s.
            fifty_fifty,
            profit: row.profit_loss,
            fees: row.fees,
            staked: row.staked,
            break_even: row.break_even.clone(),
            ..Sums::default()
        };
        self.sums.merge(&sums, 1);
        self.undetailed += row.n.saturating_sub(row.detailed);
    }

    fn add_holds(&mut self, row: &Slice) {
        self.sums.holds += row.n;
        self.sums.missed += row.missed;
    }

    fn finish(&self) -> Group {
        let s = &self.sums;
        let settled = s.wins + s.losses;
        let break_even = match self.undetailed {
            0 => s.break_even.rate().and_then(|r| r.to_f64()),
            _ => None,
        };
        Group {
            settled,
            wins: s.wins,
            losses: s.losses,
            fifty_fifty: s.fifty_fifty,
            win_rate: ratio(s.wins, settled),
            win_rate_ci: wilson(s.wins, settled, Z95),
            break_even,
            total_profit: s.profit.normalize(),
            avg_profit: avg(s.profit, settled + s.fifty_fifty),
            fees: s.fees.normalize(),
            staked: s.staked.normalize(),
            roi: dec_ratio(s.profit, s.staked),
            holds: s.holds,
            missed: s.missed,
        }
    }
}

pub(super) fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

pub(super) fn dec_ratio(a: Decimal, b: Decimal) -> Option<f64> {
    if b.is_zero() {
        return None;
    }
    a.checked_div(b).and_then(|r| r.to_f64())
}

fn avg(total: Decimal, n: u64) -> Option<Decimal> {
    (n > 0).then(|| (total / Decimal::from(n)).round_dp(6).normalize())
}

const NO_SIGNAL: &str = "(none)";

fn signal_key(s: Option<&str>) -> &str {
    match s {
        Some(s) if !s.is_empty() => s,
        _ => NO_SIGNAL,
    }
}

fn end_phase_key(b: bool) -> &'static str {
    if b {
        "end_phase"
    } else {
        "not_end_phase"
    }
}

/// The group of `key` in `map`, created on first use (no allocation for a key already there).
fn slot<'a>(map: &'a mut BTreeMap<String, GroupAcc>, key: &str) -> &'a mut GroupAcc {
    if !map.contains_key(key) {
        map.insert(key.to_string(), GroupAcc::default());
    }
    // Cannot fail: the key was inserted just above when it was missing.
    map.get_mut(key).expect("inserted above")
}

/// A live row with what every group it belongs to is named by.
struct Live<'a> {
    row: &'a Scored,
    /// Its time as stored.
    stamp: &'a str,
    hour: &'a str,
    signal: &'a str,
    end_phase: bool,
}

/// The equity curve and the path it folds, as the rows and parts come.
#[derive(Debug, Default)]
struct Curve {
    path: Option<Path>,
    cumulative: Decimal,
    points: Vec<EquityPoint>,
    /// Archived parts not folded in yet, in their order.
    waiting: VecDeque<Part>,
    /// The last position time (Unix seconds) of the parts folded so far.
    reach: Option<i64>,
    /// Live positions and parts that fell inside an earlier part's span ([`Coverage`]'s
    /// `out_of_order`).
    out_of_order: u64,
}

impl Curve {
    fn push(&mut self, at: i64, cumulative: Decimal) {
        self.points.push(EquityPoint {
            at,
            cumulative: cumulative.normalize(),
        });
    }

    /// Folds in every waiting part that comes before `(stamp, id)` (all of them for None).
    fn parts_before(&mut self, key: Option<(&str, i64)>) {
        while let Some(part) = self.waiting.pop_front() {
            let before = key.is_none_or(|k| (part.first_at.as_str(), part.first_id) < k);
            if !before {
                self.waiting.push_front(part);
                break;
            }
            self.inside_a_part(part.path.first_at);
            self.reach = Some(
                self.reach
                    .map_or(part.path.last_at, |r| r.max(part.path.last_at)),
            );
            for (at, level) in part.path.chart_points(self.cumulative) {
                self.push(at, level);
            }
            self.cumulative += part.path.net;
            self.path = path::then(self.path, &part.path);
        }
    }

    /// Counts a position (or a part's first) at `at` that falls inside a part already folded:
    /// a part is folded whole at its first position, so the order near it is approximate.
    fn inside_a_part(&mut self, at: i64) {
        if self.reach.is_some_and(|reach| reach > at) {
            self.out_of_order += 1;
        }
    }

    fn add_live(&mut self, live: &Live<'_>, p: &Position) {
        self.parts_before(Some((live.stamp, live.row.id)));
        let at = live.row.timestamp.map(|t| t.timestamp());
        if let Some(at) = at {
            self.inside_a_part(at);
        }
        let unit = Path::unit(at.unwrap_or_default(), p.profit, p.is_win);
        self.path = path::then(self.path, &unit);
        self.cumulative += p.profit;
        if let Some(at) = at {
            self.push(at, self.cumulative);
        }
    }
}

/// Folds rows into [`Metrics`].
#[derive(Debug, Default)]
pub struct Accumulator {
    total: GroupAcc,
    pending: u64,
    by_signal: BTreeMap<String, GroupAcc>,
    by_action: BTreeMap<String, GroupAcc>,
    by_end_phase: BTreeMap<String, GroupAcc>,
    by_hour: BTreeMap<String, GroupAcc>,
    by_price: BTreeMap<String, GroupAcc>,
    by_day: BTreeMap<String, GroupAcc>,
    /// Archived P&L per day, and what its parts hold of it: a day's rest (rows archived
    /// without details) is a step at the day's end.
    rollup_day_profit: BTreeMap<String, Decimal>,
    /// Settled YES/NO decisions known only from the rollup, and those of them without details.
    rollup_positions: u64,
    undetailed_positions: u64,
    whole: Whole,
    positions: u64,
    calibration: [Calibration; 6],
    curve: Curve,
    missed: Missed,
    coverage: Coverage,
    rollup_first: Option<String>,
    rollup_last: Option<String>,
    live_first: Option<String>,
    live_last: Option<String>,
}

impl Accumulator {
    pub fn new() -> Accumulator {
        Accumulator::default()
    }

    /// The groups every settled decision belongs to (not the hour or price: those come from
    /// a live row or the rollup's groups).
    fn common(&mut self, signal: &str, action: Action, end_phase: bool) -> [&mut GroupAcc; 4] {
        [
            &mut self.total,
            slot(&mut self.by_signal, signal),
            slot(&mut self.by_action, action.as_str()),
            slot(&mut self.by_end_phase, end_phase_key(end_phase)),
        ]
    }

    /// Adds one live row (settled or pending; the caller never passes unsettleable ones), after
    /// every archived part (in [`Accumulator::add_parts`]) that comes before it.
    pub fn add_live(&mut self, row: &Scored) {
        let Some(row_figures) = figures::of(row) else {
            if row.action != Action::Hold {
                self.pending += 1;
            }
            return;
        };
        // The time as stored: its hour and day name the groups ("" for a time that is none).
        let stamp = row.timestamp.map(crate::time::to_db).unwrap_or_default();
        let live = Live {
            row,
            stamp: &stamp,
            hour: stamp.get(11..13).unwrap_or("??"),
            signal: signal_key(row.signal_type.as_deref()),
            end_phase: row.is_end_phase.unwrap_or(false),
        };
        match row_figures {
            RowFigures::Hold(h) => self.add_live_hold(&live, &h),
            RowFigures::Position(p) => self.add_live_position(&live, &p),
            RowFigures::Inconsistent => self.coverage.inconsistent_rows += 1,
        }
    }

    /// A settled position's figures in every group it belongs to.
    fn add_live_position(&mut self, live: &Live<'_>, position: &Position) {
        self.coverage.live_decisions += 1;
        self.whole.add_position(position);
        for g in self.common(live.signal, live.row.action, live.end_phase) {
            g.sums.add_position(position);
        }
        slot(&mut self.by_hour, live.hour)
            .sums
            .add_position(position);
        if let Some(price) = position.price {
            slot(&mut self.by_price, figures::price_bucket(price))
                .sums
                .add_position(position);
        }
        slot(&mut self.by_day, live.stamp.get(..10).unwrap_or("?"))
            .sums
            .add_position(position);
        self.positions += 1;
        if self.live_first.is_none() {
            self.live_first = Some(live.stamp.to_string());
        }
        self.live_last = Some(live.stamp.to_string());
        self.curve.add_live(live, position);
        if let (Some(c), Some(won)) = (position.confidence, position.is_win) {
            self.calibration[figures::bucket_of(c)].add(c, won);
        }
    }

    fn add_live_hold(&mut self, live: &Live<'_>, hold: &Hold) {
        self.coverage.live_decisions += 1;
        slot(&mut self.by_hour, live.hour).sums.add_hold(hold);
        for g in self.common(live.signal, live.row.action, live.end_phase) {
            g.sums.add_hold(hold);
        }
        if hold.missed {
            self.missed.count += 1;
        }
        self.whole.add_hold(hold);
    }

    /// Adds one rollup row (archived decisions of a day and slice).
    pub fn add_rollup(&mut self, row: &Slice) {
        // Figures no archival writes (a row edited by hand): counted as inconsistent rather
        // than summed into an overflow.
        if !is_plausible(row) {
            self.coverage.inconsistent_rows += 1;
            return;
        }
        let signal = signal_key(Some(&row.signal_type)).to_string();
        // Plausible: it has one.
        let action = row.action.unwrap_or(Action::Hold);
        self.coverage.rollup_decisions += row.n;
        self.rollup_days(&row.day);
        self.whole.merge(&row.whole, 1);
        if action == Action::Hold {
            self.missed.count += row.missed;
            for g in self.common(&signal, action, row.is_end_phase) {
                g.add_holds(row);
            }
            return;
        }
        let positions = row.n.max(row.wins + row.losses);
        self.rollup_positions += positions;
        self.undetailed_positions += row.n.saturating_sub(row.detailed);
        *self.rollup_day_profit.entry(row.day.clone()).or_default() += row.profit_loss;
        slot(&mut self.by_day, &row.day).add_slice(row);
        for g in self.common(&signal, action, row.is_end_phase) {
            g.add_slice(row);
        }
    }

    fn rollup_days(&mut self, day: &str) {
        if self.rollup_first.as_deref().is_none_or(|d| day < d) {
            self.rollup_first = Some(day.to_string());
        }
        if self.rollup_last.as_deref().is_none_or(|d| day > d) {
            self.rollup_last = Some(day.to_string());
        }
    }

    /// Adds one archived day's group (by hour, by price, a calibration bucket).
    pub fn add_group(&mut self, row: &GroupRow) {
        let map = match row.dimension {
            Dimension::Hour => &mut self.by_hour,
            Dimension::Price => &mut self.by_price,
            Dimension::Confidence => {
                let bucket = row.name.parse::<usize>().ok().filter(|b| *b < 6);
                match bucket {
                    Some(b) => self.calibration[b].merge(&row.calibration, 1),
                    None => self.coverage.inconsistent_rows += 1,
                }
                return;
            }
        };
        slot(map, &row.name).sums.merge(&row.sums, 1);
    }

    /// Adds the archived parts of the window, in their order (before any live row).
    pub fn add_parts(&mut self, parts: Vec<Part>) {
        for part in &parts {
            if let Some(day) = part.first_at.get(..10) {
                *self.rollup_day_profit.entry(day.to_string()).or_default() -= part.path.net;
            }
            self.positions += part.path.positions;
        }
        self.curve.waiting.extend(parts);
    }

    /// Each day's archived P&L that no part holds (rows archived before parts existed), as one
    /// step at the day's end, among the parts.
    fn day_rests(&mut self) {
        let mut rests: Vec<Part> = std::mem::take(&mut self.rollup_day_profit)
            .into_iter()
            .filter(|(_, pl)| !pl.is_zero())
            .filter_map(|(day, pl)| {
                let end = format!("{day} 23:59:59");
                let secs = crate::time::epoch_secs(&end)?;
                Some(Part {
                    first_at: end,
                    first_id: i64::MAX,
                    path: Path::unit(secs, pl, None),
                })
            })
            .collect();
        if rests.is_empty() {
            return;
        }
        rests.extend(self.curve.waiting.drain(..));
        rests.sort_by(|a, b| (&a.first_at, a.first_id).cmp(&(&b.first_at, b.first_id)));
        self.curve.waiting = rests.into();
    }

    /// Call once the rollup is in, before the first live row.
    pub fn rollup_done(&mut self) {
        self.day_rests();
    }

    fn calibration_buckets(&self) -> Vec<Bucket> {
        let labels = [
            (0.0, 0.5),
            (0.5, 0.6),
            (0.6, 0.7),
            (0.7, 0.8),
            (0.8, 0.9),
            (0.9, 1.0),
        ];
        self.calibration
            .iter()
            .zip(labels)
            .enumerate()
            // The bucket below 0.5 only appears when it holds trades.
            .filter(|(i, (b, _))| *i > 0 || b.trades > 0)
            .map(|(_, (b, (low, high)))| Bucket {
                low,
                high,
                trades: b.trades,
                wins: b.wins,
                win_rate: ratio(b.wins, b.trades),
                win_rate_ci: wilson(b.wins, b.trades, Z95),
                mean_confidence: mean(b.confidence_sum, b.trades),
            })
            .collect()
    }

    /// The Brier score over every bucket: exact sums, one division.
    fn brier(&self) -> Option<f64> {
        let (sum, n) = self
            .calibration
            .iter()
            .fold((Decimal::ZERO, 0u64), |(s, n), b| {
                (s + b.brier_sum, n + b.trades)
            });
        mean(sum, n)
    }

    pub fn finish(mut self, window: WindowInfo) -> Metrics {
        self.day_rests();
        self.curve.parts_before(None);
        let total = self.total.finish();
        // The figures that need every row describe the whole window only when each archived
        // position in it kept its details, and exist only when some position settled.
        let complete = self.undetailed_positions == 0;
        let per_row = complete && self.positions > 0;
        let calibration = complete.then(|| self.calibration_buckets());
        let brier = if complete { self.brier() } else { None };
        let finish_map = |m: &BTreeMap<String, GroupAcc>| {
            m.iter()
                .map(|(k, g)| (k.clone(), g.finish()))
                .collect::<BTreeMap<_, _>>()
        };
        let path = self.curve.path.filter(|_| per_row);
        let whole = &self.whole;
        let mut missed = self.missed;
        missed.priced = whole.missed_priced;
        missed.profit_per_dollar = whole.missed_per_dollar.round_dp(6).normalize();
        missed.basis =
            "per $1 staked on the favoured side at the recorded yes_price/no_price, before fees";
        let mut coverage = self.coverage;
        coverage.rollup_days = self.rollup_first.zip(self.rollup_last).map(|(a, b)| [a, b]);
        coverage.live_rows = self.live_first.zip(self.live_last).map(|(a, b)| [a, b]);
        coverage.per_row_complete = complete;
        coverage.out_of_order = self.curve.out_of_order;
        coverage.live_only = if complete {
            Vec::new()
        } else {
            LIVE_ONLY.to_vec()
        };
        let if_per_row = |d: Decimal| per_row.then(|| d.normalize());
        Metrics {
            window,
            trades: total.settled + total.fifty_fifty + self.pending,
            settled: total.settled,
            pending: self.pending,
            wins: total.wins,
            losses: total.losses,
            fifty_fifty: total.fifty_fifty,
            holds: total.holds,
            win_rate: total.win_rate,
            win_rate_ci: total.win_rate_ci,
            break_even: total.break_even,
            total_profit: total.total_profit,
            avg_profit: total.avg_profit,
            fees: total.fees,
            fees_by_asset: complete.then(|| FeesByAsset {
                shares: whole.fees_shares.normalize(),
                collateral: whole.fees_collateral.normalize(),
            }),
            staked: total.staked,
            roi: total.roi,
            gross_profit: if_per_row(whole.gross_profit),
            gross_loss: if_per_row(whole.gross_loss),
            profit_factor: match per_row {
                true => dec_ratio(whole.gross_profit, whole.gross_loss),
                false => None,
            },
            max_drawdown: path.map(|p| p.drawdown.normalize()),
            longest_losing_streak: path.map(|p| p.run_longest),
            current_losing_streak: path.map(|p| p.run_end),
            brier,
            brier_coin_flip: BRIER_COIN_FLIP,
            calibration,
            missed_opportunities: missed,
            by_signal: finish_map(&self.by_signal),
            by_action: finish_map(&self.by_action),
            by_end_phase: finish_map(&self.by_end_phase),
            by_hour: finish_map(&self.by_hour),
            by_price: finish_map(&self.by_price),
            periods: None,
            coverage,
            by_day: finish_map(&self.by_day),
            equity: self.curve.points,
        }
    }
}

/// sum / n as a float; None for no terms.
fn mean(sum: Decimal, n: u64) -> Option<f64> {
    (n > 0)
        .then(|| sum.checked_div(Decimal::from(n)))
        .flatten()
        .and_then(|m| m.to_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::{FeeAsset, SettlementStatus};
    use crate::rollup::figures::price_bucket;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn rollup_bounds_are_what_they_say() {
        assert_eq!(MAX_ROLLUP_MONEY, d("1000000000000000000000"));
        assert_eq!(crate::db::MAX_ROW_MONEY, d("1000000000000000"));
    }

    /// A rollup row edited by hand past what archival writes (a count of 2^63 - 1, an amount
    /// near Decimal's limit) is set aside as inconsistent: summing two of them would overflow.
    #[test]
    fn implausible_rollup_rows_are_set_aside_not_summed() {
        let row = |n: u64, profit: &str| RollupRow {
            day: "2026-02-11".into(),
            signal_type: "BULLISH".into(),
            action: Some(Action::Yes),
            is_end_phase: false,
            n,
            wins: n,
            losses: 0,
            missed: 0,
            profit_loss: d(profit),
            fees: Decimal::ZERO,
            staked: Decimal::ZERO,
            ..RollupRow::default()
        };
        let mut acc = Accumulator::default();
        for bad in [
            row(i64::MAX as u64, "1"),
            row(1, "79228162514264337593543950335"),
        ] {
            acc.add_rollup(&bad);
            acc.add_rollup(&bad);
        }
        acc.add_rollup(&row(2, "3.5"));
        assert_eq!(acc.coverage.inconsistent_rows, 4);
        assert_eq!(acc.coverage.rollup_decisions, 2);
    }

    fn trade(ts: &str, win: bool, pl: &str) -> Scored {
        Scored {
            timestamp: crate::time::from_db(ts).ok(),
            action: Action::Yes,
            confidence: Some(d("0.8")),
            signal_type: Some("BULLISH".into()),
            settlement_status: SettlementStatus::Settled,
            is_win: Some(win),
            profit_loss: Some(d(pl)),
            position_size: Some(d("5")),
            ..Scored::default()
        }
    }

    fn info() -> WindowInfo {
        WindowInfo {
            label: "test".into(),
            from: None,
            to: None,
            now: String::new(),
        }
    }

    #[test]
    fn drawdown_streaks_and_profit_factor() {
        // Curve: +4, -1, -6, -1, +3, +7 → peak 4, trough -6: drawdown 10.
        let seq = [
            (true, "4"),
            (false, "-5"),
            (false, "-5"),
            (true, "5"),
            (true, "4"),
            (true, "4"),
            (false, "-1"),
        ];
        let mut acc = Accumulator::new();
        for (i, (w, pl)) in seq.iter().enumerate() {
            acc.add_live(&trade(&format!("2026-02-11 10:{i:02}:00"), *w, pl));
        }
        let m = acc.finish(info());
        assert_eq!(m.max_drawdown, Some(d("10")));
        assert_eq!(m.longest_losing_streak, Some(2));
        assert_eq!(m.current_losing_streak, Some(1));
        assert_eq!(m.total_profit, d("6"));
        assert_eq!(m.gross_profit, Some(d("17")));
        assert_eq!(m.gross_loss, Some(d("11")));
        assert!((m.profit_factor.unwrap() - 17.0 / 11.0).abs() < 1e-12);
        assert_eq!(m.equity.len(), 7);
        assert_eq!(m.equity[6].cumulative, d("6"));
        assert_eq!(m.by_hour["10"].settled, 7);
        assert_eq!(m.by_day["2026-02-11"].total_profit, d("6"));
    }

    #[test]
    fn empty_gives_nulls_not_nan_or_zero() {
        let m = Accumulator::new().finish(info());
        assert_eq!(m.win_rate, None);
        assert_eq!(m.win_rate_ci, None);
        assert_eq!(m.brier, None);
        assert_eq!(m.profit_factor, None);
        assert_eq!(m.max_drawdown, None);
        assert_eq!(m.longest_losing_streak, None);
        assert_eq!(m.calibration.as_ref().map(Vec::len), Some(5));
        let json = serde_json::to_string(&m).unwrap();
        assert!(!json.contains("NaN"), "{json}");
    }

    /// Once positions archived without details (before migration 0012) are in the window, the
    /// figures that need every row are null (never the live rows' figures passed off as the
    /// window's), the groups holding them have no break-even, and the curve steps through the
    /// archived days.
    #[test]
    fn archived_positions_make_per_row_figures_null() {
        let mut acc = Accumulator::new();
        acc.add_rollup(&RollupRow {
            day: "2026-02-01".into(),
            signal_type: "BULLISH".into(),
            action: Some(Action::Yes),
            n: 3,
            wins: 2,
            losses: 1,
            profit_loss: d("3"),
            fees: d("0.3"),
            staked: d("15"),
            ..RollupRow::default()
        });
        acc.rollup_done();
        acc.add_live(&trade("2026-02-11 10:00:00", false, "-5"));
        let m = acc.finish(info());
        assert_eq!((m.settled, m.total_profit), (4, d("-2")));
        assert_eq!(m.max_drawdown, None);
        assert_eq!(m.longest_losing_streak, None);
        assert_eq!(m.brier, None);
        assert_eq!(m.calibration, None);
        assert_eq!(m.fees_by_asset, None);
        assert!(!m.coverage.per_row_complete);
        let curve: Vec<Decimal> = m.equity.iter().map(|p| p.cumulative).collect();
        // The archived day as a step at its end (from the level before it), then the live row.
        assert_eq!(curve, vec![d("0"), d("3"), d("-2")]);
        assert_eq!(m.by_day["2026-02-01"].total_profit, d("3"));
        assert_eq!(m.by_signal["BULLISH"].break_even, None);
    }

    /// A part is folded whole at its first position: a live position (or a later part) that
    /// falls inside an earlier part's span is counted, so the report can say the order near it
    /// is approximate. Positions after the part's last one are in order.
    #[test]
    fn positions_inside_an_archived_part_are_counted_out_of_order() {
        let secs = |t: &str| crate::time::epoch_secs(t).unwrap();
        let part = |from: &str, to: &str, id: i64| Part {
            first_at: from.into(),
            first_id: id,
            path: Path::unit(secs(from), d("1"), Some(true)).then(&Path::unit(
                secs(to),
                d("-1"),
                Some(false),
            )),
        };
        let mut acc = Accumulator::new();
        acc.add_parts(vec![
            part("2026-02-11 10:00:00", "2026-02-11 12:00:00", 1),
            part("2026-02-11 11:00:00", "2026-02-11 11:30:00", 5),
        ]);
        acc.rollup_done();
        acc.add_live(&trade("2026-02-11 11:45:00", true, "2"));
        acc.add_live(&trade("2026-02-11 12:30:00", true, "2"));
        let m = acc.finish(info());
        // The second part starts inside the first; the 11:45 position too; 12:30 does not.
        assert_eq!(m.coverage.out_of_order, 2);

        let mut acc = Accumulator::new();
        acc.add_parts(vec![part("2026-02-11 10:00:00", "2026-02-11 12:00:00", 1)]);
        acc.rollup_done();
        acc.add_live(&trade("2026-02-11 12:00:00", true, "2"));
        assert_eq!(
            acc.finish(info()).coverage.out_of_order,
            0,
            "a tie is in order"
        );
    }

    #[test]
    fn break_even_follows_the_fee_model() {
        // p = 0.50, 10 USDC: 20 shares, settlement's taker fee at rate 0.07 is 0.35 USDC in
        // collateral, so P&L is zero at a win rate of 10.35 / 20 = 51.75%.
        let model = crate::money::fees::FeeModel::new(d("0.07"), d("1")).unwrap();
        let fee = crate::money::fees::taker_fee(d("20"), d("0.50"), model).unwrap();
        assert_eq!(fee, d("0.35"));
        let mut row = trade("2026-05-02 10:00:00", false, "-10.35");
        row.position_size = Some(d("10"));
        row.executed_price = Some(d("0.50"));
        row.fee = Some(fee);
        row.fee_asset = Some(FeeAsset::Collateral);
        let mut acc = Accumulator::new();
        acc.add_live(&row);
        let m = acc.finish(info());
        let be = m.by_signal["BULLISH"].break_even.unwrap();
        assert!((be - 0.5175).abs() < 1e-9, "{be}");
        assert_eq!(m.by_price["0.50-0.55"].settled, 1);
    }

    #[test]
    fn price_buckets_sort_in_price_order() {
        let names: Vec<&str> = ["0.10", "0.30", "0.52", "0.6999", "0.70", "0.99"]
            .iter()
            .map(|p| price_bucket(d(p)))
            .collect();
        assert_eq!(
            names,
            [
                "0.00-0.30",
                "0.30-0.35",
                "0.50-0.55",
                "0.60-0.70",
                "0.70-1.00",
                "0.70-1.00"
            ]
        );
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(sorted, names);
    }

    #[test]
    fn missed_opportunity_pays_at_the_favoured_price() {
        let mut acc = Accumulator::new();
        let hold = |score: f64| Scored {
            timestamp: crate::time::from_db("2026-02-11 10:00:00").ok(),
            action: Action::Hold,
            settlement_status: SettlementStatus::Settled,
            final_score: Some(score),
            is_missed_opportunity: Some(true),
            yes_price: Some(d("0.40")),
            no_price: Some(d("0.25")),
            ..Scored::default()
        };
        acc.add_live(&hold(0.3)); // YES at 0.40 → 0.6/0.4 = 1.5
        acc.add_live(&hold(-0.3)); // NO at 0.25 → 0.75/0.25 = 3
        acc.add_live(&hold(0.0)); // no favoured side: counted, not priced
        let m = acc.finish(info());
        assert_eq!(m.missed_opportunities.count, 3);
        assert_eq!(m.missed_opportunities.priced, 2);
        assert_eq!(m.missed_opportunities.profit_per_dollar, d("4.5"));
        assert_eq!(m.holds, 3);
        assert_eq!(m.settled, 0);
        assert_eq!(m.win_rate, None);
    }
}
