//! The database, the decision log, the job runner and the operator CLI.

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{
    bin_cmd, bin_path, decision_json, ok_json, stdout_json, succeeds, write_jsonl, TestDb,
};

#[test]
fn fresh_database_has_the_seed_tables_columns_and_indexes() {
    let db = TestDb::new();
    let conn = db.conn();
    assert_eq!(
        polyperf::db::schema_version(&conn).unwrap(),
        polyperf::db::SCHEMA_VERSION
    );
    let columns = |table: &str| -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM pragma_table_info(?1)")
            .unwrap();
        stmt.query_map([table], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let seed_trades = "id timestamp market_slug market_id action confidence position_size reasoning btc_price price_to_beat \
        time_remaining_seconds is_end_phase social_score market_score final_score final_confidence signal_type rsi macd trend \
        yes_price no_price executed_price actual_outcome profit_loss is_win is_missed_opportunity";
    let trades = columns("trades");
    for c in seed_trades.split_whitespace() {
        assert!(
            trades.contains(&c.to_string()),
            "trades lacks seed column {c}"
        );
    }
    for c in
        "id timestamp trigger_type trades_analyzed insights adjustments_made".split_whitespace()
    {
        assert!(
            columns("reflections").contains(&c.to_string()),
            "reflections lacks {c}"
        );
    }
    for c in
        "id timestamp parameter_name old_value new_value reason approval_method".split_whitespace()
    {
        assert!(
            columns("parameter_history").contains(&c.to_string()),
            "parameter_history lacks {c}"
        );
    }
    for index in [
        "idx_trades_timestamp",
        "idx_trades_signal_type",
        "idx_trades_is_win",
    ] {
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?1",
                [index],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "missing index {index}");
    }
    for table in [
        "parameters",
        "proposals",
        "trading_control",
        "outbox",
        "telegram_state",
        "job_runs",
        "job_locks",
        "archives",
        "prices",
    ] {
        assert!(!columns(table).is_empty(), "missing table {table}");
    }
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let auto_vacuum: i64 = conn
        .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        auto_vacuum, 2,
        "auto_vacuum should be INCREMENTAL on a new file"
    );
    let threshold: String = conn
        .query_row(
            "SELECT value FROM parameters WHERE name = 'bot_confidence_threshold'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(threshold, "0.75");
}

#[test]
fn migrations_rerun_cleanly_and_a_newer_database_is_refused() {
    let db = TestDb::new();
    // Re-opening applies nothing and keeps data.
    db.conn()
        .execute(
            "INSERT INTO telegram_state (key, value) VALUES ('k', 'v')",
            [],
        )
        .unwrap();
    let conn = db.conn();
    assert_eq!(
        polyperf::db::schema_version(&conn).unwrap(),
        polyperf::db::SCHEMA_VERSION
    );
    assert_eq!(
        db.count("SELECT count(*) FROM telegram_state WHERE key = 'k' AND value = 'v'"),
        1
    );
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = polyperf::db::open(&db.path).unwrap_err();
    assert!(err.to_string().contains("newer"), "{err}");
    assert_eq!(polyperf::error::exit_code_for(&err), 2);
    // The binaries refuse it too, with exit 2 and a clear message.
    for command in [vec!["polyperf-settle"], vec!["polyperf", "params", "list"]] {
        let out = db.cmd(command[0]).args(&command[1..]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{command:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("newer than this binary"));
    }
    // `status` reads it as it is (migrating nothing), so the trader learns why not to trade.
    let status = crate::common::ok_json(db.cmd("polyperf").args(["status", "--json"]));
    assert_eq!(status["healthy"], false);
    assert_eq!(status["schema_version"], 99);
    let reasons = status["health_reasons"].to_string();
    assert!(
        reasons.contains("the database (schema v99) is newer than this polyperf"),
        "{reasons}"
    );
    let version: i64 = rusqlite::Connection::open(&db.path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 99, "status changed nothing");
}

#[test]
fn logging_ten_thousand_decisions_twice_stores_them_once() {
    let db = TestDb::new();
    let lines: Vec<_> = (0..10_000).map(decision_json).collect();
    let file = write_jsonl(db.dir.path(), "d.jsonl", &lines);
    let report = ok_json(db.cmd("polyperf").args(["--json", "log"]).arg(&file));
    assert_eq!(report["stored"], 10_000);
    assert_eq!(report["duplicates"], 0);
    let out = succeeds(db.cmd("polyperf").args(["--json", "log"]).arg(&file));
    let report = stdout_json(&out);
    assert_eq!(report["stored"], 0);
    assert_eq!(report["duplicates"], 10_000);
    assert_eq!(db.count("SELECT count(*) FROM trades"), 10_000);
    // Amounts are numbers sqlite3 compares as such, and a decision costs no outbox row:
    // polyperf-telegram reads new trades from the table (issue 17).
    assert_eq!(db.count("SELECT count(*) FROM trades WHERE price_to_beat = 66826.14 AND btc_price = 66940 AND position_size IN (0, 5)"), 10_000);
    assert_eq!(db.count("SELECT count(*) FROM outbox"), 0);
}

#[test]
fn a_batch_with_one_bad_line_stores_nothing_and_names_the_line() {
    let db = TestDb::new();
    let mut lines: Vec<_> = (0..10).map(decision_json).collect();
    lines[4]["confidence"] = serde_json::json!(1.7);
    let file = write_jsonl(db.dir.path(), "bad.jsonl", &lines);
    let out = db
        .cmd("polyperf")
        .args(["--json", "log"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 5") && stderr.contains("confidence"),
        "{stderr}"
    );
    assert_eq!(stdout_json(&out)["stored"], 0);
    assert_eq!(db.count("SELECT count(*) FROM trades"), 0);
    assert_eq!(db.count("SELECT count(*) FROM outbox"), 0);

    // With --skip-invalid the other nine are stored, the bad one still reported (stderr and
    // --json), and the run succeeds: it did what was asked.
    let out = db
        .cmd("polyperf")
        .args(["--json", "log", "--skip-invalid"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 5: field `confidence`"), "{stderr}");
    let report = stdout_json(&out);
    assert_eq!(
        (report["stored"].as_u64(), report["invalid"].as_u64()),
        (Some(9), Some(1))
    );
    assert!(report["errors"][0].as_str().unwrap().starts_with("line 5"));
    assert_eq!(db.count("SELECT count(*) FROM trades"), 9);
    // Nothing good at all is still bad input.
    let only_bad = write_jsonl(db.dir.path(), "only-bad.jsonl", &lines[4..5]);
    let out = db
        .cmd("polyperf")
        .args(["--json", "log", "--skip-invalid"])
        .arg(&only_bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn log_reads_one_object_from_stdin_and_generates_an_idempotent_id() {
    let db = TestDb::new();
    let mut d = decision_json(1);
    d.as_object_mut().unwrap().remove("decision_id");
    let pretty = serde_json::to_string_pretty(&d).unwrap();
    for expected_stored in [1, 0] {
        let out = succeeds(
            db.cmd("polyperf")
                .args(["--json", "log", "-"])
                .write_stdin(pretty.clone()),
        );
        assert_eq!(stdout_json(&out)["stored"], expected_stored);
    }
    assert_eq!(
        db.count("SELECT count(*) FROM trades WHERE decision_id LIKE 'auto-%'"),
        1
    );
}

#[test]
fn every_job_binary_records_its_run_and_exits_zero_on_an_empty_database() {
    let db = TestDb::new();
    for job in crate::common::job_names() {
        let bin = format!("polyperf-{job}");
        let out = db
            .cmd(&bin)
            .args(["--json", "--now", "2026-02-11T12:00:00Z"])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{bin}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout_json(&out).is_object(),
            "{bin} --json prints one object"
        );
        let recorded: i64 = db
            .conn()
            .query_row("SELECT count(*) FROM job_runs WHERE job = ?1 AND status = 'ok' AND exit_code = 0 AND now = '2026-02-11 12:00:00'", [&bin], |r| r.get(0))
            .unwrap();
        assert_eq!(recorded, 1, "{bin} recorded its run");
        // --help works and a bad flag is exit 2.
        bin_cmd(&bin).arg("--help").assert().success();
        assert_eq!(
            db.cmd(&bin)
                .arg("--no-such-flag")
                .output()
                .unwrap()
                .status
                .code(),
            Some(2)
        );
    }
    assert_eq!(
        db.count("SELECT count(*) FROM job_locks"),
        0,
        "leases released"
    );
}

#[test]
fn a_held_lease_makes_the_job_exit_75_and_a_dead_holders_lease_is_taken_over() {
    let db = TestDb::new();
    let conn = db.conn();
    conn.execute(
        "INSERT INTO job_locks (job, holder, pid, acquired_at, expires_at) VALUES ('polyperf-settle', 'other', 1, datetime('now'), datetime('now', '+10 minutes'))",
        [],
    )
    .unwrap();
    let out = db.cmd("polyperf-settle").arg("--json").output().unwrap();
    assert_eq!(out.status.code(), Some(75));
    assert_eq!(stdout_json(&out)["status"], "locked");
    assert_eq!(
        db.count(
            "SELECT count(*) FROM job_runs WHERE job = 'polyperf-settle' AND status = 'locked'"
        ),
        1
    );
    assert_eq!(
        db.count("SELECT count(*) FROM job_locks WHERE holder = 'other'"),
        1,
        "the live lease is untouched"
    );

    // The holder died: its lease expired.
    conn.execute("UPDATE job_locks SET expires_at = datetime('now', '-1 second') WHERE job = 'polyperf-settle'", []).unwrap();
    succeeds(db.cmd("polyperf-settle").arg("--json"));
    assert_eq!(db.count("SELECT count(*) FROM job_locks"), 0);
    // A dry run takes no lease and records nothing.
    let runs_before = db.count("SELECT count(*) FROM job_runs");
    db.cmd("polyperf-settle")
        .arg("--dry-run")
        .assert()
        .success();
    assert_eq!(db.count("SELECT count(*) FROM job_runs"), runs_before);
}

/// Issue 14 item 10: a job killed with SIGKILL while it holds its lease does not block the
/// next run for the lease's 10 minutes: the holder's pid is dead on this host, so the next run
/// takes over at once and closes the dead run's record as crashed.
#[test]
fn a_run_killed_while_holding_its_lease_is_taken_over_at_once_and_closed_as_crashed() {
    let db = TestDb::new();
    db.conn()
        .execute(
            "INSERT INTO outbox (kind, payload) VALUES ('text', '{\"text\": \"hello\"}')",
            [],
        )
        .unwrap();
    // A Bot API that accepts connections and never answers keeps the job inside its run.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut child = std::process::Command::new(bin_path("polyperf-telegram"))
        .args(["--once"])
        .env("POLYPERF_DB", &db.path)
        .env("POLYPERF_LOG_FORMAT", "json")
        .env("TELEGRAM_ENABLED", "true")
        .env("TELEGRAM_BOT_TOKEN", "123:abc")
        .env("TELEGRAM_CHAT_ID", "-100")
        .env(
            "TELEGRAM_API_BASE",
            format!("http://{}", silent.local_addr().unwrap()),
        )
        .env("POLYPERF_APIS_HTTP_TIMEOUT_SECS", "120")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while db.count("SELECT count(*) FROM job_runs WHERE status = 'running'") == 0 {
        assert!(Instant::now() < deadline, "the job never started its run");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(db.count("SELECT count(*) FROM job_locks"), 1);
    // SAFETY: SIGKILL to our own child, not reaped yet.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();

    let started = Instant::now();
    let out = db
        .cmd("polyperf-telegram")
        .args(["--once", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "the rerun did not take over: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let (status, finished, error): (String, Option<String>, String) = db
        .conn()
        .query_row(
            "SELECT status, finished_at, error FROM job_runs WHERE job = 'polyperf-telegram' ORDER BY id LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(status, "crashed", "{error}");
    assert!(finished.is_some());
    assert!(error.contains("died"), "{error}");
    assert_eq!(
        db.count("SELECT count(*) FROM job_runs WHERE status = 'running'"),
        0
    );
    assert_eq!(db.count("SELECT count(*) FROM job_locks"), 0);

    // A live holder's lease, or one from another host, still waits for expiry.
    let conn = db.conn();
    conn.execute(
        "INSERT INTO job_locks (job, holder, pid, host, acquired_at, expires_at)
         VALUES ('polyperf-settle', 'elsewhere', 999999999, 'another-host', datetime('now'), datetime('now', '+10 minutes'))",
        [],
    )
    .unwrap();
    let out = db.cmd("polyperf-settle").output().unwrap();
    assert_eq!(out.status.code(), Some(75), "a lease from another host");
    let me = polyperf::host::current();
    conn.execute(
        "UPDATE job_locks SET host = ?1, pid = ?2, pid_start = ?3",
        rusqlite::params![me.host, me.pid, me.start],
    )
    .unwrap();
    let out = db.cmd("polyperf-settle").output().unwrap();
    assert_eq!(out.status.code(), Some(75), "a live holder on this host");
    // The same pid, but another process (a reused pid): dead.
    conn.execute("UPDATE job_locks SET pid_start = 'old-boot:1'", [])
        .unwrap();
    succeeds(&mut db.cmd("polyperf-settle"));
}

/// The migration that rebuilds job_runs keeps every row and its AUTOINCREMENT counter (ids of
/// archived runs are never reused), and the new status 'crashed' is allowed.
#[test]
fn migrating_an_old_database_keeps_job_runs_and_their_id_counter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let v1 = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/migrations/0001_init.sql"),
        )
        .unwrap();
        conn.execute_batch(&v1).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute_batch(
            "INSERT INTO job_runs (id, job, started_at, status) VALUES (500, 'polyperf-settle', '2026-01-01 00:00:00', 'ok');
             INSERT INTO job_runs (id, job, started_at, status) VALUES (7, 'polyperf-adjust', '2026-01-01 00:00:00', 'running');
             DELETE FROM job_runs WHERE id = 500;",
        )
        .unwrap();
    }
    let conn = polyperf::db::open(&path).unwrap();
    let rows: Vec<(i64, String)> = conn
        .prepare("SELECT id, status FROM job_runs")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows, vec![(7, "running".to_string())]);
    conn.execute(
        "INSERT INTO job_runs (job, started_at, status) VALUES ('x', '2026-01-02 00:00:00', 'crashed')",
        [],
    )
    .unwrap();
    assert_eq!(
        conn.last_insert_rowid(),
        501,
        "an archived run's id was reused"
    );
    assert!(conn
        .execute(
            "INSERT INTO job_runs (job, started_at, status) VALUES ('x', '2026-01-02 00:00:00', 'bogus')",
            [],
        )
        .is_err());
}

#[test]
fn bad_configuration_is_exit_2_naming_the_key_and_secrets_are_redacted() {
    let db = TestDb::new();
    let out = db
        .cmd("polyperf-settle")
        .env("SETTLEMENT_BATCH_SIZE", "lots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SETTLEMENT_BATCH_SIZE"));
    let config = db.dir.path().join("polyperf.toml");
    std::fs::write(&config, "[adjust]\nautonomy = \"reckless\"\n").unwrap();
    let out = db
        .cmd("polyperf")
        .arg("--config")
        .arg(&config)
        .arg("config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("adjust.autonomy"));

    let out = succeeds(
        db.cmd("polyperf")
            .args(["config", "--json"])
            .env("OPENAI_API_KEY", "sk-very-secret-key")
            .env("TELEGRAM_BOT_TOKEN", "123:token-secret"),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("sk-very-secret-key") && !text.contains("token-secret"),
        "{text}"
    );
    assert_eq!(
        stdout_json(&out)["llm"]["api_key"],
        polyperf::config::REDACTED
    );
}

#[test]
fn status_params_pause_and_resume_work_for_the_trader() {
    let db = TestDb::new();
    let lines: Vec<_> = (0..6).map(decision_json).collect();
    let file = write_jsonl(db.dir.path(), "d.jsonl", &lines);
    db.cmd("polyperf").arg("log").arg(&file).assert().success();

    let status = stdout_json(
        &db.cmd("polyperf")
            .args(["status", "--json", "--now", "2026-02-11T12:00:00Z"])
            .output()
            .unwrap(),
    );
    assert_eq!(status["schema_version"], polyperf::db::SCHEMA_VERSION);
    assert_eq!(status["trades"]["total"], 6);
    assert_eq!(status["trades"]["pending"], 6);
    assert_eq!(status["trades"]["due"], 6);
    assert_eq!(status["trading_paused"], false);
    assert_eq!(status["pending_approvals"], 0);
    assert!(status["jobs"]["settle"].is_null());

    db.cmd("polyperf")
        .args(["pause", "--reason", "manual check", "--by", "ann"])
        .assert()
        .success();
    let status = stdout_json(
        &db.cmd("polyperf")
            .args(["status", "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(status["trading_paused"], true);
    assert_eq!(status["control"]["reason"], "manual check");
    assert_eq!(status["control"]["by"], "ann");
    db.cmd("polyperf")
        .args(["resume", "--by", "ann"])
        .assert()
        .success();
    let status = stdout_json(
        &db.cmd("polyperf")
            .args(["status", "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(status["trading_paused"], false);
    assert_eq!(db.count("SELECT count(*) FROM control_events"), 2);
    assert_eq!(
        db.count("SELECT count(*) FROM outbox WHERE kind IN ('pause', 'resume')"),
        2
    );

    let params = stdout_json(
        &db.cmd("polyperf")
            .args(["params", "get", "bot_confidence_threshold", "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(params["value"], "0.75");
    // Out of bounds: exit 2, nothing changed; in bounds: applied with one history row.
    let out = db
        .cmd("polyperf")
        .args([
            "params",
            "set",
            "bot_confidence_threshold",
            "0.99",
            "--reason",
            "test",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("outside its bounds"));
    for junk in ["NaN", "inf", "-0.5", "abc"] {
        let out = db
            .cmd("polyperf")
            .args([
                "params",
                "set",
                "bot_confidence_threshold",
                junk,
                "--reason",
                "test",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{junk}");
    }
    db.cmd("polyperf")
        .args([
            "params",
            "set",
            "bot_confidence_threshold",
            "0.80",
            "--reason",
            "test",
        ])
        .assert()
        .success();
    assert_eq!(db.count("SELECT count(*) FROM parameter_history WHERE approval_method = 'cli' AND new_value = '0.80'"), 1);
    let history_id = db.count("SELECT id FROM parameter_history");
    db.cmd("polyperf")
        .args(["params", "rollback", &history_id.to_string()])
        .assert()
        .success();
    assert_eq!(db.count("SELECT count(*) FROM parameter_history WHERE approval_method = 'rollback' AND new_value = '0.75'"), 1);
    let value: String = db
        .conn()
        .query_row(
            "SELECT value FROM parameters WHERE name = 'bot_confidence_threshold'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(value, "0.75");
}

/// One process appends decisions one at a time (as a trader shelling out to `polyperf log`
/// would) while this process holds ~100 ms write transactions in a loop for 10 s: every
/// decision is stored and the trader never sees "database is locked".
#[test]
fn the_trader_never_sees_database_is_locked_while_a_job_writes() {
    let db = TestDb::new();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let blocker = {
        let (path, stop) = (db.path.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut conn = polyperf::db::open(&path).unwrap();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let tx = polyperf::db::write_tx(&mut conn).unwrap();
                tx.execute(
                    "INSERT OR REPLACE INTO telegram_state (key, value) VALUES ('blocker', ?1)",
                    [n.to_string()],
                )
                .unwrap();
                std::thread::sleep(Duration::from_millis(100));
                tx.commit().unwrap();
                // As every polyperf job does between write transactions (db::yield_to_writers):
                // SQLite has no queue of waiting writers, so a process that re-takes the lock
                // the instant it releases it would starve every other writer.
                polyperf::db::yield_to_writers();
                n += 1;
            }
            n
        })
    };
    // The trader: one long-lived process reading JSON Lines from a pipe would batch them, so
    // the trader here runs `polyperf log` once per decision, each its own transaction.
    let started = Instant::now();
    let mut logged = 0;
    while started.elapsed() < Duration::from_secs(10) {
        let mut child = std::process::Command::new(bin_path("polyperf"))
            .env("POLYPERF_DB", &db.path)
            .env("POLYPERF_LOG_FORMAT", "json")
            .args(["--json", "log", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(decision_json(logged).to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "decision {logged} failed: {stderr}");
        assert!(!stderr.contains("locked"), "{stderr}");
        logged += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let blocking_transactions = blocker.join().unwrap();
    assert!(
        blocking_transactions >= 50,
        "the blocker held the lock {blocking_transactions} times"
    );
    assert!(logged >= 20, "only {logged} decisions in 10 s");
    assert_eq!(db.count("SELECT count(*) FROM trades"), logged as i64);
}

/// Migration 0005: the exposure parameter always held a fraction and is now named so; its
/// value, bounds and the proposals still to decide follow it, while parameter_history and decided
/// proposals keep the name they were written under.
#[test]
fn the_exposure_parameter_is_renamed_a_fraction_and_keeps_its_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("performance.db");
    let mut conn = rusqlite::Connection::open(&path).unwrap();
    let before = polyperf::db::migration_names()
        .position(|n| n == "0005_exposure_fraction")
        .unwrap() as i64;
    polyperf::db::migrate_to(&mut conn, before).unwrap();
    conn.execute_batch(
        "UPDATE parameters SET value = '0.40' WHERE name = 'bot_max_exposure_percent';
         INSERT INTO parameter_history (timestamp, parameter_name, old_value, new_value, reason,
                                        approval_method)
         VALUES ('2026-02-10 10:00:00', 'bot_max_exposure_percent', '0.50', '0.40', 'by hand', 'cli');
         INSERT INTO proposals (created_at, parameter_name, current_value, proposed_value, status)
         VALUES ('2026-02-10 11:00:00', 'bot_max_exposure_percent', '0.40', '0.42', 'pending'),
                ('2026-02-10 09:00:00', 'bot_max_exposure_percent', '0.50', '0.60', 'rejected');",
    )
    .unwrap();
    polyperf::db::migrate(&mut conn).unwrap();
    let param: (String, String, String) = conn
        .query_row(
            "SELECT value, min, max FROM parameters WHERE name = 'bot_max_exposure_fraction'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(param, ("0.40".into(), "0.05".into(), "0.80".into()));
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        count("SELECT count(*) FROM parameters WHERE name LIKE '%exposure_percent'"),
        0
    );
    assert_eq!(
        count("SELECT count(*) FROM proposals WHERE parameter_name = 'bot_max_exposure_fraction' AND status = 'pending'"),
        1
    );
    // Decided proposals and the history follow the name: one name for every reader.
    assert_eq!(
        count("SELECT count(*) FROM proposals WHERE parameter_name = 'bot_max_exposure_fraction' AND status = 'rejected'"),
        1
    );
    assert_eq!(
        count("SELECT count(*) FROM parameter_history WHERE parameter_name = 'bot_max_exposure_fraction' AND new_value = '0.40'"),
        1
    );
    assert_eq!(
        count("SELECT (SELECT count(*) FROM parameter_history WHERE parameter_name LIKE '%exposure_percent')
                    + (SELECT count(*) FROM proposals WHERE parameter_name LIKE '%exposure_percent')"),
        0
    );
    // The settings' bounds use the new name, so `params set` accepts it.
    let settings = polyperf::config::Settings::default();
    assert!(settings
        .adjust
        .parameters
        .contains_key("bot_max_exposure_fraction"));
    // The change made under the old name stays reversible (0.40 back to 0.50).
    let history_id: i64 = conn
        .query_row(
            "SELECT id FROM parameter_history WHERE parameter_name = 'bot_max_exposure_fraction'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    drop(conn);
    let out = crate::common::bin_cmd("polyperf")
        .arg("--db")
        .arg(&path)
        .args(["params", "rollback", &history_id.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    let value: String = conn
        .query_row(
            "SELECT value FROM parameters WHERE name = 'bot_max_exposure_fraction'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(value, "0.50");
}

/// A job's figures appear once (stdout, in the job's own order, the important first), not
/// again in its log lines; under --json the same order.
#[test]
fn a_jobs_figures_are_printed_once_the_important_first() {
    let db = TestDb::new();
    let out = succeeds(&mut db.cmd("polyperf-settle"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let keys: Vec<&str> = stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        keys[..4],
        ["settled", "wins", "losses", "profit"],
        "{stdout}"
    );
    for key in &keys {
        assert_eq!(stdout.matches(key).count(), 1, "{key} twice in {stdout}");
        assert!(
            !stderr.contains(&format!("\"{key}\"")),
            "{key} in the log: {stderr}"
        );
    }
    // Not a terminal: the log is JSON lines, and says the run finished.
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with('{') && l.contains("job finished")),
        "{stderr}"
    );
    let json = String::from_utf8_lossy(
        &db.cmd("polyperf-settle")
            .arg("--json")
            .output()
            .unwrap()
            .stdout,
    )
    .to_string();
    assert!(
        json.starts_with("{\"settled\":0,\"wins\":0,\"losses\":0,\"profit\""),
        "{json}"
    );
    // `status` shows a job's last figures in the same order.
    let status =
        String::from_utf8_lossy(&succeeds(db.cmd("polyperf").arg("status")).stdout).to_string();
    let settle = status
        .lines()
        .find(|l| l.trim_start().starts_with("settle "))
        .unwrap_or_else(|| panic!("{status}"));
    assert!(
        settle.contains("  settled=0 wins=0 losses=0 profit=0.00 USDC "),
        "{settle}"
    );
}

/// An operator's command prints its answer and logs only warnings: migrating an older database
/// on the way is not news (`polyperf evaluate` printed 30 log lines around its answer). Asked
/// for with `--verbose`, the info lines come back. A misspelt setting in the environment
/// (`TELEGRAM_ENABLE=true`) is warned about, naming the setting it resembles, by commands and
/// jobs alike.
#[test]
fn commands_log_only_warnings_unless_asked_and_misspelt_settings_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let older = || {
        let _ = std::fs::remove_file(&path);
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        polyperf::db::migrate_to(&mut conn, polyperf::db::SCHEMA_VERSION - 1).unwrap();
    };
    older();
    let out = succeeds(
        bin_cmd("polyperf")
            .arg("--db")
            .arg(&path)
            .args(["status", "--json"]),
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "a quiet command");
    older();
    let out = succeeds(
        bin_cmd("polyperf")
            .arg("--db")
            .arg(&path)
            .env("POLYPERF_LOG_FORMAT", "human")
            .args(["status", "--json", "--verbose"]),
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("applied migration"),
        "--verbose logs at info: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for bin in ["polyperf", "polyperf-settle"] {
        let mut cmd = bin_cmd(bin);
        cmd.arg("--db").arg(&path).env("TELEGRAM_ENABLE", "true");
        if bin == "polyperf" {
            cmd.arg("status");
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{bin}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("TELEGRAM_ENABLE") && stderr.contains("did you mean TELEGRAM_ENABLED"),
            "{bin}: {stderr}"
        );
    }
}
