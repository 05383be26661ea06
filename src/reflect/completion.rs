//! A chat completion's body, read leniently: what the reflection needs is
//! `choices[0].message.content` (and, if there, the model's name, the token counts and whether
//! the answer was cut off). Compatible servers (Ollama, vLLM, llama.cpp, LM Studio, TGI, …) bend
//! the rest of OpenAI's shape: `"role": ""` or `"[INST]"`, no `id`, `"created": -62135596800`,
//! `finish_reason: "eos_token"`, extra fields (`reasoning_content`, `timings`,
//! `system_fingerprint`, `service_tier`, `refusal`, `annotations`); none of it matters here.
//! Pure: no I/O, never panics whatever the body.

use serde_json::Value;

/// What was read from a completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The answering model's name, when the body gives one.
    pub model: Option<String>,
    pub content: String,
    /// `finish_reason` says the answer was cut off at `max_tokens` (`"length"`, or
    /// `"max_tokens"` as some servers write it).
    pub truncated: bool,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
}

/// Reads a completion's body. `Err` says why it holds no answer (the text is ours, plus at most
/// a clipped piece of the server's).
pub fn read(body: &str) -> Result<Completion, String> {
    let value: Value = serde_json::from_str(body.trim_start_matches('\u{feff}'))
        .map_err(|e| format!("the body is not JSON ({e})"))?;
    if let Some(error) = value.get("error").filter(|e| !e.is_null()) {
        return Err(format!("the body is an error: {}", error_text(error)));
    }
    let choice = value
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|choices| choices.first())
        .ok_or("the answer has no choices")?;
    let message = choice.get("message").or_else(|| choice.get("delta"));
    let content = message
        .and_then(|m| m.get("content"))
        .and_then(text_of)
        // The legacy completions shape some servers answer with.
        .or_else(|| choice.get("text").and_then(text_of))
        .filter(|content| !content.trim().is_empty());
    let Some(content) = content else {
        return Err(
            match message
                .and_then(|m| m.get("refusal"))
                .and_then(Value::as_str)
            {
                Some(refusal) => format!("the model refused: {}", crate::body::clip(refusal, 300)),
                None => "choices[0].message has no content".to_string(),
            },
        );
    };
    let finish = choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .unwrap_or("");
    let tokens = |key: &str| {
        value
            .pointer(&format!("/usage/{key}"))
            .and_then(Value::as_u64)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
    };
    Ok(Completion {
        model: value
            .get("model")
            .and_then(Value::as_str)
            .map(|m| crate::body::clip(m.trim(), 100))
            .filter(|m| !m.is_empty()),
        content,
        truncated: matches!(finish, "length" | "max_tokens"),
        prompt_tokens: tokens("prompt_tokens"),
        completion_tokens: tokens("completion_tokens"),
    })
}

/// Content as text: a string, or the text parts of a list of content parts joined.
fn text_of(content: &Value) -> Option<String> {
    match content {
        Value::String(text) => Some(text.clone()),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter_map(|part| match part {
                    Value::String(text) => Some(text.as_str()),
                    _ => part.get("text").and_then(Value::as_str),
                })
                .collect();
            (!texts.is_empty()).then(|| texts.concat())
        }
        _ => None,
    }
}

/// An OpenAI-style `error` (an object with `message`, `code`, `type`, or a bare string) as one
/// short line.
pub fn error_text(error: &Value) -> String {
    let field = |key: &str| error.get(key).and_then(Value::as_str).unwrap_or("");
    let text = match error {
        Value::String(text) => text.clone(),
        Value::Object(_) => {
            let code = [field("code"), field("type")]
                .into_iter()
                .find(|c| !c.is_empty())
                .unwrap_or("");
            match (code, field("message")) {
                ("", "") => error.to_string(),
                ("", message) => message.to_string(),
                (code, "") => code.to_string(),
                (code, message) => format!("{code}: {message}"),
            }
        }
        other => other.to_string(),
    };
    crate::body::clip(&crate::http::short(&text), 300)
}

/// The `error.code` (or `error.type`) of an error body, if it has one.
pub fn error_code(body: &str) -> Option<String> {
    let value: Value = serde_json::from_str(body).ok()?;
    let error = value.get("error")?;
    ["code", "type"]
        .iter()
        .find_map(|key| error.get(*key).and_then(Value::as_str))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const ANSWER: &str =
        r#"{"insights": [], "patterns": {"winning": [], "losing": []}, "recommendations": []}"#;

    /// Bodies as compatible servers really send them (recorded shapes), each with the answer.
    #[test]
    fn compatible_servers_bodies_are_read() {
        let bodies = [
            // OpenAI.
            json!({"id": "chatcmpl-123", "object": "chat.completion", "created": 1771684200, "model": "gpt-4o-mini",
                "system_fingerprint": "fp_44709d6fcb", "service_tier": "default",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER, "refusal": null, "annotations": []},
                    "logprobs": null, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 812, "completion_tokens": 240, "total_tokens": 1052,
                    "prompt_tokens_details": {"cached_tokens": 0}}}),
            // llama.cpp's server: no id, timings, an empty role.
            json!({"choices": [{"finish_reason": "stop", "index": 0, "message": {"content": ANSWER, "role": ""}}],
                "created": 1771684200, "model": "qwen2.5-7b-instruct-q4_k_m.gguf", "object": "chat.completion",
                "usage": {"completion_tokens": 240, "prompt_tokens": 812, "total_tokens": 1052},
                "timings": {"prompt_n": 812, "prompt_ms": 301.2, "predicted_n": 240, "predicted_ms": 4120.5}}),
            // TGI: the zero time, a role of "[INST]", eos_token.
            json!({"object": "chat.completion", "id": "", "created": -62135596800_i64, "model": "mistralai/Mistral-7B-Instruct-v0.2",
                "system_fingerprint": "2.0.4-sha-f426a33",
                "choices": [{"index": 0, "message": {"role": "[INST]", "content": ANSWER}, "logprobs": null, "finish_reason": "eos_token"}],
                "usage": {"prompt_tokens": 812, "completion_tokens": 240, "total_tokens": 1052}}),
            // A reasoning model through vLLM: reasoning_content beside the content.
            json!({"id": "chatcmpl-b1", "object": "chat.completion", "created": 1771684200, "model": "deepseek-r1",
                "choices": [{"index": 0, "message": {"role": "assistant", "reasoning_content": "Let me think…",
                    "content": ANSWER, "tool_calls": []}, "logprobs": null, "finish_reason": "stop", "stop_reason": null}],
                "usage": {"prompt_tokens": 812, "total_tokens": 1052, "completion_tokens": 240}, "prompt_logprobs": null}),
            // Content as parts; usage missing.
            json!({"model": "m", "choices": [{"message": {"content": [{"type": "text", "text": "{\"insights\": [], "},
                {"type": "text", "text": "\"patterns\": {\"winning\": [], \"losing\": []}, \"recommendations\": []}"}]}}]}),
        ];
        for body in &bodies {
            let read = read(&body.to_string()).unwrap_or_else(|e| panic!("{e}: {body}"));
            assert_eq!(
                serde_json::from_str::<Value>(&read.content).unwrap(),
                serde_json::from_str::<Value>(ANSWER).unwrap()
            );
            assert!(!read.truncated);
        }
        let first = read(&bodies[0].to_string()).unwrap();
        assert_eq!(first.model.as_deref(), Some("gpt-4o-mini"));
        assert_eq!(
            (first.prompt_tokens, first.completion_tokens),
            (Some(812), Some(240))
        );
        assert_eq!(read(&bodies[4].to_string()).unwrap().prompt_tokens, None);
    }

    #[test]
    fn cut_refused_and_empty_answers_say_so() {
        let cut = json!({"model": "m", "choices": [{"message": {"role": "assistant", "content": "{\"insi"}, "finish_reason": "length"}]});
        assert!(read(&cut.to_string()).unwrap().truncated);
        let cases = [
            ("<html>502 Bad Gateway</html>".to_string(), "not JSON"),
            (
                json!({"object": "chat.completion", "choices": []}).to_string(),
                "no choices",
            ),
            (
                json!({"choices": [{"message": {"role": "assistant", "content": null,
                "refusal": "I can't help with that."}, "finish_reason": "stop"}]})
                .to_string(),
                "the model refused: I can't help",
            ),
            (
                json!({"choices": [{"message": {"role": "assistant", "content": "  "}}]})
                    .to_string(),
                "no content",
            ),
            (
                json!({"error": {"message": "model 'llama3' not found", "type": "api_error"}})
                    .to_string(),
                "api_error: model 'llama3' not found",
            ),
            (
                json!({"error": "upstream timed out"}).to_string(),
                "upstream timed out",
            ),
        ];
        for (body, want) in cases {
            let err = read(&body).unwrap_err();
            assert!(err.contains(want), "{body}: {err}");
        }
    }

    #[test]
    fn error_codes_are_read() {
        let quota = r#"{"error": {"message": "You exceeded your current quota, please check your plan and billing details.", "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}"#;
        assert_eq!(error_code(quota).as_deref(), Some("insufficient_quota"));
        assert_eq!(
            error_code(r#"{"error": {"type": "requests"}}"#).as_deref(),
            Some("requests")
        );
        assert_eq!(error_code("rate limited"), None);
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            ".{0,20}".prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop::sample::select(vec![
                        "choices",
                        "message",
                        "content",
                        "role",
                        "finish_reason",
                        "model",
                        "usage",
                        "prompt_tokens",
                        "completion_tokens",
                        "error",
                        "refusal",
                        "text",
                        "delta",
                        "created",
                        "id",
                        "code",
                        "type",
                    ])
                    .prop_map(str::to_string),
                    inner,
                    0..6,
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Any JSON: no panic; an answer only with non-blank content.
        #[test]
        fn any_json_reads_without_panicking(body in json_value()) {
            if let Ok(completion) = read(&body.to_string()) {
                prop_assert!(!completion.content.trim().is_empty());
            }
            let _ = error_code(&body.to_string());
        }

        /// Any text: no panic.
        #[test]
        fn any_text_reads_without_panicking(body in any::<String>()) {
            let _ = read(&body);
        }

        /// Whatever else the body holds, choices[0].message.content is the answer.
        #[test]
        fn the_content_is_read_whatever_surrounds_it(
            role in prop::sample::select(vec!["assistant", "", "[INST]", "model"]),
            created in any::<i64>(),
            finish in prop::sample::select(vec!["stop", "eos_token", "eos", "", "tool_calls"]),
            content in "[ -~]{1,80}",
            extra in json_value(),
        ) {
            prop_assume!(!content.trim().is_empty());
            let body = json!({"created": created, "extra": extra, "choices": [{"index": 0,
                "message": {"role": role, "content": content, "reasoning_content": extra},
                "finish_reason": finish}]});
            let completion = read(&body.to_string()).unwrap();
            prop_assert_eq!(completion.content, content);
            prop_assert!(!completion.truncated);
        }
    }
}
