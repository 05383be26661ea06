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
