//! A human's verdict on a proposal awaiting approval (Telegram buttons and commands, `polyperf
//! proposals approve|reject`). An approval makes the same checks against the live parameter as
//! the adjuster's assessment ([`super::assess::check`]).

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::{Serialize, Serializer};
use tracing::info;

use super::check::{check, Check};
use super::{expire, supersede, Decided, Proposal, Status};
use crate::config::{Notification, Notify, Settings};
use crate::kinds::Method;
use crate::outbox::{self, Message};
use crate::params;
use crate::time::from_db;

/// A human's verdict on a proposal awaiting approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Approve,
    Reject,
}

/// A verdict as it arrives: for which proposal, from whom and how.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub proposal_id: i64,
    /// The nonce of the button pressed, which must be the proposal's current one; None for a
    /// command.
    pub nonce: Option<&'a str>,
    pub verdict: Verdict,
    pub by: &'a str,
    pub method: Method,
}

/// What [`apply_verdict`] did.
#[derive(Debug, Clone, Serialize)]
pub struct DecideOutcome {
    pub proposal_id: i64,
    /// The proposal's status afterwards (`applied`, `rejected`, or unchanged); None (`unknown`)
    /// when there is no such proposal.
    #[serde(serialize_with = "status_or_unknown")]
    pub status: Option<Status>,
    /// Whether anything changed.
    pub changed: bool,
    /// One line for the human: what happened, or why nothing did.
    pub message: String,
}

fn status_or_unknown<S: Serializer>(status: &Option<Status>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(status.map_or("unknown", Status::as_str))
}

impl DecideOutcome {
    fn new(request: &Request<'_>, status: Option<Status>, changed: bool, message: String) -> Self {
        DecideOutcome {
            proposal_id: request.proposal_id,
            status,
            changed,
            message,
        }
    }
}

/// Where the notes a verdict queues go. A verdict typed in the chat (`/approve 12`: Telegram,
/// no button's nonce) is answered there by the reply, so its notes (applied, rejected, expired,
/// superseded) are not queued to say it a second time. A button press keeps them: the message
/// it edits may be far up the chat. A verdict from the CLI is news to the chat.
fn notes_for(notify: &Notify, request: &Request<'_>) -> Notify {
    match (request.method, request.nonce) {
        (Method::Telegram, None) => Notify {
            approval: Notification::Off,
            alert: Notification::Off,
            ..*notify
        },
        _ => *notify,
    }
}

/// Approves or rejects a proposal. A proposal already decided, expired, superseded or unknown
/// changes nothing and says why. One transaction; an approval re-checks the bounds and that the
/// live value is still the proposal's `current_value` (else the proposal is superseded).
pub fn apply_verdict(
    conn: &mut Connection,
    settings: &Settings,
    request: &Request<'_>,
    now: DateTime<Utc>,
) -> Result<DecideOutcome> {
    let id = request.proposal_id;
    let notify = notes_for(&settings.telegram.notify, request);
    let tx = crate::db::write_tx(conn)?;
    let Some(p) = super::get(&tx, id)? else {
        let message = format!("there is no proposal #{id}");
        return Ok(DecideOutcome::new(request, None, false, message));
    };
    let unchanged = |message: String| DecideOutcome::new(request, Some(p.status), false, message);
    if request
        .nonce
        .is_some_and(|given| p.nonce.as_deref() != Some(given))
    {
        return Ok(unchanged(format!(
            "this button does not belong to proposal #{id}'s current request; nothing changed"
        )));
    }
    if p.status != Status::AwaitingApproval {
        return Ok(unchanged(not_awaiting(&p)));
    }
    let expired = p
        .expires_at
        .as_deref()
        .and_then(|t| from_db(t).ok())
        .is_some_and(|t| t <= now);
    if expired {
        expire(&tx, &notify, id, &p.parameter_name, now)?;
        tx.commit()?;
        let message = format!(
            "proposal #{id} expired at {}; nothing changed",
            p.expires_at.as_deref().unwrap_or_default()
        );
        return Ok(DecideOutcome::new(
            request,
            Some(Status::Expired),
            false,
            message,
        ));
    }
    match request.verdict {
        Verdict::Reject => reject(tx, &notify, &p, request, now),
        Verdict::Approve => approve(tx, settings, &notify, &p, request, now),
    }
}

/// Why a proposal that is not awaiting approval cannot be decided.
fn not_awaiting(p: &Proposal) -> String {
    let id = p.id;
    let when = p.decided_at.as_deref().unwrap_or("earlier");
    let by = p.decided_by.as_deref().unwrap_or("?");
    match p.status {
        Status::Applied => format!("proposal #{id} was already applied ({when}, by {by})"),
        Status::Rejected => format!("proposal #{id} was already rejected ({when}, by {by})"),
        Status::Expired => format!(
            "proposal #{id} expired at {}; nothing changed",
            p.expires_at.as_deref().unwrap_or(when)
        ),
        Status::Superseded => format!(
            "proposal #{id} is superseded: {}",
            p.status_reason
                .as_deref()
                .unwrap_or("the parameter changed")
        ),
        other => {
            format!("proposal #{id} is {other}, not awaiting approval; nothing changed")
        }
    }
}

fn reject(
    tx: rusqlite::Transaction<'_>,
    notify: &Notify,
    p: &Proposal,
    request: &Request<'_>,
    now: DateTime<Utc>,
) -> Result<DecideOutcome> {
    let (id, name, by) = (p.id, &p.parameter_name, request.by);
    let reason = format!("rejected by {by} via {}", request.method.as_str());
    let decided = Decided {
        status: Status::Rejected,
        reason: Some(&reason),
        by,
        history_id: None,
    };
    super::decide(&tx, id, &decided, now)?;
    let text = format!("Proposal #{id} ({name}) rejected by {by}; nothing changed.");
    let key = format!("decided:{id}");
    outbox::enqueue(&tx, notify, &Message::text(text), Some(&key), now)?;
    tx.commit()?;
    info!(proposal_id = id, by, "proposal rejected by a human");
    let message = format!("proposal #{id} rejected; {name} unchanged");
    Ok(DecideOutcome::new(
        request,
        Some(Status::Rejected),
        true,
        message,
    ))
}

fn approve(
    tx: rusqlite::Transaction<'_>,
    settings: &Settings,
    notify: &Notify,
    p: &Proposal,
    request: &Request<'_>,
    now: DateTime<Utc>,
) -> Result<DecideOutcome> {
    let (id, name, by) = (p.id, &p.parameter_name, request.by);
    let unchanged = |message: String| DecideOutcome::new(request, Some(p.status), false, message);
    if !settings.adjust.autonomy.applies_changes() {
        return Ok(unchanged(
            "autonomy is observe: nothing is applied, not even with approval".into(),
        ));
    }
    params::sync_bounds(&tx, settings)?;
    let check = check(&tx, settings, p)?;
    if let Some(why) = check.stale_reason(name, &p.current_value) {
        supersede(&tx, notify, id, name, &why, now)?;
        tx.commit()?;
        let message = format!("proposal #{id} is superseded: {why}; nothing applied");
        return Ok(DecideOutcome::new(
            request,
            Some(Status::Superseded),
            true,
            message,
        ));
    }
    let (live, value) = match check {
        Check::Valid { live, value, .. } => (live, value),
        Check::Invalid(why) => return Ok(unchanged(format!("cannot apply proposal #{id}: {why}"))),
        Check::Unreadable(bad) => {
            return Ok(unchanged(format!(
                "cannot apply proposal #{id}: {bad}; nothing applied"
            )))
        }
        _ => {
            return Ok(unchanged(format!(
                "unknown parameter {name:?}; nothing applied"
            )))
        }
    };
    let reason = p
        .reason
        .clone()
        .unwrap_or_else(|| format!("proposal #{id}"));
    let history_id = params::apply_change(
        &tx,
        notify,
        &params::Change {
            name,
            new_value: value,
            reason: &reason,
            method: request.method,
            proposal_id: Some(id),
            reverts_history_id: p.rollback_of,
            by,
        },
        now,
    )?;
    let why = format!("approved by {by} via {}", request.method.as_str());
    let decided = Decided {
        status: Status::Applied,
        reason: Some(&why),
        by,
        history_id: Some(history_id),
    };
    super::decide(&tx, id, &decided, now)?;
    tx.commit()?;
    info!(
        proposal_id = id,
        by, history_id, "proposal approved and applied"
    );
    let message = format!(
        "proposal #{id} applied: {name} {} -> {value} (history #{history_id})",
        live.value
    );
    Ok(DecideOutcome::new(
        request,
        Some(Status::Applied),
        true,
        message,
    ))
}
