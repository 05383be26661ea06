//! polyperf: the operations back-end of a Polymarket "Bitcoin Up or Down" trading bot.
//!
//! # Layout
//!
//! The trader writes decisions into one SQLite database; separate job binaries (`jobs/`),
//! started by systemd timers or cron, read and write the same database and nothing else.
//! Each binary is a thin wrapper around one function of this library.
//!
//! - [`config`]: settings (defaults, TOML file, environment), validated once.
//! - [`db`]: the one place connections are opened; PRAGMAs, migrations, and money as stored
//!   ([`db::Money`], [`db::BtcPrice`]: REAL at 6 / 8 places, read back exactly).
//! - [`time`]: timestamps as stored (`YYYY-MM-DD HH:MM:SS` UTC).
//! - [`error`]: failure kinds and the exit codes 0 / 1 / 2 / 75.
//! - [`runner`]: what every job shares: flags, tracing, lease, `job_runs`, output.
//! - [`process`]: this host's name and whether a pid still runs the process that recorded it.
//! - [`http`]: the retrying HTTP client; knows no API.
//! - [`market`]: facts that follow from a market's slug (its window).
//! - [`decision`]: the decision format and the trader's [`decision::Tracker`].
//! - [`outbox`]: queued Telegram messages (producers only insert).
//! - [`control`]: the pause switch and its audit trail.
//! - [`params`]: live parameters, bounded changes and their history.
//! - [`status`]: the read-only overview behind `polyperf status`.
//! - [`settle`]: outcomes and fee-aware P&L (polyperf-settle); [`settle::fees`] is the one
//!   implementation of fees (logged, maker, taker formula; shares or collateral by era).
//! - [`metrics`] and [`report`]: performance figures and their rendering (polyperf report).
//! - [`reflect`]: triggers, the LLM / rules analysis, insights and proposals (polyperf-reflect).
//! - [`adjust`]: tiered autonomy, replay evidence, rollback, emergency pause (polyperf-adjust).
//! - [`telegram`]: the only Bot API client: outbox delivery, commands, approvals.
//! - [`archive`]: crash-safe archival to compressed JSON Lines, verify, restore.
//! - [`rollup`]: the per-day rollup of archived trades (`daily_rollup`).
//! - [`cleanup`]: disk-space guard and emergency sequence.
//! - [`sim`]: deterministic synthetic prices and decisions (demo, tests, benchmarks).
//! - [`demo`] and [`schedule`]: the offline demo and the in-process scheduler.

pub mod adjust;
pub mod archive;
pub mod cleanup;
pub mod cli;
pub mod config;
pub mod control;
pub mod db;
pub mod decision;
pub mod demo;
pub mod error;
pub mod http;
pub mod market;
pub mod metrics;
pub mod outbox;
pub mod params;
pub mod process;
pub mod reflect;
pub mod report;
pub mod rollup;
pub mod runner;
pub mod schedule;
pub mod settle;
pub mod sim;
pub mod status;
pub mod telegram;
pub mod time;

pub use decision::{Action, Decision, Tracker};
