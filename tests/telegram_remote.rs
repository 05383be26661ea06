//! polyperf-telegram against a Bot API that behaves as the real one does (issue 23, WIRE.md):
//! commands addressed to another bot, a group upgraded to a supergroup, a revoked token, a chat
//! that does not exist, huge error descriptions, the largest update id, updates that are not
//! text commands, and chat ids that are no chat ids. Binaries run as processes; exit codes are
//! checked.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use polyperf::config::Notify;
use polyperf::outbox::message::ApprovalRequest;
use polyperf::outbox::Message;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::common::{stdout_json, TestDb};
use crate::telegram::{bot_server, calls, mount_updates, sent_texts, BOT_USERNAME, CHAT, TOKEN};

const ALLOWED: i64 = 111;
/// The supergroup `CHAT` becomes.
const SUPERGROUP: i64 = -1009876543210;

fn now() -> chrono::DateTime<chrono::Utc> {
    polyperf::time::parse_rfc3339("2026-02-11T12:00:00Z").unwrap()
}

/// polyperf-telegram `--once --json` against `server`, as the allowed user's bot.
fn telegram(db: &TestDb, server: &MockServer) -> assert_cmd::Command {
    let mut cmd = db.cmd("polyperf-telegram");
    cmd.env("TELEGRAM_ENABLED", "true")
        .env("TELEGRAM_BOT_TOKEN", TOKEN)
        .env("TELEGRAM_CHAT_ID", CHAT.to_string())
        .env("TELEGRAM_API_BASE", server.uri())
        .env("TELEGRAM_ALLOWED_USER_IDS", ALLOWED.to_string())
        .env("POLYPERF_ADJUST_AUTONOMY", "tier1")
        .args(["--once", "--json", "--now", "2026-02-11T12:00:00Z"]);
    cmd
}

fn code(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn command(update_id: i64, chat: i64, text: &str) -> Value {
    json!({"update_id": update_id, "message": {"message_id": update_id % 100_000,
        "from": {"id": ALLOWED, "is_bot": false, "first_name": "Ann", "language_code": "en"},
        "chat": {"id": chat, "title": "Trading desk", "type": "supergroup"}, "date": 1771684300,
        "text": text, "entities": [{"offset": 0, "length": text.split(' ').next().unwrap_or("").len(), "type": "bot_command"}]}})
}

/// Pauses trading as an operator would, without queueing the pause notice.
fn pause_quietly(db: &TestDb) {
    let notify = Notify {
        alert: polyperf::config::Notification::Off,
        ..Notify::default()
    };
    let pause = polyperf::control::Pause {
        reason: "by hand",
        by: "cli",
        rule: None,
        figures: None,
        auto_resume_at: None,
    };
    assert!(polyperf::control::pause(&db.conn(), &notify, &pause, now()).unwrap());
}

fn paused(db: &TestDb) -> bool {
    polyperf::control::state(&db.conn()).unwrap().paused
}

/// Queues an alert (text), an approval with its buttons, and another alert.
fn queue_three(db: &TestDb) {
    let conn = db.conn();
    let approval = Message::Approval(ApprovalRequest {
        proposal_id: 12,
        nonce: "9f3a".into(),
        parameter: "bot_confidence_threshold".into(),
        current: Some("0.75".parse().unwrap()),
        proposed: Some("0.80".parse().unwrap()),
        tier: 2,
        expires_at: polyperf::time::from_db("2026-02-11 18:00:00").ok(),
        ..ApprovalRequest::default()
    });
    for (i, message) in [
        Message::text("disk space low"),
        approval,
        Message::text("job failed"),
    ]
    .iter()
    .enumerate()
    {
        polyperf::outbox::enqueue(
            &conn,
            &Notify::default(),
            message,
            Some(&format!("q{i}")),
            now(),
        )
        .unwrap();
    }
}

/// (status, attempts, last_error) of every outbox row, in order.
fn rows(db: &TestDb) -> Vec<(String, i64, Option<String>)> {
    db.conn()
        .prepare("SELECT status, attempts, last_error FROM outbox ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

async fn calls_to(server: &MockServer, name: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with(&format!("/{name}")))
        .count()
}

/// Issue 23: `/pause@some_other_bot` paused trading and `/resume@some_other_bot` resumed it.
/// A command addressed to another bot is now passed over; one addressed to ours (any case) is
/// handled; `getMe` is asked once and its answer kept in `telegram_state` for later runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_addressed_to_another_bot_change_nothing() {
    let db = TestDb::new();
    let server = bot_server().await;
    mount_updates(
        &server,
        json!([
            command(5001, CHAT, "/pause@some_other_bot"),
            command(5002, CHAT, "/pause@some_other_bot lunch"),
            command(5003, CHAT, "/status@MY_POLYPERF_BOT"),
        ]),
    )
    .await;
    let out = telegram(&db, &server).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let stats = stdout_json(&out);
    assert_eq!(
        (
            stats["updates"].as_u64(),
            stats["commands"].as_u64(),
            stats["passed_over"].as_u64()
        ),
        (Some(3), Some(1), Some(2))
    );
    assert!(!paused(&db), "another bot's /pause paused trading");
    let replies = sent_texts(&server).await;
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(replies[0].contains("Status"), "{}", replies[0]);
    assert_eq!(calls_to(&server, "getMe").await, 1);
    let known: String = db
        .conn()
        .query_row(
            "SELECT value FROM telegram_state WHERE key = 'bot_username'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(known.contains(BOT_USERNAME), "{known}");

    // Trading paused by hand; another bot's /resume leaves it paused, ours resumes it. The
    // username is known: no second getMe.
    pause_quietly(&db);
    let server2 = bot_server().await;
    mount_updates(
        &server2,
        json!([
            command(5004, CHAT, "/resume@some_other_bot"),
            command(5005, CHAT, "/resume@some_other_bot please"),
        ]),
    )
    .await;
    let out = telegram(&db, &server2).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(paused(&db), "another bot's /resume resumed trading");
    assert_eq!(calls_to(&server2, "getMe").await, 0);
    assert!(sent_texts(&server2).await.is_empty());
    let server3 = bot_server().await;
    mount_updates(
        &server3,
        json!([command(5006, CHAT, &format!("/resume@{BOT_USERNAME}"))]),
    )
    .await;
    let out = telegram(&db, &server3).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        !paused(&db),
        "our own /resume@{BOT_USERNAME} was not handled"
    );
}

/// `sendMessage` as the Bot API answers once `CHAT` became `SUPERGROUP`: a send to the old id is
/// 400 "group chat was upgraded to a supergroup chat" with `parameters.migrate_to_chat_id`; a
/// send to the new id is delivered.
struct Upgraded(Arc<AtomicI64>);

impl Respond for Upgraded {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        if body["chat_id"] == json!(CHAT) {
            return ResponseTemplate::new(400).set_body_json(
                json!({"ok": false, "error_code": 400,
                "description": "Bad Request: group chat was upgraded to a supergroup chat",
                "parameters": {"migrate_to_chat_id": SUPERGROUP}}),
            );
        }
        let id = self.0.fetch_add(1, Ordering::SeqCst);
        ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": {"message_id": id,
            "date": 1771684300, "chat": {"id": body["chat_id"], "title": "Trading desk", "type": "supergroup"},
            "text": body["text"]}}))
    }
}

async fn upgraded_server() -> MockServer {
    let server = bot_server().await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{TOKEN}/sendMessage")))
        .respond_with(Upgraded(Arc::new(AtomicI64::new(700))))
        .with_priority(1)
        .mount(&server)
        .await;
    server
}

fn chat_ids(bodies: &[Value]) -> Vec<Value> {
    bodies.iter().map(|b| b["chat_id"].clone()).collect()
}

/// Issue 23: after a group became a supergroup every approval and alert failed (exit 0). The
/// 400 with `migrate_to_chat_id` is now followed: the new id is stored and used from then on,
/// every queued message (the approval with its buttons included) arrives there, the operator
/// is told to update TELEGRAM_CHAT_ID, and commands from the new chat are the configured chat's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_upgraded_to_a_supergroup_is_followed_on_send() {
    let db = TestDb::new();
    let server = upgraded_server().await;
    mount_updates(&server, json!([])).await;
    queue_three(&db);
    let out = telegram(&db, &server).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["sent"], 3);
    let bodies = calls(&server, "sendMessage").await;
    // One refused send to the old id, then every message to the new one.
    assert_eq!(
        chat_ids(&bodies),
        [
            json!(CHAT),
            json!(SUPERGROUP),
            json!(SUPERGROUP),
            json!(SUPERGROUP)
        ]
    );
    assert_eq!(
        bodies[2]["reply_markup"]["inline_keyboard"][0][0]["callback_data"],
        "approve:12:9f3a"
    );
    assert!(rows(&db)
        .iter()
        .take(3)
        .all(|(status, attempts, _)| status == "sent" && *attempts == 0));
    let stored: String = db
        .conn()
        .query_row(
            "SELECT value FROM telegram_state WHERE key = 'chat_migration'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(stored.contains(&SUPERGROUP.to_string()), "{stored}");

    // The next run sends the note to the new chat only, and a command from the new chat by the
    // allowed user is the configured chat's.
    let server = upgraded_server().await;
    mount_updates(
        &server,
        json!([command(6001, SUPERGROUP, "/pause upgrade check")]),
    )
    .await;
    let out = telegram(&db, &server).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let bodies = calls(&server, "sendMessage").await;
    assert!(
        chat_ids(&bodies).iter().all(|c| *c == json!(SUPERGROUP)),
        "{bodies:?}"
    );
    let texts = sent_texts(&server).await;
    assert!(
        texts[0].contains(&format!("TELEGRAM_CHAT_ID={SUPERGROUP}")),
        "the operator is told: {texts:?}"
    );
    assert!(
        paused(&db),
        "a command from the supergroup was refused: {texts:?}"
    );
    assert_eq!(stdout_json(&out)["rejected_unauthorized"], 0);
}

/// The old group's last update carries `migrate_to_chat_id`: followed before anything is sent,
/// so nothing goes to the dead id. A migration of some other group is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_update_of_the_configured_chat_is_followed() {
    let db = TestDb::new();
    let server = upgraded_server().await;
    let service = |update_id: i64, from: i64, to: i64| {
        json!({"update_id": update_id, "message": {"message_id": 90, "from": {"id": ALLOWED, "is_bot": false, "first_name": "Ann"},
            "chat": {"id": from, "title": "Trading desk", "type": "group"}, "date": 1771684300,
            "migrate_to_chat_id": to}})
    };
    mount_updates(
        &server,
        json!([
            service(7001, -4444, -1004444),
            service(7002, CHAT, SUPERGROUP)
        ]),
    )
    .await;
    let out = telegram(&db, &server).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    queue_three(&db);
    let server = upgraded_server().await;
    mount_updates(&server, json!([])).await;
    let out = telegram(&db, &server).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let bodies = calls(&server, "sendMessage").await;
    assert_eq!(bodies.len(), 4, "the note and three messages: {bodies:?}");
    assert!(
        chat_ids(&bodies).iter().all(|c| *c == json!(SUPERGROUP)),
        "{bodies:?}"
    );
    assert!(!format!("{bodies:?}").contains("-1004444"));
}

/// A Bot API that refuses everything with `status` and `description`.
async fn refusing(status: u16, description: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(status).set_body_json(json!({"ok": false,
            "error_code": status, "description": description})),
        )
        .mount(&server)
        .await;
    server
}

/// Issue 23: a wrong or revoked token was exit 75 "try later" forever. It is exit 2 naming
/// TELEGRAM_BOT_TOKEN, every run, and the queue stays as it was (no attempt counted, nothing
/// failed) so everything goes once the token is fixed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_exit_2_and_the_queue_stays() {
    let db = TestDb::new();
    let server = refusing(401, "Unauthorized").await;
    // With nothing queued, reading updates says it.
    let out = telegram(&db, &server).output().unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("TELEGRAM_BOT_TOKEN"),
        "{}",
        stderr(&out)
    );
    queue_three(&db);
    for _ in 0..2 {
        let out = telegram(&db, &server).output().unwrap();
        assert_eq!(code(&out), 2, "{}", stderr(&out));
        let text = stderr(&out);
        assert!(
            text.contains("TELEGRAM_BOT_TOKEN") && text.contains("3 queued messages"),
            "{text}"
        );
        assert!(!text.contains("SECRET-token"), "{text}");
        assert_eq!(rows(&db), vec![("pending".to_string(), 0, None); 3]);
    }
    assert_eq!(
        db.count("SELECT count(*) FROM job_runs WHERE status = 'bad_input' AND exit_code = 2"),
        3
    );
    // The token fixed: everything goes.
    let good = bot_server().await;
    mount_updates(&good, json!([])).await;
    let out = telegram(&db, &good).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["sent"], 3);
}

/// Issue 23: `chat not found` marked every pending message failed, approvals included. It is
/// exit 2 naming TELEGRAM_CHAT_ID and nothing is marked; so is a bot kicked from the chat (403).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_that_is_not_there_is_exit_2_and_marks_nothing() {
    for (status, description) in [
        (400, "Bad Request: chat not found"),
        (403, "Forbidden: bot was kicked from the supergroup chat"),
    ] {
        let db = TestDb::new();
        let server = bot_server().await;
        mount_updates(&server, json!([])).await;
        Mock::given(method("POST"))
            .and(path(format!("/bot{TOKEN}/sendMessage")))
            .respond_with(
                ResponseTemplate::new(status).set_body_json(json!({"ok": false,
                "error_code": status, "description": description})),
            )
            .with_priority(1)
            .mount(&server)
            .await;
        queue_three(&db);
        let out = telegram(&db, &server).output().unwrap();
        assert_eq!(code(&out), 2, "{description}: {}", stderr(&out));
        let text = stderr(&out);
        assert!(
            text.contains("TELEGRAM_CHAT_ID")
                && text.contains(&CHAT.to_string())
                && text.contains(description),
            "{text}"
        );
        assert_eq!(
            rows(&db),
            vec![("pending".to_string(), 0, None); 3],
            "{description}"
        );
        assert_eq!(
            calls_to(&server, "sendMessage").await,
            1,
            "stops at the first refusal"
        );
    }
}

/// Issue 23: a 20 MB error description was stored on every outbox row. Error text is stored at
/// most 500 characters, and a body past the bound is not read at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_error_descriptions_are_stored_clipped() {
    let db = TestDb::new();
    let server = bot_server().await;
    mount_updates(&server, json!([])).await;
    let huge = format!(
        "Bad Request: can't parse entities: {}",
        "x".repeat(5_000_000)
    );
    Mock::given(method("POST"))
        .and(path(format!("/bot{TOKEN}/sendMessage")))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"ok": false,
            "error_code": 400, "description": huge})))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{TOKEN}/sendMessage")))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"ok": false,
            "error_code": 500, "description": format!("Internal Server Error {}", "y".repeat(20_000_000))})))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    queue_three(&db);
    let out = telegram(&db, &server).output().unwrap();
    assert_eq!(code(&out), 75, "{}", stderr(&out));
    assert!(stderr(&out).len() < 5_000, "stderr holds the description");
    let rows = rows(&db);
    assert_eq!(rows[0].0, "failed", "the refused message");
    let refused = rows[0].2.clone().unwrap();
    assert!(
        refused.chars().count() <= 500 && refused.contains("can't parse entities"),
        "{refused}"
    );
    // The 20 MB answer is past the bound: not read, a short error.
    let unavailable = rows[1].2.clone().unwrap();
    assert!(
        unavailable.chars().count() <= 500 && unavailable.contains("larger than"),
        "{unavailable}"
    );
    assert_eq!((rows[1].0.as_str(), rows[1].1), ("pending", 1));
    let stored: i64 = db.count("SELECT max(length(last_error)) FROM outbox");
    assert!(stored <= 500 * 4, "{stored} bytes");
}

/// Every `getUpdates` answers the updates at or after its offset, as Telegram does.
struct Updates(Vec<Value>);

impl Respond for Updates {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let offset = body["offset"].as_i64().unwrap_or(0);
        let due: Vec<&Value> = self
            .0
            .iter()
            .filter(|u| u["update_id"].as_i64().unwrap_or(0) >= offset)
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": due}))
    }
}

/// Issue 23: `update_id` 9223372036854775807 wrapped the saved offset, so that update was
/// handled on every run. It is handled once and never again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_update_id_is_handled_once() {
    let db = TestDb::new();
    let server = bot_server().await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{TOKEN}/getUpdates")))
        .respond_with(Updates(vec![
            command(i64::MAX - 1, CHAT, "/status"),
            command(i64::MAX, CHAT, "/pause max"),
        ]))
        .with_priority(1)
        .mount(&server)
        .await;
    let out = telegram(&db, &server).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["commands"], 2);
    assert!(paused(&db));
    let offset: String = db
        .conn()
        .query_row(
            "SELECT value FROM telegram_state WHERE key = 'update_offset'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(offset, "9223372036854775808");
    polyperf::control::resume(&db.conn(), &Notify::default(), "cli", "test", now()).unwrap();
    for _ in 0..2 {
        let out = telegram(&db, &server).output().unwrap();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(stdout_json(&out)["updates"], 0);
        assert!(!paused(&db), "the update at i64::MAX was handled again");
    }
    let polls = calls(&server, "getUpdates").await;
    assert_eq!(polls.last().unwrap()["offset"], json!(i64::MAX));
}

/// Updates that are not text commands (recorded shapes of the Bot API) are confirmed (the
/// offset moves past them) and passed over: nothing changes, nothing is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_that_are_not_text_commands_are_confirmed_and_passed_over() {
    let db = TestDb::new();
    let server = bot_server().await;
    let from = json!({"id": ALLOWED, "is_bot": false, "first_name": "Ann", "language_code": "en"});
    let chat = json!({"id": CHAT, "title": "Trading desk", "type": "supergroup"});
    mount_updates(
        &server,
        json!([
            {"update_id": 8001, "message": {"message_id": 1, "from": from, "chat": chat, "date": 1771684300,
                "photo": [{"file_id": "AgACAgQ", "file_unique_id": "AQADx", "file_size": 1402, "width": 90, "height": 67}],
                "caption": "/pause see the chart", "caption_entities": [{"offset": 0, "length": 6, "type": "bot_command"}]}},
            {"update_id": 8002, "message": {"message_id": 2, "from": from, "chat": chat, "date": 1771684300,
                "sticker": {"file_id": "CAACAgI", "file_unique_id": "AgADx", "type": "regular", "width": 512,
                    "height": 512, "is_animated": true, "is_video": false, "emoji": "🚀", "set_name": "Rockets"}}},
            {"update_id": 8003, "edited_message": {"message_id": 3, "from": from, "chat": chat, "date": 1771684300,
                "edit_date": 1771684390, "text": "/pause edited"}},
            {"update_id": 8004, "channel_post": {"message_id": 4, "sender_chat": {"id": -1007777, "title": "News", "type": "channel"},
                "chat": {"id": -1007777, "title": "News", "type": "channel"}, "date": 1771684300, "text": "/pause"}},
            {"update_id": 8005, "my_chat_member": {"chat": chat, "from": from, "date": 1771684300,
                "old_chat_member": {"user": {"id": 123456, "is_bot": true, "first_name": "polyperf", "username": BOT_USERNAME}, "status": "member"},
                "new_chat_member": {"user": {"id": 123456, "is_bot": true, "first_name": "polyperf", "username": BOT_USERNAME},
                    "status": "administrator", "can_be_edited": false, "can_manage_chat": true}}},
            {"update_id": 8006, "message_reaction": {"chat": chat, "message_id": 42, "user": from, "date": 1771684300,
                "old_reaction": [], "new_reaction": [{"type": "emoji", "emoji": "👍"}]}},
            {"update_id": 8007, "message": {"message_id": 5, "from": from, "chat": chat, "date": 1771684300,
                "forward_origin": {"type": "user", "sender_user": {"id": 999, "is_bot": false, "first_name": "Eve"}, "date": 1771600000},
                "forward_from": {"id": 999, "is_bot": false, "first_name": "Eve"}, "forward_date": 1771600000,
                "text": "/pause forwarded"}},
            {"update_id": 8008, "callback_query": {"id": "4382", "from": from, "chat_instance": "-5770",
                "message": {"message_id": 42, "chat": chat, "date": 0}, "data": "approve:9999:9f3a"}},
        ]),
    )
    .await;
    let out = telegram(&db, &server).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let stats = stdout_json(&out);
    assert_eq!(
        (
            stats["updates"].as_u64(),
            stats["commands"].as_u64(),
            stats["passed_over"].as_u64()
        ),
        (Some(8), Some(0), Some(7))
    );
    assert!(!paused(&db));
    assert!(sent_texts(&server).await.is_empty());
    // The old press is answered (the client stops spinning), never edited.
    assert_eq!(calls_to(&server, "answerCallbackQuery").await, 1);
    assert_eq!(calls_to(&server, "editMessageText").await, 0);
    assert_eq!(
        db.count("SELECT CAST(value AS INTEGER) FROM telegram_state WHERE key = 'update_offset'"),
        8009
    );
}

/// Issue 23: TELEGRAM_CHAT_ID `abc def` or `0` was accepted. Both are bad config (exit 2 naming
/// the variable), from every binary, before anything is sent.
#[test]
fn a_chat_id_that_is_no_chat_id_is_bad_config() {
    let db = TestDb::new();
    for bad in ["abc def", "0", "@x"] {
        for bin in ["polyperf-telegram", "polyperf-settle"] {
            let out = db
                .cmd(bin)
                .env("TELEGRAM_ENABLED", "true")
                .env("TELEGRAM_BOT_TOKEN", TOKEN)
                .env("TELEGRAM_CHAT_ID", bad)
                .env("TELEGRAM_API_BASE", "http://127.0.0.1:9")
                .output()
                .unwrap();
            assert_eq!(code(&out), 2, "{bin} {bad}: {}", stderr(&out));
            assert!(
                stderr(&out).contains("TELEGRAM_CHAT_ID"),
                "{}",
                stderr(&out)
            );
        }
    }
    assert_eq!(db.count("SELECT count(*) FROM job_runs"), 0);
}
