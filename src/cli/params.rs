//! `polyperf params {list,get,set,rollback,history}`: the live parameters (`crate::params`).

use anyhow::{Context, Result};
use chrono::Utc;

use super::{open, operator, print, GlobalArgs};
use crate::error::bad_input;
use crate::params;

#[derive(clap::Subcommand, Debug, Clone)]
pub enum ParamsCmd {
    /// List every parameter with its bounds
    List,
    /// Print one parameter's value
    Get {
        /// The parameter's name (e.g. bot_confidence_threshold)
        name: String,
    },
    /// Set a parameter (bounds and step enforced, history written, approval_method cli)
    Set {
        /// The parameter's name (e.g. bot_confidence_threshold)
        name: String,
        /// The new value, exact (within the bounds, on the step)
        value: String,
        /// Why it changes (kept in parameter_history)
        #[arg(long)]
        reason: String,
    },
    /// Undo a change: a new history row restoring the old value
    Rollback {
        /// The parameter_history id of the change to undo (`params history` lists them)
        history_id: i64,
        /// Why it is undone (kept in parameter_history)
        #[arg(long, default_value = "rolled back by operator")]
        reason: String,
    },
    /// Show the change history
    History {
        /// Only this parameter's changes (default: every parameter)
        name: Option<String>,
        /// At most this many changes, newest first
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

/// One line of `params list`: the value as stored, and what is wrong with it when a reader
/// would refuse it (then the list exits 2, after showing every parameter).
#[derive(serde::Serialize)]
struct Listed {
    name: String,
    value: String,
    min: String,
    max: String,
    description: Option<String>,
    updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

/// Lists every parameter, the ones no reader may use (a hand edit) with the fix; exit 2 when
/// there is one, so a trader or script reading the list notices.
fn list(conn: &rusqlite::Connection, json: bool) -> Result<u8> {
    let rows: Vec<Listed> = params::stored_all(conn)?
        .into_iter()
        .map(|s| {
            let problem = s.check().err().map(|bad| bad.to_string());
            let (value, min, max) = match s.check() {
                Ok(p) => (p.value.to_string(), p.min.to_string(), p.max.to_string()),
                Err(_) => (s.value, s.min, s.max),
            };
            Listed {
                name: s.name,
                value,
                min,
                max,
                description: s.description,
                updated_at: s.updated_at,
                problem,
            }
        })
        .collect();
    print(json, &rows, |rows| {
        let mut s = format!(
            "{:<28} {:>10} {:>10} {:>10}  {}\n",
            "name", "value", "min", "max", "updated"
        );
        for p in rows {
            s.push_str(&format!(
                "{:<28} {:>10} {:>10} {:>10}  {}\n",
                p.name,
                format!("{:?}", p.value).trim_matches('"'),
                p.min,
                p.max,
                p.updated_at
            ));
        }
        s
    });
    let problems: Vec<&str> = rows.iter().filter_map(|r| r.problem.as_deref()).collect();
    if problems.is_empty() {
        return Ok(0);
    }
    for problem in &problems {
        eprintln!("polyperf: error: {problem}");
    }
    Ok(crate::error::EXIT_USAGE)
}

impl ParamsCmd {
    pub fn run(self, global: &GlobalArgs) -> Result<u8> {
        let json = global.json;
        let (settings, mut conn) = open(global)?;
        match self {
            ParamsCmd::List => return list(&conn, json),
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
                let by = operator(None);
                let tx = crate::db::write_tx(&mut conn)?;
                let change = params::Change {
                    name: &name,
                    new_value,
                    reason: &reason,
                    method: crate::kinds::Method::Cli,
                    proposal_id: None,
                    reverts_history_id: None,
                    by: &by,
                };
                let history_id =
                    params::apply_change(&tx, &settings.telegram.notify, &change, Utc::now())?;
                tx.commit()?;
                print(
                    json,
                    &serde_json::json!({"parameter": name, "value": new_value.to_string(), "history_id": history_id}),
                    |_| format!("{name} = {new_value} (history #{history_id})"),
                );
            }
            ParamsCmd::Rollback { history_id, reason } => {
                let by = operator(None);
                let notify = &settings.telegram.notify;
                let r = params::rollback(&mut conn, notify, history_id, &reason, &by, Utc::now())
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
}
