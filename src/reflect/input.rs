//! What a reflection analyses: [`metrics::compute`] for the last 7 days, the figures and
//! breakdowns with fee-aware break-even win rates ([`super::figures`]) for the last 7 days and
//! for the decisions it covers, the losing trades that fired `3_losses`, the live parameters
//! with their bounds and the adjuster's limits, the fate of earlier recommendations, and a
//! summary of the trader's free text. Reads only.

use std::collections::{BTreeMap, HashSet};

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use rust_decimal::Decimal;
use serde::Serialize;

use super::triggers::Evaluation;
use crate::config::Settings;
use crate::kinds::{Action, Outcome};
use crate::metrics::{self, Metrics, Window};
use crate::money::fees::FeeRules;
use crate::time::to_db;
use crate::trades::Trade;

pub use super::figures::{figures, Bucket, Figures, Group};
pub use crate::replay::Candidate;

/// A live parameter with its bounds and step. Decimals serialize as their exact text (as
/// rust_decimal always does without its `serde-float` feature), e.g. `"value": "0.75"`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ParamView {
    pub name: String,
    pub value: Decimal,
    pub min: Decimal,
    pub max: Decimal,
    pub step: Option<Decimal>,
    pub description: Option<String>,
}

/// An earlier reflection and what became of its recommendations.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Past {
    pub id: i64,
    pub timestamp: String,
    pub trigger: String,
    pub engine: Option<String>,
    pub status: String,
    pub proposals: Vec<PastProposal>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PastProposal {
    pub parameter: String,
    pub current: String,
    pub proposed: String,
    pub status: crate::proposals::Status,
    pub status_reason: Option<String>,
}

/// The adjuster's limits a recommendation should know (what is applied without a human, and
/// the guard's drawdown limit the position rules compare against).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Limits {
    pub tier1_max_change: Decimal,
    pub tier2_max_change: Decimal,
    /// The tier-3 guard's drawdown limit (0: off).
    pub max_drawdown: Decimal,
}

impl Limits {
    pub fn from_settings(settings: &Settings) -> Limits {
        let a = &settings.adjust;
        Limits {
            tier1_max_change: a.tier1_max_change,
            tier2_max_change: a.tier2_max_change,
            max_drawdown: a.max_drawdown,
        }
    }
}

/// One trade of a losing streak, as the prompt shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TradeLine {
    pub time: String,
    pub side: Action,
    pub price: Option<Decimal>,
    /// A JSON number in the prompt, as the trader wrote it.
    #[serde(serialize_with = "as_number")]
    pub confidence: Option<Decimal>,
    pub signal: Option<String>,
    pub final_score: Option<f64>,
    pub rsi: Option<f64>,
    pub macd: Option<f64>,
    pub trend: Option<String>,
    pub time_remaining_seconds: Option<i64>,
    pub end_phase: Option<bool>,
    pub outcome: Option<Outcome>,
    pub pnl: Option<Decimal>,
}

/// A decimal as a JSON number (null for none), as the prompt always showed a confidence.
fn as_number<S: serde::Serializer>(value: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
    use rust_decimal::prelude::ToPrimitive;
    match value.and_then(|v| v.to_f64()) {
        Some(v) => s.serialize_f64(v),
        None => s.serialize_none(),
    }
}

impl TradeLine {
    fn of(t: &Trade) -> TradeLine {
        TradeLine {
            time: t.timestamp.map(to_db).unwrap_or_default(),
            side: t.action,
            price: t.executed_price,
            confidence: t.confidence,
            signal: t.signal_type.clone(),
            final_score: t.final_score,
            rsi: t.rsi,
            macd: t.macd,
            trend: t.trend.clone(),
            time_remaining_seconds: t.time_remaining_seconds,
            end_phase: t.is_end_phase,
            outcome: t.outcome(),
            pnl: t.profit_loss,
        }
    }
}

/// Everything one reflection looks at.
#[derive(Debug, Clone, Serialize)]
pub struct ReflectionInput {
    pub now: String,
    pub triggered: Vec<String>,
    /// The team's metrics, last 7 days (brier, profit factor, drawdown, streaks, fees).
    pub metrics_7_days: Metrics,
    /// Win/loss by signal, confidence and every logged field with the break-even win rate
    /// (fees included), last 7 days: what the rules engine judges on.
    pub last_7_days: Figures,
    /// The settled decisions this reflection covers (new since the last reflection).
    pub since_last: Figures,
    pub parameters: Vec<ParamView>,
    pub limits: Limits,
    pub history: Vec<Past>,
    /// Last 7 days, YES/NO decisions whose confidence is within [`NEAR_BAND`] above the live
    /// confidence threshold: the trades a threshold step would add or remove.
    pub near_threshold: Group,
    /// When `3_losses` fired: the losing trades, newest first.
    pub losing_trades: Vec<TradeLine>,
    /// The most common reasoning phrases of the covered decisions, with counts. Data only.
    #[serde(skip)]
    pub reasoning: Vec<(String, u64)>,
    /// What every confidence threshold within the tier-2 bound would have made over the
    /// adjuster's replay window (None without a threshold parameter or a step).
    #[serde(skip)]
    pub threshold_scan: Option<ThresholdScan>,
}

/// The replay of the confidence threshold the rules engine sizes its step by: every value on
/// the step grid within the tier-2 bound (and the parameter's bounds) as if in force all along
/// over the last `days` days, against the live value in force all along, by the adjuster's own
/// replay ([`crate::replay::threshold_scan`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdScan {
    pub days: u32,
    /// The largest relative change the adjuster applies on its own now: tier 1's, or tier 2's
    /// under autonomy `full` while a recent evaluation agrees.
    pub max_change_alone: Decimal,
    pub candidates: Vec<Candidate>,
}

impl ReflectionInput {
    /// Whether the covered decisions are the week's own (a young database, or one reflection
    /// a week): their figures would repeat the week's.
    pub fn since_last_repeats_week(&self) -> bool {
        self.since_last.decisions == self.last_7_days.decisions
            && self.since_last.overall == self.last_7_days.overall
    }
}

/// Reads everything a reflection over the triggers' `eval` (the decisions it covers, the
/// losing streak) looks at.
pub fn load(
    conn: &Connection,
    settings: &Settings,
    eval: &Evaluation,
    now: DateTime<Utc>,
) -> Result<ReflectionInput> {
    let fees = FeeRules::from_settings(&settings.settlement)?;
    let week = crate::trades::settled_between(conn, crate::time::days_before(now, 7)?, now)?;
    // The settled decisions no reflection covers yet, kept if in `covered` (a decision
    // settled since the triggers were read waits for the next reflection).
    let wanted: HashSet<i64> = eval.uncovered.iter().copied().collect();
    let new_rows = crate::trades::uncovered_among(conn, &wanted)?;
    let mut phrases: BTreeMap<String, u64> = BTreeMap::new();
    for text in new_rows.iter().filter_map(|t| t.reasoning.as_deref()) {
        let phrase = normalise_phrase(text);
        if !phrase.is_empty() {
            *phrases.entry(phrase).or_default() += 1;
        }
    }
    let mut reasoning: Vec<(String, u64)> = phrases.into_iter().collect();
    reasoning.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    reasoning.truncate(10);

    let parameters = parameters(conn, settings)?;
    let threshold_scan = threshold_scan(conn, settings, &parameters, now)?;
    let threshold = parameters
        .iter()
        .find(|p| p.name == THRESHOLD)
        .map(|p| p.value);
    Ok(ReflectionInput {
        now: to_db(now),
        triggered: eval.fired.iter().map(|s| s.to_string()).collect(),
        metrics_7_days: metrics::compute(conn, &Window::Days(7), now)?,
        last_7_days: figures(&week, &fees),
        since_last: figures(&new_rows, &fees),
        near_threshold: threshold.map(|t| near(&week, t, &fees)).unwrap_or_default(),
        parameters,
        limits: Limits::from_settings(settings),
        history: history(conn, settings.reflect.history)?,
        losing_trades: crate::trades::by_ids(conn, &eval.streak)?
            .iter()
            .map(TradeLine::of)
            .collect(),
        reasoning,
        threshold_scan,
    })
}

/// The replay of every confidence threshold within the tier-2 bound of the live one.
fn threshold_scan(
    conn: &Connection,
    settings: &Settings,
    parameters: &[ParamView],
    now: DateTime<Utc>,
) -> Result<Option<ThresholdScan>> {
    use crate::replay;
    let Some(p) = parameters.iter().find(|p| p.name == THRESHOLD) else {
        return Ok(None);
    };
    let Some(step) = p.step.filter(|s| *s > Decimal::ZERO) else {
        return Ok(None);
    };
    let a = &settings.adjust;
    let values = grid(p, step, a.tier2_max_change);
    let (Some(low), Some(high)) = (values.first(), values.last()) else {
        return Ok(None);
    };
    let days = a.replay_days;
    let band = (low.min(&p.value), high.max(&p.value));
    let rows = replay::load_rows_within(conn, now, days, Some((*band.0, *band.1)))?;
    let actual = replay::History::load(conn, now)?.timeline(crate::time::days_before(now, days)?);
    let fees = FeeRules::from_settings(&settings.settlement)?;
    let full = a.autonomy == crate::config::Autonomy::Full
        && crate::evaluations::agrees(conn, now, a.replay_days)?;
    Ok(Some(ThresholdScan {
        days,
        max_change_alone: if full {
            a.tier2_max_change
        } else {
            a.tier1_max_change
        },
        candidates: replay::threshold_scan(&rows, &actual, p.value, &values, fees),
    }))
}

/// The values on `p`'s step grid other than its own, within its bounds and at most
/// `max_change` away from it (relative).
fn grid(p: &ParamView, step: Decimal, max_change: Decimal) -> Vec<Decimal> {
    let Some(reach) = p.value.checked_mul(max_change) else {
        return Vec::new();
    };
    let Some(steps) = reach
        .checked_div(step)
        .and_then(|n| rust_decimal::prelude::ToPrimitive::to_i64(&n.floor()))
    else {
        return Vec::new();
    };
    (-steps.min(1000)..=steps.min(1000))
        .filter(|k| *k != 0)
        .filter_map(|k| p.value.checked_add(step.checked_mul(Decimal::from(k))?))
        .filter(|v| *v >= p.min && *v <= p.max)
        .collect()
}

/// The trader's confidence threshold parameter.
pub use crate::params::CONFIDENCE_THRESHOLD as THRESHOLD;
/// Width of the confidence band just above the threshold that `near_threshold` covers
/// (0.10).
pub const NEAR_BAND: Decimal = Decimal::from_parts(10, 0, 0, false, 2);

/// YES/NO decisions with confidence in [threshold, threshold + NEAR_BAND), compared exactly
/// in decimal (pure).
pub fn near(rows: &[Trade], threshold: Decimal, fees: &FeeRules) -> Group {
    super::figures::near(rows, threshold, NEAR_BAND, fees)
}

/// Lower case, whitespace collapsed, at most 80 characters: phrases that repeat are counted.
fn normalise_phrase(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_control())
        .take(80)
        .collect()
}

/// The live parameters a reflection may speak of. One that holds what no reader may use (a
/// hand edit) is left out, named in a warning: the reflection goes on without it and makes no
/// proposal on it (the adjuster's figures and alert, and `status`, name it too).
fn parameters(conn: &Connection, settings: &Settings) -> Result<Vec<ParamView>> {
    Ok(crate::params::read_all(conn)?
        .into_iter()
        .filter_map(|p| {
            p.map_err(
                |bad| tracing::warn!(parameter = %bad.name, "left out of the reflection: {bad}"),
            )
            .ok()
        })
        .map(|p| ParamView {
            step: settings.adjust.parameters.get(&p.name).map(|b| b.step),
            name: p.name,
            value: p.value,
            min: p.min,
            max: p.max,
            description: p.description,
        })
        .collect())
}

fn history(conn: &Connection, limit: u32) -> Result<Vec<Past>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, timestamp, trigger_type, engine, status FROM reflections
         ORDER BY timestamp DESC, id DESC LIMIT ?1",
    )?;
    let mut past: Vec<Past> = stmt
        .query_map([limit], |r| {
            Ok(Past {
                id: r.get(0)?,
                timestamp: r.get(1)?,
                trigger: r.get(2)?,
                engine: r.get(3)?,
                status: r.get(4)?,
                proposals: Vec::new(),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    for p in &mut past {
        p.proposals = crate::proposals::of_reflection(conn, p.id)?
            .into_iter()
            .map(|q| PastProposal {
                parameter: q.parameter_name,
                current: q.current_value,
                proposed: q.proposed_value,
                status: q.status,
                status_reason: q.status_reason,
            })
            .collect();
    }
    Ok(past)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    /// The prompt shows parameters with exact decimal text, as it did with explicit
    /// `rust_decimal::serde::str` attributes.
    #[test]
    fn parameters_serialize_decimals_as_exact_text() {
        let view = ParamView {
            name: "bot_confidence_threshold".into(),
            value: Decimal::from_str("0.750").unwrap(),
            min: Decimal::from_str("0.5").unwrap(),
            max: Decimal::from_str("0.95").unwrap(),
            step: None,
            description: None,
        };
        assert_eq!(
            serde_json::to_value(&view).unwrap(),
            serde_json::json!({"name": "bot_confidence_threshold", "value": "0.750", "min": "0.5",
                               "max": "0.95", "step": null, "description": null})
        );
    }
}
