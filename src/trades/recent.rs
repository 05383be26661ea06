//! Single trades for people (Telegram's /trades and /profit): the last settled positions and the
//! best and worst of a window, from the live rows (the rollup keeps days, not trades), and the
//! UTC day of the first live settled position (`metrics::first_trade_day` adds the archived
//! days). Read-only.

use anyhow::Result;
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};
use rust_decimal::Decimal;

use crate::db::Money;
use crate::kinds::Action;
use crate::time::{from_db, to_db};
use crate::trades::settled_position;

/// One settled YES/NO position.
#[derive(Debug, Clone, PartialEq)]
pub struct SettledTrade {
    pub id: i64,
    /// When the trader decided (UTC).
    pub timestamp: Option<DateTime<Utc>>,
    /// [`Action::Yes`] (bought Up) or [`Action::No`] (bought Down).
    pub action: Action,
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

/// The best and the worst settled position decided in `[from, to)` (unbounded where `None`;
/// live rows; `None` without one). Ties go to the earlier decision.
pub fn best_and_worst(
    conn: &Connection,
    (from, to): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
) -> Result<Option<(SettledTrade, SettledTrade)>> {
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

/// The UTC day of the first live settled position.
pub fn first_settled_day(conn: &Connection) -> Result<Option<NaiveDate>> {
    let first: Option<String> = conn
        .prepare_cached(concat!(
            "SELECT min(substr(timestamp, 1, 10)) FROM trades WHERE ",
            settled_position!()
        ))?
        .query_row([], |r| r.get(0))?;
    Ok(first.and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A migrated database in a temp dir, with settled positions at the given times (a YES
    /// winning `pnl`) and one pending decision before them all.
    fn db(trades: &[(&str, &str)]) -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::db::create(&dir.path().join("t.db")).unwrap();
        let insert = "INSERT INTO trades (decision_id, timestamp, market_slug, action, confidence,
                position_size, btc_price, executed_price, settlement_status, is_win, profit_loss)
             VALUES (?1, ?2, 'btc-updown-15m-1770805800', 'YES', 0.8, 5, 66940, 0.52, ?3, ?4, ?5)";
        conn.execute(
            insert,
            params![
                "p",
                "2025-01-01 00:00:00",
                "pending",
                None::<i64>,
                None::<f64>
            ],
        )
        .unwrap();
        for (i, (at, pnl)) in trades.iter().enumerate() {
            let pnl: f64 = pnl.parse().unwrap();
            let id = format!("d{i}");
            conn.execute(insert, params![id, at, "settled", pnl > 0.0, pnl])
                .unwrap();
        }
        (dir, conn)
    }

    #[test]
    fn last_best_worst_and_the_first_day() {
        let (_dir, conn) = db(&[
            ("2026-02-10 08:00:00", "4"),
            ("2026-02-11 09:00:00", "-5"),
            ("2026-02-11 10:00:00", "4"),
            ("2026-02-11 11:00:00", "1.5"),
        ]);
        let last = last_settled(&conn, 2).unwrap();
        let profits: Vec<String> = last.iter().map(|t| t.profit.to_string()).collect();
        assert_eq!(profits, ["1.5", "4"], "newest first");
        assert!(last[0].won && last[0].window_start.is_some());
        let now = crate::time::parse_rfc3339("2026-02-11T12:00:00Z").unwrap();
        let (best, worst) = best_and_worst(&conn, (None, None)).unwrap().unwrap();
        // Ties go to the earlier decision.
        assert_eq!((best.id, best.profit), (2, Decimal::from(4)));
        assert_eq!(worst.profit, Decimal::from(-5));
        let today = crate::time::parse_rfc3339("2026-02-11T00:00:00Z").unwrap();
        let (best, _) = best_and_worst(&conn, (Some(today), Some(now)))
            .unwrap()
            .unwrap();
        assert_eq!(best.id, 4, "today's best");
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        // The pending decision of 2025 is no trade: the first is 2026-02-10.
        assert_eq!(first_settled_day(&conn).unwrap(), day("2026-02-10"));
        // An archived day with a result comes first; one without is no trade.
        conn.execute_batch(
            "INSERT INTO daily_rollup (day, action, n, wins, losses) VALUES
                ('2026-01-05', 'YES', 3, 2, 1), ('2025-12-01', 'HOLD', 4, 0, 0);",
        )
        .unwrap();
        assert_eq!(
            crate::metrics::first_trade_day(&conn).unwrap(),
            day("2026-01-05")
        );
        let (_dir, empty) = db(&[]);
        assert_eq!(crate::metrics::first_trade_day(&empty).unwrap(), None);
        assert!(best_and_worst(&empty, (None, None)).unwrap().is_none());
    }
}
