//! polyperf-telegram, the only code that talks to the Bot API: delivers the outbox, reads
//! commands and approval button presses. Producers never send; they queue in `outbox`.
//!
//! - [`api`]: the Bot API client. [`render`]: payloads as HTML. [`drain`]: delivery.
//!   [`inbox`]: updates, commands, buttons. [`update`]: what an update is (pure).
//!   [`command`]: command text parsed (pure). [`auth`]: who may change things.
//!   [`chat`]: the chat (and the supergroup it became). [`identity`]: the bot's username.
//!   [`feed`]: trade alerts and results from `trades`. [`views`]: /daily, /status, /params,
//!   /report's chart. [`profit`]: /profit, /trades. [`health_view`]: /health.
//!   [`table`]: phone-width tables with ✅ / ❌. [`menu`]: `setMyCommands`.
//! - Telegram refusing the token (401) or the chat (`chat not found`, 403) stops the run with
//!   exit 2 naming `TELEGRAM_BOT_TOKEN` or `TELEGRAM_CHAT_ID`; the queue stays as it was.

pub mod api;
pub mod auth;
pub mod chat;
pub mod command;
pub mod drain;
pub mod feed;
pub mod health_view;
pub mod html;
pub mod identity;
pub mod inbox;
pub mod menu;
pub mod notes;
pub mod profit;
pub mod render;
pub mod state;
pub mod table;
pub mod trade_text;
pub mod update;
pub mod views;
pub mod words;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;

use crate::config::Settings;
use crate::error::temp_fail;
use crate::runner::JobContext;

/// What a run did (the `--json` object).
#[derive(Debug, Default, Serialize)]
pub struct Stats {
    /// Whether Telegram is enabled; when not, rows stay queued.
    pub enabled: bool,
    /// Outbox rows delivered.
    pub sent: u64,
    pub failed: u64,
    /// New trades announced (one message each, merged, or in a summary line).
    pub alerts_sent: u64,
    /// Settled trades whose result was announced.
    pub results_sent: u64,
    /// Rows still pending at the end of the run.
    pub pending: i64,
    pub updates: u64,
    pub commands: u64,
    /// Updates confirmed and passed over: not text commands (photos, stickers, edits, channel
    /// posts, member changes, reactions, forwards) or commands addressed to another bot.
    pub passed_over: u64,
    pub approvals: u64,
    pub rejected_unauthorized: u64,
    /// Whether this run registered the command menu (`setMyCommands`; only when it changed).
    pub commands_registered: bool,
}

/// Options of the job binary.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Keep going (drain + long polling) until SIGTERM / SIGINT.
    pub watch: bool,
}

/// One pass (`--once`): deliver what is due, then handle waiting updates.
pub async fn run(ctx: &mut JobContext) -> Result<Stats> {
    run_with(ctx, Options::default()).await
}

/// A run: nothing but counting when Telegram is disabled (or a dry run), else one pass or a
/// watch until a signal.
pub async fn run_with(ctx: &mut JobContext, options: Options) -> Result<Stats> {
    let mut stats = Stats {
        enabled: ctx.settings.telegram.enabled,
        ..Stats::default()
    };
    let settings = ctx.settings.clone();
    if !settings.telegram.enabled || ctx.dry_run {
        stats.pending = crate::outbox::counts(&ctx.conn)?.0;
        say_idle(&settings, options, ctx.dry_run, stats.pending);
        return Ok(stats);
    }
    // validate() guarantees both when enabled.
    let token = settings.telegram.bot_token.clone().unwrap_or_default();
    let poll_secs = if options.watch {
        settings.telegram.poll_timeout_secs
    } else {
        0
    };
    let timeout = Duration::from_secs(settings.apis.http_timeout_secs + poll_secs as u64);
    let bot = api::Bot::new(&settings.telegram.api_base, &token, timeout)?;
    stats.commands_registered = match menu::register(&mut ctx.conn, &settings, &bot).await? {
        Ok(registered) => registered,
        Err(setting) => return Err(refused(&ctx.conn, setting)?),
    };
    if options.watch {
        watch(ctx, &settings, &bot, poll_secs, &mut stats).await?;
    } else {
        once(ctx, &settings, &bot, &mut stats).await?;
    }
    Ok(stats)
}

/// Why a run sends nothing: Telegram is disabled (a watching service then stops, saying how
/// to start it), or the run is dry.
fn say_idle(settings: &Settings, options: Options, dry_run: bool, pending: i64) {
    if !settings.telegram.enabled && options.watch {
        tracing::warn!(
            pending,
            "telegram is disabled (TELEGRAM_ENABLED=false): the service stops here; set \
             TELEGRAM_ENABLED=true and start it again to deliver the queued messages"
        );
    } else if !settings.telegram.enabled {
        tracing::info!(
            pending,
            "telegram is disabled (TELEGRAM_ENABLED=false): messages stay queued"
        );
    } else if dry_run {
        tracing::info!(pending, "dry run: nothing sent");
    }
}

/// One pass (`--once`): deliver what is due, then handle waiting updates. Telegram being
/// unavailable leaves the rest for the next run (exit 75).
async fn once(
    ctx: &mut JobContext,
    settings: &Settings,
    bot: &api::Bot,
    stats: &mut Stats,
) -> Result<()> {
    let outcome = deliver(&mut ctx.conn, settings, bot, ctx.now, stats).await?;
    if let drain::Outcome::Misconfigured(setting) = outcome {
        return Err(refused(&ctx.conn, setting)?);
    }
    if let Err(unread) = inbox::poll(&mut ctx.conn, settings, bot, ctx.now, 0, stats).await? {
        let pending = crate::outbox::counts(&ctx.conn)?.0;
        return Err(unread.into_error(pending));
    }
    stats.pending = crate::outbox::counts(&ctx.conn)?.0;
    if let drain::Outcome::Deferred(why) = outcome {
        return Err(temp_fail(format!(
            "telegram unavailable, {} messages left for the next run: {why}",
            stats.pending
        )));
    }
    Ok(())
}

/// `--watch`: deliver and long-poll until SIGTERM / SIGINT.
async fn watch(
    ctx: &mut JobContext,
    settings: &Settings,
    bot: &api::Bot,
    poll_secs: u32,
    stats: &mut Stats,
) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let notify = Arc::new(tokio::sync::Notify::new());
    spawn_signal_watcher(stop.clone(), notify.clone());
    let started = std::time::Instant::now();
    tracing::info!(
        poll_secs,
        "watching: drain and long polling until SIGTERM/SIGINT"
    );
    while !stop.load(Ordering::SeqCst) {
        // "now" moves on from the job's start, so --now still steers a watch in tests.
        let now = ctx.now + chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
        match deliver(&mut ctx.conn, settings, bot, now, stats).await? {
            drain::Outcome::Done => {}
            drain::Outcome::Deferred(why) => tracing::warn!(error = %why, "delivery deferred"),
            drain::Outcome::Misconfigured(setting) => return Err(refused(&ctx.conn, setting)?),
        }
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let conn = &mut ctx.conn;
        tokio::select! {
            result = inbox::poll(conn, settings, bot, now, poll_secs, stats) => {
                match result? {
                    Ok(()) => {}
                    Err(unread @ inbox::Unread::Unavailable(_)) => {
                        tracing::warn!(error = %unread, "reading updates failed; retrying shortly");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                    Err(unread) => {
                        let pending = crate::outbox::counts(conn)?.0;
                        return Err(unread.into_error(pending));
                    }
                }
            }
            // Waiting for updates changes nothing, so it may be cut short.
            _ = notify.notified() => break,
        }
    }
    tracing::info!("stopping on signal");
    stats.pending = crate::outbox::counts(&ctx.conn)?.0;
    Ok(())
}

/// The outbox, then the trade feed (alerts, results); the feed waits while the Bot API is
/// unavailable.
async fn deliver(
    conn: &mut rusqlite::Connection,
    settings: &crate::config::Settings,
    bot: &api::Bot,
    now: chrono::DateTime<chrono::Utc>,
    stats: &mut Stats,
) -> Result<drain::Outcome> {
    match drain::drain(conn, settings, bot, now, stats).await? {
        drain::Outcome::Done => feed::deliver_feed(conn, settings, bot, now, stats).await,
        deferred => Ok(deferred),
    }
}

/// The run's error when Telegram refuses a setting (exit 2), with the number of messages that
/// wait for the fix.
fn refused(conn: &rusqlite::Connection, setting: api::Misconfigured) -> Result<anyhow::Error> {
    let pending = crate::outbox::counts(conn)?.0;
    Ok(setting.into_error(pending))
}

fn spawn_signal_watcher(stop: Arc<AtomicBool>, notify: Arc<tokio::sync::Notify>) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        stop.store(true, Ordering::SeqCst);
        notify.notify_one();
    });
}
