//! Performance figures over settled decisions in a time window: live `trades` rows plus the
//! archived days kept in `daily_rollup`, without double counting. Reads only; never renders
//! (that is [`crate::report`]) and never writes.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::db::Money;
use crate::settle::fees::FeeAsset;
use crate::settle::pnl::{self, Charge};
use crate::time::to_db;
use crate::trades::settled;

/// Largest amount of money one live row may carry into the sums (10^15 USDC; settlement bounds
/// a position's payout at 10^12). Sums of such rows cannot overflow a Decimal.
const MAX_ROW_MONEY: Decimal = Decimal::from_parts(0xA4C6_8000, 0x38D7E, 0, false, 0);

/// z for a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// Figures that need one row per decision, so they cover live rows only: archived days
/// survive only as per-day sums in `daily_rollup`.
pub const LIVE_ONLY: [&str; 10] = [
    "fees_by_asset",
    "gross_profit",
    "gross_loss",
    "profit_factor",
    "max_drawdown",
    "longest_losing_streak",
    "current_losing_streak",
    "brier",
    "calibration",
    "by_hour",
];

/// Which decisions a report covers, by their `timestamp` (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Everything: live rows and every rollup day.
    All,
    /// From exactly `now - N days` up to and including `now`.
    Days(u32),
    /// From this instant up to and including `now`.
    Since(DateTime<Utc>),
    /// Half-open: `from <= timestamp < to`.
    Between(DateTime<Utc>, DateTime<Utc>),
}

impl Window {
    /// `[from, to)` as instants; `None` is unbounded. "Up to and including now" is `now + 1 s`
    /// because stored times have whole seconds. Never panics: a start before the first
    /// representable date is no bound at all (it would include everything anyway).
    pub fn bounds(&self, now: DateTime<Utc>) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let end = now.checked_add_signed(Duration::seconds(1));
        match *self {
            Window::All => (None, None),
            Window::Days(n) => (now.checked_sub_signed(Duration::days(i64::from(n))), end),
            Window::Since(t) => (Some(t), end),
            Window::Between(a, b) => (Some(a), Some(b)),
        }
    }

    /// Human words for the window: "all time", "last 7 days", ….
    pub fn label(&self) -> String {
        match *self {
            Window::All => "all time".into(),
            Window::Days(1) => "last 24 hours".into(),
            Window::Days(n) => format!("last {n} days"),
            Window::Since(t) => format!("since {} UTC", to_db(t)),
            Window::Between(a, b) => format!("{} to {} UTC", to_db(a), to_db(b)),
        }
    }
}

/// The figures of one slice (a signal type, an action, …).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Group {
    /// Settled YES/NO decisions (= wins + losses).
    pub settled: u64,
    pub wins: u64,
    pub losses: u64,
    /// wins / settled; null when nothing settled.
    pub win_rate: Option<f64>,
    /// 95% Wilson score interval of the win rate.
    pub win_rate_ci: Option<[f64; 2]>,
    pub total_profit: Decimal,
    /// total_profit / settled, rounded to 6 places.
    pub avg_profit: Option<Decimal>,
    pub fees: Decimal,
    /// Sum of position_size of settled YES/NO decisions.
    pub staked: Decimal,
    /// total_profit / staked.
    pub roi: Option<f64>,
    /// Settled HOLD decisions.
    pub holds: u64,
    /// HOLDs whose favoured side won.
    pub missed: u64,
}

/// Win rate against stated confidence for one confidence bucket `[low, high)` (the last
/// bucket includes 1.0).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Bucket {
    pub low: f64,
    pub high: f64,
    pub trades: u64,
    pub wins: u64,
    pub win_rate: Option<f64>,
    pub mean_confidence: Option<f64>,
}

/// HOLDs whose favoured side (final_score > 0 → YES, < 0 → NO) won.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Missed {
    /// Live and archived.
    pub count: u64,
    /// Live ones whose favoured side's recorded price (yes_price / no_price) is known.
    pub priced: u64,
    /// What staking $1 on the favoured side of each priced one would have made at the recorded
    /// price: the sum of (1 − p) / p, before fees.
    pub profit_per_dollar: Decimal,
    pub basis: &'static str,
}

/// Fees by the asset they were charged in: taken from the shares bought (before the CLOB V2
/// cut-over) or charged in collateral on top of the stake (since).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct FeesByAsset {
    pub shares: Decimal,
    pub collateral: Decimal,
}

/// Where the figures come from.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Coverage {
    /// Settled decisions (YES/NO/HOLD) read from `trades`.
    pub live_decisions: u64,
    /// Settled decisions known only from `daily_rollup` (their rows were archived).
    pub rollup_decisions: u64,
    /// First and last rollup day included (whole days: a window that starts or ends inside an
    /// archived day includes that day entirely).
    pub rollup_days: Option<[String; 2]>,
    /// Fields computed from live rows only.
    pub live_only: Vec<&'static str>,
    /// Settled YES/NO rows skipped because is_win or profit_loss was missing, or their money was
    /// beyond anything settlement writes (over 10^15 USDC).
    pub inconsistent_rows: u64,
}

/// The window the figures cover.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WindowInfo {
    pub label: String,
    /// Inclusive lower bound on `timestamp` (null: unbounded).
    pub from: Option<String>,
    /// Exclusive upper bound on `timestamp` (null: unbounded).
    pub to: Option<String>,
    pub now: String,
}

/// Every figure of a report; serialised as is by `polyperf report --json`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Metrics {
    pub window: WindowInfo,
    /// YES/NO decisions in the window, settled or pending (unsettleable ones excluded).
    pub trades: u64,
    /// Settled YES/NO decisions (= wins + losses).
    pub settled: u64,
    pub pending: u64,
    pub wins: u64,
    pub losses: u64,
    /// Settled HOLD decisions (never counted in the win rate).
    pub holds: u64,
    /// wins / settled, a fraction in [0, 1]; null when nothing settled.
    pub win_rate: Option<f64>,
    /// 95% Wilson score interval `[low, high]` of the win rate.
    pub win_rate_ci: Option<[f64; 2]>,
    pub total_profit: Decimal,
    pub avg_profit: Option<Decimal>,
    pub fees: Decimal,
    /// The fees split by the asset they were charged in (live rows).
    pub fees_by_asset: FeesByAsset,
    pub staked: Decimal,
    pub roi: Option<f64>,
    /// Sum of the winning P&Ls (live rows).
    pub gross_profit: Decimal,
    /// Sum of the losing P&Ls as a positive amount (live rows).
    pub gross_loss: Decimal,
    /// gross_profit / gross_loss; null when there is no loss (or no trade).
    pub profit_factor: Option<f64>,
    /// Largest fall of the cumulative P&L from a previous peak (the curve starts at 0).
    pub max_drawdown: Decimal,
    pub longest_losing_streak: u64,
    /// Losses since the last win, at the end of the window.
    pub current_losing_streak: u64,
    /// Mean of (confidence − is_win)²; null when nothing settled.
    pub brier: Option<f64>,
    pub calibration: Vec<Bucket>,
    pub missed_opportunities: Missed,
    pub by_signal: BTreeMap<String, Group>,
    pub by_action: BTreeMap<String, Group>,
    pub by_end_phase: BTreeMap<String, Group>,
    /// Hour of day (UTC, "00".."23") of the decision.
    pub by_hour: BTreeMap<String, Group>,
    pub coverage: Coverage,
    /// Cumulative P&L after each live settled YES/NO decision, in time order (for charts).
    #[serde(skip)]
    pub equity: Vec<Decimal>,
}

/// 95%-style Wilson score interval for `successes` out of `n` at normal quantile `z`;
/// `None` when `n` is 0.
pub fn wilson(successes: u64, n: u64, z: f64) -> Option<[f64; 2]> {
    if n == 0 {
        return None;
    }
    let n_f = n as f64;
    let p = successes.min(n) as f64 / n_f;
    let z2 = z * z;
    let denom = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denom;
    let half = z * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt() / denom;
    Some([(centre - half).max(0.0), (centre + half).min(1.0)])
}

/// The calibration bucket of a confidence: 0 for [0, 0.5), then 1..=5 for [0.5, 0.6) …
/// [0.9, 1.0]. A tiny epsilon keeps 0.6 in [0.6, 0.7) despite binary floating point.
pub fn bucket_index(confidence: f64) -> usize {
    let tenth = (confidence * 10.0 + 1e-9).floor();
    if tenth < 5.0 {
        0
    } else {
        (tenth as usize - 4).min(5)
    }
}

/// One `trades` row as the metrics read it.
#[derive(Debug, Clone, Default)]
pub struct LiveRow {
    pub timestamp: String,
    pub action: String,
    pub confidence: f64,
    pub signal_type: Option<String>,
    pub is_end_phase: bool,
    pub settled: bool,
    pub is_win: Option<bool>,
    pub profit_loss: Option<Decimal>,
    pub fee: Option<Decimal>,
    /// The asset the fee was charged in (as stored; see [`FeeAsset::stored`]).
    pub fee_asset: FeeAsset,
    pub position_size: Decimal,
    pub final_score: Option<f64>,
    pub is_missed_opportunity: bool,
    pub yes_price: Option<Decimal>,
    pub no_price: Option<Decimal>,
}

/// One `daily_rollup` row (archived settled decisions of one day and slice).
#[derive(Debug, Clone, Default)]
pub struct RollupRow {
    pub day: String,
    pub signal_type: String,
    pub action: String,
    pub is_end_phase: bool,
    pub n: u64,
    pub wins: u64,
    pub losses: u64,
    pub missed: u64,
    pub profit_loss: Decimal,
    pub fees: Decimal,
    pub staked: Decimal,
}

#[derive(Debug, Clone, Default)]
struct GroupAcc {
    wins: u64,
    losses: u64,
    profit: Decimal,
    fees: Decimal,
    staked: Decimal,
    holds: u64,
    missed: u64,
}

impl GroupAcc {
    fn finish(&self) -> Group {
        let settled = self.wins + self.losses;
        Group {
            settled,
            wins: self.wins,
            losses: self.losses,
            win_rate: ratio(self.wins, settled),
            win_rate_ci: wilson(self.wins, settled, Z95),
            total_profit: self.profit.normalize(),
            avg_profit: avg(self.profit, settled),
            fees: self.fees.normalize(),
            staked: self.staked.normalize(),
            roi: dec_ratio(self.profit, self.staked),
            holds: self.holds,
            missed: self.missed,
        }
    }
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

fn dec_ratio(a: Decimal, b: Decimal) -> Option<f64> {
    if b.is_zero() {
        return None;
    }
    a.checked_div(b).and_then(|r| r.to_f64())
}

fn avg(total: Decimal, n: u64) -> Option<Decimal> {
    (n > 0).then(|| (total / Decimal::from(n)).round_dp(6).normalize())
}

const NO_SIGNAL: &str = "(none)";

fn signal_key(s: Option<&str>) -> String {
    match s {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => NO_SIGNAL.to_string(),
    }
}

fn end_phase_key(b: bool) -> &'static str {
    if b {
        "end_phase"
    } else {
        "not_end_phase"
    }
}

/// Folds rows into [`Metrics`]. Pure: the SQL lives in [`compute`]. Live rows must come in
/// time order (drawdown and streaks depend on it).
#[derive(Debug, Default)]
pub struct Accumulator {
    total: GroupAcc,
    pending: u64,
    by_signal: BTreeMap<String, GroupAcc>,
    by_action: BTreeMap<String, GroupAcc>,
    by_end_phase: BTreeMap<String, GroupAcc>,
    by_hour: BTreeMap<String, GroupAcc>,
    fees_by_asset: FeesByAsset,
    gross_profit: Decimal,
    gross_loss: Decimal,
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
    equity: Vec<Decimal>,
}

impl Accumulator {
    pub fn new() -> Accumulator {
        Accumulator::default()
    }

    fn groups_mut<'a>(
        &'a mut self,
        signal: String,
        action: &str,
        end_phase: bool,
        hour: Option<String>,
    ) -> Vec<&'a mut GroupAcc> {
        let mut out = vec![
            &mut self.total,
            self.by_signal.entry(signal).or_default(),
            self.by_action.entry(action.to_string()).or_default(),
            self.by_end_phase
                .entry(end_phase_key(end_phase).to_string())
                .or_default(),
        ];
        if let Some(hour) = hour {
            out.push(self.by_hour.entry(hour).or_default());
        }
        out
    }

    /// Adds one live row (settled or pending; the caller never passes unsettleable ones).
    pub fn add_live(&mut self, row: &LiveRow) {
        let is_hold = row.action == "HOLD";
        if !row.settled {
            if !is_hold {
                self.pending += 1;
            }
            return;
        }
        let hour = row.timestamp.get(11..13).map(str::to_string);
        let signal = signal_key(row.signal_type.as_deref());
        if is_hold {
            self.coverage.live_decisions += 1;
            let missed = row.is_missed_opportunity;
            for g in self.groups_mut(signal, &row.action, row.is_end_phase, hour) {
                g.holds += 1;
                g.missed += missed as u64;
            }
            if missed {
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
                    let sum =
                        won.and_then(|w| self.missed.profit_per_dollar.checked_add(w.profit_loss));
                    if let Some(sum) = sum {
                        self.missed.priced += 1;
                        self.missed.profit_per_dollar = sum;
                    }
                }
            }
            return;
        }
        let (Some(is_win), Some(pl)) = (row.is_win, row.profit_loss) else {
            self.coverage.inconsistent_rows += 1;
            return;
        };
        // Money no settlement writes (a row edited by hand): counted as inconsistent rather than
        // summed into an overflow.
        let fee = row.fee.unwrap_or_default();
        if [pl, fee, row.position_size]
            .iter()
            .any(|m| m.abs() > MAX_ROW_MONEY)
        {
            self.coverage.inconsistent_rows += 1;
            return;
        }
        self.coverage.live_decisions += 1;
        match row.fee_asset {
            FeeAsset::Shares => self.fees_by_asset.shares += fee,
            FeeAsset::Collateral => self.fees_by_asset.collateral += fee,
        }
        for g in self.groups_mut(signal, &row.action, row.is_end_phase, hour) {
            if is_win {
                g.wins += 1;
            } else {
                g.losses += 1;
            }
            g.profit += pl;
            g.fees += fee;
            g.staked += row.position_size;
        }
        if pl > Decimal::ZERO {
            self.gross_profit += pl;
        } else {
            self.gross_loss -= pl;
        }
        self.cumulative += pl;
        self.peak = self.peak.max(self.cumulative);
        self.max_drawdown = self.max_drawdown.max(self.peak - self.cumulative);
        self.equity.push(self.cumulative);
        if is_win {
            self.streak = 0;
        } else {
            self.streak += 1;
            self.longest_streak = self.longest_streak.max(self.streak);
        }
        if (0.0..=1.0).contains(&row.confidence) {
            let outcome = if is_win { 1.0 } else { 0.0 };
            self.brier_sum += (row.confidence - outcome).powi(2);
            self.brier_n += 1;
            let bucket = &mut self.buckets[bucket_index(row.confidence)];
            bucket.0 += 1;
            bucket.1 += is_win as u64;
            bucket.2 += row.confidence;
        }
    }

    /// Adds one rollup row (archived decisions of a day and slice).
    pub fn add_rollup(&mut self, row: &RollupRow) {
        let signal = signal_key(Some(&row.signal_type));
        let is_hold = row.action == "HOLD";
        self.coverage.rollup_decisions += row.n;
        if self
            .rollup_first
            .as_deref()
            .map_or(true, |d| row.day.as_str() < d)
        {
            self.rollup_first = Some(row.day.clone());
        }
        if self
            .rollup_last
            .as_deref()
            .map_or(true, |d| row.day.as_str() > d)
        {
            self.rollup_last = Some(row.day.clone());
        }
        if is_hold {
            self.missed.count += row.missed;
        }
        for g in self.groups_mut(signal, &row.action, row.is_end_phase, None) {
            if is_hold {
                g.holds += row.n;
                g.missed += row.missed;
            } else {
                g.wins += row.wins;
                g.losses += row.losses;
                g.profit += row.profit_loss;
                g.fees += row.fees;
                g.staked += row.staked;
            }
        }
    }

    pub fn finish(self, window: WindowInfo) -> Metrics {
        let total = self.total.finish();
        let labels = [
            (0.0, 0.5),
            (0.5, 0.6),
            (0.6, 0.7),
            (0.7, 0.8),
            (0.8, 0.9),
            (0.9, 1.0),
        ];
        let calibration = self
            .buckets
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
                mean_confidence: (n > 0).then(|| conf_sum / n as f64),
            })
            .collect();
        let finish_map = |m: BTreeMap<String, GroupAcc>| {
            m.into_iter()
                .map(|(k, g)| (k, g.finish()))
                .collect::<BTreeMap<_, _>>()
        };
        let mut missed = self.missed;
        missed.profit_per_dollar = missed.profit_per_dollar.round_dp(6).normalize();
        missed.basis = "per $1 staked on the favoured side at the recorded yes_price/no_price, before fees; live rows only";
        let mut coverage = self.coverage;
        coverage.rollup_days = self.rollup_first.zip(self.rollup_last).map(|(a, b)| [a, b]);
        coverage.live_only = LIVE_ONLY.to_vec();
        Metrics {
            window,
            trades: total.settled + self.pending,
            settled: total.settled,
            pending: self.pending,
            wins: total.wins,
            losses: total.losses,
            holds: total.holds,
            win_rate: total.win_rate,
            win_rate_ci: total.win_rate_ci,
            total_profit: total.total_profit,
            avg_profit: total.avg_profit,
            fees: total.fees,
            fees_by_asset: FeesByAsset {
                shares: self.fees_by_asset.shares.normalize(),
                collateral: self.fees_by_asset.collateral.normalize(),
            },
            staked: total.staked,
            roi: total.roi,
            gross_profit: self.gross_profit.normalize(),
            gross_loss: self.gross_loss.normalize(),
            profit_factor: dec_ratio(self.gross_profit, self.gross_loss),
            max_drawdown: self.max_drawdown.normalize(),
            longest_losing_streak: self.longest_streak,
            current_losing_streak: self.streak,
            brier: (self.brier_n > 0).then(|| self.brier_sum / self.brier_n as f64),
            calibration,
            missed_opportunities: missed,
            by_signal: finish_map(self.by_signal),
            by_action: finish_map(self.by_action),
            by_end_phase: finish_map(self.by_end_phase),
            by_hour: finish_map(self.by_hour),
            coverage,
            equity: self.equity,
        }
    }
}

/// Live rows in the window: settled and pending, never unsettleable. Both bounds are always
/// bound (open ends become '' and '9999'), so the range uses `idx_trades_timestamp` and the
/// rows come in time order without a sort.
const LIVE_SQL: &str = concat!(
    "SELECT timestamp, action, confidence, signal_type, is_end_phase, ",
    settled!(),
    ", is_win, profit_loss, fee, position_size, final_score,
        is_missed_opportunity, yes_price, no_price, fee_asset
   FROM trades
  WHERE timestamp >= ?1 AND timestamp < ?2 AND settlement_status IN ('settled', 'pending')
  ORDER BY timestamp, id"
);

/// Rollup days that overlap the window (whole days).
const ROLLUP_SQL: &str = "SELECT day, signal_type, action, is_end_phase, n, wins, losses, missed,
        profit_loss, fees, staked
   FROM daily_rollup
  WHERE day >= ?1 AND day <= ?2";

/// A money column (REAL at 6 decimals, or the decimal text of an older database).
fn dec_col(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Option<Decimal>> {
    Money::get(row, idx)
}

/// A live row's money column; a value no money column can hold (a hand edit beyond Decimal's
/// range) reads as missing, so the row counts as inconsistent instead of failing the report.
fn live_money(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Option<Decimal>> {
    Ok(Money::from_value(row.get_ref(idx)?).ok().flatten())
}

/// Computes every figure for `window` as of `now`.
pub fn compute(conn: &Connection, window: &Window, now: DateTime<Utc>) -> Result<Metrics> {
    let (from, to) = window.bounds(now);
    let from_text = from.map(to_db).unwrap_or_default();
    let to_text = to
        .map(to_db)
        .unwrap_or_else(|| "9999-12-31 23:59:59".into());
    let mut acc = Accumulator::new();

    let mut stmt = conn.prepare_cached(LIVE_SQL)?;
    let mut rows = stmt.query(params![from_text, to_text])?;
    while let Some(r) = rows.next()? {
        let row = LiveRow {
            timestamp: r.get(0)?,
            action: r.get(1)?,
            confidence: r.get::<_, Option<f64>>(2)?.unwrap_or(f64::NAN),
            signal_type: r.get(3)?,
            is_end_phase: r.get::<_, Option<i64>>(4)?.unwrap_or(0) != 0,
            settled: r.get(5)?,
            is_win: r.get::<_, Option<i64>>(6)?.map(|w| w != 0),
            profit_loss: live_money(r, 7)?,
            fee: live_money(r, 8)?,
            position_size: live_money(r, 9)?.unwrap_or_default(),
            final_score: r.get(10)?,
            is_missed_opportunity: r.get::<_, Option<i64>>(11)?.unwrap_or(0) != 0,
            yes_price: live_money(r, 12)?,
            no_price: live_money(r, 13)?,
            fee_asset: FeeAsset::stored(r.get::<_, Option<String>>(14)?.as_deref()),
        };
        acc.add_live(&row);
    }
    drop(rows);

    // Day granularity: the rollup has no time of day, so a partial first or last day counts whole.
    let from_day = from
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let to_day = to
        .and_then(|t| t.checked_sub_signed(Duration::seconds(1)))
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "9999-12-31".into());
    let mut stmt = conn.prepare_cached(ROLLUP_SQL)?;
    let mut rows = stmt.query(params![from_day, to_day])?;
    while let Some(r) = rows.next()? {
        let count = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
        acc.add_rollup(&RollupRow {
            day: r.get(0)?,
            signal_type: r.get(1)?,
            action: r.get(2)?,
            is_end_phase: r.get::<_, i64>(3)? != 0,
            n: count(4)?,
            wins: count(5)?,
            losses: count(6)?,
            missed: count(7)?,
            profit_loss: dec_col(r, 8)?.unwrap_or_default(),
            fees: dec_col(r, 9)?.unwrap_or_default(),
            staked: dec_col(r, 10)?.unwrap_or_default(),
        });
    }
    drop(rows);

    let metrics = acc.finish(WindowInfo {
        label: window.label(),
        from: from.map(to_db),
        to: to.map(to_db),
        now: to_db(now),
    });
    if metrics.coverage.inconsistent_rows > 0 {
        tracing::warn!(
            n_rows = metrics.coverage.inconsistent_rows,
            "settled YES/NO rows without is_win or profit_loss were skipped"
        );
    }
    Ok(metrics)
}

/// The latest successful reflection's insights (JSON), for the HTML report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LatestInsights {
    pub reflection_id: i64,
    pub timestamp: String,
    pub trigger_type: String,
    pub insights: serde_json::Value,
}

pub fn latest_insights(conn: &Connection) -> Result<Option<LatestInsights>> {
    use rusqlite::OptionalExtension;
    let row = conn
        .query_row(
            "SELECT id, timestamp, trigger_type, insights FROM reflections
              WHERE status = 'ok' AND insights IS NOT NULL
              ORDER BY timestamp DESC, id DESC LIMIT 1",
            [],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            },
        )
        .optional()
        .context("reading the latest reflection")?;
    Ok(
        row.map(|(id, timestamp, trigger_type, text)| LatestInsights {
            reflection_id: id,
            timestamp,
            trigger_type,
            // Stored by the reflect job as JSON; anything else is shown as plain text.
            insights: serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn wilson_matches_known_values() {
        // (successes, n, low, high): reference values from the closed form.
        let cases = [
            (5, 8, 0.305_742, 0.863_156),
            (0, 10, 0.0, 0.277_533),
            (10, 10, 0.722_467, 1.0),
            (50, 100, 0.403_831, 0.596_169),
        ];
        for (k, n, low, high) in cases {
            let [l, h] = wilson(k, n, Z95).unwrap();
            assert!((l - low).abs() < 1e-5, "{k}/{n}: low {l} != {low}");
            assert!((h - high).abs() < 1e-5, "{k}/{n}: high {h} != {high}");
        }
        assert_eq!(wilson(0, 0, Z95), None);
    }

    #[test]
    fn buckets_have_closed_lower_bounds() {
        let cases = [
            (0.0, 0),
            (0.49, 0),
            (0.5, 1),
            (0.59, 1),
            (0.6, 2),
            (0.7, 3),
            (0.8, 4),
            (0.9, 5),
            (0.99, 5),
            (1.0, 5),
        ];
        for (c, want) in cases {
            assert_eq!(bucket_index(c), want, "confidence {c}");
        }
    }

    fn trade(ts: &str, win: bool, pl: &str) -> LiveRow {
        LiveRow {
            timestamp: ts.into(),
            action: "YES".into(),
            confidence: 0.8,
            signal_type: Some("BULLISH".into()),
            settled: true,
            is_win: Some(win),
            profit_loss: Some(d(pl)),
            position_size: d("5"),
            ..LiveRow::default()
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
        assert_eq!(m.max_drawdown, d("10"));
        assert_eq!(m.longest_losing_streak, 2);
        assert_eq!(m.current_losing_streak, 1);
        assert_eq!(m.total_profit, d("6"));
        assert_eq!(m.gross_profit, d("17"));
        assert_eq!(m.gross_loss, d("11"));
        assert!((m.profit_factor.unwrap() - 17.0 / 11.0).abs() < 1e-12);
        assert_eq!(m.equity.len(), 7);
        assert_eq!(m.by_hour["10"].settled, 7);
    }

    #[test]
    fn empty_gives_nulls_not_nan() {
        let m = Accumulator::new().finish(info());
        assert_eq!(m.win_rate, None);
        assert_eq!(m.win_rate_ci, None);
        assert_eq!(m.brier, None);
        assert_eq!(m.profit_factor, None);
        assert_eq!(m.calibration.len(), 5);
        let json = serde_json::to_string(&m).unwrap();
        assert!(!json.contains("NaN"), "{json}");
    }

    #[test]
    fn missed_opportunity_pays_at_the_favoured_price() {
        let mut acc = Accumulator::new();
        let hold = |score: f64| LiveRow {
            timestamp: "2026-02-11 10:00:00".into(),
            action: "HOLD".into(),
            settled: true,
            final_score: Some(score),
            is_missed_opportunity: true,
            yes_price: Some(d("0.40")),
            no_price: Some(d("0.25")),
            ..LiveRow::default()
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

    #[test]
    fn window_bounds() {
        let now = crate::time::parse_rfc3339("2026-02-11T10:30:00Z").unwrap();
        let (from, to) = Window::Days(7).bounds(now);
        assert_eq!(to_db(from.unwrap()), "2026-02-04 10:30:00");
        assert_eq!(to_db(to.unwrap()), "2026-02-11 10:30:01");
        assert_eq!(Window::All.bounds(now), (None, None));
        // Far more days than there are dates: everything, not a panic.
        let (from, to) = Window::Days(u32::MAX).bounds(now);
        assert_eq!(
            (from, to.map(to_db)),
            (None, Some("2026-02-11 10:30:01".into()))
        );
    }
}
