//! The parameter adjuster (polyperf-adjust): validates proposals, decides their tier, applies
//! tier 1, asks approval for tier 2, expires stale requests, watches changes for rollback and
//! runs the tier-3 guard. Never talks to a network; messages go through the outbox.
//!
//! Autonomy: `observe` applies nothing (proposals become `reported`); `tier1` and `full`
//! apply tier 1 and send tier 2 for approval (tier 2 always needs a human, so they behave the
//! same today); the guard pauses at every level.

pub mod guard;
pub mod replay;
pub mod tiers;
pub mod watch;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use rust_decimal::Decimal;
use serde::Serialize;
use tracing::{info, warn};

use crate::config::Settings;
use crate::outbox::{self, message::ApprovalRequest, Message};
use crate::params::{self, Method};
use crate::runner::JobContext;
use crate::time::{from_db, to_db};

pub use guard::PauseInfo;
use tiers::Tier;

/// What a run did (the `--json` object).
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Stats {
    pub applied: u64,
    pub awaiting_approval: u64,
    pub rejected: u64,
    pub expired: u64,
    pub superseded: u64,
    pub rolled_back: u64,
    pub paused: bool,
    pub pause_reason: Option<String>,
}

/// The job: guard first (safety does not wait for the rest), then expiry, pending proposals
/// and the rollback watch. Each proposal is its own short transaction.
pub async fn run(ctx: &mut JobContext) -> Result<Stats> {
    run_sync(&mut ctx.conn, &ctx.settings, ctx.now, ctx.dry_run)
}

/// The job's body, for callers without a [`JobContext`] (scheduler, tests, benchmarks).
pub fn run_sync(
    conn: &mut Connection,
    settings: &Settings,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<Stats> {
    let mut stats = Stats::default();
    if !dry_run {
        params::sync_bounds(conn, settings)?;
    }
    let pause = guard::run(conn, settings, now, dry_run)?;
    stats.expired = expire(conn, now, dry_run)?;
    stats.superseded += supersede_stale(conn, now, dry_run)?;
    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM proposals WHERE status = 'pending' ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for id in ids {
        match process(conn, settings, id, now, dry_run) {
            Ok(Some(status)) => match status {
                "applied" => stats.applied += 1,
                "awaiting_approval" => stats.awaiting_approval += 1,
                "rejected" => stats.rejected += 1,
                "superseded" => stats.superseded += 1,
                _ => {}
            },
            Ok(None) => {}
            Err(e) => {
                warn!(proposal_id = id, error = %format!("{e:#}"), "could not process proposal")
            }
        }
    }
    let (rolled_back, proposed) = rollback_watch(conn, settings, now, dry_run)?;
    stats.rolled_back = rolled_back;
    stats.awaiting_approval += proposed;
    // A rollback proposal just created is processed at once, so it is sent the same run.
    if proposed > 0 && !dry_run {
        let ids: Vec<i64> = conn
            .prepare("SELECT id FROM proposals WHERE status = 'pending' AND rollback_of IS NOT NULL ORDER BY id")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        stats.awaiting_approval -= proposed;
        for id in ids {
            if let Ok(Some("awaiting_approval")) = process(conn, settings, id, now, dry_run) {
                stats.awaiting_approval += 1;
            }
        }
    }
    if let Some(p) = pause {
        stats.paused = true;
        stats.pause_reason = Some(p.reason);
    }
    info!(
        applied = stats.applied,
        awaiting_approval = stats.awaiting_approval,
        rejected = stats.rejected,
        expired = stats.expired,
        superseded = stats.superseded,
        rolled_back = stats.rolled_back,
        paused = stats.paused,
        "adjust finished"
    );
    Ok(stats)
}

/// The tier-3 guard alone, for settlement or the scheduler to call after settling: pauses when
/// a rule fires (unless already paused) and returns the pause in force, if any.
pub fn guard(
    conn: &mut Connection,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<Option<PauseInfo>> {
    guard::run(conn, settings, now, false)
}

/// A proposal row.
#[derive(Debug, Clone, Serialize)]
pub struct Proposal {
    pub id: i64,
    pub created_at: String,
    pub reflection_id: Option<i64>,
    pub parameter_name: String,
    pub current_value: String,
    pub proposed_value: String,
    pub reason: Option<String>,
    pub expected_impact: Option<String>,
    pub suggested_tier: Option<i64>,
    pub tier: Option<i64>,
    pub status: String,
    pub status_reason: Option<String>,
    pub evidence: Option<serde_json::Value>,
    pub nonce: Option<String>,
    pub expires_at: Option<String>,
    pub decided_at: Option<String>,
    pub decided_by: Option<String>,
    pub history_id: Option<i64>,
    pub rollback_of: Option<i64>,
}

const SELECT_PROPOSAL: &str =
    "SELECT id, created_at, reflection_id, parameter_name, current_value, proposed_value, reason,
        expected_impact, suggested_tier, tier, status, status_reason, evidence, nonce, expires_at,
        decided_at, decided_by, history_id, rollback_of FROM proposals";

fn proposal_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Proposal> {
    Ok(Proposal {
        id: r.get(0)?,
        created_at: r.get(1)?,
        reflection_id: r.get(2)?,
        parameter_name: r.get(3)?,
        current_value: r.get(4)?,
        proposed_value: r.get(5)?,
        reason: r.get(6)?,
        expected_impact: r.get(7)?,
        suggested_tier: r.get(8)?,
        tier: r.get(9)?,
        status: r.get(10)?,
        status_reason: r.get(11)?,
        evidence: r
            .get::<_, Option<String>>(12)?
            .and_then(|s| serde_json::from_str(&s).ok()),
        nonce: r.get(13)?,
        expires_at: r.get(14)?,
        decided_at: r.get(15)?,
        decided_by: r.get(16)?,
        history_id: r.get(17)?,
        rollback_of: r.get(18)?,
    })
}

pub fn get_proposal(conn: &Connection, id: i64) -> Result<Option<Proposal>> {
    Ok(conn
        .query_row(
            &format!("{SELECT_PROPOSAL} WHERE id = ?1"),
            [id],
            proposal_row,
        )
        .optional()?)
}

pub fn list_proposals(conn: &Connection, limit: i64) -> Result<Vec<Proposal>> {
    let mut stmt = conn.prepare(&format!("{SELECT_PROPOSAL} ORDER BY id DESC LIMIT ?1"))?;
    let rows = stmt
        .query_map([limit], proposal_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

fn set_status(
    conn: &Connection,
    id: i64,
    status: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.execute(
        "UPDATE proposals SET status = ?1, status_reason = ?2, decided_at = coalesce(decided_at, ?3) WHERE id = ?4",
        params![status, reason, to_db(now), id],
    )?;
    Ok(())
}

fn notify_text(conn: &Connection, key: &str, text: &str, now: DateTime<Utc>) -> Result<()> {
    outbox::enqueue(conn, &Message::text(text), Some(key), now)?;
    Ok(())
}

/// Requests past their `expires_at` become `expired`, with a notification.
fn expire(conn: &mut Connection, now: DateTime<Utc>, dry_run: bool) -> Result<u64> {
    let tx = crate::db::write_tx(conn)?;
    let due: Vec<(i64, String)> = tx
        .prepare("SELECT id, parameter_name FROM proposals WHERE status = 'awaiting_approval' AND expires_at <= ?1")?
        .query_map([to_db(now)], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, name) in &due {
        mark_expired(&tx, *id, name, now)?;
    }
    if !dry_run {
        tx.commit()?;
    }
    Ok(due.len() as u64)
}

fn mark_expired(conn: &Connection, id: i64, name: &str, now: DateTime<Utc>) -> Result<()> {
    set_status(
        conn,
        id,
        "expired",
        "no decision before the approval expired",
        now,
    )?;
    notify_text(
        conn,
        &format!("expired:{id}"),
        &format!("Proposal #{id} ({name}) expired without a decision; nothing was changed."),
        now,
    )?;
    info!(
        proposal_id = id,
        parameter = name,
        "approval request expired"
    );
    Ok(())
}

/// Requests whose parameter changed since they were made become `superseded`.
fn supersede_stale(conn: &mut Connection, now: DateTime<Utc>, dry_run: bool) -> Result<u64> {
    let tx = crate::db::write_tx(conn)?;
    let waiting: Vec<(i64, String, String)> = tx
        .prepare("SELECT id, parameter_name, current_value FROM proposals WHERE status = 'awaiting_approval'")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut n = 0;
    for (id, name, current) in waiting {
        if let Some(why) = stale_reason(&tx, &name, &current)? {
            supersede(&tx, id, &name, &why, now)?;
            n += 1;
        }
    }
    if !dry_run {
        tx.commit()?;
    }
    Ok(n)
}

/// Why `current` is no longer the live value of `name`, if it isn't.
fn stale_reason(conn: &Connection, name: &str, current: &str) -> Result<Option<String>> {
    let Some(live) = params::get(conn, name)? else {
        return Ok(Some(format!("parameter {name:?} no longer exists")));
    };
    let proposal_current = params::parse_value(name, current).ok();
    if proposal_current != Some(live.value) {
        return Ok(Some(format!(
            "{name} is now {} but the proposal was made against {current}",
            live.value
        )));
    }
    Ok(None)
}

fn supersede(conn: &Connection, id: i64, name: &str, why: &str, now: DateTime<Utc>) -> Result<()> {
    set_status(conn, id, "superseded", why, now)?;
    notify_text(
        conn,
        &format!("superseded:{id}"),
        &format!("Proposal #{id} ({name}) is superseded: {why}."),
        now,
    )?;
    info!(
        proposal_id = id,
        parameter = name,
        why,
        "proposal superseded"
    );
    Ok(())
}

/// The adjuster's assessment of a pending proposal.
enum Assessment {
    Reject(String),
    Supersede(String),
    Accept {
        tier: Tier,
        value: Decimal,
        why: String,
        evidence: Box<replay::Evidence>,
    },
}

/// Validates a proposal against the live parameter and settings, replays it and decides its
/// tier. Reads only.
fn evaluate(
    conn: &Connection,
    settings: &Settings,
    p: &Proposal,
    now: DateTime<Utc>,
) -> Result<Assessment> {
    let name = p.parameter_name.as_str();
    let (Some(bounds), Some(live)) = (
        settings.adjust.parameters.get(name),
        params::get(conn, name)?,
    ) else {
        return Ok(Assessment::Reject(format!("unknown parameter {name:?}")));
    };
    let Ok(current) = params::parse_value(name, &p.current_value) else {
        return Ok(Assessment::Reject(format!(
            "{name}: current value {:?} is not a decimal number",
            p.current_value
        )));
    };
    if current != live.value {
        return Ok(Assessment::Supersede(format!(
            "{name} is now {} but the proposal was made against {current}",
            live.value
        )));
    }
    let live_bounds = crate::config::ParamBounds {
        min: live.min,
        max: live.max,
        step: bounds.step,
    };
    let value = match tiers::validate_value(name, &p.proposed_value, &live_bounds) {
        Ok(v) => v,
        Err(why) => return Ok(Assessment::Reject(why)),
    };
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
    let change = tiers::relative_change(current, value).unwrap_or_default();
    let why = match tier {
        Tier::One => format!(
            "tier 1: change of {} within {} and the replay does not show a loss",
            tiers::percent(change),
            tiers::percent(limits.tier1_max_change)
        ),
        _ => format!("tier 2: {}", tiers::tier2_reason(change, limits, gate)),
    };
    Ok(Assessment::Accept {
        tier,
        value,
        why,
        evidence: Box::new(evidence),
    })
}

/// The replay evidence of changing `name` from `current` to `proposed` at `now`.
pub fn evidence(
    conn: &Connection,
    settings: &Settings,
    name: &str,
    current: Decimal,
    proposed: Decimal,
    now: DateTime<Utc>,
) -> Result<replay::Evidence> {
    let days = settings.adjust.replay_days;
    let rows = replay::load_rows(conn, now, days)?;
    let position = params::get(conn, replay::MAX_POSITION)?
        .map(|p| p.value)
        .unwrap_or(Decimal::TEN);
    let setup = replay::Setup {
        parameter: name,
        current,
        proposed,
        days,
        since: to_db(crate::time::days_before(now, days)?),
        position,
        fees: crate::settle::fees::FeeRules::from_settings(&settings.settlement)?,
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

/// Processes one pending proposal in its own transaction. Returns its new status.
fn process(
    conn: &mut Connection,
    settings: &Settings,
    id: i64,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<Option<&'static str>> {
    let tx = crate::db::write_tx(conn)?;
    let Some(p) = get_proposal(&tx, id)? else {
        return Ok(None);
    };
    if p.status != "pending" {
        return Ok(None);
    }
    let name = p.parameter_name.clone();
    let status = match evaluate(&tx, settings, &p, now)? {
        Assessment::Reject(why) => {
            tx.execute(
                "UPDATE proposals SET status = 'rejected', status_reason = ?1, decided_at = ?2, decided_by = 'adjust' WHERE id = ?3",
                params![why, to_db(now), id],
            )?;
            notify_text(
                &tx,
                &format!("rejected:{id}"),
                &format!("Proposal #{id} ({name}) rejected: {why}."),
                now,
            )?;
            info!(proposal_id = id, parameter = %name, why = %why, "proposal rejected");
            "rejected"
        }
        Assessment::Supersede(why) => {
            supersede(&tx, id, &name, &why, now)?;
            "superseded"
        }
        Assessment::Accept {
            tier,
            value,
            why,
            evidence,
        } => {
            let evidence_json = serde_json::to_value(&evidence)?;
            tx.execute(
                "UPDATE proposals SET tier = ?1, evidence = ?2, status_reason = ?3 WHERE id = ?4",
                params![tier.number(), evidence_json.to_string(), why, id],
            )?;
            if !settings.adjust.autonomy.applies_changes() {
                set_status(
                    &tx,
                    id,
                    "reported",
                    &format!("autonomy observe: reported only ({why})"),
                    now,
                )?;
                notify_text(
                    &tx,
                    &format!("reported:{id}"),
                    &format!(
                        "Proposal #{id}: {name} {} -> {value} ({why}); autonomy is observe, nothing applied. {}",
                        p.current_value, evidence.summary
                    ),
                    now,
                )?;
                "reported"
            } else if tier == Tier::One {
                let reason = p.reason.clone().unwrap_or_else(|| why.clone());
                let history_id = params::apply_change(
                    &tx,
                    &params::Change {
                        name: &name,
                        new_value: value,
                        reason: &reason,
                        method: Method::Auto,
                        proposal_id: Some(id),
                        reverts_history_id: p.rollback_of,
                        by: "adjust",
                    },
                    now,
                )?;
                tx.execute(
                    "UPDATE proposals SET status = 'applied', history_id = ?1, decided_at = ?2, decided_by = 'adjust' WHERE id = ?3",
                    params![history_id, to_db(now), id],
                )?;
                info!(proposal_id = id, parameter = %name, %value, history_id, "tier-1 change applied");
                "applied"
            } else {
                let nonce: String = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
                let expires_at = crate::time::hours_after(now, settings.adjust.approval_ttl_hours)?;
                tx.execute(
                    "UPDATE proposals SET status = 'awaiting_approval', nonce = ?1, expires_at = ?2 WHERE id = ?3",
                    params![nonce, to_db(expires_at), id],
                )?;
                let request = ApprovalRequest {
                    proposal_id: id,
                    nonce,
                    parameter: name.clone(),
                    current: p.current_value.clone(),
                    proposed: value.to_string(),
                    reason: p.reason.clone(),
                    expected_impact: p.expected_impact.clone(),
                    tier: 2,
                    evidence: evidence_json,
                    expires_at: to_db(expires_at),
                    rollback_of: p.rollback_of,
                };
                outbox::enqueue(
                    &tx,
                    &Message::Approval(request),
                    Some(&format!("approval:{id}")),
                    now,
                )?;
                info!(proposal_id = id, parameter = %name, %value, "approval requested");
                "awaiting_approval"
            }
        }
    };
    if !dry_run {
        tx.commit()?;
    }
    Ok(Some(status))
}

/// Runs the rollback watch: reverts clearly worse tier-1 changes and proposes reverting the
/// others. Returns (changes reverted, rollback proposals created).
fn rollback_watch(
    conn: &mut Connection,
    settings: &Settings,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<(u64, u64)> {
    let found = watch::findings(conn, settings.adjust.rollback_watch_trades, now)?;
    let (mut reverted, mut proposed) = (0, 0);
    for f in found {
        let reason = format!(
            "rollback watch: after the change {} of {} trades won, P&L {}; before {} of {}, P&L {}",
            f.after.wins, f.after.n, f.after.pnl, f.before.wins, f.before.n, f.before.pnl
        );
        let auto = f.tier == Some(1) && settings.adjust.autonomy.applies_changes();
        if dry_run {
            if auto {
                reverted += 1;
            } else {
                proposed += 1;
            }
            continue;
        }
        if auto {
            match params::rollback(conn, f.history_id, &reason, "adjust", now) {
                Ok(r) => {
                    reverted += 1;
                    warn!(history_id = f.history_id, rollback_id = r.history_id, parameter = %f.parameter, "tier-1 change rolled back automatically");
                }
                Err(e) => {
                    warn!(history_id = f.history_id, error = %format!("{e:#}"), "could not roll back")
                }
            }
        } else {
            let tx = crate::db::write_tx(conn)?;
            let evidence =
                serde_json::json!({"rollback_watch": {"before": f.before, "after": f.after}});
            tx.execute(
                "INSERT INTO proposals (created_at, parameter_name, current_value, proposed_value, reason, expected_impact, status, evidence, rollback_of)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'undo a change that did clearly worse', 'pending', ?6, ?7)",
                params![to_db(now), f.parameter, f.new_value, f.old_value, reason, evidence.to_string(), f.history_id],
            )?;
            tx.commit()?;
            proposed += 1;
            info!(history_id = f.history_id, parameter = %f.parameter, "rollback proposed");
        }
    }
    Ok((reverted, proposed))
}

/// A human's verdict on a proposal awaiting approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Approve,
    Reject,
}

/// What [`decide`] did.
#[derive(Debug, Clone, Serialize)]
pub struct DecideOutcome {
    pub proposal_id: i64,
    /// The proposal's status afterwards (`applied`, `rejected`, or unchanged).
    pub status: String,
    /// Whether anything changed.
    pub changed: bool,
    /// One line for the human: what happened, or why nothing did.
    pub message: String,
}

/// Approves or rejects proposal `proposal_id` (Telegram buttons and commands, `polyperf
/// proposals approve|reject`). `nonce`, when given (button presses), must match the proposal's.
/// A proposal already decided, expired, superseded or unknown changes nothing and says why.
/// One transaction; an approval re-checks the bounds and that the live value is still the
/// proposal's `current_value` (else the proposal is superseded).
#[allow(clippy::too_many_arguments)]
pub fn decide(
    conn: &mut Connection,
    settings: &Settings,
    proposal_id: i64,
    nonce: Option<&str>,
    verdict: Verdict,
    by: &str,
    method: Method,
    now: DateTime<Utc>,
) -> Result<DecideOutcome> {
    let tx = crate::db::write_tx(conn)?;
    let outcome = |status: &str, changed: bool, message: String| DecideOutcome {
        proposal_id,
        status: status.to_string(),
        changed,
        message,
    };
    let Some(p) = get_proposal(&tx, proposal_id)? else {
        return Ok(outcome(
            "unknown",
            false,
            format!("there is no proposal #{proposal_id}"),
        ));
    };
    let name = p.parameter_name.clone();
    if let Some(given) = nonce {
        if p.nonce.as_deref() != Some(given) {
            return Ok(outcome(
                &p.status,
                false,
                format!("this button does not belong to proposal #{proposal_id}'s current request; nothing changed"),
            ));
        }
    }
    if p.status != "awaiting_approval" {
        let when = p.decided_at.as_deref().unwrap_or("earlier");
        let message = match p.status.as_str() {
            "applied" => format!(
                "proposal #{proposal_id} was already applied ({when}, by {})",
                p.decided_by.as_deref().unwrap_or("?")
            ),
            "rejected" => format!(
                "proposal #{proposal_id} was already rejected ({when}, by {})",
                p.decided_by.as_deref().unwrap_or("?")
            ),
            "expired" => format!(
                "proposal #{proposal_id} expired at {}; nothing changed",
                p.expires_at.as_deref().unwrap_or(when)
            ),
            "superseded" => format!(
                "proposal #{proposal_id} is superseded: {}",
                p.status_reason
                    .as_deref()
                    .unwrap_or("the parameter changed")
            ),
            other => format!(
                "proposal #{proposal_id} is {other}, not awaiting approval; nothing changed"
            ),
        };
        return Ok(outcome(&p.status, false, message));
    }
    let expired = p
        .expires_at
        .as_deref()
        .and_then(|t| from_db(t).ok())
        .is_some_and(|t| t <= now);
    if expired {
        mark_expired(&tx, proposal_id, &name, now)?;
        tx.commit()?;
        return Ok(outcome(
            "expired",
            false,
            format!(
                "proposal #{proposal_id} expired at {}; nothing changed",
                p.expires_at.unwrap_or_default()
            ),
        ));
    }
    let decided = |tx: &Connection,
                   status: &str,
                   why: &str,
                   history_id: Option<i64>|
     -> Result<()> {
        tx.execute(
            "UPDATE proposals SET status = ?1, status_reason = ?2, decided_at = ?3, decided_by = ?4, history_id = coalesce(?5, history_id) WHERE id = ?6",
            params![status, why, to_db(now), by, history_id, proposal_id],
        )?;
        Ok(())
    };
    match verdict {
        Verdict::Reject => {
            decided(
                &tx,
                "rejected",
                &format!("rejected by {by} via {}", method.as_str()),
                None,
            )?;
            notify_text(
                &tx,
                &format!("decided:{proposal_id}"),
                &format!("Proposal #{proposal_id} ({name}) rejected by {by}; nothing changed."),
                now,
            )?;
            tx.commit()?;
            info!(proposal_id, by, "proposal rejected by a human");
            Ok(outcome(
                "rejected",
                true,
                format!("proposal #{proposal_id} rejected; {name} unchanged"),
            ))
        }
        Verdict::Approve => {
            if !settings.adjust.autonomy.applies_changes() {
                return Ok(outcome(
                    &p.status,
                    false,
                    "autonomy is observe: nothing is applied, not even with approval".into(),
                ));
            }
            params::sync_bounds(&tx, settings)?;
            if let Some(why) = stale_reason(&tx, &name, &p.current_value)? {
                supersede(&tx, proposal_id, &name, &why, now)?;
                tx.commit()?;
                return Ok(outcome(
                    "superseded",
                    true,
                    format!("proposal #{proposal_id} is superseded: {why}; nothing applied"),
                ));
            }
            let live = params::get(&tx, &name)?.context("parameter vanished")?;
            let Some(step) = settings.adjust.parameters.get(&name).map(|b| b.step) else {
                return Ok(outcome(
                    &p.status,
                    false,
                    format!("unknown parameter {name:?}; nothing applied"),
                ));
            };
            let bounds = crate::config::ParamBounds {
                min: live.min,
                max: live.max,
                step,
            };
            let value = match tiers::validate_value(&name, &p.proposed_value, &bounds) {
                Ok(v) => v,
                Err(why) => {
                    return Ok(outcome(
                        &p.status,
                        false,
                        format!("cannot apply proposal #{proposal_id}: {why}"),
                    ))
                }
            };
            let reason = p
                .reason
                .clone()
                .unwrap_or_else(|| format!("proposal #{proposal_id}"));
            let history_id = params::apply_change(
                &tx,
                &params::Change {
                    name: &name,
                    new_value: value,
                    reason: &reason,
                    method,
                    proposal_id: Some(proposal_id),
                    reverts_history_id: p.rollback_of,
                    by,
                },
                now,
            )?;
            decided(
                &tx,
                "applied",
                &format!("approved by {by} via {}", method.as_str()),
                Some(history_id),
            )?;
            tx.commit()?;
            info!(proposal_id, by, history_id, "proposal approved and applied");
            Ok(outcome(
                "applied",
                true,
                format!(
                    "proposal #{proposal_id} applied: {name} {} -> {value} (history #{history_id})",
                    live.value
                ),
            ))
        }
    }
}
