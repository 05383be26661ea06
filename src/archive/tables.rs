//! The archivable tables (their time column and what "finished" means) and the ISO weeks the
//! archive cuts them into: the SQL that selects one week of finished rows.

use anyhow::{bail, Result};
use chrono::{DateTime, Datelike, Days, NaiveDate, Utc, Weekday};
use rusqlite::{params, Connection};

use crate::time::{from_db, to_db};

/// An archivable table: its time column and what "finished" means (`?1` is the cutoff).
pub(super) struct Table {
    pub(super) kind: TableKind,
    pub(super) name: &'static str,
    pub(super) time_col: &'static str,
    pub(super) finished: &'static str,
}

/// The archivable tables, for what differs between them beyond their SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TableKind {
    Trades,
    Outbox,
    JobRuns,
}

/// Only finished rows: settled or unsettleable trades (what that means is `trades`' owner's
/// word), sent or failed outbox rows, job runs that ended. The SQL is constant; values are
/// bound.
pub(super) const TABLES: [Table; 3] = [
    Table {
        kind: TableKind::Trades,
        name: crate::trades::NAME,
        time_col: crate::trades::TIME_COLUMN,
        finished: crate::trades::FINISHED,
    },
    Table {
        kind: TableKind::Outbox,
        name: "outbox",
        time_col: "created_at",
        finished: "status IN ('sent', 'failed') AND created_at < ?1",
    },
    Table {
        kind: TableKind::JobRuns,
        name: "job_runs",
        time_col: "started_at",
        finished: "status != 'running' AND started_at < ?1",
    },
];

pub(super) fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

/// One ISO week of one table, bounded by the cutoff.
pub(super) struct Week {
    pub(super) label: String,
    pub(super) start: String,
    pub(super) end: String,
}

impl Week {
    pub(super) fn of(time: DateTime<Utc>) -> Week {
        let iso = time.iso_week();
        let monday = NaiveDate::from_isoywd_opt(iso.year(), iso.week(), Weekday::Mon)
            .unwrap_or(time.date_naive())
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc();
        Week {
            label: format!("{}-W{:02}", iso.year(), iso.week()),
            start: to_db(monday),
            end: to_db(monday.checked_add_days(Days::new(7)).unwrap_or(monday)),
        }
    }

    pub(super) fn params<'a>(&'a self, cutoff: &'a str) -> [&'a str; 3] {
        [cutoff, &self.start, &self.end]
    }
}

/// `SELECT <what> FROM <table> WHERE finished AND in the week` (?1 cutoff, ?2 start, ?3 end).
pub(super) fn week_sql(t: &Table, what: &str) -> String {
    format!(
        "SELECT {what} FROM {} WHERE {} AND {time} >= ?2 AND {time} < ?3",
        t.name,
        t.finished,
        time = t.time_col
    )
}

/// Calls `f` for each ISO week holding finished rows of `t` older than `cutoff`, oldest first.
pub(super) fn for_each_week(
    conn: &mut Connection,
    t: &Table,
    cutoff: &str,
    mut f: impl FnMut(&mut Connection, &Week) -> Result<()>,
) -> Result<()> {
    let next_sql = format!(
        "SELECT min({time}) FROM {} WHERE {} AND {time} >= ?2",
        t.name,
        t.finished,
        time = t.time_col
    );
    let mut from = String::new();
    loop {
        let next: Option<String> =
            conn.query_row(&next_sql, params![cutoff, from], |r| r.get(0))?;
        let Some(next) = next else { return Ok(()) };
        let week = match from_db(&next) {
            Ok(time) => Week::of(time),
            Err(_) => {
                // Stored times are always `to_db` text; skip past a foreign value, loudly.
                tracing::warn!(table = t.name, time = %next, "row time is not a timestamp; not archived");
                from = format!("{next}\u{10FFFF}");
                continue;
            }
        };
        f(conn, &week)?;
        from = week.end.clone();
    }
}

/// The table's columns, in table order.
pub(super) fn table_columns(conn: &Connection, name: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")?;
    let columns = stmt
        .query_map([name], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if columns.is_empty() {
        bail!("table {name} does not exist");
    }
    Ok(columns)
}

/// `"a", "b"` for a SELECT / INSERT of known column names (from `pragma_table_info`).
pub(super) fn column_list(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_weeks_start_on_monday_and_cross_years() {
        let cases = [
            ("2026-02-11 10:30:00", "2026-W07", "2026-02-09 00:00:00"),
            ("2026-01-01 00:00:00", "2026-W01", "2025-12-29 00:00:00"),
            ("2027-01-01 12:00:00", "2026-W53", "2026-12-28 00:00:00"),
            ("2026-02-15 23:59:59", "2026-W07", "2026-02-09 00:00:00"),
        ];
        for (time, label, start) in cases {
            let week = Week::of(from_db(time).unwrap());
            assert_eq!(
                (week.label.as_str(), week.start.as_str()),
                (label, start),
                "{time}"
            );
        }
    }
}
