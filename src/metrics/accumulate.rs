//! Folds rows into [`Metrics`]. Pure: the SQL lives in [`super::compute`]. Live rows come in
//! time order (drawdown, streaks and the equity curve depend on it), then the rollup's rows.

use std::collections::BTreeMap;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::{
    wilson, Bucket, Coverage, EquityPoint, FeesByAsset, Group, Metrics, Missed, WindowInfo,
    BRIER_COIN_FLIP, LIVE_ONLY, Z95,
};
use crate::kinds::{Action, FeeAsset, SettlementStatus};
use crate::money::pnl::{self, BreakEven, Charge};
use crate::trades::Scored;

/// Largest amount of money one live row may carry into the sums (10^15 USDC; settlement bounds
/// a position's payout at 10^12). Sums of such rows cannot overflow a Decimal.
const MAX_ROW_MONEY: Decimal = Decimal::from_parts(0xA4C6_8000, 0x38D7E, 0, false, 0);

/// One `daily_rollup` row (archived settled decisions of one day and slice).
#[derive(Debug, Clone, Default)]
pub struct RollupRow {
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
}

/// Largest count one rollup row may hold (10^12 decisions in one day's slice) and largest
/// amount (10^21 USDC: 10^6 positions at settlement's bound): anything more was written by
/// hand. Sums over every row of a century's days stay far inside u64 and Decimal.
const MAX_ROLLUP_COUNT: u64 = 1_000_000_000_000;
const MAX_ROLLUP_MONEY: Decimal = Decimal::from_parts(0xDEA0_0000, 0x35C9_ADC5, 0x36, false, 0);

impl RollupRow {
    fn is_plausible(&self) -> bool {
        self.action.is_some()
            && [self.n, self.wins, self.losses, self.missed]
                .iter()
                .all(|c| *c <= MAX_ROLLUP_COUNT)
            && [self.profit_loss, self.fees, self.staked]
                .iter()
                .all(|m| m.abs() <= MAX_ROLLUP_MONEY)
    }
}

#[derive(Debug, Clone, Default)]
struct GroupAcc {
    wins: u64,
    losses: u64,
    fifty_fifty: u64,
    profit: Decimal,
    fees: Decimal,
    staked: Decimal,
    holds: u64,
    missed: u64,
    break_even: BreakEven,
}

/// One settled position's figures, as every group it belongs to adds them.
struct Position {
    /// `None`: resolved 50-50, neither a win nor a loss.
    is_win: Option<bool>,
    profit: Decimal,
    fee: Decimal,
    staked: Decimal,
    /// Its own break-even terms (none when its price is unknown).
    break_even: Option<BreakEven>,
}

impl GroupAcc {
    fn add(&mut self, p: &Position) {
        match p.is_win {
            Some(true) => self.wins += 1,
            Some(false) => self.losses += 1,
            None => self.fifty_fifty += 1,
        }
        self.profit += p.profit;
        self.fees += p.fee;
        self.staked += p.staked;
        if let Some(be) = &p.break_even {
            self.break_even.merge(be);
        }
    }

    /// An archived day's sums (no prices: they add nothing to the break-even).
    fn add_sums(&mut self, row: &RollupRow) {
        self.wins += row.wins;
        self.losses += row.losses;
        // The rollup counts every settled YES/NO in `n`: those neither won nor lost were 50-50s.
        self.fifty_fifty += row.n.saturating_sub(row.wins + row.losses);
        self.profit += row.profit_loss;
        self.fees += row.fees;
        self.staked += row.staked;
    }

    fn finish(&self) -> Group {
        let settled = self.wins + self.losses;
        Group {
            settled,
            wins: self.wins,
            losses: self.losses,
            fifty_fifty: self.fifty_fifty,
            win_rate: ratio(self.wins, settled),
            win_rate_ci: wilson(self.wins, settled, Z95),
            break_even: self.break_even.rate().and_then(|r| r.to_f64()),
            total_profit: self.profit.normalize(),
            avg_profit: avg(self.profit, settled + self.fifty_fifty),
            fees: self.fees.normalize(),
            staked: self.staked.normalize(),
            roi: dec_ratio(self.profit, self.staked),
            holds: self.holds,
            missed: self.missed,
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

/// The price bucket of a position (`by_price`): 5-cent steps from 0.30 to 0.70, open ends
/// below and above, named so that they sort in price order.
pub fn price_bucket(price: Decimal) -> &'static str {
    const EDGES: [(i64, &str); 8] = [
        (30, "0.00-0.30"),
        (35, "0.30-0.35"),
        (40, "0.35-0.40"),
        (45, "0.40-0.45"),
        (50, "0.45-0.50"),
        (55, "0.50-0.55"),
        (60, "0.55-0.60"),
        (70, "0.60-0.70"),
    ];
    let cents = price * Decimal::ONE_HUNDRED;
    EDGES
        .iter()
        .find(|(edge, _)| cents < Decimal::from(*edge))
        .map_or("0.70-1.00", |(_, name)| *name)
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

/// A settled YES/NO's figures; None when its row is inconsistent: no result (or no P&L), or
/// money no settlement writes (a row edited by hand), which is set aside rather than summed
/// into an overflow.
fn position_of(row: &Scored) -> Option<Position> {
    let (is_win, pl) = match (row.is_win, row.profit_loss) {
        (Some(is_win), Some(pl)) => (Some(is_win), pl),
        (None, Some(pl)) if row.is_fifty_fifty() => (None, pl),
        _ => return None,
    };
    let fee = row.fee.unwrap_or_default();
    let staked = row.position_size.unwrap_or_default();
    if [pl, fee, staked].iter().any(|m| m.abs() > MAX_ROW_MONEY) {
        return None;
    }
    let break_even = row.executed_price.and_then(|price| {
        let mut be = BreakEven::default();
        let charge = Charge {
            fee,
            asset: row.fee_asset_or_shares(),
        };
        be.add(staked, price, charge).then_some(be)
    });
    Some(Position {
        is_win,
        profit: pl,
        fee,
        staked,
        break_even,
    })
}

/// The calibration bucket of a confidence in [0, 1], exactly in decimal: 0 for [0, 0.5), then
/// 1..=5 for [0.5, 0.6) … [0.9, 1.0].
pub fn bucket_of(confidence: Decimal) -> usize {
    let tenths = (confidence * Decimal::TEN).floor().to_u64().unwrap_or(0);
    match tenths {
        0..=4 => 0,
        t => (t as usize - 4).min(5),
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
    /// Archived P&L per day (the equity curve's steps where rows left `trades`).
    rollup_day_profit: BTreeMap<String, Decimal>,
    /// Settled YES/NO decisions known only from the rollup.
    rollup_positions: u64,
    fees_by_asset: FeesByAsset,
    gross_profit: Decimal,
    gross_loss: Decimal,
    live_positions: u64,
    cumulative: Decimal,
    peak: Decimal,
    max_drawdown: Decimal,
    streak: u64,
    longest_streak: u64,
    brier_sum: f64,
    brier_n: u64,
    buckets: [(u64, u64, f64); 6],
    missed: Missed,
    coverage: Coverage,
    rollup_first: Option<String>,
    rollup_last: Option<String>,
    live_first: Option<String>,
    live_last: Option<String>,
    /// (seconds, P&L) of each live settled position, in time order.
    live_points: Vec<(i64, Decimal)>,
}

impl Accumulator {
    pub fn new() -> Accumulator {
        Accumulator::default()
    }

    /// The groups every settled decision belongs to (not the hour or price: those need a
    /// live row).
    fn common(&mut self, signal: &str, action: Action, end_phase: bool) -> [&mut GroupAcc; 4] {
        [
            &mut self.total,
            slot(&mut self.by_signal, signal),
            slot(&mut self.by_action, action.as_str()),
            slot(&mut self.by_end_phase, end_phase_key(end_phase)),
        ]
    }

    /// Adds one live row (settled or pending; the caller never passes unsettleable ones).
    pub fn add_live(&mut self, row: &Scored) {
        let is_hold = row.action == Action::Hold;
        if row.settlement_status != SettlementStatus::Settled {
            if !is_hold {
                self.pending += 1;
            }
            return;
        }
        // The time as stored: its hour and day name the groups ("" for a time that is none).
        let stamp = row.timestamp.map(crate::time::to_db).unwrap_or_default();
        let live = Live {
            row,
            stamp: &stamp,
            hour: stamp.get(11..13).unwrap_or("??"),
            signal: signal_key(row.signal_type.as_deref()),
            end_phase: row.is_end_phase.unwrap_or(false),
        };
        if is_hold {
            self.add_live_hold(&live);
            return;
        }
        if let Some(position) = position_of(row) {
            self.add_live_position(&live, &position);
        } else {
            self.coverage.inconsistent_rows += 1;
        }
    }

    /// A settled position's figures in every group it belongs to.
    fn add_live_position(&mut self, live: &Live<'_>, position: &Position) {
        self.coverage.live_decisions += 1;
        match live.row.fee_asset_or_shares() {
            FeeAsset::Shares => self.fees_by_asset.shares += position.fee,
            FeeAsset::Collateral => self.fees_by_asset.collateral += position.fee,
        }
        for g in self.common(live.signal, live.row.action, live.end_phase) {
            g.add(position);
        }
        slot(&mut self.by_hour, live.hour).add(position);
        if let Some(price) = live.row.executed_price {
            slot(&mut self.by_price, price_bucket(price)).add(position);
        }
        slot(&mut self.by_day, live.stamp.get(..10).unwrap_or("?")).add(position);
        self.add_to_curve(live, position);
    }

    /// The per-row figures: gross P&L, drawdown, streaks, the curve, Brier and calibration.
    fn add_to_curve(&mut self, live: &Live<'_>, p: &Position) {
        let row = live.row;
        self.live_positions += 1;
        if self.live_first.is_none() {
            self.live_first = Some(live.stamp.to_string());
        }
        if p.profit > Decimal::ZERO {
            self.gross_profit += p.profit;
        } else {
            self.gross_loss -= p.profit;
        }
        self.cumulative += p.profit;
        self.peak = self.peak.max(self.cumulative);
        self.max_drawdown = self.max_drawdown.max(self.peak - self.cumulative);
        if let Some(at) = row.timestamp {
            self.live_points.push((at.timestamp(), p.profit));
        }
        self.live_last = Some(live.stamp.to_string());
        // A 50-50 is neither: it leaves the streak and the calibration as they were.
        let Some(won) = p.is_win else {
            return;
        };
        if won {
            self.streak = 0;
        } else {
            self.streak += 1;
            self.longest_streak = self.longest_streak.max(self.streak);
        }
        let confidence = row
            .confidence
            .filter(|c| *c >= Decimal::ZERO && *c <= Decimal::ONE);
        if let Some(confidence) = confidence {
            // A statistic, not money: the Brier score is a float.
            let c = confidence.to_f64().unwrap_or_default();
            let outcome = if won { 1.0 } else { 0.0 };
            self.brier_sum += (c - outcome).powi(2);
            self.brier_n += 1;
            let bucket = &mut self.buckets[bucket_of(confidence)];
            bucket.0 += 1;
            bucket.1 += won as u64;
            bucket.2 += c;
        }
    }

    fn add_live_hold(&mut self, live: &Live<'_>) {
        let row = live.row;
        self.coverage.live_decisions += 1;
        let missed = row.is_missed_opportunity.unwrap_or(false);
        let hour_group = slot(&mut self.by_hour, live.hour);
        hour_group.holds += 1;
        hour_group.missed += missed as u64;
        for g in self.common(live.signal, row.action, live.end_phase) {
            g.holds += 1;
            g.missed += missed as u64;
        }
        if !missed {
            return;
        }
        self.missed.count += 1;
        let price = match row.final_score {
            Some(s) if s > 0.0 => row.yes_price,
            Some(s) if s < 0.0 => row.no_price,
            _ => None,
        };
        // A $1 win at the recorded price with no fee, by settlement's own rule.
        let no_fee = Charge {
            fee: Decimal::ZERO,
            asset: FeeAsset::Shares,
        };
        if let Some(p) = price {
            let won = pnl::settle_position(Decimal::ONE, p, true, no_fee).ok();
            let sum = won.and_then(|w| self.missed.profit_per_dollar.checked_add(w.profit_loss));
            if let Some(sum) = sum {
                self.missed.priced += 1;
                self.missed.profit_per_dollar = sum;
            }
        }
    }

    /// Adds one rollup row (archived decisions of a day and slice).
    pub fn add_rollup(&mut self, row: &RollupRow) {
        // Figures no archival writes (a row edited by hand): counted as inconsistent rather
        // than summed into an overflow.
        if !row.is_plausible() {
            self.coverage.inconsistent_rows += 1;
            return;
        }
        let signal = signal_key(Some(&row.signal_type)).to_string();
        // Plausible: it has one.
        let action = row.action.unwrap_or(Action::Hold);
        let is_hold = action == Action::Hold;
        self.coverage.rollup_decisions += row.n;
        if self
            .rollup_first
            .as_deref()
            .is_none_or(|d| row.day.as_str() < d)
        {
            self.rollup_first = Some(row.day.clone());
        }
        if self
            .rollup_last
            .as_deref()
            .is_none_or(|d| row.day.as_str() > d)
        {
            self.rollup_last = Some(row.day.clone());
        }
        if is_hold {
            self.missed.count += row.missed;
            for g in self.common(&signal, action, row.is_end_phase) {
                g.holds += row.n;
                g.missed += row.missed;
            }
            return;
        }
        self.rollup_positions += row.n.max(row.wins + row.losses);
        *self.rollup_day_profit.entry(row.day.clone()).or_default() += row.profit_loss;
        slot(&mut self.by_day, &row.day).add_sums(row);
        for g in self.common(&signal, action, row.is_end_phase) {
            g.add_sums(row);
        }
    }

    /// The cumulative P&L over time: archived days as one step each (at the day's end), then
    /// or among them every live position.
    fn equity(&self) -> Vec<EquityPoint> {
        let days = self.rollup_day_profit.iter().filter_map(|(day, pl)| {
            let end = crate::time::epoch_secs(&format!("{day} 23:59:59"))?;
            Some((end, *pl))
        });
        let mut merged: Vec<(i64, Decimal)> = days.collect();
        if merged.is_empty() {
            merged = self.live_points.clone();
        } else {
            merged.extend_from_slice(&self.live_points);
            merged.sort_by_key(|(at, _)| *at);
        }
        let mut cumulative = Decimal::ZERO;
        merged
            .into_iter()
            .map(|(at, pl)| {
                cumulative += pl;
                EquityPoint {
                    at,
                    cumulative: cumulative.normalize(),
                }
            })
            .collect()
    }

    pub fn finish(self, window: WindowInfo) -> Metrics {
        let total = self.total.finish();
        // Per-row figures describe the whole window only when no decision in it was archived,
        // and exist only when some position settled.
        let per_row = self.rollup_positions == 0 && self.live_positions > 0;
        let complete = self.rollup_positions == 0;
        let labels = [
            (0.0, 0.5),
            (0.5, 0.6),
            (0.6, 0.7),
            (0.7, 0.8),
            (0.8, 0.9),
            (0.9, 1.0),
        ];
        let calibration = complete.then(|| {
            self.buckets
                .iter()
                .zip(labels)
                .enumerate()
                // The bucket below 0.5 only appears when it holds trades.
                .filter(|(i, (b, _))| *i > 0 || b.0 > 0)
                .map(|(_, (&(n, wins, conf_sum), (low, high)))| Bucket {
                    low,
                    high,
                    trades: n,
                    wins,
                    win_rate: ratio(wins, n),
                    win_rate_ci: wilson(wins, n, Z95),
                    mean_confidence: (n > 0).then(|| conf_sum / n as f64),
                })
                .collect()
        });
        let finish_map = |m: &BTreeMap<String, GroupAcc>| {
            m.iter()
                .map(|(k, g)| (k.clone(), g.finish()))
                .collect::<BTreeMap<_, _>>()
        };
        let equity = self.equity();
        let mut missed = self.missed;
        missed.profit_per_dollar = missed.profit_per_dollar.round_dp(6).normalize();
        missed.basis = "per $1 staked on the favoured side at the recorded yes_price/no_price, before fees; live rows only";
        let mut coverage = self.coverage;
        coverage.rollup_days = self.rollup_first.zip(self.rollup_last).map(|(a, b)| [a, b]);
        coverage.live_rows = self.live_first.zip(self.live_last).map(|(a, b)| [a, b]);
        coverage.per_row_complete = complete;
        coverage.live_only = LIVE_ONLY.to_vec();
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
                shares: self.fees_by_asset.shares.normalize(),
                collateral: self.fees_by_asset.collateral.normalize(),
            }),
            staked: total.staked,
            roi: total.roi,
            gross_profit: if_per_row(self.gross_profit),
            gross_loss: if_per_row(self.gross_loss),
            profit_factor: if per_row {
                dec_ratio(self.gross_profit, self.gross_loss)
            } else {
                None
            },
            max_drawdown: if_per_row(self.max_drawdown),
            longest_losing_streak: per_row.then_some(self.longest_streak),
            current_losing_streak: per_row.then_some(self.streak),
            brier: (complete && self.brier_n > 0).then(|| self.brier_sum / self.brier_n as f64),
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
            equity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    /// Once archived positions are in the window, the figures that need every row are null
    /// (never the live rows' figures passed off as the window's), and the curve steps through
    /// the archived days.
    #[test]
    fn archived_positions_make_per_row_figures_null() {
        let mut acc = Accumulator::new();
        acc.add_live(&trade("2026-02-11 10:00:00", false, "-5"));
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
        let m = acc.finish(info());
        assert_eq!((m.settled, m.total_profit), (4, d("-2")));
        assert_eq!(m.max_drawdown, None);
        assert_eq!(m.longest_losing_streak, None);
        assert_eq!(m.brier, None);
        assert_eq!(m.calibration, None);
        assert_eq!(m.fees_by_asset, None);
        assert!(!m.coverage.per_row_complete);
        let curve: Vec<Decimal> = m.equity.iter().map(|p| p.cumulative).collect();
        assert_eq!(curve, vec![d("3"), d("-2")]);
        assert_eq!(m.by_day["2026-02-01"].total_profit, d("3"));
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
