//! `polyperf evaluate`: walk-forward evidence of what the learning loop is worth.
//!
//! The settled history is replayed as if the loop had been running ([`walk`]: day by day,
//! only what was known then, through the jobs' own triggers, analysis and adjuster at the
//! autonomy being evaluated); the changes it made are then laid over the values really in
//! force and applied to the decisions that came after them (in the walk too: its later
//! reflections see the history the loop's values would have made) ([`compare`], by the
//! adjuster's counterfactual rules: a raised threshold skips the later trades between the old
//! and new value and a lowered one takes the HOLDs between them, a changed position cap
//! settles later trades again at the scaled stake through settlement's fee function, a lower
//! exposure skips trades beyond its share of the bankroll the trader logged) and compared with
//! what really happened, with a 95% interval by a seeded bootstrap over days. The record is
//! the baseline: no change, no difference, exactly. Nothing live is changed; the result is
//! stored in `evaluations` ([`crate::evaluations`]) for `polyperf report` and autonomy `full`.

pub mod compare;
pub mod model;
pub mod report;
pub mod walk;

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::config::{Autonomy, Engine, Settings};
use crate::money::fees::FeeRules;
use crate::replay::History;
use crate::time::{from_db, to_db};
use compare::Summary;
pub use walk::{Analyst, Change, Rules};

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct Options {
    pub now: DateTime<Utc>,
    /// `rules` or `openai` (the analyst passed to [`run`] must match).
    pub engine: Engine,
    pub autonomy: Autonomy,
    /// Only decisions at or after this time (None: all the settled history).
    pub since: Option<DateTime<Utc>>,
}

/// The `--json` object (and what `evaluations.result` stores).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Evaluation {
    pub now: String,
    /// The first and last replayed decision's time.
    pub since: Option<String>,
    pub until: Option<String>,
    pub engine: Engine,
    pub autonomy: Autonomy,
    /// Days walked, reflections made during the walk.
    pub folds: usize,
    pub reflections: usize,
    /// What really happened, and what the loop's changes would have made of it.
    pub baseline: Summary,
    pub adjusted: Summary,
    pub improvement: Improvement,
    pub changes: Vec<Change>,
    /// The rollout plan's success criteria, against the baseline.
    pub criteria: Criteria,
    /// Tier-2 requests during the walk that a human would have had to answer (not applied).
    pub left_for_approval: u64,
    /// Decisions the walk's own reflections saw as the loop's values would have made them
    /// (a trade below a raised threshold shown as a HOLD, and so on).
    pub decisions_rewritten: u64,
    /// What the evaluation says, and what to do next.
    pub verdict: Verdict,
}

/// The evaluation's conclusion in words: "earned" only when the 95% interval lies above 0.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Verdict {
    /// `earned` (interval above 0), `lost` (below 0), `not_shown` (the interval includes 0)
    /// or `no_change` (the loop changed nothing: nothing to credit).
    pub result: &'static str,
    pub text: String,
    pub next_step: String,
}

/// The verdict on an evaluation at `evaluated` autonomy, for an operator whose settings say
/// `configured`.
pub fn verdict(
    improvement: &Improvement,
    changes: usize,
    criteria_met: bool,
    evaluated: Autonomy,
    configured: Autonomy,
) -> Verdict {
    let [lo, hi] = improvement.ci;
    let money = crate::words::usdc(improvement.profit);
    let ci = format!("95% CI {}..{}", lo.round_dp(2), hi.round_dp(2));
    let stay_or_go_back = |why: &str| match configured {
        Autonomy::Observe => format!("stay at observe: {why}"),
        _ => format!("go back to observe (`autonomy = \"observe\"`): {why}"),
    };
    if changes == 0 {
        let next = match evaluated {
            Autonomy::Observe => {
                "run `polyperf evaluate --autonomy tier1` to see what tier1 would have changed"
                    .to_string()
            }
            _ => stay_or_go_back("the loop found nothing to change"),
        };
        return Verdict {
            result: "no_change",
            text: format!("the loop made no change at autonomy {evaluated}: nothing to credit"),
            next_step: next,
        };
    }
    if lo > Decimal::ZERO {
        let next = match (evaluated, configured) {
            (Autonomy::Full, _) => "autonomy full may apply tier-2 changes while this evaluation is recent: rerun it weekly".to_string(),
            (_, Autonomy::Observe) if criteria_met => "move up to tier1 (`autonomy = \"tier1\"` in [adjust]): the interval lies above 0".to_string(),
            (_, Autonomy::Observe) => "the interval lies above 0 but the win rate did not rise or more opportunities were missed: stay at observe and evaluate again later".to_string(),
            _ => "keep tier1; `polyperf evaluate --autonomy full` says whether full would add to it".to_string(),
        };
        return Verdict {
            result: "earned",
            text: format!("the loop's changes earned {money} ({ci}, above 0)"),
            next_step: next,
        };
    }
    if hi < Decimal::ZERO {
        return Verdict {
            result: "lost",
            text: format!("the loop's changes lost {money} ({ci}, below 0)"),
            next_step: stay_or_go_back("the loop's changes lost money"),
        };
    }
    Verdict {
        result: "not_shown",
        text: format!("the loop's changes made {money}, not told apart from 0 ({ci} includes 0)"),
        next_step: stay_or_go_back("the interval includes 0"),
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Improvement {
    /// adjusted − baseline profit (exact).
    pub profit: Decimal,
    /// 95% interval (bootstrap over days).
    pub ci: [Decimal; 2],
    pub days: usize,
    pub resamples: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Criteria {
    /// adjusted − baseline win rate (None when a side has no trade).
    pub win_rate_change: Option<f64>,
    /// adjusted − baseline missed opportunities (negative: fewer missed).
    pub missed_opportunities_change: i64,
    /// The win rate rose and no more opportunities were missed.
    pub met: bool,
}

/// Evaluates the loop over the settled history of `live` (read only).
pub fn run(
    live: &Connection,
    settings: &Settings,
    opts: &Options,
    analyst: &mut dyn Analyst,
) -> Result<Evaluation> {
    let fees = FeeRules::from_settings(&settings.settlement)?;
    let rows = load_rows(live, opts.since, opts.now)?;
    let since = opts
        .since
        .or_else(|| rows.first().and_then(|r| r.timestamp))
        .unwrap_or(opts.now);
    let history = History::load(live, opts.now)?;
    let start = history.values_at(since);
    let actual = history.timeline(since);
    let walked = walk::walk(
        live,
        &walk::Start {
            settings,
            autonomy: opts.autonomy,
            since,
            now: opts.now,
            values: &start,
            actual: &actual,
            fees,
        },
        analyst,
    )?;
    let loop_changes: Vec<(DateTime<Utc>, String, Decimal)> = walked
        .changes
        .iter()
        .filter_map(|c| Some((from_db(&c.at).ok()?, c.parameter.clone(), c.new)))
        .collect();
    let loop_timeline = actual.overlaid(&loop_changes);
    let c = compare::compare(&rows, &actual, &loop_timeline, fees);
    let improvement = Improvement {
        profit: c.adjusted.profit - c.baseline.profit,
        ci: compare::interval(&c.by_day),
        days: c.by_day.len(),
        resamples: compare::RESAMPLES,
        seed: compare::SEED,
    };
    let win_rate_change = match (c.adjusted.win_rate, c.baseline.win_rate) {
        (Some(a), Some(b)) => Some(crate::reflect::prompt::sig4(Some(a - b)).unwrap_or(0.0)),
        _ => None,
    };
    let missed = c.adjusted.missed_opportunities as i64 - c.baseline.missed_opportunities as i64;
    Ok(Evaluation {
        now: to_db(opts.now),
        since: c.first.map(to_db),
        until: c.last.map(to_db),
        engine: opts.engine,
        autonomy: opts.autonomy,
        folds: walked.folds,
        reflections: walked.reflections,
        criteria: Criteria {
            win_rate_change,
            missed_opportunities_change: missed,
            met: win_rate_change.is_some_and(|w| w > 0.0) && missed <= 0,
        },
        baseline: c.baseline,
        adjusted: c.adjusted,
        verdict: verdict(
            &improvement,
            walked.changes.len(),
            win_rate_change.is_some_and(|w| w > 0.0) && missed <= 0,
            opts.autonomy,
            settings.adjust.autonomy,
        ),
        changes: walked.changes,
        left_for_approval: walked.left_for_approval,
        decisions_rewritten: walked.rewritten,
        improvement,
    })
}

/// Stores `e` in `evaluations` (at its `now`); returns its id.
pub fn store(conn: &Connection, e: &Evaluation, now: DateTime<Utc>) -> Result<i64> {
    let result = serde_json::to_value(e)?;
    crate::evaluations::insert(
        conn,
        &crate::evaluations::New {
            since: e.since.as_deref(),
            until: e.until.as_deref(),
            engine: e.engine,
            autonomy: e.autonomy,
            baseline_profit: e.baseline.profit,
            adjusted_profit: e.adjusted.profit,
            improvement: e.improvement.profit,
            ci: e.improvement.ci,
            changes: e.changes.len(),
            result: &result,
        },
        now,
    )
}

/// The settled decisions made at or after `since` whose outcome was known by `now`, in time
/// order.
fn load_rows(
    conn: &Connection,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Vec<crate::trades::Trade>> {
    crate::trades::known_by(conn, since, now)
}
