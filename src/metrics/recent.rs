//! Single trades for people (Telegram's /trades and /profit): the last settled positions and the
//! best and worst of a window, from the live rows (the rollup keeps days, not trades), and the
//! UTC day of the first settled position, live or archived, so that no period is listed before
//! it. Read-only; each query is one function, for the `trades` table's owner to take over.

use anyhow::Result;
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};
use rust_decimal::Decimal;

use super::Window;
use crate::db::Money;
use crate::time::{from_db, to_db};
use crate::trades::settled_position;

/// One settled YES/NO position.
#[derive(Debug, Clone, PartialEq)]
pub struct SettledTrade {
    pub id: i64,
    /// When the trader decided (UTC).
    pub timestamp: Option<DateTime<Utc>>,
    /// `YES` (bought Up) or `NO` (bought Down).
    pub action: String,
    /// The market's window start (its own field, else from the slug).
    pub window_start: Option<DateTime<Utc>>,
    pub price: Option<Decimal>,
    pub size: Option<Decimal>,
    pub won: bool,
    /// P&L in USDC, exact.
    pub profit: Decimal,
}

/// The columns [`read`] reads, as a literal for `concat!` (no SQL is formatted at run time).
macro_rules! columns {
    () => {
        "SELECT id, timestamp, action, market_slug, market_start, executed_price, position_size,
                is_win, profit_loss FROM trades WHERE "
    };
}

/// The best (`DESC`) or worst (`ASC`) position decided in `[?1, ?2)`.
macro_rules! extreme {
    ($order:literal) => {
        concat!(
            columns!(),
            settled_position!(),
            " AND profit_loss IS NOT NULL AND timestamp >= ?1 AND timestamp < ?2
             ORDER BY profit_loss ",
            $order,
            ", timestamp, id LIMIT 1"
        )
    };
}

/// A row read with [`columns!`]. A value written by hand that cannot be read shows as missing.
fn read(row: &Row<'_>) -> rusqlite::Result<SettledTrade> {
    let time = |i: usize| -> Option<DateTime<Utc>> {
        row.get::<_, Option<String>>(i)
            .ok()
            .flatten()
            .and_then(|t| from_db(&t).ok())
    };
    let money = |i: usize| Money::get(row, i).ok().flatten();
    let slug: String = row.get::<_, Option<String>>(3)?.unwrap_or_default();
    Ok(SettledTrade {
        id: row.get(0)?,
        timestamp: time(1),
        action: row.get(2)?,
        window_start: time(4)
            .or_else(|| crate::market::window_from_slug(&slug).map(|(start, _)| start)),
        price: money(5),
        size: money(6),
        won: row.get::<_, Option<i64>>(7)?.is_some_and(|w| w != 0),
        profit: money(8).unwrap_or_default(),
    })
}

/// The last `n` settled positions by decision time, newest first (live rows).
pub fn last_settled(conn: &Connection, n: u32) -> Result<Vec<SettledTrade>> {
    let mut stmt = conn.prepare_cached(concat!(
        columns!(),
        settled_position!(),
        " ORDER BY timestamp DESC, id DESC LIMIT ?1"
    ))?;
    let rows = stmt.query_map(params![n], read)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// The best and the worst settled position decided in `window` (live rows; `None` without
/// one). Ties go to the earlier decision.
pub fn best_and_worst(
    conn: &Connection,
    window: &Window,
    now: DateTime<Utc>,
) -> Result<Option<(SettledTrade, SettledTrade)>> {
    let (from, to) = window.bounds(now);
    let from = from.map(to_db).unwrap_or_default();
    let to = to
        .map(to_db)
        .unwrap_or_else(|| "9999-12-31 23:59:59".into());
    let one = |sql: &str| -> Result<Option<SettledTrade>> {
        Ok(conn
            .prepare_cached(sql)?
            .query_row(params![from, to], read)
            .optional()?)
    };
    Ok(one(extreme!("DESC"))?.zip(one(extreme!("ASC"))?))
}

/// The UTC day of the first settled position, live or archived.
pub fn first_trade_day(conn: &Connection) -> Result<Option<NaiveDate>> {
    let first: Option<String> = conn
        .prepare_cached(concat!(
            "SELECT min(day) FROM (
               SELECT min(substr(timestamp, 1, 10)) AS day FROM trades WHERE ",
            settled_position!(),
            " UNION ALL SELECT min(day) FROM daily_rollup WHERE wins + losses > 0)"
        ))?
        .query_row([], |r| r.get(0))?;
    Ok(first.and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()))
}
