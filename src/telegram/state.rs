//! `telegram_state`, the bot's own key/value memory (and the one module that touches it): the
//! `getUpdates` offset, the trade feed's watermarks, the hash of the command menu last
//! registered, the bot's username and a chat migration followed. Each write is part of the
//! caller's transaction.

use anyhow::Result;
use rusqlite::{params, Connection, OptionalExtension};

/// What the bot remembers between runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// The next `getUpdates` offset.
    UpdateOffset,
    /// The last trade id whose alert went out (or was passed over).
    FeedTrades,
    /// The last (settled_at, id) whose result went out, as JSON.
    FeedResults,
    /// The hash of the command menu `setMyCommands` last accepted.
    CommandsHash,
    /// The bot's username as `getMe` gave it, with the bot id it belongs to (JSON).
    BotUsername,
    /// The chat the configured one became (a group upgraded to a supergroup), as JSON
    /// `{"from": "-1234", "to": -1001234, "at": …}`.
    ChatMigration,
}

impl Key {
    /// The `key` column (migration 0006 writes the feed's two).
    pub fn as_str(self) -> &'static str {
        match self {
            Key::UpdateOffset => "update_offset",
            Key::FeedTrades => "feed_trades_after",
            Key::FeedResults => "feed_results_after",
            Key::CommandsHash => "commands_hash",
            Key::BotUsername => "bot_username",
            Key::ChatMigration => "chat_migration",
        }
    }
}

/// The value stored under `key`, if any.
pub fn get(conn: &Connection, key: Key) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM telegram_state WHERE key = ?1")?
        .query_row([key.as_str()], |r| r.get(0))
        .optional()?)
}

/// Stores `value` under `key`.
pub fn set(conn: &Connection, key: Key, value: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO telegram_state (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key.as_str(), value])?;
    Ok(())
}
