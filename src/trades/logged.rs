//! What a call to the decision log returns: one decision [`Logged`] (stored or a duplicate), a
//! batch's [`LogReport`], or a typed [`LogError`] that carries its exit code (a conflict or an
//! invalid decision is bad input, exit 2; a busy database is "try later", 75).

use serde::Serialize;

use crate::decision::{Conflict, FieldError};
use crate::error::{exit_code_for, EXIT_USAGE};

/// What happened to a decision handed to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logged {
    Stored(i64),
    Duplicate,
}

/// Counts of a batch, as `polyperf log --json` prints them.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct LogReport {
    pub stored: u64,
    pub duplicates: u64,
    pub invalid: u64,
    /// `line N: field ...: message`, for each bad line (the first 100).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// Why the log stored nothing. Callers match on it; each carries its exit code
/// ([`LogError::exit_code`]), and `?` into an `anyhow::Error` keeps that code.
///
/// Not a `std::error::Error` on purpose: so that `?` in a function returning
/// `anyhow::Result` goes through the `From` below (which classifies it) rather than anyhow's
/// blanket conversion (which would make a conflict a plain failure, exit 1).
#[derive(Debug)]
pub enum LogError {
    /// A decision broke the format's rules: which one (the n-th of a batch, from 1) and the
    /// field. Bad input, exit 2; nothing stored.
    Invalid {
        decision: Option<usize>,
        error: FieldError,
    },
    /// Its `decision_id` is stored (or was archived) with other content. Bad input, exit 2;
    /// nothing stored.
    Conflict(Conflict),
    /// The database (or the input being read) failed: exit 75 when SQLite's write lock was
    /// held past the busy timeout (try later), else 1.
    Failed(anyhow::Error),
}

impl LogError {
    /// The exit code (SPEC §1) a binary ends with for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            LogError::Invalid { .. } | LogError::Conflict(_) => EXIT_USAGE,
            LogError::Failed(e) => exit_code_for(e),
        }
    }
}

impl std::fmt::Display for LogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogError::Invalid {
                decision: Some(n),
                error,
            } => write!(f, "decision {n}: {error}"),
            LogError::Invalid {
                decision: None,
                error,
            } => write!(f, "{error}"),
            LogError::Conflict(conflict) => write!(f, "{conflict}"),
            LogError::Failed(e) => write!(f, "{e:#}"),
        }
    }
}

impl From<anyhow::Error> for LogError {
    fn from(e: anyhow::Error) -> LogError {
        LogError::Failed(e)
    }
}

impl From<rusqlite::Error> for LogError {
    fn from(e: rusqlite::Error) -> LogError {
        LogError::Failed(e.into())
    }
}

impl From<LogError> for anyhow::Error {
    fn from(e: LogError) -> anyhow::Error {
        match e {
            LogError::Failed(e) => e,
            other => crate::error::bad_input(other.to_string()),
        }
    }
}
