//! Figures as people read them, on a terminal, a web page or a phone: money with two decimals,
//! its sign and its unit, share prices, percents, counts with thousands separators, bytes in
//! KiB / MiB / GiB, durations, instants and windows in UTC, and a job's figure by the unit its
//! name carries. The one place that renders them; `--json` keeps the exact values. Pure, no
//! markup (callers escape or colour what they show). On the ground floor: no polyperf imports.

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};

/// What a figure that cannot be computed shows (never 0.00).
pub const NA: &str = "n/a";

/// Money at two decimals, half away from zero (`4.625` is `4.63`), as `(negative, digits)`:
/// the digits without a sign, thousands separated (`1,234.50`). A value that rounds to zero is
/// not negative.
fn cents(amount: Decimal) -> (bool, String) {
    let rounded = amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    let text = format!("{:.2}", rounded.abs());
    let (whole, cents) = text.split_once('.').unwrap_or((&text, "00"));
    let negative = rounded.is_sign_negative() && !rounded.is_zero();
    (negative, format!("{}.{cents}", thousands(whole)))
}

/// Money without its unit and with a sign only when negative: `1,234.50`, `-10.00`, `0.00`.
pub fn plain_money(amount: Decimal) -> String {
    match cents(amount) {
        (true, digits) => format!("-{digits}"),
        (false, digits) => digits,
    }
}

/// A profit or loss with its sign and no unit: `+4.62`, `-10.00`, `0.00`, `+1,234.50`.
pub fn money(amount: Decimal) -> String {
    match cents(amount) {
        (true, digits) => format!("-{digits}"),
        (false, digits) if digits == "0.00" => digits,
        (false, digits) => format!("+{digits}"),
    }
}

/// A profit or loss with its sign and unit: `+4.62 USDC`.
pub fn usdc(amount: Decimal) -> String {
    format!("{} USDC", money(amount))
}

/// An amount that has no sign to show (fees, stakes, drawdowns) with its unit: `0.35 USDC`.
pub fn amount(value: Decimal) -> String {
    format!("{} USDC", plain_money(value))
}

/// A share price: at most 3 decimals, at least 2 (`0.52`, `0.525`, `0.50`).
pub fn price(p: Decimal) -> String {
    let rounded = p
        .round_dp_with_strategy(3, RoundingStrategy::MidpointAwayFromZero)
        .normalize();
    if rounded.scale() < 2 {
        format!("{rounded:.2}")
    } else {
        rounded.to_string()
    }
}

/// A fraction as a percentage with one decimal (`56.5%`), or n/a.
pub fn pct(fraction: Option<f64>) -> String {
    fraction
        .filter(|v| v.is_finite())
        .map_or_else(|| NA.into(), |v| format!("{:.1}%", v * 100.0))
}

/// A change as a percentage with its sign and one decimal (`+12.5%`), or n/a.
pub fn signed_pct(fraction: Option<f64>) -> String {
    fraction
        .filter(|v| v.is_finite())
        .map_or_else(|| NA.into(), |v| format!("{:+.1}%", v * 100.0))
}

/// A 95% interval of fractions as percentages (`53.7-59.3%`), or n/a.
pub fn ci(interval: Option<[f64; 2]>) -> String {
    interval
        .filter(|[l, h]| l.is_finite() && h.is_finite())
        .map_or_else(
            || NA.into(),
            |[l, h]| format!("{:.1}-{:.1}%", l * 100.0, h * 100.0),
        )
}

/// A fraction as a whole percent (`0.8` is `80%`), or `?`; for a phone's short lines.
pub fn percent(fraction: f64) -> String {
    if fraction.is_finite() {
        format!("{:.0}%", (fraction * 100.0).clamp(-1e6, 1e6))
    } else {
        "?".into()
    }
}

/// `1234567` (digits) as `1,234,567`.
pub fn thousands(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A count with thousands separators: `1,234`.
pub fn count(n: u64) -> String {
    thousands(&n.to_string())
}

/// A size in bytes: `512 B`, `1.5 KiB`, `44.0 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    // A size shown to one decimal: f64 is exact enough, and no money is involved.
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A duration in its two largest units: `120 ms`, `4.2 s`, `3 min 20 s`, `2 h 5 min`,
/// `3 d 4 h`.
pub fn duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    let secs = d.as_secs();
    match secs {
        0 => format!("{ms} ms"),
        1..=59 => format!("{:.1} s", (ms as f64) / 1000.0),
        60..=3_599 => two_units(secs / 60, "min", secs % 60, "s"),
        3_600..=86_399 => two_units(secs / 3_600, "h", secs % 3_600 / 60, "min"),
        _ => two_units(secs / 86_400, "d", secs % 86_400 / 3_600, "h"),
    }
}

fn two_units(big: u64, big_unit: &str, small: u64, small_unit: &str) -> String {
    if small == 0 {
        format!("{big} {big_unit}")
    } else {
        format!("{big} {big_unit} {small} {small_unit}")
    }
}

/// An instant as `10:15 UTC`, with its date (`2026-02-10 23:45 UTC`) unless it falls on
/// `now`'s UTC day.
pub fn when(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if t.date_naive() == now.date_naive() {
        t.format("%H:%M UTC").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    }
}

/// A market's window as a UTC time range, `10:15–10:30 UTC` (with the start's date unless it
/// is `now`'s day).
pub fn window(start: DateTime<Utc>, end: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let from = if start.date_naive() == now.date_naive() {
        start.format("%H:%M").to_string()
    } else {
        start.format("%Y-%m-%d %H:%M").to_string()
    };
    format!("{from}–{} UTC", end.format("%H:%M"))
}

/// The unit a job's figure carries in its name (STYLE: units in the name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// `profit`, `pnl`, `*_profit`: signed money.
    Profit,
    /// `fees*`, `staked*`: an amount of money.
    Amount,
    /// `*bytes*`.
    Bytes,
    /// `*percent*`: already a percentage.
    Percent,
    /// `*_ms`, `*_secs`.
    Millis,
    Secs,
    /// A count or a word: as written.
    AsWritten,
}

fn unit_of(key: &str) -> Unit {
    if key == "profit" || key == "pnl" || key.ends_with("_profit") {
        Unit::Profit
    } else if key.starts_with("fees") || key.starts_with("staked") {
        Unit::Amount
    } else if key.contains("bytes") {
        Unit::Bytes
    } else if key.contains("percent") {
        Unit::Percent
    } else if key.ends_with("_ms") {
        Unit::Millis
    } else if key.ends_with("_secs") {
        Unit::Secs
    } else {
        Unit::AsWritten
    }
}

/// A job's figure (its name and its value as recorded) as people read it, by the unit its
/// name carries: money with 2 decimals and USDC, bytes in KiB / MiB / GiB, percentages with
/// their sign, durations; a count or a word, or a value that is not of its name's unit, as
/// written.
pub fn figure(key: &str, raw: &str) -> String {
    let shown = match unit_of(key) {
        Unit::Profit => raw.parse::<Decimal>().ok().map(usdc),
        Unit::Amount => raw.parse::<Decimal>().ok().map(amount),
        Unit::Bytes => raw.parse::<u64>().ok().map(bytes),
        Unit::Percent => raw
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(|_| format!("{raw}%")),
        Unit::Millis => raw
            .parse::<u64>()
            .ok()
            .map(|ms| duration(std::time::Duration::from_millis(ms))),
        Unit::Secs => raw
            .parse::<u64>()
            .ok()
            .map(|s| duration(std::time::Duration::from_secs(s))),
        Unit::AsWritten => None,
    };
    shown.unwrap_or_else(|| raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;
    use std::time::Duration;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn money_has_two_decimals_its_sign_and_separators() {
        for (value, plain, signed) in [
            ("4.623456", "4.62", "+4.62"),
            ("4.625", "4.63", "+4.63"),
            ("-4.625", "-4.63", "-4.63"),
            ("-10", "-10.00", "-10.00"),
            ("-0.004", "0.00", "0.00"),
            ("0", "0.00", "0.00"),
            ("1234567.891", "1,234,567.89", "+1,234,567.89"),
            ("-1000", "-1,000.00", "-1,000.00"),
            ("999.995", "1,000.00", "+1,000.00"),
        ] {
            assert_eq!(plain_money(d(value)), plain, "{value}");
            assert_eq!(money(d(value)), signed, "{value}");
        }
        assert_eq!(usdc(d("967.422551")), "+967.42 USDC");
        assert_eq!(amount(d("9.604")), "9.60 USDC");
        assert_eq!(amount(d("1597.015")), "1,597.02 USDC");
        assert_eq!(
            (count(1234), count(12), count(0)),
            ("1,234".into(), "12".into(), "0".into())
        );
    }

    #[test]
    fn prices_read_as_cents() {
        for (p, text) in [
            ("0.52", "0.52"),
            ("0.5", "0.50"),
            ("0.525", "0.525"),
            ("0.523456", "0.523"),
            ("0.520000", "0.52"),
            ("1", "1.00"),
        ] {
            assert_eq!(price(d(p)), text, "{p}");
        }
    }

    #[test]
    fn percents_show_n_a_rather_than_a_made_up_number() {
        assert_eq!(pct(Some(0.565)), "56.5%");
        assert_eq!(pct(None), NA);
        assert_eq!(pct(Some(f64::NAN)), NA);
        assert_eq!(signed_pct(Some(0.125)), "+12.5%");
        assert_eq!(signed_pct(Some(-0.05)), "-5.0%");
        assert_eq!(ci(Some([0.537, 0.593])), "53.7-59.3%");
        assert_eq!(ci(None), NA);
        assert_eq!(
            (percent(0.8), percent(f64::NAN)),
            ("80%".into(), "?".into())
        );
    }

    #[test]
    fn sizes_and_durations_read_in_their_units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(47_257_165_824), "44.0 GiB");
        assert_eq!(duration(Duration::from_millis(120)), "120 ms");
        assert_eq!(duration(Duration::from_millis(4_249)), "4.2 s");
        assert_eq!(duration(Duration::from_secs(200)), "3 min 20 s");
        assert_eq!(duration(Duration::from_secs(7_200)), "2 h");
        assert_eq!(duration(Duration::from_secs(7_500)), "2 h 5 min");
        assert_eq!(
            duration(Duration::from_secs(3 * 86_400 + 4 * 3_600)),
            "3 d 4 h"
        );
    }

    #[test]
    fn instants_and_windows_are_utc() {
        let now = t("2026-02-11T12:00:00Z");
        assert_eq!(
            window(t("2026-02-11T10:15:00Z"), t("2026-02-11T10:30:00Z"), now),
            "10:15–10:30 UTC"
        );
        assert_eq!(
            window(t("2026-02-10T23:45:00Z"), t("2026-02-11T00:00:00Z"), now),
            "2026-02-10 23:45–00:00 UTC"
        );
        assert_eq!(when(t("2026-02-11T10:00:00Z"), now), "10:00 UTC");
        assert_eq!(when(t("2026-02-09T10:00:00Z"), now), "2026-02-09 10:00 UTC");
    }

    #[test]
    fn job_figures_read_in_the_unit_their_name_carries() {
        for (key, raw, shown) in [
            ("profit", "967.422551", "+967.42 USDC"),
            ("profit", "-0.004", "0.00 USDC"),
            ("net_profit", "-12.5", "-12.50 USDC"),
            ("fees", "9.604", "9.60 USDC"),
            ("staked", "1500", "1,500.00 USDC"),
            ("free_bytes_before", "47257165824", "44.0 GiB"),
            ("bytes_written", "512", "512 B"),
            ("free_percent_after", "17.44", "17.44%"),
            ("elapsed_ms", "120", "120 ms"),
            ("lease_secs", "200", "3 min 20 s"),
            // Counts and words stay as written; so does a value not of its name's unit.
            ("settled", "2664", "2664"),
            ("engine", "rules", "rules"),
            ("profit", "n/a", "n/a"),
            ("free_bytes_after", "-1", "-1"),
            ("free_percent_after", "NaN", "NaN"),
        ] {
            assert_eq!(figure(key, raw), shown, "{key}={raw}");
        }
    }

    proptest::proptest! {
        /// Whatever a job recorded (or a hand edit left), a figure renders and never panics;
        /// a money figure that is a decimal always reads with its unit.
        #[test]
        fn any_figure_renders(key in "[a-z_]{0,24}", raw in "\\PC{0,40}") {
            let shown = figure(&key, &raw);
            if unit_of(&key) == Unit::AsWritten {
                proptest::prop_assert_eq!(shown, raw);
            }
        }

        #[test]
        fn any_money_reads_with_two_decimals(units in proptest::num::i64::ANY, scale in 0u32..12) {
            let value = Decimal::new(units, scale);
            let shown = usdc(value);
            proptest::prop_assert!(shown.ends_with(" USDC"), "{}", shown);
            let digits = shown.trim_end_matches(" USDC");
            let (whole, cents) = digits.rsplit_once('.').unwrap();
            proptest::prop_assert_eq!(cents.len(), 2);
            let bare: String = whole.chars().filter(|c| *c != ',').collect();
            let back = Decimal::from_str(&format!("{bare}.{cents}")).unwrap();
            let expected = value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
            proptest::prop_assert_eq!(back, expected);
        }
    }
}
