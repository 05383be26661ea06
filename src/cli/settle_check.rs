//! `polyperf settle-check [--fix]`: every settled decision recomputed from its stored inputs
//! under today's fee rules (`settle::verify`); exit 1 when any differs. `--fix` rewrites the
//! money of the rows whose only difference is their money (`settle::resettle`).

use anyhow::Result;
use chrono::Utc;

use super::{open, print, GlobalArgs};
use crate::error::EXIT_FAILED;

#[derive(clap::Args, Debug, Clone)]
pub struct SettleCheck {
    /// Rewrite the fee, fee asset, payout and P&L of settled rows whose only difference from
    /// today's rules is their money (e.g. rows settled before polyperf knew the CLOB V2 fee
    /// rules), in one transaction; rows that differ otherwise are listed, not changed
    #[arg(long)]
    fix: bool,
}

impl SettleCheck {
    pub fn run(self, global: &GlobalArgs) -> Result<u8> {
        let (settings, mut conn) = open(global)?;
        let report = if self.fix {
            crate::settle::resettle(&mut conn, &settings, Utc::now())?
        } else {
            crate::settle::verify(&conn, &settings)?
        };
        let bad = report.mismatches.len();
        print(global.json, &report, |r| {
            let mut s = format!(
                "checked {} settled decisions: {} mismatches\n",
                r.checked,
                r.mismatches.len()
            );
            if let (Some(fixed), Some(change)) = (r.fixed, r.profit_change) {
                s.push_str(&format!(
                    "re-settled {fixed} under today's fee rules (P&L changed by {} USDC)\n",
                    change.round_dp(2)
                ));
            }
            for m in r.mismatches.iter().take(50) {
                s.push_str(&format!("  {m}\n"));
            }
            if r.mismatches.len() > 50 {
                s.push_str(&format!(
                    "  … and {} more (--json lists all)\n",
                    r.mismatches.len() - 50
                ));
            }
            if r.fixed.is_none() && !r.mismatches.is_empty() {
                s.push_str("rows whose only difference is their money: `polyperf settle-check --fix` re-settles them\n");
            }
            s
        });
        Ok(if bad > 0 { EXIT_FAILED } else { 0 })
    }
}
