//! A `decision_id` logged again. The same content is a harmless duplicate; other content is a
//! conflict, refused with both versions named, so nothing the trader sent is lost silently.
//! "The same" compares canonical values, not JSON text: `"5.00"` and `5.0` are one amount, and
//! times compare at the stored precision (whole seconds). Pure: the log (`trades::log`) reads
//! the stored version back and asks [`differences`].

use std::fmt;

use chrono::{DateTime, Utc};

use super::{Action, Decision};
use crate::time::to_db;

/// An existing `decision_id` logged with other content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub decision_id: String,
    /// The stored version, in short (`NO 5.00 @ 0.52`).
    pub stored: String,
    /// The refused version, in short.
    pub refused: String,
    /// The fields whose values differ.
    pub fields: Vec<&'static str>,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "decision_id {} already stored with {}; this line has {} (differs in {})",
            self.decision_id,
            self.stored,
            self.refused,
            self.fields.join(", ")
        )
    }
}

impl std::error::Error for Conflict {}

impl Conflict {
    /// The conflict between `new` and the decision `stored` under its key, if their content
    /// differs (None: the same decision).
    pub fn between(new: &Decision, stored: &Decision) -> Option<Conflict> {
        let fields = differences(new, stored);
        (!fields.is_empty()).then(|| Conflict {
            decision_id: new.key(),
            stored: short(stored),
            refused: short(new),
            fields,
        })
    }

    /// The conflict of `new` with a stored row polyperf cannot read (`why`): never silently
    /// equal.
    pub fn unreadable(new: &Decision, why: &str) -> Conflict {
        Conflict {
            decision_id: new.key(),
            stored: format!("a row polyperf cannot read ({why})"),
            refused: short(new),
            fields: vec!["stored row"],
        }
    }
}

/// `NO 5.00 @ 0.52`, or `HOLD`: the same amount reads the same, however it was written.
pub fn short(d: &Decision) -> String {
    match d.executed_price {
        Some(p) if d.action != Action::Hold => {
            let mut usdc = d.position_size.normalize();
            if usdc.scale() < 2 {
                usdc.rescale(2);
            }
            format!("{} {usdc} @ {}", d.action.as_str(), p.normalize())
        }
        _ => d.action.as_str().to_string(),
    }
}

/// The fields in which two versions of a decision differ (canonical comparison). The window
/// counts only when the new version determines one: a stored window may have come from Gamma.
pub fn differences(new: &Decision, stored: &Decision) -> Vec<&'static str> {
    let second = |t: DateTime<Utc>| to_db(t);
    let window = |d: &Decision| d.window().map(|(s, e)| (second(s), second(e)));
    let new_window = window(new);
    [
        (
            "timestamp",
            second(new.timestamp) == second(stored.timestamp),
        ),
        ("market_slug", new.market_slug == stored.market_slug),
        ("market_id", new.market_id == stored.market_id),
        ("action", new.action == stored.action),
        ("confidence", new.confidence == stored.confidence),
        ("position_size", new.position_size == stored.position_size),
        ("reasoning", new.reasoning == stored.reasoning),
        ("btc_price", new.btc_price == stored.btc_price),
        ("price_to_beat", new.price_to_beat == stored.price_to_beat),
        (
            "time_remaining_seconds",
            new.time_remaining_seconds == stored.time_remaining_seconds,
        ),
        ("is_end_phase", new.is_end_phase == stored.is_end_phase),
        ("social_score", new.social_score == stored.social_score),
        ("market_score", new.market_score == stored.market_score),
        ("final_score", new.final_score == stored.final_score),
        (
            "final_confidence",
            new.final_confidence == stored.final_confidence,
        ),
        ("signal_type", new.signal_type == stored.signal_type),
        ("rsi", new.rsi == stored.rsi),
        ("macd", new.macd == stored.macd),
        ("trend", new.trend == stored.trend),
        ("yes_price", new.yes_price == stored.yes_price),
        ("no_price", new.no_price == stored.no_price),
        (
            "executed_price",
            new.executed_price == stored.executed_price,
        ),
        ("fee_rate", new.fee_rate == stored.fee_rate),
        ("liquidity", new.liquidity == stored.liquidity),
        ("fee_paid", new.fee_paid == stored.fee_paid),
        ("bankroll", new.bankroll == stored.bankroll),
        (
            "market_window",
            new_window.is_none() || new_window == window(stored),
        ),
    ]
    .into_iter()
    .filter(|(_, same)| !same)
    .map(|(field, _)| field)
    .collect()
}
