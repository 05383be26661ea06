//! Timestamps as polyperf stores them: UTC text `YYYY-MM-DD HH:MM:SS`, the form SQLite's
//! `datetime()` produces, so string comparison is time comparison.

use anyhow::{anyhow, Result};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

pub const DB_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// Formats a time for storage.
pub fn to_db(t: DateTime<Utc>) -> String {
    // Hand-rolled: chrono's strftime interpretation is a visible cost when logging 100k rows/s.
    use chrono::{Datelike, Timelike};
    let year = t.year();
    if !(0..=9999).contains(&year) {
        return t.format(DB_FORMAT).to_string();
    }
    format!(
        "{year:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parses a stored time (also accepts RFC 3339, for values that came from elsewhere).
pub fn from_db(s: &str) -> Result<DateTime<Utc>> {
    if let Ok(naive) = NaiveDateTime::parse_from_str(s, DB_FORMAT) {
        return Ok(Utc.from_utc_datetime(&naive));
    }
    if let Ok(naive) = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f") {
        return Ok(Utc.from_utc_datetime(&naive));
    }
    parse_rfc3339(s)
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

/// For clap: `--now 2026-02-11T10:30:00Z`.
pub fn parse_now_arg(s: &str) -> std::result::Result<DateTime<Utc>, String> {
    parse_rfc3339(s).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
