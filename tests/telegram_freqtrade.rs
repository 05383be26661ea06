//! Telegram a Freqtrade user would keep (issue 26): every run is a `polyperf-telegram` process
//! against the stateful fake Bot API (tests/fakes), which refuses what the real one refuses.
//! /help and the menu agree line by line; /profit, /trades, /health; /stop and /start answer
//! as the aliases they are; one reply per command (no queued note repeats a pause); every
//! table fits 34 columns with ✅ / ❌; day counts are UTC days; no period before the first
//! trade; a backlog is one line and a single late trade keeps its own alert.

use std::process::Output;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::common::{bin_cmd, stdout_json, TestDb};
use crate::fakes::{Fakes, Faults};
use crate::metrics::{load, t, Row};

const TOKEN: &str = "777777:FREQ-secret-token";
const CHAT: i64 = -1001234;
const ANN: i64 = 111;
const NOW: &str = "2026-02-11T12:00:00Z";

/// A database, the four fake APIs, and the environment that points the binaries at them.
struct Bot {
    db: TestDb,
    fakes: Fakes,
}

impl Bot {
    async fn start(candles: Vec<polyperf::sim::Candle>) -> Bot {
        let fakes = Fakes::start(Arc::new(candles), Faults::default(), TOKEN).await;
        Bot {
            db: TestDb::new(),
            fakes,
        }
    }

    /// A binary as a process at `now`, with `extra` environment.
    fn run(&self, bin: &str, args: &[&str], now: &str, extra: &[(&str, &str)]) -> Output {
        let mut cmd = bin_cmd(bin);
        cmd.env("POLYPERF_DB", &self.db.path);
        for (k, v) in self.fakes.env(CHAT, ANN) {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.args(args).args(["--now", now]).output().unwrap()
    }

    /// One `polyperf-telegram --once` run; insists on exit 0 and returns its figures.
    fn telegram(&self, now: &str, extra: &[(&str, &str)]) -> Value {
        let out = self.run("polyperf-telegram", &["--json"], now, extra);
        assert!(
            out.status.success(),
            "exit {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        stdout_json(&out)
    }

    fn say(&self, text: &str) {
        self.fakes
            .telegram_state
            .lock()
            .unwrap()
            .push_command(CHAT, ANN, text);
    }

    /// Every text the fake Bot API accepted, in order.
    fn texts(&self) -> Vec<String> {
        let state = self.fakes.telegram_state.lock().unwrap();
        state.deliveries.iter().map(|d| d.text.clone()).collect()
    }
}

/// Commands only: the fixture's trades are not news here.
const QUIET_FEED: [(&str, &str); 2] = [
    ("POLYPERF_TELEGRAM_NOTIFY_TRADE", "off"),
    ("POLYPERF_TELEGRAM_NOTIFY_RESULT", "off"),
];

/// Five settled trades of 5.00 USDC at 0.52 (a win +4.00, a loss −5.00): on 2026-02-11 at
/// 08:00 and 09:00 two wins and at 10:00 a loss, on 2026-02-10 a win, on 2026-01-20 a win.
fn fixture(db: &TestDb) {
    let day = t("2026-02-11T08:00:00Z");
    load(
        db,
        &[
            Row::trade(day, true),
            Row::trade(day + Duration::hours(1), true),
            Row::trade(day + Duration::hours(2), false),
            Row::trade(day - Duration::days(1), true),
            Row::trade(t("2026-01-20T08:00:00Z"), true),
        ],
    );
}

/// Columns a line takes on a phone in a monospace font (the marks take two).
fn columns(line: &str) -> usize {
    line.chars()
        .map(|c| if matches!(c, '✅' | '❌') { 2 } else { 1 })
        .sum()
}

/// The lines of every `<pre>` block of a text, unescaped as Telegram shows them.
fn table_lines(text: &str) -> Vec<String> {
    text.split("<pre>")
        .skip(1)
        .filter_map(|rest| rest.split("</pre>").next())
        .flat_map(|block| block.lines())
        .map(|l| {
            l.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&")
        })
        .collect()
}

/// The reply to each command, in order, with exactly one reply each.
fn replies(bot: &Bot, commands: &[&str]) -> Vec<String> {
    let before = bot.texts().len();
    for command in commands {
        bot.say(command);
    }
    let stats = bot.telegram(NOW, &QUIET_FEED);
    assert_eq!(stats["commands"], commands.len());
    bot.texts()[before..].to_vec()
}

/// Every command answered once (the one picture included), within a phone's width, and the
/// figures as Freqtrade's commands give them: worked out by hand from the fixture.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freqtrade_commands_answer_once_each_within_a_phone() {
    let bot = Bot::start(Vec::new()).await;
    fixture(&bot.db);
    let commands = [
        "/help",
        "/profit",
        "/profit 2",
        "/trades 3",
        "/daily 2",
        "/weekly",
        "/report 2",
        "/health",
        "/status",
        "/stop lunch",
        "/start",
        "/start",
    ];
    let texts = replies(&bot, &commands);
    // The picture goes by sendPhoto: one text less, one photo.
    assert_eq!(texts.len(), commands.len() - 1, "{texts:#?}");
    let photos = bot.fakes.telegram_state.lock().unwrap().photos.clone();
    assert_eq!(photos.len(), 1);
    // A second run sends nothing more: no note queued by /stop or /start says it again.
    let again = bot.telegram(NOW, &QUIET_FEED);
    assert_eq!(
        (again["sent"].as_u64(), bot.texts().len()),
        (Some(0), texts.len())
    );

    let mut tables = 0;
    for text in &texts {
        for line in table_lines(text) {
            tables += 1;
            assert!(columns(&line) <= 34, "{} columns: {line:?}", columns(&line));
        }
    }
    assert!(tables >= 12, "{tables} table lines");

    let [help, profit, profit_2, trades, daily_2, weekly, health, status, stop, start, start_again] =
        <[String; 11]>::try_from(texts).unwrap();
    assert_eq!(help.lines().count(), 17, "{help}");
    assert!(help.starts_with("<b>Commands</b> (day counts are UTC days, today included)\n/status — Trading state, today's P&amp;L and health\n/profit [days] — P&amp;L, win rate, best and worst trade, fees: all time, or the last N UTC days\n/trades [n] — The last n settled trades (10 by default)\n"), "{help}");
    assert!(help.contains("\n/stop [reason] — Same as /pause (Freqtrade's name)\n"));
    assert!(help.contains("\n/report [days] — Equity chart and summary: all time, or the last N UTC days (as /daily N)\n"));
    // The menu carries the same descriptions as /help's lines.
    let menu = bot
        .fakes
        .telegram
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.url.path().ends_with("/setMyCommands"))
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
        .expect("setMyCommands was called");
    let menu = menu["commands"].as_array().unwrap().clone();
    assert_eq!(menu.len(), 16);
    for (entry, line) in menu.iter().zip(help.lines().skip(1)) {
        let name = entry["command"].as_str().unwrap();
        let description = entry["description"].as_str().unwrap().replace('&', "&amp;");
        assert!(
            line.starts_with(&format!("/{name}")) && line.ends_with(&format!(" — {description}")),
            "{line} against {entry}"
        );
    }

    assert_eq!(
        profit,
        "<b>Profit, all time</b>\n✅ P&amp;L: <b>+11.00 USDC</b> · ROI +44.0% on 25.00 USDC staked\n\
Trades: 5 settled, 4 W / 1 L · win rate 80.0% (break-even 53.1%)\nFees: 0.50 USDC\n\
Best: +4.00 USDC · Up · 2026-01-20 08:00 UTC\nWorst: -5.00 USDC · Up · 10:00 UTC\n\
Profit factor 3.20 · max drawdown 5.00 USDC\nToday (UTC): +3.00 USDC, 3 trades\n\
Last 7 UTC days: +7.00 USDC, 4 trades"
    );
    // Two UTC days are the 10th and the 11th (not 48 rolling hours): /daily 2 and /report 2
    // say the same.
    assert!(
        profit_2.starts_with("<b>Profit, last 2 UTC days</b>\n✅ P&amp;L: <b>+7.00 USDC</b>"),
        "{profit_2}"
    );
    assert!(
        daily_2.ends_with("Total: 4 trades, 3 W / 1 L, +7.00 USDC, ROI +35.0%"),
        "{daily_2}"
    );
    assert!(
        photos[0]
            .caption
            .starts_with("Performance, last 2 UTC days\nTrades: 4 settled (3 W / 1 L)"),
        "{}",
        photos[0].caption
    );
    assert!(
        photos[0].caption.contains("+7.00 USDC"),
        "{}",
        photos[0].caption
    );

    assert_eq!(
        trades,
        "<b>Last 3 settled trades</b> (newest first, UTC)\n<pre>Window  Side  Price    P&amp;L\n\
10:00     Up   0.52  -5.00 ❌\n09:00     Up   0.52  +4.00 ✅\n08:00     Up   0.52  +4.00 ✅</pre>\n\
2 W / 1 L, +3.00 USDC"
    );
    // ISO weeks from the first trade's (2026-W04), not eight of them.
    assert!(weekly.starts_with("<b>P&amp;L per week (UTC), last 4, since the first trade</b>\n<pre>Week      #  Profit     ROI\n2026-W07  4   +7.00  +35.0% ✅\n2026-W06  0    0.00     n/a\n2026-W05  0    0.00     n/a\n2026-W04  1   +4.00  +80.0% ✅</pre>"), "{weekly}");

    // No job has run: not healthy, and why; the table of jobs says "never".
    assert!(
        health.starts_with("<b>Health: ❌ do not trade</b>\n• settle has never run successfully"),
        "{health}"
    );
    assert!(
        health.contains("\n• adjust has never run successfully"),
        "{health}"
    );
    assert!(
        health.contains("<pre>Job       Last ok  Every\nsettle      never    15m ❌\n"),
        "{health}"
    );
    assert!(
        status.contains("\nhealth: ❌ not healthy: /health says why\n"),
        "{status}"
    );

    assert_eq!(
        stop,
        "Trading paused: lunch\n(/stop is an alias of /pause.)"
    );
    assert_eq!(start, "Trading resumed.\n(/start is an alias of /resume.)");
    assert_eq!(
        start_again,
        "Trading was not paused.\n(/start is an alias of /resume.)"
    );
    let events = bot
        .db
        .count("SELECT count(*) FROM control_events WHERE by = 'telegram:111'");
    assert_eq!(events, 2, "the pause and the resume are in the audit trail");
    assert_eq!(bot.db.count("SELECT count(*) FROM outbox"), 0);
}

/// A decision of the simulated trader as a `polyperf log` line.
fn lines(decisions: &[polyperf::Decision]) -> String {
    decisions
        .iter()
        .map(|d| serde_json::to_string(d).unwrap() + "\n")
        .collect()
}

fn log(bot: &Bot, decisions: &[polyperf::Decision]) {
    let out = bin_cmd("polyperf")
        .env("POLYPERF_DB", &bot.db.path)
        .args(["log", "--json", "-"])
        .write_stdin(lines(decisions))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Settlement ran late: a week of results settled in one run is one line, not twenty and "and
/// N more"; one trade decided three hours ago still gets its own alert and its own result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_is_one_line_and_a_late_single_trade_keeps_its_alert() {
    let week_ago = t("2026-02-04T10:00:00Z");
    let candles = polyperf::sim::candles(week_ago, 7 * 24 * 60 + 120, 26);
    let bot = Bot::start(candles.clone()).await;
    let positions: Vec<polyperf::Decision> = polyperf::sim::decisions(&candles, 3, 26)
        .into_iter()
        .filter(|d| d.action != polyperf::Action::Hold)
        .collect();
    let old: Vec<_> = positions
        .iter()
        .filter(|d| d.timestamp < week_ago + Duration::hours(6))
        .cloned()
        .collect();
    assert!(old.len() > 20, "{} old positions", old.len());

    // A week ago: the alerts went out at once, as they came (merged or one by one: a few).
    log(&bot, &old);
    bot.telegram("2026-02-04T16:01:00Z", &[]);
    let alerts = bot.texts().len();
    assert!(alerts >= 1);
    // Settlement was down all week; now it settles everything in one run.
    let out = bot.run("polyperf-settle", &["--json"], NOW, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout_json(&out)["settled"], old.len());
    let stats = bot.telegram("2026-02-11T12:01:00Z", &[]);
    assert_eq!(stats["results_sent"], old.len());
    // The feed's messages (the settle job's own summary is an outbox note beside them).
    let results: Vec<String> = bot.texts()[alerts..]
        .iter()
        .filter(|t| crate::fakes::is_feed_text(t))
        .cloned()
        .collect();
    assert_eq!(results.len(), 1, "{results:#?}");
    let n = old.len();
    assert!(
        results[0].starts_with(&format!("<b>{n} trades since 2026-02-04 10:")),
        "{}",
        results[0]
    );
    assert!(!results[0].contains(" more"), "{}", results[0]);

    // One trade, decided three hours ago, logged (or delivered) late: its own alert.
    let late: Vec<_> = positions
        .iter()
        .filter(|d| d.timestamp >= t("2026-02-11T09:00:00Z"))
        .take(1)
        .cloned()
        .collect();
    log(&bot, &late);
    let before = bot.texts().len();
    let stats = bot.telegram("2026-02-11T12:02:00Z", &[]);
    assert_eq!(stats["alerts_sent"], 1);
    let alert = &bot.texts()[before];
    assert!(alert.starts_with("<b>Trade: "), "{alert}");
    assert!(
        alert.ends_with(&format!("<code>{}</code>", late[0].market_slug)),
        "{alert}"
    );
    // Settled: its own result line, ✅ or ❌ first.
    let out = bot.run("polyperf-settle", &["--json"], "2026-02-11T12:03:00Z", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    bot.telegram("2026-02-11T12:04:00Z", &[]);
    let result = bot.texts().last().unwrap().clone();
    assert!(
        result.starts_with("✅ <b>WIN +") || result.starts_with("❌ <b>LOSS -"),
        "{result}"
    );
}

/// The trader's check as processes: `status --json` on a fresh database is not healthy (settle
/// and adjust never ran), healthy once they ran, not healthy when settle stops, or when
/// settlement falls behind; /health says the same, in words and a table that fits a phone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_json_and_health_give_one_verdict() {
    let bot = Bot::start(Vec::new()).await;
    let status = |now: &str| -> Value {
        let out = bot.run("polyperf", &["status", "--json"], now, &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout_json(&out)
    };
    let fresh = status(NOW);
    assert_eq!(fresh["healthy"], false);
    assert_eq!(fresh["settlement_lag_minutes"], 0);
    assert_eq!(
        fresh["health_reasons"].as_array().unwrap().len(),
        2,
        "{fresh}"
    );
    assert_eq!(fresh["job_health"]["settle"]["last_success"], Value::Null);
    assert_eq!(fresh["job_health"]["settle"]["due_every_minutes"], 15);
    assert_eq!(fresh["trading_paused"], false);

    let ran_at: DateTime<Utc> = t(NOW) - Duration::minutes(5);
    for job in ["polyperf-settle", "polyperf-adjust"] {
        let out = bot.run(job, &["--json"], &ran_at.to_rfc3339(), &[]);
        assert!(
            out.status.success(),
            "{job}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let healthy = status(NOW);
    assert_eq!(healthy["healthy"], true, "{healthy}");
    assert_eq!(
        healthy["job_health"]["settle"]["last_success"],
        "2026-02-11 11:55:00"
    );
    // The same for people: `polyperf status`.
    let text = bot.run("polyperf", &["status"], NOW, &[]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("\n  health          ok to trade (settlement lag 0 min)\n                  warning: reflect has never run successfully"),
        "{text}"
    );
    // 40 minutes later settle has not succeeded for 45: more than twice its 15.
    let stale = status("2026-02-11T12:40:00Z");
    assert_eq!(stale["healthy"], false);
    let reasons = stale["health_reasons"].to_string();
    assert!(
        reasons.contains("settle has not succeeded for 45 min"),
        "{reasons}"
    );
    assert!(
        reasons.contains("adjust has not succeeded for 45 min"),
        "{reasons}"
    );

    // A decision whose window ended two hours ago, pending (no price source answers it):
    // settlement is behind, the jobs themselves are fine.
    let slug_start = t("2026-02-11T09:45:00Z").timestamp();
    let decision = serde_json::json!({"decision_id": "late-1", "timestamp": "2026-02-11T09:50:00Z",
        "market_slug": format!("btc-updown-15m-{slug_start}"), "action": "YES", "confidence": 0.8,
        "position_size": "5.00", "btc_price": "66940.0", "executed_price": "0.52"});
    let out = bin_cmd("polyperf")
        .env("POLYPERF_DB", &bot.db.path)
        .args(["log", "--json", "-"])
        .write_stdin(decision.to_string())
        .output()
        .unwrap();
    assert!(out.status.success());
    let lagging = status(NOW);
    assert_eq!(lagging["settlement_lag_minutes"], 120);
    assert_eq!(lagging["healthy"], false);
    let reasons = lagging["health_reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(
        reasons[0]
            .as_str()
            .unwrap()
            .starts_with("settlement is 2 h behind"),
        "{reasons:?}"
    );

    bot.say("/health");
    bot.telegram(NOW, &[]);
    let health = bot
        .texts()
        .into_iter()
        .find(|t| t.starts_with("<b>Health"))
        .expect("a /health reply");
    assert!(
        health.starts_with("<b>Health: ❌ do not trade</b>\n• settlement is 2 h behind"),
        "{health}"
    );
    assert!(
        health.contains("\nSettlement lag: 2 h (limit 1 h)\nTrading: active\n"),
        "{health}"
    );
    assert!(
        health.contains("<pre>Job       Last ok  Every\nsettle      11:55    15m ✅\n"),
        "{health}"
    );
    for line in table_lines(&health) {
        assert!(columns(&line) <= 34, "{line:?}");
    }
}
