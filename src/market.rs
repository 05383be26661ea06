//! Facts about a market that follow from its slug alone (pure, no I/O).
//!
//! `btc-updown-15m-1770828300`: the number is the window's START in Unix seconds, and the
//! `15m` part its length; the window is `[start, start + length)`. Slugs without a number
//! (`bitcoin-up-or-down-january-7-2am-et`) carry no window: the trader or Gamma must give it.

use chrono::{DateTime, Duration, Utc};

/// The window `[start, end)` encoded in a slug like `btc-updown-15m-1770828300`.
pub fn window_from_slug(slug: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let mut parts = slug.rsplit('-');
    let start_secs: i64 = parts.next()?.parse().ok()?;
    let length = duration_token(parts.next()?)?;
    // Plausibility: a Unix time between 2020 and 2100, not some other number.
    if !(1_577_836_800..=4_102_444_800).contains(&start_secs) {
        return None;
    }
    let start = DateTime::from_timestamp(start_secs, 0)?;
    Some((start, start + length))
}

/// `5m`, `15m`, `1h`, `4h`, `1d` → a duration.
fn duration_token(token: &str) -> Option<Duration> {
    let split = token.len().checked_sub(1)?;
    let (number, unit) = token.split_at(split);
    let n: i64 = number.parse().ok().filter(|n| *n > 0)?;
    match unit {
        "m" => Some(Duration::minutes(n)),
        "h" => Some(Duration::hours(n)),
        "d" => Some(Duration::days(n)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::to_db;

    fn check(slug: &str, expected: Option<(&str, &str)>) {
        let got = window_from_slug(slug).map(|(s, e)| (to_db(s), to_db(e)));
        assert_eq!(
            got,
            expected.map(|(s, e)| (s.to_string(), e.to_string())),
            "{slug}"
        );
    }

    #[test]
    fn windows_from_slugs() {
        check(
            "btc-updown-15m-1771684200",
            Some(("2026-02-21 14:30:00", "2026-02-21 14:45:00")),
        );
        check(
            "btc-updown-5m-1771684200",
            Some(("2026-02-21 14:30:00", "2026-02-21 14:35:00")),
        );
        check(
            "btc-updown-1h-1771684200",
            Some(("2026-02-21 14:30:00", "2026-02-21 15:30:00")),
        );
        check(
            "btc-updown-4h-1771684200",
            Some(("2026-02-21 14:30:00", "2026-02-21 18:30:00")),
        );
        check("bitcoin-up-or-down-january-7-2am-et", None);
        check("btc-updown-15m-17", None);
        check("btc-updown-0m-1771684200", None);
        check("1771684200", None);
        check("", None);
    }
}
