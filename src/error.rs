//! How failures map to exit codes (SPEC §1): 0 done, 1 failed, 2 bad usage / config / input,
//! 75 lock held (a job's lease, or SQLite's write lock past the busy timeout) or remote API
//! unavailable (work left for the next run).

use std::fmt;

/// Exit codes shared by every binary.
pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_TEMPFAIL: u8 = 75;

/// A failure whose kind decides the exit code. Attach with [`bad_input`] / [`temp_fail`];
/// any other error is a plain failure (exit 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bad usage, bad config or bad input: exit 2, nothing changed.
    BadInput,
    /// Try again later: another run holds the lock, or a remote API is unavailable. Exit 75.
    TempFail,
}

#[derive(Debug)]
pub struct Classified {
    pub kind: Kind,
    pub message: String,
}

impl fmt::Display for Classified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Classified {}

pub fn bad_input(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Classified {
        kind: Kind::BadInput,
        message: message.into(),
    })
}

pub fn temp_fail(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Classified {
        kind: Kind::TempFail,
        message: message.into(),
    })
}

/// The kind of an error, looking through `.context(..)` layers. (A typed error a module
/// returns, such as the decision log's, carries its own exit code and converts into a
/// classified one.)
pub fn kind_of(err: &anyhow::Error) -> Option<Kind> {
    err.chain().find_map(|cause| {
        if is_busy_cause(cause) {
            return Some(Kind::TempFail);
        }
        cause.downcast_ref::<Classified>().map(|c| c.kind)
    })
}

/// Whether SQLite gave up waiting for a lock (`database is locked` / `busy`): another process
/// held the write lock past the busy timeout. Nothing was written; the next run does the work.
pub fn is_busy(err: &anyhow::Error) -> bool {
    err.chain().any(is_busy_cause)
}

fn is_busy_cause(cause: &(dyn std::error::Error + 'static)) -> bool {
    matches!(
        cause.downcast_ref::<rusqlite::Error>(),
        Some(rusqlite::Error::SqliteFailure(e, _))
            if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

pub fn exit_code_for(err: &anyhow::Error) -> u8 {
    match kind_of(err) {
        Some(Kind::BadInput) => EXIT_USAGE,
        Some(Kind::TempFail) => EXIT_TEMPFAIL,
        None => EXIT_FAILED,
    }
}

/// One line for stderr: the error and its causes, joined, without a backtrace.
pub fn one_line(err: &anyhow::Error) -> String {
    let text = format!("{err:#}").replace('\n', " ");
    if is_busy(err) {
        // SQLite's own words ("database is locked") say neither who nor what to do.
        return format!(
            "{text}: another process held the database's write lock past the busy timeout; try again later"
        );
    }
    text
}
