//! polyperf-cleanup as a process: against a real small filesystem (a 16 MiB tmpfs mounted by the
//! test when it runs as root; otherwise thresholds set above the current free space), the
//! routine prune, the emergency sequence, offload of verified archives, the failure report.

use std::path::{Path, PathBuf};
use std::process::Command;

use polyperf::cleanup::statvfs;
use rusqlite::{params, Connection};

use crate::common::{ok_json, stdout_json, succeeds, TestDb};

const NOW: &str = "2026-03-30T00:00:00Z";

/// A tmpfs mounted at a directory; unmounted on drop.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(dir: &Path, size_mib: u32) -> Result<Mount, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("running mount: {e}"))?;
        if out.status.success() {
            Ok(Mount(dir.to_path_buf()))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A database (and archive dir) on a small tmpfs when one can be mounted, else in a temp dir.
/// Field order matters: the mount is dropped (unmounted) before the temp dir is removed.
struct SmallFs {
    mount: Option<Mount>,
    db: TestDb,
    archive: PathBuf,
}

impl SmallFs {
    fn new(size_mib: u32) -> SmallFs {
        let dir = tempfile::tempdir().unwrap();
        let fs = dir.path().join("fs");
        let mount = match Mount::tmpfs(&fs, size_mib) {
            Ok(m) => Some(m),
            Err(why) => {
                eprintln!(
                    "cannot mount a tmpfs ({why}); falling back to thresholds above the free space"
                );
                None
            }
        };
        let path = fs.join("performance.db");
        polyperf::db::create(&path).unwrap();
        let archive = fs.join("archive");
        SmallFs {
            mount,
            db: TestDb { dir, path },
            archive,
        }
    }

    /// polyperf-cleanup on this filesystem, free space wanted: `min_free_bytes`.
    fn cleanup(&self, min_free_bytes: u64) -> assert_cmd::Command {
        let mut cmd = cleanup(&self.db, min_free_bytes);
        cmd.env("POLYPERF_ARCHIVE_DIR", &self.archive);
        cmd
    }

    fn free(&self) -> u64 {
        statvfs(&self.db.path).unwrap().free_bytes
    }
}

/// polyperf-cleanup at [`NOW`] with `--json`, wanting `min_free_bytes` free (and no percentage).
fn cleanup(db: &TestDb, min_free_bytes: u64) -> assert_cmd::Command {
    let mut cmd = db.cmd("polyperf-cleanup");
    cmd.args(["--now", NOW, "--json"])
        .env("POLYPERF_MIN_FREE_BYTES", min_free_bytes.to_string())
        .env("POLYPERF_MIN_FREE_PERCENT", "0");
    cmd
}

/// Pending decisions (never to be touched), plus proposals, reflections and parameter history.
fn seed_keepers(conn: &Connection, pending: usize) {
    for i in 0..pending {
        conn.execute(
            "INSERT INTO trades (timestamp, market_slug, action, confidence, position_size,
                                 btc_price, decision_id)
             VALUES ('2026-01-10 10:00:00', 'btc-updown-15m-1768039200', 'YES', 0.8, '5.00',
                     '66940.0', ?1)",
            params![format!("pending-{i}")],
        )
        .unwrap();
    }
    conn.execute_batch(
        "INSERT INTO reflections (timestamp, trigger_type) VALUES ('2026-01-01 00:00:00', 'daily');
         INSERT INTO proposals (created_at, parameter_name, current_value, proposed_value)
             VALUES ('2026-01-01 00:00:00', 'bot_confidence_threshold', '0.75', '0.8');
         INSERT INTO parameter_history (timestamp, parameter_name, old_value, new_value, reason,
                                        approval_method)
             VALUES ('2026-01-01 00:00:00', 'bot_confidence_threshold', '0.7', '0.75', 'x', 'cli');",
    )
    .unwrap();
}

fn keepers(conn: &Connection) -> (i64, i64, i64, i64) {
    let n = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    (
        n("SELECT count(*) FROM trades WHERE settlement_status = 'pending'"),
        n("SELECT count(*) FROM reflections"),
        n("SELECT count(*) FROM proposals"),
        n("SELECT count(*) FROM parameter_history"),
    )
}

/// `n` settled decisions between `days_ago_from` and `days_ago_to` days before NOW.
fn seed_settled(conn: &Connection, n: usize, days_ago: i64) {
    for i in 0..n {
        conn.execute(
            "INSERT INTO trades (timestamp, market_slug, action, confidence, position_size,
                                 btc_price, decision_id, settlement_status, actual_outcome,
                                 profit_loss, is_win, settled_at, reasoning)
             VALUES (datetime('2026-03-30', ?1, ?2), 'btc-updown-15m-1770805800', 'YES', 0.8,
                     '5.00', '66940.0', ?3, 'settled', 'UP', '4.61', 1,
                     datetime('2026-03-30', ?1, ?2, '+20 minutes'), ?4)",
            params![
                format!("-{days_ago} days"),
                format!("-{} minutes", i * 15),
                format!("settled-{days_ago}-{i}"),
                "r".repeat(200),
            ],
        )
        .unwrap();
    }
}

/// ~5 MiB of finished settle runs (1,300 of 4,000 bytes of `fill` each), a second apart from
/// `start` and each finished an hour after `start`, in one transaction.
fn five_mib_of_job_runs(conn: &Connection, start: &str, fill: char) {
    let blob = fill.to_string().repeat(4000);
    conn.execute_batch("BEGIN").unwrap();
    for i in 0..1300 {
        conn.execute(
            "INSERT INTO job_runs (job, started_at, finished_at, status, stats)
             VALUES ('polyperf-settle', datetime(?1, ?2), datetime(?1, '+1 hour'), 'ok', ?3)",
            params![start, format!("+{i} seconds"), blob],
        )
        .unwrap();
    }
    conn.execute_batch("COMMIT").unwrap();
}

#[test]
fn emergency_stops_after_the_checkpoint_when_that_frees_enough() {
    let fs = SmallFs::new(16);
    if fs.mount.is_none() {
        eprintln!("skipped: needs a small filesystem to grow a real WAL against");
        return;
    }
    // Keep a connection open so the WAL is not removed when the last connection closes.
    let conn = fs.db.conn();
    seed_keepers(&conn, 20);
    let keep = keepers(&conn);
    // ~5 MiB of recent job runs in one transaction: the WAL grows to that size and stays there.
    five_mib_of_job_runs(&conn, "2026-03-29 10:00:00", 'x');
    let (_, wal) = polyperf::db::file_sizes(&fs.db.path);
    assert!(wal > 4 << 20, "WAL is {wal} bytes");
    let free = fs.free();
    // Under the threshold now; a truncated WAL puts it well above.
    let min = free + (1 << 20);
    let out = fs
        .cleanup(min)
        .env("POLYPERF_CLEANUP_WARNING_FACTOR", "1.2")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stats = stdout_json(&out);
    assert_eq!(stats["emergency"], true, "{stats}");
    assert_eq!(stats["steps"], serde_json::json!(["checkpoint"]), "{stats}");
    assert!(
        stats["free_bytes_before"].as_u64().unwrap() < min,
        "{stats}"
    );
    assert!(
        stats["free_bytes_after"].as_u64().unwrap() as f64 > min as f64 * 1.2,
        "{stats}"
    );
    assert_eq!(stats["pruned_rows"], 0, "{stats}");
    assert!(stats["wal_bytes"].as_u64().unwrap() < 1 << 20, "{stats}");
    assert!(stderr.contains("disk recovered"), "{stderr}");
    assert_eq!(keepers(&conn), keep);
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM job_runs WHERE job = 'polyperf-settle'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1300, "stopping early means the prune never ran");
    let disk: String = conn
        .query_row(
            "SELECT payload FROM outbox WHERE kind = 'disk' AND dedup_key = 'disk:2026-03-30 00:00:00'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(disk.contains("\"level\":\"recovered\""), "{disk}");
}

#[test]
fn emergency_runs_every_step_in_order_then_fails_saying_what_takes_the_space() {
    let fs = SmallFs::new(16);
    let conn = fs.db.conn();
    seed_keepers(&conn, 30);
    let keep = keepers(&conn);
    // Old settled decisions the emergency archive (7 days) moves out; recent job runs only the
    // aggressive prune (1 day) removes.
    seed_settled(&conn, 200, 10);
    conn.execute_batch(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
         INSERT INTO job_runs (job, started_at, finished_at, status)
         SELECT 'polyperf-settle', datetime('2026-03-25', '+' || i || ' minutes'),
                datetime('2026-03-25', '+' || i || ' minutes'), 'ok' FROM n;",
    )
    .unwrap();
    drop(conn);
    let min = match &fs.mount {
        // Something else (not ours) fills the filesystem: nothing the job may do helps.
        Some(_) => {
            let filler = fs.db.path.parent().unwrap().join("someone-elses-file");
            std::fs::write(&filler, vec![7u8; 12 << 20]).unwrap();
            fs.free() + (2 << 20)
        }
        None => fs.free() * 2,
    };
    let out = fs.cleanup(min).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("taking the space"), "{stderr}");
    assert!(stderr.contains("biggest tables"), "{stderr}");
    // Issue 14 item 12: the error is said once on stderr (besides the JSON log line), and
    // --json prints the steps and figures gathered along with it.
    let said = stderr
        .lines()
        .filter(|l| l.starts_with("polyperf-cleanup:") && l.contains("taking the space"))
        .count();
    assert_eq!(said, 1, "{stderr}");
    let json = stdout_json(&out);
    assert_eq!(json["status"], "failed", "{json}");
    assert!(json["error"].as_str().unwrap().contains("taking the space"));
    assert_eq!(
        json["steps"],
        serde_json::json!(["checkpoint", "prune", "archive", "vacuum"]),
        "{json}"
    );
    assert_eq!(json["archived_rows"], 200, "{json}");
    assert_eq!(json["below_threshold"], true);
    assert!(json["free_bytes_after"].as_u64().is_some(), "{json}");
    let conn = fs.db.conn();
    assert_eq!(
        keepers(&conn),
        keep,
        "pending decisions and the rest are untouched"
    );
    let payload: String = conn
        .query_row(
            "SELECT payload FROM outbox WHERE kind = 'disk' AND dedup_key = 'disk:2026-03-30 00:00:00'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let payload: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(payload["level"], "critical");
    assert_eq!(
        payload["steps"],
        serde_json::json!(["checkpoint", "prune", "archive", "vacuum"]),
        "{payload}"
    );
    assert_eq!(payload["archived_rows"], 200, "{payload}");
    assert_eq!(
        payload["pruned_rows"], 49,
        "the latest run of a job stays: {payload}"
    );
    assert!(payload["summary"]
        .as_str()
        .unwrap()
        .contains("taking the space"));
    // The archived rows exist in a verified file before they left the database.
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM trades WHERE settlement_status = 'settled'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0);
    let archived: i64 = conn
        .query_row(
            "SELECT coalesce(sum(rows), 0) FROM archives WHERE table_name = 'trades' AND deleted_at IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(archived, 200);
    let run: (String, Option<String>) = conn
        .query_row(
            "SELECT status, error FROM job_runs WHERE job = 'polyperf-cleanup'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(run.0, "failed");
    assert!(run.1.unwrap().contains("taking the space"));
    let recorded: String = conn
        .query_row(
            "SELECT stats FROM job_runs WHERE job = 'polyperf-cleanup'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(recorded.contains("\"archived_rows\":200"), "{recorded}");
}

#[test]
fn emergency_stops_after_the_prune_when_that_frees_enough() {
    let fs = SmallFs::new(16);
    if fs.mount.is_none() {
        eprintln!("skipped: needs a small filesystem to measure what the prune gives back");
        return;
    }
    {
        let conn = fs.db.conn();
        seed_keepers(&conn, 20);
        // Settled decisions the archive step would move: it must not get that far.
        seed_settled(&conn, 50, 10);
        // ~5 MiB of job runs two days old: past the emergency prune's one day, within the
        // routine's 30 days.
        five_mib_of_job_runs(&conn, "2026-03-28 00:00:00", 'y');
    }
    let keep = keepers(&fs.db.conn());
    let free = fs.free();
    let min = free + (2 << 20);
    let out = fs
        .cleanup(min)
        .env("POLYPERF_CLEANUP_WARNING_FACTOR", "1.0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stats = stdout_json(&out);
    assert_eq!(stats["emergency"], true, "{stats}");
    assert_eq!(
        stats["steps"],
        serde_json::json!(["checkpoint", "prune"]),
        "{stats}"
    );
    assert_eq!(stats["pruned_rows"], 1299, "the latest run stays: {stats}");
    assert_eq!(stats["archived_rows"], 0, "{stats}");
    assert!(
        stats["free_bytes_after"].as_u64().unwrap() >= min,
        "{stats}"
    );
    let conn = fs.db.conn();
    assert_eq!(keepers(&conn), keep);
    let settled: i64 = conn
        .query_row(
            "SELECT count(*) FROM trades WHERE settlement_status = 'settled'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(settled, 50, "the archive step never ran");
    drop(conn);

    // Right after, with space back: nothing to do.
    let out = succeeds(
        fs.cleanup(min)
            .env("POLYPERF_CLEANUP_WARNING_FACTOR", "1.0"),
    );
    let again = stdout_json(&out);
    assert_eq!(again["emergency"], false, "{again}");
    assert_eq!(again["pruned_rows"], 0, "{again}");
}

#[test]
fn routine_prunes_only_past_retention_rows_and_a_second_run_does_nothing() {
    let db = TestDb::new();
    let conn = db.conn();
    seed_keepers(&conn, 5);
    let keep = keepers(&conn);
    // The trade alerts of the pending decisions are pending outbox rows: kept whatever their age.
    conn.execute_batch(
        "UPDATE outbox SET created_at = '2026-01-01 00:00:00';
         INSERT INTO outbox (id, created_at, kind, payload, status) VALUES
           (101, '2026-02-10 00:00:00', 'text', '{}', 'sent'),     -- 48 days: pruned
           (102, '2026-03-25 00:00:00', 'text', '{}', 'sent'),     -- 5 days: kept
           (103, '2026-02-10 00:00:00', 'text', '{}', 'failed'),   -- failed: kept (evidence)
           (104, '2026-02-10 00:00:00', 'text', '{}', 'pending');  -- pending: kept
         INSERT INTO job_runs (id, job, started_at, finished_at, status) VALUES
           (201, 'polyperf-settle', '2026-02-10 00:00:00', '2026-02-10 00:00:01', 'ok'),     -- pruned
           (202, 'polyperf-settle', '2026-02-10 00:10:00', '2026-02-10 00:10:01', 'failed'), -- kept
           (203, 'polyperf-settle', '2026-03-29 00:00:00', NULL, 'running'),                 -- kept
           (204, 'polyperf-reflect', '2026-02-01 00:00:00', '2026-02-01 00:00:01', 'ok');    -- latest: kept
         INSERT INTO prices (symbol, open_time_ms, open, high, low, close, fetched_at) VALUES
           ('BTCUSDT', 1772323200000, '1', '1', '1', '1', '2026-03-01 00:00:00'),  -- 2026-03-01: pruned
           ('BTCUSDT', 1774483200000, '1', '1', '1', '1', '2026-03-26 00:00:00');  -- 2026-03-26: kept
         INSERT INTO markets (slug, window_start, window_end, closed, outcome, fetched_at) VALUES
           ('old-resolved', '2026-03-01 00:00:00', '2026-03-01 00:15:00', 1, 'UP', '2026-03-01 00:20:00'),
           ('btc-updown-15m-1768039200', '2026-01-10 10:00:00', '2026-01-10 10:15:00', 1, 'UP', '2026-01-10 10:20:00'),
           ('old-open', '2026-03-01 00:00:00', '2026-03-01 00:15:00', 0, NULL, '2026-03-01 00:20:00'),
           ('recent', '2026-03-29 00:00:00', '2026-03-29 00:15:00', 1, 'DOWN', '2026-03-29 00:20:00');",
    )
    .unwrap();
    let run = || ok_json(&mut cleanup(&db, 0));
    // A dry run counts and changes nothing.
    let out = succeeds(cleanup(&db, 0).arg("--dry-run"));
    assert_eq!(stdout_json(&out)["pruned_rows"], 4);
    assert_eq!(db.count("SELECT count(*) FROM outbox WHERE id = 101"), 1);

    let first = run();
    assert_eq!(first["emergency"], false, "{first}");
    assert_eq!(first["steps"], serde_json::json!([]));
    assert_eq!(
        first["pruned"],
        serde_json::json!({"outbox": 1, "job_runs": 1, "prices": 1, "markets": 1}),
        "{first}"
    );
    assert_eq!(first["pruned_rows"], 4);
    for key in [
        "free_bytes_before",
        "free_bytes_after",
        "archived_rows",
        "offloaded_files",
    ] {
        assert!(first.get(key).is_some(), "{key} missing: {first}");
    }
    let ids = |sql: &str| -> Vec<String> {
        let conn = db.conn();
        let mut stmt = conn.prepare(sql).unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
        rows.map(Result::unwrap).collect()
    };
    assert_eq!(
        ids("SELECT CAST(id AS TEXT) FROM outbox WHERE id > 100 ORDER BY id"),
        ["102", "103", "104"]
    );
    assert_eq!(
        ids("SELECT CAST(id AS TEXT) FROM job_runs WHERE id BETWEEN 200 AND 204 ORDER BY id"),
        ["202", "203", "204"]
    );
    assert_eq!(
        ids("SELECT CAST(open_time_ms AS TEXT) FROM prices"),
        ["1774483200000"]
    );
    assert_eq!(
        ids("SELECT slug FROM markets ORDER BY slug"),
        ["btc-updown-15m-1768039200", "old-open", "recent"]
    );
    assert_eq!(keepers(&db.conn()), keep);
    assert_eq!(
        db.count("SELECT count(*) FROM outbox WHERE kind = 'disk'"),
        0
    );

    let second = run();
    assert_eq!(second["pruned_rows"], 0, "{second}");
    assert_eq!(second["emergency"], false);
    assert_eq!(keepers(&db.conn()), keep);
}

#[test]
fn offload_moves_verified_archives_only_and_keeps_them_restorable() {
    let db = TestDb::new();
    let archive = db.dir.path().join("archive");
    let offload = db.dir.path().join("offload");
    {
        let conn = db.conn();
        seed_keepers(&conn, 3);
        seed_settled(&conn, 100, 40);
        seed_settled(&conn, 100, 50);
        seed_settled(&conn, 100, 60);
    }
    succeeds(db.cmd("polyperf-archive").args(["--now", NOW, "--json"]));
    succeeds(db.cmd("polyperf").args(["archive", "verify"]));
    let files: Vec<String> = {
        let conn = db.conn();
        let mut stmt = conn
            .prepare("SELECT file_name FROM archives ORDER BY created_at, id")
            .unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.map(Result::unwrap).collect()
    };
    assert_eq!(files.len(), 3, "{files:?}");
    // The oldest file was verified but is damaged now; the next is not verified. Both must stay
    // where they are; only the third moves.
    let mut damaged = std::fs::OpenOptions::new()
        .append(true)
        .open(archive.join(&files[0]))
        .unwrap();
    std::io::Write::write_all(&mut damaged, b"garbage").unwrap();
    drop(damaged);
    db.conn()
        .execute(
            "UPDATE archives SET verified_at = NULL WHERE file_name = ?1",
            [&files[1]],
        )
        .unwrap();
    let keep = keepers(&db.conn());

    let min = statvfs(db.dir.path()).unwrap().free_bytes * 2;
    let out = cleanup(&db, min)
        .env("POLYPERF_CLEANUP_ARCHIVE_OFFLOAD_DIR", &offload)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("taking the space"), "{stderr}");
    let conn = db.conn();
    let payload: String = conn
        .query_row("SELECT payload FROM outbox WHERE kind = 'disk'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let payload: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(
        payload["steps"],
        serde_json::json!(["checkpoint", "prune", "archive", "vacuum", "offload"])
    );
    assert_eq!(payload["offloaded_files"], 1, "{payload}");
    assert!(archive.join(&files[0]).exists(), "damaged file kept");
    assert!(archive.join(&files[1]).exists(), "unverified file kept");
    assert!(!offload.join(&files[0]).exists());
    assert!(!offload.join(&files[1]).exists());
    assert!(!archive.join(&files[2]).exists(), "verified file moved");
    assert!(offload.join(&files[2]).exists());
    let to: Option<String> = conn
        .query_row(
            "SELECT offloaded_to FROM archives WHERE file_name = ?1",
            [&files[2]],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        to.map(PathBuf::from),
        Some(offload.join(&files[2])),
        "manifest records where it went"
    );
    assert_eq!(keepers(&conn), keep);

    // Still verifiable where it went, and restorable from there.
    let out = db
        .cmd("polyperf")
        .args(["archive", "verify", "--json"])
        .arg(offload.join(&files[2]))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let before: i64 = conn
        .query_row("SELECT count(*) FROM trades", [], |r| r.get(0))
        .unwrap();
    let out = succeeds(
        db.cmd("polyperf")
            .args(["archive", "restore", "--json"])
            .arg(offload.join(&files[2])),
    );
    assert_eq!(stdout_json(&out)["inserted"], 100);
    let after: i64 = conn
        .query_row("SELECT count(*) FROM trades", [], |r| r.get(0))
        .unwrap();
    assert_eq!(after, before + 100);
}

#[test]
fn offload_finishes_after_a_crash_and_never_trusts_a_damaged_copy() {
    let db = TestDb::new();
    let archive = db.dir.path().join("archive");
    let offload = db.dir.path().join("offload");
    {
        let conn = db.conn();
        seed_settled(&conn, 50, 40);
        seed_settled(&conn, 50, 50);
    }
    succeeds(db.cmd("polyperf-archive").args(["--now", NOW]));
    assert!(db
        .cmd("polyperf")
        .args(["archive", "verify"])
        .output()
        .unwrap()
        .status
        .success());
    let files: Vec<String> = {
        let conn = db.conn();
        let mut stmt = conn
            .prepare("SELECT file_name FROM archives ORDER BY id")
            .unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.map(Result::unwrap).collect()
    };
    assert_eq!(files.len(), 2);
    // As if a run died after recording each copy but before deleting the originals: the first
    // copy is intact, the second damaged.
    std::fs::create_dir_all(&offload).unwrap();
    for (i, f) in files.iter().enumerate() {
        let mut bytes = std::fs::read(archive.join(f)).unwrap();
        if i == 1 {
            bytes.truncate(bytes.len() / 2);
        }
        std::fs::write(offload.join(f), bytes).unwrap();
        db.conn()
            .execute(
                "UPDATE archives SET offloaded_to = ?1 WHERE file_name = ?2",
                params![offload.join(f).to_string_lossy(), f],
            )
            .unwrap();
    }
    // Only the offload step can free space here, and it must not be enough: every step runs.
    let min = statvfs(db.dir.path()).unwrap().free_bytes * 2;
    let out = cleanup(&db, min)
        .env("POLYPERF_CLEANUP_ARCHIVE_OFFLOAD_DIR", &offload)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !archive.join(&files[0]).exists(),
        "intact copy: original removed"
    );
    assert!(offload.join(&files[0]).exists());
    // The damaged copy is replaced by a fresh verified one before the original goes.
    let copy = std::fs::read(offload.join(&files[1])).unwrap();
    let sha: String = db
        .conn()
        .query_row(
            "SELECT sha256 FROM archives WHERE file_name = ?1",
            [&files[1]],
            |r| r.get(0),
        )
        .unwrap();
    use sha2::Digest;
    assert_eq!(format!("{:x}", sha2::Sha256::digest(&copy)), sha);
    let out = db
        .cmd("polyperf")
        .args(["archive", "verify"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A disk warning (free space above the threshold but under it × warning_factor) tells people
/// the free space in MiB/GiB with its percent, not as a count of bytes (issue 17, units).
#[test]
fn a_disk_warning_says_the_free_space_in_units_people_read() {
    let db = TestDb::new();
    let free = statvfs(&db.path).unwrap().free_bytes;
    // Free space is ~1.1 × the threshold: under 1.5 × it (a warning), above it (no emergency).
    let out = cleanup(&db, free / 11 * 10)
        .env("POLYPERF_CLEANUP_WARNING_FACTOR", "1.5")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout_json(&out)["emergency"], false);
    let payload: String = db
        .conn()
        .query_row("SELECT payload FROM outbox WHERE kind = 'disk'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let payload: serde_json::Value = serde_json::from_str(&payload).unwrap();
    let summary = payload["summary"].as_str().unwrap();
    assert!(summary.contains("iB ("), "{summary}");
    assert!(
        summary.contains("% free) is under the warning level"),
        "{summary}"
    );
    assert!(!summary.contains("bytes"), "{summary}");
}
