//! The figures a reflection judges on, from settled decisions (pure): win/loss groups with
//! their 95% Wilson interval and fee-aware break-even win rate, by signal, by confidence, and
//! by every field the trader logs (action, price paid, time remaining, end phase, RSI, MACD,
//! trend). A trade without a recorded fee is charged what settlement would charge it
//! ([`Charge::of`]: the taker formula at its price and time), so the break-even is never the
//! bare price: at p = 0.50 and the 0.07 rate it is 51.8%, not 50%.

use std::collections::BTreeMap;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::kinds::Action;
use crate::metrics;
use crate::money::fees::{Charge, FeeRules, Fill};
use crate::money::pnl::BreakEven;
use crate::trades::Trade;

/// The fee this trade paid and its asset: the recorded one, else what settlement charges for
/// the fill ([`Charge::of`]). None without a price, a size or (for a computed fee) a time.
fn charge(row: &Trade, fees: &FeeRules) -> Option<(Decimal, Decimal, Charge)> {
    let (size, price) = (row.position_size?, row.executed_price?);
    let charge = match row.fee {
        Some(fee) => Charge {
            fee,
            asset: row.fee_asset_or_shares(),
        },
        None => {
            let fill = Fill {
                size,
                price,
                time: row.timestamp?,
                liquidity: row.liquidity,
                fee_paid: None,
            };
            Charge::of(&fill, fees)?
        }
    };
    Some((size, price, charge))
}

fn is_hold(row: &Trade) -> bool {
    row.action == Action::Hold
}

/// Win/loss figures of a group of decisions.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Group {
    /// Settled YES/NO decisions.
    pub n: u64,
    pub wins: u64,
    pub losses: u64,
    pub win_rate: Option<f64>,
    /// 95% Wilson score interval of the win rate.
    pub win_rate_ci: Option<[f64; 2]>,
    #[serde(with = "rust_decimal::serde::str")]
    pub profit_loss: Decimal,
    /// Average price paid (before fees).
    #[serde(with = "rust_decimal::serde::str_option")]
    pub avg_price: Option<Decimal>,
    /// The win rate at which these trades would break even, fees included: each trade's own
    /// price, size, fee and fee asset, through settlement's money rule ([`BreakEven`]).
    #[serde(with = "rust_decimal::serde::str_option")]
    pub break_even: Option<Decimal>,
    /// Settled HOLDs, and those whose favoured side won.
    pub holds: u64,
    pub missed: u64,
    #[serde(skip)]
    price_sum: Decimal,
    #[serde(skip)]
    n_priced: u64,
    #[serde(skip)]
    break_even_acc: BreakEven,
}

impl Group {
    /// Counts `row`: a HOLD as a hold, a settled YES/NO as a win or a loss.
    pub fn add(&mut self, row: &Trade, fees: &FeeRules) {
        if is_hold(row) {
            self.holds += 1;
            self.missed += u64::from(row.is_missed_opportunity == Some(true));
            return;
        }
        let Some(win) = row.is_win else { return };
        self.n += 1;
        if win {
            self.wins += 1;
        } else {
            self.losses += 1;
        }
        self.profit_loss += row.profit_loss.unwrap_or_default();
        if let Some(p) = row.executed_price {
            self.price_sum += p;
            self.n_priced += 1;
        }
        if let Some((size, price, charge)) = charge(row, fees) {
            self.break_even_acc.add(size, price, charge);
        }
    }

    pub fn finish(&mut self) {
        if self.n > 0 {
            self.win_rate = Some(round4(self.wins as f64 / self.n as f64));
            let (lo, hi) = wilson(self.wins, self.n);
            self.win_rate_ci = Some([round4(lo), round4(hi)]);
        }
        if self.n_priced > 0 {
            self.avg_price = Some((self.price_sum / Decimal::from(self.n_priced)).round_dp(4));
        }
        self.break_even = self.break_even_acc.rate();
    }
}

/// A confidence bucket of the calibration table.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Bucket {
    pub confidence_from: f64,
    pub confidence_to: f64,
    pub mean_confidence: f64,
    #[serde(flatten)]
    pub group: Group,
}

/// One breakdown: its groups in bucket order.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Breakdown {
    pub name: &'static str,
    pub groups: Vec<(String, Group)>,
}

/// The figures of one window.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Figures {
    pub decisions: u64,
    pub holds: u64,
    pub missed_opportunities: u64,
    pub overall: Group,
    pub by_signal: BTreeMap<String, Group>,
    pub calibration: Vec<Bucket>,
    /// By action, price paid, time remaining, end phase, RSI, MACD and trend.
    pub breakdowns: Vec<Breakdown>,
}

/// A field the trader logs, cut into buckets: the bucket of a row (its order and label), or
/// None when the row has no such value.
type Dimension = (&'static str, fn(&Trade) -> Option<(usize, String)>);

const DIMENSIONS: [Dimension; 7] = [
    ("action", |r| Some((0, r.action.to_string()))),
    ("price_paid", price_bucket),
    ("time_remaining", time_bucket),
    ("end_phase", |r| {
        r.is_end_phase.map(|e| {
            (
                usize::from(!e),
                if e { "end_phase" } else { "not_end_phase" }.into(),
            )
        })
    }),
    ("rsi", |r| {
        bucket(
            r.rsi?,
            &[30.0, 50.0, 70.0],
            &["<30", "30-50", "50-70", "70+"],
        )
    }),
    ("macd", |r| bucket(r.macd?, &[0.0], &["<0", ">=0"])),
    ("trend", |r| Some((0, r.trend.clone()?))),
];

/// The bucket of `x` among `edges` (ascending), labelled from `labels` (one more than edges).
fn bucket(x: f64, edges: &[f64], labels: &[&str]) -> Option<(usize, String)> {
    if !x.is_finite() {
        return None;
    }
    let i = edges.iter().take_while(|e| x >= **e).count();
    Some((i, labels.get(i)?.to_string()))
}

fn price_bucket(r: &Trade) -> Option<(usize, String)> {
    if is_hold(r) {
        return None;
    }
    let p = r.executed_price?;
    let tenths = [3, 4, 5, 6, 7];
    let i = tenths
        .iter()
        .take_while(|t| p >= Decimal::new(**t, 1))
        .count();
    let label = match i {
        0 => "<0.30".to_string(),
        5 => "0.70+".to_string(),
        i => format!("0.{}0-0.{}0", tenths[i - 1], tenths[i]),
    };
    Some((i, label))
}

fn time_bucket(r: &Trade) -> Option<(usize, String)> {
    let secs = r.time_remaining_seconds? as f64;
    bucket(
        secs,
        &[120.0, 300.0, 600.0],
        &["<2m", "2-5m", "5-10m", "10m+"],
    )
}

/// The calibration buckets' lower edges (tenths): [0, 0.5), [0.5, 0.6), … [0.9, 1].
const CALIBRATION_TENTHS: [i64; 6] = [0, 5, 6, 7, 8, 9];

/// The calibration bucket of a confidence, compared exactly in decimal (1 is in the last).
fn calibration_bucket(confidence: Decimal) -> usize {
    CALIBRATION_TENTHS
        .iter()
        .rposition(|t| confidence >= Decimal::new(*t, 1))
        .unwrap_or(0)
}

/// Computes the figures of `rows` (pure). A trade without a recorded fee is charged what
/// `fees` (the settings' model) charges for its fill.
pub fn figures(rows: &[Trade], fees: &FeeRules) -> Figures {
    let mut f = Figures::default();
    let n_buckets = CALIBRATION_TENTHS.len();
    let mut buckets: Vec<(Group, Decimal)> = vec![(Group::default(), Decimal::ZERO); n_buckets];
    let mut dims: Vec<BTreeMap<(usize, String), Group>> = vec![BTreeMap::new(); DIMENSIONS.len()];
    for row in rows {
        f.decisions += 1;
        for ((_, key), groups) in DIMENSIONS.iter().zip(dims.iter_mut()) {
            if let Some(k) = key(row) {
                groups.entry(k).or_default().add(row, fees);
            }
        }
        let signal = row.signal_type.clone().unwrap_or_else(|| "(none)".into());
        if is_hold(row) {
            f.holds += 1;
            if row.is_missed_opportunity == Some(true) {
                f.missed_opportunities += 1;
            }
            f.by_signal.entry(signal).or_default().add(row, fees);
            continue;
        }
        f.overall.add(row, fees);
        f.by_signal.entry(signal).or_default().add(row, fees);
        if let (Some(_), Some(confidence)) = (row.is_win, row.confidence) {
            let i = calibration_bucket(confidence);
            buckets[i].0.add(row, fees);
            buckets[i].1 = buckets[i].1.saturating_add(confidence);
        }
    }
    f.overall.finish();
    f.by_signal.values_mut().for_each(Group::finish);
    for (i, (mut group, sum)) in buckets.into_iter().enumerate() {
        if group.n == 0 {
            continue;
        }
        group.finish();
        let tenth = |t: Option<&i64>| t.map_or(1.0, |t| *t as f64 / 10.0);
        let mean = sum.checked_div(Decimal::from(group.n)).unwrap_or_default();
        f.calibration.push(Bucket {
            confidence_from: tenth(CALIBRATION_TENTHS.get(i)),
            confidence_to: tenth(CALIBRATION_TENTHS.get(i + 1)),
            mean_confidence: round4(mean.to_f64().unwrap_or(f64::NAN)),
            group,
        });
    }
    for ((name, _), groups) in DIMENSIONS.iter().zip(dims) {
        let groups: Vec<(String, Group)> = groups
            .into_iter()
            .map(|((_, label), mut g)| {
                g.finish();
                (label, g)
            })
            .collect();
        if !groups.is_empty() {
            f.breakdowns.push(Breakdown { name, groups });
        }
    }
    f
}

/// YES/NO decisions with confidence in [threshold, threshold + `band`), compared exactly in
/// decimal (pure).
pub fn near(rows: &[Trade], threshold: Decimal, band: Decimal, fees: &FeeRules) -> Group {
    let mut g = Group::default();
    let top = threshold.saturating_add(band);
    for row in rows {
        let within = row.confidence.is_some_and(|c| c >= threshold && c < top);
        if !is_hold(row) && within {
            g.add(row, fees);
        }
    }
    g.finish();
    g
}

/// 95% Wilson score interval for `wins` out of `n` ([`metrics::wilson`]).
pub fn wilson(wins: u64, n: u64) -> (f64, f64) {
    match metrics::wilson(wins, n, metrics::Z95) {
        Some([lo, hi]) => (lo, hi),
        None => (0.0, 1.0),
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Liquidity;
    use crate::money::fees::{FeeAssetRule, FeeModel};
    use std::str::FromStr;

    pub(crate) fn fees() -> FeeRules {
        FeeRules {
            model: FeeModel::new(Decimal::new(7, 2), Decimal::ONE).unwrap(),
            asset: FeeAssetRule::Auto,
        }
    }

    pub(crate) fn row(
        action: &str,
        conf: &str,
        signal: &str,
        price: &str,
        win: Option<bool>,
        pl: &str,
    ) -> Trade {
        Trade {
            action: action.parse().unwrap(),
            confidence: Decimal::from_str(conf).ok(),
            signal_type: Some(signal.into()),
            executed_price: Decimal::from_str(price).ok(),
            position_size: Some(Decimal::from(5)),
            fee: Some(Decimal::ZERO),
            is_win: win,
            profit_loss: Decimal::from_str(pl).ok(),
            ..Trade::default()
        }
    }

    #[test]
    fn wilson_matches_known_values() {
        let check = |w, n, lo: f64, hi: f64| {
            let (l, h) = wilson(w, n);
            assert!(
                (l - lo).abs() < 1e-3 && (h - hi).abs() < 1e-3,
                "{w}/{n}: {l} {h}"
            );
        };
        check(5, 10, 0.2366, 0.7634);
        check(0, 10, 0.0, 0.2775);
        check(10, 10, 0.7225, 1.0);
        check(60, 100, 0.5020, 0.6906);
    }

    #[test]
    fn figures_group_and_bucket() {
        let rows = vec![
            row("YES", "0.95", "BULLISH", "0.50", Some(true), "4.50"),
            row("NO", "0.92", "BULLISH", "0.60", Some(false), "-5.00"),
            row("YES", "0.55", "BEARISH", "0.40", Some(false), "-5.00"),
            row("HOLD", "0.30", "NEUTRAL", "", None, ""),
        ];
        let f = figures(&rows, &fees());
        assert_eq!((f.decisions, f.holds, f.overall.n), (4, 1, 3));
        assert_eq!(f.overall.profit_loss, Decimal::from_str("-5.50").unwrap());
        assert_eq!(f.overall.avg_price, Decimal::from_str("0.5").ok());
        // No fees: break-even is Σ size / Σ shares = 15 / (10 + 8.333333 + 12.5), below the
        // average price (winning cheap shares pays more).
        assert_eq!(f.overall.break_even, Decimal::from_str("0.4865").ok());
        assert_eq!(f.by_signal["BULLISH"].wins, 1);
        assert_eq!(f.by_signal["NEUTRAL"].holds, 1);
        assert_eq!(f.calibration.len(), 2);
        assert_eq!(f.calibration[1].confidence_from, 0.9);
        assert_eq!(f.calibration[1].group.n, 2);
        assert_eq!(f.calibration[1].mean_confidence, 0.935);
        let price = f
            .breakdowns
            .iter()
            .find(|b| b.name == "price_paid")
            .unwrap();
        let labels: Vec<&str> = price.groups.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(labels, ["0.40-0.50", "0.50-0.60", "0.60-0.70"]);
    }

    /// A trade without a recorded fee is charged settlement's taker fee: at 0.50 with the 0.07
    /// rate, 10 USDC buys 20 shares for a 0.35 fee (in shares before the CLOB V2 cut-over), so
    /// a win makes 9.30 and a loss costs 10: break-even 10 / 19.30 = 51.81%, not 50%.
    #[test]
    fn a_trade_without_a_recorded_fee_breaks_even_above_its_price() {
        let at = |s| crate::time::parse_rfc3339(s).ok();
        let unrecorded = |time| Trade {
            timestamp: at(time),
            action: Action::Yes,
            executed_price: Decimal::from_str("0.50").ok(),
            position_size: Some(Decimal::TEN),
            is_win: Some(true),
            ..Trade::default()
        };
        let f = figures(&[unrecorded("2026-02-11T10:00:00Z")], &fees());
        assert_eq!(f.overall.break_even, Decimal::from_str("0.5181").ok());
        // After the cut-over the fee comes on top of the stake: 10.35 / 20.
        let f = figures(&[unrecorded("2026-05-11T10:00:00Z")], &fees());
        assert_eq!(f.overall.break_even, Decimal::from_str("0.5175").ok());
        // A maker pays nothing.
        let maker = Trade {
            liquidity: Liquidity::Maker,
            ..unrecorded("2026-02-11T10:00:00Z")
        };
        let f = figures(&[maker], &fees());
        assert_eq!(f.overall.break_even, Decimal::from_str("0.5").ok());
    }

    #[test]
    fn breakdowns_cut_each_logged_field() {
        let mut rows = Vec::new();
        for (i, (rsi, macd, secs, end)) in [
            (25.0, -1.0, 60, true),
            (45.0, 0.5, 200, false),
            (65.0, 2.0, 400, false),
            (80.0, -0.1, 700, false),
        ]
        .into_iter()
        .enumerate()
        {
            let mut r = row("YES", "0.8", "BULLISH", "0.5", Some(i % 2 == 0), "1");
            r.rsi = Some(rsi);
            r.macd = Some(macd);
            r.time_remaining_seconds = Some(secs);
            r.is_end_phase = Some(end);
            r.trend = Some(if i < 2 { "UP" } else { "DOWN" }.into());
            rows.push(r);
        }
        let f = figures(&rows, &fees());
        let labels = |name: &str| -> Vec<(String, u64)> {
            f.breakdowns
                .iter()
                .find(|b| b.name == name)
                .unwrap()
                .groups
                .iter()
                .map(|(l, g)| (l.clone(), g.n))
                .collect()
        };
        let pairs = |v: &[(&str, u64)]| -> Vec<(String, u64)> {
            v.iter().map(|(l, n)| (l.to_string(), *n)).collect()
        };
        assert_eq!(
            labels("rsi"),
            pairs(&[("<30", 1), ("30-50", 1), ("50-70", 1), ("70+", 1)])
        );
        assert_eq!(labels("macd"), pairs(&[("<0", 2), (">=0", 2)]));
        assert_eq!(
            labels("time_remaining"),
            pairs(&[("<2m", 1), ("2-5m", 1), ("5-10m", 1), ("10m+", 1)])
        );
        assert_eq!(
            labels("end_phase"),
            pairs(&[("end_phase", 1), ("not_end_phase", 3)])
        );
        assert_eq!(labels("trend"), pairs(&[("DOWN", 2), ("UP", 2)]));
    }
}
