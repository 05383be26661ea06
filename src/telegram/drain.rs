//! Delivering the outbox: oldest first, each row marked sent right after its HTTP call in its
//! own small transaction (a crash in between costs at most one duplicate, never a loss).
//! Tests simulate that crash with `POLYPERF_FAULT_TELEGRAM_CRASH_AFTER_SEND=1` (abort after send).

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection};
use serde_json::{json, Value};

use super::api::{ApiError, Bot, Misconfigured, Outgoing, MAX_ERROR_CHARS};
use super::{chat, render, Stats};
use crate::body::clip;
use crate::config::{Notification, Settings};
use crate::outbox::message::ApprovalRequest;
use crate::outbox::{Kind, Message};
use crate::time::to_db;

/// A 429 asking for at most this long is waited out within the run.
const MAX_WAIT_SECS: u64 = 10;
/// Longest deferral a `retry_after` may ask for (a day); larger answers are capped.
const MAX_DEFER_SECS: u64 = 86_400;

struct Row {
    id: i64,
    kind: String,
    payload: Value,
    attempts: i64,
    next_attempt_at: Option<String>,
}

/// How a drain ended.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// Everything due was handled.
    Done,
    /// The API was unavailable or rate-limited for long; the rest waits for the next run.
    Deferred(String),
    /// Telegram refuses the token or the chat: nothing was marked, the run stops (exit 2).
    Misconfigured(Misconfigured),
}

fn pending(conn: &Connection) -> Result<Vec<Row>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, kind, payload, attempts, next_attempt_at FROM outbox WHERE status = 'pending' ORDER BY id",
    )?;
    let rows = stmt
        .query_map([], |r| {
            let payload: String = r.get(2)?;
            Ok(Row {
                id: r.get(0)?,
                kind: r.get(1)?,
                payload: serde_json::from_str(&payload).unwrap_or(Value::String(payload)),
                attempts: r.get(3)?,
                next_attempt_at: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// One message to send: one row, or several rows of one kind merged.
struct Unit {
    ids: Vec<i64>,
    /// The kind of its rows (None: a kind this version does not know).
    kind: Option<Kind>,
    attempts: i64,
    text: String,
    markup: Option<Value>,
}

/// The units to send: rows of a kind that has many waiting merged into one, approvals never.
/// `can_apply`: the current autonomy can apply an approved change (else approval requests go
/// out without buttons, saying so).
fn plan(rows: Vec<Row>, merge_threshold: usize, can_apply: bool) -> Vec<Unit> {
    let mut counts = std::collections::HashMap::<String, usize>::new();
    for row in &rows {
        *counts.entry(row.kind.clone()).or_default() += 1;
    }
    let mut units: Vec<Unit> = Vec::new();
    let mut merged_index = std::collections::HashMap::<String, (usize, Vec<Value>)>::new();
    for row in rows {
        let kind = Kind::of_column(&row.kind);
        let merge = kind != Some(Kind::Approval)
            && merge_threshold > 1
            && counts[&row.kind] >= merge_threshold;
        if merge {
            if let Some((index, payloads)) = merged_index.get_mut(&row.kind) {
                units[*index].ids.push(row.id);
                units[*index].attempts = units[*index].attempts.max(row.attempts);
                payloads.push(row.payload);
                continue;
            }
            merged_index.insert(row.kind.clone(), (units.len(), vec![row.payload]));
            units.push(Unit {
                ids: vec![row.id],
                kind,
                attempts: row.attempts,
                text: row.kind,
                markup: None,
            });
            continue;
        }
        let (text, markup) = match Message::from_row(&row.kind, &row.payload) {
            Ok(Message::Approval(request)) => (
                render::approval(&request, can_apply),
                approval_buttons(&request).filter(|_| can_apply),
            ),
            Ok(message) => (render::render(&message), None),
            Err(_) => (render::render_row(&row.kind, &row.payload), None),
        };
        units.push(Unit {
            ids: vec![row.id],
            kind,
            attempts: row.attempts,
            text,
            markup,
        });
    }
    for (_, (index, payloads)) in merged_index {
        let kind = std::mem::take(&mut units[index].text);
        units[index].text = render::render_merged(&kind, &payloads);
    }
    units
}

/// The Approve / Reject keyboard of an approval request (None without a nonce). When the
/// replay is against the change, the button says "Approve anyway".
pub fn approval_buttons(request: &ApprovalRequest) -> Option<Value> {
    let (id, nonce) = (request.proposal_id, &request.nonce);
    if nonce.is_empty() {
        return None;
    }
    let approve = format!("approve:{id}:{nonce}");
    let reject = format!("reject:{id}:{nonce}");
    if reject.len() > 64 || approve.len() > 64 {
        return None;
    }
    let against = request.replay.as_ref().is_some_and(|r| r.against());
    let label = if against { "Approve anyway" } else { "Approve" };
    Some(json!({"inline_keyboard": [[
        {"text": label, "callback_data": approve},
        {"text": "Reject", "callback_data": reject}
    ]]}))
}

/// Backoff before the next attempt after `attempts` failures: 30 s doubling, at most 1 h.
pub fn backoff(attempts: i64) -> Duration {
    let exp = (attempts.max(1) - 1).min(7) as u32;
    Duration::seconds((30i64 << exp).min(3600))
}

/// Sends every due pending row, oldest first. Stops at the first failure that is not the
/// row's own fault, so messages are never delivered out of order.
pub async fn drain(
    conn: &mut Connection,
    settings: &Settings,
    bot: &Bot,
    now: DateTime<Utc>,
    stats: &mut Stats,
) -> Result<Outcome> {
    let mut chat_id = chat::current(conn, settings)?;
    let notify = settings.telegram.notify;
    let (rows, off): (Vec<Row>, Vec<Row>) = pending(conn)?.into_iter().partition(|row| {
        Kind::of_column(&row.kind).is_none_or(|kind| notify.of(kind.notice()) != Notification::Off)
    });
    drop_turned_off(conn, &off)?;
    // Order matters more than speed: a row waiting for its retry holds back the ones after it.
    if let Some(head) = rows.first() {
        if head
            .next_attempt_at
            .as_deref()
            .is_some_and(|t| t > to_db(now).as_str())
        {
            tracing::info!(outbox_id = head.id, next_attempt_at = ?head.next_attempt_at, "oldest message waits for its retry");
            return Ok(Outcome::Done);
        }
    }
    let can_apply = settings.adjust.autonomy.applies_changes();
    let units = plan(rows, settings.telegram.merge_threshold as usize, can_apply);
    for unit in units {
        let message = Outgoing {
            text: &unit.text,
            markup: unit.markup.clone(),
            silent: unit
                .kind
                .is_some_and(|kind| notify.of(kind.notice()) == Notification::Silent),
        };
        match deliver_following(conn, settings, bot, &mut chat_id, &message, now).await? {
            Delivery::Sent(message_id) => {
                mark_sent(conn, &unit.ids, message_id, now)?;
                stats.sent += unit.ids.len() as u64;
                tracing::info!(outbox_ids = ?unit.ids, message_id, "sent");
            }
            Delivery::RateLimited(secs, detail) => {
                // `secs` is the server's word: bounded before any date arithmetic.
                let wait = Duration::seconds(secs.min(MAX_DEFER_SECS) as i64);
                let when = crate::time::add(now, wait)?;
                defer(conn, &unit.ids, &detail, when)?;
                return Ok(Outcome::Deferred(settings.scrub(&detail)));
            }
            Delivery::Refused(detail) => {
                // This message will never be accepted as it is: fail it, go on.
                let error = settings.scrub(&detail);
                tracing::warn!(outbox_ids = ?unit.ids, error = %error, "message rejected");
                record_failure(conn, &unit, &error, now, 1)?;
                stats.failed += unit.ids.len() as u64;
            }
            // Not the message's fault: nothing is marked, no attempt is counted.
            Delivery::Misconfigured(setting) => return Ok(Outcome::Misconfigured(setting)),
            Delivery::Failed(e) => {
                let error = settings.scrub(&e.to_string());
                let failed = record_failure(
                    conn,
                    &unit,
                    &error,
                    now,
                    settings.telegram.max_attempts as i64,
                )?;
                if failed {
                    stats.failed += unit.ids.len() as u64;
                }
                tracing::warn!(outbox_ids = ?unit.ids, error = %error, failed, "sending failed");
                return Ok(Outcome::Deferred(error));
            }
        }
    }
    Ok(Outcome::Done)
}

/// How one message's delivery ended.
pub(super) enum Delivery {
    Sent(i64),
    /// 429 asking for longer than [`MAX_WAIT_SECS`] (or a second 429): wait this long.
    RateLimited(u64, String),
    /// 400: this message will never be accepted as it is.
    Refused(String),
    /// Unavailable (5xx, timeout, …) or refused for another reason: try again later. (A chat
    /// that migrated comes as `Failed(ApiError::Migrated)`: [`deliver_following`] follows it.)
    Failed(ApiError),
    /// The token or the chat is wrong: no message can go until the operator fixes it.
    Misconfigured(Misconfigured),
}

/// Sends one message, waiting out one short 429 within the run.
/// Tests simulate a crash right after a send with `POLYPERF_FAULT_TELEGRAM_CRASH_AFTER_SEND=1`.
pub(super) async fn deliver(bot: &Bot, chat_id: &str, message: &Outgoing<'_>) -> Delivery {
    let mut waited = false;
    loop {
        match bot.send_message(chat_id, message).await {
            Ok(message_id) => {
                crash_point();
                return Delivery::Sent(message_id);
            }
            Err(ApiError::RetryAfter(secs, detail)) => {
                if !waited && secs <= MAX_WAIT_SECS {
                    tracing::warn!(retry_after_secs = secs, "rate limited; waiting");
                    tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
                    waited = true;
                    continue;
                }
                return Delivery::RateLimited(secs, detail);
            }
            Err(e) => {
                if let Some(setting) = e.misconfigured(chat_id) {
                    return Delivery::Misconfigured(setting);
                }
                return match e {
                    ApiError::Permanent(400, detail) => Delivery::Refused(detail),
                    e => Delivery::Failed(e),
                };
            }
        }
    }
}

/// Sends one message to the bot's chat ([`deliver`]); when Telegram answers that the chat
/// became a supergroup, follows it ([`chat::follow`]: stored, the operator told) and sends
/// there, once. `chat_id` is where the rest of the run sends.
pub(super) async fn deliver_following(
    conn: &mut Connection,
    settings: &Settings,
    bot: &Bot,
    chat_id: &mut String,
    message: &Outgoing<'_>,
    now: DateTime<Utc>,
) -> Result<Delivery> {
    match deliver(bot, chat_id, message).await {
        Delivery::Failed(ApiError::Migrated(to, _)) => {
            chat::follow(conn, settings, to, now)?;
            *chat_id = to.to_string();
            Ok(match deliver(bot, chat_id, message).await {
                // Twice in a row is no migration Telegram makes: try again later.
                Delivery::Failed(ApiError::Migrated(_, detail)) => {
                    Delivery::Failed(ApiError::Transient(detail))
                }
                other => other,
            })
        }
        other => Ok(other),
    }
}

/// Fault point for tests: the message went out but is not marked (or its watermark not moved).
pub(super) fn crash_point() {
    if std::env::var("POLYPERF_FAULT_TELEGRAM_CRASH_AFTER_SEND").is_ok_and(|v| v == "1") {
        std::process::abort();
    }
}

/// Rows queued before their kind was turned `off` in `[telegram.notify]`: never sent, so they
/// leave the queue.
fn drop_turned_off(conn: &mut Connection, rows: &[Row]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let tx = crate::db::write_tx(conn)?;
    for row in rows {
        tx.execute(
            "DELETE FROM outbox WHERE id = ?1 AND status = 'pending'",
            [row.id],
        )?;
    }
    tx.commit()?;
    tracing::info!(
        n = rows.len(),
        "dropped waiting messages of kinds turned off in [telegram.notify]"
    );
    Ok(())
}

fn mark_sent(
    conn: &mut Connection,
    ids: &[i64],
    message_id: i64,
    now: DateTime<Utc>,
) -> Result<()> {
    let tx = crate::db::write_tx(conn)?;
    for id in ids {
        tx.execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?1, message_id = ?2, last_error = NULL
             WHERE id = ?3 AND status = 'pending'",
            params![to_db(now), message_id, id],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// A 429 that asks for long: not the row's fault, so no attempt is counted.
fn defer(conn: &mut Connection, ids: &[i64], error: &str, when: DateTime<Utc>) -> Result<()> {
    let error = clip(error, MAX_ERROR_CHARS);
    let tx = crate::db::write_tx(conn)?;
    for id in ids {
        tx.execute(
            "UPDATE outbox SET last_error = ?1, next_attempt_at = ?2 WHERE id = ?3 AND status = 'pending'",
            params![error, to_db(when), id],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// Counts an attempt; at `max_attempts` the rows become `failed` (1: fail now). Returns whether
/// they did.
fn record_failure(
    conn: &mut Connection,
    unit: &Unit,
    error: &str,
    now: DateTime<Utc>,
    max_attempts: i64,
) -> Result<bool> {
    let attempts = unit.attempts + 1;
    let failed = attempts >= max_attempts;
    let status = if failed { "failed" } else { "pending" };
    let next = to_db(now + backoff(attempts));
    let error = clip(error, MAX_ERROR_CHARS);
    let tx = crate::db::write_tx(conn)?;
    for id in &unit.ids {
        tx.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?1, next_attempt_at = ?2, status = ?3
             WHERE id = ?4 AND status = 'pending'",
            params![error, next, status, id],
        )?;
    }
    tx.commit()?;
    Ok(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        for (attempts, secs) in [(1, 30), (2, 60), (3, 120), (7, 1920), (8, 3600), (50, 3600)] {
            assert_eq!(backoff(attempts), Duration::seconds(secs), "{attempts}");
        }
    }

    #[test]
    fn buttons_fit_callback_data() {
        let request = |proposal_id, nonce: &str| ApprovalRequest {
            proposal_id,
            nonce: nonce.to_string(),
            ..ApprovalRequest::default()
        };
        let b = approval_buttons(&request(12, "9f3a")).unwrap();
        assert_eq!(
            b["inline_keyboard"][0][0]["callback_data"],
            "approve:12:9f3a"
        );
        assert_eq!(
            b["inline_keyboard"][0][1]["callback_data"],
            "reject:12:9f3a"
        );
        assert!(approval_buttons(&request(1, &"x".repeat(70))).is_none());
        assert!(approval_buttons(&request(1, "")).is_none());
        assert_eq!(b["inline_keyboard"][0][0]["text"], "Approve");
        // A replay against the change: the button says so too.
        let losing = ApprovalRequest {
            replay: Some(crate::outbox::message::ReplayFigures {
                judgeable: true,
                difference: rust_decimal::Decimal::new(-27904, 2),
                ..Default::default()
            }),
            ..request(12, "9f3a")
        };
        let b = approval_buttons(&losing).unwrap();
        assert_eq!(b["inline_keyboard"][0][0]["text"], "Approve anyway");
    }
}
