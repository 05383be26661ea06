//! The parameter adjuster (polyperf-adjust): validates proposals, decides their tier, applies
//! tier 1, asks approval for tier 2, expires stale requests, watches changes for rollback and
//! runs the tier-3 guard. Never talks to a network; messages go through the outbox.
//!
//! Autonomy ([`tiers::action`]): `observe` applies nothing (proposals become `reported`);
//! `tier1` applies tier 1 and sends tier 2 for approval; `full` also applies a tier-2 change
//! on its own when the replay shows it would have made more than what happened and the latest
//! walk-forward evaluation (`polyperf evaluate`) shows the loop's changes earning money (still
//! notified, watched for rollback, reversible). The guard pauses at every level.
//!
//! Files: `assess.rs` (the replay evidence and the tier of a pending proposal), `process.rs`
//! (what the adjuster does on its own), [`watch`] (rollback watch), [`mod@guard`] (tier 3),
//! [`tiers`]. Below it: the replay ([`crate::replay`], pure figures shared with reflection and
//! the walk-forward evaluation) and, in [`crate::proposals`], the `proposals` table, the
//! checks against the live parameter and a human's verdict (Telegram's buttons and the
//! operator's `proposals` subcommands, `src/cli/proposals.rs`).

mod assess;
pub mod guard;
mod process;
pub mod tiers;
pub mod watch;

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::Serialize;
use tracing::{info, warn};

use crate::config::Settings;
use crate::params;
use crate::proposals::{self, Status};
use crate::runner::JobContext;

pub use assess::evidence;
pub use guard::PauseInfo;

use process::{expire, process, supersede_stale, Run};
use watch::rollback_watch;

/// What a run did (the `--json` object).
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Stats {
    pub applied: u64,
    pub awaiting_approval: u64,
    pub rejected: u64,
    pub expired: u64,
    pub superseded: u64,
    pub rolled_back: u64,
    pub paused: bool,
    pub pause_reason: Option<String>,
    /// Parameters holding what no reader may use (a hand edit), each named with its fix; their
    /// proposals wait. Absent when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bad_parameters: Vec<String>,
}

/// The job: guard first (safety does not wait for the rest), then expiry, pending proposals
/// and the rollback watch. A run whose guard pauses trading applies nothing: a change it would
/// have applied on its own is sent to a human instead. Each proposal is its own short
/// transaction.
pub async fn run(ctx: &mut JobContext) -> Result<Stats> {
    run_sync(&mut ctx.conn, &ctx.settings, ctx.now, ctx.dry_run)
}

/// The job's body, for callers without a [`JobContext`] (scheduler, tests, benchmarks).
pub fn run_sync(
    conn: &mut Connection,
    settings: &Settings,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<Stats> {
    let mut stats = Stats::default();
    if !dry_run {
        params::sync_bounds(conn, settings)?;
    }
    stats.bad_parameters = unreadable_parameters(conn, settings, now, dry_run)?;
    let pause = guard::run(conn, settings, now, dry_run)?;
    stats.expired = expire(conn, &settings.telegram.notify, now, dry_run)?;
    stats.superseded += supersede_stale(conn, settings, now, dry_run)?;
    // A run that pauses trading applies nothing: what it would have applied goes to a human.
    let pausing = pause.as_ref().is_some_and(|p| p.fired_now);
    if pausing {
        warn!("trading paused by this run: no change is applied in it");
    }
    let run = Run {
        now,
        dry_run,
        pausing,
    };
    for p in proposals::with_status(conn, Status::Pending)? {
        match process(conn, settings, p.id, &run) {
            Ok(Some(status)) => match status {
                Status::Applied => stats.applied += 1,
                Status::AwaitingApproval => stats.awaiting_approval += 1,
                Status::Rejected => stats.rejected += 1,
                Status::Superseded => stats.superseded += 1,
                _ => {}
            },
            Ok(None) => {}
            Err(e) => {
                warn!(proposal_id = p.id, error = %format!("{e:#}"), "could not process proposal")
            }
        }
    }
    let (rolled_back, proposed) = rollback_watch(conn, settings, &run)?;
    stats.rolled_back = rolled_back;
    stats.awaiting_approval += proposed;
    // A rollback proposal just created is processed at once, so it is sent the same run.
    if proposed > 0 && !dry_run {
        stats.awaiting_approval -= proposed;
        for p in proposals::pending_rollbacks(conn)? {
            if let Ok(Some(Status::AwaitingApproval)) = process(conn, settings, p.id, &run) {
                stats.awaiting_approval += 1;
            }
        }
    }
    if let Some(p) = pause {
        stats.paused = true;
        stats.pause_reason = Some(p.reason);
    }
    // Every figure is in the runner's "job finished" line; these are the headlines.
    let Stats {
        applied, paused, ..
    } = stats;
    info!(applied, paused, "adjust finished");
    Ok(stats)
}

/// The parameters no reader may use (values edited by hand into `abc`, or out of bounds): the
/// adjuster goes on without them (their proposals wait), names each in a warning and its
/// figures, and queues one alert per value held, so the operator learns the fix once.
fn unreadable_parameters(
    conn: &mut Connection,
    settings: &Settings,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<Vec<String>> {
    let bad = params::problems(conn)?;
    if bad.is_empty() {
        return Ok(Vec::new());
    }
    let tx = crate::db::write_tx(conn)?;
    for b in &bad {
        warn!(parameter = %b.name, "{b}");
        let key = format!("bad-parameter:{}:{}", b.name, b.holds);
        let text = format!("{b}. Until then its proposals wait.");
        crate::outbox::enqueue(
            &tx,
            &settings.telegram.notify,
            &crate::outbox::Message::text(&text),
            Some(&key),
            now,
        )?;
    }
    if !dry_run {
        tx.commit()?;
    }
    Ok(bad.iter().map(ToString::to_string).collect())
}

/// The tier-3 guard alone, for settlement or the scheduler to call after settling: pauses when
/// a rule fires (unless already paused) and returns the pause in force, if any.
pub fn guard(
    conn: &mut Connection,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<Option<PauseInfo>> {
    guard::run(conn, settings, now, false)
}
