//! Settled decisions over time, as the jobs that judge them read them: the metrics' window,
//! the reflection's week, the decisions no reflection covers yet and its triggers, the
//! adjuster's guard, replay and rollback watch, the walk-forward evaluation's rows, `status`'
//! counts, and the market slugs pending decisions still need. Reads only.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use rust_decimal::Decimal;

use super::row::{columns, scored_columns, Scored, Trade};
use crate::db::money_for_sums;
use crate::time::to_db;

/// Live rows decided in a window (settled and pending, never unsettleable). Both bounds are
/// always bound (open ends as '' and '9999'), so the range uses `idx_trades_timestamp` and the
/// rows come in time order without a sort.
pub const IN_WINDOW: &str = concat!(
    "SELECT ",
    scored_columns!(),
    " FROM trades
     WHERE timestamp >= ?1 AND timestamp < ?2 AND settlement_status IN ('settled', 'pending')
     ORDER BY timestamp, id"
);

/// The newest settled positions (id, lost, covered by a reflection), newest first.
pub const RECENT_POSITIONS: &str = concat!(
    "SELECT t.id, t.is_win = 0,
            EXISTS (SELECT 1 FROM reflection_trades rt WHERE rt.trade_id = t.id)
     FROM trades t
     WHERE ",
    super::settled_position!(),
    " ORDER BY t.settled_at DESC, t.id DESC LIMIT ?1"
);

/// The newest settled positions' win flags in (?1, ?2], newest first, at most ?3.
pub const RECENT_WINS: &str = concat!(
    "SELECT is_win FROM trades WHERE ",
    super::settled_position!(),
    " AND timestamp > ?1 AND timestamp <= ?2 ORDER BY timestamp DESC, id DESC LIMIT ?3"
);

/// The market slugs pending decisions refer to: a market's cached facts are still needed
/// while one does (a subquery the markets' pruning excludes).
macro_rules! pending_market_slugs {
    () => {
        "SELECT market_slug FROM trades WHERE settlement_status = 'pending'"
    };
}
pub(crate) use pending_market_slugs;

/// Calls `each` with every live row decided in `[from, to)` (stored-time text; '' and '9999'
/// for open ends), in time order: what the metrics fold.
pub fn each_in_window(
    conn: &Connection,
    (from, to): (&str, &str),
    mut each: impl FnMut(&Scored),
) -> Result<()> {
    let mut stmt = conn.prepare_cached(IN_WINDOW)?;
    let mut rows = stmt.query(params![from, to])?;
    while let Some(r) = rows.next()? {
        each(&Scored::read(r, 0)?);
    }
    Ok(())
}

/// Settled decisions made in `[since, until]`, as the readers that add rows up take them
/// ([`Trade::for_sums`]): the reflection's week.
pub fn settled_between(
    conn: &Connection,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<Trade>> {
    let mut stmt = conn.prepare_cached(concat!(
        "SELECT ",
        columns!(),
        " FROM trades WHERE ",
        super::settled!(),
        " AND timestamp >= ?1 AND timestamp <= ?2"
    ))?;
    let rows = stmt
        .query_map(params![to_db(since), to_db(until)], |r| {
            Ok(Trade::read(r, 0)?.for_sums())
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Settled decisions no reflection covers yet, by (settled_at, id), and how many of them are
/// positions with a result (what the reflection's `10_trades` trigger counts).
pub fn uncovered(conn: &Connection) -> Result<(Vec<i64>, usize)> {
    let mut stmt = conn.prepare_cached(concat!(
        "SELECT t.id, ",
        super::settled_position!(),
        " FROM trades t WHERE ",
        super::settled!(),
        " AND NOT EXISTS (SELECT 1 FROM reflection_trades rt WHERE rt.trade_id = t.id)
         ORDER BY t.settled_at, t.id"
    ))?;
    let mut ids = Vec::new();
    let mut n_positions = 0;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        ids.push(r.get(0)?);
        n_positions += usize::from(r.get::<_, bool>(1)?);
    }
    Ok((ids, n_positions))
}

/// The uncovered settled decisions among `wanted` (one pass over those no reflection
/// covers yet), as the readers that add rows up take them.
pub fn uncovered_among(
    conn: &Connection,
    wanted: &std::collections::HashSet<i64>,
) -> Result<Vec<Trade>> {
    let mut stmt = conn.prepare_cached(concat!(
        "SELECT ",
        columns!(),
        " FROM trades t WHERE ",
        super::settled!(),
        " AND NOT EXISTS (SELECT 1 FROM reflection_trades rt WHERE rt.trade_id = t.id)"
    ))?;
    let mut found = Vec::with_capacity(wanted.len());
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        if wanted.contains(&r.get::<_, i64>(0)?) {
            found.push(Trade::read(r, 0)?.for_sums());
        }
    }
    Ok(found)
}

/// The newest `limit` settled positions: (id, (lost, covered by a reflection)).
pub fn recent_positions(conn: &Connection, limit: u32) -> Result<Vec<(i64, (bool, bool))>> {
    let mut stmt = conn.prepare_cached(RECENT_POSITIONS)?;
    let rows = stmt
        .query_map([limit], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                (r.get::<_, Option<bool>>(1)?.unwrap_or(false), r.get(2)?),
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// The trades `ids` that are still there, in that order (archived ones are left out), as the
/// readers that add rows up take them.
pub fn by_ids(conn: &Connection, ids: &[i64]) -> Result<Vec<Trade>> {
    let mut stmt =
        conn.prepare_cached(concat!("SELECT ", columns!(), " FROM trades WHERE id = ?1"))?;
    let mut found = Vec::with_capacity(ids.len());
    for id in ids {
        match stmt.query_row([id], |r| Trade::read(r, 0)) {
            Ok(t) => found.push(t.for_sums()),
            Err(rusqlite::Error::QueryReturnedNoRows) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(found)
}

/// The win flags of the newest `limit` settled positions decided in `(after, until]`,
/// newest first (the adjuster's guard).
pub fn recent_wins(conn: &Connection, after: &str, until: &str, limit: u32) -> Result<Vec<bool>> {
    let mut stmt = conn.prepare_cached(RECENT_WINS)?;
    let rows = stmt
        .query_map(params![after, until, limit], |r| r.get::<_, i64>(0))?
        .map(|r| r.map(|w| w != 0))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The P&L of every settled position decided in `(after, until]`, in time order (the
/// adjuster's guard sums them exactly). One that is not a number (a hand edit) is left out,
/// as a missing one is.
pub fn pnls_between(conn: &Connection, after: &str, until: &str) -> Result<Vec<Decimal>> {
    let mut stmt = conn.prepare_cached(concat!(
        "SELECT profit_loss FROM trades WHERE ",
        super::settled_position!(),
        " AND timestamp > ?1 AND timestamp <= ?2 ORDER BY timestamp, id"
    ))?;
    let pnls = stmt
        .query_map(params![after, until], |r| Ok(money_for_sums(r.get_ref(0)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(pnls.into_iter().flatten().collect())
}

/// Which side of a parameter change the rollback watch samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Decided at or after the change, up to now.
    After,
    /// Decided before the change.
    Before,
}

/// The newest `n` settled positions with a P&L on one side of the change at `at` (up to
/// `now`): (P&L, won, stake), newest first. A P&L that is not a number is left out.
pub fn positions_beside(
    conn: &Connection,
    side: Side,
    (at, now): (&str, &str),
    n: u32,
) -> Result<Vec<(Decimal, bool, Decimal)>> {
    let sql = match side {
        Side::After => concat!(
            "SELECT profit_loss, is_win, position_size FROM trades WHERE ",
            super::settled_position_with_pnl!(),
            " AND timestamp >= ?1 AND timestamp <= ?2 ORDER BY timestamp DESC, id DESC LIMIT ?3"
        ),
        Side::Before => concat!(
            "SELECT profit_loss, is_win, position_size FROM trades WHERE ",
            super::settled_position_with_pnl!(),
            " AND timestamp < ?1 AND ?2 = ?2 ORDER BY timestamp DESC, id DESC LIMIT ?3"
        ),
    };
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt
        .query_map(params![at, now, n], |r| {
            Ok((
                money_for_sums(r.get_ref(0)?),
                r.get::<_, i64>(1)? != 0,
                money_for_sums(r.get_ref(2)?),
            ))
        })?
        .filter_map(|r| r.ok())
        .filter_map(|(p, w, stake)| Some((p?, w, stake.unwrap_or_default())))
        .collect();
    Ok(rows)
}

/// Settled decisions made in `[since, until)` whose confidence may lie in `[low, high]` (when
/// given), in time order, as the replay takes them: only rows with a time and a confidence.
/// The SQL widens the bounds by a hair for the REAL column; callers compare exactly in
/// decimal.
pub fn replay_rows(
    conn: &Connection,
    (since, until): (DateTime<Utc>, DateTime<Utc>),
    confidence: Option<(Decimal, Decimal)>,
) -> Result<Vec<Trade>> {
    use rust_decimal::prelude::ToPrimitive;
    let (low, high) = match confidence {
        Some((low, high)) => (
            low.to_f64().map(|x| x - 1e-9),
            high.to_f64().map(|x| x + 1e-9),
        ),
        None => (None, None),
    };
    let mut stmt = conn.prepare_cached(concat!(
        "SELECT ",
        columns!(),
        " FROM trades WHERE ",
        super::settled!(),
        " AND timestamp >= ?1 AND timestamp < ?2
           AND (?3 IS NULL OR confidence >= ?3) AND (?4 IS NULL OR confidence <= ?4)
         ORDER BY timestamp, id"
    ))?;
    let rows = stmt
        .query_map(params![to_db(since), to_db(until), low, high], |r| {
            Trade::read(r, 0)
        })?
        .filter_map(|r| r.ok())
        .filter(|t| t.timestamp.is_some() && t.confidence.is_some())
        .map(Trade::for_sums)
        .collect();
    Ok(rows)
}

/// Settled decisions made at or after `since` whose outcome was known by `now` (their
/// market ended, else their own time, before it), in time order, as the replay takes them.
pub fn known_by(
    conn: &Connection,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Vec<Trade>> {
    let mut stmt = conn.prepare(concat!(
        "SELECT ",
        columns!(),
        " FROM trades WHERE ",
        super::settled!(),
        " AND (?1 IS NULL OR timestamp >= ?1) AND COALESCE(market_end, timestamp) < ?2
         ORDER BY timestamp, id"
    ))?;
    let rows = stmt
        .query_map(params![since.map(to_db), to_db(now)], |r| Trade::read(r, 0))?
        .filter_map(|r| r.ok())
        .filter(|t| t.timestamp.is_some() && t.confidence.is_some())
        .map(Trade::for_sums)
        .collect();
    Ok(rows)
}

/// How many decisions the table holds, by where their settlement stands, and how many
/// pending ones are due (their window ended before `due_before`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: i64,
    pub pending: i64,
    pub settled: i64,
    pub unsettleable: i64,
    pub due: i64,
}

/// The decisions' [`Counts`] (`polyperf status`).
pub fn counts(conn: &Connection, due_before: DateTime<Utc>) -> Result<Counts> {
    Ok(conn.query_row(
        concat!(
            "SELECT count(*),
                coalesce(sum(settlement_status = 'pending'), 0),
                coalesce(sum(",
            super::settled!(),
            "), 0),
                coalesce(sum(settlement_status = 'unsettleable'), 0),
                (SELECT count(*) FROM trades WHERE settlement_status = 'pending' AND market_end <= ?1)
         FROM trades"
        ),
        [to_db(due_before)],
        |r| {
            Ok(Counts {
                total: r.get(0)?,
                pending: r.get(1)?,
                settled: r.get(2)?,
                unsettleable: r.get(3)?,
                due: r.get(4)?,
            })
        },
    )?)
}
