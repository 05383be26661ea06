//! The Telegram trade feed (issue 17): alerts for new trades and results for settled ones,
//! read from `trades` by watermarks (no outbox row per decision), against the local Bot API:
//! the exact result line, merging, `silent` / `off`, the crash window between send and
//! watermark, restored archive rows, and a long silence summed up in one line.

use chrono::{DateTime, Duration, Utc};
use polyperf::config::Notification;
use serde_json::{json, Value};
use wiremock::MockServer;

use crate::common::{ok_json, stdout_json, succeeds, write_jsonl, TestDb};
use crate::metrics::{load, t, Row};
use crate::telegram::{bot_server, calls, mount_updates, run, sent_texts, settings, CHAT, TOKEN};

/// The 10:30–10:45 UTC market of 2026-02-11.
const SLUG: &str = "btc-updown-15m-1770805800";

/// A YES (even `i`) or NO (odd `i`) decision of 5.00 USDC at 0.52, logged at `at`.
fn decision(i: usize, at: &str) -> Value {
    json!({
        "decision_id": format!("feed-{i}"),
        "timestamp": at,
        "market_slug": SLUG,
        "market_id": 1362391,
        "action": if i.is_multiple_of(2) { "YES" } else { "NO" },
        "confidence": 0.8,
        "position_size": "5.00",
        "btc_price": "66940.0",
        "price_to_beat": "66826.14",
        "final_score": 0.2,
        "signal_type": "BULLISH",
        "reasoning": "momentum <up> & volume",
        "yes_price": "0.51",
        "no_price": "0.50",
        "executed_price": "0.52",
    })
}

/// Logs `n` decisions through `polyperf log` (decisions `first..first + n`).
fn log(db: &TestDb, first: usize, n: usize, at: &str) {
    let lines: Vec<Value> = (first..first + n).map(|i| decision(i, at)).collect();
    let file = write_jsonl(db.dir.path(), &format!("d{first}.jsonl"), &lines);
    succeeds(db.cmd("polyperf").args(["log", "--json"]).arg(&file));
}

/// Settles every pending YES/NO as the settle job leaves it: YES wins +4.62, NO loses −5.00.
fn settle_all(db: &TestDb, at: &str) {
    db.conn()
        .execute(
            "UPDATE trades SET settlement_status = 'settled', settled_at = ?1,
                 is_win = (action = 'YES'),
                 profit_loss = CASE action WHEN 'YES' THEN 4.62 ELSE -5.0 END, fee = 0.1
             WHERE settlement_status = 'pending' AND action IN ('YES', 'NO')",
            [polyperf::time::to_db(t(at))],
        )
        .unwrap();
}

fn disable_notification(bodies: &[Value]) -> Vec<bool> {
    bodies
        .iter()
        .map(|b| b["disable_notification"] == json!(true))
        .collect()
}

async fn server() -> MockServer {
    let server = bot_server().await;
    mount_updates(&server, json!([])).await;
    server
}

/// One result per trade, exactly as issue 17 writes it, without a sound by default; alerts
/// name the side, the window, the reasoning (escaped) and end with the slug; a second run sends
/// nothing again; and no decision queued an outbox row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_per_trade_in_words_and_silent_by_default() {
    let db = TestDb::new();
    let server = server().await;
    log(&db, 0, 2, "2026-02-11T10:31:00Z");
    assert_eq!(db.count("SELECT count(*) FROM outbox"), 0);

    let stats = run(&db, settings(&db, &server), t("2026-02-11T10:32:00Z"))
        .await
        .unwrap();
    assert_eq!(stats.alerts_sent, 2);
    let alerts = sent_texts(&server).await;
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    assert!(
        alerts[0].starts_with("<b>Trade: Up · 10:30–10:45 UTC</b>\nYES @ 0.52 · 5.00 USDC"),
        "{}",
        alerts[0]
    );
    assert!(
        alerts[0].contains("momentum &lt;up&gt; &amp; volume"),
        "{}",
        alerts[0]
    );
    assert!(
        alerts[0].ends_with(&format!("<code>{SLUG}</code>")),
        "{}",
        alerts[0]
    );
    assert!(
        alerts[1].starts_with("<b>Trade: Down · 10:30–10:45 UTC</b>"),
        "{}",
        alerts[1]
    );

    settle_all(&db, "2026-02-11T10:46:00Z");
    let stats = run(&db, settings(&db, &server), t("2026-02-11T10:47:00Z"))
        .await
        .unwrap();
    assert_eq!((stats.alerts_sent, stats.results_sent), (0, 2));
    let texts = sent_texts(&server).await;
    assert_eq!(
        texts[2..],
        [
            "✅ <b>WIN +4.62 USDC</b> · Up · 10:30–10:45 UTC · YES @ 0.52 · 5.00 USDC",
            "❌ <b>LOSS -5.00 USDC</b> · Down · 10:30–10:45 UTC · NO @ 0.52 · 5.00 USDC",
        ]
    );
    // Trade alerts and results are `silent` unless configured otherwise.
    assert_eq!(
        disable_notification(&calls(&server, "sendMessage").await),
        [true; 4]
    );

    let stats = run(&db, settings(&db, &server), t("2026-02-11T10:48:00Z"))
        .await
        .unwrap();
    assert_eq!((stats.alerts_sent, stats.results_sent), (0, 0));
    assert_eq!(sent_texts(&server).await.len(), 4);
}

/// Many at once: one merged message per stream with a line per trade in the same format.
/// `on` rings (no disable_notification).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_at_once_merge_into_one_message_each() {
    let db = TestDb::new();
    let server = server().await;
    log(&db, 0, 6, "2026-02-11T10:31:00Z");
    settle_all(&db, "2026-02-11T10:46:00Z");
    let mut s = settings(&db, &server);
    s.telegram.merge_threshold = 3;
    s.telegram.notify.result = Notification::On;
    let stats = run(&db, s, t("2026-02-11T10:47:00Z")).await.unwrap();
    assert_eq!((stats.alerts_sent, stats.results_sent), (6, 6));
    let texts = sent_texts(&server).await;
    assert_eq!(texts.len(), 2, "{texts:#?}");
    assert!(
        texts[0].starts_with("<b>6 new trades: 3 Up / 3 Down, 30.00 USDC staked</b>\nUp · 10:30–10:45 UTC · YES @ 0.52 · 5.00 USDC"),
        "{}",
        texts[0]
    );
    assert_eq!(texts[0].lines().count(), 7, "{}", texts[0]);
    let win = "✅ <b>WIN +4.62 USDC</b> · Up · 10:30–10:45 UTC · YES @ 0.52 · 5.00 USDC";
    let loss = "❌ <b>LOSS -5.00 USDC</b> · Down · 10:30–10:45 UTC · NO @ 0.52 · 5.00 USDC";
    assert_eq!(
        texts[1],
        format!("<b>6 trades settled: 3 W / 3 L, -1.14 USDC</b>\n{win}\n{loss}\n{win}\n{loss}\n{win}\n{loss}")
    );
    assert_eq!(
        disable_notification(&calls(&server, "sendMessage").await),
        [true, false]
    );
}

/// `off` sends nothing, then or later: the watermark moves past what was turned off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_sends_nothing_and_never_later() {
    let db = TestDb::new();
    let server = server().await;
    log(&db, 0, 2, "2026-02-11T10:31:00Z");
    settle_all(&db, "2026-02-11T10:46:00Z");
    let mut s = settings(&db, &server);
    s.telegram.notify.trade = Notification::Off;
    s.telegram.notify.result = Notification::Off;
    let stats = run(&db, s, t("2026-02-11T10:47:00Z")).await.unwrap();
    assert_eq!((stats.alerts_sent, stats.results_sent), (0, 0));
    assert!(sent_texts(&server).await.is_empty());
    // Turned back on: only what comes after.
    log(&db, 10, 1, "2026-02-11T10:48:00Z");
    run(&db, settings(&db, &server), t("2026-02-11T10:49:00Z"))
        .await
        .unwrap();
    let texts = sent_texts(&server).await;
    assert_eq!(texts.len(), 1, "{texts:#?}");
    assert!(texts[0].starts_with("<b>Trade: Up"), "{}", texts[0]);
}

fn feed_process(db: &TestDb, server: &MockServer, now: &str) -> assert_cmd::Command {
    let mut cmd = db.cmd("polyperf-telegram");
    cmd.env("TELEGRAM_ENABLED", "true")
        .env("TELEGRAM_BOT_TOKEN", TOKEN)
        .env("TELEGRAM_CHAT_ID", CHAT.to_string())
        .env("TELEGRAM_API_BASE", server.uri())
        .args(["--json", "--now", now]);
    cmd
}

/// Killed between a send and its watermark: the next run sends that one again (at most one
/// duplicate) and then the rest; nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_send_and_watermark_costs_at_most_one_duplicate() {
    let db = TestDb::new();
    let server = server().await;
    log(&db, 0, 3, "2026-02-11T10:31:00Z");
    let crashed = feed_process(&db, &server, "2026-02-11T10:32:00Z")
        .env("POLYPERF_FAULT_TELEGRAM_CRASH_AFTER_SEND", "1")
        .output()
        .unwrap();
    assert!(!crashed.status.success());
    assert_eq!(sent_texts(&server).await.len(), 1);
    db.conn().execute("DELETE FROM job_locks", []).unwrap();
    let out = succeeds(&mut feed_process(&db, &server, "2026-02-11T10:33:00Z"));
    assert_eq!(stdout_json(&out)["alerts_sent"], 3);
    let texts = sent_texts(&server).await;
    let sides: Vec<&str> = texts
        .iter()
        .map(|t| t.split(" · ").next().unwrap())
        .collect();
    assert_eq!(
        sides,
        [
            "<b>Trade: Up",
            "<b>Trade: Up",
            "<b>Trade: Down",
            "<b>Trade: Up"
        ]
    );
}

/// Trades put back by `polyperf archive restore` are history: never announced, as alerts or as
/// results, while a trade logged afterwards is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restored_archive_rows_never_alert() {
    let old = TestDb::new();
    let rows: Vec<Row> = (0..20)
        .map(|i| Row::trade(t("2025-12-01T00:00:00Z") + Duration::hours(i), i % 2 == 0))
        .collect();
    load(&old, &rows);
    old.conn()
        .execute("UPDATE trades SET settled_at = timestamp", [])
        .unwrap();
    succeeds(
        old.cmd("polyperf-archive")
            .args(["--now", "2026-02-11T10:00:00Z", "--json"]),
    );
    let files: Vec<std::path::PathBuf> = std::fs::read_dir(old.dir.path().join("archive"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.to_string_lossy().contains("trades") && p.to_string_lossy().ends_with(".jsonl.gz")
        })
        .collect();
    assert!(!files.is_empty());

    let db = TestDb::new();
    for file in &files {
        ok_json(
            db.cmd("polyperf")
                .args(["archive", "restore", "--json"])
                .arg(file),
        );
    }
    assert_eq!(db.count("SELECT count(*) FROM trades"), 20);
    let server = server().await;
    let stats = run(&db, settings(&db, &server), t("2026-02-11T10:32:00Z"))
        .await
        .unwrap();
    assert_eq!((stats.alerts_sent, stats.results_sent), (0, 0));
    assert!(sent_texts(&server).await.is_empty());

    log(&db, 0, 1, "2026-02-11T10:31:00Z");
    run(&db, settings(&db, &server), t("2026-02-11T10:33:00Z"))
        .await
        .unwrap();
    let texts = sent_texts(&server).await;
    assert_eq!(texts.len(), 1, "{texts:#?}");
    assert!(texts[0].starts_with("<b>Trade: Up"), "{}", texts[0]);
}

/// Telegram off (or down) for hours: one line per stream instead of hundreds of messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_silence_becomes_one_summary_per_stream() {
    let db = TestDb::new();
    let server = server().await;
    log(&db, 0, 312, "2026-02-11T10:31:00Z");
    settle_all(&db, "2026-02-11T10:46:00Z");
    let at: DateTime<Utc> = t("2026-02-11T14:00:00Z");
    let stats = run(&db, settings(&db, &server), at).await.unwrap();
    assert_eq!((stats.alerts_sent, stats.results_sent), (312, 312));
    let texts = sent_texts(&server).await;
    assert_eq!(
        texts,
        [
            "<b>312 new trades since 10:31 UTC: 156 Up / 156 Down, 1,560.00 USDC staked</b>\nOne line instead of an alert each; their results follow as they settle.",
            "<b>312 trades since 10:31 UTC: 156 W / 156 L, -59.28 USDC</b>\nOne line instead of a message each; /daily has the figures per day.",
        ]
    );
}

/// `[telegram.notify]` for the outbox's kinds, set through the environment of the job binary:
/// `on` rings, `silent` sets `disable_notification`, `off` is never queued, and a row queued
/// before its kind was turned off is dropped unsent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_settings_for_outbox_kinds() {
    use polyperf::config::Notify;

    let db = TestDb::new();
    let server = server().await;
    let conn = db.conn();
    let at = t("2026-02-11T10:00:00Z");
    let queue = |notify: &Notify, kind: &str, payload: Value| {
        polyperf::outbox::enqueue(
            &conn,
            notify,
            &crate::telegram::message(kind, payload),
            None,
            at,
        )
        .unwrap()
    };
    let off = Notify {
        reflection: Notification::Off,
        ..Notify::default()
    };
    assert!(!queue(&off, "insights", json!({"insights": []})));
    assert_eq!(db.count("SELECT count(*) FROM outbox"), 0);
    assert!(queue(
        &Notify::default(),
        "approval",
        json!({"proposal_id": 1})
    ));
    assert!(queue(
        &Notify::default(),
        "settlement",
        json!({"settled": 3})
    ));
    assert!(queue(
        &Notify::default(),
        "pause",
        json!({"reason": "streak", "by": "guard"})
    ));
    drop(conn);

    let out = succeeds(
        feed_process(&db, &server, "2026-02-11T10:01:00Z")
            .env("POLYPERF_TELEGRAM_NOTIFY_SETTLEMENT", "off")
            .env("POLYPERF_TELEGRAM_NOTIFY_ALERT", "silent"),
    );
    assert_eq!(stdout_json(&out)["sent"], 2);
    let bodies = calls(&server, "sendMessage").await;
    assert_eq!(bodies.len(), 2, "{bodies:#?}");
    assert!(bodies[0]["text"]
        .as_str()
        .unwrap()
        .contains("Approval needed"));
    assert!(bodies[1]["text"]
        .as_str()
        .unwrap()
        .contains("Trading paused"));
    // The approval rings (`on` by default); the pause arrives silently (alert = silent).
    assert_eq!(disable_notification(&bodies), [false, true]);
    assert_eq!(
        db.count("SELECT count(*) FROM outbox WHERE kind = 'settlement'"),
        0
    );
}
