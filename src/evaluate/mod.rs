//! `polyperf evaluate`: walk-forward evidence of what the learning loop is worth.
//!
//! The settled history is replayed as if the loop had been running ([`walk`]: day by day,
//! only what was known then, through the jobs' own triggers, analysis and adjuster at the
//! autonomy being evaluated); the changes it made are then applied to the decisions that came
//! after them (in the walk too: its later reflections see the history the loop's values would
//! have made) ([`compare`], by the adjuster's counterfactual rules: a raised threshold drops
//! later trades below it, a lowered position cap settles later trades again at the smaller
//! stake through settlement's fee function, a lower exposure skips trades beyond its share of
//! the bankroll the record implies) and compared with what really happened, with a 95%
//! interval by a seeded bootstrap over days. Nothing live is changed; the result is stored in
//! `evaluations` ([`crate::evaluations`]) for `polyperf report` and autonomy `full`.

pub mod compare;
pub mod model;
pub mod report;
pub mod walk;

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::adjust::counterfactual::{Row, Values};
use crate::adjust::replay::{read_row, ROW_COLUMNS};
use crate::config::{Autonomy, Engine, Settings};
use crate::params::{CONFIDENCE_THRESHOLD, MAX_EXPOSURE, MAX_POSITION};
use crate::settle::fees::FeeRules;
use crate::time::{from_db, to_db};
use compare::{Summary, Timeline};
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
        .or_else(|| rows.first().map(|r| r.timestamp))
        .unwrap_or(opts.now);
    let history = History::load(live, opts.now)?;
    let start = history.values_at(since);
    let actual = history.timeline(since, &start);
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
    let loop_timeline = timeline(since, &start, &loop_changes);
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
        improvement,
        changes: walked.changes,
        left_for_approval: walked.left_for_approval,
        decisions_rewritten: walked.rewritten,
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
) -> Result<Vec<Row>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {ROW_COLUMNS} FROM trades
         WHERE {} AND (?1 IS NULL OR timestamp >= ?1) AND COALESCE(market_end, timestamp) < ?2
         ORDER BY timestamp, id",
        crate::trades::settled!()
    ))?;
    let rows = stmt
        .query_map(params![since.map(to_db), to_db(now)], |r| read_row(r, 0))?
        .filter_map(|r| r.ok().flatten())
        .collect();
    Ok(rows)
}

/// The live parameters and their changes up to `now`, oldest first.
struct History {
    current: BTreeMap<String, Decimal>,
    changes: Vec<(DateTime<Utc>, String, Decimal, Decimal)>,
}

impl History {
    fn load(conn: &Connection, now: DateTime<Utc>) -> Result<History> {
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
    fn values_at(&self, at: DateTime<Utc>) -> Vec<(String, Decimal)> {
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

    /// The values really in force from `since` on.
    fn timeline(&self, since: DateTime<Utc>, start: &[(String, Decimal)]) -> Timeline {
        let later: Vec<(DateTime<Utc>, String, Decimal)> = self
            .changes
            .iter()
            .filter(|c| c.0 > since)
            .map(|c| (c.0, c.1.clone(), c.3))
            .collect();
        timeline(since, start, &later)
    }
}

/// Values from `start` at `since`, then each change (time order) from its time on.
fn timeline(
    since: DateTime<Utc>,
    start: &[(String, Decimal)],
    changes: &[(DateTime<Utc>, String, Decimal)],
) -> Timeline {
    let mut values = start
        .iter()
        .filter(|(name, _)| {
            [CONFIDENCE_THRESHOLD, MAX_POSITION, MAX_EXPOSURE].contains(&name.as_str())
        })
        .fold(Values::default(), |v, (name, value)| v.with(name, *value));
    let mut out = vec![(since, values)];
    for (at, name, value) in changes {
        values = values.with(name, *value);
        out.push((*at, values));
    }
    Timeline(out)
}
