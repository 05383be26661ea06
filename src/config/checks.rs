//! The checks behind [`Settings::validate`] and the key naming of a config file's errors: every
//! setting's range (exit 2 naming `section.key`), so that nothing downstream meets a value that
//! makes no sense (a zero batch, a fee exponent of 1.5, a lease of 0 s, a day count that
//! overflows date arithmetic).

use anyhow::Result;
use rust_decimal::Decimal;
use serde::Deserialize;

use super::Settings;
use crate::error::bad_input;

impl Settings {
    /// Checks values that types alone don't: ranges, consistency (the words of a key are its
    /// enum's, checked when the settings are read). Names the key. Every
    /// count of days, hours, minutes or seconds is bounded (at most 100 years), so no date
    /// arithmetic on a setting can overflow; zero is refused where it would make no sense (a
    /// batch of nothing, a timeout of nothing) and kept where it means "off". The checks are
    /// one table, a section each, run in order: the first key that fails is named.
    pub fn validate(&self) -> Result<()> {
        const SECTIONS: [fn(&Settings) -> Result<()>; 10] = [
            |s| general(&s.general),
            |s| apis(&s.apis),
            |s| settlement(&s.settlement),
            |s| within("reflect.history", s.reflect.history, 0, 1_000),
            |s| llm(&s.llm),
            |s| adjust(&s.adjust),
            |s| telegram(&s.telegram),
            |s| archive(&s.archive),
            |s| check_cleanup(&s.cleanup),
            urls,
        ];
        SECTIONS.iter().try_for_each(|check| check(self))
    }
}

/// Bad input naming the setting and what is wrong with it.
fn fail(key: &str, why: String) -> Result<()> {
    Err(bad_input(format!("setting {key}: {why}")))
}

/// Counts that must lie in a range, as (key, value, min, max), each checked with [`within`].
fn all_within(ranges: &[(&str, u64, u64, u64)]) -> Result<()> {
    ranges
        .iter()
        .try_for_each(|&(key, value, min, max)| within(key, value, min, max))
}

/// The largest count of hours a setting may hold (100 years).
const MAX_HOURS: u64 = crate::time::MAX_DAYS as u64 * 24;

/// `[general]`: the lease and the database path.
fn general(g: &super::General) -> Result<()> {
    within("general.lock_lease_secs", g.lock_lease_secs, 30, 604_800)?;
    not_empty("general.db", &g.db.to_string_lossy())
}

/// `[apis]`: the HTTP client's timeout, attempts and backoff.
fn apis(a: &super::Apis) -> Result<()> {
    all_within(&[
        ("apis.http_timeout_secs", a.http_timeout_secs, 1, 3_600),
        (
            "apis.http_max_attempts",
            u64::from(a.http_max_attempts),
            1,
            100,
        ),
        ("apis.http_backoff_ms", a.http_backoff_ms, 0, 60_000),
    ])
}

/// `[settlement]`: batches, waits, the fee model and the price symbols.
fn settlement(st: &super::Settlement) -> Result<()> {
    all_within(&[
        (
            "settlement.batch_size",
            u64::from(st.batch_size),
            1,
            100_000,
        ),
        (
            "settlement.alert_lag_hours",
            u64::from(st.alert_lag_hours),
            1,
            MAX_HOURS,
        ),
        (
            "settlement.grace_seconds",
            u64::from(st.grace_seconds),
            0,
            86_400,
        ),
        (
            "settlement.official_wait_minutes",
            u64::from(st.official_wait_minutes),
            0,
            MAX_HOURS * 60,
        ),
    ])?;
    within(
        "settlement.fee_rate",
        st.fee_rate,
        Decimal::ZERO,
        Decimal::ONE,
    )?;
    if st.fee_exponent.fract() != Decimal::ZERO
        || !(Decimal::ZERO..=Decimal::from(4)).contains(&st.fee_exponent)
    {
        return fail(
            "settlement.fee_exponent",
            format!("{} is not a whole number from 0 to 4", st.fee_exponent),
        );
    }
    check_price_symbols(st)
}

/// `[adjust]`: the tiers, cooldowns, windows, the guard's limits and each parameter's bounds.
fn adjust(ad: &super::Adjust) -> Result<()> {
    use crate::time::MAX_DAYS;
    let (t1, t2) = (ad.tier1_max_change, ad.tier2_max_change);
    if t1 <= Decimal::ZERO || t2 < t1 || t2 > Decimal::ONE {
        return fail(
            "adjust.tier1_max_change",
            format!(
                "need 0 < tier1_max_change ({t1}) <= tier2_max_change ({t2}) <= 1 (fractions of the current value)"
            ),
        );
    }
    all_within(&[
        (
            "adjust.tier1_cooldown_hours",
            u64::from(ad.tier1_cooldown_hours),
            0,
            MAX_HOURS,
        ),
        (
            "adjust.approval_ttl_hours",
            u64::from(ad.approval_ttl_hours),
            1,
            MAX_HOURS,
        ),
        (
            "adjust.replay_days",
            u64::from(ad.replay_days),
            1,
            u64::from(MAX_DAYS),
        ),
        (
            "adjust.drawdown_lookback_days",
            u64::from(ad.drawdown_lookback_days),
            1,
            u64::from(MAX_DAYS),
        ),
    ])?;
    if let Some(h) = ad.auto_resume_after_hours {
        within("adjust.auto_resume_after_hours", u64::from(h), 1, MAX_HOURS)?;
    }
    // Zero switches a guard rule off; a negative limit would trip it forever.
    for (key, limit) in [
        ("adjust.daily_loss_limit", ad.daily_loss_limit),
        ("adjust.max_drawdown", ad.max_drawdown),
    ] {
        if limit < Decimal::ZERO {
            return fail(
                key,
                format!("{limit} is negative (0 switches the rule off)"),
            );
        }
    }
    within(
        "adjust.win_rate_floor",
        ad.win_rate_floor,
        Decimal::ZERO,
        Decimal::ONE,
    )?;
    parameter_bounds(ad)
}

/// `[adjust.parameters.*]`: each parameter's bounds and step, kept where the adjuster's
/// arithmetic on them is exact.
fn parameter_bounds(ad: &super::Adjust) -> Result<()> {
    let largest = Decimal::from(1_000_000_000_000i64);
    for (name, b) in &ad.parameters {
        let steps = b.max.checked_div(b.step.max(Decimal::new(1, 28)));
        if b.min < Decimal::ZERO
            || b.min > b.max
            || b.max > largest
            || b.step <= Decimal::ZERO
            || steps.is_none_or(|n| n > largest)
        {
            return fail(
                &format!("adjust.parameters.{name}"),
                format!(
                    "need 0 <= min <= max <= 10^12, step > 0 and at most 10^12 steps (min {}, max {}, step {})",
                    b.min, b.max, b.step
                ),
            );
        }
    }
    Ok(())
}

/// `[archive]`: the directory and the retention.
fn archive(a: &super::Archive) -> Result<()> {
    not_empty("archive.dir", &a.dir.to_string_lossy())?;
    within(
        "archive.retention_days",
        a.retention_days,
        0,
        crate::time::MAX_DAYS,
    )
}

/// Every remote API's base URL is an http(s) URL.
fn urls(s: &Settings) -> Result<()> {
    for (key, url) in [
        ("apis.binance_api_base", &s.apis.binance_api_base),
        ("apis.gamma_api_base", &s.apis.gamma_api_base),
        ("llm.base_url", &s.llm.base_url),
        ("telegram.api_base", &s.telegram.api_base),
    ] {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return fail(key, format!("{url:?} is not an http(s) URL"));
        }
    }
    Ok(())
}

/// `[llm]`: the model, its timeout, tokens, attempts, temperature and the outage wait.
fn llm(l: &super::Llm) -> Result<()> {
    not_empty("llm.model", &l.model)?;
    within("llm.timeout_secs", l.timeout_secs, 1, 3_600)?;
    within("llm.max_tokens", l.max_tokens, 1, 1_000_000)?;
    within("llm.max_attempts", l.max_attempts, 1, 100)?;
    within(
        "llm.fallback_after_minutes",
        l.fallback_after_minutes,
        0,
        crate::time::MAX_DAYS * 24 * 60,
    )?;
    if !(0.0..=2.0).contains(&l.temperature) {
        return fail(
            "llm.temperature",
            format!("{} is outside [0, 2]", l.temperature),
        );
    }
    Ok(())
}

/// `[telegram]`: attempts, polling, the token and chat when enabled, and a chat id Telegram can
/// take (refused naming TELEGRAM_CHAT_ID otherwise).
fn telegram(tg: &super::Telegram) -> Result<()> {
    within("telegram.max_attempts", tg.max_attempts, 1, 1_000)?;
    within("telegram.poll_timeout_secs", tg.poll_timeout_secs, 0, 600)?;
    if tg.enabled && (tg.bot_token.is_none() || tg.chat_id.is_none()) {
        return fail(
            "telegram.enabled",
            "TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID are required when Telegram is enabled".into(),
        );
    }
    if let Some(chat) = tg.chat_id.as_deref().filter(|c| !is_chat_id(c)) {
        return fail(
            "telegram.chat_id",
            format!(
                "TELEGRAM_CHAT_ID {:?} is not a chat id: a non-zero integer (-1001234567890 for a group, your user id for a private chat) or @channelusername",
                chat.chars().take(64).collect::<String>()
            ),
        );
    }
    Ok(())
}

/// Whether `text` is a chat id Telegram takes: a non-zero integer (`-1001234567890`, a user's
/// id) or a public `@username` (a letter, then letters, digits or underscores, 4 to 32 in all).
pub fn is_chat_id(text: &str) -> bool {
    let text = text.trim();
    if let Some(name) = text.strip_prefix('@') {
        return (4..=32).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    }
    text.parse::<i64>().is_ok_and(|id| id != 0)
}

/// The cleanup job's settings (free-space thresholds, retentions, the integrity check's time).
fn check_cleanup(c: &super::Cleanup) -> Result<()> {
    use crate::time::MAX_DAYS;
    if !(0.0..100.0).contains(&c.min_free_percent) {
        return fail(
            "cleanup.min_free_percent",
            format!("{} is outside [0, 100)", c.min_free_percent),
        );
    }
    if !(1.0..=100.0).contains(&c.warning_factor) {
        return fail(
            "cleanup.warning_factor",
            format!("{} is outside [1, 100]", c.warning_factor),
        );
    }
    within(
        "cleanup.emergency_retention_days",
        c.emergency_retention_days,
        0,
        MAX_DAYS,
    )?;
    within(
        "cleanup.outbox_retention_days",
        c.outbox_retention_days,
        1,
        MAX_DAYS,
    )?;
    within(
        "cleanup.job_runs_retention_days",
        c.job_runs_retention_days,
        1,
        MAX_DAYS,
    )?;
    within(
        "cleanup.prices_retention_days",
        c.prices_retention_days,
        1,
        MAX_DAYS,
    )?;
    within(
        "cleanup.integrity_check_secs",
        c.integrity_check_secs,
        0,
        3600,
    )?;
    Ok(())
}

/// `settlement.price_symbols` (asset → Binance symbol, `""` for none) and the older
/// `settlement.price_symbol`: plain alphanumeric words, so they can only ever name a symbol.
fn check_price_symbols(st: &super::Settlement) -> Result<()> {
    let symbol_like =
        |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_alphanumeric());
    if let Some(symbol) = st.price_symbol.as_deref().filter(|s| !symbol_like(s)) {
        return fail(
            "settlement.price_symbol",
            format!("{symbol:?} is not a symbol like BTCUSDT"),
        );
    }
    for (asset, symbol) in &st.price_symbols.0 {
        let asset_like =
            (1..=10).contains(&asset.len()) && asset.bytes().all(|b| b.is_ascii_alphanumeric());
        if !asset_like || !(symbol.is_empty() || symbol_like(symbol)) {
            return fail(
                "settlement.price_symbols",
                format!("{asset:?} = {symbol:?} is not an asset and a symbol like ETH = \"ETHUSDT\" (\"\" for none)"),
            );
        }
    }
    Ok(())
}

/// `value` within `min..=max` (NaN never is), or bad input naming the key.
fn within<T: PartialOrd + std::fmt::Display>(key: &str, value: T, min: T, max: T) -> Result<()> {
    if value >= min && value <= max {
        Ok(())
    } else {
        Err(bad_input(format!(
            "setting {key}: {value} is outside {min} to {max}"
        )))
    }
}

fn not_empty(key: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        Err(bad_input(format!("setting {key}: must not be empty")))
    } else {
        Ok(())
    }
}

/// The first key of a config file whose value the settings refuse (an unknown key, a string
/// where a number belongs, ...) as `section.key`, with serde's complaint. serde's TOML errors
/// say what was wrong but not where, so each key is tried alone on top of the defaults.
pub(super) fn bad_file_key(file: &toml::Value) -> Option<(String, String)> {
    let defaults = toml::Value::try_from(Settings::default()).ok()?;
    let refused = |probe: toml::Value| {
        Settings::deserialize(probe)
            .err()
            .map(|e| e.message().to_string())
    };
    for (section, value) in file.as_table()? {
        let mut probe = defaults.clone();
        let Some(entries) = value.as_table() else {
            probe.as_table_mut()?.insert(section.clone(), value.clone());
            if let Some(why) = refused(probe) {
                return Some((section.clone(), why));
            }
            continue;
        };
        for (key, value) in entries {
            // A table of tables (`[telegram.notify]`): each of its keys on its own, so the
            // error names `telegram.notify.trade`.
            let nested = value.as_table().filter(|_| {
                defaults
                    .get(section)
                    .and_then(|s| s.get(key))
                    .is_some_and(toml::Value::is_table)
            });
            let parts: Vec<(String, toml::Value)> = match nested {
                Some(inner) => inner
                    .iter()
                    .map(|(sub, v)| {
                        let mut only = toml::map::Map::new();
                        only.insert(sub.clone(), v.clone());
                        (format!("{section}.{key}.{sub}"), toml::Value::Table(only))
                    })
                    .collect(),
                None => vec![(format!("{section}.{key}"), value.clone())],
            };
            for (name, value) in parts {
                let mut probe = defaults.clone();
                let table = probe.as_table_mut()?;
                match table.get_mut(section).and_then(toml::Value::as_table_mut) {
                    Some(existing) => {
                        existing.insert(key.clone(), value);
                    }
                    None => {
                        let mut only = toml::map::Map::new();
                        only.insert(key.clone(), value);
                        table.insert(section.clone(), toml::Value::Table(only));
                    }
                }
                if let Some(why) = refused(probe) {
                    return Some((name, why));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::env;

    #[test]
    fn values_that_make_no_sense_are_refused_naming_the_key() {
        for (name, value, key) in [
            (
                "POLYPERF_SETTLEMENT_FEE_EXPONENT",
                "1.5",
                "settlement.fee_exponent",
            ),
            (
                "POLYPERF_SETTLEMENT_FEE_EXPONENT",
                "5",
                "settlement.fee_exponent",
            ),
            (
                "POLYPERF_GENERAL_LOCK_LEASE_SECS",
                "0",
                "general.lock_lease_secs",
            ),
            (
                "POLYPERF_GENERAL_LOCK_LEASE_SECS",
                "29",
                "general.lock_lease_secs",
            ),
            (
                "POLYPERF_ADJUST_WIN_RATE_FLOOR",
                "5",
                "adjust.win_rate_floor",
            ),
            (
                "POLYPERF_ADJUST_WIN_RATE_FLOOR",
                "-0.1",
                "adjust.win_rate_floor",
            ),
            (
                "POLYPERF_ADJUST_DAILY_LOSS_LIMIT",
                "-1",
                "adjust.daily_loss_limit",
            ),
            ("POLYPERF_ADJUST_MAX_DRAWDOWN", "-1", "adjust.max_drawdown"),
            (
                "POLYPERF_ADJUST_TIER2_MAX_CHANGE",
                "3",
                "adjust.tier1_max_change",
            ),
            ("POLYPERF_ADJUST_REPLAY_DAYS", "0", "adjust.replay_days"),
            ("POLYPERF_ADJUST_REPLAY_DAYS", "36501", "adjust.replay_days"),
            (
                "POLYPERF_ADJUST_APPROVAL_TTL_HOURS",
                "0",
                "adjust.approval_ttl_hours",
            ),
            (
                "POLYPERF_ADJUST_TIER1_COOLDOWN_HOURS",
                "4294967295",
                "adjust.tier1_cooldown_hours",
            ),
            (
                "POLYPERF_ADJUST_DRAWDOWN_LOOKBACK_DAYS",
                "0",
                "adjust.drawdown_lookback_days",
            ),
            (
                "POLYPERF_ADJUST_AUTO_RESUME_AFTER_HOURS",
                "0",
                "adjust.auto_resume_after_hours",
            ),
            ("SETTLEMENT_BATCH_SIZE", "0", "settlement.batch_size"),
            (
                "SETTLEMENT_ALERT_LAG_HOURS",
                "4294967295",
                "settlement.alert_lag_hours",
            ),
            (
                "POLYPERF_SETTLEMENT_GRACE_SECONDS",
                "4294967295",
                "settlement.grace_seconds",
            ),
            (
                "POLYPERF_SETTLEMENT_PRICE_SYMBOL",
                "BTC&x=1",
                "settlement.price_symbol",
            ),
            (
                "POLYPERF_APIS_HTTP_TIMEOUT_SECS",
                "0",
                "apis.http_timeout_secs",
            ),
            (
                "POLYPERF_APIS_HTTP_MAX_ATTEMPTS",
                "0",
                "apis.http_max_attempts",
            ),
            (
                "POLYPERF_APIS_HTTP_BACKOFF_MS",
                "9223372036854775807",
                "apis.http_backoff_ms",
            ),
            ("POLYPERF_LLM_TIMEOUT_SECS", "0", "llm.timeout_secs"),
            ("POLYPERF_LLM_MAX_TOKENS", "0", "llm.max_tokens"),
            ("POLYPERF_LLM_MAX_ATTEMPTS", "0", "llm.max_attempts"),
            ("POLYPERF_LLM_TEMPERATURE", "NaN", "llm.temperature"),
            (
                "POLYPERF_TELEGRAM_MAX_ATTEMPTS",
                "0",
                "telegram.max_attempts",
            ),
            (
                "POLYPERF_TELEGRAM_POLL_TIMEOUT_SECS",
                "86400",
                "telegram.poll_timeout_secs",
            ),
            (
                "POLYPERF_ARCHIVE_RETENTION_DAYS",
                "4294967295",
                "archive.retention_days",
            ),
            (
                "POLYPERF_MIN_FREE_PERCENT",
                "100",
                "cleanup.min_free_percent",
            ),
            (
                "POLYPERF_MIN_FREE_PERCENT",
                "-1",
                "cleanup.min_free_percent",
            ),
            (
                "POLYPERF_CLEANUP_WARNING_FACTOR",
                "0.9",
                "cleanup.warning_factor",
            ),
            (
                "POLYPERF_CLEANUP_WARNING_FACTOR",
                "inf",
                "cleanup.warning_factor",
            ),
            (
                "POLYPERF_CLEANUP_OUTBOX_RETENTION_DAYS",
                "0",
                "cleanup.outbox_retention_days",
            ),
            (
                "POLYPERF_CLEANUP_PRICES_RETENTION_DAYS",
                "0",
                "cleanup.prices_retention_days",
            ),
            (
                "POLYPERF_CLEANUP_EMERGENCY_RETENTION_DAYS",
                "99999",
                "cleanup.emergency_retention_days",
            ),
        ] {
            let err = Settings::load_with_env(None, &env(&[(name, value)])).unwrap_err();
            assert!(err.to_string().contains(key), "{name}={value}: {err}");
            assert_eq!(crate::error::exit_code_for(&err), crate::error::EXIT_USAGE);
        }
        // Zero keeps meaning "off" where it does.
        Settings::load_with_env(
            None,
            &env(&[
                ("POLYPERF_ADJUST_MAX_CONSECUTIVE_LOSSES", "0"),
                ("POLYPERF_ADJUST_WIN_RATE_WINDOW", "0"),
                ("POLYPERF_ADJUST_DAILY_LOSS_LIMIT", "0"),
                ("POLYPERF_ADJUST_MAX_DRAWDOWN", "0"),
                ("POLYPERF_TELEGRAM_MERGE_THRESHOLD", "0"),
                ("POLYPERF_ARCHIVE_RETENTION_DAYS", "0"),
                ("POLYPERF_SETTLEMENT_FEE_EXPONENT", "2.00"),
            ]),
        )
        .unwrap();
    }

    #[test]
    fn parameter_bounds_are_checked() {
        let mut s = Settings::default();
        let b = s
            .adjust
            .parameters
            .get_mut("bot_confidence_threshold")
            .unwrap();
        b.step = Decimal::new(1, 28);
        let err = s.validate().unwrap_err();
        assert!(
            err.to_string()
                .contains("adjust.parameters.bot_confidence_threshold"),
            "{err}"
        );
        let mut s = Settings::default();
        s.adjust
            .parameters
            .get_mut("bot_max_position_dollars")
            .unwrap()
            .min = Decimal::NEGATIVE_ONE;
        assert!(s.validate().is_err());
    }

    #[test]
    fn a_config_file_key_of_the_wrong_type_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        for (text, key) in [
            (
                "[settlement]\nbatch_size = \"many\"\n",
                "settlement.batch_size",
            ),
            (
                "[general]\nlock_lease_secs = -5\n",
                "general.lock_lease_secs",
            ),
            ("[adjust.parameters.x]\nmin = \"0\"\n", "adjust.parameters"),
            ("[nonsense]\nkey = 1\n", "nonsense"),
            ("title = \"x\"\n", "title"),
        ] {
            std::fs::write(&file, text).unwrap();
            let err = Settings::load_with_env(Some(&file), &[]).unwrap_err();
            assert!(err.to_string().contains(key), "{text}: {err}");
            assert_eq!(crate::error::exit_code_for(&err), crate::error::EXIT_USAGE);
        }
    }

    #[test]
    fn chat_ids_are_non_zero_integers_or_channel_usernames() {
        for good in [
            "-1001234567890",
            "4242",
            " -100 ",
            "@polyperf_news",
            "@abcd",
        ] {
            assert!(is_chat_id(good), "{good}");
            let settings = Settings::load_with_env(None, &env(&[("TELEGRAM_CHAT_ID", good)]));
            assert!(settings.is_ok(), "{good}: {settings:?}");
        }
        for bad in [
            "abc def",
            "0",
            "-0",
            "@",
            "@abc",
            "@1channel",
            "@has space",
            "@a-b-c-d",
            "12.5",
            "99999999999999999999",
            "-100 123",
        ] {
            assert!(!is_chat_id(bad), "{bad}");
            let err =
                Settings::load_with_env(None, &env(&[("TELEGRAM_CHAT_ID", bad)])).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("TELEGRAM_CHAT_ID") && text.contains("telegram.chat_id"),
                "{bad}: {text}"
            );
            assert_eq!(crate::error::exit_code_for(&err), crate::error::EXIT_USAGE);
        }
    }
}
