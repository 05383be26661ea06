//! `polyperf status`: the overview (`crate::status`) at now, or at `--now`.

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::{print, GlobalArgs};
use crate::time::parse_now_arg;

#[derive(clap::Args, Debug, Clone)]
pub struct Status {
    /// The overview's idea of "now" (RFC 3339), for reruns and tests
    #[arg(long, value_name = "RFC3339", value_parser = parse_now_arg)]
    now: Option<DateTime<Utc>>,
}

impl Status {
    pub fn run(self, global: &GlobalArgs) -> Result<u8> {
        let (settings, conn) = open_even_if_newer(global)?;
        let s = crate::status::collect(&conn, &settings, self.now.unwrap_or_else(Utc::now))?;
        print(global.json, &s, crate::status::render);
        Ok(0)
    }
}

/// Like `cli::open`, but a database newer than this binary is read as it is (not refused):
/// the trader asking `status --json` learns that it is not healthy, and why, instead of
/// getting an error. An older one is migrated as everywhere else.
fn open_even_if_newer(
    global: &GlobalArgs,
) -> Result<(crate::config::Settings, rusqlite::Connection)> {
    let settings = global.settings()?;
    crate::runner::init_tracing_at(settings.general.log_format, global.log_level());
    let mut conn = crate::db::open_existing(&settings.general.db)?;
    if crate::db::schema_version(&conn)? <= crate::db::SCHEMA_VERSION {
        crate::db::migrate(&mut conn)?;
    }
    Ok((settings, conn))
}
