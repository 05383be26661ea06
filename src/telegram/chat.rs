//! The chat the bot talks to: `TELEGRAM_CHAT_ID`, or the supergroup it became. When a group is
//! upgraded to a supergroup Telegram gives it a new id (the old chat's last update carries
//! `migrate_to_chat_id`, and a send to the old id answers 400 with it): the new id is stored in
//! `telegram_state`, every message goes there from then on, commands and buttons from it are
//! the configured chat's, and the operator is told once to update `TELEGRAM_CHAT_ID`. A
//! migration recorded for another configured chat (the operator changed the setting since) is
//! ignored. Only a migration of the configured chat is ever followed.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::api::chat_id_value;
use super::state::{self, Key};
use crate::config::Settings;
use crate::outbox::{self, Message};
use crate::time::to_db;

/// A migration followed: the configured chat `from` lives on as `to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Migration {
    from: String,
    to: i64,
    at: String,
}

fn configured(settings: &Settings) -> &str {
    settings.telegram.chat_id.as_deref().unwrap_or("").trim()
}

/// The migration stored for the configured chat, if any.
fn migration(conn: &Connection, settings: &Settings) -> Result<Option<Migration>> {
    let stored = state::get(conn, Key::ChatMigration)?
        .and_then(|text| serde_json::from_str::<Migration>(&text).ok());
    let configured = chat_id_value(configured(settings));
    Ok(stored.filter(|m| chat_id_value(&m.from) == configured && m.to != 0))
}

/// Where messages go: the supergroup the configured chat became, else the configured chat.
pub fn current(conn: &Connection, settings: &Settings) -> Result<String> {
    Ok(match migration(conn, settings)? {
        Some(m) => m.to.to_string(),
        None => configured(settings).to_string(),
    })
}

/// Whether `chat` (an update's `chat.id`) is the bot's chat: the configured one or the
/// supergroup it became.
pub fn is_ours(conn: &Connection, settings: &Settings, chat: Option<&Value>) -> Result<bool> {
    let Some(chat) = chat else {
        return Ok(false);
    };
    if *chat == chat_id_value(configured(settings)) {
        return Ok(true);
    }
    Ok(migration(conn, settings)?.is_some_and(|m| chat.as_i64() == Some(m.to)))
}

/// Follows the configured chat to `to`: stores it and queues the note that tells the operator,
/// in one transaction. Returns whether this was news (a migration already followed to the same
/// id changes nothing).
pub fn follow(
    conn: &mut Connection,
    settings: &Settings,
    to: i64,
    now: DateTime<Utc>,
) -> Result<bool> {
    if to == 0 || migration(conn, settings)?.is_some_and(|m| m.to == to) {
        return Ok(false);
    }
    let from = configured(settings).to_string();
    let record = Migration {
        from: from.clone(),
        to,
        at: to_db(now),
    };
    let text = format!(
        "Telegram moved this chat to a new id: the group {from} became the supergroup {to}. \
         polyperf sends here from now on. Set TELEGRAM_CHAT_ID={to} in polyperf.env (the old id \
         no longer works)."
    );
    let tx = crate::db::write_tx(conn)?;
    state::set(&tx, Key::ChatMigration, &serde_json::to_string(&record)?)?;
    outbox::enqueue(
        &tx,
        &settings.telegram.notify,
        &Message::text(text),
        Some(&format!("telegram_chat_migrated:{to}")),
        now,
    )?;
    tx.commit()?;
    tracing::warn!(
        from = %from,
        to,
        "the chat was upgraded to a supergroup: sending to its new id; set TELEGRAM_CHAT_ID={to}"
    );
    Ok(true)
}
