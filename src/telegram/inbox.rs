//! Reading updates: commands and approval button presses from the configured chat only (or the
//! supergroup it became, [`super::chat`]), commands addressed to this bot only
//! ([`super::identity`]), changes only from authorised users ([`super::auth`]); every other
//! update is confirmed and passed over ([`super::update`]). The offset is saved after each
//! update, so an update is handled again only after a crash mid-update (and the handlers are
//! idempotent).

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde_json::Value;

use super::api::{ApiError, Bot, Misconfigured, Outgoing};
use super::auth::{self, Sender};
use super::command::{self, help, parse as parse_command, Command, CommandError};
use super::render::{esc, esc_short, MAX_FIELD_CHARS};
use super::state::{self, Key};
use super::update::{self, Update};
use super::{chat, health_view, identity, profit, views, Stats};
use crate::config::Settings;
use crate::error::temp_fail;
use crate::proposals::{self, Verdict};

/// The next update id to ask for. Kept as text that may hold one past `i64::MAX`, so an update
/// at the largest id is handled once and never again (Telegram is then asked from `i64::MAX`
/// and that update is skipped); a stored value out of that range reads as the nearest bound.
pub fn load_offset(conn: &Connection) -> Result<i128> {
    Ok(state::get(conn, Key::UpdateOffset)?
        .and_then(|v| v.trim().parse::<i128>().ok())
        .map_or(0, |offset| {
            offset.clamp(i128::from(i64::MIN), i128::from(i64::MAX) + 1)
        }))
}

fn save_offset(conn: &Connection, offset: i128) -> Result<()> {
    state::set(conn, Key::UpdateOffset, &offset.to_string())
}

/// Why no updates could be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unread {
    /// 409 Conflict: another process polls this bot token. A watch stops rather than fight it.
    #[error("another process is polling this bot token (getUpdates answered 409 Conflict); run only one polyperf-telegram")]
    Conflict,
    /// The Bot API is unavailable for now (the text is scrubbed of secrets). A watch retries.
    #[error("reading updates: {0}")]
    Unavailable(String),
    /// Telegram refuses the token: exit 2 naming the setting ([`Unread::into_error`]).
    #[error("reading updates: telegram refuses a setting")]
    Misconfigured(Misconfigured),
}

impl Unread {
    /// As the run's error: try again later (75), or fix the setting (2).
    pub fn into_error(self, pending: i64) -> anyhow::Error {
        match self {
            Unread::Misconfigured(setting) => setting.into_error(pending),
            other => temp_fail(other.to_string()),
        }
    }

    fn of(settings: &Settings, e: ApiError) -> Unread {
        match e {
            ApiError::Conflict(_) => Unread::Conflict,
            ApiError::Unauthorized(_) => match e.misconfigured("") {
                Some(setting) => Unread::Misconfigured(setting),
                None => Unread::Unavailable(settings.scrub(&e.to_string())),
            },
            e => Unread::Unavailable(settings.scrub(&e.to_string())),
        }
    }
}

/// Fetches and handles one batch of updates. `timeout_secs` is the long-polling timeout.
/// `Ok(Err(..))`: the Bot API gave no updates (or could not say whether an addressed command
/// is ours: that update and the rest wait); `Err`: the database failed.
pub async fn poll(
    conn: &mut Connection,
    settings: &Settings,
    bot: &Bot,
    now: DateTime<Utc>,
    timeout_secs: u32,
    stats: &mut Stats,
) -> Result<std::result::Result<(), Unread>> {
    let mut next = load_offset(conn)?;
    let ask = i64::try_from(next).unwrap_or(i64::MAX);
    let updates = match bot.get_updates(ask, timeout_secs).await {
        Ok(u) => u,
        Err(e) => return Ok(Err(Unread::of(settings, e))),
    };
    for update in updates {
        let Some(update_id) = update.get("update_id").and_then(Value::as_i64) else {
            continue;
        };
        if i128::from(update_id) < next {
            continue;
        }
        if let Err(unread) = addressed_to_us(conn, settings, bot, &update, now).await? {
            return Ok(Err(unread));
        }
        stats.updates += 1;
        if let Err(e) = handle(conn, settings, bot, now, &update, stats).await {
            tracing::warn!(update_id, error = %settings.scrub(&format!("{e:#}")), "handling an update failed");
        }
        // One past this update: in i128, the largest update id has a successor too.
        next = i128::from(update_id) + 1;
        save_offset(conn, next)?;
    }
    Ok(Ok(()))
}

/// `Ok(())` unless the update is a command addressed `/cmd@name` and the bot's own name cannot
/// be learnt now (then the update waits for the next poll). Whether it is ours is decided in
/// [`handle`].
async fn addressed_to_us(
    conn: &mut Connection,
    settings: &Settings,
    bot: &Bot,
    update: &Value,
    now: DateTime<Utc>,
) -> Result<std::result::Result<(), Unread>> {
    let Update::Command { text, .. } = update::read(update) else {
        return Ok(Ok(()));
    };
    if command::addressee(text).is_none() {
        return Ok(Ok(()));
    }
    Ok(identity::username(conn, bot, now)
        .await?
        .map(|_| ())
        .map_err(|e| Unread::of(settings, e)))
}

async fn handle(
    conn: &mut Connection,
    settings: &Settings,
    bot: &Bot,
    now: DateTime<Utc>,
    update: &Value,
    stats: &mut Stats,
) -> Result<()> {
    let (message, text) = match update::read(update) {
        Update::Command { message, text } => (message, text),
        Update::Button(query) => {
            return handle_button(conn, settings, bot, now, query, stats).await
        }
        Update::Migration { from, to } => {
            if chat::is_ours(conn, settings, Some(&Value::from(from)))? {
                chat::follow(conn, settings, to, now)?;
            } else {
                tracing::warn!(from, to, "a migration of another chat ignored");
            }
            return Ok(());
        }
        Update::PassedOver(what) => {
            stats.passed_over += 1;
            tracing::debug!(what, "update passed over");
            return Ok(());
        }
    };
    let chat = message.pointer("/chat/id");
    if !chat::is_ours(conn, settings, chat)? {
        stats.rejected_unauthorized += 1;
        tracing::warn!(chat = %chat.cloned().unwrap_or_default(), "update from another chat ignored");
        return Ok(());
    }
    if let Some(addressee) = command::addressee(text) {
        // Known by now (stored): `addressed_to_us` learnt it before this update was handled.
        let username = identity::username(conn, bot, now).await?;
        if !username.is_ok_and(|name| command::is_for(text, &name)) {
            stats.passed_over += 1;
            let addressee: String = addressee.chars().take(64).collect();
            tracing::info!(addressee, "a command addressed to another bot passed over");
            return Ok(());
        }
    }
    stats.commands += 1;
    let sender = Sender::of_message(message);
    // Defence in depth: should a command ever panic, the update is still answered and consumed
    // (the offset is saved by the caller), so one message cannot stop the bot for good.
    let reply = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        command(conn, settings, now, text, &sender, stats)
    }))
    .unwrap_or_else(|_| {
        tracing::error!(update = %text.chars().take(64).collect::<String>(), "a command panicked");
        Reply::Text("Error: this command failed inside polyperf (logged); the bot goes on.".into())
    });
    // The answer goes where the command came from: the configured chat or its successor.
    let chat_id = chat.map(Value::to_string).unwrap_or_default();
    let sent = match &reply {
        Reply::Text(text) => bot.send_message(&chat_id, &Outgoing::text(text)).await,
        Reply::Photo(photo) => {
            match bot
                .send_photo(&chat_id, photo.png.clone(), &photo.caption, false)
                .await
            {
                Ok(id) => Ok(id),
                // The picture was refused or could not go: the figures still answer.
                Err(e) => {
                    tracing::warn!(error = %settings.scrub(&e.to_string()), "sendPhoto failed; answering with the summary");
                    bot.send_message(&chat_id, &Outgoing::text(&photo.caption))
                        .await
                }
            }
        }
    };
    if let Err(e) = sent {
        tracing::warn!(error = %settings.scrub(&e.to_string()), "could not answer a command");
    }
    Ok(())
}

/// A command's answer: a message, or a picture with a caption (`/report`).
enum Reply {
    Text(String),
    Photo(views::Photo),
}

impl From<String> for Reply {
    fn from(text: String) -> Reply {
        Reply::Text(text)
    }
}

/// Runs a command and returns its reply (HTML): one reply per command.
fn command(
    conn: &mut Connection,
    settings: &Settings,
    now: DateTime<Utc>,
    text: &str,
    sender: &Sender,
    stats: &mut Stats,
) -> Reply {
    let parsed = match parse_command(text) {
        Ok(parsed) => parsed,
        Err(CommandError::Unknown(name)) => {
            return format!(
                "Unknown command {}. /help lists the commands.",
                esc_short(&name, 64)
            )
            .into()
        }
        Err(CommandError::Usage { usage, problem }) => {
            return format!(
                "Usage: {} ({})",
                esc(usage),
                esc_short(&problem, MAX_FIELD_CHARS)
            )
            .into()
        }
        Err(CommandError::NotACommand) => return Reply::Text(help()),
    };
    let user_id = match auth::may_act(&settings.telegram.allowed_user_ids, sender) {
        Ok(user) => user,
        Err(refusal) if parsed.changes() => {
            stats.rejected_unauthorized += 1;
            tracing::warn!(user_id = sender.user_id, command = ?parsed, ?refusal, "command from a sender not allowed to change things");
            return esc(&refusal.reply()).into();
        }
        // Read-only commands: anyone in the chat.
        Err(_) => sender.user_id.unwrap_or(0),
    };
    let by = format!("telegram:{user_id}");
    let result = match parsed {
        Command::Report { days } => return report(conn, settings, days, now),
        Command::Status => views::status_reply(conn, settings, now),
        Command::Health => health_view::health_reply(conn, settings, now),
        Command::Profit { days } => profit::profit_reply(conn, days, now),
        Command::Trades { n } => profit::trades_reply(conn, n, now),
        Command::Periods { by, n } => views::periods_reply(conn, by, n, now),
        Command::Params => views::params_reply(conn),
        Command::Pause { reason, alias } => pause(conn, &by, reason, alias, now),
        Command::Resume { alias } => resume(conn, &by, alias, now),
        Command::Approve { id } => decide(conn, settings, id, Verdict::Approve, &by, now, stats),
        Command::Reject { id } => decide(conn, settings, id, Verdict::Reject, &by, now, stats),
        Command::Help => Ok(help()),
    };
    result
        .unwrap_or_else(|e| {
            format!(
                "Error: {}",
                esc_short(&settings.scrub(&format!("{e:#}")), MAX_FIELD_CHARS)
            )
        })
        .into()
}

/// `/report [days]`: the chart as a picture, or why not.
fn report(conn: &Connection, settings: &Settings, days: Option<u32>, now: DateTime<Utc>) -> Reply {
    match views::report_photo(conn, days, now) {
        Ok(photo) => Reply::Photo(photo),
        Err(e) => format!(
            "report unavailable: {}",
            esc_short(&settings.scrub(&format!("{e:#}")), MAX_FIELD_CHARS)
        )
        .into(),
    }
}

/// What an alias answers below its own reply: a Freqtrade user learns our name for it.
fn alias_note(alias: bool, ours: &str, theirs: &str) -> String {
    match alias {
        true => format!("\n(/{theirs} is an alias of /{ours}.)"),
        false => String::new(),
    }
}

/// `/pause [reason]` (`/stop`): the reply is the one message about the pause (nothing is
/// queued besides it).
fn pause(
    conn: &mut Connection,
    by: &str,
    reason: Option<String>,
    alias: bool,
    now: DateTime<Utc>,
) -> Result<String> {
    let reason = reason.unwrap_or_else(|| "paused from Telegram".to_string());
    let tx = crate::db::write_tx(conn)?;
    let pause = crate::control::Pause {
        reason: &reason,
        by,
        rule: None,
        figures: None,
        auto_resume_at: None,
    };
    let done = crate::control::pause_from_chat(&tx, &pause, now)?;
    tx.commit()?;
    let answer = match done {
        true => format!("Trading paused: {}", esc_short(&reason, MAX_FIELD_CHARS)),
        false => "Trading was already paused.".into(),
    };
    Ok(answer + &alias_note(alias, "pause", "stop"))
}

/// `/resume` (`/start`): the reply is the one message about it.
fn resume(conn: &mut Connection, by: &str, alias: bool, now: DateTime<Utc>) -> Result<String> {
    let tx = crate::db::write_tx(conn)?;
    let done = crate::control::resume_from_chat(&tx, by, "resumed from Telegram", now)?;
    tx.commit()?;
    let answer = match done {
        true => "Trading resumed.",
        false => "Trading was not paused.",
    };
    Ok(answer.to_string() + &alias_note(alias, "resume", "start"))
}

/// `/approve ID`, `/reject ID`.
fn decide(
    conn: &mut Connection,
    settings: &Settings,
    id: i64,
    verdict: Verdict,
    by: &str,
    now: DateTime<Utc>,
    stats: &mut Stats,
) -> Result<String> {
    let request = proposals::Request {
        proposal_id: id,
        nonce: None,
        verdict,
        by,
        method: crate::kinds::Method::Telegram,
    };
    let outcome = proposals::apply_verdict(conn, settings, &request, now)?;
    if outcome.changed {
        stats.approvals += 1;
    }
    Ok(esc_short(&outcome.message, MAX_FIELD_CHARS))
}

async fn handle_button(
    conn: &mut Connection,
    settings: &Settings,
    bot: &Bot,
    now: DateTime<Utc>,
    query: &Value,
    stats: &mut Stats,
) -> Result<()> {
    let query_id = query.get("id").and_then(Value::as_str).unwrap_or("");
    let message = query.get("message");
    if !chat::is_ours(conn, settings, message.and_then(|m| m.pointer("/chat/id")))? {
        stats.rejected_unauthorized += 1;
        tracing::warn!("button press from another chat ignored");
        return Ok(());
    }
    let sender = Sender::of_callback(query);
    let user_id = match auth::may_act(&settings.telegram.allowed_user_ids, &sender) {
        Ok(user) => user,
        Err(refusal) => {
            stats.rejected_unauthorized += 1;
            tracing::warn!(
                user_id = sender.user_id,
                ?refusal,
                "button press from a sender not allowed to decide"
            );
            let _ = bot.answer_callback(query_id, refusal.button()).await;
            return Ok(());
        }
    };
    let data = query.get("data").and_then(Value::as_str).unwrap_or("");
    let Some((verdict, id, nonce)) = parse_callback(data) else {
        let _ = bot.answer_callback(query_id, "Unknown button").await;
        return Ok(());
    };
    let by = format!("telegram:{user_id}");
    let request = proposals::Request {
        proposal_id: id,
        nonce: Some(nonce),
        verdict,
        by: &by,
        method: crate::kinds::Method::Telegram,
    };
    let outcome = proposals::apply_verdict(conn, settings, &request, now);
    let (answer, changed) = match &outcome {
        Ok(o) => (o.message.clone(), o.changed),
        Err(e) => (
            format!("Error: {}", settings.scrub(&format!("{e:#}"))),
            false,
        ),
    };
    if changed {
        stats.approvals += 1;
    }
    let short: String = answer.chars().take(190).collect();
    if let Err(e) = bot.answer_callback(query_id, &short).await {
        tracing::warn!(error = %settings.scrub(&e.to_string()), "answerCallbackQuery failed");
    }
    // Once the proposal is no longer waiting (decided now or before, expired, superseded),
    // the message says so, and who decided and when, instead of "Approval needed". A message
    // too old to edit (`date: 0`, Telegram's InaccessibleMessage) keeps its text.
    let editable = message.and_then(|m| m.get("date")).and_then(Value::as_i64) != Some(0);
    let decided = match editable {
        true => crate::proposals::get(conn, id)?.and_then(|p| super::render::verdict_line(&p)),
        false => None,
    };
    if let (Some(verdict), Some(chat), Some(message_id)) = (
        decided,
        message.and_then(|m| m.pointer("/chat/id")),
        message
            .and_then(|m| m.get("message_id"))
            .and_then(Value::as_i64),
    ) {
        let original = message
            .and_then(|m| m.get("text"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let text = super::render::decided(original, &verdict, &answer);
        if let Err(e) = bot.edit_message(chat, message_id, &text).await {
            tracing::warn!(error = %settings.scrub(&e.to_string()), "editMessageText failed");
        }
    }
    Ok(())
}

/// `approve:12:9f3a` → (Approve, 12, "9f3a").
pub fn parse_callback(data: &str) -> Option<(Verdict, i64, &str)> {
    let mut parts = data.splitn(3, ':');
    let verdict = match parts.next()? {
        "approve" => Verdict::Approve,
        "reject" => Verdict::Reject,
        _ => return None,
    };
    let id = parts.next()?.parse().ok()?;
    let nonce = parts.next().filter(|n| !n.is_empty())?;
    Some((verdict, id, nonce))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_callback_data() {
        assert_eq!(
            parse_callback("approve:12:9f3a"),
            Some((Verdict::Approve, 12, "9f3a"))
        );
        assert_eq!(
            parse_callback("reject:7:ab:c"),
            Some((Verdict::Reject, 7, "ab:c"))
        );
        for bad in ["approve:12:", "approve:x:1", "maybe:1:2", "", "approve"] {
            assert_eq!(parse_callback(bad), None, "{bad}");
        }
    }
}
