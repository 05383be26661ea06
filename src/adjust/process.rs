//! What the adjuster does with proposals on its own: each pending one is assessed and rejected,
//! superseded, reported (autonomy `observe`), applied (tier 1, and tier 2 under `full` when
//! the replay and the walk-forward evaluation agree) or sent for approval (tier 2);
//! approval requests past their time expire, and those whose parameter changed are superseded.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use rust_decimal::Decimal;
use tracing::{info, warn};

use super::assess::{self, Assessment};
use super::tiers::Action;
use crate::config::{Notify, Settings};
use crate::kinds::Method;
use crate::outbox;
use crate::params;
use crate::proposals::{self, Decided, Proposal, Status};
use crate::replay::Evidence;

/// Who the adjuster is in `decided_by` and in parameter history.
const ADJUSTER: &str = "adjust";

pub(super) fn notify_text(
    conn: &Connection,
    notify: &Notify,
    key: &str,
    text: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    outbox::enqueue(conn, notify, &outbox::Message::text(text), Some(key), now)?;
    Ok(())
}

/// Requests past their `expires_at` become `expired`, with a notification.
pub(super) fn expire(
    conn: &mut Connection,
    notify: &Notify,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<u64> {
    let tx = crate::db::write_tx(conn)?;
    let due = proposals::expired_requests(&tx, now)?;
    for p in &due {
        proposals::expire(&tx, notify, p.id, &p.parameter_name, now)?;
    }
    if !dry_run {
        tx.commit()?;
    }
    Ok(due.len() as u64)
}

/// Requests whose parameter changed since they were made become `superseded`.
pub(super) fn supersede_stale(
    conn: &mut Connection,
    settings: &Settings,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<u64> {
    let tx = crate::db::write_tx(conn)?;
    let mut n = 0;
    for p in proposals::with_status(&tx, Status::AwaitingApproval)? {
        let check = proposals::check::check(&tx, settings, &p)?;
        if let Some(why) = check.stale_reason(&p.parameter_name, &p.current_value) {
            proposals::supersede(
                &tx,
                &settings.telegram.notify,
                p.id,
                &p.parameter_name,
                &why,
                now,
            )?;
            n += 1;
        }
    }
    if !dry_run {
        tx.commit()?;
    }
    Ok(n)
}

/// What one run of the adjuster is: its time, whether it writes, and whether its guard paused
/// trading (then nothing is applied in it).
pub(crate) struct Run {
    pub now: DateTime<Utc>,
    pub dry_run: bool,
    pub pausing: bool,
}

/// Processes one pending proposal in its own transaction. Returns its new status.
pub(super) fn process(
    conn: &mut Connection,
    settings: &Settings,
    id: i64,
    run: &Run,
) -> Result<Option<Status>> {
    let (now, dry_run) = (run.now, run.dry_run);
    let tx = crate::db::write_tx(conn)?;
    let Some(p) = proposals::get(&tx, id)? else {
        return Ok(None);
    };
    if p.status != Status::Pending {
        return Ok(None);
    }
    let notify = &settings.telegram.notify;
    let status = match assess::evaluate(&tx, settings, &p, now)? {
        Assessment::Wait(bad) => {
            warn!(proposal_id = id, parameter = %bad.name, "proposal left pending: {bad}");
            return Ok(None);
        }
        Assessment::Reject(why) => reject(&tx, notify, &p, &why, now)?,
        Assessment::Supersede(why) => {
            proposals::supersede(&tx, notify, id, &p.parameter_name, &why, now)?;
            Status::Superseded
        }
        Assessment::Accept {
            tier,
            value,
            mut why,
            evidence,
            mut action,
        } => {
            if run.pausing && action == Action::Apply {
                action = Action::AskApproval;
                why.push_str("; trading was paused in this run, so a human decides");
            }
            let accepted = Accepted {
                p: &p,
                tier: tier.number().unwrap_or(2),
                value,
                why: &why,
                evidence: &evidence,
            };
            let evidence_json = serde_json::to_value(&evidence)?;
            proposals::record_assessment(&tx, id, tier.number(), &evidence_json, &why)?;
            match action {
                Action::Report => report_only(&tx, notify, &accepted, now)?,
                Action::Apply => apply_auto(&tx, notify, &accepted, now)?,
                Action::AskApproval => request_approval(&tx, settings, &accepted, now)?,
            }
        }
    };
    if !dry_run {
        tx.commit()?;
    }
    Ok(Some(status))
}

/// A proposal the assessment accepted: the value to apply, why, and the replay evidence.
struct Accepted<'a> {
    p: &'a Proposal,
    /// 1 or 2 (a tier-1 change goes to a human when its run paused trading).
    tier: i64,
    value: Decimal,
    why: &'a str,
    evidence: &'a Evidence,
}

fn reject(
    conn: &Connection,
    notify: &Notify,
    p: &Proposal,
    why: &str,
    now: DateTime<Utc>,
) -> Result<Status> {
    let (id, name) = (p.id, &p.parameter_name);
    let decided = Decided {
        status: Status::Rejected,
        reason: Some(why),
        by: ADJUSTER,
        history_id: None,
    };
    proposals::decide(conn, id, &decided, now)?;
    notify_text(
        conn,
        notify,
        &format!("rejected:{id}"),
        &format!("Proposal #{id} ({name}) rejected: {why}."),
        now,
    )?;
    info!(proposal_id = id, parameter = %name, why = %why, "proposal rejected");
    Ok(Status::Rejected)
}

/// Autonomy `observe`: the assessment is reported, nothing applied.
fn report_only(
    conn: &Connection,
    notify: &Notify,
    a: &Accepted<'_>,
    now: DateTime<Utc>,
) -> Result<Status> {
    let (id, name, why) = (a.p.id, &a.p.parameter_name, a.why);
    proposals::set_status(
        conn,
        id,
        Status::Reported,
        &format!("autonomy observe: reported only ({why})"),
        now,
    )?;
    notify_text(
        conn,
        notify,
        &format!("reported:{id}"),
        &format!(
            "Proposal #{id}: {name} {} -> {} ({why}); autonomy is observe, nothing applied. {}",
            a.p.current_value, a.value, a.evidence.summary
        ),
        now,
    )?;
    Ok(Status::Reported)
}

/// Applies a change without a human (tier 1, or tier 2 under autonomy `full`): history with
/// method `auto`, one notification; the rollback watch keeps an eye on it.
fn apply_auto(
    conn: &Connection,
    notify: &Notify,
    a: &Accepted<'_>,
    now: DateTime<Utc>,
) -> Result<Status> {
    let (id, name, value) = (a.p.id, &a.p.parameter_name, a.value);
    let reason = a.p.reason.clone().unwrap_or_else(|| a.why.to_string());
    let history_id = params::apply_change(
        conn,
        notify,
        &params::Change {
            name,
            new_value: value,
            reason: &reason,
            method: Method::Auto,
            proposal_id: Some(id),
            reverts_history_id: a.p.rollback_of,
            by: ADJUSTER,
        },
        now,
    )?;
    let decided = Decided {
        status: Status::Applied,
        reason: None,
        by: ADJUSTER,
        history_id: Some(history_id),
    };
    proposals::decide(conn, id, &decided, now)?;
    info!(proposal_id = id, parameter = %name, %value, history_id, why = a.why, "change applied automatically");
    Ok(Status::Applied)
}

fn request_approval(
    conn: &Connection,
    settings: &Settings,
    a: &Accepted<'_>,
    now: DateTime<Utc>,
) -> Result<Status> {
    let (id, name, value) = (a.p.id, &a.p.parameter_name, a.value);
    let nonce: String = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
    let expires_at = crate::time::hours_after(now, settings.adjust.approval_ttl_hours)?;
    proposals::request_approval(conn, id, &nonce, expires_at)?;
    let request = outbox::message::ApprovalRequest {
        proposal_id: id,
        nonce,
        parameter: name.clone(),
        current: params::parse_value(name, &a.p.current_value).ok(),
        proposed: Some(value),
        reason: a.p.reason.clone(),
        expected_impact: a.p.expected_impact.clone(),
        tier: a.tier,
        expires_at: Some(expires_at),
        rollback_of: a.p.rollback_of,
        replay: a.p.rollback_of.is_none().then(|| figures(a.evidence)),
        legacy_summary: None,
    };
    outbox::enqueue(
        conn,
        &settings.telegram.notify,
        &outbox::Message::Approval(request),
        Some(&format!("approval:{id}")),
        now,
    )?;
    info!(proposal_id = id, parameter = %name, %value, "approval requested");
    Ok(Status::AwaitingApproval)
}

/// The replay's figures for the approval message.
fn figures(e: &Evidence) -> outbox::message::ReplayFigures {
    outbox::message::ReplayFigures {
        days: e.days,
        judgeable: e.judgeable,
        why_not: e.why_not.clone(),
        difference: e.difference,
        trades_keeping: e.actual.n,
        trades_proposed: e.replayed.n,
        win_rate_keeping: e.actual.win_rate,
        win_rate_proposed: e.replayed.win_rate,
    }
}
