//! `polyperf`: the operator CLI. Parses arguments and calls the library; no logic lives here.

use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use polyperf::cli::GlobalArgs;
use polyperf::cli::{open, print};
use polyperf::error::{bad_input, exit_code_for, one_line, EXIT_FAILED, EXIT_USAGE};
use polyperf::time::parse_now_arg;
use polyperf::{control, params, status, Tracker};

#[derive(Parser)]
#[command(
    name = "polyperf",
    version,
    about = "Operations back-end for a Polymarket BTC Up/Down trading bot",
    long_about = "Operations back-end for a Polymarket BTC Up/Down trading bot.\n\n\
    The trader logs decisions with `polyperf log`; the jobs polyperf-settle, -reflect, -adjust,\n\
    -telegram, -archive and -cleanup run from systemd timers or cron; this CLI inspects and steers.\n\
    Exit codes: 0 ok, 1 failed, 2 bad usage/config/input, 75 try again later."
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create or migrate the database and print where it is
    Init,
    /// Print the effective settings (secrets redacted)
    Config,
    /// Log decisions: one JSON object, a JSON array or JSON Lines, from FILE or stdin
    ///
    /// A bad line (invalid field, not UTF-8, or a decision_id already stored with other
    /// content) is named on stderr and in --json `errors`; then nothing is stored and the exit
    /// code is 2. Re-logging a stored decision unchanged is a harmless duplicate.
    Log {
        /// Input file; `-` or nothing reads stdin
        file: Option<PathBuf>,
        /// Store the good lines and report the bad ones, instead of storing nothing; exits 0
        /// when at least one line was good (2 when none was)
        #[arg(long)]
        skip_invalid: bool,
    },
    /// Overview: decisions, pause switch, approvals, outbox, each job's last run
    Status {
        #[arg(long, value_name = "RFC3339", value_parser = parse_now_arg)]
        now: Option<DateTime<Utc>>,
    },
    /// Performance report (terminal table, --json, --html, --chart)
    Report(polyperf::report::ReportArgs),
    /// Live trading parameters
    #[command(subcommand)]
    Params(ParamsCmd),
    /// Parameter proposals from reflections
    #[command(subcommand)]
    Proposals(polyperf::adjust::ProposalsCmd),
    /// Pause trading (the trader checks `status --json` / trading_control)
    Pause {
        #[arg(long)]
        reason: String,
        /// Who is pausing (default: $USER)
        #[arg(long)]
        by: Option<String>,
    },
    /// Resume trading after a pause
    Resume {
        #[arg(long, default_value = "resumed by operator")]
        reason: String,
        #[arg(long)]
        by: Option<String>,
    },
    /// Archive files: list, verify, restore
    #[command(subcommand)]
    Archive(polyperf::archive::ArchiveCmd),
    /// Recompute every settled decision from its stored inputs and report differences
    SettleCheck,
    /// Run the whole system offline on embedded defaults, in ./demo
    Demo(polyperf::demo::DemoArgs),
    /// Run every job in-process on its timer cadence (for machines without systemd or cron)
    Schedule(polyperf::schedule::ScheduleArgs),
    /// Queue a failure alert for a unit (systemd OnFailure=); prints it if the database fails
    Alert {
        /// The failed unit, e.g. polyperf-settle.service
        #[arg(long)]
        unit: String,
        /// Its result (default: $MONITOR_SERVICE_RESULT, set by systemd for OnFailure= units)
        #[arg(long, env = "MONITOR_SERVICE_RESULT")]
        result: Option<String>,
        /// Its exit status (default: $MONITOR_EXIT_STATUS)
        #[arg(long, env = "MONITOR_EXIT_STATUS")]
        exit_status: Option<String>,
    },
}

#[derive(Subcommand)]
enum ParamsCmd {
    /// List every parameter with its bounds
    List,
    /// Print one parameter's value
    Get { name: String },
    /// Set a parameter (bounds and step enforced, history written, approval_method cli)
    Set {
        name: String,
        value: String,
        #[arg(long)]
        reason: String,
    },
    /// Undo a change: a new history row restoring the old value
    Rollback {
        history_id: i64,
        #[arg(long, default_value = "rolled back by operator")]
        reason: String,
    },
    /// Show the change history
    History {
        name: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("polyperf: error: {}", one_line(&e));
            ExitCode::from(exit_code_for(&e))
        }
    }
}

fn user(by: Option<String>) -> String {
    by.or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "operator".into())
}

fn run(cli: Cli) -> Result<u8> {
    let global = &cli.global;
    let json = global.json;
    match cli.command {
        Command::Init => {
            let settings = global.settings()?;
            polyperf::runner::init_tracing(settings.general.log_format);
            let conn = polyperf::db::create(&settings.general.db)?;
            params::sync_bounds(&conn, &settings)?;
            let version = polyperf::db::schema_version(&conn)?;
            let out = serde_json::json!({"db": settings.general.db, "schema_version": version});
            print(json, &out, |_| {
                format!(
                    "database {} ready (schema v{version})",
                    settings.general.db.display()
                )
            });
        }
        Command::Config => {
            let settings = global.settings()?;
            if json {
                println!("{}", settings.redacted_json());
            } else {
                print!("{}", settings.redacted_toml());
            }
        }
        Command::Log { file, skip_invalid } => {
            let (_, conn) = open(global)?;
            let mut tracker = Tracker::from_connection(conn);
            let report = match file.filter(|f| f.as_os_str() != "-") {
                Some(path) => {
                    let f = std::fs::File::open(&path)
                        .map_err(|e| bad_input(format!("{}: {e}", path.display())))?;
                    tracker.log_reader(BufReader::with_capacity(1 << 20, f), skip_invalid)?
                }
                None => tracker.log_reader(std::io::stdin().lock(), skip_invalid)?,
            };
            for e in &report.errors {
                eprintln!("polyperf log: {e}");
            }
            print(json, &report, |r| {
                format!(
                    "stored {}, duplicates {}, invalid {}",
                    r.stored, r.duplicates, r.invalid
                )
            });
            if report.invalid > 0 && !skip_invalid {
                eprintln!("polyperf log: nothing stored because of {} invalid line(s); fix them or pass --skip-invalid", report.invalid);
                return Ok(EXIT_USAGE);
            }
            if report.invalid > 0 && report.stored + report.duplicates == 0 {
                eprintln!("polyperf log: no line was valid");
                return Ok(EXIT_USAGE);
            }
        }
        Command::Status { now } => {
            let (settings, conn) = open(global)?;
            let s = status::collect(&conn, &settings, now.unwrap_or_else(Utc::now))?;
            print(json, &s, status::render);
        }
        Command::Report(args) => polyperf::report::cli(global, args)?,
        Command::Params(cmd) => return params_cmd(global, cmd),
        Command::Proposals(cmd) => return polyperf::adjust::proposals_cli(global, cmd),
        Command::Pause { reason, by } => {
            let (_, mut conn) = open(global)?;
            let by = user(by);
            let tx = polyperf::db::write_tx(&mut conn)?;
            let changed = control::pause(
                &tx,
                &control::Pause {
                    reason: &reason,
                    by: &by,
                    rule: None,
                    figures: None,
                    auto_resume_at: None,
                },
                Utc::now(),
            )?;
            tx.commit()?;
            let state = control::state(&conn)?;
            print(
                json,
                &serde_json::json!({"changed": changed, "state": state}),
                |_| {
                    if changed {
                        format!("trading paused: {reason}")
                    } else {
                        "trading was already paused".into()
                    }
                },
            );
        }
        Command::Resume { reason, by } => {
            let (_, mut conn) = open(global)?;
            let by = user(by);
            let tx = polyperf::db::write_tx(&mut conn)?;
            let changed = control::resume(&tx, &by, &reason, Utc::now())?;
            tx.commit()?;
            let state = control::state(&conn)?;
            print(
                json,
                &serde_json::json!({"changed": changed, "state": state}),
                |_| {
                    if changed {
                        "trading resumed".into()
                    } else {
                        "trading was not paused".into()
                    }
                },
            );
        }
        Command::Archive(cmd) => return polyperf::archive::cli(global, cmd),
        Command::SettleCheck => {
            let (settings, conn) = open(global)?;
            let report = polyperf::settle::verify(&conn, &settings)?;
            let bad = report.mismatches.len();
            print(json, &report, |r| {
                let mut s = format!(
                    "checked {} settled decisions: {} mismatches\n",
                    r.checked,
                    r.mismatches.len()
                );
                for m in &r.mismatches {
                    s.push_str(&format!("  {m}\n"));
                }
                s
            });
            if bad > 0 {
                return Ok(EXIT_FAILED);
            }
        }
        Command::Demo(args) => polyperf::demo::cli(global, args)?,
        Command::Schedule(args) => polyperf::schedule::cli(global, args)?,
        Command::Alert {
            unit,
            result,
            exit_status,
        } => {
            let failure = polyperf::outbox::message::JobFailure {
                unit: unit.clone(),
                result: result.clone(),
                exit_status: exit_status.clone(),
                host: std::env::var("HOSTNAME").ok(),
            };
            // The alert must get out even when the database is the problem: print it first.
            eprintln!(
                "polyperf alert: {unit} failed (result {}, exit status {})",
                result.as_deref().unwrap_or("?"),
                exit_status.as_deref().unwrap_or("?")
            );
            let (_, conn) = open(global)?;
            let now = Utc::now();
            let key = format!("job_failure:{unit}:{}", now.timestamp());
            let message = polyperf::outbox::Message::JobFailure(failure);
            polyperf::outbox::enqueue(&conn, &message, Some(&key), now)?;
            print(json, &message.payload(), |_| {
                format!("alert queued for {unit}")
            });
        }
    }
    Ok(0)
}

fn params_cmd(global: &GlobalArgs, cmd: ParamsCmd) -> Result<u8> {
    let json = global.json;
    let (settings, mut conn) = open(global)?;
    match cmd {
        ParamsCmd::List => {
            let list = params::list(&conn)?;
            print(json, &list, |list| {
                let mut s = format!(
                    "{:<28} {:>10} {:>10} {:>10}  {}\n",
                    "name", "value", "min", "max", "updated"
                );
                for p in list {
                    s.push_str(&format!(
                        "{:<28} {:>10} {:>10} {:>10}  {}\n",
                        p.name, p.value, p.min, p.max, p.updated_at
                    ));
                }
                s
            });
        }
        ParamsCmd::Get { name } => {
            let p = params::get(&conn, &name)?
                .ok_or_else(|| bad_input(format!("unknown parameter {name:?}")))?;
            print(json, &p, |p| p.value.to_string());
        }
        ParamsCmd::Set {
            name,
            value,
            reason,
        } => {
            params::sync_bounds(&conn, &settings)?;
            let new_value = params::parse_value(&name, &value)?;
            params::check_step(&settings, &name, new_value)?;
            let by = user(None);
            let tx = polyperf::db::write_tx(&mut conn)?;
            let change = params::Change {
                name: &name,
                new_value,
                reason: &reason,
                method: params::Method::Cli,
                proposal_id: None,
                reverts_history_id: None,
                by: &by,
            };
            let history_id = params::apply_change(&tx, &change, Utc::now())?;
            tx.commit()?;
            print(
                json,
                &serde_json::json!({"parameter": name, "value": new_value.to_string(), "history_id": history_id}),
                |_| format!("{name} = {new_value} (history #{history_id})"),
            );
        }
        ParamsCmd::Rollback { history_id, reason } => {
            let by = user(None);
            let r = params::rollback(&mut conn, history_id, &reason, &by, Utc::now())
                .context("rollback")?;
            print(json, &r, |r| {
                format!(
                    "{} back to {} (was {}; history #{} reverts #{})",
                    r.parameter, r.to, r.from, r.history_id, r.reverts_history_id
                )
            });
        }
        ParamsCmd::History { name, limit } => {
            let rows = params::history(&conn, name.as_deref(), limit)?;
            print(json, &rows, |rows| {
                let mut s = String::new();
                for h in rows {
                    s.push_str(&format!(
                        "#{:<5} {}  {:<26} {} -> {}  [{}]  {}\n",
                        h.id,
                        h.timestamp,
                        h.parameter_name,
                        h.old_value,
                        h.new_value,
                        h.approval_method,
                        h.reason
                    ));
                }
                if s.is_empty() {
                    s.push_str("no parameter changes yet\n");
                }
                s
            });
        }
    }
    Ok(0)
}
