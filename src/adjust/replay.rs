//! Evidence for a proposal: a replay of the settled decisions of the last N days under the
//! proposed value, against what actually happened. Reads `trades`; the replay itself is pure
//! and follows [`super::counterfactual`]'s rules, which the walk-forward evaluation shares.

use std::str::FromStr;

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use rust_decimal::Decimal;
use serde::Serialize;

use super::counterfactual::{Fate, Values, Walker};
use crate::settle::fees::{FeeAsset, FeeModel, FeeRules, Fill, Liquidity};
use crate::time::{from_db, to_db};
use crate::trades::settled;

pub use super::counterfactual::Row;
pub use crate::params::{CONFIDENCE_THRESHOLD, MAX_EXPOSURE, MAX_POSITION};

/// Profit of buying `position` dollars of a side at price `p` at `time` as a taker, which wins
/// (`won`) or not: settlement's own rule ([`crate::settle::pnl::settle_fill`]: the taker fee,
/// its asset by era, rounding), so a replay counts money exactly as settlement records it.
/// `None` for a price outside (0, 1).
pub fn trade_profit(
    position: Decimal,
    p: Decimal,
    won: bool,
    time: DateTime<Utc>,
    fees: &FeeRules,
) -> Option<Decimal> {
    let fill = Fill {
        size: position,
        price: p,
        time,
        liquidity: Liquidity::Taker,
        fee_paid: None,
    };
    crate::settle::pnl::settle_fill(&fill, fees, won)
        .ok()
        .map(|settled| settled.profit_loss)
}

/// Counts and money of one side of the comparison.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Side {
    pub n: u64,
    pub wins: u64,
    pub win_rate: Option<f64>,
    pub win_rate_ci: Option<[f64; 2]>,
    #[serde(with = "rust_decimal::serde::str")]
    pub pnl: Decimal,
}

impl Side {
    fn add(&mut self, won: bool, pnl: Decimal) {
        self.n += 1;
        self.wins += u64::from(won);
        self.pnl += pnl;
    }

    fn finish(mut self) -> Side {
        self.pnl = self.pnl.round_dp(5).normalize();
        if self.n > 0 {
            self.win_rate = Some(round4(self.wins as f64 / self.n as f64));
            self.win_rate_ci = wilson(self.wins, self.n).map(|(lo, hi)| [round4(lo), round4(hi)]);
        }
        self
    }
}

/// The replay's result, stored with the proposal and shown in the approval message.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Evidence {
    pub parameter: String,
    pub current: String,
    pub proposed: String,
    pub days: u32,
    pub since: String,
    /// `threshold`, `position_scale`, or `none` (the replay cannot judge this parameter).
    pub method: &'static str,
    pub judgeable: bool,
    pub actual: Side,
    pub replayed: Side,
    /// HOLDs the new value would have turned into trades.
    pub added: u64,
    /// Trades the new value would have skipped.
    pub dropped: u64,
    /// HOLDs that would have been taken but lack a favoured side, a price or an outcome.
    pub unreplayable: u64,
    /// The replay says the new value would have lost money: replayed P&L below zero or below
    /// the actual P&L. Not judgeable counts as saying so (no tier 1 without evidence).
    pub says_loses_money: bool,
    /// The replay says the new value would have made more than what happened (judgeable only):
    /// what autonomy `full` asks of a tier-2 change besides the walk-forward evaluation.
    pub better_than_actual: bool,
    pub summary: String,
}

/// The columns [`read_row`] reads, in order (`trades` as settled).
pub const ROW_COLUMNS: &str =
    "action, CAST(confidence AS TEXT), yes_price, no_price, final_score, \
     actual_outcome, profit_loss, is_win, timestamp, market_end, is_missed_opportunity, \
     position_size, executed_price, liquidity, fee_paid, fee, fee_asset, fee_rate_used, \
     fee_exponent_used";

/// A row of [`ROW_COLUMNS`] starting at column `at`; None for a row a replay cannot use (a
/// confidence or time that is not one). A money column that is not a number (a hand edit)
/// reads as missing.
pub fn read_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Option<Row>> {
    let dec = |i: usize| -> rusqlite::Result<Option<Decimal>> {
        Ok(crate::db::money_for_sums(r.get_ref(at + i)?))
    };
    let text = |i: usize| -> rusqlite::Result<Option<String>> { r.get(at + i) };
    let confidence = text(1)?.and_then(|c| {
        Decimal::from_str(&c)
            .or_else(|_| Decimal::from_scientific(&c))
            .ok()
    });
    let timestamp = text(8)?.and_then(|t| from_db(&t).ok());
    let (Some(confidence), Some(timestamp)) = (confidence, timestamp) else {
        return Ok(None);
    };
    // The model settlement used (its rate and exponent), when it recorded one.
    let fee_model = match (dec(17)?, r.get::<_, Option<i64>>(at + 18)?) {
        (Some(rate), Some(exponent)) => FeeModel::new(rate, Decimal::from(exponent)).ok(),
        _ => None,
    };
    Ok(Some(Row {
        timestamp,
        market_end: text(9)?.and_then(|t| from_db(&t).ok()),
        action: r.get(at)?,
        confidence,
        yes_price: dec(2)?,
        no_price: dec(3)?,
        final_score: r.get(at + 4)?,
        outcome: text(5)?,
        profit_loss: dec(6)?,
        is_win: r.get::<_, Option<i64>>(at + 7)?.map(|w| w != 0),
        is_missed_opportunity: r.get::<_, Option<i64>>(at + 10)?.map(|m| m != 0),
        position_size: dec(11)?,
        executed_price: dec(12)?,
        liquidity: text(13)?
            .as_deref()
            .and_then(Liquidity::parse)
            .unwrap_or_default(),
        fee_paid: dec(14)?,
        fee: dec(15)?,
        fee_asset: text(16)?.as_deref().and_then(FeeAsset::parse),
        fee_model,
    }))
}

/// Settled decisions of the last `days` days before `now`.
pub fn load_rows(conn: &Connection, now: DateTime<Utc>, days: u32) -> Result<Vec<Row>> {
    let since = crate::time::days_before(now, days)?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ROW_COLUMNS} FROM trades
         WHERE {} AND timestamp >= ?1 AND timestamp < ?2 ORDER BY timestamp, id",
        settled!()
    ))?;
    let rows = stmt
        .query_map(params![to_db(since), to_db(now)], |r| read_row(r, 0))?
        .filter_map(|r| r.ok().flatten())
        .collect();
    Ok(rows)
}

/// Inputs of a replay besides the rows.
#[derive(Debug, Clone)]
pub struct Setup<'a> {
    pub parameter: &'a str,
    pub current: Decimal,
    pub proposed: Decimal,
    pub days: u32,
    pub since: String,
    /// The live `bot_max_position_dollars`: the size of a replayed HOLD.
    pub position: Decimal,
    /// Settlement's fee model and asset rule, for replayed HOLDs and rows settled without
    /// a recorded model.
    pub fees: FeeRules,
}

/// Replays `rows` (in time order) under the proposed value, by [`super::counterfactual`]'s
/// rules: `bot_confidence_threshold` drops trades below it and takes HOLDs it newly admits
/// (for the live position size); `bot_max_position_dollars` settles each trade again at the
/// scaled stake; a lower `bot_max_exposure_fraction` skips trades beyond its share of the
/// bankroll the record implies. Other parameters, and a higher exposure, are not judgeable.
pub fn replay(rows: &[Row], setup: &Setup<'_>) -> Evidence {
    let mut actual = Side::default();
    let mut replayed = Side::default();
    let (mut added, mut dropped, mut unreplayable) = (0, 0, 0);
    let judgeable = Values::judgeable(setup.parameter, setup.current, setup.proposed);
    let method = match setup.parameter {
        _ if !judgeable => "none",
        CONFIDENCE_THRESHOLD => "threshold",
        MAX_POSITION => "position_scale",
        _ => "exposure_cap",
    };
    let live = Values {
        position: Some(setup.position),
        ..Values::default()
    }
    .with(setup.parameter, setup.current);
    let new = live.with(setup.parameter, setup.proposed);
    let mut walker = Walker::new(setup.fees);
    for row in rows {
        let Some(step) = walker.step(row, &live, &new) else {
            continue;
        };
        if let Fate::Trade(p) = &step.actual {
            actual.add(p.won, p.pnl);
        }
        if !judgeable {
            continue;
        }
        if let Fate::Trade(p) = &step.replayed {
            replayed.add(p.won, p.pnl);
        }
        added += u64::from(step.added);
        dropped += u64::from(step.dropped);
        unreplayable += u64::from(step.unreplayable);
    }
    let actual = actual.finish();
    let replayed = replayed.finish();
    let says_loses_money = !judgeable || replayed.pnl < Decimal::ZERO || replayed.pnl < actual.pnl;
    let better_than_actual = judgeable && replayed.pnl > actual.pnl;
    let summary = summarize(setup, method, &actual, &replayed, added, dropped);
    Evidence {
        parameter: setup.parameter.to_string(),
        current: setup.current.to_string(),
        proposed: setup.proposed.to_string(),
        days: setup.days,
        since: setup.since.clone(),
        method,
        judgeable,
        actual,
        replayed,
        added,
        dropped,
        unreplayable,
        says_loses_money,
        better_than_actual,
        summary,
    }
}

fn summarize(
    setup: &Setup<'_>,
    method: &str,
    actual: &Side,
    replayed: &Side,
    added: u64,
    dropped: u64,
) -> String {
    let rate = |s: &Side| {
        s.win_rate
            .map(|w| format!("{:.1}% won", w * 100.0))
            .unwrap_or_else(|| "no trades".into())
    };
    let head = format!(
        "last {} days: actual {} trades, {}, P&L {}",
        setup.days,
        actual.n,
        rate(actual),
        actual.pnl
    );
    match method {
        "threshold" => format!(
            "{head}; with {} = {}: {} trades (+{added} HOLDs taken, -{dropped} skipped), {}, P&L {}",
            setup.parameter,
            setup.proposed,
            replayed.n,
            rate(replayed),
            replayed.pnl
        ),
        "position_scale" => format!(
            "{head}; with {} = {}: P&L {}",
            setup.parameter, setup.proposed, replayed.pnl
        ),
        "exposure_cap" => format!(
            "{head}; with {} = {}: {} trades (-{dropped} beyond the exposure), P&L {}",
            setup.parameter, setup.proposed, replayed.n, replayed.pnl
        ),
        _ => format!(
            "{head}; the replay cannot judge {} (n/a), so it is never applied without approval",
            setup.parameter
        ),
    }
}

/// Wilson score interval (95%) of `wins` out of `n` ([`crate::metrics::wilson`]).
pub fn wilson(wins: u64, n: u64) -> Option<(f64, f64)> {
    crate::metrics::wilson(wins, n, crate::metrics::Z95).map(|[lo, hi]| (lo, hi))
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn fees(rate: &str) -> FeeRules {
        FeeRules {
            model: FeeModel::new(d(rate), Decimal::ONE).unwrap(),
            asset: crate::settle::fees::FeeAssetRule::Auto,
        }
    }

    #[test]
    fn trade_profit_matches_hand_figures_in_both_fee_eras() {
        let before = crate::time::parse_rfc3339("2026-02-11T10:00:00Z").unwrap();
        let after = crate::time::parse_rfc3339("2026-05-11T10:00:00Z").unwrap();
        let fee = fees("0.07");
        // 10 USDC at 0.50: C = 20 shares, fee = 20 × 0.07 × 0.25 = 0.35 USDC: in shares
        // (0.7 of them) before the CLOB V2 cut-over, on top of the stake after it.
        let profit = |size, p, won, time| trade_profit(d(size), d(p), won, time, &fee);
        assert_eq!(profit("10", "0.50", true, before), Some(d("9.3")));
        assert_eq!(profit("10", "0.50", false, before), Some(d("-10")));
        assert_eq!(profit("10", "0.50", true, after), Some(d("9.65")));
        assert_eq!(profit("10", "0.50", false, after), Some(d("-10.35")));
        // 5 at 0.25: C = 20, fee = 20 × 0.07 × 0.1875 = 0.2625; win pays 20 − 1.05 = 18.95.
        assert_eq!(profit("5", "0.25", true, before), Some(d("13.95")));
        let free = fees("0");
        assert_eq!(
            trade_profit(d("5"), d("0.25"), true, before, &free),
            Some(d("15"))
        );
        assert_eq!(profit("5", "1", true, before), None);
        assert_eq!(profit("5", "0", true, before), None);
    }

    #[test]
    fn wilson_interval_known_values() {
        let (lo, hi) = wilson(10, 20).unwrap();
        assert!(
            (lo - 0.2993).abs() < 1e-3 && (hi - 0.7007).abs() < 1e-3,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson(0, 10).unwrap();
        assert!(lo == 0.0 && (hi - 0.2775).abs() < 1e-3, "{lo} {hi}");
        assert_eq!(wilson(0, 0), None);
    }
}
