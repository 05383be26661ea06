//! Soak with chaos: a simulated trader logs decisions at a high rate while every job runs
//! repeatedly as a process against the same database, the remote APIs are local servers that
//! inject faults, and a chaos loop SIGKILLs random job processes. At the end every promise is
//! checked and printed as a table; then a disk-full run on a small tmpfs.
//!
//! `cargo test --test soak` runs 60 s (CI); `cargo test --release --test soak -- --minutes 10`
//! by hand. `SOAK_SECONDS` overrides both.

#[path = "../common/mod.rs"]
mod common;
#[path = "../fakes/mod.rs"]
mod fakes;

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use polyperf::sim::{self, Candle};
use rust_decimal::Decimal;

const TOKEN: &str = "123456:SOAK-secret-token";
const CHAT: i64 = -1001234;
const USER: i64 = 111;

fn main() {
    let seconds = soak_seconds();
    let mut checks = Checks::default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(soak(seconds, &mut checks));
    disk_full(&mut checks);
    checks.print_and_exit();
}

fn soak_seconds() -> u64 {
    if let Some(s) = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return s;
    }
    let args: Vec<String> = std::env::args().collect();
    for (i, a) in args.iter().enumerate() {
        let next = args.get(i + 1).and_then(|v| v.parse::<u64>().ok());
        match a.as_str() {
            "--minutes" => return next.map(|m| m * 60).unwrap_or(60),
            "--seconds" => return next.unwrap_or(60),
            _ => {}
        }
    }
    60
}

#[derive(Default)]
struct Checks {
    rows: Vec<(String, bool, String)>,
}

impl Checks {
    fn check(&mut self, name: &str, ok: bool, detail: impl Into<String>) {
        self.rows.push((name.to_string(), ok, detail.into()));
    }

    fn print_and_exit(&self) {
        println!("\n{:<58} {:<6} detail", "invariant", "result");
        println!("{}", "-".repeat(110));
        for (name, ok, detail) in &self.rows {
            println!(
                "{name:<58} {:<6} {detail}",
                if *ok { "ok" } else { "FAILED" }
            );
        }
        let failed = self.rows.iter().filter(|r| !r.1).count();
        println!(
            "\nsoak: {} passed, {} failed",
            self.rows.len() - failed,
            failed
        );
        std::process::exit(if failed == 0 { 0 } else { 1 });
    }
}

/// Child processes currently running, by pid, with their job name, for the chaos loop.
type Running = Arc<Mutex<HashMap<u32, &'static str>>>;

/// How often each job exited with each code.
type ExitCounts = HashMap<(&'static str, Option<i32>), u64>;

struct JobSpec {
    name: &'static str,
    bin: &'static str,
    args: Vec<String>,
    pause: Duration,
}

async fn soak(seconds: u64, checks: &mut Checks) {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("performance.db");
    let archive_dir = dir.path().join("archive");
    polyperf::db::create(&db_path).unwrap();

    // 20 days of prices ending 2 minutes ago: every window is closed and resolved.
    let end = Utc::now() - chrono::Duration::minutes(2);
    let start = sim::days_before(end, 20);
    let minutes = ((end - start).num_minutes()) as usize;
    let candles = Arc::new(sim::candles(start, minutes, 42));
    let faults = fakes::Faults {
        rate: 0.08,
        stall: Duration::from_secs(3),
        ..Default::default()
    };
    let calm = faults.calm.clone();
    let fakes = fakes::Fakes::start(candles.clone(), faults, TOKEN).await;
    // Dropped connections in front of Binance and Telegram.
    let binance_proxy = fakes::drop_proxy(*fakes.binance.address(), 0.05, 9).await;
    let telegram_proxy = fakes::drop_proxy(*fakes.telegram.address(), 0.05, 10).await;
    let mut env = fakes.env(CHAT, USER);
    for (k, v) in env.iter_mut() {
        if k == "BINANCE_API_BASE" {
            *v = binance_proxy.clone();
        }
        if k == "TELEGRAM_API_BASE" {
            *v = telegram_proxy.clone();
        }
    }
    env.push(("POLYPERF_DB".into(), db_path.display().to_string()));
    env.push((
        "POLYPERF_ARCHIVE_DIR".into(),
        archive_dir.display().to_string(),
    ));
    env.push(("POLYPERF_LOG_FORMAT".into(), "json".into()));
    env.push(("RUST_LOG".into(), "warn".into()));
    // The host's disk may be nearly full: cleanup must not archive this run's rows because of it.
    env.push(("POLYPERF_MIN_FREE_PERCENT".into(), "0".into()));
    env.push(("POLYPERF_MIN_FREE_BYTES".into(), "1000000".into()));
    // The shortest lease settings allow: a SIGKILLed holder's lease is taken over at once on
    // this host anyway; a hung one expires within the run.
    env.push(("POLYPERF_GENERAL_LOCK_LEASE_SECS".into(), "30".into()));
    let env = Arc::new(env);

    let stop = Arc::new(AtomicBool::new(false));
    let running: Running = Arc::default();
    let kills: Arc<Mutex<HashMap<&'static str, u64>>> = Arc::default();

    // The trader.
    let logged: Arc<Mutex<Vec<String>>> = Arc::default();
    let trader_errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let trader = {
        let (db_path, candles, stop, logged, errors) = (
            db_path.clone(),
            candles.clone(),
            stop.clone(),
            logged.clone(),
            trader_errors.clone(),
        );
        std::thread::spawn(move || trader_loop(&db_path, &candles, &stop, &logged, &errors))
    };

    // Every job, repeatedly, as processes.
    let jobs = vec![
        JobSpec {
            name: "settle",
            bin: "polyperf-settle",
            args: vec![],
            pause: Duration::from_millis(300),
        },
        JobSpec {
            name: "reflect",
            bin: "polyperf-reflect",
            args: vec![],
            pause: Duration::from_millis(700),
        },
        JobSpec {
            name: "adjust",
            bin: "polyperf-adjust",
            args: vec![],
            pause: Duration::from_millis(700),
        },
        JobSpec {
            name: "telegram",
            bin: "polyperf-telegram",
            args: vec!["--once".into()],
            pause: Duration::from_millis(300),
        },
        JobSpec {
            name: "archive",
            bin: "polyperf-archive",
            args: vec!["--older-than".into(), "10".into()],
            pause: Duration::from_millis(1500),
        },
        JobSpec {
            name: "cleanup",
            bin: "polyperf-cleanup",
            args: vec![],
            pause: Duration::from_millis(2000),
        },
    ];
    let exit_codes: Arc<Mutex<ExitCounts>> = Arc::default();
    let mut handles = Vec::new();
    for job in jobs {
        let (env, stop, running, exit_codes) = (
            env.clone(),
            stop.clone(),
            running.clone(),
            exit_codes.clone(),
        );
        handles.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let code = run_process(job.bin, &job.args, &env, Some((&running, job.name)));
                *exit_codes
                    .lock()
                    .unwrap()
                    .entry((job.name, code))
                    .or_default() += 1;
                std::thread::sleep(job.pause);
            }
        }));
    }

    // Chaos: SIGKILL a random running job now and then.
    let chaos = {
        let (stop, running, kills) = (stop.clone(), running.clone(), kills.clone());
        std::thread::spawn(move || {
            let mut rng = sim::Rng::new(77);
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(rng.range(200, 1200) as u64));
                let victims: Vec<(u32, &'static str)> = running
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|(p, n)| (*p, *n))
                    .collect();
                if victims.is_empty() {
                    continue;
                }
                let (pid, name) = victims[rng.range(0, victims.len() as i64) as usize];
                // SAFETY: kill(2) on a pid we spawned and have not reaped (it is still in `running`).
                if unsafe { libc::kill(pid as i32, libc::SIGKILL) } == 0 {
                    *kills.lock().unwrap().entry(name).or_default() += 1;
                }
            }
        })
    };

    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stop.store(true, Ordering::Relaxed);
    trader.join().unwrap();
    chaos.join().unwrap();
    for h in handles {
        h.join().unwrap();
    }
    let n_kills: u64 = kills.lock().unwrap().values().sum();
    let telegram_kills = kills.lock().unwrap().get("telegram").copied().unwrap_or(0);
    println!(
        "soak: {seconds} s, {} decisions logged, {n_kills} SIGKILLs {:?}",
        logged.lock().unwrap().len(),
        kills.lock().unwrap()
    );
    println!("soak: job exits {:?}", exit_codes.lock().unwrap());
    println!(
        "soak: fake API requests {}, faults injected {}",
        fakes.counters.requests.load(Ordering::Relaxed),
        fakes.counters.faults.load(Ordering::Relaxed)
    );

    // Recovery: the chaos is over, the APIs behave again, and the next runs finish the work.
    calm.store(true, Ordering::Relaxed);
    let mut env_final: Vec<(String, String)> = env.iter().cloned().collect();
    env_final.retain(|(k, _)| k != "POLYPERF_GENERAL_LOCK_LEASE_SECS");
    env_final.push(("POLYPERF_GENERAL_LOCK_LEASE_SECS".into(), "600".into()));
    // Leases of killed processes need no wait: their holders are gone from this host, so the
    // next run takes them over at once.
    for _ in 0..30 {
        let settled = run_process("polyperf-settle", &[], &env_final, None);
        let due = count(&db_path, "SELECT count(*) FROM trades WHERE settlement_status = 'pending' AND market_end <= datetime('now', '-5 minutes')");
        if settled == Some(0) && due == 0 {
            break;
        }
    }
    for _ in 0..5 {
        if run_process(
            "polyperf-archive",
            &["--older-than".into(), "10".into()],
            &env_final,
            None,
        ) == Some(0)
        {
            break;
        }
    }
    // Telegram retries back off across runs (up to an hour): let that time pass, two hours
    // more on each run, since the proxy still drops a connection now and then and a send that
    // fails here backs off from this run's "now" (with one fixed "now", every later run would
    // wait behind it).
    for round in 0..40 {
        let later = (Utc::now() + chrono::Duration::hours(2 + 2 * round)).to_rfc3339();
        run_process(
            "polyperf-telegram",
            &["--once".into(), "--now".into(), later],
            &env_final,
            None,
        );
        if count(
            &db_path,
            "SELECT count(*) FROM outbox WHERE status = 'pending'",
        ) == 0
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }

    check_invariants(
        checks,
        &db_path,
        &archive_dir,
        &env_final,
        &candles,
        &logged.lock().unwrap(),
        &trader_errors.lock().unwrap(),
        &fakes,
        telegram_kills,
    );
}

/// Runs a binary to completion; registers it for the chaos loop while it runs.
fn run_process(
    bin: &str,
    args: &[String],
    env: &[(String, String)],
    chaos: Option<(&Running, &'static str)>,
) -> Option<i32> {
    let mut cmd = Command::new(common::bin_path(bin));
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn job");
    let pid = child.id();
    if let Some((running, name)) = chaos {
        running.lock().unwrap().insert(pid, name);
    }
    let status = child.wait().expect("wait job");
    if let Some((running, _)) = chaos {
        running.lock().unwrap().remove(&pid);
    }
    status.code()
}

fn count(db: &Path, sql: &str) -> i64 {
    polyperf::db::open(db)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

/// Logs decisions one at a time (each its own transaction), ~400/s, cycling through
/// simulated traders (seeds) over the same markets so ids stay unique.
fn trader_loop(
    db: &Path,
    candles: &[Candle],
    stop: &AtomicBool,
    logged: &Mutex<Vec<String>>,
    errors: &Mutex<Vec<String>>,
) {
    let mut tracker = polyperf::Tracker::open(db).unwrap();
    let mut seed = 1;
    let started = Instant::now();
    let sent = AtomicU64::new(0);
    'outer: loop {
        for d in sim::decisions(candles, 3, seed) {
            if stop.load(Ordering::Relaxed) {
                break 'outer;
            }
            match tracker.log_decision(&d) {
                Ok(_) => logged.lock().unwrap().push(d.key()),
                Err(e) => errors.lock().unwrap().push(format!("{e:#}")),
            }
            let n = sent.fetch_add(1, Ordering::Relaxed) + 1;
            // Pace at ~400 decisions/s.
            let due = Duration::from_micros(n * 2_500);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        seed += 1;
    }
}

/// Every row of every archive file of `table`.
fn archived_rows(archive_dir: &Path, table: &str) -> Vec<serde_json::Value> {
    let mut rows = Vec::new();
    let Ok(entries) = std::fs::read_dir(archive_dir) else {
        return rows;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with(&format!("{table}-")) || !name.ends_with(".jsonl.gz") {
            continue;
        }
        let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(
            std::fs::File::open(&path).unwrap(),
        ));
        for (i, line) in reader.lines().enumerate() {
            let value: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
            if i > 0 {
                rows.push(value);
            }
        }
    }
    rows
}

/// Money from a JSON value: a string (archives written before money became REAL) or a number
/// (the database and newer archives), at USDC's 6 decimals.
fn dec(v: &serde_json::Value) -> Option<Decimal> {
    v.as_str()
        .and_then(|s| Decimal::from_str(s).ok())
        .or_else(|| v.as_f64().and_then(Decimal::from_f64_retain))
        .map(|d| d.round_dp(6))
}

#[allow(clippy::too_many_arguments)]
fn check_invariants(
    checks: &mut Checks,
    db_path: &Path,
    archive_dir: &PathBuf,
    env: &[(String, String)],
    candles: &[Candle],
    logged: &[String],
    trader_errors: &[String],
    fakes: &fakes::Fakes,
    telegram_kills: u64,
) {
    let conn = polyperf::db::open(db_path).unwrap();
    let trade_rows: Vec<serde_json::Value> = {
        let mut stmt = conn
            .prepare("SELECT json_object('decision_id', decision_id, 'action', action, 'position_size', position_size, 'executed_price', executed_price, 'market_slug', market_slug, 'settlement_status', settlement_status, 'actual_outcome', actual_outcome, 'profit_loss', profit_loss, 'is_win', is_win, 'unsettleable_reason', unsettleable_reason, 'market_end', market_end, 'fee', fee, 'timestamp', timestamp) FROM trades")
            .unwrap();
        stmt.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|s| serde_json::from_str(&s.unwrap()).unwrap())
            .collect()
    };
    let archived = archived_rows(archive_dir, "trades");

    // 1. Decisions logged = decisions in the database + in archives, each exactly once.
    let mut seen: HashMap<String, u32> = HashMap::new();
    for row in trade_rows.iter().chain(archived.iter()) {
        *seen
            .entry(row["decision_id"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    let logged_set: HashSet<&String> = logged.iter().collect();
    let missing = logged.iter().filter(|id| !seen.contains_key(*id)).count();
    let doubled = seen.values().filter(|n| **n > 1).count();
    let extra = seen.keys().filter(|id| !logged_set.contains(id)).count();
    checks.check(
        "every logged decision stored exactly once (db + archives)",
        missing == 0 && doubled == 0 && extra == 0 && !logged.is_empty(),
        format!("{} logged, {} in db, {} archived, {missing} missing, {doubled} duplicated, {extra} unknown", logged.len(), trade_rows.len(), archived.len()),
    );

    // 2. Every decision past its window + grace is settled or unsettleable with a reason.
    let horizon = polyperf::time::to_db(Utc::now() - chrono::Duration::minutes(5));
    let all_rows: Vec<&serde_json::Value> = trade_rows.iter().chain(archived.iter()).collect();
    let unfinished = all_rows
        .iter()
        .filter(|r| {
            r["market_end"]
                .as_str()
                .is_some_and(|e| e <= horizon.as_str())
        })
        .filter(|r| {
            !(r["settlement_status"] == "settled"
                || (r["settlement_status"] == "unsettleable"
                    && r["unsettleable_reason"].is_string()))
        })
        .count();
    checks.check(
        "every due decision settled or unsettleable with a reason",
        unfinished == 0,
        format!("{unfinished} unfinished"),
    );

    // 3. Each settled outcome and P&L equals an independent recomputation.
    let mut wrong = Vec::new();
    let mut n_checked = 0;
    for r in all_rows
        .iter()
        .filter(|r| r["settlement_status"] == "settled")
    {
        let slug = r["market_slug"].as_str().unwrap_or_default();
        let Some((start, end)) = polyperf::market::window_from_slug(slug) else {
            continue;
        };
        let expected =
            fakes::official_outcome(candles, start.timestamp(), (end - start).num_seconds());
        if r["actual_outcome"].as_str() != expected {
            wrong.push(format!(
                "{}: outcome {:?} != {expected:?}",
                r["decision_id"], r["actual_outcome"]
            ));
            continue;
        }
        let action = r["action"].as_str().unwrap_or_default();
        if action == "HOLD" {
            n_checked += 1;
            continue;
        }
        let (Some(size), Some(p)) = (dec(&r["position_size"]), dec(&r["executed_price"])) else {
            wrong.push(format!("{}: missing size/price", r["decision_id"]));
            continue;
        };
        let won = (action == "YES") == (expected == Some("UP"));
        // Independent of polyperf's code: C = size/p shares, fee = C*0.07*p*(1-p) USDC rounded
        // down to 5 dp. Before the CLOB V2 cut-over (2026-04-28 11:00 UTC) it is taken in
        // shares (a win pays C - fee/p dollars); from it on it is charged on top of the stake.
        let shares = size / p;
        let fee = (shares * Decimal::new(7, 2) * p * (Decimal::ONE - p))
            .round_dp_with_strategy(5, rust_decimal::RoundingStrategy::ToZero);
        let in_shares = r["timestamp"].as_str().unwrap_or_default() < "2026-04-28 11:00:00";
        let profit = match (won, in_shares) {
            (true, true) => shares - fee / p - size,
            (false, true) => -size,
            (true, false) => shares - size - fee,
            (false, false) => -size - fee,
        };
        let stored = dec(&r["profit_loss"]).unwrap_or(Decimal::MAX);
        let is_win = r["is_win"].as_i64();
        if (stored - profit).abs() > Decimal::new(1, 6) || is_win != Some(won as i64) {
            wrong.push(format!(
                "{}: stored {stored} win {is_win:?}, expected {} win {won}",
                r["decision_id"],
                profit.round_dp(6)
            ));
        }
        n_checked += 1;
    }
    checks.check(
        "settled outcome and P&L equal an independent recomputation",
        wrong.is_empty() && n_checked > 0,
        format!(
            "{n_checked} checked; {}",
            wrong.iter().take(3).cloned().collect::<Vec<_>>().join("; ")
        ),
    );

    // 4. Every parameters change has one parameter_history row (the chain is unbroken).
    let mut broken = Vec::new();
    let params = polyperf::params::list(&conn).unwrap();
    for p in &params {
        let mut stmt = conn.prepare("SELECT old_value, new_value FROM parameter_history WHERE parameter_name = ?1 ORDER BY id").unwrap();
        let chain: Vec<(String, String)> = stmt
            .query_map([&p.name], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for pair in chain.windows(2) {
            if Decimal::from_str(&pair[0].1).ok() != Decimal::from_str(&pair[1].0).ok() {
                broken.push(format!("{}: {} then {}", p.name, pair[0].1, pair[1].0));
            }
        }
        if let Some(last) = chain.last() {
            if Decimal::from_str(&last.1).ok() != Some(p.value) {
                broken.push(format!(
                    "{} is {} but its last history row says {}",
                    p.name, p.value, last.1
                ));
            }
        }
    }
    let n_history = count(db_path, "SELECT count(*) FROM parameter_history");
    checks.check(
        "every parameter change has exactly one history row",
        broken.is_empty(),
        format!("{n_history} history rows; {}", broken.join("; ")),
    );

    // 5. Every outbox row delivered exactly once or marked failed; none lost.
    let state = fakes.telegram_state.lock().unwrap();
    let delivered_ids: HashSet<i64> = state.deliveries.iter().map(|d| d.message_id).collect();
    let mut outbox: Vec<(String, Option<i64>)> = {
        let mut stmt = conn
            .prepare("SELECT status, message_id FROM outbox")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    for row in archived_rows(archive_dir, "outbox") {
        outbox.push((
            row["status"].as_str().unwrap_or_default().to_string(),
            row["message_id"].as_i64(),
        ));
    }
    let pending = outbox.iter().filter(|(s, _)| s == "pending").count();
    let lost = outbox
        .iter()
        .filter(|(s, id)| s == "sent" && !id.is_some_and(|id| delivered_ids.contains(&id)))
        .count();
    let referenced: HashSet<i64> = outbox.iter().filter_map(|(_, id)| *id).collect();
    // The trade feed's messages are read from `trades`, not the outbox (issue 17).
    let unreferenced = state
        .deliveries
        .iter()
        .filter(|d| !referenced.contains(&d.message_id) && !fakes::is_feed_text(&d.text))
        .count();
    let failed = outbox.iter().filter(|(s, _)| s == "failed").count();
    checks.check(
        "every outbox row delivered once or marked failed, none lost",
        pending == 0 && lost == 0 && unreferenced as u64 <= telegram_kills,
        format!(
            "{} rows: {} sent, {failed} failed, {pending} pending; {} deliveries, {unreferenced} duplicates (<= {telegram_kills} telegram kills), {lost} lost",
            outbox.len(),
            outbox.iter().filter(|(s, _)| s == "sent").count(),
            state.deliveries.len()
        ),
    );
    drop(state);

    // 6. Every archive file verifies.
    let out = Command::new(common::bin_path("polyperf"))
        .args(["archive", "verify"])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    let n_files = std::fs::read_dir(archive_dir)
        .map(|d| d.count())
        .unwrap_or(0);
    checks.check(
        "every archive file verifies",
        out.status.success() && n_files > 0,
        format!(
            "{n_files} files; {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ),
    );

    // 7. The trader never saw "database is locked".
    let locked = trader_errors
        .iter()
        .filter(|e| e.contains("locked") || e.contains("busy"))
        .count();
    checks.check(
        "the trader never saw \"database is locked\"",
        locked == 0 && trader_errors.is_empty(),
        format!(
            "{} errors, {locked} locked: {:?}",
            trader_errors.len(),
            trader_errors.iter().take(2).collect::<Vec<_>>()
        ),
    );

    // 8. polyperf status agrees with the data.
    let out = Command::new(common::bin_path("polyperf"))
        .args(["status", "--json"])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let db_counts = (
        count(db_path, "SELECT count(*) FROM trades"),
        count(
            db_path,
            "SELECT count(*) FROM trades WHERE settlement_status = 'settled'",
        ),
        count(
            db_path,
            "SELECT count(*) FROM trades WHERE settlement_status = 'pending'",
        ),
        count(db_path, "SELECT paused FROM trading_control"),
    );
    let status_counts = (
        status["trades"]["total"].as_i64().unwrap_or(-1),
        status["trades"]["settled"].as_i64().unwrap_or(-1),
        status["trades"]["pending"].as_i64().unwrap_or(-1),
        status["trading_paused"]
            .as_bool()
            .map(i64::from)
            .unwrap_or(-1),
    );
    checks.check(
        "polyperf status agrees with the data",
        db_counts == status_counts,
        format!("status {status_counts:?} vs data {db_counts:?}"),
    );

    // 9. The database is intact.
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    checks.check("PRAGMA integrity_check", integrity == "ok", integrity);
}

/// The database on a 16 MiB tmpfs that fills up: the trader's writes fail cleanly with an
/// error it can act on, cleanup recovers space, nothing committed is lost, integrity holds.
fn disk_full(checks: &mut Checks) {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("small");
    std::fs::create_dir(&mount).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
        .arg(&mount)
        .output();
    if !matches!(&mounted, Ok(o) if o.status.success()) {
        let why = match mounted {
            Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
            Err(e) => e.to_string(),
        };
        println!("disk-full run skipped: cannot mount a tmpfs here ({why})");
        checks.check("disk-full run (skipped: no tmpfs mount allowed)", true, why);
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mount.clone());
    let db_path = mount.join("performance.db");
    let archive_dir = dir.path().join("archive"); // on the big disk
    polyperf::db::create(&db_path).unwrap();
    let mut tracker = polyperf::Tracker::open(&db_path).unwrap();
    // Old, finished decisions (archivable), then fresh ones until the disk is full.
    let old_start = sim::days_before(Utc::now(), 60);
    let old = sim::decisions(&sim::candles(old_start, 20 * 24 * 60, 5), 3, 5);
    let mut committed = Vec::new();
    let mut full_error = None;
    for chunk in old.chunks(500) {
        match tracker.log_batch(chunk) {
            Ok(_) => committed.extend(chunk.iter().map(|d| d.key())),
            Err(e) => {
                full_error = Some(format!("{e:#}"));
                break;
            }
        }
    }
    {
        // The old decisions were settled and their alerts delivered long ago (this run is about
        // disk space, not settlement), so they are finished rows that may be archived.
        let conn = tracker.connection();
        conn.execute_batch(
            "UPDATE trades SET settlement_status = 'settled', actual_outcome = 'UP', is_win = (action = 'YES'),
                 profit_loss = '0', settled_at = timestamp WHERE settlement_status = 'pending';
             UPDATE outbox SET status = 'sent', message_id = id, created_at = datetime('now', '-50 days'),
                 sent_at = datetime('now', '-50 days') WHERE status = 'pending';",
        )
        .expect("settling the old decisions before the disk fills");
    }
    // The hourly cleanup ran while space was plentiful: it keeps a 3 MB reserve file.
    let cleanup = |db: &Path| {
        Command::new(common::bin_path("polyperf-cleanup"))
            .args(["--json"])
            .env("POLYPERF_DB", db)
            .env("POLYPERF_ARCHIVE_DIR", &archive_dir)
            .env("POLYPERF_MIN_FREE_BYTES", "2000000")
            // Bytes only: the archive sits on the host's disk, whose fullness is not this
            // test's business (a host with under 10% free made the run fail).
            .env("POLYPERF_MIN_FREE_PERCENT", "0")
            .env("POLYPERF_CLEANUP_RESERVE_BYTES", "3000000")
            .env("POLYPERF_LOG_FORMAT", "json")
            .output()
            .unwrap()
    };
    let first = cleanup(&db_path);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        polyperf::cleanup::reserve_path(&db_path).exists(),
        "cleanup keeps a reserve file"
    );
    let fresh = sim::decisions(
        &sim::candles(sim::days_before(Utc::now(), 3), 3 * 24 * 60, 6),
        3,
        6,
    );
    for d in fresh.iter().cycle().take(200_000) {
        let mut d = d.clone();
        d.decision_id = Some(format!("fresh-{}", committed.len()));
        match tracker.log_decision(&d) {
            Ok(_) => committed.push(d.key()),
            Err(e) => {
                full_error = Some(format!("{e:#}"));
                break;
            }
        }
    }
    drop(tracker);
    let err = full_error.unwrap_or_default();
    checks.check(
        "disk full: the trader's write fails cleanly with an actionable error",
        err.contains("full") || err.contains("disk"),
        err.clone(),
    );

    let free_before = free_bytes(&mount);
    let out = cleanup(&db_path);
    let free_after = free_bytes(&mount);
    checks.check(
        "disk full: cleanup recovers space",
        free_after > free_before && free_after >= 1_000_000,
        format!(
            "free {free_before} -> {free_after} bytes; exit {:?}; {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim()
        ),
    );

    let conn = polyperf::db::open(&db_path).unwrap();
    let mut present: HashSet<String> = {
        let mut stmt = conn.prepare("SELECT decision_id FROM trades").unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    for row in archived_rows(&archive_dir, "trades") {
        present.insert(row["decision_id"].as_str().unwrap_or_default().to_string());
    }
    let lost = committed.iter().filter(|id| !present.contains(*id)).count();
    checks.check(
        "disk full: nothing committed was lost",
        lost == 0,
        format!("{} committed, {lost} lost", committed.len()),
    );
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    checks.check(
        "disk full: PRAGMA integrity_check",
        integrity == "ok",
        integrity,
    );
    // And the trader can write again.
    let mut tracker = polyperf::Tracker::from_connection(conn);
    let mut d = fresh[0].clone();
    d.decision_id = Some("after-cleanup".into());
    let ok = tracker.log_decision(&d);
    checks.check(
        "disk full: the trader writes again after cleanup",
        ok.is_ok(),
        format!("{ok:?}"),
    );
}

fn free_bytes(path: &Path) -> u64 {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid NUL-terminated path and s a writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return 0;
    }
    s.f_bavail as u64 * s.f_frsize as u64
}
