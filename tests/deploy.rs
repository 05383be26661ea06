//! Deployment files: the systemd units verify, and the crontab schedules every job validly.

use crate::common::succeeds;
use std::path::Path;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `systemd-analyze verify` on every unit, with ExecStart pointed at the built binaries.
/// Skipped (with a printed reason) where systemd-analyze is not installed.
#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    let Ok(version) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        eprintln!("skipped: systemd-analyze is not installed (Debian package `systemd`)");
        return;
    };
    assert!(version.status.success());
    let dir = tempfile::tempdir().unwrap();
    let bin_dir = crate::common::bin_path("polyperf")
        .parent()
        .unwrap()
        .to_path_buf();
    let mut units = Vec::new();
    for entry in std::fs::read_dir(repo().join("systemd")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".service") {
            for hardening in [
                "ProtectSystem=strict",
                "NoNewPrivileges=yes",
                "CapabilityBoundingSet=",
                "UMask=0007",
                "StateDirectoryMode=2770",
                "User=polyperf",
            ] {
                assert!(text.contains(hardening), "{name} lacks {hardening}");
            }
            if !name.starts_with("polyperf-failure@") {
                assert!(
                    text.contains("OnFailure=polyperf-failure@"),
                    "{name} names no OnFailure= unit"
                );
            }
        }
        std::fs::write(
            dir.path().join(&name),
            text.replace("/usr/local/bin/", &format!("{}/", bin_dir.display())),
        )
        .unwrap();
        units.push(name);
    }
    for job in crate::common::job_names()
        .iter()
        .filter(|j| **j != "telegram")
    {
        assert!(
            units.contains(&format!("polyperf-{job}.timer")),
            "no timer for {job}"
        );
    }
    let out = std::process::Command::new("systemd-analyze")
        .current_dir(dir.path())
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .args(["verify", "--man=no"])
        .args(&units)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {stderr}"
    );
}

fn field_ok(field: &str, lo: u32, hi: u32) -> bool {
    field.split(',').all(|part| {
        let (range, step) = part
            .split_once('/')
            .map_or((part, None), |(r, s)| (r, Some(s)));
        if let Some(step) = step {
            if step.parse::<u32>().map_or(true, |s| s == 0) {
                return false;
            }
        }
        if range == "*" {
            return true;
        }
        let bounds: Vec<_> = range.split('-').map(|n| n.parse::<u32>()).collect();
        bounds.len() <= 2
            && bounds
                .iter()
                .all(|b| matches!(b, Ok(n) if (lo..=hi).contains(n)))
    })
}

#[test]
fn crontab_lines_are_valid_and_schedule_every_job_with_flock_and_logger() {
    let text = std::fs::read_to_string(repo().join("crontab")).unwrap();
    let mut scheduled = Vec::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        if let Some((name, _)) = line.split_once('=') {
            if !name.contains(' ') {
                continue; // an environment line
            }
        }
        let fields: Vec<_> = line.split_whitespace().collect();
        assert!(fields.len() > 5, "too few fields: {line}");
        let limits = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)];
        for (field, (lo, hi)) in fields.iter().zip(limits) {
            assert!(field_ok(field, lo, hi), "bad field {field:?} in: {line}");
        }
        assert!(line.contains("flock -n"), "no flock: {line}");
        assert!(line.contains("| logger -t polyperf-"), "no logger: {line}");
        let job = crate::common::job_names().into_iter().find(|j| {
            line.contains(&format!("polyperf-{j} ")) || line.contains(&format!("polyperf-{j}\t"))
        });
        scheduled.push(job.unwrap_or_else(|| panic!("no job binary in: {line}")));
    }
    for job in crate::common::job_names() {
        assert!(scheduled.contains(&job), "{job} is not scheduled");
    }
}

/// A cron field of the job table (`2,17`, `*`) as systemd's calendar writes it (`02,17`).
fn calendar_field(field: &str) -> String {
    if field == "*" {
        return field.into();
    }
    field
        .split(',')
        .map(|n| format!("{:0>2}", n))
        .collect::<Vec<_>>()
        .join(",")
}

/// The systemd timers, the units they start and the crontab say what the one job table says:
/// each cadence's time, the binary and what the timer passes it.
#[test]
fn timers_and_crontab_follow_the_job_table() {
    let crontab = std::fs::read_to_string(repo().join("crontab")).unwrap();
    let unit = |name: &str| {
        std::fs::read_to_string(repo().join("systemd").join(name))
            .unwrap_or_else(|e| panic!("systemd/{name}: {e}"))
    };
    for spec in polyperf::runner::JOBS {
        for cadence in spec.cadences {
            let f: Vec<&str> = cadence.cron.split_whitespace().collect();
            let command: Vec<&str> = std::iter::once(spec.binary)
                .chain(cadence.args.iter().copied())
                .collect();
            let command = command.join(" ");
            let when = format!(
                "{} {} {} {} {} ",
                f[1],
                f[2],
                f[3],
                f[4],
                f[5].replace("Sun", "0")
            );
            assert!(
                crontab
                    .lines()
                    .any(|l| l.starts_with(&when) && l.contains(&format!(" {command} 2>&1 "))),
                "no crontab line `{when}… {command}` for {}",
                cadence.name
            );
            if spec.watches {
                let service = unit(&format!("{}.service", spec.binary));
                let exec = format!("ExecStart=/usr/local/bin/{} --watch\n", spec.binary);
                assert!(service.contains(&exec), "{}: {exec}", spec.binary);
                continue;
            }
            let day = if f[5] == "*" {
                String::new()
            } else {
                format!("{} ", f[5])
            };
            let calendar = format!(
                "OnCalendar={day}*-*-* {}:{}:{} UTC\n",
                calendar_field(f[2]),
                calendar_field(f[1]),
                calendar_field(f[0])
            );
            let timer = unit(&format!("polyperf-{}.timer", cadence.name));
            assert!(
                timer.contains(&calendar),
                "polyperf-{}.timer: {calendar}",
                cadence.name
            );
            let service = unit(&format!("polyperf-{}.service", cadence.name));
            let exec = format!("ExecStart=/usr/local/bin/{command}\n");
            assert!(
                service.contains(&exec),
                "polyperf-{}.service: {exec}",
                cadence.name
            );
        }
    }
}

#[test]
fn operator_queries_run_as_they_are() {
    let db = crate::common::TestDb::new();
    let conn = db.conn();
    for entry in std::fs::read_dir(repo().join("sql/queries")).unwrap() {
        let path = entry.unwrap().path();
        // sqlite3's dot-commands are for the shell; the SQL itself must run here.
        for statement in crate::common::sql_statements(&path) {
            let mut stmt = conn
                .prepare(&statement)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let mut rows = stmt.query([]).unwrap();
            while rows.next().unwrap().is_some() {}
        }
    }
}

#[test]
fn schedule_once_runs_the_selected_jobs_through_the_runner() {
    let db = crate::common::TestDb::new();
    succeeds(
        db.cmd("polyperf")
            .args(["schedule", "--once", "--only", "settle,cleanup"]),
    );
    assert_eq!(db.count("SELECT count(*) FROM job_runs WHERE job IN ('polyperf-settle', 'polyperf-cleanup') AND status = 'ok'"), 2);
    assert_eq!(
        db.count("SELECT count(*) FROM job_runs"),
        2,
        "only the selected jobs ran"
    );
    let out = db
        .cmd("polyperf")
        .args(["schedule", "--only", "nonsense"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn schedule_stops_cleanly_on_sigterm() {
    let db = crate::common::TestDb::new();
    let mut child = std::process::Command::new(crate::common::bin_path("polyperf"))
        .env("POLYPERF_DB", &db.path)
        .env("POLYPERF_LOG_FORMAT", "json")
        .arg("schedule")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "schedule did not stop on SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("scheduled") && stderr.contains("stopped"),
        "{stderr}"
    );
}

/// `polyperf demo` on embedded defaults: no network, no keys; every job runs, the report,
/// chart and a restored archive exist, the last week stays live, and every command the demo
/// suggests at the end works on what it left (issue 17, "the first ten minutes").
#[test]
fn the_demo_runs_every_job_offline_and_answers_its_suggestions() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = crate::common::bin_cmd("polyperf")
        .current_dir(dir.path())
        // Nine days: the last seven stay live, two are archived (and one file restored).
        .args(["demo", "--days", "9"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "polyperf-settle: done",
        "polyperf-reflect: done",
        "polyperf-adjust: done",
        "polyperf-telegram: done",
        "polyperf-archive: done",
        "polyperf-cleanup: done",
    ] {
        assert!(stdout.contains(step), "missing {step:?} in:\n{stdout}");
    }
    // The demo's report is all time, part of it archived: every figure is there (none "n/a").
    let report = stdout
        .split("9. polyperf report (all time")
        .nth(1)
        .and_then(|rest| rest.split("\nperiod (UTC)").next())
        .unwrap_or_else(|| panic!("no report in:\n{stdout}"));
    for figure in [
        "profit factor",
        "max drawdown",
        "losing streak",
        "Brier score",
    ] {
        let line = report
            .lines()
            .find(|l| l.trim_start().starts_with(figure))
            .unwrap_or_else(|| panic!("no {figure:?} in:\n{report}"));
        assert!(!line.contains("n/a"), "{line}");
    }
    // The walk-forward evaluation ran, and the report shows it.
    assert!(stdout.contains("days replayed"), "{stdout}");
    assert!(stdout.contains("Since the loop was on"), "{stdout}");
    for file in ["performance.db", "report.html", "chart.svg", "restored.db"] {
        assert!(demo.join(file).exists(), "demo/{file} missing");
    }
    assert!(
        std::fs::read_dir(demo.join("archive")).unwrap().count() > 0,
        "no archive files"
    );
    // The daily rollup keeps all-time P&L identical across archival.
    let line = stdout
        .lines()
        .find(|l| l.starts_with("all-time P&L before archival"))
        .expect("rollup line");
    let figures: Vec<&str> = line
        .split_whitespace()
        .filter(|w| w.parse::<f64>().is_ok())
        .collect();
    assert_eq!(figures.len(), 2, "{line}");
    assert_eq!(figures[0], figures[1], "{line}");
    // Nothing settled by the demo went through the network.
    let requests = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("http_requests"))
        .expect("settle stats");
    assert_eq!(requests.split_whitespace().nth(1), Some("0"), "{requests}");
    // Jobs run through the schedule's table print their figures in their own order too.
    let settle: Vec<&str> = stdout
        .lines()
        .skip_while(|l| *l != "polyperf-settle: done")
        .skip(1)
        .take(4)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(settle, ["settled", "wins", "losses", "profit"], "{stdout}");

    // The last week is live; what is older left for the archive.
    let conn = rusqlite::Connection::open(demo.join("performance.db")).unwrap();
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert!(
        count("SELECT count(*) FROM trades WHERE timestamp >= datetime('now', '-7 days')") > 500
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM trades WHERE timestamp < datetime('now', '-7 days', '-1 hours')"
        ),
        0
    );

    // Every suggestion, run as printed from the demo's directory.
    let suggestions: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  $ "))
        .collect();
    assert!(suggestions.len() >= 5, "{stdout}");
    // The demo leaves no 64 MiB ballast file (a server's guard, not a demo's).
    assert!(
        !demo.join("performance.db.reserve").exists(),
        "the demo left a .reserve file"
    );
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for command in suggestions {
        let words: Vec<&str> = command.split_whitespace().collect();
        match words.as_slice() {
            ["sqlite3", db, "<", query] => {
                let rows = query_rows(&dir.path().join(db), &repo.join(query));
                assert!(rows > 0, "{command}: no rows");
            }
            [exe, args @ ..] if exe.ends_with("polyperf") => {
                // As printed: the program by the path the demo gave (no `polyperf` on PATH).
                let out = std::process::Command::new(exe)
                    .current_dir(dir.path())
                    .args(args)
                    .output()
                    .unwrap();
                let text = String::from_utf8_lossy(&out.stdout);
                assert!(
                    out.status.success(),
                    "{command}: exit {:?}\n{text}{}",
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr)
                );
                assert!(
                    !text.contains(polyperf::report::EMPTY_MESSAGE),
                    "{command}: {text}"
                );
                assert!(!text.contains("missing"), "{command}: {text}");
                if args.contains(&"verify") {
                    assert!(text.contains("0 mismatch(es)"), "{command}: {text}");
                }
            }
            _ => panic!("a suggestion this test does not know how to run: {command}"),
        }
    }
    // Without --archive-dir, archive list says where it looked.
    let out = crate::common::bin_cmd("polyperf")
        .current_dir(dir.path())
        .args(["--db", "demo/performance.db", "archive", "list"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("archive directory archive"), "{text}");
    assert!(text.contains("missing: no archive/trades-"), "{text}");
    assert!(
        text.contains("--archive-dir or POLYPERF_ARCHIVE_DIR"),
        "{text}"
    );
}

/// The rows an operator query prints: through sqlite3 when it is installed (exactly as the
/// README says to run it), else its statements through rusqlite.
fn query_rows(db: &std::path::Path, query: &std::path::Path) -> usize {
    let sqlite3 = std::process::Command::new("sqlite3")
        .arg(db)
        .stdin(std::fs::File::open(query).unwrap())
        .output();
    if let Ok(out) = sqlite3 {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // `.headers on` and `.mode column`: a header line and a rule, then the rows.
        return String::from_utf8_lossy(&out.stdout)
            .lines()
            .count()
            .saturating_sub(2);
    }
    let conn = rusqlite::Connection::open(db).unwrap();
    crate::common::sql_statements(query)
        .iter()
        .map(|sql| {
            let mut stmt = conn.prepare(sql).unwrap();
            let mut rows = stmt.query([]).unwrap();
            let mut n = 0;
            while rows.next().unwrap().is_some() {
                n += 1;
            }
            n
        })
        .sum()
}

/// README's "From Python" snippet, run as it is printed (python3, `polyperf` on PATH, the
/// database from POLYPERF_DB): on a fresh database it refuses to trade, saying why (`status
/// --json` is not healthy: settle and adjust never ran); once they ran, a decision priced with
/// float arithmetic (`1 - 0.57`) is stored, at 0.43 exactly. Skipped (with a printed reason)
/// where python3 is not installed.
#[test]
fn the_readme_python_example_logs_a_float_priced_decision() {
    if std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: python3 is not installed");
        return;
    }
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let snippet = readme
        .split("From Python")
        .nth(1)
        .and_then(|rest| rest.split("```python\n").nth(1))
        .and_then(|rest| rest.split("```").next())
        .expect("README has a Python example");
    let db = crate::common::TestDb::new();
    let bin_dir = crate::common::bin_path("polyperf")
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let python = || {
        std::process::Command::new("python3")
            .args(["-c", snippet])
            .env("PATH", &path)
            .env("POLYPERF_DB", &db.path)
            .output()
            .unwrap()
    };
    let refused = python();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("not trading: settle has never run successfully"),
        "{stderr}"
    );
    assert_eq!(db.count("SELECT count(*) FROM trades"), 0);
    for job in ["polyperf-settle", "polyperf-adjust"] {
        crate::common::succeeds(&mut db.cmd(job));
    }
    for round in ["first", "again (a duplicate)"] {
        let out = python();
        assert!(
            out.status.success(),
            "{round}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let conn = db.conn();
    let (n, windows, price): (i64, i64, f64) = conn
        .query_row(
            "SELECT count(*), count(DISTINCT market_slug), max(executed_price) FROM trades",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    // Stored once (the second round a duplicate), unless the rounds fell on either side of a
    // 15-minute boundary: then two markets, one decision each.
    assert_eq!((n, price), (windows, 0.43));
    assert!(n == 1 || windows == 2, "{n} stored in {windows} markets");
}
