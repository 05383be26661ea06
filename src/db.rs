//! The one place connections are opened: PRAGMAs, migrations, and the typed conversion of money
//! and prices to and from SQLite ([`Money`], [`BtcPrice`]). Never runs business logic.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::error::bad_input;

/// Migrations, applied in order; the schema version is the number applied (`PRAGMA user_version`).
/// Never edit one that has shipped: add the next.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("../sql/migrations/0001_init.sql")),
    (
        "0002_money_as_numbers",
        include_str!("../sql/migrations/0002_money_as_numbers.sql"),
    ),
    (
        "0003_trust",
        include_str!("../sql/migrations/0003_trust.sql"),
    ),
    (
        "0004_decision_fingerprint",
        include_str!("../sql/migrations/0004_decision_fingerprint.sql"),
    ),
    (
        "0005_exposure_fraction",
        include_str!("../sql/migrations/0005_exposure_fraction.sql"),
    ),
    (
        "0006_trade_feed",
        include_str!("../sql/migrations/0006_trade_feed.sql"),
    ),
    (
        "0007_evaluations",
        include_str!("../sql/migrations/0007_evaluations.sql"),
    ),
    (
        "0008_lean_trades",
        include_str!("../sql/migrations/0008_lean_trades.sql"),
    ),
    (
        "0009_integrity_checks",
        include_str!("../sql/migrations/0009_integrity_checks.sql"),
    ),
    (
        "0010_settlement_never_stops",
        include_str!("../sql/migrations/0010_settlement_never_stops.sql"),
    ),
    (
        "0011_decision_bankroll",
        include_str!("../sql/migrations/0011_decision_bankroll.sql"),
    ),
    (
        "0012_rollup_details",
        include_str!("../sql/migrations/0012_rollup_details.sql"),
    ),
    (
        "0013_daily_results",
        include_str!("../sql/migrations/0013_daily_results.sql"),
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
    share_with_group(path)?;
    Ok(conn)
}

/// Makes the database readable and writable by its group (0660 on a new file; `g+rw` added to
/// an existing one), whatever the creator's umask: the trader runs as its own user in the
/// service's group and must be able to write it (README "Install"). SQLite gives the `-wal`
/// and `-shm` files the database's mode, so they follow. A file owned by someone else is left
/// as it is (only its owner may change its mode).
#[cfg(unix)]
fn share_with_group(path: &Path) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    if meta.uid() != unsafe { libc::geteuid() } {
        return Ok(());
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o060 == 0o060 {
        return Ok(());
    }
    let shared = (mode | 0o660) & !0o007;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(shared))
        .with_context(|| format!("making {} writable by its group", path.display()))
}

#[cfg(not(unix))]
fn share_with_group(_path: &Path) -> Result<()> {
    Ok(())
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
    Ok(conn)
}

/// The schema version stored in the file.
pub fn schema_version(conn: &Connection) -> Result<i64> {
    Ok(conn.pragma_query_value(None, "user_version", |row| row.get(0))?)
}

/// Applies pending migrations in one IMMEDIATE transaction. Refuses a database newer than this
/// binary: it would write rows the newer schema may not expect.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    migrate_to(conn, SCHEMA_VERSION)
}

/// The names of the migrations, in order (version = position + 1): tests find a migration by
/// name, so they survive renumbering.
pub fn migration_names() -> impl Iterator<Item = &'static str> {
    MIGRATIONS.iter().map(|(name, _)| *name)
}

/// Applies the migrations up to `target` only (tests build databases as older binaries left
/// them). [`migrate`] is `migrate_to(SCHEMA_VERSION)`.
pub fn migrate_to(conn: &mut Connection, target: i64) -> Result<()> {
    let current = schema_version(conn)?;
    if current > SCHEMA_VERSION {
        return Err(bad_input(format!(
            "database schema version {current} is newer than this binary supports ({SCHEMA_VERSION}); upgrade polyperf"
        )));
    }
    if current >= target {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Re-read inside the write lock: another process may have migrated meanwhile.
    let current = schema_version(&tx)?;
    for (index, (name, sql)) in MIGRATIONS.iter().enumerate() {
        let version = index as i64 + 1;
        if version <= current || version > target {
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
    if waited >= busy_timeout() {
        return false;
    }
    std::thread::sleep(if attempt < FAST_ATTEMPTS {
        Duration::from_micros(200)
    } else {
        Duration::from_millis(1)
    });
    true
}

/// [`BUSY_TIMEOUT`], or the test hook `POLYPERF_FAULT_BUSY_TIMEOUT_MS` (tests of a lock held
/// past the timeout need not wait 30 s; the `POLYPERF_FAULT_` prefix is no setting's).
fn busy_timeout() -> Duration {
    static TIMEOUT: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *TIMEOUT.get_or_init(|| {
        std::env::var("POLYPERF_FAULT_BUSY_TIMEOUT_MS")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(BUSY_TIMEOUT, Duration::from_millis)
    })
}

/// Whether the database file or its write-ahead log, as this process has them open, is still
/// the file at its path. Something deleting `<db>-wal` under a running job (SQLite never does
/// while a connection is open) leaves what the job wrote in a file no other process sees; it
/// reaches the database only if this process checkpoints it when it closes. `Some(why)` names
/// the file and what happened; None when both are intact or it cannot be told (a system
/// without `/proc/self/fd`, or no such file open).
pub fn files_replaced(db: &Path) -> Option<String> {
    let db = std::fs::canonicalize(db).ok()?;
    let mut wal = db.clone().into_os_string();
    wal.push("-wal");
    let wal = std::path::PathBuf::from(wal);
    for entry in std::fs::read_dir("/proc/self/fd").ok()?.flatten() {
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        for file in [&db, &wal] {
            if let Some(why) = replaced(&entry.path(), &target, file) {
                return Some(why);
            }
        }
    }
    None
}

/// Whether the open descriptor `fd` (whose link reads `target`) is `file`, and that file is no
/// longer at its path.
fn replaced(fd: &Path, target: &Path, file: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let text = target.to_string_lossy();
    let name = file.to_string_lossy();
    if text == format!("{name} (deleted)") {
        return Some(format!("{name} was deleted while this job had it open"));
    }
    if text != name {
        return None;
    }
    let open = std::fs::metadata(fd).ok()?;
    match std::fs::metadata(file) {
        Ok(now) if (now.dev(), now.ino()) == (open.dev(), open.ino()) => None,
        _ => Some(format!(
            "{name} was replaced by another file while this job had it open"
        )),
    }
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

/// Money and prices as SQLite stores them: a REAL holding the value rounded to a fixed number
/// of places (`DP`), so plain sqlite3 compares, sorts and sums them as numbers (`max`,
/// `ORDER BY`, `>`, `sum`), and rounded to `DP` places again on read, so Rust gets back the
/// exact decimal it wrote. f64 is only the storage type here, never arithmetic: a decimal with
/// at most [`SIGNIFICANT_DIGITS`] significant digits survives decimal → f64 → decimal unchanged,
/// which is why `fits` bounds the magnitude. Reads also accept INTEGER and the exact decimal
/// TEXT of databases before migration 0002 (and of values written by hand).
///
/// Every reader and writer of a money or price column goes through [`Money`] or [`BtcPrice`]:
/// bind `Money(d)`, read `Money::get(row, i)`.
macro_rules! fixed_decimal {
    ($(#[$doc:meta])* $name:ident, $dp:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name(pub Decimal);

        impl $name {
            /// Decimal places kept.
            pub const DP: u32 = $dp;

            /// Whether `value` is stored exactly: at most `DP` decimal places and below
            /// [`Self::limit`] in magnitude.
            pub fn fits(value: Decimal) -> bool {
                value.normalize().scale() <= Self::DP && value.abs() < Self::limit()
            }

            /// 10^(15 − DP): the magnitude below which values are stored exactly.
            pub fn limit() -> Decimal {
                Decimal::from(10i64.pow(SIGNIFICANT_DIGITS - Self::DP))
            }

            /// A column of `row` (NULL is `None`).
            pub fn get(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Option<Decimal>> {
                Ok(row.get::<_, Option<Self>>(idx)?.map(|f| f.0))
            }

            /// A value as read: from REAL, INTEGER or decimal TEXT, rounded to `DP` places.
            pub fn from_value(value: ValueRef<'_>) -> FromSqlResult<Option<Decimal>> {
                Ok(Option::<Self>::column_result(value)?.map(|f| f.0))
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                real_at(self.0, Self::DP).map(|f| ToSqlOutput::Owned(Value::Real(f)))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                decimal_at(value, Self::DP).map($name)
            }
        }
    };
}

/// Significant digits that always survive decimal → f64 → decimal (f64 guarantees 15).
pub const SIGNIFICANT_DIGITS: u32 = 15;

fixed_decimal!(
    /// USDC amounts, share prices and fee rates: 6 decimals, the precision of USDC (Polymarket's
    /// prices and fees have fewer). Exact below 1,000,000,000.
    Money,
    6
);

fixed_decimal!(
    /// BTC prices (`btc_price`, `price_to_beat`, candles, start/end prices): 8 decimals, the
    /// precision of Chainlink's BTC/USD feed that resolves the markets (Binance quotes 2).
    /// Exact below 10,000,000 USD.
    BtcPrice,
    8
);

/// The largest amount one row's money column may carry into a sum: 10^15 USDC (settlement
/// bounds a position's payout at 10^12). A larger value was written by hand; readers that add
/// rows up read it as missing, so no sum over rows can overflow a Decimal (7.9·10^28).
pub const MAX_ROW_MONEY: Decimal = Decimal::from_parts(0xA4C6_8000, 0x38D7E, 0, false, 0);

/// A money column as the readers that add rows up take it (reflection, the adjuster's guard,
/// replay and rollback watch): missing when NULL, not a number, or past [`MAX_ROW_MONEY`].
pub fn money_for_sums(value: ValueRef<'_>) -> Option<Decimal> {
    Money::from_value(value)
        .ok()
        .flatten()
        .filter(|m| m.abs() <= MAX_ROW_MONEY)
}

/// `value` rounded to `dp` places as the nearest f64. The integer mantissa and the power of ten
/// are both exact in f64 while the mantissa is below 2^53, so one IEEE division rounds
/// correctly; larger values go through Rust's (correctly rounded) decimal parser.
fn real_at(value: Decimal, dp: u32) -> rusqlite::Result<f64> {
    let mut d = value.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero);
    d.rescale(dp);
    let mantissa = d.mantissa();
    let f = if mantissa.unsigned_abs() < 1 << 53 {
        mantissa as f64 / 10f64.powi(dp as i32)
    } else {
        d.to_string().parse().unwrap_or(f64::NAN)
    };
    if !f.is_finite() {
        return Err(rusqlite::Error::ToSqlConversionFailure(
            format!("{value} cannot be stored as a number").into(),
        ));
    }
    Ok(f)
}

/// A stored value as a decimal rounded to `dp` places (no trailing zeros).
fn decimal_at(value: ValueRef<'_>, dp: u32) -> FromSqlResult<Decimal> {
    let exact = match value {
        ValueRef::Real(f) => {
            if let Some(d) = nearest_at(f, dp) {
                return Ok(d);
            }
            Decimal::from_f64_retain(f)
                .ok_or_else(|| FromSqlError::Other(format!("{f} is not a decimal").into()))?
        }
        ValueRef::Integer(i) => Decimal::from(i),
        ValueRef::Text(t) => {
            let text = std::str::from_utf8(t)
                .map_err(|e| FromSqlError::Other(e.into()))?
                .trim();
            Decimal::from_str_exact(text)
                .or_else(|_| Decimal::from_scientific(text))
                .map_err(|_| FromSqlError::Other(format!("{text:?} is not a decimal").into()))?
        }
        ValueRef::Null | ValueRef::Blob(_) => return Err(FromSqlError::InvalidType),
    };
    Ok(exact
        .round_dp_with_strategy(dp, RoundingStrategy::MidpointNearestEven)
        .normalize())
}

/// The fast way to the same answer, for a REAL that is the nearest f64 to a decimal with `dp`
/// places (what [`real_at`] writes): that decimal. Reading the f64's exact binary value
/// (`from_f64_retain`) was a visible cost where every row's money is read (the replay). When
/// `m / 10^dp` rounds to `f` again, `f` lies within half an f64 step of `m × 10^-dp`; below
/// 2^48 units that step is under a sixteenth of `10^-dp`, so rounding `f`'s exact value to `dp`
/// places gives `m × 10^-dp` too. None for anything else (the exact path then decides).
fn nearest_at(f: f64, dp: u32) -> Option<Decimal> {
    let scale = 10f64.powi(i32::try_from(dp).ok()?);
    let scaled = (f * scale).round();
    // Integers and powers of ten this small are exact in f64: one correctly rounded division.
    if !scaled.is_finite() || scaled.abs() >= 281_474_976_710_656.0 || scaled / scale != f {
        return None;
    }
    Some(Decimal::new(scaled as i64, dp).normalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn conn() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (money REAL, btc REAL, text TEXT)")
            .unwrap();
        conn
    }

    /// Writes `money` and `btc` through the conversion and reads them back.
    fn round_trip(conn: &Connection, money: Decimal, btc: Decimal) -> (Decimal, Decimal, String) {
        conn.execute("DELETE FROM t", []).unwrap();
        conn.execute(
            "INSERT INTO t (money, btc) VALUES (?1, ?2)",
            rusqlite::params![Money(money), BtcPrice(btc)],
        )
        .unwrap();
        conn.query_row("SELECT money, btc, typeof(money) FROM t", [], |r| {
            Ok((
                r.get::<_, Money>(0)?.0,
                r.get::<_, BtcPrice>(1)?.0,
                r.get(2)?,
            ))
        })
        .unwrap()
    }

    proptest! {
        /// Any value with at most 6 (money) or 8 (BTC) places below the limit reads back
        /// identical, stored as a REAL.
        #[test]
        fn values_at_their_places_read_back_identical(
            money in -999_999_999_999_999i64..=999_999_999_999_999,
            money_dp in 0u32..=6,
            btc in 0i64..=999_999_999_999_999,
            btc_dp in 0u32..=8,
        ) {
            let conn = conn();
            // Scale so the value stays below 10^(15 - DP): 15 significant digits at most.
            let money = Decimal::new(money, 6).round_dp(money_dp);
            let btc = Decimal::new(btc, 8).round_dp(btc_dp);
            prop_assert!(Money::fits(money) && BtcPrice::fits(btc));
            let (m, b, typ) = round_trip(&conn, money, btc);
            prop_assert_eq!(m, money);
            prop_assert_eq!(b, btc);
            prop_assert_eq!(typ, "real");
        }

        /// The fast reading of a REAL agrees with the exact one wherever it answers.
        #[test]
        fn the_fast_reading_of_a_real_is_the_exact_one(
            bits in any::<u64>(), units in -999_999_999_999_999i64..=999_999_999_999_999,
        ) {
            for f in [f64::from_bits(bits), units as f64 / 1e6, units as f64 / 1e8] {
                for dp in [6, 8] {
                    if let Some(fast) = nearest_at(f, dp) {
                        let exact = Decimal::from_f64_retain(f)
                            .unwrap()
                            .round_dp_with_strategy(dp, RoundingStrategy::MidpointNearestEven)
                            .normalize();
                        prop_assert_eq!(fast, exact, "{} at {}", f, dp);
                    }
                }
            }
        }

        /// Reading never panics, whatever a hand edit put in the column.
        #[test]
        fn any_text_reads_as_a_decimal_or_an_error(text in "\\PC{0,30}") {
            let value = ValueRef::Text(text.as_bytes());
            let _ = Money::from_value(value);
            let _ = BtcPrice::from_value(value);
        }

        /// Any finite REAL reads back within half a unit of the last place kept.
        #[test]
        fn any_real_rounds_to_its_places(f in -1e12f64..1e12) {
            let read = Money::from_value(ValueRef::Real(f)).unwrap().unwrap();
            prop_assert!(read.scale() <= 6);
            let exact = Decimal::from_f64_retain(f).unwrap();
            prop_assert!((read - exact).abs() <= Decimal::new(5, 7));
        }
    }

    #[test]
    fn stored_money_compares_as_numbers_in_sql() {
        let conn = conn();
        for v in ["9.997049", "19.954806", "-5", "4.3", "0.000001"] {
            conn.execute(
                "INSERT INTO t (money) VALUES (?1)",
                [Money(v.parse().unwrap())],
            )
            .unwrap();
        }
        let max: f64 = conn
            .query_row("SELECT max(money) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(max, 19.954806);
        let above_5: i64 = conn
            .query_row("SELECT count(*) FROM t WHERE money > 5", [], |r| r.get(0))
            .unwrap();
        assert_eq!(above_5, 2);
        let sum: f64 = conn
            .query_row("SELECT sum(money) FROM t", [], |r| r.get(0))
            .unwrap();
        assert!((sum - 29.251856).abs() < 1e-6, "{sum}");
    }

    #[test]
    fn legacy_text_integers_and_nulls_read_too() {
        let read = |v: ValueRef<'_>| Money::from_value(v).unwrap();
        let d = |s: &str| Some(s.parse::<Decimal>().unwrap());
        assert_eq!(read(ValueRef::Text(b"5.00")), d("5"));
        assert_eq!(read(ValueRef::Text(b" -4.9731 ")), d("-4.9731"));
        assert_eq!(read(ValueRef::Text(b"1e-3")), d("0.001"));
        assert_eq!(read(ValueRef::Text(b"0.1234565")), d("0.123456"));
        assert_eq!(read(ValueRef::Integer(10)), d("10"));
        assert_eq!(read(ValueRef::Real(9.65)), d("9.65"));
        assert_eq!(read(ValueRef::Null), None);
        assert!(Money::from_value(ValueRef::Text(b"ten")).is_err());
        assert!(Money::from_value(ValueRef::Blob(b"1")).is_err());
        assert!(Money::from_value(ValueRef::Real(f64::INFINITY)).is_err());
        // 8 places for BTC prices (Chainlink's precision).
        let btc = BtcPrice::from_value(ValueRef::Real(66940.12345678)).unwrap();
        assert_eq!(btc, d("66940.12345678"));
    }

    #[test]
    fn limits_follow_fifteen_significant_digits() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert!(Money::fits(d("999999999.999999")));
        assert!(!Money::fits(d("1000000000")));
        assert!(!Money::fits(d("0.1234567")));
        assert!(Money::fits(d("0.1234560")));
        assert!(BtcPrice::fits(d("9999999.99999999")));
        assert!(!BtcPrice::fits(d("10000000")));
        assert!(!BtcPrice::fits(d("66940.123456789")));
        // Written beyond the limit, a value is still the nearest f64, never an error.
        let conn = conn();
        let (m, _, _) = round_trip(&conn, d("12345678901.25"), Decimal::ONE);
        assert_eq!(m, d("12345678901.25"));
    }
}
