//! What a reflection analyses: [`metrics::compute`] for the last 7 days and since the last
//! reflection, the break-even win rates (fees included) the rules engine needs, the live
//! parameters with their bounds, the fate of earlier recommendations, and a summary of the
//! trader's free text. Reads only.

use std::collections::{BTreeMap, HashSet};

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::config::Settings;
use crate::db::Money;
use crate::metrics::{self, Metrics, Window};
use crate::settle::fees::{Charge, FeeAsset};
use crate::settle::pnl::BreakEven;
use crate::time::to_db;
use crate::trades::SETTLED;

/// One settled decision, as the figures need it.
#[derive(Debug, Clone)]
pub struct Row {
    pub action: String,
    pub confidence: f64,
    pub signal_type: Option<String>,
    pub executed_price: Option<Decimal>,
    pub position_size: Option<Decimal>,
    /// The fee settlement charged and the asset it was charged in.
    pub fee: Option<Decimal>,
    pub fee_asset: FeeAsset,
    pub is_win: Option<bool>,
    pub profit_loss: Option<Decimal>,
    pub is_missed_opportunity: Option<bool>,
}

/// Win/loss figures of a group of YES/NO decisions.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Group {
    pub n: u64,
    pub wins: u64,
    pub losses: u64,
    pub win_rate: Option<f64>,
    /// 95% Wilson score interval of the win rate.
    pub win_rate_ci: Option<[f64; 2]>,
    #[serde(with = "rust_decimal::serde::str")]
    pub profit_loss: Decimal,
    /// Average price paid (before fees).
    #[serde(with = "rust_decimal::serde::str_option")]
    pub avg_price: Option<Decimal>,
    /// The win rate at which these trades would break even, fees included: each trade's own
    /// price, size, fee and fee asset, through settlement's money rule ([`BreakEven`]).
    #[serde(with = "rust_decimal::serde::str_option")]
    pub break_even: Option<Decimal>,
    #[serde(skip)]
    price_sum: Decimal,
    #[serde(skip)]
    n_priced: u64,
    #[serde(skip)]
    break_even_acc: BreakEven,
}

impl Group {
    fn add(&mut self, row: &Row) {
        let Some(win) = row.is_win else { return };
        self.n += 1;
        if win {
            self.wins += 1;
        } else {
            self.losses += 1;
        }
        self.profit_loss += row.profit_loss.unwrap_or_default();
        if let Some(p) = row.executed_price {
            self.price_sum += p;
            self.n_priced += 1;
            if let Some(size) = row.position_size {
                let charge = Charge {
                    fee: row.fee.unwrap_or_default(),
                    asset: row.fee_asset,
                };
                self.break_even_acc.add(size, p, charge);
            }
        }
    }

    fn finish(&mut self) {
        if self.n > 0 {
            self.win_rate = Some(round4(self.wins as f64 / self.n as f64));
            let (lo, hi) = wilson(self.wins, self.n);
            self.win_rate_ci = Some([round4(lo), round4(hi)]);
        }
        if self.n_priced > 0 {
            self.avg_price = Some((self.price_sum / Decimal::from(self.n_priced)).round_dp(4));
        }
        self.break_even = self.break_even_acc.rate();
    }
}

/// A confidence bucket of the calibration table.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Bucket {
    pub confidence_from: f64,
    pub confidence_to: f64,
    pub mean_confidence: f64,
    #[serde(flatten)]
    pub group: Group,
}

/// The figures of one window.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Figures {
    pub decisions: u64,
    pub holds: u64,
    pub missed_opportunities: u64,
    pub overall: Group,
    pub by_signal: BTreeMap<String, Group>,
    pub calibration: Vec<Bucket>,
}

/// Computes the figures of `rows` (pure).
pub fn figures(rows: &[Row]) -> Figures {
    let mut f = Figures::default();
    let edges = [0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0000001];
    let mut buckets: Vec<(Group, f64)> = vec![(Group::default(), 0.0); edges.len() - 1];
    for row in rows {
        f.decisions += 1;
        if row.action == "HOLD" {
            f.holds += 1;
            if row.is_missed_opportunity == Some(true) {
                f.missed_opportunities += 1;
            }
            continue;
        }
        f.overall.add(row);
        let signal = row.signal_type.clone().unwrap_or_else(|| "(none)".into());
        f.by_signal.entry(signal).or_default().add(row);
        if row.is_win.is_some() {
            let i = edges
                .windows(2)
                .position(|w| row.confidence >= w[0] && row.confidence < w[1])
                .unwrap_or(0);
            buckets[i].0.add(row);
            buckets[i].1 += row.confidence;
        }
    }
    f.overall.finish();
    f.by_signal.values_mut().for_each(Group::finish);
    for (i, (mut group, sum)) in buckets.into_iter().enumerate() {
        if group.n == 0 {
            continue;
        }
        group.finish();
        f.calibration.push(Bucket {
            confidence_from: edges[i],
            confidence_to: edges[i + 1].min(1.0),
            mean_confidence: round4(sum / group.n as f64),
            group,
        });
    }
    f
}

/// 95% Wilson score interval for `wins` out of `n` ([`metrics::wilson`]).
pub fn wilson(wins: u64, n: u64) -> (f64, f64) {
    match metrics::wilson(wins, n, metrics::Z95) {
        Some([lo, hi]) => (lo, hi),
        None => (0.0, 1.0),
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

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

/// Everything one reflection looks at.
#[derive(Debug, Clone, Serialize)]
pub struct ReflectionInput {
    pub now: String,
    pub triggered: Vec<String>,
    /// The team's metrics, last 7 days (what the prompt shows).
    pub metrics_7_days: Metrics,
    /// The team's metrics since the last reflection (all time when there is none).
    pub metrics_since_last: Metrics,
    /// Win/loss by signal and confidence with the break-even win rate (fees included), last 7
    /// days: what the rules engine judges on.
    pub last_7_days: Figures,
    /// The settled decisions this reflection covers (new since the last reflection).
    pub since_last: Figures,
    pub parameters: Vec<ParamView>,
    pub history: Vec<Past>,
    /// Last 7 days, YES/NO decisions whose confidence is within [`NEAR_BAND`] above the live
    /// confidence threshold: the trades a threshold step would add or remove.
    pub near_threshold: Group,
    /// The most common reasoning phrases of the covered decisions, with counts. Data only.
    #[serde(skip)]
    pub reasoning: Vec<(String, u64)>,
}

const ROW_COLUMNS: &str = "action, confidence, signal_type, executed_price, is_win, profit_loss, \
                           is_missed_opportunity, reasoning, position_size, fee, fee_asset";

/// Reads a row of `ROW_COLUMNS` starting at column `at`. A money column that is not a number
/// (a hand edit) reads as missing.
fn read_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<(Row, Option<String>)> {
    let dec = |i: usize| -> rusqlite::Result<Option<Decimal>> {
        Ok(Money::from_value(r.get_ref(at + i)?).ok().flatten())
    };
    Ok((
        Row {
            action: r.get(at)?,
            confidence: r.get(at + 1)?,
            signal_type: r.get(at + 2)?,
            executed_price: dec(3)?,
            position_size: dec(8)?,
            fee: dec(9)?,
            fee_asset: FeeAsset::stored(r.get::<_, Option<String>>(at + 10)?.as_deref()),
            is_win: r.get(at + 4)?,
            profit_loss: dec(5)?,
            is_missed_opportunity: r.get(at + 6)?,
        },
        r.get(at + 7)?,
    ))
}

/// Reads everything a reflection over the decisions `covered` looks at.
pub fn load(
    conn: &Connection,
    settings: &Settings,
    triggered: &[&str],
    covered: &[i64],
    now: DateTime<Utc>,
) -> Result<ReflectionInput> {
    let since = to_db(crate::time::days_before(now, 7)?);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ROW_COLUMNS} FROM trades
         WHERE {SETTLED} AND timestamp >= ?1 AND timestamp <= ?2"
    ))?;
    let week: Vec<Row> = stmt
        .query_map(params![since, to_db(now)], |r| read_row(r, 0))?
        .map(|r| r.map(|(row, _)| row))
        .collect::<rusqlite::Result<_>>()?;

    // One pass over the settled decisions no reflection covers yet, kept if in `covered`
    // (a decision settled since the triggers were read waits for the next reflection).
    let wanted: HashSet<i64> = covered.iter().copied().collect();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT id, {ROW_COLUMNS} FROM trades t
         WHERE {SETTLED}
           AND NOT EXISTS (SELECT 1 FROM reflection_trades rt WHERE rt.trade_id = t.id)"
    ))?;
    let mut new_rows = Vec::with_capacity(covered.len());
    let mut phrases: BTreeMap<String, u64> = BTreeMap::new();
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        if !wanted.contains(&r.get::<_, i64>(0)?) {
            continue;
        }
        let (row, reasoning) = read_row(r, 1)?;
        if let Some(text) = reasoning {
            let phrase = normalise_phrase(&text);
            if !phrase.is_empty() {
                *phrases.entry(phrase).or_default() += 1;
            }
        }
        new_rows.push(row);
    }
    let mut reasoning: Vec<(String, u64)> = phrases.into_iter().collect();
    reasoning.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    reasoning.truncate(10);

    let parameters = parameters(conn, settings)?;
    let threshold = parameters
        .iter()
        .find(|p| p.name == THRESHOLD)
        .and_then(|p| p.value.to_f64());
    let last: Option<String> =
        conn.query_row("SELECT max(timestamp) FROM reflections", [], |r| r.get(0))?;
    let since_window = match last {
        Some(t) => Window::Since(crate::time::from_db(&t)?),
        None => Window::All,
    };
    Ok(ReflectionInput {
        now: to_db(now),
        triggered: triggered.iter().map(|s| s.to_string()).collect(),
        metrics_7_days: metrics::compute(conn, &Window::Days(7), now)?,
        metrics_since_last: metrics::compute(conn, &since_window, now)?,
        last_7_days: figures(&week),
        since_last: figures(&new_rows),
        near_threshold: threshold.map(|t| near(&week, t)).unwrap_or_default(),
        parameters,
        history: history(conn, settings.reflect.history)?,
        reasoning,
    })
}

/// The trader's confidence threshold parameter.
pub const THRESHOLD: &str = "bot_confidence_threshold";
/// Width of the confidence band just above the threshold that `near_threshold` covers.
pub const NEAR_BAND: f64 = 0.10;

/// YES/NO decisions with confidence in [threshold, threshold + NEAR_BAND) (pure).
pub fn near(rows: &[Row], threshold: f64) -> Group {
    let mut g = Group::default();
    for row in rows {
        if row.action != "HOLD"
            && row.confidence >= threshold
            && row.confidence < threshold + NEAR_BAND
        {
            g.add(row);
        }
    }
    g.finish();
    g
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

fn parameters(conn: &Connection, settings: &Settings) -> Result<Vec<ParamView>> {
    Ok(crate::params::list(conn)?
        .into_iter()
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

    fn row(action: &str, conf: f64, signal: &str, price: &str, win: Option<bool>, pl: &str) -> Row {
        Row {
            action: action.into(),
            confidence: conf,
            signal_type: Some(signal.into()),
            executed_price: Decimal::from_str(price).ok(),
            position_size: Some(Decimal::from(5)),
            fee: Some(Decimal::ZERO),
            fee_asset: FeeAsset::Shares,
            is_win: win,
            profit_loss: Decimal::from_str(pl).ok(),
            is_missed_opportunity: None,
        }
    }

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

    #[test]
    fn wilson_matches_known_values() {
        let check = |w, n, lo: f64, hi: f64| {
            let (l, h) = wilson(w, n);
            assert!(
                (l - lo).abs() < 1e-3 && (h - hi).abs() < 1e-3,
                "{w}/{n}: {l} {h}"
            );
        };
        check(5, 10, 0.2366, 0.7634);
        check(0, 10, 0.0, 0.2775);
        check(10, 10, 0.7225, 1.0);
        check(60, 100, 0.5020, 0.6906);
    }

    #[test]
    fn figures_group_and_bucket() {
        let rows = vec![
            row("YES", 0.95, "BULLISH", "0.50", Some(true), "4.50"),
            row("NO", 0.92, "BULLISH", "0.60", Some(false), "-5.00"),
            row("YES", 0.55, "BEARISH", "0.40", Some(false), "-5.00"),
            row("HOLD", 0.30, "NEUTRAL", "", None, ""),
        ];
        let f = figures(&rows);
        assert_eq!((f.decisions, f.holds, f.overall.n), (4, 1, 3));
        assert_eq!(f.overall.profit_loss, Decimal::from_str("-5.50").unwrap());
        assert_eq!(f.overall.avg_price, Decimal::from_str("0.5").ok());
        // No fees: break-even is Σ size / Σ shares = 15 / (10 + 8.333333 + 12.5), below the
        // average price (winning cheap shares pays more).
        assert_eq!(f.overall.break_even, Decimal::from_str("0.4865").ok());
        assert_eq!(f.by_signal["BULLISH"].wins, 1);
        assert_eq!(f.calibration.len(), 2);
        assert_eq!(f.calibration[1].confidence_from, 0.9);
        assert_eq!(f.calibration[1].group.n, 2);
        assert_eq!(f.calibration[1].mean_confidence, 0.935);
    }
}
