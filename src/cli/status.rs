//! `polyperf status`: the overview (`crate::status`) at now, or at `--now`.

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::{open, print, GlobalArgs};
use crate::time::parse_now_arg;

#[derive(clap::Args, Debug, Clone)]
pub struct Status {
    /// The overview's idea of "now" (RFC 3339), for reruns and tests
    #[arg(long, value_name = "RFC3339", value_parser = parse_now_arg)]
    now: Option<DateTime<Utc>>,
}

impl Status {
    pub fn run(self, global: &GlobalArgs) -> Result<u8> {
        let (settings, conn) = open(global)?;
        let s = crate::status::collect(&conn, &settings, self.now.unwrap_or_else(Utc::now))?;
        print(global.json, &s, crate::status::render);
        Ok(0)
    }
}
