//! The bot's own username, which decides whether a command addressed `/cmd@name` is ours. It
//! is asked of `getMe` only when an addressed command arrives and none is known for this bot
//! (the token's bot id), or the one known is over [`MAX_AGE`] old; it is kept in
//! `telegram_state`, so `getMe` is about one call a day at most, never one per update.

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use super::api::{ApiError, Bot};
use super::state::{self, Key};
use crate::time::{from_db, to_db};

/// A username known longer than this is asked again (usernames rarely change, but they can).
pub const MAX_AGE: Duration = Duration::days(1);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Known {
    bot_id: String,
    username: String,
    checked_at: String,
}

/// The bot's username: the one known for this bot when fresh, else `getMe`'s (stored). When
/// `getMe` fails for a while (unavailable, rate limited) a stale name for this bot still
/// serves; otherwise the error is the caller's (`Ok(Err(..))`).
pub async fn username(
    conn: &mut Connection,
    bot: &Bot,
    now: DateTime<Utc>,
) -> Result<std::result::Result<String, ApiError>> {
    let known = state::get(conn, Key::BotUsername)?
        .and_then(|text| serde_json::from_str::<Known>(&text).ok())
        .filter(|k| k.bot_id == bot.bot_id() && !k.username.is_empty());
    let fresh = known
        .as_ref()
        .is_some_and(|k| from_db(&k.checked_at).is_ok_and(|at| at <= now && now - at < MAX_AGE));
    if let (true, Some(k)) = (fresh, &known) {
        return Ok(Ok(k.username.clone()));
    }
    match bot.get_me().await {
        Ok(username) => {
            let record = Known {
                bot_id: bot.bot_id().to_string(),
                username: username.clone(),
                checked_at: to_db(now),
            };
            let tx = crate::db::write_tx(conn)?;
            state::set(&tx, Key::BotUsername, &serde_json::to_string(&record)?)?;
            tx.commit()?;
            tracing::info!(username = %username, "the bot's username (getMe)");
            Ok(Ok(username))
        }
        Err(e @ (ApiError::Transient(_) | ApiError::RetryAfter(..))) => match known {
            Some(k) => {
                tracing::warn!(error = %e, "getMe failed; using the username known since {}", k.checked_at);
                Ok(Ok(k.username))
            }
            None => Ok(Err(e)),
        },
        Err(e) => Ok(Err(e)),
    }
}
