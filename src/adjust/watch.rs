//! The rollback watch: once N settled trades have happened under a changed value, compare them
//! with the N before; when clearly worse, revert a tier-1 change and propose reverting others.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use rust_decimal::Decimal;
use serde::Serialize;
use tracing::{info, warn};

use super::replay::wilson;
use crate::config::Settings;
use crate::params;
use crate::proposals;
use crate::time::to_db;
use crate::trades::settled_position_with_pnl;

/// Trades on one side of a change.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Sample {
    pub n: u64,
    pub wins: u64,
    #[serde(with = "rust_decimal::serde::str")]
    pub pnl: Decimal,
}

impl Sample {
    pub fn from_rows(rows: &[(Decimal, bool)]) -> Sample {
        let mut s = Sample::default();
        for (pnl, won) in rows {
            s.n += 1;
            s.wins += u64::from(*won);
            s.pnl += *pnl;
        }
        s
    }

    fn per_trade(&self) -> Decimal {
        if self.n == 0 {
            Decimal::ZERO
        } else {
            self.pnl / Decimal::from(self.n)
        }
    }
}

/// Clearly worse: P&L per trade lower, and the win rate lower beyond the intervals (the 95%
/// Wilson interval of `after` lies wholly below that of `before`). Noise never passes both.
pub fn clearly_worse(before: &Sample, after: &Sample) -> bool {
    let (Some((before_lo, _)), Some((_, after_hi))) =
        (wilson(before.wins, before.n), wilson(after.wins, after.n))
    else {
        return false;
    };
    after.per_trade() < before.per_trade() && after_hi < before_lo
}

/// A change the watch looked at and found clearly worse.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub history_id: i64,
    pub parameter: String,
    pub old_value: String,
    pub new_value: String,
    pub tier: Option<i64>,
    pub before: Sample,
    pub after: Sample,
}

fn sample(conn: &Connection, sql: &str, at: &str, now: &str, n: u32) -> Result<Sample> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt
        .query_map(params![at, now, n], |r| {
            Ok((
                crate::db::money_for_sums(r.get_ref(0)?),
                r.get::<_, i64>(1)? != 0,
            ))
        })?
        .filter_map(|r| r.ok())
        .filter_map(|(p, w)| p.map(|p| (p, w)))
        .collect::<Vec<_>>();
    Ok(Sample::from_rows(&rows))
}

/// Changes still in force (the latest change of their parameter, value unchanged since) that
/// came from a proposal, have N settled trades on each side, were not already answered by a
/// rollback proposal, and are clearly worse.
pub fn findings(conn: &Connection, n: u32, now: DateTime<Utc>) -> Result<Vec<Finding>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(
        "SELECT h.id, h.timestamp, h.parameter_name, h.old_value, h.new_value, h.proposal_id
         FROM parameter_history h
         JOIN parameters par ON par.name = h.parameter_name AND par.value = h.new_value
         WHERE h.proposal_id IS NOT NULL AND h.reverts_history_id IS NULL
           AND h.approval_method IN ('auto', 'telegram', 'cli')
           AND h.id = (SELECT max(id) FROM parameter_history x WHERE x.parameter_name = h.parameter_name)",
    )?;
    let changes = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let now_db = to_db(now);
    let mut out = Vec::new();
    for (history_id, at, parameter, old_value, new_value, proposal_id) in changes {
        if proposals::rollback_proposed(conn, history_id)? {
            continue;
        }
        let after = sample(
            conn,
            concat!(
                "SELECT profit_loss, is_win FROM trades WHERE ",
                settled_position_with_pnl!(),
                " AND timestamp >= ?1 AND timestamp <= ?2 ORDER BY timestamp, id LIMIT ?3"
            ),
            &at,
            &now_db,
            n,
        )?;
        if after.n < u64::from(n) {
            continue;
        }
        let before = sample(
            conn,
            concat!(
                "SELECT profit_loss, is_win FROM trades WHERE ",
                settled_position_with_pnl!(),
                " AND timestamp < ?1 AND ?2 = ?2 ORDER BY timestamp DESC, id DESC LIMIT ?3"
            ),
            &at,
            &now_db,
            n,
        )?;
        if before.n < u64::from(n) || !clearly_worse(&before, &after) {
            continue;
        }
        let tier = proposals::get(conn, proposal_id)?.and_then(|p| p.tier);
        out.push(Finding {
            history_id,
            parameter,
            old_value,
            new_value,
            tier,
            before,
            after,
        });
    }
    Ok(out)
}

/// Runs the rollback watch: reverts clearly worse tier-1 changes and proposes reverting the
/// others. Returns (changes reverted, rollback proposals created).
pub(super) fn rollback_watch(
    conn: &mut Connection,
    settings: &Settings,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<(u64, u64)> {
    let found = findings(conn, settings.adjust.rollback_watch_trades, now)?;
    let (mut reverted, mut proposed) = (0, 0);
    for f in found {
        let reason = format!(
            "rollback watch: after the change {} of {} trades won, P&L {}; before {} of {}, P&L {}",
            f.after.wins, f.after.n, f.after.pnl, f.before.wins, f.before.n, f.before.pnl
        );
        let auto = f.tier == Some(1) && settings.adjust.autonomy.applies_changes();
        if dry_run {
            if auto {
                reverted += 1;
            } else {
                proposed += 1;
            }
            continue;
        }
        if auto {
            match params::rollback(
                conn,
                &settings.telegram.notify,
                f.history_id,
                &reason,
                "adjust",
                now,
            ) {
                Ok(r) => {
                    reverted += 1;
                    warn!(history_id = f.history_id, rollback_id = r.history_id, parameter = %f.parameter, "tier-1 change rolled back automatically");
                }
                Err(e) => {
                    warn!(history_id = f.history_id, error = %format!("{e:#}"), "could not roll back")
                }
            }
        } else {
            let tx = crate::db::write_tx(conn)?;
            let evidence =
                serde_json::json!({"rollback_watch": {"before": f.before, "after": f.after}});
            let proposal = proposals::New {
                parameter: &f.parameter,
                current_value: f.new_value.clone(),
                proposed_value: f.old_value.clone(),
                reason: Some(reason),
                expected_impact: Some("undo a change that did clearly worse".into()),
                evidence: Some(evidence),
                rollback_of: Some(f.history_id),
                ..Default::default()
            };
            proposals::insert(&tx, &proposal, now)?;
            tx.commit()?;
            proposed += 1;
            info!(history_id = f.history_id, parameter = %f.parameter, "rollback proposed");
        }
    }
    Ok((reverted, proposed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64, wins: u64, pnl: i64) -> Sample {
        Sample {
            n,
            wins,
            pnl: Decimal::from(pnl),
        }
    }

    #[test]
    fn clearly_worse_needs_both_lower_pnl_and_a_separated_win_rate() {
        let cases = [
            (s(20, 15, 40), s(20, 5, -60), true),
            (s(20, 12, 10), s(20, 9, -10), false), // noise: intervals overlap
            (s(20, 15, 40), s(20, 5, 50), false),  // win rate fell, P&L per trade did not
            (s(20, 10, 0), s(20, 10, -5), false),
            (s(0, 0, 0), s(20, 0, -100), false),
        ];
        for (before, after, want) in cases {
            assert_eq!(clearly_worse(&before, &after), want, "{before:?} {after:?}");
        }
    }
}
