//! The settlement lag alert: while decisions stay pending `settlement.alert_lag_hours` (one
//! by default) after their window ended (official results normally arrive within minutes, so an hour is
//! already an outage), ONE `settlement_lag` message says how many, the oldest window and why:
//! "1,234 decisions unsettled for over 1 h (oldest window 10:15–10:30 UTC); Gamma: connection
//! refused". While it waits to be sent it is updated in place; once sent it is repeated every
//! [`REPEAT_HOURS`] while the lag lasts; a line says when it clears. The state lives in
//! `settlement_state` (`lag_alert`), so reruns never repeat it early.

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::config::Notify;
use crate::outbox::{self, message::SettlementLag, Message};
use crate::time::{from_db, to_db};

/// How often a lasting lag is announced again once its alert was sent.
pub(super) const REPEAT_HOURS: i64 = 6;

const STATE_KEY: &str = "lag_alert";

/// What the lag alert needs to know of the run.
pub(super) struct LagCheck<'a> {
    pub notify: &'a Notify,
    pub lag_hours: u32,
    /// Windows that ended before this lag.
    pub cutoff: DateTime<Utc>,
    pub now: DateTime<Utc>,
    /// One line per source that failed this run.
    pub causes: Vec<String>,
}

/// The alert's state between runs.
#[derive(Debug, Serialize, Deserialize)]
struct State {
    /// When the lag was first announced.
    since: String,
    /// When an alert was last queued.
    alerted_at: String,
    /// Its outbox row, updated in place while it waits.
    outbox_id: Option<i64>,
}

/// Counts the lagging decisions and queues, updates, repeats or clears the one alert, in one
/// transaction. Returns how many decisions lag.
pub(super) fn alert_lagging(conn: &mut Connection, check: &LagCheck<'_>) -> Result<u64> {
    let tx = crate::db::write_tx(conn)?;
    let (n, oldest_start, oldest_end) = crate::trades::lagging(&tx, check.cutoff)?;
    let state: Option<State> = read_state(&tx)?;
    let message = |cleared: bool, oldest_start: Option<String>| {
        Message::SettlementLag(SettlementLag {
            unsettled: n,
            lag_hours: check.lag_hours,
            oldest_window_start: oldest_start.as_deref().and_then(|t| from_db(t).ok()),
            oldest_window_end: oldest_end.as_deref().and_then(|t| from_db(t).ok()),
            causes: check.causes.clone(),
            at: check.now,
            cleared,
            ..SettlementLag::default()
        })
    };
    match (n > 0, state) {
        (false, None) => {}
        (false, Some(_)) => {
            outbox::enqueue(&tx, check.notify, &message(true, None), None, check.now)?;
            tx.execute(
                "DELETE FROM settlement_state WHERE key = ?1",
                params![STATE_KEY],
            )?;
            tracing::info!("no decision lags any more");
        }
        (true, state) => {
            let alert = message(false, oldest_start);
            let next = announce(&tx, check, state, &alert)?;
            write_state(&tx, &next, check.now)?;
            tracing::warn!(
                n_lagging = n,
                oldest_window_end = oldest_end.as_deref().unwrap_or_default(),
                "decisions still unsettled long after their window"
            );
        }
    }
    tx.commit()?;
    Ok(n)
}

/// Queues the alert when there is none yet or the last one was sent [`REPEAT_HOURS`] ago;
/// updates it in place while it still waits. Returns the state to keep.
fn announce(
    conn: &Connection,
    check: &LagCheck<'_>,
    state: Option<State>,
    alert: &Message,
) -> Result<State> {
    let now = to_db(check.now);
    let Some(state) = state else {
        let outbox_id = outbox::enqueue_row(conn, check.notify, alert, None, check.now)?;
        return Ok(State {
            since: now.clone(),
            alerted_at: now,
            outbox_id,
        });
    };
    if let Some(id) = state.outbox_id {
        if outbox::replace_pending(conn, id, alert)? {
            return Ok(state);
        }
    }
    let last = from_db(&state.alerted_at).unwrap_or(DateTime::<Utc>::MIN_UTC);
    let due = last
        .checked_add_signed(Duration::hours(REPEAT_HOURS))
        .is_none_or(|at| check.now >= at);
    if !due {
        return Ok(State {
            outbox_id: None,
            ..state
        });
    }
    let outbox_id = outbox::enqueue_row(conn, check.notify, alert, None, check.now)?;
    Ok(State {
        since: state.since,
        alerted_at: now,
        outbox_id,
    })
}

fn read_state(conn: &Connection) -> Result<Option<State>> {
    let value: Option<String> = conn
        .prepare_cached("SELECT value FROM settlement_state WHERE key = ?1")?
        .query_row(params![STATE_KEY], |r| r.get(0))
        .optional()?;
    // A state that cannot be read (edited by hand) is as good as none: a fresh alert.
    Ok(value.and_then(|v| serde_json::from_str(&v).ok()))
}

fn write_state(conn: &Connection, state: &State, now: DateTime<Utc>) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO settlement_state (key, value, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )?
    .execute(params![
        STATE_KEY,
        serde_json::to_string(state)?,
        to_db(now)
    ])?;
    Ok(())
}
