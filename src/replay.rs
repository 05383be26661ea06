//! Figures over settled trades under other parameter values (figures layer): the evidence for
//! a proposal, a replay of the settled decisions of the last N days as if the proposed value
//! had been in force, against what actually happened (the values really in force then, from
//! `parameter_history`); and the scan of every confidence threshold within the tier bounds that
//! the rules engine sizes its steps by. Reads `trades` and the parameter history; the replay
//! itself is pure and follows [`counterfactual`]'s rules. The adjuster, reflection's rules
//! engine and the walk-forward evaluation all use it from here.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use rust_decimal::Decimal;
use serde::Serialize;

pub mod counterfactual;

use crate::kinds::Liquidity;
use crate::money::fees::{FeeRules, Fill};
use crate::time::from_db;
use crate::trades::Trade;
use counterfactual::{Fate, Timeline, Values, Walker};

pub use crate::params::{CONFIDENCE_THRESHOLD, MAX_EXPOSURE, MAX_POSITION};
pub use counterfactual::Row;

/// Profit of buying `position` dollars of a side at price `p` at `time` as a taker, which wins
/// (`won`) or not: settlement's own rule ([`crate::money::pnl::settle_fill`]: the taker fee,
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
    crate::money::pnl::settle_fill(&fill, fees, won)
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
    fn add(&mut self, fate: &Fate) {
        if let Fate::Trade(p) = fate {
            self.n += 1;
            self.wins += u64::from(p.won);
            self.pnl += p.pnl;
        }
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
    /// `threshold`, `position_scale`, `exposure_cap`, or `none` (the replay cannot judge
    /// this change; `why_not` says why).
    pub method: &'static str,
    pub judgeable: bool,
    pub why_not: Option<String>,
    /// What happened, and the same decisions had the proposed value been in force.
    pub actual: Side,
    pub replayed: Side,
    /// replayed − actual P&L: what the change would have made against keeping the record.
    #[serde(with = "rust_decimal::serde::str")]
    pub difference: Decimal,
    /// HOLDs the new value would have turned into trades.
    pub added: u64,
    /// Trades the new value would have skipped.
    pub dropped: u64,
    /// HOLDs that would have been taken but lack a favoured side, a price or an outcome.
    pub unreplayable: u64,
    /// The replay says the new value would have lost money against what happened (replayed
    /// P&L below the actual). Not judgeable counts as saying so (no tier 1 without evidence).
    pub says_loses_money: bool,
    /// The replay says the new value would have made more than what happened (judgeable only):
    /// what autonomy `full` asks of a tier-2 change besides the walk-forward evaluation.
    pub better_than_actual: bool,
    /// The replay in one line, for people.
    pub summary: String,
}

/// Settled decisions of the last `days` days before `now`, in time order.
pub fn load_rows(conn: &Connection, now: DateTime<Utc>, days: u32) -> Result<Vec<Trade>> {
    load_rows_within(conn, now, days, None)
}

/// [`load_rows`], only those with a confidence in `[low, high]` when given (the decisions a
/// threshold between them can alter; compared exactly in decimal by the replay).
pub fn load_rows_within(
    conn: &Connection,
    now: DateTime<Utc>,
    days: u32,
    confidence: Option<(Decimal, Decimal)>,
) -> Result<Vec<Trade>> {
    let since = crate::time::days_before(now, days)?;
    crate::trades::replay_rows(conn, (since, now), confidence)
}

/// The live parameters and their changes up to `now` (`parameter_history`), oldest first:
/// the values really in force at any time.
pub struct History {
    current: Vec<(String, Decimal)>,
    changes: Vec<(DateTime<Utc>, String, Decimal, Decimal)>,
}

impl History {
    pub fn load(conn: &Connection, now: DateTime<Utc>) -> Result<History> {
        let current = crate::params::list(conn)?
            .into_iter()
            .map(|p| (p.name, p.value))
            .collect();
        let mut changes = Vec::new();
        for h in crate::params::history(conn, None, i64::MAX)?
            .into_iter()
            .rev()
        {
            let (Ok(at), Ok(old), Ok(new)) = (
                from_db(&h.timestamp),
                crate::params::parse_value(&h.parameter_name, &h.old_value),
                crate::params::parse_value(&h.parameter_name, &h.new_value),
            ) else {
                continue;
            };
            if at <= now {
                changes.push((at, h.parameter_name, old, new));
            }
        }
        changes.sort_by_key(|c| c.0);
        Ok(History { current, changes })
    }

    /// Each parameter's value at `at`: the last change's new value at or before it, else the
    /// first later change's old value, else today's value.
    pub fn values_at(&self, at: DateTime<Utc>) -> Vec<(String, Decimal)> {
        self.current
            .iter()
            .map(|(name, current)| {
                let mine = || self.changes.iter().filter(|c| &c.1 == name);
                let value = mine()
                    .rfind(|c| c.0 <= at)
                    .map(|c| c.3)
                    .or_else(|| mine().find(|c| c.0 > at).map(|c| c.2))
                    .unwrap_or(*current);
                (name.clone(), value)
            })
            .collect()
    }

    /// The values really in force from `since` on, as the replay reads them.
    pub fn timeline(&self, since: DateTime<Utc>) -> Timeline {
        let mut values = self
            .values_at(since)
            .iter()
            .fold(Values::default(), |v, (name, value)| v.with(name, *value));
        let mut out = vec![(since, values)];
        for (at, name, _, new) in self.changes.iter().filter(|c| c.0 > since) {
            values = values.with(name, *new);
            out.push((*at, values));
        }
        Timeline(out)
    }
}

/// Inputs of a replay besides the rows.
#[derive(Debug, Clone)]
pub struct Setup<'a> {
    pub parameter: &'a str,
    pub current: Decimal,
    pub proposed: Decimal,
    pub days: u32,
    pub since: String,
    /// The values really in force over the rows (a replayed HOLD is sized by the position
    /// then in force).
    pub actual: &'a Timeline,
    /// Settlement's fee model and asset rule, for replayed HOLDs and rows settled without
    /// a recorded model.
    pub fees: FeeRules,
}

/// Replays `rows` (in time order) twice by [`counterfactual`]'s rules, as if the
/// current value and as if the proposed value had been in force all along (over the values
/// really in force otherwise; no change of the parameter in the window: the first is the
/// record itself), and compares them: a raised `bot_confidence_threshold` skips the trades
/// between the two values, a lowered one takes the HOLDs between them;
/// `bot_max_position_dollars` settles each trade again at the scaled stake; a lower
/// `bot_max_exposure_fraction` skips trades beyond its share of the bankroll the trader
/// logged. Other parameters, a higher exposure, and an exposure over trades without a bankroll
/// are not judgeable.
pub fn replay(rows: &[Trade], setup: &Setup<'_>) -> Evidence {
    let mut actual = Side::default();
    let mut replayed = Side::default();
    let (mut added, mut dropped, mut unreplayable) = (0, 0, 0);
    let judgeable = Values::judgeable(setup.parameter, setup.current, setup.proposed, rows);
    let method = match setup.parameter {
        _ if !judgeable => "none",
        CONFIDENCE_THRESHOLD => "threshold",
        MAX_POSITION => "position_scale",
        _ => "exposure_cap",
    };
    let keeping = setup.actual.with(setup.parameter, setup.current);
    let new = setup.actual.with(setup.parameter, setup.proposed);
    let (mut kept, mut changed) = (Walker::new(setup.fees), Walker::new(setup.fees));
    for row in rows {
        let Some(at) = row.timestamp else { continue };
        let then = setup.actual.at(at);
        let Some(base) = kept.step(row, &then, &keeping.at(at)) else {
            continue;
        };
        actual.add(&base.replayed);
        if !judgeable {
            continue;
        }
        let Some(step) = changed.step(row, &then, &new.at(at)) else {
            continue;
        };
        replayed.add(&step.replayed);
        // Against keeping the current value: a decision both replays alter alike is not
        // the proposal's doing.
        if step.replayed != base.replayed {
            added += u64::from(matches!(base.replayed, Fate::Hold { .. }));
            dropped += u64::from(matches!(step.replayed, Fate::Hold { .. }));
        }
        unreplayable += u64::from(step.unreplayable);
    }
    let actual = actual.finish();
    let replayed = replayed.finish();
    let difference = if judgeable {
        replayed.pnl - actual.pnl
    } else {
        Decimal::ZERO
    };
    let mut evidence = Evidence {
        parameter: setup.parameter.to_string(),
        current: setup.current.to_string(),
        proposed: setup.proposed.to_string(),
        days: setup.days,
        since: setup.since.clone(),
        method,
        judgeable,
        why_not: (!judgeable).then(|| why_not(setup)),
        actual,
        replayed,
        difference,
        added,
        dropped,
        unreplayable,
        says_loses_money: !judgeable || difference < Decimal::ZERO,
        better_than_actual: judgeable && difference > Decimal::ZERO,
        summary: String::new(),
    };
    evidence.summary = summarize(&evidence);
    evidence
}

/// Why the replay cannot judge a change.
fn why_not(setup: &Setup<'_>) -> String {
    match setup.parameter {
        MAX_EXPOSURE if setup.proposed >= setup.current => {
            "no record shows the trades a higher exposure would add".into()
        }
        MAX_EXPOSURE => {
            "the decisions carry no bankroll, and an exposure is a share of one (log `bankroll` with each decision)".into()
        }
        MAX_POSITION => "the current position cap is 0".into(),
        other => format!("the replay does not model {other}"),
    }
}

/// "Replay, last 14 days: -279.00 USDC against keeping 0.75: 690 trades instead of 1148,
/// win rate 54.8% vs 54.5%".
fn summarize(e: &Evidence) -> String {
    use crate::words::{pct, usdc};
    let head = format!("Replay, last {} days:", e.days);
    if !e.judgeable {
        return format!(
            "{head} cannot judge {} {} -> {}: {}",
            e.parameter,
            e.current,
            e.proposed,
            e.why_not.as_deref().unwrap_or("not modelled")
        );
    }
    let trades = if e.replayed.n == e.actual.n {
        format!("the same {} trades", e.actual.n)
    } else {
        format!("{} trades instead of {}", e.replayed.n, e.actual.n)
    };
    format!(
        "{head} {} against keeping {}: {trades}, win rate {} vs {}",
        usdc(e.difference),
        e.current,
        pct(e.replayed.win_rate),
        pct(e.actual.win_rate)
    )
}

/// What a confidence threshold would have made over the replay's rows against keeping the
/// current one.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub value: Decimal,
    /// Its P&L minus the current value's, both in force all along (exact).
    pub difference: Decimal,
    /// Decisions whose fate differs between the two (trades skipped and HOLDs taken).
    pub n: u64,
    /// How many standard errors the mean difference per such decision lies above 0 (0 when
    /// fewer than two decisions differ).
    pub z: f64,
}

/// Every value of `values` as the confidence threshold in force all along, replayed over
/// `rows` (time order, the values really in force: `actual`) against `current` in force all
/// along. Each decision is replayed twice (towards the highest and the lowest value of all),
/// since a threshold only ever alters the decisions in the band it moved across: any value's
/// fate of a decision follows from those two replays.
pub fn threshold_scan(
    rows: &[Trade],
    actual: &Timeline,
    current: Decimal,
    values: &[Decimal],
    fees: FeeRules,
) -> Vec<Candidate> {
    let all = values.iter().chain(std::iter::once(&current));
    let (Some(lo), Some(hi)) = (all.clone().min(), all.max()) else {
        return Vec::new();
    };
    // Per decision a threshold alters: its confidence, the threshold then in force, and the
    // difference to the record when raised across it, and when lowered across it.
    let mut altered: Vec<(Decimal, Decimal, Decimal, Decimal)> = Vec::new();
    let (mut up, mut down) = (Walker::new(fees), Walker::new(fees));
    for row in rows {
        let Some(at) = row.timestamp else { continue };
        let then = actual.at(at);
        let Some(old) = then.threshold else { continue };
        let raised = up.step(row, &then, &then.with(CONFIDENCE_THRESHOLD, *hi));
        let lowered = down.step(row, &then, &then.with(CONFIDENCE_THRESHOLD, *lo));
        let delta = |s: Option<counterfactual::Step>| {
            s.filter(|s| s.added || s.dropped)
                .map(|s| s.replayed.pnl() - s.actual.pnl())
        };
        let (raised, lowered) = (delta(raised), delta(lowered));
        let Some(confidence) = row.confidence else {
            continue;
        };
        if raised.is_some() || lowered.is_some() {
            altered.push((
                confidence,
                old,
                raised.unwrap_or_default(),
                lowered.unwrap_or_default(),
            ));
        }
    }
    // Moving the threshold up across a decision (from at or below its confidence to above it)
    // changes its P&L by `d`: the raised fate's difference to the record, less the lowered
    // fate's. A value above `current` changes the decisions in [current, value) by their `d`,
    // one below it those in [value, current) by their -d: sums over a band of confidences.
    let mut moves: Vec<(Decimal, Decimal)> = altered
        .iter()
        .map(|(c, old, up, down)| {
            let raised = if old <= c { *up } else { Decimal::ZERO };
            let lowered = if c < old { *down } else { Decimal::ZERO };
            (*c, raised - lowered)
        })
        .collect();
    moves.sort_by_key(|m| m.0);
    let sums = Sums::of(&moves);
    let at = |x: Decimal| moves.partition_point(|(c, _)| *c < x);
    values
        .iter()
        .map(|v| {
            let (i, j) = (at(current.min(*v)), at(current.max(*v)));
            let up = *v > current;
            sums.between(i, j, up, *v)
        })
        .collect()
}

/// Running sums over decisions sorted by confidence: exact differences, and their f64 sums and
/// squares for the z-score (a statistic, not money).
struct Sums {
    difference: Vec<Decimal>,
    sum: Vec<f64>,
    sum_sq: Vec<f64>,
}

impl Sums {
    fn of(moves: &[(Decimal, Decimal)]) -> Sums {
        use rust_decimal::prelude::ToPrimitive;
        let mut s = Sums {
            difference: vec![Decimal::ZERO],
            sum: vec![0.0],
            sum_sq: vec![0.0],
        };
        for (_, d) in moves {
            let x = d.to_f64().unwrap_or(0.0);
            s.difference
                .push(s.difference.last().copied().unwrap_or_default() + *d);
            s.sum.push(s.sum.last().copied().unwrap_or_default() + x);
            s.sum_sq
                .push(s.sum_sq.last().copied().unwrap_or_default() + x * x);
        }
        s
    }

    /// The candidate `value` from the decisions `i..j`, moved up (`up`) or down across.
    fn between(&self, i: usize, j: usize, up: bool, value: Decimal) -> Candidate {
        let sign = if up { 1.0 } else { -1.0 };
        let difference = self.difference[j] - self.difference[i];
        let n = (j - i) as u64;
        let (sum, sum_sq) = (
            sign * (self.sum[j] - self.sum[i]),
            self.sum_sq[j] - self.sum_sq[i],
        );
        Candidate {
            value,
            difference: if up { difference } else { -difference },
            n,
            z: z_score(n, sum, sum_sq),
        }
    }
}

/// How many standard errors the mean of `n` values (their sum and sum of squares) lies above
/// 0; 0 for fewer than two.
fn z_score(n: u64, sum: f64, sum_sq: f64) -> f64 {
    if n < 2 {
        return 0.0;
    }
    let mean = sum / n as f64;
    let var = ((sum_sq - sum * mean) / (n - 1) as f64).max(0.0);
    if var > 1e-12 {
        mean / (var / n as f64).sqrt()
    } else if mean > 0.0 {
        // Every altered decision made the same: as certain as a sample gets.
        f64::INFINITY
    } else if mean < 0.0 {
        f64::NEG_INFINITY
    } else {
        0.0
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
    use crate::money::fees::FeeModel;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn fees(rate: &str) -> FeeRules {
        FeeRules {
            model: FeeModel::new(d(rate), Decimal::ONE).unwrap(),
            asset: crate::money::fees::FeeAssetRule::Auto,
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
