//! The walk: the loop replayed day by day in a scratch database (in memory) that holds only
//! what was known at each point: a settled decision enters it once its market has ended. At
//! the end of each day the same library functions the jobs call run on it: the reflection's
//! triggers ([`reflect::triggers::evaluate`], with the daily `end_of_day` request), the
//! analysis ([`reflect::Prepared::load`], the rules engine or a model), [`reflect::conclude`],
//! and the adjuster ([`adjust::run_sync`]: tiers, bounds, steps, cooldowns, replay evidence,
//! rollback watch) at the autonomy being evaluated. Decisions older than the archive's
//! retention leave the scratch database as polyperf-archive moves them out of the live one.
//! The live database is only read.

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, DurationRound, Utc};
use rusqlite::{params, Connection};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::adjust;
use crate::config::{Autonomy, Settings};
use crate::kinds::Action;
use crate::money::fees::FeeRules;
use crate::reflect::{self, Analysis, Prepared, Requested};
use crate::replay::counterfactual::{Fate, Timeline, Values, Walker, NAMES};
use crate::time::{from_db, to_db};
use crate::trades::scratch::{self as copy, Rewrite};

/// A parameter change the loop made during the walk.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Change {
    pub at: String,
    pub parameter: String,
    pub old: Decimal,
    pub new: Decimal,
    /// 1 or 2 (the proposal's tier); None for an automatic rollback.
    pub tier: Option<i64>,
    /// `auto` or `rollback`.
    pub method: String,
}

/// What the walk produced.
#[derive(Debug, Clone, Default)]
pub struct Walked {
    pub changes: Vec<Change>,
    /// Days walked (folds).
    pub folds: usize,
    pub reflections: usize,
    /// Tier-2 requests nobody could answer during the walk (counted as not applied).
    pub left_for_approval: u64,
    /// Decisions the walk's reflections saw as the loop's values would have made them.
    pub rewritten: u64,
}

/// How a prepared reflection is analysed: the rules engine, or a model (with stored answers).
pub trait Analyst {
    fn analyse(&mut self, prepared: &Prepared, settings: &Settings) -> Result<Analysis>;
}

/// The rules engine, offline.
pub struct Rules;

impl Analyst for Rules {
    fn analyse(&mut self, prepared: &Prepared, settings: &Settings) -> Result<Analysis> {
        Analysis::by_rules(prepared, settings)
    }
}

/// What a walk starts from.
pub struct Start<'a> {
    pub settings: &'a Settings,
    pub autonomy: Autonomy,
    /// The first decision's time (and earlier ones are left out) and the evaluation's now.
    pub since: DateTime<Utc>,
    pub now: DateTime<Utc>,
    /// The parameters' values in force at `since`.
    pub values: &'a [(String, Decimal)],
    /// The values really in force over time (`parameter_history`), and settlement's fees:
    /// what the walk's own reflections see is the history the loop's changes, laid over the
    /// record ([`Timeline::overlaid`]), would have made.
    pub actual: &'a Timeline,
    pub fees: FeeRules,
}

/// Walks the settled decisions of `live` (read through its file) from `since` to `now`.
pub fn walk(live: &Connection, start: &Start<'_>, analyst: &mut dyn Analyst) -> Result<Walked> {
    let (since, now) = (start.since, start.now);
    let path = live
        .path()
        .filter(|p| !p.is_empty())
        .context("the evaluation reads the database from its file; this connection has none")?;
    let mut scratch = Connection::open_in_memory()?;
    crate::db::migrate(&mut scratch)?;
    // Read-only: the evaluation cannot write to the live database through this attachment.
    scratch.execute("ATTACH DATABASE ?1 AS live", [read_only_uri(path)])?;
    let mut settings = start.settings.clone();
    settings.adjust.autonomy = start.autonomy;
    start_values(&scratch, start.values)?;
    // Earlier evaluations were known when they were made: autonomy `full` may ask them.
    scratch.execute(
        "INSERT INTO main.evaluations SELECT * FROM live.evaluations WHERE created_at <= ?1",
        [to_db(now)],
    )?;

    copy::list_known(&scratch, since)?;
    let mut walked = Walked::default();
    let mut walker = Walker::new(start.fees);
    let mut loop_changes: Vec<(DateTime<Utc>, String, Decimal)> = Vec::new();
    let mut from = since;
    let mut boundary = since
        .duration_trunc(Duration::days(1))
        .context("truncating to a day")?
        + Duration::days(1);
    loop {
        let b = boundary.min(now);
        copy::copy_known(&scratch, (from, b))?;
        let in_force = start.actual.overlaid(&loop_changes);
        walked.rewritten +=
            as_the_loop_would(&scratch, (from, b), (start.actual, &in_force), &mut walker)?;
        walked.folds += 1;
        let eval = reflect::triggers::evaluate(&scratch, &settings, Some(Requested::EndOfDay), b)?;
        if !eval.fired.is_empty() && !eval.uncovered.is_empty() {
            let prepared = Prepared::load(&scratch, &settings, eval, b)?;
            let analysis = analyst.analyse(&prepared, &settings)?;
            reflect::conclude(&mut scratch, &settings, &prepared, analysis, b, false)?;
            walked.reflections += 1;
        }
        let stats = adjust::run_sync(&mut scratch, &settings, b, false)?;
        walked.left_for_approval += stats.awaiting_approval;
        archive_old(&scratch, &settings, b)?;
        loop_changes = changes(&scratch)?
            .into_iter()
            .filter_map(|c| Some((from_db(&c.at).ok()?, c.parameter, c.new)))
            .collect();
        follow_record(&scratch, start.actual.at(b), &loop_changes)?;
        if b >= now {
            break;
        }
        from = b;
        boundary = b + Duration::days(1);
    }
    walked.changes = changes(&scratch)?;
    Ok(walked)
}

/// `path` as an SQLite URI opening it read-only (`%`, `?` and `#` escaped).
fn read_only_uri(path: &str) -> String {
    let escaped = path
        .replace('%', "%25")
        .replace('?', "%3f")
        .replace('#', "%23");
    format!("file:{escaped}?mode=ro")
}

/// Sets the scratch parameters to the live ones, with `start`'s values (name, value).
fn start_values(scratch: &Connection, start: &[(String, Decimal)]) -> Result<()> {
    scratch.execute_batch(
        "DELETE FROM main.parameters;
         INSERT INTO main.parameters SELECT * FROM live.parameters;",
    )?;
    for (name, value) in start {
        scratch.execute(
            "UPDATE main.parameters SET value = ?1 WHERE name = ?2",
            params![value.to_string(), name],
        )?;
    }
    Ok(())
}

/// Sets the scratch parameters the loop has not changed yet to the values the record had in
/// force (`record`): a parameter follows the record until the loop takes it over.
fn follow_record(
    scratch: &Connection,
    record: Values,
    loop_changes: &[(DateTime<Utc>, String, Decimal)],
) -> Result<()> {
    for name in NAMES {
        let (Some(value), false) = (
            record.get(name),
            loop_changes.iter().any(|(_, changed, _)| changed == name),
        ) else {
            continue;
        };
        scratch.execute(
            "UPDATE main.parameters SET value = ?1 WHERE name = ?2 AND value != ?1",
            params![value.to_string(), name],
        )?;
    }
    Ok(())
}

/// Rewrites the decisions just copied (known in [from, to)) as the trader would have made
/// them under the loop's values (`in_force`, against the `actual` ones), by the replay's
/// rules: a trade between the old and a raised threshold becomes a HOLD, a HOLD between the
/// old and a lowered one is taken, a changed position size is settled again at the scaled
/// stake. So the walk's later reflections look at the history the loop would have made.
fn as_the_loop_would(
    scratch: &Connection,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    (actual, in_force): (&Timeline, &Timeline),
    walker: &mut Walker,
) -> Result<u64> {
    let mut rewritten = 0;
    for row in copy::known_rows(scratch, (from, to))? {
        let Some(at) = row.timestamp else { continue };
        let Some(step) = walker.step(&row, &actual.at(at), &in_force.at(at)) else {
            continue;
        };
        if step.replayed == step.actual {
            continue;
        }
        let as_made = match &step.replayed {
            Fate::Hold { missed } => Rewrite::Hold { missed: *missed },
            Fate::Trade(p) => Rewrite::Trade {
                action: if p.yes { Action::Yes } else { Action::No },
                price: p.price,
                stake: p.stake,
                pnl: p.pnl,
                won: p.won,
                fee: p.fee,
                fee_asset: p.fee_asset,
            },
        };
        copy::rewrite(scratch, row.id, &as_made)?;
        rewritten += 1;
    }
    Ok(rewritten)
}

/// Removes from the scratch database the decisions that became known more than the archive's
/// retention (at least `adjust.replay_days` + 7 days) before `now`, as polyperf-archive does
/// live: no reflection or adjuster step reads that far back, and the triggers' scan of
/// uncovered decisions stays short.
fn archive_old(scratch: &Connection, settings: &Settings, now: DateTime<Utc>) -> Result<()> {
    let days = settings
        .archive
        .retention_days
        .max(settings.adjust.replay_days.saturating_add(7));
    copy::archive_before(scratch, crate::time::days_before(now, days)?)
}

/// The changes the walk applied, in order.
fn changes(scratch: &Connection) -> Result<Vec<Change>> {
    let mut stmt = scratch.prepare(
        "SELECT h.timestamp, h.parameter_name, h.old_value, h.new_value, p.tier, h.approval_method
         FROM main.parameter_history h LEFT JOIN main.proposals p ON p.id = h.proposal_id
         ORDER BY h.timestamp, h.id",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(at, parameter, old, new, tier, method)| {
            from_db(&at)?;
            Ok(Change {
                old: crate::params::parse_value(&parameter, &old)?,
                new: crate::params::parse_value(&parameter, &new)?,
                at,
                parameter,
                tier,
                method,
            })
        })
        .collect()
}
