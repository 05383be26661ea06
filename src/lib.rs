//! polyperf: the operations back-end of a Polymarket "Bitcoin Up or Down" trading bot.
//!
//! # Layout
//!
//! The trader writes decisions into one SQLite database; separate job binaries (`jobs/`),
//! started by systemd timers or cron, read and write the same database and nothing else.
//! Each binary is a thin wrapper around one function of this library.
//!
//! Each module, as it is on disk (a folder holds a module of several files, `mod.rs` first):
//!
//! - `src/cli/`: the command-line layer: the operator CLI's `Cli` and its `Command` enum
//!   (one file per command or group), the flags every binary shares (`args.rs`) and the job
//!   binaries' body (`job.rs`). With the scheduler's tick, the only code that reads the clock.
//! - `src/config.rs`: settings (defaults, TOML file, environment), validated once
//!   (`src/config/checks.rs`); the words a key chooses from are enums (`src/config/vocab.rs`).
//! - `src/db.rs`: the one place connections are opened; PRAGMAs, migrations, and money as
//!   stored ([`db::Money`], [`db::BtcPrice`]: REAL at 6 / 8 places, read back exactly).
//! - `src/time.rs`: timestamps as stored (`YYYY-MM-DD HH:MM:SS` UTC), checked date arithmetic.
//! - `src/error.rs`: failure kinds and the exit codes 0 / 1 / 2 / 75.
//! - `src/output.rs`: results on stdout; a reader that went away (`| head -1`) ends them
//!   quietly.
//! - `src/runner.rs`: what every job's run shares: the binaries' names, tracing, lease,
//!   `job_runs`, output, exit code.
//! - `src/schedule.rs`: the one table of jobs (name, binary, cadence, function) and the
//!   in-process scheduler.
//! - `src/process.rs`: this host's name and whether a pid still runs the process that
//!   recorded it.
//! - `src/http.rs`: the retrying HTTP client; knows no API.
//! - `src/body.rs`: remote bodies read with a size bound, remote error texts clipped.
//! - `src/integrity.rs`: `PRAGMA quick_check` within a time limit and its results
//!   (`integrity_checks`); whether a job's database files are still the ones on disk.
//! - `src/json.rs`: JSON objects read in the order they were written.
//! - `src/market.rs`: facts that follow from a market's slug (its window, its asset).
//! - `src/decision.rs` (and `src/decision/`): the decision format and the trader's
//!   [`decision::Tracker`].
//! - `src/trades.rs`: what "a settled trade" means, in SQL, for every reader of `trades`.
//! - `src/outbox/`: queued Telegram messages (producers only insert) and their one typed
//!   [`outbox::Message`] enum, which `telegram` renders.
//! - `src/control.rs`: the pause switch and its audit trail.
//! - `src/params.rs`: live parameters, bounded changes and their history.
//! - `src/proposals.rs`: the proposals table and its statuses.
//! - `src/status.rs`: the read-only overview behind `polyperf status`.
//! - `src/health.rs`: whether the trader may trade now (the guarding jobs' last successes,
//!   the settlement lag, integrity, schema): `status --json`'s `healthy` and Telegram's /health.
//! - `src/settle/`: outcomes and fee-aware P&L (polyperf-settle); `settle/fees.rs` is the one
//!   implementation of fees (logged, maker, taker formula; shares or collateral by era).
//! - `src/metrics.rs` and `src/report.rs`: performance figures and their rendering.
//! - `src/reflect/`: triggers, the LLM / rules analysis, insights and proposals
//!   (polyperf-reflect).
//! - `src/adjust/`: tiered autonomy, replay evidence, rollback, emergency pause
//!   (polyperf-adjust).
//! - `src/evaluate/`: `polyperf evaluate`, the walk-forward worth of the learning loop (the
//!   jobs' own steps replayed day by day in a scratch database); `src/evaluations.rs` stores it.
//! - `src/telegram/`: the only Bot API client: outbox delivery, commands, approvals.
//! - `src/archive/`: crash-safe archival to compressed JSON Lines, verify, restore.
//! - `src/rollup.rs`: the per-day rollup of archived trades (`daily_rollup`).
//! - `src/cleanup/`: disk-space guard and emergency sequence.
//! - `src/sim.rs`: deterministic synthetic prices and decisions (demo, tests, benchmarks).
//! - `src/demo.rs`: the offline demo's pieces (`polyperf demo` runs them).

pub mod adjust;
pub mod archive;
pub mod body;
pub mod cleanup;
pub mod cli;
pub mod config;
pub mod control;
pub mod db;
pub mod decision;
pub mod demo;
pub mod error;
pub mod evaluate;
pub mod evaluations;
pub mod health;
pub mod http;
pub mod integrity;
pub mod json;
pub mod kinds;
pub mod market;
pub mod metrics;
pub mod outbox;
pub mod output;
pub mod params;
pub mod process;
pub mod proposals;
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
pub mod trades;

pub use decision::Decision;
pub use kinds::Action;
pub use trades::{LogError, Tracker};
