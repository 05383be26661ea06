//! polyperf-reflect against OpenAI-compatible servers as they really answer (issue 23,
//! WIRE.md): bodies of llama.cpp, TGI, vLLM and OpenAI with their odd fields, 429
//! `insufficient_quota` and 401 (never retried), an outage waited for and then left to the
//! rules engine with one alert, unreadable answers, and an answer with 5,000 recommendations.
//! The job runs as a process; exit codes are checked.

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{stdout_json, TestDb};
use crate::reflect::{
    code, good_answer, reflect, reflection, server_answering, settle_all, stderr, KEY,
};

async fn serving(response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(response)
        .mount(&server)
        .await;
    server
}

fn at(time: &str) -> String {
    format!("2026-02-11T{time}:00Z")
}

/// Recorded-style bodies of compatible servers, each holding a good answer in
/// `choices[0].message.content`, with what they bend of OpenAI's shape.
fn compatible_bodies(content: &str) -> Vec<(&'static str, Value)> {
    vec![
        (
            "openai with every extra field",
            json!({"id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
            "object": "chat.completion", "created": 1771684200, "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": null,
                "annotations": []}, "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 812, "completion_tokens": 240, "total_tokens": 1052,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "accepted_prediction_tokens": 0}},
            "service_tier": "default", "system_fingerprint": "fp_560af6e559"}),
        ),
        (
            "llama.cpp: no id, an empty role, timings",
            json!({"choices": [{"finish_reason": "stop", "index": 0,
            "message": {"content": content, "role": ""}}], "created": 1771684200,
            "model": "qwen2.5-7b-instruct-q4_k_m.gguf", "object": "chat.completion",
            "usage": {"completion_tokens": 240, "prompt_tokens": 812, "total_tokens": 1052},
            "timings": {"prompt_n": 812, "prompt_ms": 301.18, "prompt_per_second": 2696.1,
                "predicted_n": 240, "predicted_ms": 4120.5, "predicted_per_second": 58.2}}),
        ),
        (
            "tgi: the zero time, role [INST], eos_token",
            json!({"object": "chat.completion", "id": "",
            "created": -62135596800_i64, "model": "mistralai/Mistral-7B-Instruct-v0.2",
            "system_fingerprint": "2.0.4-sha-f426a33", "choices": [{"index": 0,
                "message": {"role": "[INST]", "content": content}, "logprobs": null, "finish_reason": "eos_token"}],
            "usage": {"prompt_tokens": 812, "completion_tokens": 240, "total_tokens": 1052}}),
        ),
        (
            "vllm reasoning model",
            json!({"id": "chatcmpl-9a1", "object": "chat.completion", "created": 1771684200,
            "model": "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "choices": [{"index": 0,
                "message": {"role": "assistant", "reasoning_content": "The losses cluster at high prices…",
                    "content": content, "tool_calls": []}, "logprobs": null, "finish_reason": "stop",
                "stop_reason": null}],
            "usage": {"prompt_tokens": 812, "total_tokens": 1052, "completion_tokens": 240,
                "prompt_tokens_details": null}, "prompt_logprobs": null}),
        ),
        (
            "ollama: no usage",
            json!({"id": "chatcmpl-310", "object": "chat.completion", "created": 1771684200,
            "model": "llama3.1:8b", "system_fingerprint": "fp_ollama", "choices": [{"index": 0,
                "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]}),
        ),
    ]
}

/// Issue 23: `"role": ""`, no `id` or `"created": -62135596800` failed the reflection
/// (async-openai's strict types). The content is read, whatever surrounds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compatible_servers_answers_are_read() {
    for (name, body) in compatible_bodies(&good_answer().to_string()) {
        let db = TestDb::new();
        settle_all(&db, 0, "LLL");
        let server = serving(ResponseTemplate::new(200).set_body_json(&body)).await;
        let out = reflect(&db, Some(&server), &[]);
        assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
        let stats = stdout_json(&out);
        assert_eq!(
            (stats["status"].as_str(), stats["proposals"].as_u64()),
            (Some("ok"), Some(1)),
            "{name}: {stats}"
        );
        let r = reflection(&db, stats["reflection_id"].as_i64().unwrap());
        assert_eq!(r["model"], body["model"], "{name}");
        assert_eq!(r["status"], "ok", "{name}");
        assert_eq!(
            db.count("SELECT count(*) FROM reflection_trades"),
            3,
            "{name}"
        );
        // One request: nothing was retried.
        assert_eq!(server.received_requests().await.unwrap().len(), 1, "{name}");
    }
}

fn alerts(db: &TestDb) -> Vec<String> {
    db.conn()
        .prepare(
            "SELECT json_extract(payload, '$.text') FROM outbox WHERE kind = 'text' ORDER BY id",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// Checks the pair a model failure leaves: the `failed` reflection (engine openai, why) and
/// the rules engine's beside it, which covers the trades and says why it stood in.
fn assert_fell_back(db: &TestDb, stats: &Value, why: &str, covered: i64) {
    assert_eq!(stats["status"], "model_failed", "{stats}");
    assert!(
        stats["model_error"].as_str().unwrap().contains(why),
        "{stats}"
    );
    let failed = reflection(db, stats["reflection_id"].as_i64().unwrap());
    assert_eq!(
        (failed["engine"].as_str(), failed["status"].as_str()),
        (Some("openai"), Some("failed"))
    );
    assert!(failed["error"].as_str().unwrap().contains(why), "{failed}");
    assert_eq!(failed["trades_analyzed"], 0);
    let rules = reflection(db, stats["fallback"]["reflection_id"].as_i64().unwrap());
    assert_eq!(
        (rules["engine"].as_str(), rules["status"].as_str()),
        (Some("rules"), Some("ok"))
    );
    let note = rules["error"].as_str().unwrap();
    assert!(
        note.contains("the rules engine stood in: the model could not answer")
            && note.contains(why),
        "{note}"
    );
    assert_eq!(rules["trades_analyzed"], covered);
}

/// Issue 23: a 429 `insufficient_quota` was retried as if waiting would help. It is asked once;
/// the rules engine reflects instead, recorded as such, with one alert, and a later trigger in
/// the same outage brings no second alert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_quota_is_not_retried_and_the_rules_engine_stands_in() {
    let db = TestDb::new();
    settle_all(&db, 0, "LLL");
    let server = serving(
        ResponseTemplate::new(429)
            .insert_header("retry-after", "1")
            .set_body_json(json!({"error": {"message": "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
                "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}})),
    )
    .await;
    let out = reflect(&db, Some(&server), &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "retried"
    );
    assert_fell_back(&db, &stdout_json(&out), "insufficient_quota", 3);
    let sent = alerts(&db);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].contains("could not answer since 2026-02-11 12:00:00")
            && sent[0].contains("insufficient_quota"),
        "{}",
        sent[0]
    );
    assert_eq!(
        db.count("SELECT count(*) FROM outbox WHERE kind = 'insights'"),
        1
    );

    // Three more losses later: the same failure, the rules engine again, no second alert.
    settle_all(&db, 3, "LLL");
    let out = reflect(&db, Some(&server), &["--now", &at("12:15")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_fell_back(&db, &stdout_json(&out), "insufficient_quota", 3);
    assert_eq!(alerts(&db).len(), 1, "one alert per outage");
    assert_eq!(
        db.count("SELECT count(*) FROM job_runs WHERE job = 'polyperf-reflect' AND status = 'ok'"),
        2
    );
}

/// 401 (a wrong or revoked key) is never retried either; a body that holds no completion (an
/// HTML page with 200) is no answer. Both leave the reflection to the rules engine at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_or_an_unreadable_answer_falls_back_at_once() {
    let cases = [
        (
            ResponseTemplate::new(401).set_body_json(
                json!({"error": {"message": "Incorrect API key provided: sk-proj-****abcd.",
                "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
            ),
            "HTTP 401",
        ),
        (
            ResponseTemplate::new(200)
                .set_body_string("<html><body>Welcome to nginx!</body></html>"),
            "not JSON",
        ),
        (
            ResponseTemplate::new(200)
                .set_body_json(json!({"object": "chat.completion", "choices": []})),
            "no choices",
        ),
        (
            ResponseTemplate::new(404).set_body_json(
                json!({"error": {"message": "model \"gpt-4o-mini\" not found, try pulling it first",
                "type": "api_error", "param": null, "code": null}}),
            ),
            "not found",
        ),
    ];
    for (response, why) in cases {
        let db = TestDb::new();
        settle_all(&db, 0, "LLL");
        let server = serving(response).await;
        let out = reflect(&db, Some(&server), &[]);
        assert_eq!(code(&out), 0, "{why}: {}", stderr(&out));
        assert_eq!(server.received_requests().await.unwrap().len(), 1, "{why}");
        assert_fell_back(&db, &stdout_json(&out), why, 3);
        assert_eq!(alerts(&db).len(), 1, "{why}");
        assert!(!format!("{}{:?}", stderr(&out), alerts(&db)).contains(KEY));
    }
}

/// Issue 23: a model that is down gave exit 75 for ever and no reflection. An outage is waited
/// for (exit 75) for `llm.fallback_after_minutes` (60) from its first failed run; then the rules
/// engine reflects, with one alert; a later trigger in the outage falls back at once (no new
/// wait, no second alert); once the model answers, a new outage is waited for again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_past_the_wait_is_left_to_the_rules_engine_once() {
    let db = TestDb::new();
    settle_all(&db, 0, "LLL");
    let down = serving(ResponseTemplate::new(503).set_body_json(
        json!({"error": {"message": "The server is overloaded or not ready yet.",
        "type": "server_error", "code": null}}),
    ))
    .await;
    for time in ["12:00", "12:30", "12:59"] {
        let out = reflect(&db, Some(&down), &["--now", &at(time)]);
        assert_eq!(code(&out), 75, "{time}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("until 2026-02-11 13:00:00 UTC"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(
        down.received_requests().await.unwrap().len(),
        9,
        "3 attempts a run"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM reflections"),
        1,
        "recorded once"
    );
    assert!(alerts(&db).is_empty());

    let out = reflect(&db, Some(&down), &["--now", &at("13:00")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_fell_back(&db, &stdout_json(&out), "HTTP 503", 3);
    let sent = alerts(&db);
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].contains("since 2026-02-11 12:00:00 UTC"),
        "{}",
        sent[0]
    );

    settle_all(&db, 3, "LLL");
    let out = reflect(&db, Some(&down), &["--now", &at("13:15")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_fell_back(&db, &stdout_json(&out), "HTTP 503", 3);
    assert_eq!(alerts(&db).len(), 1);

    // The model is back; later it fails again: that new outage is waited for again.
    settle_all(&db, 6, "LLL");
    let up = server_answering(&good_answer().to_string(), "stop").await;
    let out = reflect(&db, Some(&up), &["--now", &at("13:30")]);
    assert_eq!(stdout_json(&out)["status"], "ok", "{}", stderr(&out));
    settle_all(&db, 9, "LLL");
    let out = reflect(&db, Some(&down), &["--now", &at("14:00")]);
    assert_eq!(code(&out), 75, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("until 2026-02-11 15:00:00 UTC"),
        "{}",
        stderr(&out)
    );
}

/// A `retry-after` past the bound is not slept through: the run stops asking at once and the
/// outage is waited for like any other (exit 75), well within the job's time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_retry_after_is_not_slept_through() {
    let db = TestDb::new();
    settle_all(&db, 0, "LLL");
    let server = serving(
        ResponseTemplate::new(429)
            .insert_header("retry-after", "3600")
            .set_body_json(json!({"error": {"message": "Rate limit reached for gpt-4o-mini on requests per day (RPD): Limit 10000, Used 10000, Requested 1.",
                "type": "requests", "param": null, "code": "rate_limit_exceeded"}})),
    )
    .await;
    let started = std::time::Instant::now();
    let out = reflect(&db, Some(&server), &[]);
    assert_eq!(code(&out), 75, "{}", stderr(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    assert!(
        stderr(&out).contains("retry after 3600s"),
        "{}",
        stderr(&out)
    );
    // With no wait configured, the rules engine answers at once.
    let out = reflect(&db, Some(&server), &["--now", &at("12:01")]);
    assert_eq!(code(&out), 75);
    let mut cmd = db.cmd("polyperf-reflect");
    let out = cmd
        .args(["--json", "--now", &at("12:02")])
        .env("POLYPERF_LLM_FALLBACK_AFTER_MINUTES", "0")
        .env("POLYPERF_APIS_HTTP_BACKOFF_MS", "10")
        .env("OPENAI_BASE_URL", format!("{}/v1", server.uri()))
        .env("OPENAI_API_KEY", KEY)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_fell_back(&db, &stdout_json(&out), "rate_limit_exceeded", 3);
}

/// Issue 23: an answer with 5,000 recommendations became 5,000 proposals and 5,002 outbox rows.
/// One recommendation per parameter is read (the first); the rest are dropped, and the stored
/// answer and the insights message say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_recommendations_make_one_proposal_per_parameter() {
    let db = TestDb::new();
    settle_all(&db, 0, "LLL");
    let mut recommendations: Vec<Value> = (0..5_000)
        .map(|i| json!({"parameter": "bot_confidence_threshold", "current": 0.75,
            "recommended": 0.80 + f64::from(i % 10) / 100.0, "reason": format!("reason {i}"), "tier": 1}))
        .collect();
    recommendations.push(
        json!({"parameter": "bot_max_position_dollars", "current": 10,
        "recommended": 9, "reason": "smaller stakes", "tier": 1}),
    );
    let answer = json!({"insights": ["losses at high prices"], "patterns": {"winning": [], "losing": []},
        "recommendations": recommendations});
    let server = server_answering(&answer.to_string(), "stop").await;
    let out = reflect(&db, Some(&server), &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let stats = stdout_json(&out);
    assert_eq!(
        (stats["status"].as_str(), stats["proposals"].as_u64()),
        (Some("ok"), Some(2))
    );
    let proposals: Vec<(String, String, String)> = db
        .conn()
        .prepare("SELECT parameter_name, proposed_value, reason FROM proposals ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(
        proposals,
        [
            (
                "bot_confidence_threshold".into(),
                "0.8".into(),
                "reason 0".into()
            ),
            (
                "bot_max_position_dollars".into(),
                "9".into(),
                "smaller stakes".into()
            ),
        ]
    );
    assert_eq!(
        db.count("SELECT count(*) FROM outbox"),
        1,
        "one insights message"
    );
    let insights: String = db
        .conn()
        .query_row("SELECT insights FROM reflections", [], |r| r.get(0))
        .unwrap();
    assert!(insights.contains("4999 more recommendations"), "{insights}");
    let payload: String = db
        .conn()
        .query_row(
            "SELECT payload FROM outbox WHERE kind = 'insights'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        payload.contains("4999 more recommendations") && payload.len() < 10_000,
        "{} bytes",
        payload.len()
    );
}
