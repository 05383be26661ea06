//! Facts about a market that follow from its slug alone (pure, no I/O).
//!
//! `btc-updown-15m-1770828300`: the number is the window's START in Unix seconds, and the
//! `15m` part its length; the window is `[start, start + length)`. Slugs without a number
//! (`bitcoin-up-or-down-january-7-2am-et`) carry no window: the trader or Gamma must give it.
//! Whatever the slug, the answer is a window inside 2020..2100 or none; never a panic.
//!
//! The slug also names the asset ([`asset_of_slug`]): `btc-`, `eth-`, `sol-`, `xrp-updown-…`
//! and the long `bitcoin-up-or-down-…` family names; the price fallback uses that asset's own
//! price, whose one-minute [`Candle`]s the fallback reads.

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

/// One 1-minute candle of an asset's price (USD), as Binance's klines and the `prices` cache
/// hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candle {
    pub open_time_ms: i64,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
}

/// Earliest and latest instants a market window may touch: 2020-01-01 and 2100-01-01 (UTC).
pub const EARLIEST_SECS: i64 = 1_577_836_800;
pub const LATEST_SECS: i64 = 4_102_444_800;

/// Longest window a slug may encode: a week (`7d`, `168h`, `10080m`).
pub const MAX_LENGTH_MINUTES: i64 = 7 * 24 * 60;

/// Whether `t` lies in 2020-01-01 ..= 2100-01-01, the span of real market windows.
pub fn plausible_time(t: DateTime<Utc>) -> bool {
    (EARLIEST_SECS..=LATEST_SECS).contains(&t.timestamp())
}

/// Whether a stored window end can be used: inside 2020..2100.
pub fn plausible_end(end: DateTime<Utc>) -> bool {
    plausible_time(end)
}

/// Whether `[start, end)` is a window polyperf can settle: non-empty and inside 2020..2100.
pub fn plausible_window(start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
    start < end && plausible_time(start) && plausible_time(end)
}

/// The window `[start, end)` encoded in a slug like `btc-updown-15m-1770828300`.
pub fn window_from_slug(slug: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let mut parts = slug.rsplit('-');
    let start_secs = parts.next().and_then(plain_number)?;
    let length = duration_token(parts.next()?)?;
    // Plausibility: a Unix time between 2020 and 2100, not some other number.
    if !(EARLIEST_SECS..=LATEST_SECS).contains(&start_secs) {
        return None;
    }
    let start = DateTime::from_timestamp(start_secs, 0)?;
    let end = start.checked_add_signed(length)?;
    plausible_window(start, end).then_some((start, end))
}

/// Long asset names of the hourly and daily up/down families (`bitcoin-up-or-down-…`).
const ASSET_NAMES: [(&str, &str); 4] = [
    ("bitcoin", "BTC"),
    ("ethereum", "ETH"),
    ("solana", "SOL"),
    ("xrp", "XRP"),
];

/// The asset of an up/down market, upper case (`BTC`), from its slug: `<asset>-updown-…`
/// (any short alphanumeric ticker, so a new family needs only a price symbol) or
/// `<name>-up-or-down-…` for the names above. `None` for any other slug: such a market has no
/// price to fall back on and waits for its official result.
pub fn asset_of_slug(slug: &str) -> Option<String> {
    if let Some((ticker, _)) = slug.split_once("-updown-") {
        let plausible =
            (2..=10).contains(&ticker.len()) && ticker.bytes().all(|b| b.is_ascii_alphanumeric());
        return plausible.then(|| ticker.to_ascii_uppercase());
    }
    let (name, _) = slug.split_once("-up-or-down-")?;
    ASSET_NAMES
        .iter()
        .find(|(long, _)| name.eq_ignore_ascii_case(long))
        .map(|(_, asset)| asset.to_string())
}

/// Digits only (no sign, no `+`), as a number that fits.
fn plain_number(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `5m`, `15m`, `1h`, `4h`, `1d` → a duration of at most a week.
fn duration_token(token: &str) -> Option<Duration> {
    let split = token.len().checked_sub(1)?;
    let (number, unit) = token.split_at_checked(split)?;
    let n = plain_number(number).filter(|n| *n > 0)?;
    let minutes = match unit {
        "m" => n,
        "h" => n.checked_mul(60)?,
        "d" => n.checked_mul(24 * 60)?,
        _ => return None,
    };
    (minutes <= MAX_LENGTH_MINUTES).then(|| Duration::minutes(minutes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::to_db;
    use proptest::prelude::*;

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
        check(
            "btc-updown-7d-1771684200",
            Some(("2026-02-21 14:30:00", "2026-02-28 14:30:00")),
        );
        check("bitcoin-up-or-down-january-7-2am-et", None);
        check("btc-updown-15m-17", None);
        check("btc-updown-0m-1771684200", None);
        check("1771684200", None);
        check("", None);
    }

    #[test]
    fn crafted_slugs_give_no_window_and_never_panic() {
        // The examples of issue 14 (chrono overflow), and their neighbours.
        for slug in [
            "btc-updown-999999999999d-1770828300",
            "btc-updown-9223372036854775807m-1770828300",
            "btc-updown-99999999h-1770828300",
            "btc-updown-8d-1770828300",
            "btc-updown-169h-1770828300",
            "btc-updown-10081m-1770828300",
            "btc-updown-+15m-1770828300",
            "btc-updown-15m-+1770828300",
            "btc-updown-15m-99999999999999999999",
            "btc-updown-€m-1770828300",
            "btc-updown-1€-1770828300",
            // A window that starts in 2099 and would end after 2100.
            "btc-updown-7d-4102000000",
        ] {
            check(slug, None);
        }
    }

    #[test]
    fn assets_from_slugs() {
        let cases = [
            ("btc-updown-15m-1771684200", Some("BTC")),
            ("eth-updown-15m-1771684200", Some("ETH")),
            ("sol-updown-1h-1771684200", Some("SOL")),
            ("xrp-updown-4h-1771684200", Some("XRP")),
            ("doge-updown-15m-1771684200", Some("DOGE")),
            ("bitcoin-up-or-down-january-7-2am-et", Some("BTC")),
            ("ethereum-up-or-down-february-21-9am-et", Some("ETH")),
            ("Solana-up-or-down-on-march-3", Some("SOL")),
            ("xrp-up-or-down-march-3-4pm-et", Some("XRP")),
            ("will-trump-win-2028", None),
            ("dogwifhat-up-or-down-march-3", None),
            ("btc/../x-updown-15m-1", None),
            ("-updown-15m-1771684200", None),
            ("", None),
        ];
        for (slug, asset) in cases {
            assert_eq!(asset_of_slug(slug).as_deref(), asset, "{slug}");
        }
    }

    proptest! {
        /// Any text: an upper-case alphanumeric asset or none, never a panic.
        #[test]
        fn any_slug_gives_a_plain_asset_or_none(slug in any::<String>()) {
            if let Some(asset) = asset_of_slug(&slug) {
                prop_assert!(!asset.is_empty() && asset.len() <= 10);
                prop_assert!(asset.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
            }
        }

        /// Any text, and slug-shaped text with arbitrary numbers: a plausible window or none.
        #[test]
        fn any_slug_gives_a_plausible_window_or_none(slug in any::<String>()) {
            if let Some((start, end)) = window_from_slug(&slug) {
                prop_assert!(plausible_window(start, end));
            }
        }

        #[test]
        fn slug_shaped_text(n in any::<i64>(), unit in "[mhdx€]", start in any::<i64>()) {
            let slug = format!("btc-updown-{n}{unit}-{start}");
            if let Some((s, e)) = window_from_slug(&slug) {
                prop_assert!(plausible_window(s, e));
                prop_assert!(e - s <= Duration::minutes(MAX_LENGTH_MINUTES));
            }
        }
    }
}
