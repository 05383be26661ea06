//! What the adjuster thinks of a pending proposal, reading only: the checks against the live
//! parameter (`proposals::check`, which every path acting on a proposal makes), the replay
//! evidence and the tier.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use rust_decimal::Decimal;

use super::tiers::{self, Action, Tier};
use crate::config::{Autonomy, Settings};
use crate::params::{self, BadParameter};
use crate::proposals::check::{check, Check};
use crate::proposals::Proposal;
use crate::replay;
use crate::time::{from_db, to_db};

/// The adjuster's assessment of a pending proposal.
pub(super) enum Assessment {
    /// Left pending: a parameter it needs cannot be read (named); a later run assesses it.
    Wait(BadParameter),
    Reject(String),
    Supersede(String),
    Accept {
        tier: Tier,
        value: Decimal,
        why: String,
        evidence: Box<replay::Evidence>,
        /// What the autonomy level does with it.
        action: Action,
    },
}

/// Validates a proposal against the live parameter and settings, replays it and decides its
/// tier. Reads only.
pub(super) fn evaluate(
    conn: &Connection,
    settings: &Settings,
    p: &Proposal,
    now: DateTime<Utc>,
) -> Result<Assessment> {
    let name = p.parameter_name.as_str();
    let (current, value) = match check(conn, settings, p)? {
        Check::Unreadable(bad) => return Ok(Assessment::Wait(bad)),
        Check::Gone | Check::Unknown => {
            return Ok(Assessment::Reject(format!("unknown parameter {name:?}")))
        }
        Check::BadCurrent { .. } => {
            return Ok(Assessment::Reject(format!(
                "{name}: current value {:?} is not a decimal number",
                p.current_value
            )))
        }
        stale @ Check::Stale { .. } => {
            let why = stale
                .stale_reason(name, &p.current_value)
                .unwrap_or_default();
            return Ok(Assessment::Supersede(why));
        }
        Check::Invalid(why) => return Ok(Assessment::Reject(why)),
        Check::Valid { current, value, .. } => (current, value),
    };
    // The replay scales stakes by the live position cap: it must be readable too.
    if let Some(Err(bad)) = params::stored(conn, replay::MAX_POSITION)?.map(|s| s.check()) {
        return Ok(Assessment::Wait(bad));
    }
    let evidence = evidence(conn, settings, name, current, value, now)?;
    let limits = tiers::Limits {
        tier1_max_change: settings.adjust.tier1_max_change,
        tier2_max_change: settings.adjust.tier2_max_change,
    };
    let gate = tiers::Tier1Gate {
        cooldown_passed: cooldown_passed(conn, settings, name, now)?,
        evidence_ok: !evidence.says_loses_money,
        is_rollback: p.rollback_of.is_some(),
    };
    let tier = tiers::classify(current, value, limits, gate);
    if let Tier::Rejected(why) = tier {
        return Ok(Assessment::Reject(why));
    }
    let change = params::relative_change(current, value).unwrap_or_default();
    let autonomy = settings.adjust.autonomy;
    let full = if autonomy == Autonomy::Full && tier == Tier::Two {
        tiers::FullGate {
            replay_better: evidence.better_than_actual,
            evaluation_agrees: crate::evaluations::agrees(conn, now, settings.adjust.replay_days)?,
            cooldown_passed: gate.cooldown_passed,
            is_rollback: gate.is_rollback,
        }
    } else {
        tiers::FullGate::default()
    };
    let action = tiers::action(autonomy, &tier, &full);
    let why = match (&tier, action) {
        (Tier::One, _) => format!(
            "tier 1: change of {} within {} and the replay does not show a loss",
            tiers::percent(change),
            tiers::percent(limits.tier1_max_change)
        ),
        (_, Action::Apply) => format!(
            "tier 2 applied by autonomy full: {}; the replay shows more than what happened and the latest walk-forward evaluation shows the loop's changes earning money",
            tiers::tier2_reason(change, limits, gate)
        ),
        _ if autonomy == Autonomy::Full => format!(
            "tier 2: {}; autonomy full asks a human: {}",
            tiers::tier2_reason(change, limits, gate),
            full.closed_because()
        ),
        _ => format!("tier 2: {}", tiers::tier2_reason(change, limits, gate)),
    };
    Ok(Assessment::Accept {
        tier,
        value,
        why,
        evidence: Box::new(evidence),
        action,
    })
}

/// The replay evidence of changing `name` from `current` to `proposed` at `now`: the settled
/// decisions of the last `adjust.replay_days` as if `proposed` had been in force, against the
/// values really in force then.
pub fn evidence(
    conn: &Connection,
    settings: &Settings,
    name: &str,
    current: Decimal,
    proposed: Decimal,
    now: DateTime<Utc>,
) -> Result<replay::Evidence> {
    let days = settings.adjust.replay_days;
    let since = crate::time::days_before(now, days)?;
    let rows = replay::load_rows(conn, now, days)?;
    let actual = replay::History::load(conn, now)?.timeline(since);
    let setup = replay::Setup {
        parameter: name,
        current,
        proposed,
        days,
        since: to_db(since),
        actual: &actual,
        fees: crate::money::fees::FeeRules::from_settings(&settings.settlement)?,
    };
    Ok(replay::replay(&rows, &setup))
}

/// Whether the parameter's last automatic change is at least `tier1_cooldown_hours` old.
fn cooldown_passed(
    conn: &Connection,
    settings: &Settings,
    name: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let last: Option<String> = conn.query_row(
        "SELECT max(timestamp) FROM parameter_history WHERE parameter_name = ?1 AND approval_method = 'auto'",
        [name],
        |r| r.get(0),
    )?;
    let Some(last) = last else { return Ok(true) };
    let last = from_db(&last)?;
    Ok(crate::time::hours_after(last, settings.adjust.tier1_cooldown_hours)? <= now)
}
