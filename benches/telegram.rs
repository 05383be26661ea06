//! Telegram delivery speed: rendering outbox payloads as HTML, and draining N queued messages
//! against a local Bot API (each one HTTP call plus its own small "mark sent" transaction).
//!
//! `cargo bench --bench telegram [-- N_RENDER N_DRAIN]` (defaults 100000 and 2000).

use std::time::Instant;

use polyperf::telegram::{api::Bot, drain, render, Stats};
use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n_render = args.first().copied().unwrap_or(100_000);
    let n_drain = args.get(1).copied().unwrap_or(2_000);

    // 1. Rendering: trade alerts with text that needs escaping.
    let payloads: Vec<_> = (0..n_render)
        .map(|i| json!({"trade_id": i, "decision_id": format!("d-{i}"), "timestamp": "2026-02-11 10:30:00",
            "market_slug": format!("btc-updown-15m-{}<&>", 1770828300 + i), "action": "YES",
            "confidence": 0.8, "position_size": "5.00", "executed_price": "0.52", "signal_type": "STRONG_BULLISH"}))
        .collect();
    let started = Instant::now();
    let mut chars = 0usize;
    for p in &payloads {
        chars += render::render_row("trade", p).len();
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "render: {n_render} trade alerts in {:.3}s = {:.0}/s ({chars} bytes)",
        secs,
        n_render as f64 / secs
    );
    let started = Instant::now();
    let merged = render::render_merged("trade", &payloads[..n_render.min(1000)]);
    println!(
        "render_merged: 1000 alerts into one {}-char message in {:.2}ms",
        merged.chars().count(),
        started.elapsed().as_secs_f64() * 1e3
    );

    // 2. Drain against a local server.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": {
                "message_id": 1, "date": 1771684300, "chat": {"id": -1001234, "type": "supergroup"}, "text": "x"}})))
            .mount(&server)
            .await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bench.db");
        let mut conn = polyperf::db::create(&path).unwrap();
        let now = chrono::Utc::now();
        {
            let tx = polyperf::db::write_tx(&mut conn).unwrap();
            for i in 0..n_drain {
                polyperf::outbox::enqueue(&tx, &Default::default(), &polyperf::outbox::Message::text(format!("message {i} <b>")), None, now).unwrap();
            }
            tx.commit().unwrap();
        }
        let mut settings = polyperf::config::Settings::default();
        settings.general.db = path.clone();
        settings.telegram.enabled = true;
        settings.telegram.bot_token = Some("1:bench".into());
        settings.telegram.chat_id = Some("-1001234".into());
        settings.telegram.merge_threshold = u32::MAX;
        let bot = Bot::new(&server.uri(), "1:bench", std::time::Duration::from_secs(5)).unwrap();
        let mut stats = Stats::default();
        let started = Instant::now();
        drain::drain(&mut conn, &settings, &bot, now, &mut stats).await.unwrap();
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(stats.sent as usize, n_drain);
        println!(
            "drain: {n_drain} messages sent and marked in {:.3}s = {:.0}/s ({:.2}ms each, synchronous=FULL)",
            secs,
            n_drain as f64 / secs,
            secs * 1e3 / n_drain as f64
        );
    });
}
