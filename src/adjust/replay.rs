//! Evidence for a proposal: a replay of the settled decisions of the last N days under the
//! proposed value, against what actually happened. Reads `trades`; the replay itself is pure.

use std::str::FromStr;

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::db::Money;
use crate::settle::fees::{FeeRules, Fill, Liquidity};
use crate::time::{from_db, to_db};
use crate::trades::settled;

pub const CONFIDENCE_THRESHOLD: &str = "bot_confidence_threshold";
pub const MAX_POSITION: &str = "bot_max_position_dollars";

/// One settled decision, as the replay needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// When the decision was made: a replayed fill's time, which picks its fee asset.
    pub timestamp: DateTime<Utc>,
    /// `YES`, `NO` or `HOLD`.
    pub action: String,
    pub confidence: Decimal,
    pub yes_price: Option<Decimal>,
    pub no_price: Option<Decimal>,
    pub final_score: Option<f64>,
    /// `UP` or `DOWN`.
    pub outcome: Option<String>,
    /// Recorded P&L of a YES/NO decision.
    pub profit_loss: Option<Decimal>,
    pub is_win: Option<bool>,
}

pub use crate::settle::pnl::FeeModel;

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
    pub summary: String,
}

/// Settled decisions of the last `days` days before `now`.
pub fn load_rows(conn: &Connection, now: DateTime<Utc>, days: u32) -> Result<Vec<Row>> {
    let since = crate::time::days_before(now, days)?;
    let mut stmt = conn.prepare_cached(concat!(
        "SELECT action, CAST(confidence AS TEXT), yes_price, no_price, final_score, actual_outcome,
                profit_loss, is_win, timestamp
         FROM trades
         WHERE ",
        settled!(),
        " AND timestamp >= ?1 AND timestamp < ?2 ORDER BY timestamp, id"
    ))?;
    // A money column that is not a number (a hand edit) reads as missing.
    let dec = |r: &rusqlite::Row<'_>, i| -> rusqlite::Result<Option<Decimal>> {
        Ok(Money::from_value(r.get_ref(i)?).ok().flatten())
    };
    let rows = stmt
        .query_map(params![to_db(since), to_db(now)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                (dec(r, 2)?, dec(r, 3)?),
                r.get::<_, Option<f64>>(4)?,
                r.get::<_, Option<String>>(5)?,
                dec(r, 6)?,
                r.get::<_, Option<i64>>(7)?,
                r.get::<_, String>(8)?,
            ))
        })?
        .filter_map(|r| r.ok())
        .filter_map(
            |(action, conf, (yes, no), score, outcome, pnl, win, time)| {
                // A confidence that is not a number cannot be replayed; skip the row.
                let confidence = conf.and_then(|c| {
                    Decimal::from_str(&c)
                        .or_else(|_| Decimal::from_scientific(&c))
                        .ok()
                })?;
                Some(Row {
                    timestamp: from_db(&time).ok()?,
                    action,
                    confidence,
                    yes_price: yes,
                    no_price: no,
                    final_score: score,
                    outcome,
                    profit_loss: pnl,
                    is_win: win.map(|w| w != 0),
                })
            },
        )
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
    /// Settlement's fee model and asset rule, for replayed HOLDs.
    pub fees: FeeRules,
}

/// Replays `rows` under the proposed value.
///
/// `bot_confidence_threshold` T: a decision is taken when its confidence ≥ T. Taken YES/NO
/// decisions keep their recorded P&L and drop out when their confidence is below the new T.
/// A HOLD is added when the new T is at or below its confidence but the current T was above
/// it (a HOLD at or above the current T was held for another reason, which a new threshold
/// does not change): it buys the side `final_score` favoured at the recorded price with
/// `position` dollars. `bot_max_position_dollars`: each trade's P&L scales with the cap (P&L
/// is linear in the stake, fee included). Other parameters: not judgeable.
pub fn replay(rows: &[Row], setup: &Setup<'_>) -> Evidence {
    let mut actual = Side::default();
    let mut replayed = Side::default();
    let (mut added, mut dropped, mut unreplayable) = (0, 0, 0);
    let method = match setup.parameter {
        CONFIDENCE_THRESHOLD => "threshold",
        MAX_POSITION if !setup.current.is_zero() => "position_scale",
        _ => "none",
    };
    for row in rows {
        let taken = row.action == "YES" || row.action == "NO";
        if taken {
            let (Some(pnl), Some(won)) = (row.profit_loss, row.is_win) else {
                continue;
            };
            actual.add(won, pnl);
            match method {
                "threshold" => {
                    if row.confidence >= setup.proposed {
                        replayed.add(won, pnl);
                    } else {
                        dropped += 1;
                    }
                }
                "position_scale" => replayed.add(won, pnl * setup.proposed / setup.current),
                _ => {}
            }
        } else if method == "threshold"
            && row.confidence >= setup.proposed
            && row.confidence < setup.current
        {
            match replay_hold(row, setup) {
                Some((won, pnl)) => {
                    added += 1;
                    replayed.add(won, pnl);
                }
                None => unreplayable += 1,
            }
        }
    }
    let actual = actual.finish();
    let replayed = replayed.finish();
    let judgeable = method != "none";
    let says_loses_money = !judgeable || replayed.pnl < Decimal::ZERO || replayed.pnl < actual.pnl;
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
        summary,
    }
}

/// The favoured side of a HOLD, bought at its recorded price: (won, profit).
fn replay_hold(row: &Row, setup: &Setup<'_>) -> Option<(bool, Decimal)> {
    let score = row.final_score?;
    let outcome = row.outcome.as_deref()?;
    let (price, won) = if score > 0.0 {
        (row.yes_price?, outcome == "UP")
    } else if score < 0.0 {
        (row.no_price?, outcome == "DOWN")
    } else {
        return None;
    };
    let pnl = trade_profit(setup.position, price, won, row.timestamp, &setup.fees)?;
    Some((won, pnl))
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
