//! The one place connections are opened: PRAGMAs, migrations, and the SQL functions polyperf
//! registers (`dec_sum`). Never runs business logic.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rusqlite::functions::{Aggregate, Context as FnContext, FunctionFlags};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use rust_decimal::Decimal;

use crate::error::bad_input;

/// Migrations, applied in order; the schema version is the number applied (`PRAGMA user_version`).
/// Never edit one that has shipped: add the next.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("../sql/migrations/0001_init.sql")),
    (
        "0003_trust",
        include_str!("../sql/migrations/0003_trust.sql"),
    ),
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How long a writer waits for another writer before SQLite reports "database is locked".
/// Jobs keep their write transactions short (no network inside), so this is never reached in
/// practice; it is long so that the trader's writes never fail because a job is running.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Creates (or, when it exists, migrates) the database at `path`, with its directory. Only
/// `polyperf init`, the demo and tests call this: everything else uses [`open`], which refuses a
/// missing database instead of answering from an empty one.
pub fn create(path: &Path) -> Result<Connection> {
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() && !parent.exists() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating database directory {}", parent.display()))?;
        }
    }
    let conn = connect(path, OpenFlags::SQLITE_OPEN_CREATE)?;
    let mut conn = configure(conn, path)?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// Opens an existing polyperf database, sets the per-connection PRAGMAs and brings the schema
/// up to date. A missing file (or one `polyperf init` never set up) is bad input naming the
/// path: a mistyped `--db` must not answer "not paused" from a fresh, empty database.
pub fn open(path: &Path) -> Result<Connection> {
    let mut conn = open_existing(path)?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// Opens an existing polyperf database without migrating (read-only inspection, e.g. `status`
/// on a newer database). Refuses a missing or uninitialised file like [`open`].
pub fn open_existing(path: &Path) -> Result<Connection> {
    if !path.is_file() {
        return Err(missing(path, "does not exist"));
    }
    let conn = connect(path, OpenFlags::empty())?;
    // Looked at before `configure`, which would turn an empty file into a WAL database.
    let n_tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table'",
            [],
            |row| row.get(0),
        )
        .with_context(|| format!("reading database {}", path.display()))?;
    if n_tables == 0 && schema_version(&conn)? == 0 {
        return Err(missing(path, "is empty (not a polyperf database yet)"));
    }
    configure(conn, path)
}

fn missing(path: &Path, what: &str) -> anyhow::Error {
    bad_input(format!(
        "database {} {what}: run `polyperf init` to create it, or fix --db / POLYPERF_DB",
        path.display()
    ))
}

/// Opens the file with `extra` flags (CREATE or none) and the busy handler; writes nothing.
fn connect(path: &Path, extra: OpenFlags) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | extra,
    )
    .with_context(|| format!("opening database {}", path.display()))?;
    conn.busy_handler(Some(wait_for_writer))?;
    Ok(conn)
}

/// The per-connection settings: WAL (on a new file), PRAGMAs, SQL functions.
fn configure(conn: Connection, path: &Path) -> Result<Connection> {
    // Changing the journal mode or auto_vacuum needs an exclusive lock, and SQLite reports
    // SQLITE_BUSY at once (without the busy handler) when another connection is writing. So
    // only a new or not-yet-WAL file gets them; an existing WAL database is opened without
    // touching either, and the trader can open it while a job holds a write transaction.
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        let page_count: i64 = conn.query_row("PRAGMA page_count", [], |row| row.get(0))?;
        if page_count == 0 {
            // auto_vacuum only takes effect before the first table is created.
            conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        }
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .with_context(|| format!("setting WAL mode on {}", path.display()))?;
        if !mode.eq_ignore_ascii_case("wal") {
            bail!("database {} refused WAL mode (got {mode})", path.display());
        }
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    // 64 MiB of page cache (SQLite's default is 2 MiB): a bulk insert touches many index pages,
    // and once the cache is full SQLite spills dirty pages into the WAL mid-transaction,
    // writing the same pages many times. Memory is only used as pages are touched.
    conn.pragma_update(None, "cache_size", -65_536)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    register_functions(&conn)?;
    Ok(conn)
}

/// The schema version stored in the file.
pub fn schema_version(conn: &Connection) -> Result<i64> {
    Ok(conn.pragma_query_value(None, "user_version", |row| row.get(0))?)
}

/// Applies pending migrations in one IMMEDIATE transaction. Refuses a database newer than this
/// binary: it would write rows the newer schema may not expect.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let current = schema_version(conn)?;
    if current > SCHEMA_VERSION {
        return Err(bad_input(format!(
            "database schema version {current} is newer than this binary supports ({SCHEMA_VERSION}); upgrade polyperf"
        )));
    }
    if current == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Re-read inside the write lock: another process may have migrated meanwhile.
    let current = schema_version(&tx)?;
    for (index, (name, sql)) in MIGRATIONS.iter().enumerate() {
        let version = index as i64 + 1;
        if version <= current {
            continue;
        }
        tx.execute_batch(sql)
            .with_context(|| format!("applying migration {name}"))?;
        tx.pragma_update(None, "user_version", version)?;
        tracing::info!(migration = name, version, "applied migration");
    }
    tx.commit()?;
    Ok(())
}

/// Registers `dec_sum(x)`: an exact decimal sum of text money columns (SQL's `sum()` goes
/// through floating point). Returns decimal text, '0' for no rows. NULLs are skipped.
fn register_functions(conn: &Connection) -> Result<()> {
    conn.create_aggregate_function(
        "dec_sum",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        DecSum,
    )?;
    Ok(())
}

struct DecSum;

impl Aggregate<Decimal, String> for DecSum {
    fn init(&self, _: &mut FnContext<'_>) -> rusqlite::Result<Decimal> {
        Ok(Decimal::ZERO)
    }

    fn step(&self, ctx: &mut FnContext<'_>, sum: &mut Decimal) -> rusqlite::Result<()> {
        use rusqlite::types::ValueRef;
        let value = match ctx.get_raw(0) {
            ValueRef::Null => return Ok(()),
            ValueRef::Integer(i) => Decimal::from(i),
            ValueRef::Real(f) => Decimal::from_f64_retain(f).unwrap_or_default(),
            ValueRef::Text(t) => {
                let text = std::str::from_utf8(t)
                    .map_err(|e| rusqlite::Error::UserFunctionError(e.into()))?;
                Decimal::from_str(text).map_err(|e| rusqlite::Error::UserFunctionError(e.into()))?
            }
            ValueRef::Blob(_) => {
                return Err(rusqlite::Error::UserFunctionError(
                    "dec_sum of a blob".into(),
                ))
            }
        };
        *sum = sum
            .checked_add(value)
            .ok_or_else(|| rusqlite::Error::UserFunctionError("dec_sum overflow".into()))?;
        Ok(())
    }

    fn finalize(&self, _: &mut FnContext<'_>, sum: Option<Decimal>) -> rusqlite::Result<String> {
        Ok(sum.unwrap_or_default().normalize().to_string())
    }
}

/// Begins an IMMEDIATE transaction: takes the write lock up front, so a transaction that will
/// write never fails half-way with SQLITE_BUSY on lock upgrade.
pub fn write_tx(conn: &mut Connection) -> Result<rusqlite::Transaction<'_>> {
    Ok(conn.transaction_with_behavior(TransactionBehavior::Immediate)?)
}

/// The busy handler: poll for the write lock every ~1 ms (200 µs at first) for up to
/// [`BUSY_TIMEOUT`]. SQLite's own handler backs off to 100 ms sleeps, and since SQLite has no
/// queue of waiting writers, a waiter that polls that rarely can miss every short gap between
/// another process's transactions and starve: the trader would see "database is locked".
fn wait_for_writer(attempt: i32) -> bool {
    const FAST_ATTEMPTS: i32 = 100;
    let waited = Duration::from_micros(200 * attempt.min(FAST_ATTEMPTS) as u64)
        + Duration::from_millis((attempt - FAST_ATTEMPTS).max(0) as u64);
    if waited >= BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(if attempt < FAST_ATTEMPTS {
        Duration::from_micros(200)
    } else {
        Duration::from_millis(1)
    });
    true
}

/// Lets waiting writers (the trader) in between two write transactions of a long job.
/// SQLite grants the lock to whoever asks first after it is released, so a job that commits
/// and immediately begins again could hold it indefinitely; a few milliseconds is enough.
pub fn yield_to_writers() {
    std::thread::sleep(Duration::from_millis(3));
}

/// Gives every free page back to the filesystem (at the next checkpoint, in WAL mode), 1,000
/// pages (4 MB) per transaction with the trader let in between. The pragma frees ONE page per
/// `sqlite3_step` (it returns an empty row per page), so each call is stepped to the end;
/// `execute_batch` steps once and would free a single page.
pub fn incremental_vacuum(conn: &Connection) -> Result<()> {
    let mut before = i64::MAX;
    loop {
        let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
        // Nothing left, or nothing moves (a database without auto_vacuum = INCREMENTAL).
        if free == 0 || free >= before {
            return Ok(());
        }
        before = free;
        let mut stmt = conn
            .prepare("PRAGMA incremental_vacuum(1000)")
            .context("incremental vacuum")?;
        let mut rows = stmt.query([]).context("incremental vacuum")?;
        while rows.next().context("incremental vacuum")?.is_some() {}
        drop(rows);
        crate::db::yield_to_writers();
    }
}

/// Size in bytes of the database file and its WAL.
pub fn file_sizes(path: &Path) -> (u64, u64) {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    (size(path), size(Path::new(&wal)))
}
