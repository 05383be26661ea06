//! Live trading parameters (`parameters`) and their audit trail (`parameter_history`).
//! Every change goes through [`apply_change`]: bounds checked, history written, notification
//! queued, all in the caller's transaction. Decides nothing about *whether* to change.

use std::str::FromStr;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::config::{Notify, Settings};
use crate::error::bad_input;
use crate::outbox::{self, message::ParameterChange, Message};
use crate::time::to_db;

/// The trader's confidence threshold: it takes a position only at or above it.
pub const CONFIDENCE_THRESHOLD: &str = "bot_confidence_threshold";
/// The trader's largest single position, in USDC.
pub const MAX_POSITION: &str = "bot_max_position_dollars";
/// The trader's largest share of the bankroll at risk at once.
pub const MAX_EXPOSURE: &str = "bot_max_exposure_fraction";

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Parameter {
    pub name: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub value: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub min: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub max: Decimal,
    pub description: Option<String>,
    pub updated_at: String,
}

fn dec(text: String) -> rusqlite::Result<Decimal> {
    Decimal::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

const SELECT: &str = "SELECT name, value, min, max, description, updated_at FROM parameters";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Parameter> {
    Ok(Parameter {
        name: r.get(0)?,
        value: dec(r.get(1)?)?,
        min: dec(r.get(2)?)?,
        max: dec(r.get(3)?)?,
        description: r.get(4)?,
        updated_at: r.get(5)?,
    })
}

pub fn list(conn: &Connection) -> Result<Vec<Parameter>> {
    let mut stmt = conn.prepare(&format!("{SELECT} ORDER BY name"))?;
    let rows = stmt
        .query_map([], row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub fn get(conn: &Connection, name: &str) -> Result<Option<Parameter>> {
    Ok(conn
        .query_row(&format!("{SELECT} WHERE name = ?1"), [name], row)
        .optional()?)
}

/// Makes the database's bounds follow the settings (the settings are the authority).
pub fn sync_bounds(conn: &Connection, settings: &Settings) -> Result<()> {
    for (name, b) in &settings.adjust.parameters {
        conn.execute(
            "UPDATE parameters SET min = ?1, max = ?2 WHERE name = ?3 AND (min <> ?1 OR max <> ?2)",
            params![b.min.to_string(), b.max.to_string(), name],
        )?;
    }
    Ok(())
}

/// Why `value` is not acceptable for `p`, if it isn't.
pub fn check_value(p: &Parameter, value: Decimal) -> std::result::Result<(), String> {
    if value < p.min || value > p.max {
        return Err(format!(
            "{} = {value} is outside its bounds [{}, {}]",
            p.name, p.min, p.max
        ));
    }
    Ok(())
}

/// Refuses a value off the parameter's configured step (an operator's `params set`: 0.755
/// where the step is 0.01), naming the step and the nearest allowed values. The adjuster's own
/// values are rounded to the step instead (`adjust::tiers`). Unknown names pass: the bounds
/// check names them.
pub fn check_step(settings: &Settings, name: &str, value: Decimal) -> Result<()> {
    let Some(step) = settings.adjust.parameters.get(name).map(|b| b.step) else {
        return Ok(());
    };
    let remainder = value.checked_rem(step);
    if remainder.is_some_and(|r| r.is_zero()) {
        return Ok(());
    }
    let lower = remainder.and_then(|r| value.checked_sub(r));
    let nearest = lower
        .zip(lower.and_then(|l| l.checked_add(step)))
        .map(|(l, u)| format!(" (nearest allowed: {} or {})", l.normalize(), u.normalize()))
        .unwrap_or_default();
    Err(bad_input(format!(
        "{name} = {value} is not a multiple of its step {step}{nearest}"
    )))
}

/// Parses a parameter value given as text, rejecting NaN, infinities and non-numbers.
/// Only JSON's number grammar passes (`1_000` and `+5` are refused, as in a decision).
pub fn parse_value(name: &str, text: &str) -> Result<Decimal> {
    let t = text.trim();
    let parsed = if !crate::decision::is_json_number(t) {
        Err(rust_decimal::Error::ConversionTo("decimal".into()))
    } else if t.contains(['e', 'E']) {
        Decimal::from_scientific(t)
    } else {
        Decimal::from_str_exact(t)
    };
    parsed.map_err(|_| bad_input(format!("{name}: {t:?} is not a decimal number")))
}

/// How a change was approved (`parameter_history.approval_method`, the column's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Auto,
    Telegram,
    Cli,
    Rollback,
    /// The parameters' first values (the column allows it; no change is made with it).
    Init,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::Telegram => "telegram",
            Method::Cli => "cli",
            Method::Rollback => "rollback",
            Method::Init => "init",
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl rusqlite::types::FromSql for Method {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        crate::config::from_word(value.as_str()?)
            .map_err(|e| rusqlite::types::FromSqlError::Other(Box::new(e)))
    }
}

/// A change to apply.
pub struct Change<'a> {
    pub name: &'a str,
    pub new_value: Decimal,
    pub reason: &'a str,
    pub method: Method,
    pub proposal_id: Option<i64>,
    pub reverts_history_id: Option<i64>,
    /// Who approved it (a Telegram user, `cli`, `adjust`).
    pub by: &'a str,
}

/// Applies a change in the caller's transaction: bounds checked, `parameters` updated,
/// one `parameter_history` row, one notification. Returns the history row id.
pub fn apply_change(
    conn: &Connection,
    notify: &Notify,
    change: &Change<'_>,
    now: DateTime<Utc>,
) -> Result<i64> {
    let p = get(conn, change.name)?
        .ok_or_else(|| bad_input(format!("unknown parameter {:?}", change.name)))?;
    check_value(&p, change.new_value).map_err(bad_input)?;
    conn.execute(
        "UPDATE parameters SET value = ?1, updated_at = ?2 WHERE name = ?3",
        params![change.new_value.to_string(), to_db(now), change.name],
    )?;
    conn.execute(
        "INSERT INTO parameter_history (timestamp, parameter_name, old_value, new_value, reason, approval_method, proposal_id, reverts_history_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            to_db(now),
            change.name,
            p.value.to_string(),
            change.new_value.to_string(),
            change.reason,
            change.method.as_str(),
            change.proposal_id,
            change.reverts_history_id
        ],
    )
    .context("writing parameter_history")?;
    let history_id = conn.last_insert_rowid();
    let note = ParameterChange {
        history_id,
        parameter: change.name.to_string(),
        old: p.value.to_string(),
        new: change.new_value.to_string(),
        reason: change.reason.to_string(),
        method: Some(change.method),
        proposal_id: change.proposal_id,
        by: change.by.to_string(),
    };
    let message = if change.method == Method::Rollback {
        Message::Rollback(note)
    } else {
        Message::Applied(note)
    };
    outbox::enqueue(
        conn,
        notify,
        &message,
        Some(&format!("param-change:{history_id}")),
        now,
    )?;
    Ok(history_id)
}

/// A row of `parameter_history`.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryRow {
    pub id: i64,
    pub timestamp: String,
    pub parameter_name: String,
    pub old_value: String,
    pub new_value: String,
    pub reason: String,
    pub approval_method: Method,
    pub proposal_id: Option<i64>,
    pub reverts_history_id: Option<i64>,
}

pub fn history(conn: &Connection, name: Option<&str>, limit: i64) -> Result<Vec<HistoryRow>> {
    let mut stmt = conn.prepare(
        "SELECT id, timestamp, parameter_name, old_value, new_value, reason, approval_method, proposal_id, reverts_history_id
         FROM parameter_history WHERE (?1 IS NULL OR parameter_name = ?1) ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![name, limit], |r| {
            Ok(HistoryRow {
                id: r.get(0)?,
                timestamp: r.get(1)?,
                parameter_name: r.get(2)?,
                old_value: r.get(3)?,
                new_value: r.get(4)?,
                reason: r.get(5)?,
                approval_method: r.get(6)?,
                proposal_id: r.get(7)?,
                reverts_history_id: r.get(8)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// What a rollback did.
#[derive(Debug, Clone, Serialize)]
pub struct RolledBack {
    pub history_id: i64,
    pub reverts_history_id: i64,
    pub parameter: String,
    pub from: String,
    pub to: String,
}

/// Undoes the change recorded in history row `history_id`: the parameter goes back to that
/// row's old value, recorded as a new history row (history is never deleted). Refused when
/// the parameter has changed since (undo the later change first) or the old value is now out
/// of bounds. Runs in its own transaction.
pub fn rollback(
    conn: &mut Connection,
    notify: &Notify,
    history_id: i64,
    reason: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<RolledBack> {
    let tx = crate::db::write_tx(conn)?;
    let (name, old_value, new_value): (String, String, String) = tx
        .query_row(
            "SELECT parameter_name, old_value, new_value FROM parameter_history WHERE id = ?1",
            [history_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?
        .ok_or_else(|| bad_input(format!("no parameter_history row #{history_id}")))?;
    let current = get(&tx, &name)?
        .ok_or_else(|| bad_input(format!("parameter {name:?} no longer exists")))?;
    let new_dec = parse_value(&name, &new_value)?;
    if current.value != new_dec {
        return Err(bad_input(format!(
            "{name} is now {} but change #{history_id} set it to {new_value}; it changed since, so undo the later change first",
            current.value
        )));
    }
    let target = parse_value(&name, &old_value)?;
    let change = Change {
        name: &name,
        new_value: target,
        reason,
        method: Method::Rollback,
        proposal_id: None,
        reverts_history_id: Some(history_id),
        by,
    };
    let new_id = apply_change(&tx, notify, &change, now)?;
    tx.commit()?;
    Ok(RolledBack {
        history_id: new_id,
        reverts_history_id: history_id,
        parameter: name,
        from: new_value,
        to: old_value,
    })
}
