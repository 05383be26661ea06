//! Small rules of the decision format that the parser and [`super::Decision::validate`] share:
//! JSON's number grammar, text lengths, the span of plausible times.

use chrono::{DateTime, Utc};

use super::{field_err, FieldError};
use crate::market;
use crate::time::to_db;

/// A text field's length in characters within `min..=max` (blank counts as empty).
pub(super) fn text_len(
    field: &str,
    text: Option<&str>,
    min: usize,
    max: usize,
) -> std::result::Result<(), FieldError> {
    let Some(text) = text else { return Ok(()) };
    // No more bytes than the limit means no more characters either (the common case, counted
    // without walking the text).
    let too_long = text.len() > max && text.chars().count() > max;
    if too_long || (min > 0 && text.trim().is_empty()) {
        let range = if min > 0 {
            format!("{min} to {max} characters")
        } else {
            format!("at most {max} characters")
        };
        let chars = text.chars().count();
        return Err(field_err(field, format!("must be {range} (has {chars})")));
    }
    Ok(())
}

/// A time within 2020-01-01 ..= 2100-01-01, the span of real markets.
pub(super) fn time_in_range(
    field: &str,
    t: Option<DateTime<Utc>>,
) -> std::result::Result<(), FieldError> {
    match t {
        Some(t) if !market::plausible_time(t) => Err(field_err(
            field,
            format!("{} is outside 2020-01-01 to 2100-01-01", to_db(t)),
        )),
        _ => Ok(()),
    }
}

/// A Unix time given as a JSON number: seconds, or milliseconds, whichever lands in 2020..2100
/// (never both: 2020 in milliseconds is far beyond 2100 in seconds). Anything else is refused,
/// so `253402300800` is an error rather than silently milliseconds.
pub(super) fn unix_time(n: i64) -> std::result::Result<DateTime<Utc>, String> {
    let in_range = |secs: i64| (market::EARLIEST_SECS..=market::LATEST_SECS).contains(&secs);
    let time = if in_range(n) {
        DateTime::from_timestamp(n, 0)
    } else if in_range(n.div_euclid(1000)) {
        DateTime::from_timestamp_millis(n)
    } else {
        None
    };
    time.ok_or_else(|| {
        format!("{n} is neither Unix seconds nor milliseconds between 2020 and 2100")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_times_are_unambiguous() {
        let t = |n: i64| unix_time(n).map(to_db);
        assert_eq!(t(1_770_805_800), Ok("2026-02-11 10:30:00".into()));
        assert_eq!(t(1_770_805_800_123), Ok("2026-02-11 10:30:00".into()));
        for bad in [
            253_402_300_800,
            0,
            -1,
            1_000,
            99_999_999_999,
            i64::MAX,
            i64::MIN,
        ] {
            assert!(unix_time(bad).is_err(), "{bad}");
        }
    }
}
