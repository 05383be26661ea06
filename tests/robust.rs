//! Nothing real keeps a job down (issue 23): a closed stdout, a config file that never ends, a
//! database lock held past the busy timeout. Each test runs the binaries as processes and checks
//! what a user sees: the exit code, the message, and that nothing was changed.

use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Stdio;

use crate::common::{decision_json, TestDb};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The write end of a pipe whose read end is already closed: every write to it fails with
/// EPIPE, as stdout does once `head -1` has read its line and gone.
fn closed_pipe() -> Stdio {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    // SAFETY: both descriptors were just opened by pipe(2) and are owned by nobody else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    Stdio::from(write)
}

/// `bin` as a plain process (its stdout can be any file) with the environment the other
/// tests give it: this database, nothing of the developer's own.
fn process(db: &TestDb, bin: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(crate::common::bin_path(bin));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("POLYPERF_DB", &db.path)
        .env("POLYPERF_ARCHIVE_DIR", db.dir.path().join("archive"))
        .env("POLYPERF_LOG_FORMAT", "json")
        .env("POLYPERF_MIN_FREE_PERCENT", "0")
        .env("POLYPERF_MIN_FREE_BYTES", "1000000");
    cmd
}

/// Runs `bin args` with stdout closed by its reader; returns (exit code, stderr).
fn with_closed_stdout(db: &TestDb, bin: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = process(db, bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(closed_pipe())
        .output()
        .expect("run");
    (out.status.code(), stderr(&out))
}

#[test]
fn a_reader_that_goes_away_ends_every_binary_quietly() {
    let db = TestDb::new();
    let now = "2026-02-11T10:31:00Z";
    let log = db
        .cmd("polyperf")
        .arg("log")
        .write_stdin(decision_json(1).to_string())
        .output()
        .unwrap();
    assert!(log.status.success(), "{}", stderr(&log));
    let mut cases: Vec<(&str, Vec<&str>)> = vec![
        ("polyperf", vec!["report", "--now", now]),
        ("polyperf", vec!["report", "--json", "--now", now]),
        ("polyperf", vec!["status", "--now", now]),
        ("polyperf", vec!["--json", "status", "--now", now]),
        ("polyperf", vec!["params", "list"]),
        ("polyperf", vec!["config"]),
        ("polyperf", vec!["archive", "list"]),
        ("polyperf", vec!["--help"]),
    ];
    for job in crate::common::job_names() {
        let bin: &'static str = Box::leak(format!("polyperf-{job}").into_boxed_str());
        cases.push((bin, vec!["--now", now]));
        cases.push((bin, vec!["--json", "--now", now]));
    }
    for (bin, args) in cases {
        let (code, err) = with_closed_stdout(&db, bin, &args);
        assert!(!err.contains("panicked"), "{bin} {args:?}: {err}");
        assert!(!err.contains("Broken pipe"), "{bin} {args:?}: {err}");
        // The command's own code: these all succeed with a reader.
        assert_eq!(code, Some(0), "{bin} {args:?}: {err}");
    }
    // The jobs did their work and recorded it, whatever became of their output.
    assert_eq!(
        db.count("SELECT count(*) FROM job_runs WHERE status = 'ok'"),
        12
    );
    assert_eq!(
        db.count("SELECT count(*) FROM trades WHERE settlement_status = 'pending'"),
        1
    );
}

#[test]
fn a_full_disk_under_stdout_is_a_failure_said_once() {
    let db = TestDb::new();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = process(&db, "polyperf")
        .args(["params", "list"])
        .stdout(Stdio::from(full))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("writing to stdout"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_config_file_must_be_a_small_regular_file() {
    let db = TestDb::new();
    let fifo = db.dir.path().join("config.fifo");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let huge = db.dir.path().join("huge.toml");
    let mut text = String::from("[general]\n");
    while text.len() <= 1 << 20 {
        text.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    std::fs::write(&huge, text).unwrap();
    let binary = db.dir.path().join("binary.toml");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x41]).unwrap();
    let cases = [
        ("/dev/zero".to_string(), "not a regular file"),
        (fifo.display().to_string(), "not a regular file"),
        (db.dir.path().display().to_string(), "not a regular file"),
        (
            huge.display().to_string(),
            "more than a config file may hold",
        ),
        (binary.display().to_string(), "not UTF-8"),
    ];
    for bin in ["polyperf", "polyperf-settle", "polyperf-cleanup"] {
        for (config, why) in &cases {
            let started = std::time::Instant::now();
            let mut cmd = db.cmd(bin);
            if bin == "polyperf" {
                cmd.arg("status");
            }
            let out = cmd
                .env("POLYPERF_CONFIG", config)
                .timeout(std::time::Duration::from_secs(20))
                .output()
                .unwrap();
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{bin} {config}: {err}");
            assert!(err.contains(config.as_str()), "{bin} {config}: {err}");
            assert!(err.contains(why), "{bin} {config}: {err}");
            assert!(started.elapsed().as_secs() < 10, "{bin} {config} hung");
        }
    }
    assert_eq!(db.count("SELECT count(*) FROM job_runs"), 0);
    // A real config file still works.
    let good = db.dir.path().join("good.toml");
    std::fs::write(&good, "[archive]\nretention_days = 40\n").unwrap();
    let out = db
        .cmd("polyperf")
        .args(["--json", "config"])
        .env("POLYPERF_CONFIG", &good)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A lock another process holds past the busy timeout is "try again later" (75) for every
/// command that writes, says so, and changes nothing; once it is released the same commands
/// succeed.
#[test]
fn a_lock_held_past_the_busy_timeout_is_try_again_later() {
    let db = TestDb::new();
    let now = "2026-02-11T10:31:00Z";
    let decision = decision_json(1).to_string();
    let writers: Vec<(&str, Vec<&str>)> = vec![
        ("polyperf", vec!["log"]),
        ("polyperf", vec!["pause", "--reason", "maintenance"]),
        ("polyperf", vec!["resume"]),
        (
            "polyperf",
            vec![
                "params",
                "set",
                "bot_confidence_threshold",
                "0.8",
                "--reason",
                "test",
            ],
        ),
        ("polyperf", vec!["settle-check", "--fix"]),
        ("polyperf-settle", vec!["--now", now]),
        ("polyperf-reflect", vec!["--now", now]),
        ("polyperf-adjust", vec!["--now", now]),
        ("polyperf-telegram", vec!["--now", now]),
        ("polyperf-archive", vec!["--now", now]),
        ("polyperf-cleanup", vec!["--now", now]),
    ];
    {
        let holder = db.conn();
        holder.execute_batch("BEGIN IMMEDIATE").unwrap();
        for (bin, args) in &writers {
            let out = db
                .cmd(bin)
                .args(args)
                .env("POLYPERF_FAULT_BUSY_TIMEOUT_MS", "200")
                .write_stdin(decision.clone())
                .output()
                .unwrap();
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(75), "{bin} {args:?}: {err}");
            assert!(err.contains("busy timeout"), "{bin} {args:?}: {err}");
            assert!(err.contains("try again later"), "{bin} {args:?}: {err}");
        }
        holder.execute_batch("ROLLBACK").unwrap();
    }
    assert_eq!(db.count("SELECT count(*) FROM trades"), 0);
    assert_eq!(db.count("SELECT count(*) FROM job_runs"), 0);
    assert_eq!(db.count("SELECT count(*) FROM job_locks"), 0);
    assert_eq!(db.count("SELECT count(*) FROM parameter_history"), 0);
    assert_eq!(
        db.count("SELECT count(*) FROM trading_control WHERE paused = 1"),
        0
    );
    for (bin, args) in &writers {
        let out = db
            .cmd(bin)
            .args(args)
            .env("POLYPERF_FAULT_BUSY_TIMEOUT_MS", "200")
            .write_stdin(decision.clone())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{bin} {args:?}: {}",
            stderr(&out)
        );
    }
    assert_eq!(db.count("SELECT count(*) FROM trades"), 1);
}

// ---------------------------------------------------------------- parameters edited by hand

const THRESHOLD: &str = "bot_confidence_threshold";
const POSITION: &str = "bot_max_position_dollars";

/// What an operator may type into sqlite3: `UPDATE parameters SET value = … WHERE name = …`.
fn hand_edit(db: &TestDb, name: &str, value: &str) {
    db.conn()
        .execute(
            &format!("UPDATE parameters SET value = {value} WHERE name = ?1"),
            [name],
        )
        .unwrap();
}

/// The message every reader gives for a parameter holding `holds`.
fn named(name: &str, holds: &str) -> String {
    format!("parameter {name} holds {holds}: fix it with polyperf params set {name} <value>")
}

fn run(db: &TestDb, args: &[&str]) -> (Option<i32>, String, String) {
    let out = db.cmd("polyperf").args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr(&out),
    )
}

/// Each value an operator could leave behind is named by every reader, with the fix, and
/// `polyperf params set` (the fix) always works; `params rollback` refuses to guess.
#[test]
fn a_hand_edited_parameter_is_named_by_every_reader_and_params_set_repairs_it() {
    let db = TestDb::new();
    let now = "2026-02-11T12:00:00Z";
    let (code, _, err) = run(
        &db,
        &["params", "set", THRESHOLD, "0.8", "--reason", "before"],
    );
    assert_eq!(code, Some(0), "{err}");
    // (SQL literal, what the message quotes)
    let cases = [
        ("'abc'", "'abc'"),
        ("''", "''"),
        ("'1e400'", "'1e400'"),
        ("'0.75 '", "'0.75 '"),
        ("X'00ff'", "'a blob of 2 bytes'"),
        ("'0.99'", "'0.99'"),
        ("0.1", "'0.1'"),
    ];
    for (literal, holds) in cases {
        hand_edit(&db, THRESHOLD, literal);
        let message = named(THRESHOLD, holds);
        // params list: every parameter shown, the bad one with its fix; exit 2.
        let (code, out, err) = run(&db, &["params", "list"]);
        assert_eq!(code, Some(2), "{literal}: {err}");
        assert!(err.contains(&message), "{literal}: {err}");
        assert!(out.contains(POSITION) && out.contains(THRESHOLD), "{out}");
        let (code, out, _) = run(&db, &["--json", "params", "list"]);
        assert_eq!(code, Some(2));
        let list: serde_json::Value = serde_json::from_str(&out).unwrap();
        let rows = list.as_array().unwrap();
        assert_eq!(rows.len(), 3);
        for row in rows {
            let bad = row["name"] == THRESHOLD;
            assert_eq!(row.get("problem").is_some(), bad, "{row}");
        }
        // params get: the bad one is exit 2 naming it, the others still read.
        let (code, _, err) = run(&db, &["params", "get", THRESHOLD]);
        assert_eq!(code, Some(2), "{literal}");
        assert!(err.contains(&message), "{literal}: {err}");
        let (code, out, _) = run(&db, &["params", "get", POSITION]);
        assert_eq!((code, out.trim()), (Some(0), "10"));
        // status: shown with its fix, exit 0 (status is for looking).
        let (code, out, err) = run(&db, &["status", "--now", now]);
        assert_eq!(code, Some(0), "{err}");
        assert!(out.contains(&message), "{literal}: {out}");
        let (code, out, _) = run(&db, &["--json", "status", "--now", now]);
        assert_eq!(code, Some(0));
        let status: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(status["parameter_problems"][0]["name"], THRESHOLD);
        assert_eq!(status["parameter_problems"][0]["holds"], holds);
        // evaluate needs every parameter: exit 2 naming it, nothing stored.
        let (code, _, err) = run(&db, &["evaluate", "--now", now]);
        assert_eq!(code, Some(2), "{literal}: {err}");
        assert!(err.contains(&message), "{literal}: {err}");
        assert_eq!(db.count("SELECT count(*) FROM evaluations"), 0);
        // rollback cannot tell whether the value changed since: refused, pointing at the fix.
        let first = db
            .count("SELECT min(id) FROM parameter_history")
            .to_string();
        let (code, _, err) = run(&db, &["params", "rollback", &first]);
        assert_eq!(code, Some(2), "{literal}: {err}");
        assert!(err.contains(&message), "{literal}: {err}");
        // The documented fix works, and the history keeps what the parameter held.
        let (code, _, err) = run(
            &db,
            &["params", "set", THRESHOLD, "0.7", "--reason", "repair"],
        );
        assert_eq!(code, Some(0), "{literal}: {err}");
        let (code, _, err) = run(&db, &["params", "list"]);
        assert_eq!(code, Some(0), "{literal}: {err}");
        let (old, new): (String, String) = db
            .conn()
            .query_row(
                "SELECT old_value, new_value FROM parameter_history ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(format!("'{old}'"), holds);
        assert_eq!(new, "0.7");
    }
    // Undoing a repair would put back what no reader accepts: refused, naming it.
    hand_edit(&db, THRESHOLD, "'abc'");
    let (code, _, _) = run(
        &db,
        &["params", "set", THRESHOLD, "0.7", "--reason", "repair"],
    );
    assert_eq!(code, Some(0));
    let repair = db
        .count("SELECT max(id) FROM parameter_history")
        .to_string();
    let (code, _, err) = run(&db, &["params", "rollback", &repair]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("'abc', which is not a decimal number"),
        "{err}"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM parameters WHERE name = 'bot_confidence_threshold' AND value = '0.7'"),
        1
    );
}

/// `bot_max_position_dollars` = 1e-28 by hand (issue 23) made polyperf-adjust panic on every
/// run. Now the adjuster goes on: the guard still pauses, proposals needing the parameter
/// wait, the figures and one alert name it; after `params set`, the next run takes them up.
#[test]
fn adjust_goes_on_without_a_hand_edited_parameter_and_never_panics() {
    let db = TestDb::new();
    let now = chrono::Utc::now();
    let now_arg = now.to_rfc3339();
    {
        let conn = db.conn();
        for i in 0..5 {
            crate::common::fixtures::insert_settled(
                &conn,
                &crate::common::fixtures::Settled {
                    decision_id: &format!("loss-{i}"),
                    at: now - chrono::Duration::hours(5 - i),
                    action: "NO",
                    confidence: 0.8,
                    final_score: 0.3,
                    outcome: "UP",
                    profit_loss: Some("-1"),
                    is_win: Some(false),
                },
            )
            .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO proposals (created_at, parameter_name, current_value, proposed_value)
             VALUES (datetime('now'), 'bot_max_position_dollars', '1e-28', '10'),
                    (datetime('now'), 'bot_confidence_threshold', '0.75', '0.76')",
        )
        .unwrap();
    }
    hand_edit(&db, POSITION, "1e-28");
    let adjust = || {
        db.cmd("polyperf-adjust")
            .env("POLYPERF_ADJUST_AUTONOMY", "tier1")
            .args(["--json", "--now", &now_arg])
            .output()
            .unwrap()
    };
    for _ in 0..2 {
        let out = adjust();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        let stats = crate::common::stdout_json(&out);
        assert_eq!(stats["paused"], true, "the guard must not wait: {stats}");
        let bad = stats["bad_parameters"][0].as_str().unwrap();
        assert!(bad.starts_with(&named(POSITION, "'1.0e-28'")), "{bad}");
        assert!(bad.contains("past the range"), "{bad}");
        assert!(err.contains(&named(POSITION, "'1.0e-28'")), "{err}");
    }
    // Both proposals need the position cap (the replay scales stakes by it): they wait.
    assert_eq!(
        db.count("SELECT count(*) FROM proposals WHERE status = 'pending'"),
        2
    );
    // One alert however many runs.
    assert_eq!(
        db.count("SELECT count(*) FROM outbox WHERE kind = 'text' AND payload LIKE '%bot_max_position_dollars holds%'"),
        1
    );
    let (code, _, err) = run(
        &db,
        &["params", "set", POSITION, "10", "--reason", "repair"],
    );
    assert_eq!(code, Some(0), "{err}");
    let out = adjust();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stats = crate::common::stdout_json(&out);
    assert!(stats.get("bad_parameters").is_none(), "{stats}");
    assert_eq!(
        db.count("SELECT count(*) FROM proposals WHERE status = 'pending'"),
        0
    );
    // The one made against 1e-28 no longer matches the live value.
    assert_eq!(
        db.count("SELECT count(*) FROM proposals WHERE parameter_name = 'bot_max_position_dollars' AND status = 'superseded'"),
        1
    );
}

/// A settled decision: 'W' won 4.5, 'L' lost 5 (at 0.52, confidence 0.8).
fn settled(db: &TestDb, i: usize, outcome: char) {
    let (action, is_win, pl) = match outcome {
        'W' => ("YES", 1, "4.5"),
        _ => ("NO", 0, "-5.00"),
    };
    db.conn()
        .execute(
            "INSERT INTO trades (decision_id, timestamp, market_slug, action, confidence,
                 position_size, btc_price, executed_price, signal_type, reasoning,
                 settlement_status, settled_at, is_win, profit_loss, actual_outcome)
             VALUES (?1, datetime(?2, '-20 minutes'), 'btc-updown-15m-1770805800', ?3, 0.8,
                 '5.00', '66940.0', '0.52', 'BULLISH', 'aligned', 'settled', ?2, ?4, ?5, 'UP')",
            rusqlite::params![
                format!("d-{i}"),
                format!("2026-02-11 {:02}:{:02}:00", 10 + i / 60, i % 60),
                action,
                is_win,
                pl
            ],
        )
        .unwrap();
}

/// The rules engine on a clearly losing sample proposes for every parameter; with the
/// threshold edited by hand it leaves that one out (named in a warning) and still reflects and
/// proposes for the others.
#[test]
fn reflect_leaves_a_hand_edited_parameter_out_and_goes_on() {
    let proposals_with = |threshold: Option<&str>| {
        let db = TestDb::new();
        for (i, c) in "WLLL".repeat(10).chars().enumerate() {
            settled(&db, i, c);
        }
        if let Some(value) = threshold {
            hand_edit(&db, THRESHOLD, value);
        }
        let out = db
            .cmd("polyperf-reflect")
            .args([
                "--json",
                "--engine",
                "rules",
                "--now",
                "2026-02-11T12:00:00Z",
            ])
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{err}");
        let stats = crate::common::stdout_json(&out);
        assert_eq!(stats["status"], "ok", "{stats}");
        let conn = db.conn();
        let mut stmt = conn
            .prepare("SELECT parameter_name FROM proposals ORDER BY id")
            .unwrap();
        let names: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        (names, err)
    };
    let (all, _) = proposals_with(None);
    assert_eq!(
        all,
        [THRESHOLD, POSITION, "bot_max_exposure_fraction"],
        "the control: every parameter gets a proposal"
    );
    let (names, err) = proposals_with(Some("'abc'"));
    assert_eq!(names, [POSITION, "bot_max_exposure_fraction"]);
    assert!(err.contains(&named(THRESHOLD, "'abc'")), "{err}");
}

// ---------------------------------------------------------------- hostile archive files

const ARCHIVE_NOW: &str = "2026-03-30T00:00:00Z";

/// A header line for `table` and `week` as the archive writes it, claiming `rows` rows.
fn header_line(table: &str, week: &str, rows: u64) -> String {
    serde_json::json!({"format": "polyperf-archive", "version": 1, "table": table, "rows": rows,
        "min_id": 1, "max_id": rows, "created_at": "2026-03-01 00:00:00", "iso_week": week,
        "columns": ["id", "timestamp"]})
    .to_string()
}

/// One gzip member (a single deflate stream, as `gzip -9` writes it) holding `header`, a newline
/// and then `mib` MiB of `x` without a newline: 2 MB on disk for 2 GiB of one line. Built in a
/// second: the compressor's state is reset after the header and after one MiB (a full flush),
/// so each further MiB compresses to the same bytes.
fn gzip_bomb(path: &std::path::Path, header: &str, mib: usize) {
    use flate2::{Compress, Compression, Crc, FlushCompress};
    let mut compress = Compress::new(Compression::best(), false);
    let mut deflate = |input: &[u8], flush: FlushCompress| -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len() / 100 + 1024);
        let mut at = 0;
        loop {
            out.reserve(64 * 1024);
            let before = compress.total_in();
            compress
                .compress_vec(&input[at..], &mut out, flush)
                .unwrap();
            at += (compress.total_in() - before) as usize;
            if at == input.len() && out.len() < out.capacity() {
                return out;
            }
        }
    };
    let first = format!("{header}\n");
    let chunk = vec![b'x'; 1 << 20];
    let head = deflate(first.as_bytes(), FlushCompress::Full);
    let body = deflate(&chunk, FlushCompress::Full);
    let tail = deflate(&[], FlushCompress::Finish);
    let mut crc = Crc::new();
    crc.update(first.as_bytes());
    for _ in 0..mib {
        crc.update(&chunk);
    }
    let mut file = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 0xff];
    file.extend_from_slice(&head);
    for _ in 0..mib {
        file.extend_from_slice(&body);
    }
    file.extend_from_slice(&tail);
    file.extend_from_slice(&crc.sum().to_le_bytes());
    file.extend_from_slice(&crc.amount().to_le_bytes());
    std::fs::write(path, file).unwrap();
}

/// Runs `cmd` to its end; returns its exit code, stderr and peak resident memory in MiB (the
/// child's own).
fn peak_memory(mut cmd: std::process::Command) -> (Option<i32>, String, i64) {
    // The child's own high-water mark (VmHWM, per address space, so it starts afresh at exec),
    // read while it runs. Not wait4's ru_maxrss: Linux carries the pre-exec maximum across
    // exec, and a child spawned by vfork shares this test process's memory until then, so a
    // busy test binary (hundreds of MiB) would be counted as the child's.
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut err = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut err).unwrap();
        err
    });
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0i64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            let hwm = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok());
            peak_kib = peak_kib.max(hwm.unwrap_or(0));
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    (status.code(), reader.join().unwrap(), peak_kib / 1024)
}

/// Old settled decisions, archivable at ARCHIVE_NOW (week 2026-W07).
fn old_trades(db: &TestDb, n: usize) {
    let conn = db.conn();
    for i in 0..n {
        crate::common::fixtures::insert_settled(
            &conn,
            &crate::common::fixtures::Settled {
                decision_id: &format!("old-{i}"),
                at: polyperf::time::parse_rfc3339("2026-02-11T10:00:00Z").unwrap()
                    + chrono::Duration::minutes(i as i64),
                action: "YES",
                confidence: 0.8,
                final_score: 0.3,
                outcome: "UP",
                profit_loss: Some("4.5"),
                is_win: Some(true),
            },
        )
        .unwrap();
    }
}

/// A 2 MB gzip that expands to one 2 GiB line, in the archive directory under an archive's
/// name: the archive job needed 2.1 GB and aborted on every run; verify and restore did the
/// same. Now each refuses it reading no more than a line's bound, naming the file and line;
/// the job sets it aside and archives the rest.
#[test]
fn a_gzip_bomb_is_refused_in_bounded_memory_and_set_aside() {
    let db = TestDb::new();
    old_trades(&db, 20);
    let dir = db.dir.path().join("archive");
    std::fs::create_dir_all(&dir).unwrap();
    let bomb = dir.join("trades-2026-W06.jsonl.gz");
    gzip_bomb(&bomb, &header_line("trades", "2026-W06", 1), 2048);
    let size = std::fs::metadata(&bomb).unwrap().len();
    assert!(size < 3 << 20, "the bomb is {size} bytes");
    // What zcat makes of it: one header line, then 2 GiB without a newline.
    let expanded = std::io::copy(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&bomb).unwrap()),
        &mut std::io::sink(),
    )
    .unwrap();
    assert_eq!(
        expanded,
        (2048 << 20) + header_line("trades", "2026-W06", 1).len() as u64 + 1
    );
    let spare = db.dir.path().join("trades-2026-W06.jsonl.gz");
    std::fs::copy(&bomb, &spare).unwrap();

    for args in [
        vec!["archive", "verify"],
        vec!["archive", "restore", "--dry-run"],
        vec!["archive", "restore"],
    ] {
        let mut cmd = process(&db, "polyperf");
        cmd.args(&args).arg(&spare);
        let (code, err, peak_mib) = peak_memory(cmd);
        if args[1] == "verify" {
            // verify reports the file's status (a mismatch is exit 1 with the reason).
            assert_ne!(code, Some(0), "{err}");
        } else {
            assert_eq!(code, Some(2), "{args:?}: {err}");
        }
        assert!(peak_mib < 150, "{args:?} used {peak_mib} MiB");
    }
    let out = db
        .cmd("polyperf")
        .args(["archive", "restore"])
        .arg(&spare)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(
        err.contains("trades-2026-W06.jsonl.gz: line 2: longer than 1 MiB"),
        "{err}"
    );
    assert_eq!(db.count("SELECT count(*) FROM trades"), 20);

    let mut archive = process(&db, "polyperf-archive");
    archive.args(["--json", "--now", ARCHIVE_NOW]);
    let (code, err, peak_mib) = peak_memory(archive);
    assert_eq!(code, Some(0), "{err}");
    assert!(peak_mib < 150, "the archive job used {peak_mib} MiB");
    assert!(err.contains("trades-2026-W06.jsonl.gz"), "{err}");
    assert!(!bomb.exists());
    assert!(dir.join("trades-2026-W06.jsonl.gz.rejected").exists());
    // The rest was archived as always.
    assert_eq!(db.count("SELECT count(*) FROM trades"), 0);
    assert_eq!(
        db.count("SELECT count(*) FROM archives WHERE table_name = 'trades'"),
        1
    );
    // And the next run is a plain one.
    let out = db
        .cmd("polyperf-archive")
        .args(["--json", "--now", ARCHIVE_NOW])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// The lines of an archive file, as zcat gives them.
fn gunzip_lines(path: &std::path::Path) -> Vec<String> {
    use std::io::BufRead;
    std::io::BufReader::new(flate2::read::MultiGzDecoder::new(
        std::fs::File::open(path).unwrap(),
    ))
    .lines()
    .map(Result::unwrap)
    .collect()
}

/// `parts` gzipped one member each, into one file (what `cat a.gz b.gz` or bgzip makes).
fn members(path: &std::path::Path, parts: &[String]) {
    use std::io::Write;
    let mut file = Vec::new();
    for part in parts {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(part.as_bytes()).unwrap();
        file.extend(gz.finish().unwrap());
    }
    std::fs::write(path, file).unwrap();
}

/// A gzip file of several members is read as gzip defines it (all members, as zcat does): our
/// own file re-compressed that way is recognised as ours; two archive files joined with `cat`
/// are refused as such, not with a misleading line error (and not read as the first alone).
#[test]
fn multi_member_files_are_read_whole_and_joined_archives_refused() {
    let db = TestDb::new();
    old_trades(&db, 30);
    let out = db
        .cmd("polyperf-archive")
        .args(["--json", "--now", ARCHIVE_NOW])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let own = db
        .dir
        .path()
        .join("archive")
        .join("trades-2026-W07.jsonl.gz");
    let lines = gunzip_lines(&own);
    assert_eq!(lines.len(), 31);
    let elsewhere = db.dir.path().join("copies");
    std::fs::create_dir_all(&elsewhere).unwrap();

    // Header in one member, the rows in three more.
    let split = elsewhere.join("trades-2026-W07.jsonl.gz");
    let chunk = |range: std::ops::Range<usize>| {
        lines[range]
            .iter()
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    };
    members(
        &split,
        &[chunk(0..1), chunk(1..11), chunk(11..25), chunk(25..31)],
    );
    let out = db
        .cmd("polyperf")
        .args(["--json", "archive", "restore", "--dry-run"])
        .arg(&split)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = crate::common::stdout_json(&out);
    assert_eq!(
        (report["rows"].as_u64(), report["origin"].as_str()),
        (Some(30), Some("archived_here")),
        "{report}"
    );

    // The file twice over: two headers.
    let joined = elsewhere.join("joined.jsonl.gz");
    let bytes = std::fs::read(&own).unwrap();
    std::fs::write(&joined, [bytes.clone(), bytes].concat()).unwrap();
    for args in [["archive", "restore"], ["archive", "verify"]] {
        let out = db.cmd("polyperf").args(args).arg(&joined).output().unwrap();
        let err = String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out);
        assert_ne!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(
            err.contains("joined.jsonl.gz: line 32: a second archive header"),
            "{args:?}: {err}"
        );
    }
    let out = db
        .cmd("polyperf")
        .args(["archive", "restore"])
        .arg(&joined)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        db.count("SELECT count(*) FROM trades"),
        0,
        "nothing restored"
    );
    // Garbage after the last member is damage, not ignored.
    let trailing = elsewhere.join("trades-2026-W07.jsonl.gz");
    let mut bytes = std::fs::read(&own).unwrap();
    bytes.extend_from_slice(b"not gzip at all");
    std::fs::write(&trailing, bytes).unwrap();
    let out = db
        .cmd("polyperf")
        .args(["archive", "restore", "--dry-run"])
        .arg(&trailing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("damaged gzip data"),
        "{}",
        stderr(&out)
    );
}

/// A row too long for an archive line (a 2 MiB error text an older version stored on an
/// outbox row) would make a file no reader accepts: its week stays in the database, named,
/// and everything else is archived; the job does not fail on every run.
#[test]
fn a_row_too_long_for_an_archive_line_keeps_its_week_and_the_rest_goes() {
    let db = TestDb::new();
    old_trades(&db, 10);
    db.conn()
        .execute(
            "INSERT INTO outbox (created_at, kind, payload, status, attempts, last_error)
             VALUES ('2026-02-11 10:00:00', 'text', '{\"text\":\"hi\"}', 'failed', 5, ?1),
                    ('2026-02-11 11:00:00', 'text', '{\"text\":\"hi\"}', 'sent', 1, NULL)",
            ["e".repeat(2 << 20)],
        )
        .unwrap();
    for _ in 0..2 {
        let out = db
            .cmd("polyperf-archive")
            .args(["--json", "--now", ARCHIVE_NOW])
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{err}");
        let stats = crate::common::stdout_json(&out);
        assert_eq!(stats["weeks_not_archived"], 1, "{stats}");
        assert!(err.contains("outbox row 1 is 2097"), "{err}");
    }
    assert_eq!(db.count("SELECT count(*) FROM trades"), 0);
    assert_eq!(db.count("SELECT count(*) FROM outbox"), 2);
    assert_eq!(
        db.count("SELECT count(*) FROM archives WHERE table_name = 'outbox'"),
        0
    );
    let out = db
        .cmd("polyperf")
        .args(["archive", "verify"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

// ---------------------------------------------------------------- integrity

/// Overwrites the header of `table`'s root page: SQLite finds the file malformed there, and
/// nowhere else (status and cleanup never read `reflections`).
fn damage(db: &TestDb, table: &str) {
    let (root, page_size): (i64, i64) = {
        let conn = db.conn();
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
        (
            conn.query_row(
                "SELECT rootpage FROM sqlite_schema WHERE name = ?1",
                [table],
                |r| r.get(0),
            )
            .unwrap(),
            conn.query_row("PRAGMA page_size", [], |r| r.get(0))
                .unwrap(),
        )
    };
    let mut bytes = std::fs::read(&db.path).unwrap();
    let at = ((root - 1) * page_size) as usize;
    bytes[at..at + 12].fill(0x7f);
    std::fs::write(&db.path, bytes).unwrap();
}

/// Cleanup checks the database (quick_check, bounded in time), records what it found and
/// `polyperf status` shows it with when it ran; a damaged file is an alert and exit 1, naming
/// what to do.
#[test]
fn cleanup_checks_integrity_and_status_shows_the_last_result() {
    let db = TestDb::new();
    let now = "2026-02-11T12:00:00Z";
    let status = |db: &TestDb| {
        let (code, out, err) = run(db, &["--json", "status", "--now", now]);
        assert_eq!(code, Some(0), "{err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    assert_eq!(status(&db)["integrity"], serde_json::Value::Null);
    let (_, text, _) = run(&db, &["status", "--now", now]);
    assert!(text.contains("integrity       never checked"), "{text}");

    let out = db
        .cmd("polyperf-cleanup")
        .args(["--json", "--now", now])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(crate::common::stdout_json(&out)["integrity"], "ok");
    let s = status(&db);
    assert_eq!(s["integrity"]["result"], "ok", "{s}");
    assert!(s["integrity"]["checked_at"].as_str().is_some(), "{s}");
    let (_, text, _) = run(&db, &["status", "--now", now]);
    assert!(
        text.contains("integrity       ok (quick_check at 2026-02-11 12:00:00"),
        "{text}"
    );

    {
        let conn = db.conn();
        for i in 0..300 {
            conn.execute(
                "INSERT INTO reflections (timestamp, trigger_type, insights) VALUES ('2026-02-11 10:00:00', 'manual', ?1)",
                [format!("{i}{}", "y".repeat(2000))],
            )
            .unwrap();
        }
    }
    damage(&db, "reflections");
    let out = db
        .cmd("polyperf-cleanup")
        .args(["--json", "--now", now])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("integrity check damaged"), "{err}");
    assert!(err.contains("PRAGMA integrity_check"), "{err}");
    let figures = crate::common::stdout_json(&out);
    assert_eq!(figures["integrity"], "damaged", "{figures}");
    assert!(
        figures["integrity_problems"].as_str().is_some(),
        "{figures}"
    );
    let s = status(&db);
    assert_eq!(s["integrity"]["result"], "damaged", "{s}");
    let (_, text, _) = run(&db, &["status", "--now", now]);
    assert!(
        text.contains("integrity       DAMAGED (quick_check at"),
        "{text}"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM outbox WHERE kind = 'job_failure' AND payload LIKE '%integrity check: damaged%'"),
        1
    );
    // A second run the same day records again but alerts once.
    let out = db
        .cmd("polyperf-cleanup")
        .args(["--json", "--now", now])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(db.count("SELECT count(*) FROM integrity_checks"), 3);
    assert_eq!(
        db.count("SELECT count(*) FROM outbox WHERE kind = 'job_failure'"),
        1
    );
    // 0 turns the check off.
    let out = db
        .cmd("polyperf-cleanup")
        .env("POLYPERF_CLEANUP_INTEGRITY_CHECK_SECS", "0")
        .args(["--json", "--now", now])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// The WAL deleted under a running job (the scenario): the job notices at its end, fails
/// saying what happened (exit 1, recorded in job_runs with its figures), and what it wrote
/// reaches the database through its own connection's checkpoint when it closes.
#[test]
fn a_wal_deleted_under_a_running_job_is_noticed() {
    let db = TestDb::new();
    let settings = db.settings();
    let wal = db.dir.path().join("performance.db-wal");
    let run = polyperf::runs::Run {
        now: polyperf::time::parse_rfc3339("2026-02-11T12:00:00Z").unwrap(),
        clock: chrono::Utc::now,
        dry_run: false,
        json: true,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let wal_in_job = wal.clone();
    let code = runtime.block_on(polyperf::runs::run(
        polyperf::runner::Job::Cleanup,
        settings,
        run,
        move |ctx| {
            Box::pin(async move {
                ctx.conn.execute(
                    "INSERT INTO outbox (kind, payload, status) VALUES ('text', '{\"text\":\"written\"}', 'sent')",
                    [],
                )?;
                std::fs::remove_file(&wal_in_job)?;
                ctx.conn.execute(
                    "INSERT INTO outbox (kind, payload, status) VALUES ('text', '{\"text\":\"after\"}', 'sent')",
                    [],
                )?;
                Ok(serde_json::json!({"written": 2}))
            })
        },
    ));
    assert_eq!(code, 1);
    let (status, error, stats): (String, String, String) = db
        .conn()
        .query_row(
            "SELECT status, error, stats FROM job_runs ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(status, "failed");
    assert!(
        error.contains("performance.db-wal was deleted while this job had it open"),
        "{error}"
    );
    assert_eq!(stats, "{\"written\":2}");
    assert_eq!(
        db.count("SELECT count(*) FROM outbox WHERE kind = 'text'"),
        2
    );
    // A job whose files stay put is not troubled.
    let out = db
        .cmd("polyperf-cleanup")
        .args(["--json", "--now", "2026-02-11T12:00:00Z"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Migration 0011 (integrity_checks) on a database with data at the version before it: the
/// rows stay, the table is there, cleanup records into it.
#[test]
fn the_integrity_migration_keeps_a_database_with_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("performance.db");
    let before = polyperf::db::migration_names()
        .position(|n| n == "0009_integrity_checks")
        .unwrap() as i64;
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL").unwrap();
        polyperf::db::migrate_to(&mut conn, before).unwrap();
        conn.execute(
            "UPDATE parameters SET value = '0.80' WHERE name = 'bot_confidence_threshold'",
            [],
        )
        .unwrap();
    }
    let db = TestDb {
        dir,
        path: path.clone(),
    };
    old_trades(&db, 5);
    let out = db
        .cmd("polyperf-cleanup")
        .args(["--json", "--now", "2026-02-11T12:00:00Z"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(db.count("SELECT count(*) FROM trades"), 5);
    assert_eq!(
        db.count("SELECT count(*) FROM parameters WHERE value = '0.80'"),
        1
    );
    assert_eq!(
        db.count("SELECT count(*) FROM integrity_checks WHERE result = 'ok'"),
        1
    );
    assert_eq!(
        db.count("PRAGMA user_version"),
        polyperf::db::SCHEMA_VERSION
    );
}
