//! polyperf: the operations back-end of a Polymarket "Bitcoin Up or Down" trading bot.
//!
//! # Layout
//!
//! The trader writes decisions into one SQLite database; separate job binaries (`jobs/`),
//! started by systemd timers or cron, read and write the same database and nothing else.
//! Each binary is a thin wrapper around one function of this library.
//!
//! The modules form layers: each uses only modules on its own layer or below, never one above
//! (`python3 ../shared/tools/modcycles.py src` finds no cycle). Jobs meet only through the
//! tables. Each module as it is on disk (a folder holds a module of several files):
//!
//! **0 ground** (no polyperf imports, or only each other):
//! - `error`: failure kinds and the exit codes 0 / 1 / 2 / 75.
//! - `time`: timestamps as stored (`YYYY-MM-DD HH:MM:SS` UTC), checked date arithmetic, and
//!   the serde of a stored time.
//! - `json`: JSON objects read in the order they were written; JSON's number grammar.
//! - `host`: this host's name and whether a pid still runs the process that recorded it.
//! - `words`: figures for people (money with 2 decimals, sign and USDC, prices, percents,
//!   counts, bytes, durations, UTC times, a job's figure by the unit its name carries).
//! - `kinds`: the domain's words as enums (`Action`, `Outcome`, `SettlementStatus`,
//!   `Liquidity`, `FeeAsset`, `Method`, `Trigger`), each with its text, JSON and SQL.
//!
//! **1 plumbing** (how to talk to files, SQLite and HTTP):
//! - `config` (and `config/`): settings (defaults, TOML file, environment), validated once
//!   (`config/checks.rs`, a table of checks); the words a key chooses from (`config/vocab.rs`).
//! - `db`: the one place connections are opened; PRAGMAs, migrations, and money as stored
//!   ([`db::Money`], [`db::BtcPrice`]: REAL at 6 / 8 places, read back exactly).
//! - `http`, `body`: the retrying HTTP client (knows no API); remote bodies read with a size
//!   bound, remote error texts clipped.
//! - `output`: results on stdout; a reader that went away (`| head -1`) ends them quietly.
//! - `runner`: what every job's run shares below the tables: the one table of jobs
//!   ([`runner::JOBS`]: name, binary, cadences, the longest normal gap between successes), the
//!   [`runner::JobContext`], tracing, how a run's end is printed, exit codes.
//!
//! **2 rules** (pure rules about money, decisions and markets):
//! - `money` (and `money/`): fees (logged, maker, taker formula; shares or collateral by era),
//!   P&L, break-even, and the bounds that keep every settlement exact: the one implementation.
//! - `decision` (and `decision/`): the decision format, its validation and its fingerprint
//!   (no SQL; the trader's [`Tracker`] writes them through `trades`).
//! - `market`: facts that follow from a market's slug (its window, its asset); price candles.
//! - `sim`: deterministic synthetic prices and decisions (demo, tests, benchmarks).
//!
//! **3 tables** (one owner per table; typed rows in, typed rows out):
//! - `trades` (and `trades/`): every statement on `trades` (and `archived_decisions`,
//!   `telegram_restored`): the decision log ([`Tracker`], typed [`LogError`]), settlement's
//!   writes, typed rows for every reader, what "a settled trade" means.
//! - `params`: live parameters, bounded changes (validation, steps) and their history.
//! - `proposals` (and `proposals/`): proposals and their statuses; the checks against the live
//!   parameter, expiry, supersession, and a human's verdict (Telegram and the CLI).
//! - `control`: the pause switch and its audit trail.
//! - `outbox` (and `outbox/`): queued Telegram messages (producers only insert) and their one
//!   typed [`outbox::Message`] enum, which `telegram` renders.
//! - `rollup` (and `rollup/`): the per-day rollup of archived trades (`daily_rollup`,
//!   `rollup_groups`, `rollup_paths`, `rollup_files`): what every figure needs of a row that
//!   left `trades` ([`rollup::figures`], shared with metrics' live fold), and the composable
//!   path summaries of drawdown and losing streaks ([`rollup::path`]).
//! - `evaluations`: the walk-forward evaluations and their stored answers.
//! - `runs` (and `runs/`): `job_runs` and `job_locks` (lease, run records, what status reads),
//!   and one run of a job around them (open, lease, record, run, record, print).
//! - `archives`: the manifest of archive files (`archives`).
//! - `integrity`: `PRAGMA quick_check` within a time limit and its results
//!   (`integrity_checks`).
//!
//! **4 figures** (read-only views over the tables):
//! - `metrics` (and `metrics/`): performance figures; `report` (and `report/`): their
//!   rendering (terminal, Telegram's summary, charts, the HTML page).
//! - `replay` (and `replay/`): settled trades under other parameter values (the adjuster's
//!   evidence, the rules engine's threshold scan, the evaluation's counterfactual).
//! - `health`: whether the trader may trade now (the guarding jobs' last successes, the
//!   settlement lag, integrity, schema): `status --json`'s `healthy` and Telegram's /health.
//! - `status`: the read-only overview behind `polyperf status` and Telegram's /status.
//!
//! **5 jobs** (one job's work each):
//! - `settle/`: outcomes and fee-aware P&L (polyperf-settle).
//! - `reflect/`: triggers, the LLM / rules analysis, insights and proposals (polyperf-reflect).
//! - `adjust/`: tiered autonomy, rollback watch, emergency pause (polyperf-adjust).
//! - `evaluate/`: `polyperf evaluate`, the walk-forward worth of the learning loop (reflect's
//!   and adjust's own steps replayed day by day in a scratch database).
//! - `telegram/`: the only Bot API client: outbox delivery, the trade feed, commands,
//!   approvals.
//! - `archive/`: crash-safe archival to compressed JSON Lines, verify, restore.
//! - `cleanup/`: disk-space guard, emergency sequence (which archives early), housekeeping.
//!
//! **6 entry** (flags, the clock, which job runs when):
//! - `cli/`: the operator CLI's `Cli` and its `Command` enum (one file per command or group),
//!   the flags every binary shares (`args.rs`) and the job binaries' body (`job.rs`). With the
//!   scheduler's tick, the only code that reads the clock.
//! - `schedule`: the in-process scheduler: the job table's cadences and the function each
//!   calls.
//! - `demo`: the offline demo's pieces (`polyperf demo` runs them): it drives the jobs.

// Ground.
pub mod error;
pub mod host;
pub mod json;
pub mod kinds;
pub mod time;
pub mod words;
// Plumbing.
pub mod body;
pub mod config;
pub mod db;
pub mod http;
pub mod output;
pub mod runner;
// Rules.
pub mod decision;
pub mod market;
pub mod money;
pub mod sim;
// Tables.
pub mod archives;
pub mod control;
pub mod evaluations;
pub mod integrity;
pub mod outbox;
pub mod params;
pub mod proposals;
pub mod rollup;
pub mod runs;
pub mod trades;
// Figures.
pub mod health;
pub mod metrics;
pub mod replay;
pub mod report;
pub mod status;
// Jobs.
pub mod adjust;
pub mod archive;
pub mod cleanup;
pub mod evaluate;
pub mod reflect;
pub mod settle;
pub mod telegram;
// Entry.
pub mod cli;
pub mod demo;
pub mod schedule;

pub use decision::Decision;
pub use kinds::Action;
pub use trades::{LogError, Tracker};
