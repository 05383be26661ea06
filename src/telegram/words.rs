//! Figures as a person reads them on a phone: money with 2 decimals and thousands separators,
//! share prices without trailing zeros, a market's window as a UTC time range, the side a
//! trade bought as "Up" / "Down". Pure; no HTML (callers escape what they did not write).

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::kinds::{Action, Outcome};

/// `1234.5` as `1,234.50`: two decimals (half away from zero), thousands separated.
pub fn money(amount: Decimal) -> String {
    let rounded = amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    let text = format!("{:.2}", rounded.abs());
    let (whole, cents) = text.split_once('.').unwrap_or((&text, "00"));
    let sign = if rounded.is_sign_negative() && !rounded.is_zero() {
        "-"
    } else {
        ""
    };
    format!("{sign}{}.{cents}", thousands(whole))
}

/// A profit or loss with its sign: `+4.62`, `-10.00`, `0.00`.
pub fn signed_money(amount: Decimal) -> String {
    let text = money(amount);
    if text.starts_with('-') || text == "0.00" {
        text
    } else {
        format!("+{text}")
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

/// A count with thousands separators.
pub fn count(n: u64) -> String {
    thousands(&n.to_string())
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

/// A fraction in [0, 1] as a whole percent (`0.8` → `80%`).
pub fn percent(fraction: f64) -> String {
    if fraction.is_finite() {
        format!("{:.0}%", (fraction * 100.0).clamp(-1e6, 1e6))
    } else {
        "?".into()
    }
}

/// The side a YES / NO decision bought, as the market names it (`?` for a HOLD).
pub fn side(action: Action) -> &'static str {
    match action.side() {
        Some(Outcome::Up) => "Up",
        Some(Outcome::Down) => "Down",
        _ => "?",
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn t(s: &str) -> DateTime<Utc> {
        crate::time::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn money_has_two_decimals_and_separators() {
        for (amount, text, signed) in [
            ("4.623456", "4.62", "+4.62"),
            ("4.625", "4.63", "+4.63"),
            ("-10", "-10.00", "-10.00"),
            ("-0.004", "0.00", "0.00"),
            ("0", "0.00", "0.00"),
            ("1234567.891", "1,234,567.89", "+1,234,567.89"),
            ("-1000", "-1,000.00", "-1,000.00"),
            ("999.995", "1,000.00", "+1,000.00"),
        ] {
            assert_eq!(money(d(amount)), text, "{amount}");
            assert_eq!(signed_money(d(amount)), signed, "{amount}");
        }
        assert_eq!(count(1234), "1,234");
        assert_eq!(count(12), "12");
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
    fn windows_are_utc_ranges() {
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
        assert_eq!((side(Action::Yes), side(Action::No)), ("Up", "Down"));
        assert_eq!(side(Action::Hold), "?");
        assert_eq!(percent(0.8), "80%");
        assert_eq!(percent(f64::NAN), "?");
    }
}
