//! The per-day rollup of archived trades (`daily_rollup`): what metrics add to the live `trades`
//! table so all-time figures survive archival. Holds ONLY rows that have left `trades`; the
//! archive job adds them in the transaction that deletes them, restore subtracts them.

use std::collections::BTreeMap;

use anyhow::Result;
use rusqlite::{params, Connection, OptionalExtension};
use rust_decimal::Decimal;

use crate::db::Money;
use crate::kinds::{Action, SettlementStatus};
pub use crate::trades::{TradeColumns, TradeFacts};

/// The first archived UTC day with a settled position (a day of HOLDs only has none).
pub fn first_day_with_a_result(conn: &Connection) -> Result<Option<chrono::NaiveDate>> {
    let first: Option<String> = conn
        .prepare_cached("SELECT min(day) FROM daily_rollup WHERE wins + losses > 0")?
        .query_row([], |r| r.get(0))?;
    Ok(first.and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()))
}

/// One `daily_rollup` row's key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    /// 'YYYY-MM-DD' (UTC) of the decision.
    pub day: String,
    /// '' when the decision had no signal type.
    pub signal_type: String,
    pub action: Action,
    /// 0 when unknown.
    pub is_end_phase: i64,
}

/// The figures of one `daily_rollup` row (or of a change to it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// Settled decisions.
    pub n: i64,
    /// Settled YES/NO that won / lost.
    pub wins: i64,
    pub losses: i64,
    /// Settled HOLDs that were missed opportunities.
    pub missed: i64,
    pub profit_loss: Decimal,
    pub fees: Decimal,
    /// position_size of settled YES/NO.
    pub staked: Decimal,
}

impl Totals {
    fn add(&mut self, other: &Totals, sign: i64) {
        let s = Decimal::from(sign);
        self.n += sign * other.n;
        self.wins += sign * other.wins;
        self.losses += sign * other.losses;
        self.missed += sign * other.missed;
        self.profit_loss += s * other.profit_loss;
        self.fees += s * other.fees;
        self.staked += s * other.staked;
    }

    fn is_zero(&self) -> bool {
        *self == Totals::default()
    }
}

/// Rollup changes accumulated in memory (bounded by days × signals × actions), then applied.
#[derive(Debug, Default)]
pub struct Delta {
    rows: BTreeMap<Key, Totals>,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Adds one trade. Only settled decisions count; unsettleable (and pending) ones are ignored.
    pub fn add_trade(&mut self, t: &TradeFacts<'_>) -> Result<()> {
        if t.settlement_status != SettlementStatus::Settled {
            return Ok(());
        }
        let day = t.timestamp.get(..10).unwrap_or(t.timestamp).to_string();
        let key = Key {
            day,
            signal_type: t.signal_type.unwrap_or("").to_string(),
            action: t.action,
            is_end_phase: t.is_end_phase.unwrap_or(0),
        };
        let traded = t.action.is_trade();
        let mut row = Totals {
            n: 1,
            profit_loss: t.profit_loss.unwrap_or_default(),
            fees: t.fee.unwrap_or_default(),
            ..Totals::default()
        };
        if traded {
            match t.is_win {
                Some(1) => row.wins = 1,
                Some(0) => row.losses = 1,
                _ => {}
            }
            row.staked = t.position_size.unwrap_or_default();
        } else if t.is_missed_opportunity == Some(1) {
            row.missed = 1;
        }
        self.rows.entry(key).or_default().add(&row, 1);
        Ok(())
    }

    /// The first bucket of these changes that `daily_rollup` already counts (with how many
    /// archived decisions it holds). Rows that fall into such a bucket cannot be told apart from
    /// rows this database archived: the rollup keeps no ids.
    pub fn first_already_counted(&self, conn: &Connection) -> Result<Option<(&Key, i64)>> {
        let mut select = conn.prepare_cached(
            "SELECT n FROM daily_rollup
             WHERE day = ?1 AND signal_type = ?2 AND action = ?3 AND is_end_phase = ?4",
        )?;
        for key in self.rows.keys() {
            let k = params![key.day, key.signal_type, key.action, key.is_end_phase];
            let n: Option<i64> = select.query_row(k, |r| r.get(0)).optional()?;
            if let Some(n) = n.filter(|n| *n > 0) {
                return Ok(Some((key, n)));
            }
        }
        Ok(None)
    }

    /// Adds (`sign` = 1) or subtracts (`sign` = -1) the accumulated changes to `daily_rollup`.
    /// Part of the caller's transaction. A row that reaches all zeros is removed.
    pub fn apply(&self, conn: &Connection, sign: i64) -> Result<()> {
        let mut select = conn.prepare_cached(
            "SELECT n, wins, losses, missed, profit_loss, fees, staked FROM daily_rollup
             WHERE day = ?1 AND signal_type = ?2 AND action = ?3 AND is_end_phase = ?4",
        )?;
        let mut upsert = conn.prepare_cached(
            "INSERT OR REPLACE INTO daily_rollup
               (day, signal_type, action, is_end_phase, n, wins, losses, missed, profit_loss, fees, staked)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        let mut delete = conn.prepare_cached(
            "DELETE FROM daily_rollup
             WHERE day = ?1 AND signal_type = ?2 AND action = ?3 AND is_end_phase = ?4",
        )?;
        for (key, change) in &self.rows {
            let k = params![key.day, key.signal_type, key.action, key.is_end_phase];
            let current = select
                .query_row(k, |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                        Money::get(r, 4)?.unwrap_or_default(),
                        Money::get(r, 5)?.unwrap_or_default(),
                        Money::get(r, 6)?.unwrap_or_default(),
                    ))
                })
                .optional()?;
            let mut totals = match current {
                None => Totals::default(),
                Some((n, wins, losses, missed, pl, fees, staked)) => Totals {
                    n,
                    wins,
                    losses,
                    missed,
                    profit_loss: pl,
                    fees,
                    staked,
                },
            };
            totals.add(change, sign);
            if totals.is_zero() {
                delete.execute(k)?;
            } else {
                upsert.execute(params![
                    key.day,
                    key.signal_type,
                    key.action,
                    key.is_end_phase,
                    totals.n,
                    totals.wins,
                    totals.losses,
                    totals.missed,
                    Money(totals.profit_loss),
                    Money(totals.fees),
                    Money(totals.staked),
                ])?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn trade<'a>(
        action: &'a str,
        status: &'a str,
        is_win: Option<i64>,
        missed: Option<i64>,
        pl: Option<&'a str>,
    ) -> TradeFacts<'a> {
        TradeFacts {
            timestamp: "2026-02-11 10:30:00",
            signal_type: None,
            action: action.parse().unwrap(),
            is_end_phase: None,
            settlement_status: status.parse().unwrap(),
            is_win,
            is_missed_opportunity: missed,
            profit_loss: pl.map(|p| Decimal::from_str(p).unwrap()),
            fee: Some(Decimal::new(1, 2)),
            position_size: Some(Decimal::new(500, 2)),
        }
    }

    #[test]
    fn counts_each_kind_of_trade() {
        // (trade, expected n, wins, losses, missed, staked)
        let cases = [
            (
                trade("YES", "settled", Some(1), None, Some("4.5")),
                1,
                1,
                0,
                0,
                "5.00",
            ),
            (
                trade("NO", "settled", Some(0), None, Some("-5")),
                1,
                0,
                1,
                0,
                "5.00",
            ),
            (
                trade("HOLD", "settled", None, Some(1), None),
                1,
                0,
                0,
                1,
                "0",
            ),
            (
                trade("HOLD", "settled", None, Some(0), None),
                1,
                0,
                0,
                0,
                "0",
            ),
            (
                trade("YES", "unsettleable", None, None, None),
                0,
                0,
                0,
                0,
                "0",
            ),
        ];
        for (t, n, wins, losses, missed, staked) in cases {
            let mut delta = Delta::default();
            delta.add_trade(&t).unwrap();
            let got = delta.rows.values().next().cloned().unwrap_or_default();
            assert_eq!(
                (got.n, got.wins, got.losses, got.missed),
                (n, wins, losses, missed),
                "{t:?}"
            );
            assert_eq!(got.staked, Decimal::from_str(staked).unwrap(), "{t:?}");
        }
    }

    #[test]
    fn apply_then_subtract_leaves_nothing_and_sums_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::db::create(&dir.path().join("rollup.db")).unwrap();
        let mut delta = Delta::default();
        delta
            .add_trade(&trade("YES", "settled", Some(1), None, Some("0.1")))
            .unwrap();
        delta
            .add_trade(&trade("YES", "settled", Some(1), None, Some("0.2")))
            .unwrap();
        delta.apply(&conn, 1).unwrap();
        delta.apply(&conn, 1).unwrap();
        // 0.1 + 0.2 + 0.1 + 0.2 is 0.6000000000000001 in f64; stored and read back it is 0.6.
        let (n, pl, fees, typ): (i64, Money, Money, String) = conn
            .query_row(
                "SELECT n, profit_loss, fees, typeof(profit_loss) FROM daily_rollup",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(
            (n, pl.0, fees.0),
            (4, Decimal::new(6, 1), Decimal::new(4, 2))
        );
        assert_eq!((pl.0.to_string(), typ.as_str()), ("0.6".into(), "real"));
        delta.apply(&conn, -1).unwrap();
        delta.apply(&conn, -1).unwrap();
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM daily_rollup", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 0);
    }
}
