//! The rollup's writes: sums added and taken out, paths added under their file and removed
//! with it. Every statement binds its values; each is part of the caller's transaction.

use std::collections::BTreeMap;

use anyhow::Result;
use rusqlite::{params, Connection, OptionalExtension};

use super::figures::{Calibration, Sums, Whole};
use super::read::{count, money, part_columns, read_group, read_part};
use super::{GroupKey, GroupTotals, Key, Path, Totals};
use crate::db::Money;
use crate::money::pnl::BreakEven;

/// Whether this database keeps the rollup's details (migration 0012).
pub(super) fn details_kept(conn: &Connection) -> Result<bool> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    Ok(version >= 12)
}

/// The slices' changes, with their details or (`details` false) without.
pub(super) fn apply_slices(
    conn: &Connection,
    rows: &BTreeMap<Key, Totals>,
    sign: i64,
    details: bool,
) -> Result<()> {
    if !details_kept(conn)? {
        return apply_sums_only(conn, rows, sign);
    }
    let mut select = conn.prepare_cached(
        "SELECT n, wins, losses, missed, profit_loss, fees, staked, detailed, gross_profit,
                gross_loss, fees_shares, fees_collateral, break_even_at_risk, break_even_swing,
                missed_priced, missed_per_dollar
           FROM daily_rollup
          WHERE day = ?1 AND signal_type = ?2 AND action = ?3 AND is_end_phase = ?4",
    )?;
    let mut upsert = conn.prepare_cached(
        "INSERT OR REPLACE INTO daily_rollup
           (day, signal_type, action, is_end_phase, n, wins, losses, missed, profit_loss, fees,
            staked, detailed, gross_profit, gross_loss, fees_shares, fees_collateral,
            break_even_at_risk, break_even_swing, missed_priced, missed_per_dollar)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
                 ?19, ?20)",
    )?;
    let mut delete = conn.prepare_cached(
        "DELETE FROM daily_rollup
          WHERE day = ?1 AND signal_type = ?2 AND action = ?3 AND is_end_phase = ?4",
    )?;
    for (key, change) in rows {
        let k = params![key.day, key.signal_type, key.action, key.is_end_phase];
        let mut totals = select
            .query_row(k, |r| {
                Ok(Totals {
                    n: r.get(0)?,
                    wins: r.get(1)?,
                    losses: r.get(2)?,
                    missed: r.get(3)?,
                    profit_loss: money(r, 4)?,
                    fees: money(r, 5)?,
                    staked: money(r, 6)?,
                    detailed: r.get(7)?,
                    whole: Whole {
                        gross_profit: money(r, 8)?,
                        gross_loss: money(r, 9)?,
                        fees_shares: money(r, 10)?,
                        fees_collateral: money(r, 11)?,
                        missed_priced: count(r, 14)?,
                        missed_per_dollar: money(r, 15)?,
                    },
                    break_even: BreakEven::from_terms(money(r, 12)?, money(r, 13)?),
                })
            })
            .optional()?
            .unwrap_or_default();
        match details {
            true => totals.add(change, sign),
            false => totals.add(&change.without_details(), sign),
        }
        if totals.is_zero() {
            delete.execute(k)?;
            continue;
        }
        let (at_risk, swing) = totals.break_even.terms();
        let w = &totals.whole;
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
            totals.detailed,
            Money(w.gross_profit),
            Money(w.gross_loss),
            Money(w.fees_shares),
            Money(w.fees_collateral),
            Money(at_risk),
            Money(swing),
            w.missed_priced as i64,
            Money(w.missed_per_dollar),
        ])?;
    }
    Ok(())
}

/// The slices' sums on a database from before the details (a test's stand-in for an older
/// binary's archive run).
fn apply_sums_only(conn: &Connection, rows: &BTreeMap<Key, Totals>, sign: i64) -> Result<()> {
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
    for (key, change) in rows {
        let k = params![key.day, key.signal_type, key.action, key.is_end_phase];
        let mut totals = select
            .query_row(k, |r| {
                Ok(Totals {
                    n: r.get(0)?,
                    wins: r.get(1)?,
                    losses: r.get(2)?,
                    missed: r.get(3)?,
                    profit_loss: money(r, 4)?,
                    fees: money(r, 5)?,
                    staked: money(r, 6)?,
                    ..Totals::default()
                })
            })
            .optional()?
            .unwrap_or_default();
        totals.add(&change.without_details(), sign);
        if totals.is_zero() {
            delete.execute(k)?;
            continue;
        }
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
    Ok(())
}

/// The groups' changes.
pub(super) fn apply_groups(
    conn: &Connection,
    groups: &BTreeMap<GroupKey, GroupTotals>,
    sign: i64,
) -> Result<()> {
    let mut select = conn.prepare_cached(
        "SELECT wins, losses, fifty_fifty, holds, missed, profit_loss, fees, staked,
                break_even_at_risk, break_even_swing, confidence_sum, brier_sum
           FROM rollup_groups WHERE day = ?1 AND dimension = ?2 AND name = ?3",
    )?;
    let mut upsert = conn.prepare_cached(
        "INSERT OR REPLACE INTO rollup_groups
           (day, dimension, name, wins, losses, fifty_fifty, holds, missed, profit_loss, fees,
            staked, break_even_at_risk, break_even_swing, confidence_sum, brier_sum)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?;
    let mut delete = conn.prepare_cached(
        "DELETE FROM rollup_groups WHERE day = ?1 AND dimension = ?2 AND name = ?3",
    )?;
    for ((day, dimension, name), change) in groups {
        let k = params![day, dimension.as_str(), name];
        let mut group = select
            .query_row(k, read_group)
            .optional()?
            .unwrap_or_default();
        // A row holds one or the other.
        match dimension {
            super::Dimension::Confidence => group.sums = Sums::default(),
            _ => group.calibration = Calibration::default(),
        }
        group.sums.merge(&change.sums, sign);
        group.calibration.merge(&change.calibration, sign);
        if group == GroupTotals::default() {
            delete.execute(k)?;
            continue;
        }
        let (s, c) = (&group.sums, &group.calibration);
        let (at_risk, swing) = s.break_even.terms();
        // A calibration bucket keeps its counts in wins and losses.
        let (wins, losses) = match dimension {
            super::Dimension::Confidence => (c.wins, c.trades.saturating_sub(c.wins)),
            _ => (s.wins, s.losses),
        };
        upsert.execute(params![
            day,
            dimension.as_str(),
            name,
            wins as i64,
            losses as i64,
            s.fifty_fifty as i64,
            s.holds as i64,
            s.missed as i64,
            Money(s.profit),
            Money(s.fees),
            Money(s.staked),
            Money(at_risk),
            Money(swing),
            c.confidence_sum.normalize().to_string(),
            c.brier_sum.normalize().to_string(),
        ])?;
    }
    Ok(())
}

/// A day's part of file `file`: added, or composed with the part already there (a file's
/// deletion finished in two transactions), in the order of their first positions.
pub(super) fn add_part(
    conn: &Connection,
    day: &str,
    file: &str,
    part: Option<(String, i64, Path)>,
) -> Result<()> {
    let Some((first_at, first_id, path)) = part else {
        return Ok(());
    };
    let existing = conn
        .prepare_cached(concat!(
            "SELECT ",
            part_columns!(),
            " FROM rollup_paths WHERE day = ?1 AND file = ?2"
        ))?
        .query_row(params![day, file], read_part)
        .optional()?;
    let (first_at, first_id, path) = match existing {
        None => (first_at, first_id, path),
        Some(old) if (old.first_at.as_str(), old.first_id) < (first_at.as_str(), first_id) => {
            (old.first_at, old.first_id, old.path.then(&path))
        }
        Some(old) => (first_at, first_id, path.then(&old.path)),
    };
    let p = &path;
    conn.prepare_cached(concat!(
        "INSERT OR REPLACE INTO rollup_paths (day, file, ",
        part_columns!(),
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
                   ?18, ?19, ?20, ?21, ?22, ?23, ?24)"
    ))?
    .execute(params![
        day,
        file,
        first_at,
        first_id,
        p.first_at,
        p.last_at,
        p.positions as i64,
        Money(p.net),
        Money(p.high.level),
        p.high.at,
        p.high.seq as i64,
        Money(p.low.level),
        p.low.at,
        p.low.seq as i64,
        Money(p.drawdown),
        Money(p.peak.level),
        p.peak.at,
        p.peak.seq as i64,
        p.trough.at,
        p.trough.seq as i64,
        p.run_start as i64,
        p.run_end as i64,
        p.run_longest as i64,
        p.one_run,
    ])?;
    Ok(())
}

pub(super) fn remove_parts(conn: &Connection, file: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM rollup_paths WHERE file = ?1")?
        .execute([file])?;
    Ok(())
}

/// Records that `file`'s rows' details are in the rollup.
pub(super) fn mark_file(conn: &Connection, file: &str) -> Result<()> {
    conn.prepare_cached("INSERT OR IGNORE INTO rollup_files (file) VALUES (?1)")?
        .execute([file])?;
    Ok(())
}

/// Forgets `file`; whether its rows' details were in the rollup.
pub(super) fn forget_file(conn: &Connection, file: &str) -> Result<bool> {
    let n = conn
        .prepare_cached("DELETE FROM rollup_files WHERE file = ?1")?
        .execute([file])?;
    Ok(n > 0)
}
