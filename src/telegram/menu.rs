//! The command menu clients show (`setMyCommands`), registered on every run (`--once` too) but
//! only when [`command::COMMANDS`](super::command::COMMANDS) changed since the last registration Telegram
//! accepted: its hash is kept in `telegram_state`. A failed registration changes nothing and
//! is tried again on the next run; it never stops delivery.

use anyhow::Result;
use rusqlite::Connection;
use sha2::{Digest, Sha256};

use super::api::{ApiError, Bot, Misconfigured};
use super::command::menu;
use super::state::{self, Key};
use crate::config::Settings;

/// The hash of the menu as registered (names and descriptions, in order).
pub fn menu_hash() -> String {
    let mut hasher = Sha256::new();
    for (name, description) in menu() {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(description.as_bytes());
        hasher.update([0]);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Registers the menu unless Telegram already has this one. Returns whether it called
/// `setMyCommands` successfully; `Ok(Err(..))` when Telegram refuses the token (the run stops).
pub async fn register(
    conn: &mut Connection,
    settings: &Settings,
    bot: &Bot,
) -> Result<std::result::Result<bool, Misconfigured>> {
    let hash = menu_hash();
    if state::get(conn, Key::CommandsHash)?.as_deref() == Some(hash.as_str()) {
        return Ok(Ok(false));
    }
    match bot.set_my_commands(&menu()).await {
        Ok(()) => {
            let tx = crate::db::write_tx(conn)?;
            state::set(&tx, Key::CommandsHash, &hash)?;
            tx.commit()?;
            tracing::info!(
                commands = super::command::COMMANDS.len(),
                "command menu registered"
            );
            Ok(Ok(true))
        }
        Err(ApiError::Unauthorized(detail)) => {
            Ok(Err(Misconfigured::Token(settings.scrub(&detail))))
        }
        Err(e) => {
            tracing::warn!(error = %settings.scrub(&e.to_string()), "setMyCommands failed; trying again next run");
            Ok(Ok(false))
        }
    }
}
