//! `polyperf init`: creates (or migrates) the database, the only command that may.

use anyhow::Result;

use super::{print, GlobalArgs};

pub fn run(global: &GlobalArgs) -> Result<u8> {
    let settings = global.settings()?;
    crate::runner::init_tracing_at(settings.general.log_format, global.log_level());
    let conn = crate::db::create(&settings.general.db)?;
    crate::params::sync_bounds(&conn, &settings)?;
    let version = crate::db::schema_version(&conn)?;
    let out = serde_json::json!({"db": settings.general.db, "schema_version": version});
    print(global.json, &out, |_| {
        format!(
            "database {} ready (schema v{version})",
            settings.general.db.display()
        )
    });
    Ok(0)
}
