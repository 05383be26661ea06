//! Whether the trader may trade now: the jobs that guard it ran, settlement keeps up, the
//! database is sound and not newer than this binary. One verdict, behind `polyperf status
//! --json` (`healthy`, `health_reasons`) and Telegram's /health. Reads only; `now` is passed in.
//! The pause switch is not part of it: `status` reports it on its own (`trading_paused`).
//!
//! What stops trading (a reason): settle or adjust without a success within twice their cadence
//! (results and the loss guard that pauses trading depend on them), settlement behind by
//! `settlement.alert_lag_hours` or more, a damaged database, a database newer than the binary.
//! What only warns: reflect and cleanup overdue or never run, archive and Telegram overdue
//! once they have run, an integrity check cut short.

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use rusqlite::Connection;
use serde::Serialize;

use crate::integrity::{self, Verdict};
use crate::runner::Job;
use crate::runs::Liveness;
use crate::time::from_db;

/// The verdict and the facts behind it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Health {
    /// Nothing in `health_reasons`: the jobs that guard the trader work.
    pub healthy: bool,
    /// Minutes since the window of the oldest decision still pending ended (0 when none is due).
    pub settlement_lag_minutes: i64,
    /// Why the trader should not trade now, one sentence each; empty when healthy.
    pub health_reasons: Vec<String>,
    /// What is wrong but need not stop trading.
    pub health_warnings: Vec<String>,
    /// Each job (short name): its last success and whether it is overdue.
    pub job_health: BTreeMap<String, JobHealth>,
}

/// One job as the verdict sees it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JobHealth {
    /// When its last successful run ran (the job's `now`), or null: never.
    pub last_success: Option<String>,
    /// The longest normal gap between two of its runs on the timers, in minutes.
    pub due_every_minutes: i64,
    /// A run of it holds its lease now (the Telegram service runs for days).
    pub running: bool,
    /// No success within twice that gap, and not running.
    pub overdue: bool,
    /// Whether its being overdue (or never run) stops trading.
    pub guards_trading: bool,
}

/// The longest normal gap between two runs of a job on the timers' cadences
/// ([`crate::runner::JOBS`], which `crontab`, `systemd/*.timer` and the scheduler follow).
pub fn longest_normal_gap(job: Job) -> Duration {
    Duration::minutes(i64::from(job.spec().normal_gap_minutes))
}

/// How much a job's silence matters to the trader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Results and the loss guard: overdue or never run stops trading.
    Guard,
    /// The learning loop and the disk guard: overdue or never run warns.
    Watched,
    /// Optional (Telegram may be off, archival is weekly): overdue warns once it has run.
    Optional,
}

fn role(job: Job) -> Role {
    match job {
        Job::Settle | Job::Adjust => Role::Guard,
        Job::Reflect | Job::Cleanup => Role::Watched,
        Job::Telegram | Job::Archive => Role::Optional,
    }
}

/// What a job does, for the sentences.
fn duty(job: Job) -> &'static str {
    match job {
        Job::Settle => "it settles results, which the loss guard reads",
        Job::Adjust => "it runs the loss guard that pauses trading",
        Job::Reflect => "the learning loop",
        Job::Cleanup => "the disk-space guard",
        Job::Telegram => "notifications and approvals",
        Job::Archive => "weekly archival",
    }
}

/// What the verdict is drawn from (read by [`check`], judged by [`judge`]).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub jobs: Vec<(Job, Liveness)>,
    /// The end of the window of the oldest decision pending past its grace.
    pub oldest_due_end: Option<String>,
    pub integrity: Option<integrity::Check>,
    pub schema_version: i64,
    /// `settlement.alert_lag_hours`.
    pub lag_limit_hours: u32,
}

/// Reads the facts and judges them.
pub fn check(
    conn: &Connection,
    settings: &crate::config::Settings,
    now: DateTime<Utc>,
) -> Result<Health> {
    let grace = Duration::seconds(i64::from(settings.settlement.grace_seconds));
    let mut jobs = Vec::with_capacity(Job::ALL.len());
    for job in Job::ALL {
        jobs.push((job, crate::runs::liveness(conn, job, now)?));
    }
    let facts = Facts {
        jobs,
        oldest_due_end: oldest_due_window_end(conn, crate::time::sub(now, grace)?)?,
        integrity: integrity::last(conn)?,
        schema_version: crate::db::schema_version(conn)?,
        lag_limit_hours: settings.settlement.alert_lag_hours,
    };
    Ok(judge(&facts, now))
}

/// The end of the window of the oldest decision still pending whose window ended by
/// `due_before` (the settlement lag's start), if any.
pub fn oldest_due_window_end(
    conn: &Connection,
    due_before: DateTime<Utc>,
) -> Result<Option<String>> {
    crate::trades::oldest_due_end(conn, due_before)
}

/// The verdict on `facts` at `now` (pure).
pub fn judge(facts: &Facts, now: DateTime<Utc>) -> Health {
    let mut reasons = Vec::new();
    let mut warnings = Vec::new();
    let mut job_health = BTreeMap::new();
    for (job, live) in &facts.jobs {
        let (health, problem) = judge_job(*job, live, now);
        if let Some(problem) = problem {
            match health.guards_trading {
                true => reasons.push(problem),
                false => warnings.push(problem),
            }
        }
        job_health.insert(job.name().to_string(), health);
    }
    let lag = facts
        .oldest_due_end
        .as_deref()
        .and_then(|end| from_db(end).ok())
        .map_or(Duration::zero(), |end| (now - end).max(Duration::zero()));
    if lag >= Duration::hours(i64::from(facts.lag_limit_hours)) && lag > Duration::zero() {
        reasons.push(format!(
            "settlement is {} behind (the oldest unsettled window ended {} UTC; the limit is settlement.alert_lag_hours = {} h): see settle in polyperf status",
            span(lag),
            facts.oldest_due_end.as_deref().unwrap_or("?"),
            facts.lag_limit_hours
        ));
    }
    if let Some(check) = &facts.integrity {
        integrity_problem(check, &mut reasons, &mut warnings);
    }
    if facts.schema_version > crate::db::SCHEMA_VERSION {
        reasons.push(format!(
            "the database (schema v{}) is newer than this polyperf (v{}): upgrade polyperf; jobs of this version refuse it",
            facts.schema_version,
            crate::db::SCHEMA_VERSION
        ));
    }
    Health {
        healthy: reasons.is_empty(),
        settlement_lag_minutes: lag.num_minutes(),
        health_reasons: reasons,
        health_warnings: warnings,
        job_health,
    }
}

/// One job's state, and the sentence that says what is wrong with it, if anything.
fn judge_job(job: Job, live: &Liveness, now: DateTime<Utc>) -> (JobHealth, Option<String>) {
    let gap = longest_normal_gap(job);
    let last = live.last_success.as_deref().and_then(|t| from_db(t).ok());
    let silent_for = last.map(|t| (now - t).max(Duration::zero()));
    let overdue = !live.running && silent_for.is_none_or(|d| d > gap * 2);
    let role = role(job);
    let problem = match (overdue, silent_for) {
        (false, _) => None,
        (true, None) if role == Role::Optional => None,
        (true, None) => Some(format!(
            "{} has never run successfully ({}): enable polyperf-{}.timer (README, Install)",
            job.name(),
            duty(job),
            job.name()
        )),
        (true, Some(silence)) => Some(format!(
            "{} has not succeeded for {} ({}; due every {}, last success {} UTC): see its last error in polyperf status",
            job.name(),
            span(silence),
            duty(job),
            span(gap),
            live.last_success.as_deref().unwrap_or("?")
        )),
    };
    let health = JobHealth {
        last_success: live.last_success.clone(),
        due_every_minutes: gap.num_minutes(),
        running: live.running,
        overdue: overdue && !(role == Role::Optional && silent_for.is_none()),
        guards_trading: role == Role::Guard,
    };
    (health, problem)
}

fn integrity_problem(
    check: &integrity::Check,
    reasons: &mut Vec<String>,
    warnings: &mut Vec<String>,
) {
    let found: String = check
        .problems
        .as_deref()
        .unwrap_or("")
        .chars()
        .take(160)
        .collect();
    match check.result {
        Verdict::Ok => {}
        Verdict::Damaged | Verdict::Failed => reasons.push(format!(
            "the last integrity check ({} UTC) found the database {}: {found}; restore a backup or run sqlite3 .recover",
            check.checked_at,
            check.result.as_str()
        )),
        Verdict::Incomplete => warnings.push(format!(
            "the last integrity check ({} UTC) stopped at its time limit before the end",
            check.checked_at
        )),
    }
}

/// A length of time for people: `47 min`, `3 h 5 min`, `2 d 4 h`.
pub fn span(d: Duration) -> String {
    let minutes = d.num_minutes().max(0);
    let (days, hours, mins) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours, mins) {
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        crate::time::parse_rfc3339(s).unwrap()
    }

    /// Every job succeeded a minute before `now`.
    fn fresh(now: DateTime<Utc>) -> Facts {
        let at = crate::time::to_db(now - Duration::minutes(1));
        Facts {
            jobs: Job::ALL
                .iter()
                .map(|job| {
                    let live = Liveness {
                        last_success: Some(at.clone()),
                        running: false,
                    };
                    (*job, live)
                })
                .collect(),
            oldest_due_end: None,
            integrity: None,
            schema_version: crate::db::SCHEMA_VERSION,
            lag_limit_hours: 1,
        }
    }

    fn set(facts: &mut Facts, job: Job, last: Option<&str>, running: bool) {
        for (j, live) in &mut facts.jobs {
            if *j == job {
                *live = Liveness {
                    last_success: last.map(str::to_string),
                    running,
                };
            }
        }
    }

    #[test]
    fn guards_stop_trading_the_rest_warns() {
        let now = t("2026-02-11T12:00:00Z");
        let h = judge(&fresh(now), now);
        assert!(h.healthy, "{h:?}");
        assert_eq!((h.settlement_lag_minutes, h.health_warnings.len()), (0, 0));

        // settle 31 minutes silent (twice 15 is the limit): not healthy, and it says why.
        let mut facts = fresh(now);
        set(&mut facts, Job::Settle, Some("2026-02-11 11:29:00"), false);
        let h = judge(&facts, now);
        assert!(!h.healthy);
        assert_eq!(
            h.health_reasons,
            ["settle has not succeeded for 31 min (it settles results, which the loss guard reads; due every 15 min, last success 2026-02-11 11:29:00 UTC): see its last error in polyperf status"]
        );
        assert!(h.job_health["settle"].overdue && h.job_health["settle"].guards_trading);
        // 30 minutes is still within twice the cadence.
        set(&mut facts, Job::Settle, Some("2026-02-11 11:30:00"), false);
        assert!(judge(&facts, now).healthy);

        // adjust never ran: not healthy; cleanup overdue, reflect never ran: warnings only.
        let mut facts = fresh(now);
        set(&mut facts, Job::Adjust, None, false);
        set(&mut facts, Job::Cleanup, Some("2026-02-11 09:00:00"), false);
        set(&mut facts, Job::Reflect, None, false);
        let h = judge(&facts, now);
        assert!(!h.healthy);
        assert_eq!(h.health_reasons.len(), 1);
        assert!(h.health_reasons[0].starts_with("adjust has never run successfully"));
        assert_eq!(h.health_warnings.len(), 2, "{:?}", h.health_warnings);
        assert!(h.health_warnings[0].starts_with("reflect has never run"));
        assert!(h.health_warnings[1].starts_with("cleanup has not succeeded for 3 h"));
    }

    #[test]
    fn optional_jobs_and_running_services() {
        let now = t("2026-02-11T12:00:00Z");
        let mut facts = fresh(now);
        // Telegram never ran (it is off): nothing to say. Archive ran 15 days ago: a warning.
        set(&mut facts, Job::Telegram, None, false);
        set(&mut facts, Job::Archive, Some("2026-01-27 03:30:00"), false);
        let h = judge(&facts, now);
        assert!(h.healthy);
        assert!(!h.job_health["telegram"].overdue);
        assert_eq!(h.health_warnings.len(), 1);
        assert!(h.health_warnings[0].starts_with("archive has not succeeded for 15 d"));
        // The Telegram service: one run for days, its lease held. Running is alive.
        set(&mut facts, Job::Telegram, Some("2026-02-01 00:00:00"), true);
        let h = judge(&facts, now);
        assert!(!h.job_health["telegram"].overdue);
        set(
            &mut facts,
            Job::Telegram,
            Some("2026-02-01 00:00:00"),
            false,
        );
        assert!(judge(&facts, now)
            .health_warnings
            .iter()
            .any(|w| w.starts_with("telegram")));
    }

    #[test]
    fn lag_integrity_and_a_newer_database() {
        let now = t("2026-02-11T12:00:00Z");
        let mut facts = fresh(now);
        facts.oldest_due_end = Some("2026-02-11 11:01:00".into());
        let h = judge(&facts, now);
        assert!(h.healthy, "59 minutes is under the hour");
        assert_eq!(h.settlement_lag_minutes, 59);
        facts.oldest_due_end = Some("2026-02-11 10:00:00".into());
        let h = judge(&facts, now);
        assert_eq!(h.settlement_lag_minutes, 120);
        assert_eq!(h.health_reasons.len(), 1);
        assert!(
            h.health_reasons[0].starts_with("settlement is 2 h behind (the oldest unsettled window ended 2026-02-11 10:00:00 UTC; the limit is settlement.alert_lag_hours = 1 h)"),
            "{:?}",
            h.health_reasons
        );

        let mut facts = fresh(now);
        let check = |result| integrity::Check {
            checked_at: "2026-02-11 11:45:00".into(),
            result,
            problems: Some("row 7 missing from index idx_trades_timestamp".into()),
            elapsed_ms: 12,
            db_bytes: None,
        };
        facts.integrity = Some(check(Verdict::Damaged));
        let h = judge(&facts, now);
        assert!(!h.healthy);
        assert!(h.health_reasons[0].contains("found the database damaged: row 7 missing"));
        facts.integrity = Some(check(Verdict::Incomplete));
        let h = judge(&facts, now);
        assert!(h.healthy && h.health_warnings.len() == 1);

        let mut facts = fresh(now);
        facts.schema_version = crate::db::SCHEMA_VERSION + 1;
        let h = judge(&facts, now);
        assert!(!h.healthy);
        assert!(h.health_reasons[0].contains("is newer than this polyperf"));
    }

    #[test]
    fn spans_read_as_words() {
        for (minutes, text) in [
            (0, "0 min"),
            (47, "47 min"),
            (60, "1 h"),
            (185, "3 h 5 min"),
            (1440 * 2 + 250, "2 d 4 h"),
            (1440 * 7, "7 d"),
        ] {
            assert_eq!(span(Duration::minutes(minutes)), text);
        }
        assert_eq!(span(Duration::minutes(-5)), "0 min");
    }
}
