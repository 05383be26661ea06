//! Storing a reflection: the `reflections` row, the trades it covered, one `proposals` row per
//! usable recommendation and the insights message in the outbox, all in one transaction.
//! Never decides tiers or bounds (the adjuster does).

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use serde_json::json;

use super::answer::Answer;
use crate::config::{Engine, Settings};
use crate::kinds::Trigger;
use crate::outbox::message::{RecommendedChange, ReflectionNote};
use crate::outbox::{self, Message};
use crate::time::to_db;

/// A finished analysis, valid or not.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    pub triggered: &'a [Trigger],
    pub covered: &'a [i64],
    pub engine: Engine,
    pub model: Option<&'a str>,
    /// `Ok` with the validated answer, or `Err` with why the answer was unusable (or, with
    /// `failed`, why the model gave none).
    pub answer: std::result::Result<&'a Answer, &'a str>,
    /// The model gave no answer at all (down, out of quota, unreadable): status `failed`.
    pub failed: bool,
    /// Why a usable analysis stands in for another (the rules engine for the model), kept in
    /// its `error` column.
    pub note: Option<&'a str>,
    pub prompt: &'a str,
    pub raw_answer: Option<&'a str>,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
}

/// What was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Saved {
    pub reflection_id: i64,
    pub n_proposals: usize,
}

/// A message queued with the reflection, once per `dedup_key`.
#[derive(Debug, Clone)]
pub struct Alert {
    pub message: Message,
    pub dedup_key: String,
}

/// Stores `records` (an analysis, and the fallback of an unusable one) and `alert` in one
/// transaction. Secrets are scrubbed from every stored text.
pub fn save(
    conn: &mut Connection,
    settings: &Settings,
    records: &[Record<'_>],
    alert: Option<&Alert>,
    now: DateTime<Utc>,
) -> Result<Vec<Saved>> {
    let tx = crate::db::write_tx(conn)?;
    let saved = records
        .iter()
        .map(|record| save_one(&tx, settings, record, now))
        .collect::<Result<Vec<_>>>()?;
    if let Some(alert) = alert {
        let message: Message =
            serde_json::from_str(&settings.scrub(&serde_json::to_string(&alert.message)?))?;
        outbox::enqueue(
            &tx,
            &settings.telegram.notify,
            &message,
            Some(&alert.dedup_key),
            now,
        )?;
    }
    tx.commit()?;
    Ok(saved)
}

/// When the model started failing: the first `failed` reflection of the model since its last
/// answer (usable or not), if the last thing the model did was fail.
pub fn model_failing_since(conn: &Connection) -> Result<Option<DateTime<Utc>>> {
    let since: Option<String> = conn
        .prepare_cached(
            "SELECT min(timestamp) FROM reflections
             WHERE engine = 'openai' AND status = 'failed'
               AND id > coalesce((SELECT max(id) FROM reflections
                                  WHERE engine = 'openai' AND status != 'failed'), 0)",
        )?
        .query_row([], |r| r.get(0))?;
    // Written by this module; a time edited into nonsense reads as no outage (not a stop).
    Ok(since.and_then(|text| crate::time::from_db(&text).ok()))
}

/// One proposal per usable recommendation of `answer` (none for a parameter that is gone or a
/// value already in force), in the caller's transaction; returns their ids.
fn propose(
    tx: &Connection,
    settings: &Settings,
    answer: &Answer,
    reflection_id: i64,
    now: DateTime<Utc>,
) -> Result<Vec<i64>> {
    let mut proposal_ids = Vec::new();
    for rec in &answer.recommendations {
        // Proposals carry the live value: the adjuster compares against what is in force.
        let Some(live) = live_parameter(tx, &rec.parameter)? else {
            continue;
        };
        let proposed = rec.recommended.normalize();
        if proposed == live.value.normalize() {
            tracing::info!(parameter = %rec.parameter, "recommendation equals the live value; no proposal");
            continue;
        }
        let proposal = crate::proposals::New {
            reflection_id: Some(reflection_id),
            parameter: &rec.parameter,
            current_value: live.value.to_string(),
            proposed_value: proposed.to_string(),
            reason: Some(settings.scrub(&rec.reason)),
            expected_impact: rec.expected_impact.as_deref().map(|t| settings.scrub(t)),
            suggested_tier: rec.tier,
            ..Default::default()
        };
        proposal_ids.push(crate::proposals::insert(tx, &proposal, now)?);
    }
    Ok(proposal_ids)
}

/// Stores one reflection in the caller's transaction.
fn save_one(
    tx: &Connection,
    settings: &Settings,
    record: &Record<'_>,
    now: DateTime<Utc>,
) -> Result<Saved> {
    let (status, insights, error) = match record.answer {
        Ok(answer) => (
            "ok",
            Some(settings.scrub(&serde_json::to_string(answer)?)),
            record.note.map(|note| settings.scrub(note)),
        ),
        Err(why) if record.failed => ("failed", None, Some(settings.scrub(why))),
        Err(why) => ("invalid_answer", None, Some(settings.scrub(why))),
    };
    let trigger_type = record
        .triggered
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(",");
    tx.execute(
        "INSERT INTO reflections (timestamp, trigger_type, trades_analyzed, insights,
             adjustments_made, engine, model, status, prompt, raw_answer, error,
             prompt_tokens, completion_tokens)
         VALUES (?1, ?2, ?3, ?4, '[]', ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            to_db(now),
            trigger_type,
            record.covered.len() as i64,
            insights,
            record.engine.as_str(),
            record.model,
            status,
            settings.scrub(record.prompt),
            record.raw_answer.map(|a| settings.scrub(a)),
            error,
            record.prompt_tokens,
            record.completion_tokens,
        ],
    )?;
    let reflection_id = tx.last_insert_rowid();
    {
        let mut cover = tx.prepare_cached(
            "INSERT OR IGNORE INTO reflection_trades (reflection_id, trade_id) VALUES (?1, ?2)",
        )?;
        for trade_id in record.covered {
            cover.execute(params![reflection_id, trade_id])?;
        }
    }
    let mut proposal_ids = Vec::new();
    if let Ok(answer) = record.answer {
        proposal_ids = propose(tx, settings, answer, reflection_id, now)?;
        tx.execute(
            "UPDATE reflections SET adjustments_made = ?1 WHERE id = ?2",
            params![json!(proposal_ids).to_string(), reflection_id],
        )?;
        let note = Message::Insights(ReflectionNote {
            reflection_id,
            trigger: record.triggered.to_vec(),
            engine: record.engine,
            // What was dropped to keep the answer bounded is said with its insights.
            insights: answer
                .insights
                .iter()
                .chain(&answer.notes)
                .cloned()
                .collect(),
            recommendations: answer.recommendations.iter().map(recommended).collect(),
            proposal_ids: proposal_ids.clone(),
        });
        // Secrets are scrubbed from the whole message, as from every stored text.
        let note: Message = serde_json::from_str(&settings.scrub(&serde_json::to_string(&note)?))?;
        outbox::enqueue(
            tx,
            &settings.telegram.notify,
            &note,
            Some(&format!("insights:{reflection_id}")),
            now,
        )?;
    }
    Ok(Saved {
        reflection_id,
        n_proposals: proposal_ids.len(),
    })
}

/// A recommendation in the words of the reflection's note.
fn recommended(r: &super::answer::Recommendation) -> RecommendedChange {
    RecommendedChange {
        parameter: r.parameter.clone(),
        current: r.current,
        recommended: r.recommended,
        reason: r.reason.clone(),
        tier: r.tier,
        expected_impact: r.expected_impact.clone(),
    }
}

/// The live parameter a recommendation names, or None (with a warning) when it no longer
/// exists or holds what no reader may use (a hand edit): no proposal is made on it.
fn live_parameter(tx: &Connection, name: &str) -> Result<Option<crate::params::Parameter>> {
    let Some(stored) = crate::params::stored(tx, name)? else {
        tracing::warn!(parameter = %name, "recommendation for a parameter that no longer exists; skipped");
        return Ok(None);
    };
    match stored.check() {
        Ok(live) => Ok(Some(live)),
        Err(bad) => {
            tracing::warn!(parameter = %name, "recommendation skipped: {bad}");
            Ok(None)
        }
    }
}
