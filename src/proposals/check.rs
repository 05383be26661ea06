//! Where a proposal stands against the live parameter: the checks every path acting on a
//! proposal makes (the adjuster's run, a human's approval, the expiry of stale requests).
//! Reads only.

use anyhow::Result;
use rusqlite::Connection;
use rust_decimal::Decimal;

use super::Proposal;
use crate::config::{ParamBounds, Settings};
use crate::params::{self, BadParameter, Parameter};

/// Where a proposal stands against the live parameter, checked in this order.
pub enum Check {
    /// The `parameters` table no longer has the parameter.
    Gone,
    /// The live parameter holds what no reader may use (a hand edit): nothing can be judged
    /// against it until `polyperf params set` repairs it; the proposal waits.
    Unreadable(BadParameter),
    /// The proposal's `current_value` is not a decimal number.
    BadCurrent { live: Decimal },
    /// The live value is no longer the proposal's `current_value`.
    Stale { live: Decimal },
    /// The settings do not know the parameter.
    Unknown,
    /// The proposed value breaks the live bounds or the step (why).
    Invalid(String),
    /// Every check passed: the live parameter, the current value and the value to apply.
    Valid {
        live: Parameter,
        current: Decimal,
        value: Decimal,
    },
}

impl Check {
    /// Why the proposal no longer matches the live parameter, if it does not (it is then
    /// superseded).
    pub fn stale_reason(&self, name: &str, current: &str) -> Option<String> {
        match self {
            Check::Gone => Some(format!("parameter {name:?} no longer exists")),
            Check::BadCurrent { live } | Check::Stale { live } => Some(format!(
                "{name} is now {live} but the proposal was made against {current}"
            )),
            _ => None,
        }
    }
}

/// Checks a proposal against the live parameter and the settings' step.
pub fn check(conn: &Connection, settings: &Settings, p: &Proposal) -> Result<Check> {
    let name = p.parameter_name.as_str();
    let Some(stored) = params::stored(conn, name)? else {
        return Ok(Check::Gone);
    };
    let live = match stored.check() {
        Ok(live) => live,
        Err(bad) => return Ok(Check::Unreadable(bad)),
    };
    let Ok(current) = params::parse_value(name, &p.current_value) else {
        return Ok(Check::BadCurrent { live: live.value });
    };
    if current != live.value {
        return Ok(Check::Stale { live: live.value });
    }
    let Some(step) = settings.adjust.parameters.get(name).map(|b| b.step) else {
        return Ok(Check::Unknown);
    };
    let bounds = ParamBounds {
        min: live.min,
        max: live.max,
        step,
    };
    Ok(
        match params::validate_value(name, &p.proposed_value, &bounds) {
            Ok(value) => Check::Valid {
                live,
                current,
                value,
            },
            Err(why) => Check::Invalid(why),
        },
    )
}
