//! A settled decision under other parameter values than those it was made under (pure): what
//! the adjuster's replay evidence asks of one proposed value, what the rules engine asks of
//! every value within the tier bounds, and what the walk-forward evaluation asks of every
//! change the loop would have made. One set of rules for all of them, and the record as it
//! happened is the baseline: a change alters only the decisions it would have altered.
//!
//! - `bot_confidence_threshold`: raised from `old` to `new`, a YES/NO with a confidence in
//!   [old, new) is not taken (it becomes a HOLD); lowered, a HOLD with a confidence in
//!   [new, old) is taken: the side its `final_score` favoured, at the recorded price, for the
//!   position size then in force. Anything outside that band keeps its recorded fate (a trade
//!   below the old threshold, or a HOLD above it, was decided by something else, which a new
//!   threshold does not change). Without a known old value nothing is judged.
//! - `bot_max_position_dollars`: a trade's stake scales with the cap, and its money is settled
//!   again through settlement's own function ([`settle_fill`]: the fee of the scaled fill, its
//!   asset by era, rounding); a logged `fee_paid` scales with the stake.
//! - `bot_max_exposure_fraction`: only against the bankroll the trader logged with the
//!   decision (`bankroll`): a lower exposure takes a trade only while the stake open at its
//!   time (positions whose market has not ended) stays within the new share of that bankroll.
//!   A decision without a bankroll keeps its fate (nothing is judged on a guessed bankroll),
//!   and a higher exposure changes nothing (no record shows a trade the trader skipped for
//!   exposure). Decisions without a market end are never open across others.
//!
//! Unchanged values replay every decision exactly as recorded.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::config::FeeAssetRule;
use crate::kinds::{Action, FeeAsset, Liquidity};
use crate::money::fees::{FeeModel, FeeRules, Fill};
use crate::money::pnl::{missed_opportunity, settle_fill};
use crate::params::{CONFIDENCE_THRESHOLD, MAX_EXPOSURE, MAX_POSITION};
use crate::trades::Trade;

/// One settled decision, as a replay reads it: a `trades` row ([`Trade`]). Its confidence
/// is compared with thresholds exactly, in decimal; its outcome is UP or DOWN (a 50-50, NULL,
/// is no outcome a replayed side wins or loses by).
pub type Row = Trade;

/// The values of the parameters a replay understands (None: not in play).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Values {
    pub threshold: Option<Decimal>,
    pub position: Option<Decimal>,
    pub exposure: Option<Decimal>,
}

impl Values {
    /// Whether a replay can judge a change of `name` from `current` to `proposed` on rows
    /// like these: the threshold always, the position from a nonzero cap, the exposure only
    /// downwards and only when every trade among `rows` carries the trader's bankroll.
    pub fn judgeable(name: &str, current: Decimal, proposed: Decimal, rows: &[Row]) -> bool {
        match name {
            CONFIDENCE_THRESHOLD => true,
            MAX_POSITION => !current.is_zero(),
            MAX_EXPOSURE => {
                let mut trades = rows.iter().filter(|r| r.action.is_trade()).peekable();
                proposed < current
                    && current > Decimal::ZERO
                    && trades.peek().is_some()
                    && trades.all(|r| r.bankroll.is_some_and(|b| b > Decimal::ZERO))
            }
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

    /// The value of `name` (None: unknown name, or not in play).
    pub fn get(&self, name: &str) -> Option<Decimal> {
        match name {
            CONFIDENCE_THRESHOLD => self.threshold,
            MAX_POSITION => self.position,
            MAX_EXPOSURE => self.exposure,
            _ => None,
        }
    }
}

/// The parameters a replay understands, by name.
pub const NAMES: [&str; 3] = [CONFIDENCE_THRESHOLD, MAX_POSITION, MAX_EXPOSURE];

/// Values of the parameters over time: (from, values), ascending.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline(pub Vec<(DateTime<Utc>, Values)>);

impl Timeline {
    /// The values in force at `t` (the first entry's before it).
    pub fn at(&self, t: DateTime<Utc>) -> Values {
        let i = self.0.partition_point(|(from, _)| *from <= t);
        let i = i.saturating_sub(1);
        self.0.get(i).map(|(_, v)| *v).unwrap_or_default()
    }

    /// Every entry with `name` set to `value`: the record as if `name` had been `value` all
    /// along.
    pub fn with(&self, name: &str, value: Decimal) -> Timeline {
        Timeline(
            self.0
                .iter()
                .map(|(from, v)| (*from, v.with(name, value)))
                .collect(),
        )
    }

    /// These values (the record's) with the loop's own `changes` (time order) laid over them:
    /// a parameter follows the record until the loop first changes it, then the loop's
    /// values. No change: the record itself.
    pub fn overlaid(&self, changes: &[(DateTime<Utc>, String, Decimal)]) -> Timeline {
        if changes.is_empty() {
            return self.clone();
        }
        let mut times: Vec<DateTime<Utc>> = self.0.iter().map(|(t, _)| *t).collect();
        times.extend(changes.iter().map(|(t, _, _)| *t));
        times.sort();
        times.dedup();
        let entries = times
            .into_iter()
            .map(|t| {
                let values = changes
                    .iter()
                    .take_while(|(at, _, _)| *at <= t)
                    .fold(self.at(t), |v, (_, name, value)| v.with(name, *value));
                (t, values)
            })
            .collect();
        Timeline(entries)
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
        if row.action == Action::Hold {
            return Some(Fate::Hold {
                missed: row.is_missed_opportunity == Some(true),
            });
        }
        Some(Fate::Trade(Position {
            yes: row.action == Action::Yes,
            price: row.executed_price,
            stake: row.position_size.unwrap_or_default(),
            won: row.is_win?,
            pnl: row.profit_loss?,
            fee: row.fee.unwrap_or_default(),
            fee_asset: row.fee_asset,
        }))
    }

    /// Its P&L (0 for a HOLD).
    pub fn pnl(&self) -> Decimal {
        match self {
            Fate::Trade(p) => p.pnl,
            Fate::Hold { .. } => Decimal::ZERO,
        }
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

impl Step {
    fn unchanged(recorded: Fate) -> Step {
        Step {
            actual: recorded.clone(),
            replayed: recorded,
            added: false,
            dropped: false,
            unreplayable: false,
        }
    }
}

/// Replays decisions in time order: the stake open at each one (for exposure) depends on
/// those before it.
#[derive(Debug, Clone)]
pub struct Walker {
    fees: FeeRules,
    /// (market end, stake) of the replayed positions.
    open: Vec<(DateTime<Utc>, Decimal)>,
}

impl Walker {
    /// `fees`: settlement's model and asset rule, for fills the record does not settle itself.
    pub fn new(fees: FeeRules) -> Walker {
        Walker {
            fees,
            open: Vec::new(),
        }
    }

    /// `row` (the next in time order), made under `actual` values, replayed under `new`
    /// ones. None for a YES/NO without its result.
    pub fn step(&mut self, row: &Row, actual: &Values, new: &Values) -> Option<Step> {
        let recorded = Fate::recorded(row)?;
        let now = row.timestamp?;
        self.open.retain(|(end, _)| *end > now);
        let mut step = Step::unchanged(recorded.clone());
        let (old_t, new_t) = (actual.threshold, new.threshold);
        let candidate = match &recorded {
            Fate::Trade(_) if within(row.confidence, old_t, new_t) => {
                step.dropped = true;
                step.replayed = held(row);
                return Some(step);
            }
            Fate::Trade(p) => match ratio(actual.position, new.position) {
                Some(r) => self.scaled(row, p, r).unwrap_or_else(|| {
                    step.unreplayable = true;
                    p.clone()
                }),
                None => p.clone(),
            },
            Fate::Hold { .. } if within(row.confidence, new_t, old_t) => {
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
            if !self.within_exposure(candidate.stake, row.bankroll, actual, new) {
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

    /// Whether a stake fits a lower exposure's share of the bankroll the trader logged with
    /// the decision (no bankroll, or no lower exposure: nothing to judge, it fits).
    fn within_exposure(
        &self,
        stake: Decimal,
        bankroll: Option<Decimal>,
        actual: &Values,
        new: &Values,
    ) -> bool {
        let bankroll = bankroll.filter(|b| *b > Decimal::ZERO);
        let (Some(actual), Some(new), Some(bankroll)) = (actual.exposure, new.exposure, bankroll)
        else {
            return true;
        };
        if new >= actual || actual <= Decimal::ZERO {
            return true;
        }
        let Some(cap) = bankroll.checked_mul(new) else {
            return true;
        };
        let open = self
            .open
            .iter()
            .try_fold(stake, |sum, (_, s)| sum.checked_add(*s));
        open.is_some_and(|open| open <= cap)
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
            time: row.timestamp?,
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
        let outcome = row.actual_outcome?;
        let (yes, price) = if score > 0.0 {
            (true, row.yes_price?)
        } else if score < 0.0 {
            (false, row.no_price?)
        } else {
            return None;
        };
        let won = crate::money::pnl::side_wins(yes, outcome);
        let fill = Fill {
            size: position?,
            price,
            time: row.timestamp?,
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
        // The model settlement used (its rate and exponent), when it recorded one.
        let used = match (row.fee_rate_used, row.fee_exponent_used) {
            (Some(rate), Some(exponent)) => FeeModel::new(rate, Decimal::from(exponent)).ok(),
            _ => None,
        };
        FeeRules {
            model: used.unwrap_or(self.fees.model),
            asset: row
                .fee_asset
                .map(FeeAssetRule::from)
                .unwrap_or(self.fees.asset),
        }
    }
}

/// A confidence in [low, high), exactly in decimal: the band a threshold moved across (any
/// of them unknown: none).
fn within(confidence: Option<Decimal>, low: Option<Decimal>, high: Option<Decimal>) -> bool {
    matches!(
        (confidence, low, high),
        (Some(c), Some(low), Some(high)) if low <= c && c < high
    )
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
        .actual_outcome
        .is_some_and(|o| missed_opportunity(row.final_score, o));
    Fate::Hold { missed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Outcome;
    use chrono::Duration;
    use proptest::prelude::*;
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
            timestamp: Some(at(minute)),
            market_end: Some(at(minute + 15)),
            action: Action::Yes,
            confidence: Some(d(conf)),
            yes_price: Some(d("0.50")),
            no_price: Some(d("0.50")),
            final_score: Some(0.3),
            actual_outcome: Some(if won { Outcome::Up } else { Outcome::Down }),
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
            action: Action::Hold,
            final_score: Some(score),
            actual_outcome: Some(outcome.parse().unwrap()),
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
    fn a_raised_threshold_skips_only_the_trades_between_the_old_and_new_value() {
        let actual = values("0.75", "10", "0.5");
        let raised = actual.with(CONFIDENCE_THRESHOLD, d("0.80"));
        let mut w = Walker::new(fees());
        // (confidence, skipped): the band is [0.75, 0.80).
        for (conf, skipped) in [
            ("0.60", false),
            ("0.7499", false),
            ("0.75", true),
            ("0.78", true),
            ("0.80", false),
            ("0.95", false),
        ] {
            let s = w.step(&trade(0, conf, false), &actual, &raised).unwrap();
            assert_eq!(s.dropped, skipped, "{conf}");
            assert_eq!(s.replayed == s.actual, !skipped, "{conf}");
        }
        // Skipped: its favoured side (final_score > 0: YES) lost, not a missed opportunity.
        let s = w.step(&trade(0, "0.78", false), &actual, &raised).unwrap();
        assert_eq!(s.replayed, Fate::Hold { missed: false });
        // Without a known old value nothing is judged.
        let unknown = Values {
            threshold: None,
            ..actual
        };
        let s = w.step(&trade(0, "0.60", false), &unknown, &raised).unwrap();
        assert_eq!(s.replayed, s.actual);
    }

    #[test]
    fn a_lowered_threshold_takes_only_the_holds_between_the_new_and_old_value() {
        let actual = values("0.75", "10", "0.5");
        let lowered = actual.with(CONFIDENCE_THRESHOLD, d("0.72"));
        let mut w = Walker::new(fees());
        // Taken: YES at 0.50 for 10 wins 9.30.
        let s = w
            .step(&hold(30, "0.73", 0.3, "UP"), &actual, &lowered)
            .unwrap();
        assert!(s.added);
        assert_eq!(pnl(&s.replayed), Some(d("9.3")));
        // Above the old threshold (held for another reason) or below the new one: still HOLDs.
        for conf in ["0.90", "0.75", "0.7199"] {
            let s = w
                .step(&hold(30, conf, 0.3, "UP"), &actual, &lowered)
                .unwrap();
            assert!(!s.added && s.replayed == s.actual, "{conf}");
        }
        // No favoured side: it stays a HOLD.
        let s = w
            .step(&hold(30, "0.73", 0.0, "UP"), &actual, &lowered)
            .unwrap();
        assert!(s.unreplayable && !s.added);
        // Trades are never touched by a lower threshold, whatever their confidence.
        let s = w
            .step(&trade(40, "0.60", false), &actual, &lowered)
            .unwrap();
        assert_eq!(s.replayed, s.actual);
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
        late.timestamp = crate::time::parse_rfc3339("2026-05-11T10:00:00Z").ok();
        late.fee_asset = Some(FeeAsset::Collateral);
        let s = Walker::new(fees()).step(&late, &actual, &smaller).unwrap();
        assert_eq!(pnl(&s.replayed), Some(d("-8.28")));
    }

    #[test]
    fn a_lower_exposure_is_judged_only_against_a_logged_bankroll() {
        let actual = values("0.75", "10", "0.5");
        let halved = actual.with(MAX_EXPOSURE, d("0.25"));
        let with_bankroll = |minute, won, bankroll: &str| Row {
            bankroll: Some(d(bankroll)),
            ..trade(minute, "0.8", won)
        };
        // A bankroll of 40: a quarter of it allows 10 open at once.
        let mut w = Walker::new(fees());
        let a = w.step(&with_bankroll(0, true, "40"), &actual, &halved);
        assert!(!a.unwrap().dropped);
        let b = w
            .step(&with_bankroll(5, false, "40"), &actual, &halved)
            .unwrap();
        assert!(b.dropped, "{b:?}");
        assert_eq!(b.replayed, Fate::Hold { missed: false });
        // Once the first market has ended there is room again.
        let c = w.step(&with_bankroll(50, true, "40"), &actual, &halved);
        assert!(!c.unwrap().dropped);
        // Not a trade fits a quarter of a bankroll of 30.
        let s = Walker::new(fees())
            .step(&with_bankroll(0, true, "30"), &actual, &halved)
            .unwrap();
        assert!(s.dropped);
        // Without a bankroll in the record nothing is judged: every trade keeps its fate.
        let mut w = Walker::new(fees());
        for minute in [0, 1, 2, 3] {
            let s = w
                .step(&trade(minute, "0.8", true), &actual, &halved)
                .unwrap();
            assert_eq!(s.replayed, s.actual);
        }
        // A higher exposure changes nothing either.
        let raised = actual.with(MAX_EXPOSURE, d("0.6"));
        let mut w = Walker::new(fees());
        for minute in [0, 5] {
            let s = w
                .step(&with_bankroll(minute, true, "10"), &actual, &raised)
                .unwrap();
            assert_eq!(s.replayed, s.actual);
        }
        // Judgeable only downwards, and only when every trade carries a bankroll.
        let logged = [with_bankroll(0, true, "40"), hold(1, "0.6", 0.2, "UP")];
        let unlogged = [with_bankroll(0, true, "40"), trade(1, "0.8", true)];
        assert!(Values::judgeable(MAX_EXPOSURE, d("0.5"), d("0.4"), &logged));
        assert!(!Values::judgeable(
            MAX_EXPOSURE,
            d("0.5"),
            d("0.4"),
            &unlogged
        ));
        assert!(!Values::judgeable(
            MAX_EXPOSURE,
            d("0.5"),
            d("0.6"),
            &logged
        ));
        assert!(!Values::judgeable(MAX_EXPOSURE, d("0.5"), d("0.4"), &[]));
        assert!(!Values::judgeable("bot_other", d("1"), d("2"), &logged));
    }

    #[test]
    fn the_loop_changes_lie_over_the_record() {
        let v = |t: &str, p: &str| Values {
            threshold: Some(d(t)),
            position: Some(d(p)),
            exposure: None,
        };
        let record = Timeline(vec![(at(0), v("0.75", "10")), (at(60), v("0.75", "20"))]);
        assert_eq!(record.overlaid(&[]), record);
        let changes = [(at(30), CONFIDENCE_THRESHOLD.to_string(), d("0.78"))];
        let merged = record.overlaid(&changes);
        assert_eq!(merged.at(at(10)), v("0.75", "10"));
        assert_eq!(merged.at(at(30)), v("0.78", "10"));
        // The record's own later change of another parameter still holds.
        assert_eq!(merged.at(at(90)), v("0.78", "20"));
        // A parameter the loop took over follows the loop from then on.
        let changes = [(at(30), MAX_POSITION.to_string(), d("12"))];
        assert_eq!(record.overlaid(&changes).at(at(90)), v("0.75", "12"));
        assert_eq!(record.with(MAX_POSITION, d("5")).at(at(90)), v("0.75", "5"));
    }

    fn any_row() -> impl Strategy<Value = Row> {
        (
            0u8..3,
            0u32..=100,
            prop::option::of(1u32..100),
            any::<bool>(),
            -1.0f64..1.0,
            prop::option::of(1u32..200),
            0i64..600,
        )
            .prop_map(|(action, conf, price, won, score, bankroll, minute)| {
                let conf = Decimal::new(conf.into(), 2);
                let mut row = match action {
                    0 => hold(minute, "0", score, if won { "UP" } else { "DOWN" }),
                    _ => trade(minute, "0", won),
                };
                row.confidence = Some(conf);
                if action == 2 {
                    row.action = Action::No;
                }
                row.yes_price = price.map(|p| Decimal::new(p.into(), 2));
                row.bankroll = bankroll.map(Decimal::from);
                row
            })
    }

    proptest! {
        /// Unchanged values replay the record exactly, whatever it holds; a changed threshold
        /// alters only decisions whose confidence lies between the old and new value.
        #[test]
        fn the_record_is_the_baseline(
            mut rows in prop::collection::vec(any_row(), 0..40),
            t in 50u32..=95,
            u in 50u32..=95,
        ) {
            rows.sort_by_key(|r| r.timestamp);
            let actual = values("0.75", "10", "0.5").with(CONFIDENCE_THRESHOLD, Decimal::new(t.into(), 2));
            let new = actual.with(CONFIDENCE_THRESHOLD, Decimal::new(u.into(), 2));
            let (lo, hi) = (t.min(u), t.max(u));
            let (mut same, mut moved) = (Walker::new(fees()), Walker::new(fees()));
            for row in &rows {
                let s = same.step(row, &actual, &actual).unwrap();
                prop_assert_eq!(&s.replayed, &s.actual);
                let m = moved.step(row, &actual, &new).unwrap();
                let c = row.confidence.unwrap();
                let in_band = Decimal::new(lo.into(), 2) <= c && c < Decimal::new(hi.into(), 2);
                if !in_band {
                    prop_assert_eq!(&m.replayed, &m.actual);
                }
            }
        }
    }
}
