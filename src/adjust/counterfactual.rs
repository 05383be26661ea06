//! A settled decision under other parameter values than those it was made under (pure): what
//! the adjuster's replay evidence asks of one proposed value, and what the walk-forward
//! evaluation asks of every change the loop would have made. One set of rules for both:
//!
//! - `bot_confidence_threshold`: a YES/NO below the new threshold is not taken (it becomes a
//!   HOLD); a HOLD at or above the new threshold but below the one it was made under is taken:
//!   the side its `final_score` favoured, at the recorded price, for the position size then in
//!   force (a HOLD at or above the old threshold was held for another reason, which a new
//!   threshold does not change).
//! - `bot_max_position_dollars`: a trade's stake scales with the cap, and its money is settled
//!   again through settlement's own function ([`settle_fill`]: the fee of the scaled fill, its
//!   asset by era, rounding); a logged `fee_paid` scales with the stake.
//! - `bot_max_exposure_fraction`: the database holds no bankroll, so the bankroll is taken as the
//!   smallest one consistent with the record: the largest stake the trader ever had open at once
//!   (so far) divided by the exposure then in force. A lower exposure takes a trade only while
//!   the stake open at its time (positions whose market has not ended) stays within the new
//!   share of that bankroll; a higher exposure changes nothing (no record shows a trade the
//!   trader skipped for exposure). Decisions without a market end are never open across others.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::config::FeeAssetRule;
use crate::params::{CONFIDENCE_THRESHOLD, MAX_EXPOSURE, MAX_POSITION};
use crate::settle::fees::{FeeAsset, FeeModel, FeeRules, Fill, Liquidity};
use crate::settle::pnl::{missed_opportunity, settle_fill, Outcome};

/// One settled decision, as a replay needs it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Row {
    /// When the decision was made: a replayed fill's time, which picks its fee asset.
    pub timestamp: DateTime<Utc>,
    /// When its market ended (None: unknown).
    pub market_end: Option<DateTime<Utc>>,
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
    pub is_missed_opportunity: Option<bool>,
    pub position_size: Option<Decimal>,
    pub executed_price: Option<Decimal>,
    pub liquidity: Liquidity,
    pub fee_paid: Option<Decimal>,
    /// The fee settlement charged, the asset it was charged in and the model it used.
    pub fee: Option<Decimal>,
    pub fee_asset: Option<FeeAsset>,
    pub fee_model: Option<FeeModel>,
}

/// The values of the parameters a replay understands (None: not in play).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Values {
    pub threshold: Option<Decimal>,
    pub position: Option<Decimal>,
    pub exposure: Option<Decimal>,
}

impl Values {
    /// Whether a replay can judge a change of `name` from `current` to `proposed`: the
    /// threshold always, the position from a nonzero cap, the exposure only downwards.
    pub fn judgeable(name: &str, current: Decimal, proposed: Decimal) -> bool {
        match name {
            CONFIDENCE_THRESHOLD => true,
            MAX_POSITION => !current.is_zero(),
            MAX_EXPOSURE => proposed < current && current > Decimal::ZERO,
            _ => false,
        }
    }

    /// These values with `name` set to `value` (an unknown name changes nothing).
    pub fn with(mut self, name: &str, value: Decimal) -> Values {
        match name {
            CONFIDENCE_THRESHOLD => self.threshold = Some(value),
            MAX_POSITION => self.position = Some(value),
            MAX_EXPOSURE => self.exposure = Some(value),
            _ => {}
        }
        self
    }
}

/// A position as it was taken (or would have been).
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    /// Bought Up (`YES`) or Down (`NO`).
    pub yes: bool,
    pub price: Option<Decimal>,
    pub stake: Decimal,
    pub won: bool,
    pub pnl: Decimal,
    pub fee: Decimal,
    pub fee_asset: Option<FeeAsset>,
}

/// What became of a decision.
#[derive(Debug, Clone, PartialEq)]
pub enum Fate {
    Trade(Position),
    /// Not traded; `missed` when the side its signal favoured won.
    Hold {
        missed: bool,
    },
}

impl Fate {
    /// What really happened; None for a YES/NO without its result (nothing to compare).
    pub fn recorded(row: &Row) -> Option<Fate> {
        if row.action == "HOLD" {
            return Some(Fate::Hold {
                missed: row.is_missed_opportunity == Some(true),
            });
        }
        Some(Fate::Trade(Position {
            yes: row.action == "YES",
            price: row.executed_price,
            stake: row.position_size.unwrap_or_default(),
            won: row.is_win?,
            pnl: row.profit_loss?,
            fee: row.fee.unwrap_or_default(),
            fee_asset: row.fee_asset,
        }))
    }
}

/// One decision replayed.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub actual: Fate,
    pub replayed: Fate,
    /// A HOLD the new values turned into a trade.
    pub added: bool,
    /// A trade the new values would have skipped.
    pub dropped: bool,
    /// A HOLD the new values would take but that lacks a favoured side, a price or an
    /// outcome (it stays a HOLD), or a trade whose scaled fill cannot be settled (it keeps its
    /// recorded result).
    pub unreplayable: bool,
}

/// Replays decisions in time order: the stake open at each one (for exposure) depends on
/// those before it.
#[derive(Debug, Clone)]
pub struct Walker {
    fees: FeeRules,
    /// (market end, stake) of the replayed positions, and of the recorded ones.
    open: Vec<(DateTime<Utc>, Decimal)>,
    recorded_open: Vec<(DateTime<Utc>, Decimal)>,
    /// The largest stake the record ever had open at once, so far.
    recorded_peak: Decimal,
}

impl Walker {
    /// `fees`: settlement's model and asset rule, for fills the record does not settle itself.
    pub fn new(fees: FeeRules) -> Walker {
        Walker {
            fees,
            open: Vec::new(),
            recorded_open: Vec::new(),
            recorded_peak: Decimal::ZERO,
        }
    }

    /// `row` (the next in time order), made under `actual` values, replayed under `new`
    /// ones. None for a YES/NO without its result.
    pub fn step(&mut self, row: &Row, actual: &Values, new: &Values) -> Option<Step> {
        let recorded = Fate::recorded(row)?;
        let now = row.timestamp;
        self.open.retain(|(end, _)| *end > now);
        self.recorded_open.retain(|(end, _)| *end > now);
        if let (Fate::Trade(p), Some(end)) = (&recorded, row.market_end) {
            self.recorded_open.push((end, p.stake));
            let open: Decimal = self.recorded_open.iter().map(|(_, s)| *s).sum();
            self.recorded_peak = self.recorded_peak.max(open);
        }
        let mut step = Step {
            actual: recorded.clone(),
            replayed: recorded.clone(),
            added: false,
            dropped: false,
            unreplayable: false,
        };
        let candidate = match &recorded {
            Fate::Trade(_) if below(row.confidence, new.threshold) => {
                step.dropped = true;
                step.replayed = held(row);
                return Some(step);
            }
            Fate::Trade(p) => match ratio(actual.position, new.position) {
                Some(r) => match self.scaled(row, p, r) {
                    Some(scaled) => scaled,
                    None => {
                        step.unreplayable = true;
                        p.clone()
                    }
                },
                None => p.clone(),
            },
            Fate::Hold { .. }
                if !below(row.confidence, new.threshold)
                    && below(row.confidence, actual.threshold) =>
            {
                match self.favoured(row, new.position) {
                    Some(p) => {
                        step.added = true;
                        p
                    }
                    None => {
                        step.unreplayable = true;
                        return Some(step);
                    }
                }
            }
            Fate::Hold { .. } => return Some(step),
        };
        if let Some(end) = row.market_end {
            if !self.within_exposure(candidate.stake, actual.exposure, new.exposure) {
                step.dropped = !step.added;
                step.added = false;
                step.replayed = held(row);
                return Some(step);
            }
            self.open.push((end, candidate.stake));
        }
        step.replayed = Fate::Trade(candidate);
        Some(step)
    }

    /// Whether a new stake fits the lower exposure's share of the bankroll the record implies.
    fn within_exposure(
        &self,
        stake: Decimal,
        actual: Option<Decimal>,
        new: Option<Decimal>,
    ) -> bool {
        let (Some(actual), Some(new)) = (actual, new) else {
            return true;
        };
        if new >= actual || actual <= Decimal::ZERO {
            return true;
        }
        let Some(cap) = self
            .recorded_peak
            .checked_mul(new)
            .and_then(|x| x.checked_div(actual))
        else {
            return true;
        };
        let open: Decimal = self.open.iter().map(|(_, s)| *s).sum();
        open + stake <= cap
    }

    /// A recorded trade with its stake times `ratio`, settled again.
    fn scaled(&self, row: &Row, p: &Position, ratio: Decimal) -> Option<Position> {
        let stake = p.stake.checked_mul(ratio)?;
        let fee_paid = match row.fee_paid {
            Some(paid) => Some(paid.checked_mul(ratio)?),
            None => None,
        };
        let fill = Fill {
            size: stake,
            price: p.price?,
            time: row.timestamp,
            liquidity: row.liquidity,
            fee_paid,
        };
        let settled = settle_fill(&fill, &self.rules_of(row), p.won).ok()?;
        Some(Position {
            stake,
            pnl: settled.profit_loss,
            fee: settled.fee,
            fee_asset: Some(settled.asset),
            ..p.clone()
        })
    }

    /// The side a HOLD's `final_score` favoured, bought at its recorded price for `position`
    /// as a taker and settled by settlement's rule.
    fn favoured(&self, row: &Row, position: Option<Decimal>) -> Option<Position> {
        let score = row.final_score?;
        let outcome = Outcome::parse(row.outcome.as_deref()?)?;
        let (yes, price) = if score > 0.0 {
            (true, row.yes_price?)
        } else if score < 0.0 {
            (false, row.no_price?)
        } else {
            return None;
        };
        let won = crate::settle::pnl::side_wins(yes, outcome);
        let fill = Fill {
            size: position?,
            price,
            time: row.timestamp,
            liquidity: Liquidity::Taker,
            fee_paid: None,
        };
        let settled = settle_fill(&fill, &self.fees, won).ok()?;
        Some(Position {
            yes,
            price: Some(price),
            stake: fill.size,
            won,
            pnl: settled.profit_loss,
            fee: settled.fee,
            fee_asset: Some(settled.asset),
        })
    }

    /// Settlement's rules for a row: the model and asset it was settled with, when recorded.
    fn rules_of(&self, row: &Row) -> FeeRules {
        FeeRules {
            model: row.fee_model.unwrap_or(self.fees.model),
            asset: row
                .fee_asset
                .map(FeeAssetRule::from)
                .unwrap_or(self.fees.asset),
        }
    }
}

/// A confidence below a threshold in force (no threshold: nothing is below).
fn below(confidence: Decimal, threshold: Option<Decimal>) -> bool {
    threshold.is_some_and(|t| confidence < t)
}

/// new / actual position cap, when both are known, the actual is not zero and they differ.
fn ratio(actual: Option<Decimal>, new: Option<Decimal>) -> Option<Decimal> {
    let (actual, new) = (actual?, new?);
    if actual.is_zero() || actual == new {
        return None;
    }
    new.checked_div(actual)
}

/// A decision not traded: a missed opportunity when the side its signal favoured won.
fn held(row: &Row) -> Fate {
    let missed = row
        .outcome
        .as_deref()
        .and_then(Outcome::parse)
        .is_some_and(|o| missed_opportunity(row.final_score, o));
    Fate::Hold { missed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn fees() -> FeeRules {
        FeeRules {
            model: FeeModel::new(d("0.07"), Decimal::ONE).unwrap(),
            asset: FeeAssetRule::Auto,
        }
    }

    fn at(minutes: i64) -> DateTime<Utc> {
        crate::time::parse_rfc3339("2026-02-11T10:00:00Z").unwrap() + Duration::minutes(minutes)
    }

    /// A YES at 0.50 for 10 USDC, settled by settlement's rule (fee in shares in February).
    fn trade(minute: i64, conf: &str, won: bool) -> Row {
        Row {
            timestamp: at(minute),
            market_end: Some(at(minute + 15)),
            action: "YES".into(),
            confidence: d(conf),
            yes_price: Some(d("0.50")),
            no_price: Some(d("0.50")),
            final_score: Some(0.3),
            outcome: Some(if won { "UP" } else { "DOWN" }.into()),
            profit_loss: Some(if won { d("9.3") } else { d("-10") }),
            is_win: Some(won),
            position_size: Some(d("10")),
            executed_price: Some(d("0.50")),
            fee: Some(d("0.35")),
            fee_asset: Some(FeeAsset::Shares),
            ..Row::default()
        }
    }

    fn hold(minute: i64, conf: &str, score: f64, outcome: &str) -> Row {
        Row {
            action: "HOLD".into(),
            final_score: Some(score),
            outcome: Some(outcome.into()),
            profit_loss: None,
            is_win: None,
            position_size: Some(Decimal::ZERO),
            executed_price: None,
            fee: None,
            fee_asset: None,
            ..trade(minute, conf, true)
        }
    }

    fn values(threshold: &str, position: &str, exposure: &str) -> Values {
        Values {
            threshold: Some(d(threshold)),
            position: Some(d(position)),
            exposure: Some(d(exposure)),
        }
    }

    fn pnl(f: &Fate) -> Option<Decimal> {
        match f {
            Fate::Trade(p) => Some(p.pnl),
            Fate::Hold { .. } => None,
        }
    }

    #[test]
    fn a_higher_threshold_drops_trades_below_it_and_a_lower_one_takes_holds() {
        let actual = values("0.75", "10", "0.5");
        let mut w = Walker::new(fees());
        let raised = actual.with(CONFIDENCE_THRESHOLD, d("0.80"));
        let s = w.step(&trade(0, "0.78", false), &actual, &raised).unwrap();
        assert!(s.dropped);
        // Its favoured side (final_score > 0: YES) lost: not a missed opportunity.
        assert_eq!(s.replayed, Fate::Hold { missed: false });
        let s = w.step(&trade(0, "0.80", true), &actual, &raised).unwrap();
        assert_eq!(pnl(&s.replayed), Some(d("9.3")));
        // Lowered to 0.72: the HOLD at 0.73 is taken, YES at 0.50 for 10 wins 9.30.
        let lowered = actual.with(CONFIDENCE_THRESHOLD, d("0.72"));
        let s = w
            .step(&hold(30, "0.73", 0.3, "UP"), &actual, &lowered)
            .unwrap();
        assert!(s.added);
        assert_eq!(pnl(&s.replayed), Some(d("9.3")));
        // Held above the old threshold: held for another reason, still a HOLD.
        let s = w
            .step(&hold(30, "0.90", 0.3, "UP"), &actual, &lowered)
            .unwrap();
        assert!(!s.added && matches!(s.replayed, Fate::Hold { .. }));
        // No favoured side: it stays a HOLD.
        let s = w
            .step(&hold(30, "0.73", 0.0, "UP"), &actual, &lowered)
            .unwrap();
        assert!(s.unreplayable && !s.added);
    }

    #[test]
    fn a_smaller_position_settles_the_scaled_fill_again() {
        let actual = values("0.75", "10", "0.5");
        let smaller = actual.with(MAX_POSITION, d("8"));
        let mut w = Walker::new(fees());
        // 8 USDC at 0.50: 16 shares, fee 16 × 0.07 × 0.25 = 0.28 in shares (0.56 of them).
        let s = w.step(&trade(0, "0.8", true), &actual, &smaller).unwrap();
        match &s.replayed {
            Fate::Trade(p) => {
                assert_eq!((p.stake, p.pnl, p.fee), (d("8"), d("7.44"), d("0.28")))
            }
            other => panic!("{other:?}"),
        }
        let s = w.step(&trade(1, "0.8", false), &actual, &smaller).unwrap();
        assert_eq!(pnl(&s.replayed), Some(d("-8")));
        // After the CLOB V2 cut-over the fee is charged on top: a loss costs 8.28.
        let mut late = trade(0, "0.8", false);
        late.timestamp = crate::time::parse_rfc3339("2026-05-11T10:00:00Z").unwrap();
        late.fee_asset = Some(FeeAsset::Collateral);
        let s = Walker::new(fees()).step(&late, &actual, &smaller).unwrap();
        assert_eq!(pnl(&s.replayed), Some(d("-8.28")));
    }

    #[test]
    fn a_lower_exposure_caps_the_stake_open_at_once() {
        let actual = values("0.75", "10", "0.5");
        let halved = actual.with(MAX_EXPOSURE, d("0.25"));
        let mut w = Walker::new(fees());
        // The record has two overlapping trades: 20 open at once under an exposure of 0.5, so
        // the bankroll is at least 40, and 0.25 of it allows 10 open at once.
        for minute in [0, 5] {
            let s = w
                .step(&trade(minute, "0.8", true), &actual, &actual)
                .unwrap();
            assert_eq!(s.replayed, s.actual);
        }
        let c = w.step(&trade(30, "0.8", true), &actual, &halved).unwrap();
        assert!(!c.dropped);
        let d2 = w.step(&trade(35, "0.8", false), &actual, &halved).unwrap();
        assert!(d2.dropped, "{d2:?}");
        assert_eq!(d2.replayed, Fate::Hold { missed: false });
        // Once the first market has ended there is room again.
        let e = w.step(&trade(50, "0.8", true), &actual, &halved).unwrap();
        assert!(!e.dropped);
        // The first trade of a record says the bankroll is at least twice its stake: at a
        // quarter, it does not fit (the record's smallest consistent bankroll).
        let mut fresh = Walker::new(fees());
        assert!(
            fresh
                .step(&trade(0, "0.8", true), &actual, &halved)
                .unwrap()
                .dropped
        );
        // A higher exposure changes nothing.
        let raised = actual.with(MAX_EXPOSURE, d("0.6"));
        let mut w = Walker::new(fees());
        for minute in [0, 5] {
            let s = w
                .step(&trade(minute, "0.8", true), &actual, &raised)
                .unwrap();
            assert_eq!(s.replayed, s.actual);
        }
    }

    #[test]
    fn unchanged_values_replay_the_record_exactly() {
        let actual = values("0.75", "10", "0.5");
        let mut w = Walker::new(fees());
        for row in [trade(0, "0.8", true), hold(5, "0.6", -0.2, "DOWN")] {
            let s = w.step(&row, &actual, &actual).unwrap();
            assert_eq!(s.replayed, s.actual);
        }
        assert!(Values::judgeable(MAX_EXPOSURE, d("0.5"), d("0.4")));
        assert!(!Values::judgeable(MAX_EXPOSURE, d("0.5"), d("0.6")));
        assert!(!Values::judgeable("bot_other", d("1"), d("2")));
    }
}
