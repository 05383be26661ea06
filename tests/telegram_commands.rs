//! The operator's commands on a phone (issue 17) against the local Bot API: `/daily`,
//! `/weekly`, `/monthly` against a fixture, `/status` with today's P&L, `/report` as a PNG
//! through `sendPhoto` (multipart) with the summary as its caption, and the command menu
//! registered with `setMyCommands` once (again only when it changes or failed).

use chrono::Duration;
use polyperf::config::Notification;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::TestDb;
use crate::fakes::telegram_photo;
use crate::metrics::{load, t, Row};
use crate::telegram::{bot_server, calls, mount_updates, run, sent_texts, settings, CHAT, TOKEN};

const NOW: &str = "2026-02-11T12:00:00Z";

fn command(update_id: i64, text: &str) -> Value {
    json!({"update_id": update_id, "message": {"message_id": update_id, "from": {"id": 111, "is_bot": false, "first_name": "Ann"},
        "chat": {"id": CHAT, "type": "supergroup"}, "date": 1771684300, "text": text}})
}

/// Four settled trades of 5.00 USDC: on 2026-02-11 two wins (+4.00) and a loss (−5.00), on
/// 2026-02-10 one win; none on 2026-02-09; one on 2026-01-20 (a win).
fn fixture(db: &TestDb) {
    load(db, &fixture_rows());
}

fn fixture_rows() -> Vec<Row> {
    let day = t("2026-02-11T08:00:00Z");
    vec![
        Row::trade(day, true),
        Row::trade(day + Duration::hours(1), true),
        Row::trade(day + Duration::hours(2), false),
        Row::trade(day - Duration::days(1), true),
        Row::trade(t("2026-01-20T08:00:00Z"), true),
    ]
}

async fn answers(db: &TestDb, texts: &[&str]) -> (MockServer, Vec<String>) {
    let server = bot_server().await;
    let updates: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| command(2001 + i as i64, text))
        .collect();
    mount_updates(&server, Value::Array(updates)).await;
    // The fixture's trades are not news here: only the answers are.
    let mut s = settings(db, &server);
    s.telegram.notify.trade = Notification::Off;
    s.telegram.notify.result = Notification::Off;
    run(db, s, t(NOW)).await.unwrap();
    let replies = sent_texts(&server).await;
    (server, replies)
}

/// `/daily 3`: today first, empty days as zeros, the figures of the fixture worked out by hand
/// (ROI = profit / staked), and their total.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_weekly_monthly_show_pnl_per_period() {
    let db = TestDb::new();
    fixture(&db);
    let (_server, replies) =
        answers(&db, &["/daily 3", "/weekly 2", "/monthly", "/daily 366"]).await;
    assert_eq!(
        replies[0],
        "<b>P&amp;L per day (UTC), last 3</b>\n<pre>\
Day         #  Profit     ROI
2026-02-11  3   +3.00  +20.0% ✅
2026-02-10  1   +4.00  +80.0% ✅
2026-02-09  0    0.00     n/a</pre>
Total: 4 trades, 3 W / 1 L, +7.00 USDC, ROI +35.0%"
    );
    // ISO weeks: 2026-W07 holds 9–11 February.
    assert!(
        replies[1].starts_with(
            "<b>P&amp;L per week (UTC), last 2</b>\n<pre>Week      #  Profit     ROI\n2026-W07  4   +7.00  +35.0% ✅\n2026-W06  0    0.00     n/a</pre>"
        ),
        "{}",
        replies[1]
    );
    // Six months asked; none before January, the first trade's month; its win counts there.
    assert!(
        replies[2].starts_with("<b>P&amp;L per month (UTC), last 2, since the first trade</b>"),
        "{}",
        replies[2]
    );
    assert!(
        replies[2].contains("2026-02  4   +7.00  +35.0% ✅\n2026-01  1   +4.00  +80.0% ✅</pre>"),
        "{}",
        replies[2]
    );
    assert!(replies[2].ends_with("Total: 5 trades, 4 W / 1 L, +11.00 USDC, ROI +44.0%"));
    assert_eq!(
        replies[3],
        "Usage: /daily [n] (n must be a whole number from 1 to 365, got \"366\")"
    );
}

/// A year of days does not fit one message: the newest rows that fit, a pointer to the full
/// table, and the total over all of them; Telegram accepts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_year_of_days_fits_one_message() {
    let db = TestDb::new();
    // A first trade over a year ago: all 365 days are listed, not only those since a trade.
    let mut rows = fixture_rows();
    rows.push(Row::trade(t("2025-01-05T08:00:00Z"), true));
    load(&db, &rows);
    let (_server, replies) = answers(&db, &["/daily 365"]).await;
    assert_eq!(replies.len(), 1);
    let text = &replies[0];
    assert!(text.chars().count() <= 4096);
    assert!(
        text.contains("fit here; <code>polyperf report --by day</code> lists them all."),
        "{text}"
    );
    assert!(
        text.ends_with("Total: 5 trades, 4 W / 1 L, +11.00 USDC, ROI +44.0%"),
        "{text}"
    );
}

/// `/status` says how today went.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_has_todays_pnl() {
    let db = TestDb::new();
    fixture(&db);
    let (_server, replies) = answers(&db, &["/status"]).await;
    assert!(
        replies[0].contains(
            "\nToday (2026-02-11): 3 trades, 2 W / 1 L, +3.00 USDC on 15.00 USDC staked\n"
        ),
        "{}",
        replies[0]
    );
}

/// `/report 30`: one `sendPhoto` whose `photo` part is a PNG (signature, real size) and whose
/// caption is the summary within 1,024 characters; no text message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_is_a_png_with_the_summary_as_caption() {
    let db = TestDb::new();
    fixture(&db);
    let (server, replies) = answers(&db, &["/report 30"]).await;
    assert!(replies.is_empty(), "{replies:?}");
    let uploads: Vec<_> = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == format!("/bot{TOKEN}/sendPhoto"))
        .map(|r| telegram_photo(&r).unwrap())
        .collect();
    assert_eq!(uploads.len(), 1);
    let photo = &uploads[0];
    assert_eq!(photo.chat_id, CHAT.to_string());
    assert_eq!(photo.photo_content_type, "image/png");
    assert!(photo.photo.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(photo.photo.len() > 5_000, "{} bytes", photo.photo.len());
    assert!(photo.caption.chars().count() <= 1024);
    assert!(
        photo
            .caption
            .starts_with("Performance, last 30 UTC days\nTrades: 5 settled (4 W / 1 L)"),
        "{}",
        photo.caption
    );
    assert!(!photo.disable_notification);
}

/// The menu goes to `setMyCommands` on the first run, not again while it is unchanged, and
/// again after a failed registration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_my_commands_once_and_again_only_after_a_failure() {
    let db = TestDb::new();
    let server = bot_server().await;
    mount_updates(&server, json!([])).await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{TOKEN}/setMyCommands")))
        .respond_with(ResponseTemplate::new(502).set_body_string("Bad Gateway"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    let stats = run(&db, settings(&db, &server), t(NOW)).await.unwrap();
    assert!(!stats.commands_registered);
    let stats = run(&db, settings(&db, &server), t(NOW)).await.unwrap();
    assert!(stats.commands_registered);
    for _ in 0..2 {
        let stats = run(&db, settings(&db, &server), t(NOW)).await.unwrap();
        assert!(!stats.commands_registered);
    }
    let registrations = calls(&server, "setMyCommands").await;
    assert_eq!(
        registrations.len(),
        2,
        "the failed one and the accepted one"
    );
    let names: Vec<&str> = registrations[1]["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["command"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "status", "profit", "trades", "daily", "weekly", "monthly", "report", "health",
            "params", "pause", "stop", "resume", "start", "approve", "reject", "help"
        ]
    );
    // A changed menu (as after an upgrade) is registered again.
    db.conn()
        .execute(
            "UPDATE telegram_state SET value = 'old' WHERE key = 'commands_hash'",
            [],
        )
        .unwrap();
    let stats = run(&db, settings(&db, &server), t(NOW)).await.unwrap();
    assert!(stats.commands_registered);
}

/// A picture Telegram refuses still leaves an answer: the summary as a message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_picture_falls_back_to_the_summary() {
    let db = TestDb::new();
    fixture(&db);
    let server = bot_server().await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{TOKEN}/sendPhoto")))
        .respond_with(crate::fakes::tg_bad_request(
            "Bad Request: IMAGE_PROCESS_FAILED",
        ))
        .with_priority(1)
        .mount(&server)
        .await;
    mount_updates(&server, json!([command(2001, "/report")])).await;
    let mut s = settings(&db, &server);
    s.telegram.notify.trade = Notification::Off;
    s.telegram.notify.result = Notification::Off;
    run(&db, s, t(NOW)).await.unwrap();
    let replies = sent_texts(&server).await;
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(
        replies[0].starts_with("Performance, all time\nTrades: 5 settled (4 W / 1 L)"),
        "{}",
        replies[0]
    );
}
