//! The command-line layer, in mini-redis's `src/cmd/` style: the operator CLI (`polyperf`) as
//! [`Cli`], whose [`Command`] enum dispatches to one file per command (or group), the flags
//! every binary shares ([`args`]) and the body of the job binaries ([`job`]). Commands parse,
//! read the clock, call the library and print; the library does the work.

pub mod alert;
pub mod archive;
pub mod args;
pub mod config;
pub mod control;
pub mod demo;
pub mod evaluate;
pub mod init;
pub mod job;
pub mod log;
pub mod params;
pub mod proposals;
pub mod report;
pub mod schedule;
pub mod settle_check;
pub mod status;

use anyhow::Result;
use rusqlite::Connection;
use serde::Serialize;

use crate::config::Settings;
pub use args::{GlobalArgs, JobArgs};

#[derive(clap::Parser)]
#[command(
    name = "polyperf",
    version,
    about = "Operations back-end for a Polymarket BTC Up/Down trading bot",
    long_about = "Operations back-end for a Polymarket BTC Up/Down trading bot.\n\n\
    The trader logs decisions with `polyperf log`; the jobs polyperf-settle, -reflect, -adjust,\n\
    -telegram, -archive and -cleanup run from systemd timers or cron; this CLI inspects and steers.\n\
    Exit codes: 0 ok, 1 failed, 2 bad usage/config/input, 75 try again later."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create or migrate the database and print where it is
    Init,
    /// Print the effective settings (secrets redacted)
    Config,
    /// Log decisions: one JSON object, a JSON array or JSON Lines, from FILE or stdin
    ///
    /// A bad line (invalid field, not UTF-8, or a decision_id already stored with other
    /// content) is named on stderr and in --json `errors`; then nothing is stored and the exit
    /// code is 2. Re-logging a stored decision unchanged is a harmless duplicate.
    Log(log::Log),
    /// Overview: decisions, pause switch, approvals, outbox, each job's last run
    Status(status::Status),
    /// Performance report (terminal table, --json, --html, --chart)
    Report(report::ReportArgs),
    /// Live trading parameters
    #[command(subcommand)]
    Params(params::ParamsCmd),
    /// Parameter proposals from reflections
    #[command(subcommand)]
    Proposals(proposals::ProposalsCmd),
    /// Pause trading (the trader checks `status --json` / trading_control)
    Pause(control::Pause),
    /// Resume trading after a pause
    Resume(control::Resume),
    /// Archive files: list, verify, restore
    #[command(subcommand)]
    Archive(archive::ArchiveCmd),
    /// Recompute every settled decision from its stored inputs under today's fee rules and
    /// report differences (--fix rewrites rows whose only difference is their money)
    SettleCheck(settle_check::SettleCheck),
    /// Run the whole system offline on embedded defaults, in ./demo
    Demo(demo::DemoArgs),
    /// Walk-forward evidence: what the learning loop's changes would have earned over the
    /// settled history, against what really happened (stored for the report)
    Evaluate(evaluate::EvaluateArgs),
    /// Run every job in-process on its timer cadence (for machines without systemd or cron)
    Schedule(schedule::ScheduleArgs),
    /// Queue a failure alert for a unit (systemd OnFailure=); prints it if the database fails
    Alert(alert::Alert),
}

impl Command {
    /// Runs the command; the exit code (a failure is an error, its code from `error`).
    pub fn run(self, global: &GlobalArgs) -> Result<u8> {
        match self {
            Command::Init => init::run(global),
            Command::Config => config::run(global),
            Command::Log(log) => log.run(global),
            Command::Status(status) => status.run(global),
            Command::Report(args) => report::run(global, args),
            Command::Params(cmd) => cmd.run(global),
            Command::Proposals(cmd) => cmd.run(global),
            Command::Pause(pause) => pause.run(global),
            Command::Resume(resume) => resume.run(global),
            Command::Archive(cmd) => cmd.run(global),
            Command::SettleCheck(check) => check.run(global),
            Command::Demo(args) => demo::run(global, args),
            Command::Evaluate(args) => evaluate::run(global, args),
            Command::Schedule(args) => schedule::run(global, args),
            Command::Alert(alert) => alert.run(global),
        }
    }
}

/// Who is acting: `--by`, else `$USER`, else `operator`.
fn operator(by: Option<String>) -> String {
    by.or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "operator".into())
}

/// Loads settings, starts tracing (warnings only unless `--verbose`) and opens (migrating) the
/// database.
pub fn open(global: &GlobalArgs) -> Result<(Settings, Connection)> {
    let settings = global.settings()?;
    crate::runner::init_tracing_at(settings.general.log_format, global.log_level());
    let conn = crate::db::open(&settings.general.db)?;
    Ok((settings, conn))
}

/// Prints `value` as one JSON object when `json`, else the text `human` makes.
pub fn print<T: Serialize>(json: bool, value: &T, human: impl FnOnce(&T) -> String) {
    if json {
        crate::output::println(
            &serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}")),
        );
    } else {
        let mut text = human(value);
        if !text.ends_with('\n') {
            text.push('\n');
        }
        crate::output::print(&text);
    }
}
