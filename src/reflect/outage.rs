//! When the model cannot answer after `llm.max_attempts` attempts. A model that is only
//! unavailable (down, 5xx, rate limited, timing out) is waited for: the run exits 75 and the
//! trigger fires again on the next run, for up to `llm.fallback_after_minutes` (60) after the
//! outage's first failed run, which is recorded once as a `failed` reflection that covers no
//! trade (so later runs know since when). After that, or at once when waiting cannot help
//! (401/403, 429 `insufficient_quota`, a refused request, an answer with no completion), the
//! rules engine reflects instead: a `failed` reflection (engine `openai`, why) and the rules
//! engine's beside it (its `error` saying it stood in, and why), with one alert per outage
//! (until the model answers again), never a run that exits 75 for ever with no reflection.

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use rusqlite::Connection;

use super::llm::Failure;
use super::{conclude_with, store, Analysis, Prepared, Stats};
use crate::config::Settings;
use crate::error::temp_fail;
use crate::outbox::Message;
use crate::time::to_db;

/// What to do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Leave the reflection to a later run (exit 75); the rules engine answers from `until`.
    Wait { until: DateTime<Utc> },
    /// The rules engine reflects now.
    FallBack,
}

/// Whether to wait for the model or fall back now, given when it started failing (`since`,
/// `None`: this is its first failure) and how long an outage is waited for. Pure.
pub fn next(
    failure: &Failure,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    wait_minutes: u32,
) -> Next {
    let Failure::Unavailable(_) = failure else {
        return Next::FallBack;
    };
    let start = since.filter(|s| *s <= now).unwrap_or(now);
    match start.checked_add_signed(Duration::minutes(i64::from(wait_minutes))) {
        Some(until) if until > now => Next::Wait { until },
        _ => Next::FallBack,
    }
}

/// The run the failure happened in.
pub struct Run<'a> {
    pub prepared: &'a Prepared,
    pub now: DateTime<Utc>,
    pub dry_run: bool,
}

/// Handles a model that gave no answer: waits (exit 75) or lets the rules engine reflect.
pub fn without_model(
    conn: &mut Connection,
    settings: &Settings,
    run: &Run<'_>,
    failure: &Failure,
) -> Result<Stats> {
    let since = store::model_failing_since(conn)?;
    let model = settings.llm.model.as_str();
    let why = settings.scrub(failure.reason());
    let failed = Analysis::model_failed(model, &why);
    match next(failure, since, run.now, settings.llm.fallback_after_minutes) {
        Next::Wait { until } => {
            if since.is_none() && !run.dry_run {
                // The outage's first failure, recorded once: later runs know since when.
                let prompt = run.prepared.prompt.text();
                let record = failed.record(run.prepared, &prompt);
                store::save(conn, settings, &[record], None, run.now)?;
            }
            tracing::warn!(error = %why, until = %to_db(until), "the model is unavailable; the reflection waits for it");
            Err(temp_fail(format!(
                "the model is unavailable since {} ({why}); the reflection waits for it until {} UTC, then the rules engine answers (llm.fallback_after_minutes)",
                to_db(since.unwrap_or(run.now)),
                to_db(until)
            )))
        }
        Next::FallBack => {
            let since = since.unwrap_or(run.now);
            let alert = store::Alert {
                message: Message::text(format!(
                    "The model ({model}) could not answer since {} UTC: {why}. The rules engine reflected instead, and stands in until the model answers again.",
                    to_db(since)
                )),
                dedup_key: format!("model_failed:{}", to_db(since)),
            };
            conclude_with(
                conn,
                settings,
                run.prepared,
                failed,
                Some(alert),
                run.now,
                run.dry_run,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_waited_for_a_while_and_a_refusal_not_at_all() {
        let t = |minute: i64| {
            crate::time::parse_rfc3339("2026-02-11T10:00:00Z").unwrap() + Duration::minutes(minute)
        };
        let down = Failure::Unavailable("HTTP 503".into());
        let quota = Failure::Permanent("HTTP 429 insufficient_quota".into());
        let cases = [
            (&down, None, t(0), 60, Next::Wait { until: t(60) }),
            (&down, Some(t(0)), t(45), 60, Next::Wait { until: t(60) }),
            (&down, Some(t(0)), t(60), 60, Next::FallBack),
            (&down, Some(t(0)), t(600), 60, Next::FallBack),
            (&down, None, t(0), 0, Next::FallBack),
            // A stored start in the future (a rerun with an earlier --now) counts from now.
            (&down, Some(t(500)), t(0), 60, Next::Wait { until: t(60) }),
            (&quota, None, t(0), 60, Next::FallBack),
            (&quota, Some(t(0)), t(1), 60, Next::FallBack),
            (&down, None, DateTime::<Utc>::MAX_UTC, 60, Next::FallBack),
        ];
        for (failure, since, now, wait, want) in cases {
            assert_eq!(
                next(failure, since, now, wait),
                want,
                "{failure} {since:?} {now}"
            );
        }
    }
}
