//! Issue 20's floor, both sides in one run on the same N decisions shaped like a real trader's
//! (`common::trader_jsonl`, default 100,000): a plain Python 3 program (`benches/floor.py`:
//! executemany into the seed's 3-index schema, archive, restore; one transaction each) against
//! polyperf doing the same as processes (`polyperf log FILE`, the `polyperf-archive` job,
//! `polyperf archive restore FILE...`; both restore into the database they archived from). Prints decisions/s, bytes per decision after
//! `PRAGMA wal_checkpoint(TRUNCATE)`, and polyperf's time and size as a ratio of the floor's.
//!
//! `cargo bench --bench floor [-- N]`. Without python3 (CI guarantees only the Rust toolchain)
//! the floor is skipped with the reason printed, and polyperf's figures are printed alone.
//! `POLYPERF_BENCH_JSONL=PATH` keeps a copy of the decisions there (to profile one side).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

mod common;

const FLOOR_PY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/floor.py");

/// Wall and CPU (user + system) seconds of one step.
#[derive(Clone, Copy)]
struct Secs {
    wall: f64,
    cpu: f64,
}

/// One side's figures.
struct Side {
    log: Secs,
    bytes_per_decision: f64,
    /// After the outcome columns are filled (settled rows leave the partial index of pending
    /// rows and enter those of settled ones).
    bytes_settled: f64,
    archive: Secs,
    restore: Secs,
}

/// Picks one step's times out of a side.
type Step = fn(&Side) -> Secs;

/// CPU seconds used so far by the children waited for (user + system).
fn children_cpu() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage, RUSAGE_CHILDREN is a valid `who`.
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) } != 0 {
        return f64::NAN;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// Runs `cmd`, fails the bench with its stderr unless it succeeds; its wall and CPU time. The
/// CPU time is the steadier figure on a machine shared with other work.
fn timed(cmd: &mut Command) -> Secs {
    let cpu = children_cpu();
    let t = Instant::now();
    let out = cmd.output().expect("the command runs");
    let wall = t.elapsed().as_secs_f64();
    let cpu = children_cpu() - cpu;
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Secs { wall, cpu }
}

/// File size per row after a TRUNCATE checkpoint (the WAL folded in and emptied).
fn bytes_per_row(db: &Path, rows: usize) -> f64 {
    let conn = rusqlite::Connection::open(db).expect("open");
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .expect("checkpoint");
    drop(conn);
    std::fs::metadata(db).expect("db size").len() as f64 / rows as f64
}

fn python() -> Result<(), String> {
    match Command::new("python3").arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!("python3 --version exited {}", out.status)),
        Err(e) => Err(format!("python3 not found ({e})")),
    }
}

fn floor(dir: &Path, jsonl: &Path, n: usize) -> Side {
    let py = |args: &[&dyn AsRef<std::ffi::OsStr>]| {
        let mut cmd = Command::new("python3");
        cmd.arg(FLOOR_PY);
        for a in args {
            cmd.arg(a);
        }
        cmd
    };
    let db = dir.join("floor.db");
    let log = timed(&mut py(&[&"log", &db, &jsonl]));
    let bytes_per_decision = bytes_per_row(&db, n);
    timed(&mut py(&[&"settle", &db]));
    let bytes_settled = bytes_per_row(&db, n);
    let gz = dir.join("floor-trades.jsonl.gz");
    let archive = timed(&mut py(&[&"archive", &db, &gz]));
    let restore = timed(&mut py(&[&"restore", &db, &gz]));
    Side {
        log,
        bytes_per_decision,
        bytes_settled,
        archive,
        restore,
    }
}

fn polyperf(dir: &Path, jsonl: &Path, n: usize) -> Side {
    let db = dir.join("polyperf.db");
    drop(polyperf::db::create(&db).expect("create"));
    let log = timed(
        Command::new(env!("CARGO_BIN_EXE_polyperf"))
            .env("POLYPERF_DB", &db)
            .args(["--json", "log"])
            .arg(jsonl),
    );
    let bytes_per_decision = bytes_per_row(&db, n);

    let conn = polyperf::db::open(&db).expect("open");
    let settled = common::fixtures::settle_in_sql(&conn, "9999-12-31").expect("settle");
    assert_eq!(settled, n, "every decision settled");
    drop(conn);
    let bytes_settled = bytes_per_row(&db, n);
    let archive_dir = dir.join("archive");
    let archive = timed(
        Command::new(env!("CARGO_BIN_EXE_polyperf-archive"))
            .env("POLYPERF_DB", &db)
            .args(["--now", "2027-06-01T00:00:00Z", "--older-than", "30"])
            .arg("--archive-dir")
            .arg(&archive_dir),
    );
    let conn = polyperf::db::open(&db).expect("open");
    let left: i64 = conn
        .query_row("SELECT count(*) FROM trades", [], |r| r.get(0))
        .expect("count");
    assert_eq!(left, 0, "the archive job archived every decision");
    drop(conn);

    let mut files: Vec<PathBuf> = std::fs::read_dir(&archive_dir)
        .expect("archive dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".jsonl.gz"))
        .collect();
    files.sort();
    // Back into the database that archived them, as an operator restores a week: its own
    // files (the manifest knows them) go in without the value checks a foreign file gets.
    let restore = timed(
        Command::new(env!("CARGO_BIN_EXE_polyperf"))
            .env("POLYPERF_DB", &db)
            .arg("--json")
            .args(["archive", "restore"])
            .arg("--archive-dir")
            .arg(&archive_dir)
            .args(&files),
    );
    let conn = polyperf::db::open(&db).expect("open");
    let back: i64 = conn
        .query_row("SELECT count(*) FROM trades", [], |r| r.get(0))
        .expect("count");
    assert_eq!(back as usize, n, "every decision restored");
    Side {
        log,
        bytes_per_decision,
        bytes_settled,
        archive,
        restore,
    }
}

fn main() {
    let n = common::rows(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let jsonl = dir.path().join("decisions.jsonl");
    let text = common::trader_jsonl(n, 20);
    std::fs::write(&jsonl, &text).expect("write decisions");
    println!(
        "{n} decisions shaped like a real trader's: {:.1} MB JSONL, {:.0} bytes a line",
        text.len() as f64 / 1e6,
        text.len() as f64 / n as f64
    );
    // POLYPERF_BENCH_JSONL=PATH keeps a copy of the input (to profile `polyperf log` alone).
    if let Some(keep) = std::env::var_os("POLYPERF_BENCH_JSONL") {
        std::fs::write(keep, &text).expect("write the kept copy");
    }
    drop(text);

    let ours = polyperf(dir.path(), &jsonl, n);
    let floor = match python() {
        Ok(()) => Some(floor(dir.path(), &jsonl, n)),
        Err(why) => {
            println!("floor skipped: {why}; polyperf's figures alone");
            None
        }
    };
    let floor = floor.as_ref();
    println!(
        "{:<24} {:>12} {:>12} {:>8}",
        "step", "polyperf", "floor", "ratio"
    );
    let row = |name: &str, ours: f64, floor: Option<f64>, unit: &dyn Fn(f64) -> String| {
        let ratio = floor.map_or_else(|| "-".to_string(), |f| format!("{:.2}x", ours / f));
        println!(
            "{name:<24} {:>12} {:>12} {ratio:>8}",
            unit(ours),
            floor.map_or_else(|| "-".to_string(), unit),
        );
    };
    let secs = |s: f64| format!("{s:.3} s");
    let per_s = |s: f64| format!("{:.0}/s", n as f64 / s);
    let bytes = |b: f64| format!("{b:.0} B");
    let steps: [(&str, Step); 3] = [
        ("log", |s| s.log),
        ("archive", |s| s.archive),
        ("restore", |s| s.restore),
    ];
    for (name, step) in steps {
        let (w, c) = (step(&ours), floor.map(step));
        row(&format!("{name} wall"), w.wall, c.map(|c| c.wall), &secs);
        row(&format!("{name} CPU"), w.cpu, c.map(|c| c.cpu), &secs);
        row(
            &format!("{name} decisions/s wall"),
            w.wall,
            c.map(|c| c.wall),
            &per_s,
        );
    }
    row(
        "bytes per decision",
        ours.bytes_per_decision,
        floor.map(|f| f.bytes_per_decision),
        &bytes,
    );
    row(
        "bytes, once settled",
        ours.bytes_settled,
        floor.map(|f| f.bytes_settled),
        &bytes,
    );
    println!("(ratio: polyperf's time or size over the floor's; under 1 is better)");
}
