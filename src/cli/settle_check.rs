//! `polyperf settle-check`: every settled decision recomputed from its stored inputs
//! (`settle::verify`); exit 1 when any differs.

use anyhow::Result;

use super::{open, print, GlobalArgs};
use crate::error::EXIT_FAILED;

pub fn run(global: &GlobalArgs) -> Result<u8> {
    let (settings, conn) = open(global)?;
    let report = crate::settle::verify(&conn, &settings)?;
    let bad = report.mismatches.len();
    print(global.json, &report, |r| {
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
    Ok(if bad > 0 { EXIT_FAILED } else { 0 })
}
