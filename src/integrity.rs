//! The database's own integrity: `PRAGMA quick_check` within a time limit (polyperf-cleanup runs
//! it) and its results in `integrity_checks` (this module owns the table; `status` shows the
//! last). Never repairs anything: it says what it found. (Whether a running job's database
//! files are still the ones on disk is `db::files_replaced`.)

use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension};
use serde::Serialize;

use crate::time::to_db;

/// quick_check lists at most 20 problems (a damaged file can have thousands); a pragma's
/// argument cannot be bound, so the number is written into the statement.
const QUICK_CHECK: &str = "PRAGMA quick_check(20)";

/// Results kept in `integrity_checks`; older ones are pruned.
const KEPT: i64 = 100;

/// What a check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// quick_check said `ok`.
    Ok,
    /// quick_check listed problems, or SQLite found the file malformed while checking.
    Damaged,
    /// The time limit stopped it before the end (nothing wrong found so far).
    Incomplete,
    /// The check could not run (e.g. a disk I/O error: a WAL deleted under a running job).
    Failed,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Damaged => "damaged",
            Verdict::Incomplete => "incomplete",
            Verdict::Failed => "failed",
        }
    }

    /// Whether the operator must act (an alert, a failed run).
    pub fn is_alarm(self) -> bool {
        matches!(self, Verdict::Damaged | Verdict::Failed)
    }
}

/// One check, as run and as recorded.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Check {
    pub checked_at: String,
    pub result: Verdict,
    /// quick_check's lines (at most 20), or why the check could not run.
    pub problems: Option<String>,
    pub elapsed_ms: u64,
    pub db_bytes: Option<u64>,
}

/// Runs `PRAGMA quick_check` on `conn`, interrupted once `limit` has passed (a check of a large
/// file must not hold cleanup for long). Reads only.
pub fn quick_check(conn: &Connection, limit: Duration, now: DateTime<Utc>) -> Check {
    let interrupt = conn.get_interrupt_handle();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if finished.recv_timeout(limit).is_err() {
            interrupt.interrupt();
        }
    });
    let started = Instant::now();
    let lines = run_quick_check(conn);
    let _ = done.send(());
    let _ = watchdog.join();
    let (result, problems) = match lines {
        Ok(lines) if lines.len() == 1 && lines[0] == "ok" => (Verdict::Ok, None),
        Ok(lines) => (Verdict::Damaged, Some(lines.join("; "))),
        Err(e) => (verdict_of(&e), Some(e.to_string())),
    };
    Check {
        checked_at: to_db(now),
        result,
        problems,
        elapsed_ms: started.elapsed().as_millis().try_into().unwrap_or(u64::MAX),
        db_bytes: conn
            .path()
            .and_then(|p| std::fs::metadata(p).ok())
            .map(|m| m.len()),
    }
}

fn run_quick_check(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(QUICK_CHECK)?;
    let lines = stmt.query_map([], |r| r.get::<_, String>(0))?.collect();
    lines
}

/// What an error during the check means.
fn verdict_of(e: &rusqlite::Error) -> Verdict {
    match e.sqlite_error_code() {
        Some(ErrorCode::OperationInterrupted) => Verdict::Incomplete,
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => Verdict::Damaged,
        _ => Verdict::Failed,
    }
}

/// Records a check (and keeps the last 100), in the caller's transaction.
pub fn record(conn: &Connection, check: &Check) -> Result<()> {
    conn.execute(
        "INSERT INTO integrity_checks (checked_at, result, problems, elapsed_ms, db_bytes)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            check.checked_at,
            check.result.as_str(),
            check.problems,
            i64::try_from(check.elapsed_ms).unwrap_or(i64::MAX),
            check.db_bytes.and_then(|b| i64::try_from(b).ok()),
        ],
    )?;
    conn.execute(
        "DELETE FROM integrity_checks WHERE id <= (SELECT max(id) FROM integrity_checks) - ?1",
        [KEPT],
    )?;
    Ok(())
}

/// The last recorded check, if any.
pub fn last(conn: &Connection) -> Result<Option<Check>> {
    Ok(conn
        .query_row(
            "SELECT checked_at, result, problems, elapsed_ms, db_bytes FROM integrity_checks
             ORDER BY id DESC LIMIT 1",
            [],
            |r| {
                let result = match r.get::<_, String>(1)?.as_str() {
                    "ok" => Verdict::Ok,
                    "damaged" => Verdict::Damaged,
                    "incomplete" => Verdict::Incomplete,
                    _ => Verdict::Failed,
                };
                Ok(Check {
                    checked_at: r.get(0)?,
                    result,
                    problems: r.get(2)?,
                    elapsed_ms: r.get::<_, i64>(3)?.max(0) as u64,
                    db_bytes: r.get::<_, Option<i64>>(4)?.map(|b| b.max(0) as u64),
                })
            },
        )
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db_with(rows: usize, text_len: usize) -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::db::create(&dir.path().join("p.db")).unwrap();
        conn.execute_batch("BEGIN").unwrap();
        for i in 0..rows {
            conn.execute(
                "INSERT INTO reflections (timestamp, trigger_type, insights) VALUES ('2026-02-11 10:00:00', 'manual', ?1)",
                [format!("{i:08}{}", "x".repeat(text_len))],
            )
            .unwrap();
        }
        conn.execute_batch("COMMIT").unwrap();
        (dir, conn)
    }

    fn now() -> DateTime<Utc> {
        crate::time::parse_rfc3339("2026-02-11T12:00:00Z").unwrap()
    }

    #[test]
    fn a_sound_database_checks_ok_and_is_recorded() {
        let (_dir, conn) = db_with(10, 10);
        let check = quick_check(&conn, Duration::from_secs(30), now());
        assert_eq!(
            (check.result, check.problems.as_deref()),
            (Verdict::Ok, None)
        );
        assert!(check.db_bytes.unwrap() > 0);
        assert_eq!(last(&conn).unwrap(), None);
        for _ in 0..(KEPT + 5) {
            record(&conn, &check).unwrap();
        }
        assert_eq!(last(&conn).unwrap(), Some(check));
        let kept: i64 = conn
            .query_row("SELECT count(*) FROM integrity_checks", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, KEPT);
    }

    /// A check that outlasts its limit is stopped, and says so (not "ok", not "damaged").
    #[test]
    fn the_time_limit_stops_a_long_check() {
        let (_dir, conn) = db_with(20_000, 2_000);
        let check = quick_check(&conn, Duration::from_millis(5), now());
        assert_eq!(check.result, Verdict::Incomplete, "{check:?}");
        assert!(check.elapsed_ms < 5_000, "{check:?}");
        // The interrupt does not outlive the check.
        let n: i64 = conn
            .query_row("SELECT count(*) FROM reflections", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 20_000);
    }

    #[test]
    fn errors_while_checking_mean_what_they_say() {
        let err = |code: i32| rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None);
        assert_eq!(
            verdict_of(&err(rusqlite::ffi::SQLITE_INTERRUPT)),
            Verdict::Incomplete
        );
        assert_eq!(
            verdict_of(&err(rusqlite::ffi::SQLITE_CORRUPT)),
            Verdict::Damaged
        );
        assert_eq!(
            verdict_of(&err(rusqlite::ffi::SQLITE_NOTADB)),
            Verdict::Damaged
        );
        assert_eq!(
            verdict_of(&err(rusqlite::ffi::SQLITE_IOERR)),
            Verdict::Failed
        );
    }
}
