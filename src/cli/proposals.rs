//! `polyperf proposals {list,show,approve,reject}`: parameter proposals, and a human's
//! verdict on one awaiting approval; the work is the library's ([`crate::proposals`],
//! [`crate::proposals::apply_verdict`]).

use anyhow::Result;
use chrono::Utc;

use super::{open, print, GlobalArgs};
use crate::error::{bad_input, EXIT_OK, EXIT_USAGE};
use crate::kinds::Method;
use crate::proposals::{self, Proposal, Status};
use crate::proposals::{apply_verdict, Request, Verdict};

#[derive(clap::Subcommand, Debug, Clone)]
pub enum ProposalsCmd {
    /// List proposals (newest first)
    List,
    /// Show one proposal with its evidence
    Show {
        /// The proposal's id (`proposals list` shows them)
        id: i64,
    },
    /// Approve and apply a proposal awaiting approval
    Approve {
        /// The proposal's id (`proposals list` shows them)
        id: i64,
    },
    /// Reject a proposal
    Reject {
        /// The proposal's id (`proposals list` shows them)
        id: i64,
    },
}

/// What both listings print of a proposal: id, created, parameter, current and proposed value,
/// tier (`-` before the adjuster decided it) and status.
fn fields(p: &Proposal) -> [String; 7] {
    [
        p.id.to_string(),
        p.created_at.clone(),
        p.parameter_name.clone(),
        p.current_value.clone(),
        p.proposed_value.clone(),
        p.tier.map_or_else(|| "-".into(), |t| t.to_string()),
        p.status.to_string(),
    ]
}

impl ProposalsCmd {
    /// Runs the command; returns the exit code.
    pub fn run(self, global: &GlobalArgs) -> Result<u8> {
        proposals(global, self)
    }
}

fn proposals(global: &GlobalArgs, cmd: ProposalsCmd) -> Result<u8> {
    let json = global.json;
    let (settings, mut conn) = open(global)?;
    match cmd {
        ProposalsCmd::List => {
            let list = proposals::list(&conn, 100)?;
            print(json, &serde_json::json!({ "proposals": list }), |_| {
                let mut s = format!(
                    "{:>5}  {:<19}  {:<26} {:>10} {:>10}  {:>4}  {}\n",
                    "id", "created", "parameter", "current", "proposed", "tier", "status"
                );
                for p in &list {
                    let [id, created, parameter, current, proposed, tier, status] = fields(p);
                    s.push_str(&format!(
                        "{id:>5}  {created:<19}  {parameter:<26} {current:>10} {proposed:>10}  {tier:>4}  {status}\n"
                    ));
                }
                if list.is_empty() {
                    s.push_str("no proposals yet\n");
                }
                s
            });
            Ok(EXIT_OK)
        }
        ProposalsCmd::Show { id } => {
            let p = proposals::get(&conn, id)?
                .ok_or_else(|| bad_input(format!("there is no proposal #{id}")))?;
            print(json, &p, |p| {
                let [id, created, parameter, current, proposed, tier, status] = fields(p);
                let mut s = format!(
                    "proposal #{id} ({created}): {parameter} {current} -> {proposed}  tier {tier}  [{status}]\n"
                );
                for (label, v) in [
                    ("reason", &p.reason),
                    ("expected impact", &p.expected_impact),
                    ("status reason", &p.status_reason),
                    ("expires", &p.expires_at),
                ] {
                    if let Some(v) = v {
                        s.push_str(&format!("  {label}: {v}\n"));
                    }
                }
                if let Some(summary) = p.evidence.as_ref().and_then(|e| e["summary"].as_str()) {
                    s.push_str(&format!("  evidence: {summary}\n"));
                }
                s
            });
            Ok(EXIT_OK)
        }
        ProposalsCmd::Approve { id } | ProposalsCmd::Reject { id } => {
            let verdict = if matches!(cmd, ProposalsCmd::Approve { .. }) {
                Verdict::Approve
            } else {
                Verdict::Reject
            };
            let by = std::env::var("USER").unwrap_or_else(|_| "cli".into());
            let request = Request {
                proposal_id: id,
                nonce: None,
                verdict,
                by: &by,
                method: Method::Cli,
            };
            let out = apply_verdict(&mut conn, &settings, &request, Utc::now())?;
            print(json, &out, |o| o.message.clone());
            let wanted = if verdict == Verdict::Approve {
                Status::Applied
            } else {
                Status::Rejected
            };
            // Done now or before: success. Refused (expired, superseded, unknown…): exit 2.
            if out.status == Some(wanted) {
                Ok(EXIT_OK)
            } else {
                if !json {
                    eprintln!("polyperf proposals: {}", out.message);
                }
                Ok(EXIT_USAGE)
            }
        }
    }
}
