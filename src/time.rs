//! Timestamps as polyperf stores them: UTC text `YYYY-MM-DD HH:MM:SS`, the form SQLite's
//! `datetime()` produces, so string comparison is time comparison.

use anyhow::{anyhow, Result};
use chrono::{DateTime, Datelike, NaiveDateTime, TimeDelta, TimeZone, Utc};

use crate::error::bad_input;

pub const DB_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// The largest count of days a user may give (`report --days`, `--older-than`, `/report N`,
/// retention settings): 100 years. A larger count is bad input, never a date overflow.
pub const MAX_DAYS: u32 = 36_500;

/// A day count typed by a user: a whole number in `min..=MAX_DAYS`. The error says what is
/// allowed and what was given.
pub fn parse_days(text: &str, min: u32) -> std::result::Result<u32, String> {
    let text = text.trim();
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<u32>() {
        Ok(n) if digits => check_days(n, min),
        _ => Err(format!(
            "days must be a whole number from {min} to {MAX_DAYS}, got {:?}",
            text.chars().take(40).collect::<String>()
        )),
    }
}

/// A day count that came in as a number: `n` itself when it is in `min..=MAX_DAYS`.
pub fn check_days(n: u32, min: u32) -> std::result::Result<u32, String> {
    if (min..=MAX_DAYS).contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "days must be a whole number from {min} to {MAX_DAYS}, got {n}"
        ))
    }
}

/// For clap: a day count of at least 1 (`report --days`).
pub fn parse_days_arg(s: &str) -> std::result::Result<u32, String> {
    parse_days(s, 1)
}

/// For clap: a day count that may be 0 (`--older-than`).
pub fn parse_days_or_zero_arg(s: &str) -> std::result::Result<u32, String> {
    parse_days(s, 0)
}

/// `t + delta`, or bad input when the result is outside the dates chrono can represent (never
/// a panic, whatever the operands came from).
pub fn add(t: DateTime<Utc>, delta: TimeDelta) -> Result<DateTime<Utc>> {
    t.checked_add_signed(delta)
        .ok_or_else(|| bad_input(format!("{t} + {delta} is outside the representable dates")))
}

/// `t - delta`, or bad input when the result is outside the dates chrono can represent.
pub fn sub(t: DateTime<Utc>, delta: TimeDelta) -> Result<DateTime<Utc>> {
    t.checked_sub_signed(delta)
        .ok_or_else(|| bad_input(format!("{t} - {delta} is outside the representable dates")))
}

/// `t` less `days` whole days (a count from settings or flags), checked like [`sub`].
pub fn days_before(t: DateTime<Utc>, days: u32) -> Result<DateTime<Utc>> {
    sub(t, TimeDelta::days(i64::from(days)))
}

/// `t` plus `hours` (a count from settings), checked like [`add`].
pub fn hours_after(t: DateTime<Utc>, hours: u32) -> Result<DateTime<Utc>> {
    add(t, TimeDelta::hours(i64::from(hours)))
}

/// Formats a time for storage.
pub fn to_db(t: DateTime<Utc>) -> String {
    // Hand-rolled: chrono's strftime interpretation is a visible cost when logging 100k rows/s.
    use chrono::{Datelike, Timelike};
    let year = t.year();
    if !(0..=9999).contains(&year) {
        return t.format(DB_FORMAT).to_string();
    }
    // Digits written straight into the 19 bytes: `format!` was 3% of a bulk log's CPU.
    let mut b = *b"0000-00-00 00:00:00";
    let put = |b: &mut [u8; 19], at: usize, width: usize, mut n: u32| {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(&mut b, 0, 4, year.unsigned_abs());
    put(&mut b, 5, 2, t.month());
    put(&mut b, 8, 2, t.day());
    put(&mut b, 11, 2, t.hour());
    put(&mut b, 14, 2, t.minute());
    put(&mut b, 17, 2, t.second());
    b.iter().map(|&c| c as char).collect()
}

/// Parses a stored time (also accepts RFC 3339, for values that came from elsewhere).
pub fn from_db(s: &str) -> Result<DateTime<Utc>> {
    if let Some(naive) = stored_digits(s) {
        return Ok(Utc.from_utc_datetime(&naive));
    }
    if let Ok(naive) = NaiveDateTime::parse_from_str(s, DB_FORMAT) {
        return Ok(Utc.from_utc_datetime(&naive));
    }
    if let Ok(naive) = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f") {
        return Ok(Utc.from_utc_datetime(&naive));
    }
    parse_rfc3339(s)
}

/// Seconds since the epoch of a stored time, read digit by digit (metrics read one per settled
/// row; chrono's format parser is a visible cost there). Other forms go through [`from_db`].
pub fn epoch_secs(s: &str) -> Option<i64> {
    match stored_digits(s) {
        Some(t) => Some(t.and_utc().timestamp()),
        None => from_db(s).ok().map(|t| t.timestamp()),
    }
}

/// `YYYY-MM-DD HH:MM:SS` read digit by digit (chrono's format parser is a visible cost where
/// every row's times are read: metrics, the replay); None for any other form.
fn stored_digits(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    let num = |from: usize, to: usize| -> Option<u32> {
        b.get(from..to)?.iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let shaped = b.len() == 19
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b' '
        && b[13] == b':'
        && b[16] == b':';
    if !shaped {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(5, 7)?, num(8, 10)?)?;
    date.and_hms_opt(num(11, 13)?, num(14, 16)?, num(17, 19)?)
}

/// Parses an RFC 3339 timestamp (`2026-02-11T10:30:00Z`, with offset or fraction) into UTC.
/// A timestamp without an offset is taken as UTC.
pub fn parse_rfc3339(s: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(Utc.from_utc_datetime(&naive));
        }
    }
    Err(anyhow!("not an RFC 3339 timestamp: {s:?}"))
}

/// An instant in a message or row as stored (`YYYY-MM-DD HH:MM:SS`, UTC): written so, read
/// from that or RFC 3339 ([`from_db`]), because a row outlives the code that wrote it. For
/// `#[serde(with = "crate::time::stored")]`; [`stored::option`] for an `Option`.
pub mod stored {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::to_db(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        super::from_db(&text).map_err(serde::de::Error::custom)
    }

    /// The same for an `Option` (null or missing reads as `None`).
    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(
            t: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => super::serialize(t, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D>(d: D) -> Result<Option<DateTime<Utc>>, D::Error>
        where
            D: Deserializer<'de>,
        {
            match Option::<std::borrow::Cow<str>>::deserialize(d)? {
                Some(text) => super::super::from_db(&text)
                    .map(Some)
                    .map_err(serde::de::Error::custom),
                None => Ok(None),
            }
        }
    }
}

/// For clap: `--now 2026-02-11T10:30:00Z` (also `--since`). Years 1970 to 9999 only, so that
/// every offset polyperf applies to it (at most [`MAX_DAYS`]) stays a valid date.
pub fn parse_now_arg(s: &str) -> std::result::Result<DateTime<Utc>, String> {
    let t = parse_rfc3339(s).map_err(|e| e.to_string())?;
    if !(1970..=9999).contains(&t.year()) {
        return Err(format!("{s:?} is outside the years 1970 to 9999"));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_is_chronos_format_for_every_year_it_writes() {
        let first = Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap().timestamp();
        let last = Utc
            .with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
            .unwrap()
            .timestamp();
        let mut at = first;
        while at <= last {
            let t = DateTime::from_timestamp(at, 0).unwrap();
            assert_eq!(to_db(t), t.format(DB_FORMAT).to_string());
            at += 86_399 * 37 + 7_919;
        }
        let last = DateTime::from_timestamp(last, 0).unwrap();
        assert_eq!(to_db(last), "9999-12-31 23:59:59");
    }

    #[test]
    fn round_trips_and_accepts_common_forms() {
        let t = parse_rfc3339("2026-02-11T10:30:00Z").unwrap();
        assert_eq!(to_db(t), "2026-02-11 10:30:00");
        assert_eq!(
            to_db(parse_rfc3339("0999-01-02T03:04:05Z").unwrap()),
            "0999-01-02 03:04:05"
        );
        assert_eq!(from_db("2026-02-11 10:30:00").unwrap(), t);
        assert_eq!(parse_rfc3339("2026-02-11T11:30:00+01:00").unwrap(), t);
        assert_eq!(parse_rfc3339("2026-02-11T10:30:00").unwrap(), t);
        assert!(parse_rfc3339("yesterday").is_err());
        assert!(parse_now_arg("+262143-12-31T23:59:59Z").is_err());
        assert!(parse_now_arg("2026-02-11T10:30:00Z").is_ok());
    }

    #[test]
    fn day_counts_are_bounded() {
        assert_eq!(parse_days("7", 1), Ok(7));
        assert_eq!(parse_days(" 36500 ", 1), Ok(36_500));
        assert_eq!(parse_days("0", 0), Ok(0));
        for bad in [
            "0",
            "36501",
            "100000000",
            "4294967296",
            "-1",
            "+7",
            "7d",
            "",
            "1_0",
            "x",
        ] {
            let err = parse_days(bad, 1).unwrap_err();
            assert!(err.contains("from 1 to 36500"), "{bad}: {err}");
        }
    }

    proptest::proptest! {
        /// The digit-by-digit reading of a stored time agrees with chrono's format parser on
        /// anything shaped like one (invalid dates and times included, a leap second left to
        /// chrono), and nothing panics.
        #[test]
        fn stored_times_read_as_chrono_reads_them(
            y in 0u32..10_000, mo in 0u32..14, d in 0u32..33, h in 0u32..26, mi in 0u32..62,
            sec in 0u32..62, junk in "\\PC{0,24}",
        ) {
            let text = format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{sec:02}");
            let chrono = NaiveDateTime::parse_from_str(&text, DB_FORMAT).ok();
            // A leap second (":60") is left to chrono; anything else read the same way.
            if let Some(fast) = stored_digits(&text) {
                proptest::prop_assert_eq!(Some(fast), chrono);
            } else {
                proptest::prop_assert!(chrono.is_none() || sec == 60);
            }
            proptest::prop_assert_eq!(from_db(&text).ok(), chrono.map(|n| Utc.from_utc_datetime(&n)));
            let _ = from_db(&junk);
            let _ = epoch_secs(&junk);
        }
    }

    #[test]
    fn offsets_never_panic() {
        let t = parse_rfc3339("2026-02-11T10:30:00Z").unwrap();
        assert!(sub(t, TimeDelta::days(i64::from(u32::MAX))).is_err());
        assert!(add(DateTime::<Utc>::MAX_UTC, TimeDelta::seconds(1)).is_err());
        assert_eq!(sub(t, TimeDelta::days(1)).unwrap(), t - TimeDelta::days(1));
    }
}
