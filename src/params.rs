//! Live trading parameters (`parameters`) and their audit trail (`parameter_history`).
//! Every change goes through [`apply_change`]: bounds checked, history written, notification
//! queued, all in the caller's transaction. Decides nothing about *whether* to change.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

use crate::config::{Notify, ParamBounds, Settings};
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

/// A parameter's row as it is stored, every column as text (what `sqlite3` shows), before any
/// check: a row edited by hand may hold anything.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub name: String,
    pub value: String,
    pub min: String,
    pub max: String,
    pub description: Option<String>,
    pub updated_at: String,
}

/// A stored parameter no reader may use: its value (or a bound) is not a decimal number, or the
/// value lies outside its bounds. Says which parameter, what it holds and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadParameter {
    pub name: String,
    /// What the column holds, quoted as text (control characters escaped, long values cut).
    pub holds: String,
    /// What is wrong with it.
    pub problem: String,
}

impl std::fmt::Display for BadParameter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "parameter {name} holds {holds}: fix it with polyperf params set {name} <value> ({problem})",
            name = self.name,
            holds = self.holds,
            problem = self.problem
        )
    }
}

impl std::error::Error for BadParameter {}

/// A stored value as an error message quotes it: `'abc'`, `''`, `'0.75 '`; at most 40
/// characters, control characters escaped.
fn quoted(text: &str) -> String {
    let mut shown: String = text.chars().take(40).flat_map(char::escape_debug).collect();
    if text.chars().nth(40).is_some() {
        shown.push('…');
    }
    format!("'{shown}'")
}

/// A stored parameter value: exactly a JSON number (what polyperf writes, or a plain number an
/// operator typed into sqlite3), nothing around it, that a Decimal holds. `abc`, `''`, `1e400`,
/// `0.75 ` and `NaN` are not.
pub fn parse_stored(text: &str) -> Option<Decimal> {
    if !crate::json::is_number(text) {
        return None;
    }
    if text.contains(['e', 'E']) {
        Decimal::from_scientific(text).ok()
    } else {
        Decimal::from_str_exact(text).ok()
    }
}

impl Stored {
    fn bad(&self, holds: &str, problem: String) -> BadParameter {
        BadParameter {
            name: self.name.clone(),
            holds: quoted(holds),
            problem,
        }
    }

    /// The bounds (min, max), if both are decimal numbers.
    fn bounds(&self) -> std::result::Result<(Decimal, Decimal), BadParameter> {
        let bound = |text: &str, which: &str| {
            parse_stored(text).ok_or_else(|| {
                self.bad(
                    text,
                    format!("its {which} bound {} is not a decimal number", quoted(text)),
                )
            })
        };
        Ok((bound(&self.min, "lower")?, bound(&self.max, "upper")?))
    }

    /// The parameter, if every column is one polyperf can use and the value lies within its
    /// bounds; else what is wrong, naming the parameter.
    pub fn check(&self) -> std::result::Result<Parameter, BadParameter> {
        let (min, max) = self.bounds()?;
        let value = parse_stored(&self.value).ok_or_else(|| {
            let problem = if crate::json::is_number(&self.value) {
                "a number past the range and precision a parameter holds"
            } else {
                "not a decimal number"
            };
            self.bad(&self.value, problem.into())
        })?;
        if value < min || value > max {
            return Err(self.bad(
                &self.value,
                format!("outside its bounds [{}, {}]", self.min, self.max),
            ));
        }
        Ok(Parameter {
            name: self.name.clone(),
            value,
            min,
            max,
            description: self.description.clone(),
            updated_at: self.updated_at.clone(),
        })
    }
}

const SELECT: &str = "SELECT name, value, min, max, description, updated_at FROM parameters";

/// A column as text, whatever a hand edit stored in it (a number, a blob, NULL).
fn text(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<String> {
    use rusqlite::types::ValueRef;
    Ok(match r.get_ref(i)? {
        ValueRef::Null => "NULL".into(),
        ValueRef::Integer(v) => v.to_string(),
        ValueRef::Real(v) => v.to_string(),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
        ValueRef::Blob(b) => format!("a blob of {} bytes", b.len()),
    })
}

fn stored_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Stored> {
    Ok(Stored {
        name: text(r, 0)?,
        value: text(r, 1)?,
        min: text(r, 2)?,
        max: text(r, 3)?,
        description: r.get::<_, Option<String>>(4).ok().flatten(),
        updated_at: text(r, 5)?,
    })
}

/// Every parameter as stored, by name, unchecked.
pub fn stored_all(conn: &Connection) -> Result<Vec<Stored>> {
    let mut stmt = conn.prepare(&format!("{SELECT} ORDER BY name"))?;
    let rows = stmt
        .query_map([], stored_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// One parameter as stored, unchecked (`params set` repairs what a reader refuses).
pub fn stored(conn: &Connection, name: &str) -> Result<Option<Stored>> {
    Ok(conn
        .query_row(&format!("{SELECT} WHERE name = ?1"), [name], stored_row)
        .optional()?)
}

/// Every parameter, checked one by one: a reader that can go on without some uses the good
/// ones and names the bad ones.
pub fn read_all(conn: &Connection) -> Result<Vec<std::result::Result<Parameter, BadParameter>>> {
    Ok(stored_all(conn)?.iter().map(Stored::check).collect())
}

/// The parameters that no reader may use, with why (for `status`).
pub fn problems(conn: &Connection) -> Result<Vec<BadParameter>> {
    Ok(read_all(conn)?
        .into_iter()
        .filter_map(|p| p.err())
        .collect())
}

/// Every parameter, checked; any bad one is bad input naming each bad parameter.
pub fn list(conn: &Connection) -> Result<Vec<Parameter>> {
    let (good, bad): (Vec<_>, Vec<_>) = read_all(conn)?.into_iter().partition(|p| p.is_ok());
    if !bad.is_empty() {
        let named: Vec<String> = bad
            .into_iter()
            .filter_map(|p| p.err())
            .map(|b| b.to_string())
            .collect();
        return Err(bad_input(named.join("; ")));
    }
    Ok(good.into_iter().filter_map(|p| p.ok()).collect())
}

/// One parameter, checked: a bad one is bad input naming it (see [`BadParameter`]).
pub fn get(conn: &Connection, name: &str) -> Result<Option<Parameter>> {
    match stored(conn, name)? {
        None => Ok(None),
        Some(s) => s
            .check()
            .map(Some)
            .map_err(|bad| bad_input(bad.to_string())),
    }
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
    parse_stored(t).ok_or_else(|| bad_input(format!("{name}: {t:?} is not a decimal number")))
}

use crate::kinds::Method;

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
    // Read as stored, unchecked: a value edited by hand into something no reader accepts is
    // exactly what a change repairs (its history row keeps what it held). The bounds must be
    // numbers (`params set` syncs them from the settings first).
    let stored = stored(conn, change.name)?
        .ok_or_else(|| bad_input(format!("unknown parameter {:?}", change.name)))?;
    let p = bounds_of(&stored)?;
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
            stored.value,
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
        old: parse_stored(&stored.value),
        new: Some(change.new_value),
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

/// The stored parameter with its bounds read, whatever its value holds (it is about to be
/// replaced). Bounds that are not numbers are bad input naming the parameter.
fn bounds_of(stored: &Stored) -> Result<Parameter> {
    let (min, max) = stored.bounds().map_err(|bad| bad_input(bad.to_string()))?;
    Ok(Parameter {
        name: stored.name.clone(),
        value: parse_stored(&stored.value).unwrap_or(min),
        min,
        max,
        description: stored.description.clone(),
        updated_at: stored.updated_at.clone(),
    })
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
                old_value: text(r, 3)?,
                new_value: text(r, 4)?,
                reason: text(r, 5)?,
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
            |r| Ok((text(r, 0)?, text(r, 1)?, text(r, 2)?)),
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
    let target = parse_stored(old_value.trim()).ok_or_else(|| {
        bad_input(format!(
            "change #{history_id} replaced {name}'s value {}, which is not a decimal number: it cannot be restored; set a value with polyperf params set {name} <value>",
            quoted(&old_value)
        ))
    })?;
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

/// Parses a proposed value as exact decimal text: NaN, infinities, junk, negatives and
/// values outside the bounds are refused with a reason; the result is rounded to the step.
pub fn validate_value(name: &str, text: &str, bounds: &ParamBounds) -> Result<Decimal, String> {
    let t = text.trim();
    let parsed = if t.contains(['e', 'E']) && !t.to_ascii_lowercase().contains("inf") {
        Decimal::from_scientific(t)
    } else {
        Decimal::from_str_exact(t)
    };
    let value =
        parsed.map_err(|_| format!("{name}: proposed value {t:?} is not a decimal number"))?;
    if value.is_sign_negative() && !value.is_zero() {
        return Err(format!("{name}: proposed value {value} is negative"));
    }
    if value < bounds.min || value > bounds.max {
        return Err(format!(
            "{name}: proposed value {value} is outside its bounds [{}, {}]",
            bounds.min, bounds.max
        ));
    }
    let rounded = round_to_step(value, bounds.step);
    // Rounding can only cross a bound that is not itself a multiple of the step.
    if rounded < bounds.min || rounded > bounds.max {
        return Err(format!(
            "{name}: proposed value {value} rounds to {rounded} (step {}), outside [{}, {}]",
            bounds.step, bounds.min, bounds.max
        ));
    }
    Ok(rounded)
}

/// Rounds `value` to the nearest multiple of `step` (halves away from zero), keeping the
/// step's number of decimal places.
/// A value too far from any multiple of the step to round (a quotient past what a Decimal
/// holds) comes back as it is, and the bounds check that follows judges it.
pub fn round_to_step(value: Decimal, step: Decimal) -> Decimal {
    if step <= Decimal::ZERO {
        return value;
    }
    let Some(units) = value
        .checked_div(step)
        .map(|u| u.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero))
    else {
        return value;
    };
    let Some(mut out) = units.checked_mul(step) else {
        return value;
    };
    out.rescale(step.scale());
    out
}

/// |new − old| / |old|; None when `old` is zero (a relative change is undefined) or the change
/// is past what a Decimal holds (a value stored by hand, e.g. 1e-28).
pub fn relative_change(old: Decimal, new: Decimal) -> Option<Decimal> {
    if old.is_zero() {
        return None;
    }
    Some(new.checked_sub(old)?.checked_div(old)?.abs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn stored(value: &str, min: &str, max: &str) -> Stored {
        Stored {
            name: CONFIDENCE_THRESHOLD.into(),
            value: value.into(),
            min: min.into(),
            max: max.into(),
            description: None,
            updated_at: "2026-02-11 10:30:00".into(),
        }
    }

    /// What an operator can type into sqlite3 (issue 23): each is named, with what it holds and
    /// the command that fixes it.
    #[test]
    fn hand_edited_values_are_named_with_their_fix() {
        let cases = [
            ("abc", "'abc'", "not a decimal number"),
            ("", "''", "not a decimal number"),
            (
                "1e400",
                "'1e400'",
                "a number past the range and precision a parameter holds",
            ),
            (
                "1.0e-28",
                "'1.0e-28'",
                "a number past the range and precision a parameter holds",
            ),
            ("0.75 ", "'0.75 '", "not a decimal number"),
            (" 0.75", "' 0.75'", "not a decimal number"),
            ("0.75\n", "'0.75\\n'", "not a decimal number"),
            ("NaN", "'NaN'", "not a decimal number"),
            ("+0.75", "'+0.75'", "not a decimal number"),
            ("0.99", "'0.99'", "outside its bounds [0.50, 0.95]"),
            ("1e-28", "'1e-28'", "outside its bounds [0.50, 0.95]"),
            ("-0.75", "'-0.75'", "outside its bounds [0.50, 0.95]"),
        ];
        for (value, holds, problem) in cases {
            let bad = stored(value, "0.50", "0.95").check().unwrap_err();
            assert_eq!(
                bad.to_string(),
                format!(
                    "parameter bot_confidence_threshold holds {holds}: fix it with polyperf params set bot_confidence_threshold <value> ({problem})"
                ),
                "{value:?}"
            );
        }
        let long = "9".repeat(100);
        let bad = stored(&long, "0.50", "0.95").check().unwrap_err();
        assert_eq!(bad.holds, format!("'{}…'", "9".repeat(40)));
        let bad = stored("0.75", "abc", "0.95").check().unwrap_err();
        assert!(bad.problem.contains("lower bound 'abc'"), "{bad}");
        for (value, want) in [
            ("0.75", "0.75"),
            ("0.5", "0.5"),
            ("0.95", "0.95"),
            ("7.5e-1", "0.75"),
        ] {
            let p = stored(value, "0.50", "0.95").check().unwrap();
            assert_eq!(p.value, Decimal::from_str_exact(want).unwrap(), "{value}");
        }
    }

    proptest! {
        /// Whatever a column holds, reading it never panics: a parameter comes back within its
        /// bounds, or named as bad.
        #[test]
        fn any_stored_text_is_checked_without_panic(
            value in prop_oneof![
                any::<String>(),
                "-?[0-9]{0,32}(\\.[0-9]{0,32})?([eE][-+]?[0-9]{0,12})?",
            ],
            min in prop_oneof![Just("0.50".to_string()), "-?[0-9]{0,30}(\\.[0-9]{0,3})?([eE]-?[0-9]{1,4})?"],
            max in prop_oneof![Just("0.95".to_string()), "-?[0-9]{0,30}(\\.[0-9]{0,3})?([eE]-?[0-9]{1,4})?"],
        ) {
            match stored(&value, &min, &max).check() {
                Ok(p) => prop_assert!(p.min <= p.value && p.value <= p.max),
                Err(bad) => {
                    prop_assert_eq!(&bad.name, CONFIDENCE_THRESHOLD);
                    prop_assert!(bad.to_string().contains("fix it with polyperf params set"));
                }
            }
        }
    }

    #[test]
    fn values_are_validated_and_rounded() {
        let b = ParamBounds {
            min: d("0.50"),
            max: d("0.95"),
            step: d("0.01"),
        };
        let ok = [
            ("0.78", "0.78"),
            ("0.784", "0.78"),
            ("0.785", "0.79"),
            (" 0.8 ", "0.80"),
            ("0.50", "0.50"),
            ("0.95", "0.95"),
            ("7.8e-1", "0.78"),
        ];
        for (text, want) in ok {
            let v = validate_value("p", text, &b).unwrap();
            assert_eq!(v.to_string(), want, "{text}");
        }
        let bad = [
            ("NaN", "not a decimal"),
            ("nan", "not a decimal"),
            ("inf", "not a decimal"),
            ("-inf", "not a decimal"),
            ("Infinity", "not a decimal"),
            ("", "not a decimal"),
            ("0.8abc", "not a decimal"),
            ("1e400", "not a decimal"),
            ("-0.8", "negative"),
            ("0.96", "outside its bounds"),
            ("0.49", "outside its bounds"),
            ("0.4999", "outside its bounds"),
        ];
        for (text, why) in bad {
            let err = validate_value("p", text, &b).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn rounding_to_step() {
        let cases = [
            ("12.345", "0.01", "12.35"),
            ("12.344", "0.01", "12.34"),
            ("7", "0.5", "7.0"),
            ("7.26", "0.5", "7.5"),
            ("7.24", "0.5", "7.0"),
            ("3", "1", "3"),
            // Too far from any multiple to divide: returned as it is, for the bounds to judge.
            (
                "79228162514264337593543950335",
                "0.01",
                "79228162514264337593543950335",
            ),
        ];
        for (v, step, want) in cases {
            assert_eq!(
                round_to_step(d(v), d(step)).to_string(),
                want,
                "{v} by {step}"
            );
        }
    }
}
