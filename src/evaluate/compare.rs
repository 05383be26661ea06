//! What the loop's changes would have done: every settled decision of the window replayed in
//! time order by [`crate::replay::counterfactual`] (the adjuster's own replay rules), under
//! the values really in force then (from `parameter_history`) and under the walk's values,
//! against what really happened. Money is exact; only the bootstrap resamples in f64.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::money::fees::FeeRules;
pub use crate::replay::counterfactual::Timeline;
use crate::replay::counterfactual::{Fate, Row, Walker};

/// One side of the comparison.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    pub trades: u64,
    pub wins: u64,
    /// wins / trades (None without a trade).
    pub win_rate: Option<f64>,
    pub profit: Decimal,
    pub fees: Decimal,
    /// Largest fall of the cumulative P&L from its running peak (≥ 0).
    pub max_drawdown: Decimal,
    /// Decisions not traded whose favoured side won.
    pub missed_opportunities: u64,
    #[serde(skip)]
    peak: Decimal,
}

impl Summary {
    fn add(&mut self, fate: &Fate) {
        match fate {
            Fate::Trade(p) => {
                self.trades += 1;
                self.wins += u64::from(p.won);
                self.profit += p.pnl;
                self.fees += p.fee;
                self.peak = self.peak.max(self.profit);
                self.max_drawdown = self.max_drawdown.max(self.peak - self.profit);
            }
            Fate::Hold { missed } => self.missed_opportunities += u64::from(*missed),
        }
    }

    fn finish(&mut self) {
        self.win_rate = (self.trades > 0).then(|| self.wins as f64 / self.trades as f64);
    }
}

/// Both sides, and the improvement per day (adjusted − baseline profit, exact).
#[derive(Debug, Clone, Default)]
pub struct Compared {
    pub baseline: Summary,
    pub adjusted: Summary,
    pub by_day: BTreeMap<NaiveDate, Decimal>,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
}

/// Replays `rows` (time order) under `actual` and `walked` values.
pub fn compare(rows: &[Row], actual: &Timeline, walked: &Timeline, fees: FeeRules) -> Compared {
    let mut c = Compared::default();
    let mut walker = Walker::new(fees);
    for row in rows {
        let Some(at) = row.timestamp else { continue };
        let Some(step) = walker.step(row, &actual.at(at), &walked.at(at)) else {
            continue;
        };
        c.first.get_or_insert(at);
        c.last = Some(at);
        c.baseline.add(&step.actual);
        c.adjusted.add(&step.replayed);
        let pnl = |f: &Fate| match f {
            Fate::Trade(p) => p.pnl,
            Fate::Hold { .. } => Decimal::ZERO,
        };
        *c.by_day.entry(at.date_naive()).or_default() += pnl(&step.replayed) - pnl(&step.actual);
    }
    c.baseline.finish();
    c.adjusted.finish();
    c
}

/// The bootstrap's fixed seed: the same database gives the same interval.
pub const SEED: u64 = 0x5EED_2026_0018;
/// Resamples of the bootstrap.
pub const RESAMPLES: usize = 2000;

/// A 95% interval of the total improvement by a bootstrap over days (each day one block, as
/// the loop acts once a day): `RESAMPLES` resamples of as many days, with replacement, from
/// a fixed seed; the 2.5% and 97.5% quantiles of their sums, rounded to the cent outward.
pub fn interval(by_day: &BTreeMap<NaiveDate, Decimal>) -> [Decimal; 2] {
    let days: Vec<f64> = by_day.values().map(|d| d.to_f64().unwrap_or(0.0)).collect();
    if days.is_empty() || days.iter().all(|d| *d == 0.0) {
        return [Decimal::ZERO, Decimal::ZERO];
    }
    let mut rng = SplitMix(SEED);
    let n = days.len();
    let mut sums: Vec<f64> = (0..RESAMPLES)
        .map(|_| (0..n).map(|_| days[rng.below(n)]).sum())
        .collect();
    sums.sort_by(f64::total_cmp);
    let q = |p: f64| sums[((p * (RESAMPLES - 1) as f64).round() as usize).min(RESAMPLES - 1)];
    let cents = |x: f64, floor: bool| {
        let x = if floor {
            (x * 100.0).floor()
        } else {
            (x * 100.0).ceil()
        };
        Decimal::from_f64(x / 100.0).unwrap_or_default().round_dp(2)
    };
    [cents(q(0.025), true), cents(q(0.975), false)]
}

/// SplitMix64: a small, fixed, portable generator (no dependency, same numbers everywhere).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n > 0; the modulo bias is below 2^-40 for any day count).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(i: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 1).unwrap() + chrono::Days::new(i.into())
    }

    #[test]
    fn the_interval_is_deterministic_and_brackets_the_truth() {
        let noise: BTreeMap<NaiveDate, Decimal> = (0..40)
            .map(|i| (day(i), Decimal::from(if i % 2 == 0 { 5 } else { -5 })))
            .collect();
        let ci = interval(&noise);
        assert_eq!(ci, interval(&noise));
        assert!(ci[0] < Decimal::ZERO && ci[1] > Decimal::ZERO, "{ci:?}");
        let edge: BTreeMap<NaiveDate, Decimal> = (0..40)
            .map(|i| (day(i), Decimal::from(3 + (i % 3) as i64)))
            .collect();
        let ci = interval(&edge);
        assert!(ci[0] > Decimal::ZERO, "{ci:?}");
        assert_eq!(interval(&BTreeMap::new()), [Decimal::ZERO; 2]);
    }
}
