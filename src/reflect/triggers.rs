//! Reflection triggers, found in the database at each run: `3_losses`, `10_trades`,
//! `end_of_day` (once per UTC day), `manual`. Reads only; coverage is written by the store.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

use crate::config::Settings;
use crate::kinds::Trigger;

/// A trigger asked for on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Requested {
    /// From the daily timer: fires once per UTC day.
    #[value(name = "end_of_day")]
    EndOfDay,
    /// Always fires.
    Manual,
}

/// What the database says now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    /// Triggers that fired, in a fixed order.
    pub fired: Vec<Trigger>,
    /// Settled decisions (YES, NO and HOLD) no reflection has covered yet, by (settled_at, id):
    /// what a reflection made now covers.
    pub uncovered: Vec<i64>,
    /// When `3_losses` fired: the losing trades that made it fire (ids, newest first), which
    /// the prompt shows row by row.
    pub streak: Vec<i64>,
}

/// The facts the triggers are decided on (pure, so it is tested by table).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The last settled YES/NO decisions, newest first: (lost, already covered).
    pub last_decisions: Vec<(bool, bool)>,
    /// Settled YES/NO trades no reflection has covered (HOLDs are covered but not counted).
    pub n_uncovered: usize,
    pub end_of_day_done_today: bool,
}

/// Which triggers fire on `facts`.
pub fn decide(
    facts: &Facts,
    losses_trigger: u32,
    trades_trigger: u32,
    requested: Option<Requested>,
) -> Vec<Trigger> {
    let mut fired = Vec::new();
    let n = losses_trigger as usize;
    if n > 0 && facts.last_decisions.len() >= n {
        let last = &facts.last_decisions[..n];
        if last.iter().all(|(lost, _)| *lost) && !last.iter().all(|(_, covered)| *covered) {
            fired.push(Trigger::Losses);
        }
    }
    if trades_trigger > 0 && facts.n_uncovered >= trades_trigger as usize {
        fired.push(Trigger::Trades);
    }
    match requested {
        Some(Requested::EndOfDay) if !facts.end_of_day_done_today => fired.push(Trigger::EndOfDay),
        Some(Requested::Manual) => fired.push(Trigger::Manual),
        _ => {}
    }
    fired
}

/// Reads the facts and decides.
pub fn evaluate(
    conn: &Connection,
    settings: &Settings,
    requested: Option<Requested>,
    now: DateTime<Utc>,
) -> Result<Evaluation> {
    let losses_trigger = settings.reflect.losses_trigger;
    let last = crate::trades::recent_positions(conn, losses_trigger.max(1))?;
    let last_decisions: Vec<(bool, bool)> = last.iter().map(|(_, facts)| *facts).collect();
    let (uncovered, n_uncovered) = uncovered(conn)?;
    let end_of_day_done_today: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM reflections
                        WHERE instr(trigger_type, 'end_of_day') > 0
                          AND date(timestamp) = date(?1) AND status != 'failed')",
        params![crate::time::to_db(now)],
        |r| r.get(0),
    )?;
    let facts = Facts {
        last_decisions,
        n_uncovered,
        end_of_day_done_today,
    };
    let fired = decide(
        &facts,
        losses_trigger,
        settings.reflect.trades_trigger,
        requested,
    );
    let streak = if fired.contains(&Trigger::Losses) {
        last.iter()
            .take(losses_trigger as usize)
            .map(|(id, _)| *id)
            .collect()
    } else {
        Vec::new()
    };
    Ok(Evaluation {
        fired,
        uncovered,
        streak,
    })
}

/// Settled decisions no reflection has covered, by (settled_at, id), and how many of them are
/// YES/NO trades with a result (what `10_trades` counts).
pub fn uncovered(conn: &Connection) -> Result<(Vec<i64>, usize)> {
    crate::trades::uncovered(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(
        last: &[(bool, bool)],
        n_uncovered: usize,
        done: bool,
        req: Option<Requested>,
        want: &[Trigger],
    ) {
        let facts = Facts {
            last_decisions: last.to_vec(),
            n_uncovered,
            end_of_day_done_today: done,
        };
        assert_eq!(
            decide(&facts, 3, 10, req),
            want,
            "{last:?} {n_uncovered} {done} {req:?}"
        );
    }

    #[test]
    fn triggers_fire_on_their_facts() {
        const L: (bool, bool) = (true, false);
        const LC: (bool, bool) = (true, true);
        const W: (bool, bool) = (false, false);
        check(&[L, L, L], 3, false, None, &[Trigger::Losses]);
        check(&[L, L, W], 3, false, None, &[]);
        check(&[L, L], 2, false, None, &[]);
        check(&[LC, LC, LC], 0, false, None, &[]);
        check(&[L, LC, LC], 1, false, None, &[Trigger::Losses]);
        check(&[W, L, L], 10, false, None, &[Trigger::Trades]);
        check(
            &[L, L, L],
            12,
            false,
            None,
            &[Trigger::Losses, Trigger::Trades],
        );
        check(
            &[],
            0,
            false,
            Some(Requested::EndOfDay),
            &[Trigger::EndOfDay],
        );
        check(&[], 0, true, Some(Requested::EndOfDay), &[]);
        check(&[], 0, true, Some(Requested::Manual), &[Trigger::Manual]);
    }
}
