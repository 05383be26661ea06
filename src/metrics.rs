//! Performance figures over settled decisions in a time window: live `trades` rows plus the
//! archived days kept in `daily_rollup`, without double counting. Reads only; never renders
//! (that is [`crate::report`]) and never writes.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use rusqlite::Connection;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::time::to_db;

mod accumulate;
pub mod periods;

pub use crate::rollup::figures::{bucket_of, price_bucket};
pub use accumulate::{Accumulator, RollupRow};
pub use periods::{periods, By, Period};

/// The UTC day of the first settled position, live or archived (no period is listed before it).
pub fn first_trade_day(conn: &Connection) -> Result<Option<chrono::NaiveDate>> {
    let live = crate::trades::recent::first_settled_day(conn)?;
    let archived = crate::rollup::first_day_with_a_result(conn)?;
    Ok(match (live, archived) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// The Brier score of always saying 50%: a forecast scoring above it is worse than a coin flip.
pub const BRIER_COIN_FLIP: f64 = 0.25;

/// z for a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// Figures that need one row per decision. Since migration 0012 the rollup keeps what each of
/// them needs of an archived row, so they cover archived days too; positions archived before
/// it left only per-day sums. When the window holds such positions, `coverage.live_only` lists
/// these: the scalar ones are null, the breakdowns by hour and price and the priced missed
/// opportunities cover the rows with details, and a group holding such positions has no
/// break-even (it would not come from the same trades as its win rate).
pub const LIVE_ONLY: [&str; 12] = [
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
    "by_price",
    "break_even",
];

/// Which decisions a report covers, by their `timestamp` (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Everything: live rows and every rollup day.
    All,
    /// From exactly `now - N days` up to and including `now`.
    Days(u32),
    /// The last N UTC days: from 00:00 UTC of the day N - 1 days before `now`'s, up to and
    /// including `now` (`/daily N`'s days; 1 is today).
    UtcDays(u32),
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
            Window::UtcDays(n) => {
                let back = chrono::Days::new(u64::from(n.saturating_sub(1)));
                let start = now.date_naive().checked_sub_days(back);
                (
                    start
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                        .map(|t| t.and_utc()),
                    end,
                )
            }
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
            Window::UtcDays(1) => "today (UTC)".into(),
            Window::UtcDays(n) => format!("last {n} UTC days"),
            Window::Since(t) => format!("since {} UTC", to_db(t)),
            Window::Between(a, b) => format!("{} to {} UTC", to_db(a), to_db(b)),
        }
    }
}

/// The figures of one slice (a signal type, an action, …).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Group {
    /// Settled YES/NO decisions that won or lost (= wins + losses).
    pub settled: u64,
    pub wins: u64,
    pub losses: u64,
    /// Settled YES/NO decisions whose market resolved 50-50 ($0.50 a share): neither wins nor
    /// losses, their P&L counts in the money figures.
    pub fifty_fifty: u64,
    /// wins / settled; null when nothing settled.
    pub win_rate: Option<f64>,
    /// 95% Wilson score interval of the win rate.
    pub win_rate_ci: Option<[f64; 2]>,
    /// The win rate at which these positions would break even, fees included (each one's own
    /// price, size, fee and fee asset through settlement's money rule), over the positions whose
    /// price is known, live or archived with details; null when none is, or when the group
    /// holds positions archived before the rollup kept details (see [`LIVE_ONLY`])
    /// is known; null when none is.
    pub break_even: Option<f64>,
    pub total_profit: Decimal,
    /// total_profit / (settled + fifty_fifty), rounded to 6 places.
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
    /// 95% Wilson score interval of the bucket's win rate.
    pub win_rate_ci: Option<[f64; 2]>,
    pub mean_confidence: Option<f64>,
}

/// A point of the equity curve: the cumulative P&L (USDC) at a time (seconds since the epoch).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EquityPoint {
    pub at: i64,
    pub cumulative: Decimal,
}

/// HOLDs whose favoured side (final_score > 0 → YES, < 0 → NO) won.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Missed {
    /// Live and archived.
    pub count: u64,
    /// Those whose favoured side's recorded price (yes_price / no_price) is known (live, or
    /// archived with details).
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
    /// First and last live settled position (`timestamp`): the range the per-row figures and
    /// the breakdowns by hour and price cover.
    pub live_rows: Option<[String; 2]>,
    /// Whether the per-row figures cover the whole window (no archived position in it); when
    /// false they are null.
    pub per_row_complete: bool,
    /// Fields that cover only live rows and rows archived with details ([`LIVE_ONLY`]); empty
    /// when every archived decision in the window kept its details.
    pub live_only: Vec<&'static str>,
    /// Settled YES/NO rows skipped because is_win or profit_loss was missing, or their money was
    /// beyond anything settlement writes (over 10^15 USDC).
    pub inconsistent_rows: u64,
    /// Live positions and archived parts that fall inside an earlier archived part's time span
    /// (a decision that settled after its neighbours were archived, then was archived by a
    /// later run, or is still live). A part is folded whole at its first position, so the
    /// drawdown, the losing streaks and the curve are approximate near them; every sum is
    /// exact. 0 normally.
    pub out_of_order: u64,
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

/// Every figure of a report; serialised as is by `polyperf report --json`. Money is USDC,
/// exact (decimal strings); rates are fractions in [0, 1].
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Metrics {
    pub window: WindowInfo,
    /// YES/NO decisions in the window, settled or pending (unsettleable ones excluded).
    pub trades: u64,
    /// Settled YES/NO decisions that won or lost (= wins + losses).
    pub settled: u64,
    pub pending: u64,
    pub wins: u64,
    pub losses: u64,
    /// Settled YES/NO decisions resolved 50-50: in the money figures, not in the win rate.
    pub fifty_fifty: u64,
    /// Settled HOLD decisions (never counted in the win rate).
    pub holds: u64,
    /// wins / settled, a fraction in [0, 1]; null when nothing settled.
    pub win_rate: Option<f64>,
    /// 95% Wilson score interval `[low, high]` of the win rate.
    pub win_rate_ci: Option<[f64; 2]>,
    /// The fee-aware break-even win rate of the positions (see [`Group::break_even`]).
    pub break_even: Option<f64>,
    pub total_profit: Decimal,
    pub avg_profit: Option<Decimal>,
    pub fees: Decimal,
    /// The fees split by the asset they were charged in; null when archived positions are in
    /// the window that were archived before the rollup kept details.
    pub fees_by_asset: Option<FeesByAsset>,
    pub staked: Decimal,
    pub roi: Option<f64>,
    /// Sum of the winning P&Ls; null when it cannot be computed (see [`LIVE_ONLY`]).
    pub gross_profit: Option<Decimal>,
    /// Sum of the losing P&Ls as a positive amount; null likewise.
    pub gross_loss: Option<Decimal>,
    /// gross_profit / gross_loss; null when there is no loss, no trade, or no rows.
    pub profit_factor: Option<f64>,
    /// Largest fall of the cumulative P&L from a previous peak (the curve starts at 0); null
    /// when it cannot be computed.
    pub max_drawdown: Option<Decimal>,
    pub longest_losing_streak: Option<u64>,
    /// Losses since the last win, at the end of the window.
    pub current_losing_streak: Option<u64>,
    /// Mean of (confidence − is_win)²; null when nothing settled or positions archived before
    /// the rollup kept details are in the window.
    pub brier: Option<f64>,
    /// The Brier score of a coin flip (always 50%), for reference: lower is better.
    pub brier_coin_flip: f64,
    /// Claimed confidence against realised win rate; null likewise.
    pub calibration: Option<Vec<Bucket>>,
    pub missed_opportunities: Missed,
    pub by_signal: BTreeMap<String, Group>,
    pub by_action: BTreeMap<String, Group>,
    pub by_end_phase: BTreeMap<String, Group>,
    /// Hour of day (UTC, "00".."23") of the decision; live rows and rows archived with details.
    pub by_hour: BTreeMap<String, Group>,
    /// Price paid per share, in 5-cent buckets ([`price_bucket`]); likewise.
    pub by_price: BTreeMap<String, Group>,
    /// P&L per UTC day, ISO week or month, newest first (`report --by`); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub periods: Option<Vec<Period>>,
    pub coverage: Coverage,
    /// Settled positions per UTC day (`YYYY-MM-DD`), live and archived: what [`periods()`]
    /// groups.
    #[serde(skip)]
    pub by_day: BTreeMap<String, Group>,
    /// The cumulative P&L over time (for charts): each live position, and each archived part's
    /// turning points ([`crate::rollup::Path::chart_points`]) where it falls in time; a day
    /// archived without details as one step at its end.
    #[serde(skip)]
    pub equity: Vec<EquityPoint>,
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

/// Computes every figure for `window` as of `now`.
pub fn compute(conn: &Connection, window: &Window, now: DateTime<Utc>) -> Result<Metrics> {
    let (from, to) = window.bounds(now);
    let from_text = from.map(to_db).unwrap_or_default();
    let to_text = to
        .map(to_db)
        .unwrap_or_else(|| "9999-12-31 23:59:59".into());
    let mut acc = Accumulator::new();

    // The archived days first (day granularity: the rollup has no time of day, so a partial
    // first or last day counts whole), their parts waiting for their place among the live rows.
    let from_day = from
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let to_day = to
        .and_then(|t| t.checked_sub_signed(Duration::seconds(1)))
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "9999-12-31".into());
    let days = (from_day.as_str(), to_day.as_str());
    crate::rollup::each_slice(conn, days, |row| acc.add_rollup(row))?;
    crate::rollup::each_group(conn, days, |row| acc.add_group(row))?;
    acc.add_parts(crate::rollup::parts(conn, days)?);
    acc.rollup_done();

    // Live rows (settled and pending, never unsettleable) in time order. A money column no
    // money column can hold (a hand edit) reads as missing, so the row counts as inconsistent
    // instead of failing the report.
    crate::trades::each_in_window(conn, (&from_text, &to_text), |row| acc.add_live(row))?;

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
            ("0", 0),
            ("0.49", 0),
            ("0.4999999999", 0),
            ("0.5", 1),
            ("0.59", 1),
            ("0.6", 2),
            ("0.7", 3),
            ("0.8", 4),
            ("0.9", 5),
            ("0.99", 5),
            ("1", 5),
        ];
        for (c, want) in cases {
            let confidence: Decimal = c.parse().unwrap();
            assert_eq!(bucket_of(confidence), want, "confidence {c}");
        }
        // A stored 0.6 is the decimal 0.6, in [0.6, 0.7) without an epsilon.
        assert_eq!(bucket_of(crate::trades::decimal_of_real(0.6).unwrap()), 2);
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
        // UTC days, as /daily counts them: 3 is 9, 10 and 11 February; 1 is today.
        let (from, _) = Window::UtcDays(3).bounds(now);
        assert_eq!(to_db(from.unwrap()), "2026-02-09 00:00:00");
        let (from, _) = Window::UtcDays(1).bounds(now);
        assert_eq!(to_db(from.unwrap()), "2026-02-11 00:00:00");
        assert_eq!(
            Window::UtcDays(0).bounds(now),
            Window::UtcDays(1).bounds(now)
        );
        assert_eq!(Window::UtcDays(u32::MAX).bounds(now).0, None);
        assert_eq!(Window::UtcDays(3).label(), "last 3 UTC days");
    }
}
