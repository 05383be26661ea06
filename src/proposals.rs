//! The `proposals` table: parameter changes proposed by a reflection or by the rollback watch,
//! and what became of them. Every statement on the table is here; callers get typed rows and
//! the [`Status`] vocabulary. The adjuster decides what happens to a pending proposal; what
//! every path that acts on one shares is here too: the checks against the live parameter
//! ([`check`]), expiry and supersession with their notices, and a human's verdict
//! ([`apply_verdict`], for Telegram's buttons and `polyperf proposals approve|reject`).

use chrono::{DateTime, Utc};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use anyhow::Result;

use crate::config::Notify;
use crate::outbox::{self, Message};
use crate::time::to_db;

pub mod check;
mod verdict;

pub use verdict::{apply_verdict, DecideOutcome, Request, Verdict};

/// Where a proposal stands (`proposals.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for the adjuster.
    Pending,
    /// Tier 2: sent for a human's approval.
    AwaitingApproval,
    Applied,
    Rejected,
    /// No decision before the approval request expired.
    Expired,
    /// The parameter changed after the proposal was made.
    Superseded,
    /// Autonomy `observe`: assessed and reported, never applied.
    Reported,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Pending,
        Status::AwaitingApproval,
        Status::Applied,
        Status::Rejected,
        Status::Expired,
        Status::Superseded,
        Status::Reported,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::AwaitingApproval => "awaiting_approval",
            Status::Applied => "applied",
            Status::Rejected => "rejected",
            Status::Expired => "expired",
            Status::Superseded => "superseded",
            Status::Reported => "reported",
        }
    }

    /// The status of its stored name (the table's CHECK constraint allows no other).
    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ToSql for Status {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for Status {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        Status::parse(text)
            .ok_or_else(|| FromSqlError::Other(format!("unknown proposal status {text:?}").into()))
    }
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
    pub status: Status,
    pub status_reason: Option<String>,
    pub evidence: Option<serde_json::Value>,
    pub nonce: Option<String>,
    pub expires_at: Option<String>,
    pub decided_at: Option<String>,
    pub decided_by: Option<String>,
    pub history_id: Option<i64>,
    pub rollback_of: Option<i64>,
}

const SELECT: &str =
    "SELECT id, created_at, reflection_id, parameter_name, current_value, proposed_value, reason,
        expected_impact, suggested_tier, tier, status, status_reason, evidence, nonce, expires_at,
        decided_at, decided_by, history_id, rollback_of FROM proposals";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Proposal> {
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

fn select(conn: &Connection, filter: &str, params: impl rusqlite::Params) -> Result<Vec<Proposal>> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} {filter}"))?;
    let rows = stmt
        .query_map(params, row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<Proposal>> {
    Ok(conn
        .query_row(&format!("{SELECT} WHERE id = ?1"), [id], row)
        .optional()?)
}

/// The newest proposals first.
pub fn list(conn: &Connection, limit: i64) -> Result<Vec<Proposal>> {
    select(conn, "ORDER BY id DESC LIMIT ?1", [limit])
}

/// The proposals with `status`, oldest first.
pub fn with_status(conn: &Connection, status: Status) -> Result<Vec<Proposal>> {
    select(conn, "WHERE status = ?1 ORDER BY id", [status])
}

/// Pending rollback proposals (the rollback watch's), oldest first.
pub fn pending_rollbacks(conn: &Connection) -> Result<Vec<Proposal>> {
    select(
        conn,
        "WHERE status = ?1 AND rollback_of IS NOT NULL ORDER BY id",
        [Status::Pending],
    )
}

/// Approval requests whose `expires_at` is `now` or earlier, oldest first.
pub fn expired_requests(conn: &Connection, now: DateTime<Utc>) -> Result<Vec<Proposal>> {
    select(
        conn,
        "WHERE status = ?1 AND expires_at <= ?2 ORDER BY id",
        params![Status::AwaitingApproval, to_db(now)],
    )
}

/// The proposals a reflection made, in order.
pub fn of_reflection(conn: &Connection, reflection_id: i64) -> Result<Vec<Proposal>> {
    select(
        conn,
        "WHERE reflection_id = ?1 ORDER BY id",
        [reflection_id],
    )
}

/// How many proposals have `status`.
pub fn count(conn: &Connection, status: Status) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT count(*) FROM proposals WHERE status = ?1",
        [status],
        |r| r.get(0),
    )?)
}

/// Whether a rollback of the parameter change `history_id` was already proposed.
pub fn rollback_proposed(conn: &Connection, history_id: i64) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM proposals WHERE rollback_of = ?1)",
        [history_id],
        |r| r.get(0),
    )?)
}

/// A proposal to record (status `pending`).
#[derive(Debug, Clone, Default)]
pub struct New<'a> {
    pub reflection_id: Option<i64>,
    pub parameter: &'a str,
    pub current_value: String,
    pub proposed_value: String,
    pub reason: Option<String>,
    pub expected_impact: Option<String>,
    /// What the model said; information only.
    pub suggested_tier: Option<i64>,
    pub evidence: Option<serde_json::Value>,
    /// The parameter change a rollback proposal undoes.
    pub rollback_of: Option<i64>,
}

/// Records a pending proposal; returns its id.
pub fn insert(conn: &Connection, p: &New<'_>, now: DateTime<Utc>) -> Result<i64> {
    conn.execute(
        "INSERT INTO proposals (created_at, reflection_id, parameter_name, current_value,
             proposed_value, reason, expected_impact, suggested_tier, status, evidence, rollback_of)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            to_db(now),
            p.reflection_id,
            p.parameter,
            p.current_value,
            p.proposed_value,
            p.reason,
            p.expected_impact,
            p.suggested_tier,
            Status::Pending,
            p.evidence.as_ref().map(|e| e.to_string()),
            p.rollback_of,
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The adjuster's assessment: the tier it decided, the replay evidence and why.
pub fn record_assessment(
    conn: &Connection,
    id: i64,
    tier: Option<i64>,
    evidence: &serde_json::Value,
    why: &str,
) -> Result<()> {
    conn.execute(
        "UPDATE proposals SET tier = ?1, evidence = ?2, status_reason = ?3 WHERE id = ?4",
        params![tier, evidence.to_string(), why, id],
    )?;
    Ok(())
}

/// A status change with its reason; `decided_at` keeps the first decision's time.
pub fn set_status(
    conn: &Connection,
    id: i64,
    status: Status,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.execute(
        "UPDATE proposals SET status = ?1, status_reason = ?2, decided_at = coalesce(decided_at, ?3)
         WHERE id = ?4",
        params![status, reason, to_db(now), id],
    )?;
    Ok(())
}

/// A decision on a proposal: who made it, the new status and (when given) why, and the
/// parameter change that applied it.
#[derive(Debug, Clone, Copy)]
pub struct Decided<'a> {
    pub status: Status,
    /// None keeps the status reason recorded so far (the assessment's).
    pub reason: Option<&'a str>,
    pub by: &'a str,
    pub history_id: Option<i64>,
}

pub fn decide(conn: &Connection, id: i64, d: &Decided<'_>, now: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "UPDATE proposals SET status = ?1, status_reason = coalesce(?2, status_reason),
             decided_at = ?3, decided_by = ?4, history_id = coalesce(?5, history_id)
         WHERE id = ?6",
        params![d.status, d.reason, to_db(now), d.by, d.history_id, id],
    )?;
    Ok(())
}

/// Tier 2: the proposal awaits a human, whose buttons carry `nonce`, until `expires_at`.
pub fn request_approval(
    conn: &Connection,
    id: i64,
    nonce: &str,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    conn.execute(
        "UPDATE proposals SET status = ?1, nonce = ?2, expires_at = ?3 WHERE id = ?4",
        params![Status::AwaitingApproval, nonce, to_db(expires_at), id],
    )?;
    Ok(())
}

/// An approval request that got no decision in time becomes `expired`, with a notice.
pub fn expire(
    conn: &Connection,
    notify: &Notify,
    id: i64,
    name: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let why = "no decision before the approval expired";
    set_status(conn, id, Status::Expired, why, now)?;
    let text = format!("Proposal #{id} ({name}) expired without a decision; nothing was changed.");
    let key = format!("expired:{id}");
    outbox::enqueue(conn, notify, &Message::text(text), Some(&key), now)?;
    tracing::info!(
        proposal_id = id,
        parameter = name,
        "approval request expired"
    );
    Ok(())
}

/// A proposal whose parameter changed since it was made becomes `superseded` (why), with a
/// notice.
pub fn supersede(
    conn: &Connection,
    notify: &Notify,
    id: i64,
    name: &str,
    why: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    set_status(conn, id, Status::Superseded, why, now)?;
    let text = format!("Proposal #{id} ({name}) is superseded: {why}.");
    let key = format!("superseded:{id}");
    outbox::enqueue(conn, notify, &Message::text(text), Some(&key), now)?;
    tracing::info!(
        proposal_id = id,
        parameter = name,
        why,
        "proposal superseded"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_names() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::json!(status.as_str())
            );
        }
        assert_eq!(Status::parse("approved"), None);
    }
}
