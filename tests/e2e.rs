//! End to end: local Gamma, Binance, OpenAI and Telegram servers; a simulated trader logs
//! decisions while the job binaries run as processes in timer order over a simulated week
//! (`--now`). At the end: every decision settled correctly, reflections and proposals present,
//! a tier-1 change applied, a tier-2 change approved by a button press, a losing streak paused
//! trading and /resume resumed it, archives verify and restore, no Telegram message lost or
//! duplicated, and `polyperf status` agrees.

use std::process::Output;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use polyperf::db::Money;
use polyperf::decision::Decision;
use polyperf::kinds::Action;
use polyperf::sim;
use rust_decimal::Decimal;

use crate::common::{bin_cmd, stdout_json, succeeds, TestDb};
use crate::fakes::{self, Fakes, Faults};

const TOKEN: &str = "424242:E2E-secret-token";
const CHAT: i64 = -1001234;
const ANN: i64 = 111;

struct World {
    db: TestDb,
    env: Vec<(String, String)>,
}

impl World {
    fn run(&self, bin: &str, args: &[&str], now: DateTime<Utc>) -> Output {
        let mut cmd = bin_cmd(bin);
        cmd.env("POLYPERF_DB", &self.db.path)
            .env("POLYPERF_ARCHIVE_DIR", self.db.dir.path().join("archive"));
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.args(args)
            .arg("--now")
            .arg(now.to_rfc3339())
            .arg("--json")
            .output()
            .unwrap()
    }

    /// Runs a job and insists it did not fail (0, or 75 for "try again next run").
    fn job(&self, bin: &str, args: &[&str], now: DateTime<Utc>) -> serde_json::Value {
        let out = self.run(bin, args, now);
        let code = out.status.code();
        assert!(
            matches!(code, Some(0) | Some(75)),
            "{bin} {args:?} at {now}: exit {code:?}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout_json(&out)
    }

    fn paused(&self) -> bool {
        self.db.count("SELECT paused FROM trading_control") == 1
    }
}

/// Turns the decisions of one window into losers (the side opposite to the official result).
fn make_losers(decisions: &mut [Decision], candles: &[sim::Candle]) {
    for d in decisions.iter_mut() {
        let (start, end) = polyperf::market::window_from_slug(&d.market_slug).unwrap();
        let up = fakes::official_outcome(candles, start.timestamp(), (end - start).num_seconds())
            == Some("UP");
        d.action = if up { Action::No } else { Action::Yes };
        d.position_size = Decimal::new(500, 2);
        d.executed_price = Some(Decimal::new(50, 2));
        d.confidence = 0.9;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_week_end_to_end() {
    let t0 = Utc.with_ymd_and_hms(2026, 2, 9, 0, 0, 0).unwrap();
    let days = 7;
    let candles = Arc::new(sim::candles(t0, days * 24 * 60, 11));
    let fakes = Fakes::start(candles.clone(), Faults::default(), TOKEN).await;
    // The model first suggests a small position-size change (tier 1), later a larger
    // threshold change (tier 2).
    *fakes.openai_answer.answer.lock().unwrap() =
        fakes::model_answer("bot_max_position_dollars", "10", "10.4");
    let mut env = fakes.env(CHAT, ANN);
    env.extend(
        [
            // Only the consecutive-loss rule, at a length the simulated trader never reaches by chance.
            ("POLYPERF_ADJUST_MAX_CONSECUTIVE_LOSSES", "12"),
            ("POLYPERF_ADJUST_DAILY_LOSS_LIMIT", "0"),
            ("POLYPERF_ADJUST_MAX_DRAWDOWN", "0"),
            ("POLYPERF_ADJUST_WIN_RATE_FLOOR", "0"),
            ("POLYPERF_TELEGRAM_MERGE_THRESHOLD", "1000"),
            // A fresh install only observes; this world shows tier 1 applied and tier 2 approved.
            ("POLYPERF_ADJUST_AUTONOMY", "tier1"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let world = World {
        db: TestDb::new(),
        env,
    };

    let mut decisions = sim::decisions(&candles, 3, 11);
    // Day 3: the last fourteen trades before 12:00 all lose. The jobs run at the end of each
    // 6-hour step, so the adjuster sees the streak as the current one (as its 15-minute timer would).
    let boundary = t0 + Duration::days(2) + Duration::hours(12);
    let before: Vec<usize> = decisions
        .iter()
        .enumerate()
        .filter(|(_, d)| d.timestamp < boundary)
        .map(|(i, _)| i)
        .collect();
    let streak: Vec<usize> = before[before.len() - 14..].to_vec();
    let mut losers: Vec<Decision> = streak.iter().map(|i| decisions[*i].clone()).collect();
    make_losers(&mut losers, &candles);
    for (i, d) in streak.iter().zip(losers) {
        decisions[*i] = d;
    }

    let step = Duration::hours(6);
    let mut logged = 0usize;
    let mut skipped_while_paused = 0usize;
    let mut pause_seen = false;
    let mut resumed = false;
    let mut tier2_pressed = false;
    let mut now = t0;
    while now < t0 + Duration::days(days as i64) {
        now += step;
        // The trader: logs this period's decisions unless trading is paused.
        let batch: Vec<&Decision> = decisions[logged..]
            .iter()
            .take_while(|d| d.timestamp < now)
            .collect();
        let n = batch.len();
        if world.paused() {
            skipped_while_paused += n;
        } else if n > 0 {
            let text: String = batch
                .iter()
                .map(|d| serde_json::to_string(d).unwrap() + "\n")
                .collect();
            let out = {
                let mut cmd = bin_cmd("polyperf");
                cmd.env("POLYPERF_DB", &world.db.path)
                    .args(["--json", "log", "-"])
                    .write_stdin(text);
                cmd.output().unwrap()
            };
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        logged += n;

        // The timers, in order: settle, reflect, adjust, telegram; the daily reflection.
        world.job("polyperf-settle", &[], now + Duration::minutes(2));
        world.job("polyperf-reflect", &[], now + Duration::minutes(5));
        if now.format("%H").to_string() == "00" {
            world.job(
                "polyperf-reflect",
                &["--trigger", "end_of_day"],
                now + Duration::minutes(10),
            );
        }
        world.job("polyperf-adjust", &[], now + Duration::minutes(7));
        world.job("polyperf-telegram", &["--once"], now + Duration::minutes(8));

        if world.paused() && !pause_seen {
            pause_seen = true;
            // Ann reads the pause message and resumes from Telegram.
            fakes
                .telegram_state
                .lock()
                .unwrap()
                .push_command(CHAT, ANN, "/resume");
            world.job("polyperf-telegram", &["--once"], now + Duration::minutes(9));
            resumed = !world.paused();
        }
        // Once a tier-1 change has been applied, the model asks for a larger one.
        if world
            .db
            .count("SELECT count(*) FROM parameter_history WHERE approval_method = 'auto'")
            > 0
        {
            *fakes.openai_answer.answer.lock().unwrap() =
                fakes::model_answer("bot_confidence_threshold", "0.75", "0.80");
        }
        // An approval request reached the chat: Ann presses Approve.
        if !tier2_pressed {
            let press = {
                let state = fakes.telegram_state.lock().unwrap();
                state.deliveries.iter().find_map(|d| {
                    let data = d.reply_markup.as_ref()?["inline_keyboard"][0][0]["callback_data"]
                        .as_str()?
                        .to_string();
                    data.starts_with("approve:").then_some((d.message_id, data))
                })
            };
            if let Some((message_id, data)) = press {
                fakes
                    .telegram_state
                    .lock()
                    .unwrap()
                    .push_button(CHAT, ANN, message_id, &data);
                world.job("polyperf-telegram", &["--once"], now + Duration::minutes(9));
                tier2_pressed = true;
            }
        }
    }
    // Let the last windows close and drain everything.
    let end = t0 + Duration::days(days as i64) + Duration::hours(1);
    world.job("polyperf-settle", &[], end);
    world.job("polyperf-telegram", &["--once"], end);

    // Every logged decision settled, and correctly.
    let db = &world.db;
    assert_eq!(
        db.count("SELECT count(*) FROM trades") as usize,
        logged - skipped_while_paused
    );
    assert_eq!(
        db.count("SELECT count(*) FROM trades WHERE settlement_status <> 'settled'"),
        0,
        "unsettled decisions remain"
    );
    let conn = db.conn();
    let mut stmt = conn.prepare("SELECT decision_id, market_slug, action, position_size, executed_price, actual_outcome, profit_loss, is_win, settlement_source FROM trades").unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                Money::get(r, 3)?,
                Money::get(r, 4)?,
                r.get::<_, String>(5)?,
                Money::get(r, 6)?,
                r.get::<_, Option<i64>>(7)?,
                r.get::<_, String>(8)?,
            ))
        })
        .unwrap();
    for row in rows {
        let (id, slug, action, size, price, outcome, pnl, is_win, source) = row.unwrap();
        let (start, end) = polyperf::market::window_from_slug(&slug).unwrap();
        let expected =
            fakes::official_outcome(&candles, start.timestamp(), (end - start).num_seconds())
                .unwrap();
        assert_eq!(outcome, expected, "{id}");
        assert_eq!(
            source, "gamma",
            "{id}: the official result is the source of truth"
        );
        if action == "HOLD" {
            continue;
        }
        let (size, p) = (size.unwrap(), price.unwrap());
        let won = (action == "YES") == (expected == "UP");
        let shares = size / p;
        // February 2026, before the CLOB V2 cut-over: the taker fee, rounded down to 5
        // decimals, is taken in shares.
        let fee = (shares * Decimal::new(7, 2) * p * (Decimal::ONE - p))
            .round_dp_with_strategy(5, rust_decimal::RoundingStrategy::ToZero);
        let profit = if won { shares - fee / p - size } else { -size };
        let stored = pnl.unwrap();
        assert!(
            (stored - profit).abs() <= Decimal::new(1, 6),
            "{id}: P&L {stored} != {profit} ({action} {size} @ {p})"
        );
        assert_eq!(is_win, Some(won as i64), "{id}");
    }

    // Reflections (the OpenAI-compatible server was asked) and proposals.
    assert!(
        db.count("SELECT count(*) FROM reflections WHERE engine = 'openai' AND status = 'ok'") >= 3
    );
    assert!(db.count("SELECT count(*) FROM reflections WHERE trigger_type = 'end_of_day'") >= 5);
    assert!(db.count("SELECT count(*) FROM proposals") >= 2);
    // Tier 1 applied by the job; tier 2 approved by Ann's button press.
    let proposals: Vec<String> = {
        let mut s = conn.prepare("SELECT id || ' ' || parameter_name || ' ' || current_value || '->' || proposed_value || ' tier ' || ifnull(tier, '-') || ' ' || status || ': ' || ifnull(status_reason, '') FROM proposals").unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    eprintln!("proposals:\n{}", proposals.join("\n"));
    assert_eq!(db.count("SELECT count(*) FROM parameter_history WHERE approval_method = 'auto' AND parameter_name = 'bot_max_position_dollars' AND CAST(new_value AS REAL) = 10.4"), 1);
    assert!(tier2_pressed, "no approval request reached the chat");
    assert_eq!(db.count("SELECT count(*) FROM parameter_history WHERE approval_method = 'telegram' AND parameter_name = 'bot_confidence_threshold' AND CAST(new_value AS REAL) = 0.8"), 1);
    let threshold: String = conn
        .query_row(
            "SELECT value FROM parameters WHERE name = 'bot_confidence_threshold'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(Decimal::from_str(&threshold).unwrap(), Decimal::new(80, 2));
    assert!(
        !fakes
            .telegram_state
            .lock()
            .unwrap()
            .callback_answers
            .is_empty(),
        "the press was answered"
    );
    // The losing streak paused trading; /resume from Telegram resumed it.
    assert!(pause_seen, "the emergency pause never fired");
    assert!(resumed, "/resume did not resume trading");
    assert_eq!(db.count("SELECT count(*) FROM control_events WHERE action = 'pause' AND rule LIKE '%consecutive%'"), 1);
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM control_events WHERE action = 'resume' AND by = 'telegram:{ANN}'"
        )),
        1
    );

    // Telegram: every queued message delivered exactly once, none lost.
    assert_eq!(
        db.count("SELECT count(*) FROM outbox WHERE status <> 'sent'"),
        0,
        "undelivered messages"
    );
    let state = fakes.telegram_state.lock().unwrap();
    let referenced: std::collections::HashSet<i64> = {
        let mut s = conn
            .prepare("SELECT DISTINCT message_id FROM outbox")
            .unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let delivered: std::collections::HashSet<i64> =
        state.deliveries.iter().map(|d| d.message_id).collect();
    let lost: Vec<_> = referenced.difference(&delivered).collect();
    let extra: Vec<&fakes::Delivery> = state
        .deliveries
        .iter()
        .filter(|d| !referenced.contains(&d.message_id))
        .collect();
    assert!(
        lost.is_empty(),
        "sent rows whose message never arrived: {lost:?}"
    );
    // Deliveries outside the outbox are the trade feed (read from `trades`, issue 17) and the
    // bot's direct replies to commands (/resume).
    let replies: Vec<&&fakes::Delivery> = extra
        .iter()
        .filter(|d| !fakes::is_feed_text(&d.text))
        .collect();
    assert!(
        replies.len() <= 1
            && replies
                .iter()
                .all(|d| d.text.to_lowercase().contains("resum")),
        "unexpected deliveries: {:?}",
        replies.iter().map(|d| &d.text).collect::<Vec<_>>()
    );
    // Every settled position's result came once (each run's few are sent one by one here: the
    // merge threshold is 1,000 and results wait minutes, not hours).
    assert_eq!(
        extra
            .iter()
            .filter(|d| fakes::is_result_text(&d.text))
            .count() as i64,
        db.count("SELECT count(*) FROM trades WHERE settlement_status = 'settled' AND action IN ('YES', 'NO') AND is_win IS NOT NULL"),
    );
    let mut ids: Vec<i64> = state.deliveries.iter().map(|d| d.message_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        state.deliveries.len(),
        "a message id delivered twice"
    );
    // No message delivered twice: each outbox row maps to its own delivery (merges aside).
    assert_eq!(
        db.count("SELECT count(*) FROM outbox") as usize,
        db.count("SELECT count(*) FROM outbox WHERE message_id IS NOT NULL") as usize
    );
    assert!(state
        .deliveries
        .iter()
        .all(|d| d.chat_id == CHAT.to_string()));
    assert!(state.deliveries.iter().any(|d| d.text.contains("paused")
        || d.text.contains("Paused")
        || d.text.contains("PAUSED")));
    drop(state);

    // polyperf status agrees with the data.
    let status = stdout_json(&world.run("polyperf", &["status"], end));
    assert_eq!(
        status["trades"]["total"].as_i64(),
        Some(db.count("SELECT count(*) FROM trades"))
    );
    assert_eq!(
        status["trades"]["settled"].as_i64(),
        Some(db.count("SELECT count(*) FROM trades"))
    );
    assert_eq!(status["trading_paused"], false);
    assert_eq!(status["jobs"]["settle"]["status"], "ok");

    // A month later: archive, verify, restore into a fresh database.
    let total = db.count("SELECT count(*) FROM trades");
    let profit_before = polyperf::metrics::compute(&conn, &polyperf::metrics::Window::All, end)
        .unwrap()
        .total_profit;
    let archived = world.job("polyperf-archive", &[], end + Duration::days(31));
    assert_eq!(archived["rows_archived"]["trades"].as_i64(), Some(total));
    assert_eq!(db.count("SELECT count(*) FROM trades"), 0);
    let profit_after = polyperf::metrics::compute(
        &db.conn(),
        &polyperf::metrics::Window::All,
        end + Duration::days(31),
    )
    .unwrap()
    .total_profit;
    assert_eq!(
        profit_before, profit_after,
        "all-time P&L survives archival"
    );
    let verify = {
        let mut cmd = bin_cmd("polyperf");
        cmd.env("POLYPERF_DB", &db.path)
            .env("POLYPERF_ARCHIVE_DIR", db.dir.path().join("archive"))
            .args(["archive", "verify"]);
        cmd.output().unwrap()
    };
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let fresh = TestDb::new();
    let mut restored = 0;
    for entry in std::fs::read_dir(db.dir.path().join("archive")).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("trades-")
        {
            let out = succeeds(
                bin_cmd("polyperf")
                    .env("POLYPERF_DB", &fresh.path)
                    .args(["--json", "archive", "restore"])
                    .arg(&path),
            );
            restored += stdout_json(&out)["inserted"].as_i64().unwrap();
        }
    }
    assert_eq!(restored, total);
}
