//! `polyperf config`: the effective settings, secrets redacted.

use anyhow::Result;

use super::GlobalArgs;

pub fn run(global: &GlobalArgs) -> Result<u8> {
    let settings = global.settings()?;
    if global.json {
        crate::output::println(&settings.redacted_json().to_string());
    } else {
        crate::output::print(&settings.redacted_toml());
    }
    Ok(0)
}
