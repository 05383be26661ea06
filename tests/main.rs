//! One integration test binary (links once). Each module: one area, real SQLite files in temp
//! dirs, real HTTP servers on 127.0.0.1, job binaries run as processes.

mod common;
// The database, decision log, job runner and CLI (issue: foundation).
mod foundation;
// The Bot API client: outbox delivery, commands, approvals (issue 7).
mod telegram;
// The trade feed: alerts and results from `trades` by watermarks (issue 17).
mod telegram_feed;
// Commands on a phone: /daily, /status, /report as a photo, setMyCommands (issue 17).
mod telegram_commands;
// The Bot API as it really behaves: addressed commands, migrations, 401, chat not found (issue 23).
mod telegram_remote;
// Freqtrade's commands, phone-width tables, one reply per command, backlogs, /health (issue 26).
mod telegram_freqtrade;
// systemd units, crontab and operator queries (issue: running it for real).
mod deploy;
// The operator's SQL (daily_results, sql/queries, README) against the report; UTC days (issue 26).
mod queries;
// README's install carried out in a temporary root; a missing database is refused (issue 15).
mod install;
// polyperf-settle against local Gamma and Binance servers (issue: settlement).
mod settle;
// Real answers and outages: odd markets, 50-50, pages, Binance refusing, assets, one alert (issue 23).
mod settle_real;
// Metrics and polyperf report: fixture figures, windows, rollup + live (issue 4).
mod metrics;
// Every figure survives archival: split days, restore, the equity curve (issue 26).
mod archival_figures;
// polyperf report for people: periods, PNG/SVG charts, the HTML page on a phone (issue 17).
mod report;
// Every --help argument of every binary has a description (issue 17).
mod help;
// Archival, restore and verify; crash safety and damaged files (issue: archive).
mod archive;
// The parameter adjuster: tiers, evidence, approvals, rollback, emergency pause (issue 6).
mod adjust;
// Local Gamma, Binance, OpenAI and Telegram servers with fault injection (shared with the soak).
mod fakes;
// A simulated week through every job binary, end to end (issue: running it for real).
mod e2e;
// Reflection: triggers, the LLM / rules analysis, stored insights and proposals (issue 5).
mod reflect;
// OpenAI-compatible servers as they really answer: odd bodies, quota, outages, 5,000 recommendations (issue 23).
mod reflect_remote;
// The disk-space guard: routine prune, emergency sequence on a tmpfs, offload (issue 9).
mod cleanup;
// Money that sqlite3 reads as numbers: operator SQL, migration of v1 databases (issue 16).
mod money;
// Hostile and careless input: day counts, bounds, poison rows, slugs, conflicts (issue 14).
mod inputs;
// polyperf evaluate: the walk-forward worth of the learning loop (issue 18).
mod evaluate;
// Nothing real keeps a job down: pipes, config files, locks, parameters, archives (issue 23).
mod robust;
// The learning loop on generated histories: false claims, finding an edge, letting go (issue 24).
mod learning;

// The lean trades table: migration 0008 in place, hot queries on indexes (issue 20).
mod perf;
