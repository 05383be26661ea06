//! Helpers shared by the integration tests: a real SQLite file in a temp dir, the job
//! binaries as processes with a clean environment.

#![allow(dead_code)]

pub mod fixtures;
pub mod histories;

use std::path::{Path, PathBuf};

use polyperf::config::Settings;
use polyperf::db::Money;
use rusqlite::Connection;
use rust_decimal::Decimal;

/// A temp directory holding a migrated database.
pub struct TestDb {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl TestDb {
    pub fn new() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("performance.db");
        polyperf::db::create(&path).expect("open db");
        TestDb { dir, path }
    }

    pub fn conn(&self) -> Connection {
        polyperf::db::open(&self.path).expect("open db")
    }

    /// Default settings pointing at this database and an archive dir inside the temp dir.
    pub fn settings(&self) -> Settings {
        let mut s = Settings::default();
        s.general.db = self.path.clone();
        s.archive.dir = self.dir.path().join("archive");
        s
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.conn().query_row(sql, [], |r| r.get(0)).expect(sql)
    }

    /// A job binary (or `polyperf`) as a process against this database.
    pub fn cmd(&self, bin: &str) -> assert_cmd::Command {
        let mut cmd = bin_cmd(bin);
        cmd.env("POLYPERF_DB", &self.path)
            .env("POLYPERF_ARCHIVE_DIR", self.dir.path().join("archive"));
        cmd
    }
}

/// Environment variables polyperf reads; removed so the developer's own never leak into tests.
const VARS: &[&str] = &[
    "POLYPERF_DB",
    "POLYPERF_CONFIG",
    "POLYPERF_LOG_FORMAT",
    "POLYPERF_ARCHIVE_DIR",
    "POLYPERF_ARCHIVE_RETENTION_DAYS",
    "POLYPERF_MIN_FREE_BYTES",
    "POLYPERF_MIN_FREE_PERCENT",
    "OPENAI_API_KEY",
    "OPENAI_MODEL",
    "OPENAI_BASE_URL",
    "TELEGRAM_ENABLED",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_CHAT_ID",
    "TELEGRAM_ALLOWED_USER_IDS",
    "TELEGRAM_API_BASE",
    "BINANCE_API_BASE",
    "GAMMA_API_BASE",
    "SETTLEMENT_BATCH_SIZE",
    "SETTLEMENT_ALERT_LAG_HOURS",
    "RUST_LOG",
    "POLYPERF_ADJUST_AUTONOMY",
];

pub fn bin_cmd(bin: &str) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin(bin).expect("binary built");
    for var in VARS {
        cmd.env_remove(var);
    }
    cmd.env("POLYPERF_LOG_FORMAT", "json");
    // The host's disk may be nearly full (CI machines often are): a test about space sets its
    // own thresholds; every other test must not start the emergency sequence because of it.
    cmd.env("POLYPERF_MIN_FREE_PERCENT", "0")
        .env("POLYPERF_MIN_FREE_BYTES", "1000000");
    cmd
}

/// The short names of the six job binaries (`polyperf-<name>`).
pub fn job_names() -> [&'static str; 6] {
    polyperf::runner::Job::ALL.map(polyperf::runner::Job::name)
}

pub fn bin_path(bin: &str) -> PathBuf {
    assert_cmd::cargo::cargo_bin(bin)
}

/// Parses a command's stdout as one JSON object.
pub fn stdout_json(output: &std::process::Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Writes `lines` as a JSON Lines file in `dir`.
pub fn write_jsonl(dir: &Path, name: &str, lines: &[serde_json::Value]) -> PathBuf {
    let path = dir.join(name);
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, text).expect("write jsonl");
    path
}

/// A valid decision as JSON, with `i` in its id and time.
pub fn decision_json(i: usize) -> serde_json::Value {
    serde_json::json!({
        "decision_id": format!("d-{i}"),
        "timestamp": "2026-02-11T10:30:00Z",
        "market_slug": "btc-updown-15m-1770805800",
        "market_id": 1362391,
        "action": if i.is_multiple_of(3) { "HOLD" } else if i % 3 == 1 { "YES" } else { "NO" },
        "confidence": 0.8,
        "position_size": if i.is_multiple_of(3) { "0" } else { "5.00" },
        "btc_price": "66940.0",
        "price_to_beat": "66826.14",
        "final_score": 0.2,
        "signal_type": "BULLISH",
        "yes_price": "0.51",
        "no_price": "0.50",
        "executed_price": if i.is_multiple_of(3) { serde_json::Value::Null } else { serde_json::json!("0.52") },
    })
}

/// Runs a command and insists it exited 0 (showing its exit code and stderr if not).
pub fn succeeds(cmd: &mut assert_cmd::Command) -> std::process::Output {
    let out = cmd.output().expect("run the command");
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a command, insists it exited 0 (showing its stderr if not) and parses stdout as JSON.
pub fn ok_json(cmd: &mut assert_cmd::Command) -> serde_json::Value {
    stdout_json(&succeeds(cmd))
}

/// The exact sum of the money column a query returns (NULLs skipped), read as polyperf reads
/// money: SQL's `sum()` of REAL is only right within 1e-6.
pub fn money_sum(conn: &Connection, sql: &str) -> Decimal {
    let mut stmt = conn.prepare(sql).expect(sql);
    let values = stmt
        .query_map([], |r| Money::get(r, 0))
        .expect(sql)
        .collect::<rusqlite::Result<Vec<_>>>()
        .expect(sql);
    values.into_iter().flatten().sum()
}

/// The SQL statements of an operator query file (`sql/queries/`), without sqlite3's
/// dot-commands (they are for the shell) and comment-only pieces.
pub fn sql_statements(path: &Path) -> Vec<String> {
    let sql: String = std::fs::read_to_string(path)
        .expect("query file")
        .lines()
        .filter(|l| !l.starts_with('.'))
        .collect::<Vec<_>>()
        .join("\n");
    sql.split(';')
        .map(str::trim)
        .filter(|s| {
            s.lines()
                .any(|l| !l.trim().is_empty() && !l.trim().starts_with("--"))
        })
        .map(str::to_string)
        .collect()
}
