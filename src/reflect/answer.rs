//! The analysis answer in the seed's shape, and its strict validation: JSON, every required
//! field, known parameters, finite numbers. Pure; decides nothing about tiers or bounds.
//!
//! Bounded, whatever the model sends: one recommendation per parameter (the first; later ones
//! for a parameter already recommended are dropped), at most [`MAX_TEXTS`] insights and
//! patterns of each kind, each at most [`MAX_TEXT_CHARS`] characters. What was dropped is said
//! in `notes`, stored with the answer and shown with its insights: an answer with 5,000
//! recommendations makes at most one proposal per parameter, not 5,000.

use std::collections::BTreeSet;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A validated answer (from the model or the rules engine).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Answer {
    pub insights: Vec<String>,
    pub patterns: Patterns,
    pub recommendations: Vec<Recommendation>,
    /// What polyperf dropped from the answer to keep it bounded (empty when nothing was).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Most insights, and most winning and losing patterns, kept from one answer.
pub const MAX_TEXTS: usize = 20;

/// Longest insight, pattern or reason kept (longer ones are cut, with "…").
pub const MAX_TEXT_CHARS: usize = 1_000;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Patterns {
    pub winning: Vec<String>,
    pub losing: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recommendation {
    pub parameter: String,
    /// What the analysis believed the value is (information only: proposals use the live value).
    #[serde(with = "rust_decimal::serde::str")]
    pub current: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub recommended: Decimal,
    pub reason: String,
    /// The tier the analysis suggests; the adjuster decides the real one.
    pub tier: Option<i64>,
    pub expected_impact: Option<String>,
}

/// Parses and validates the model's text. `Err` is the reason the answer is unusable.
pub fn parse(text: &str, known_parameters: &BTreeSet<String>) -> Result<Answer, String> {
    let body = strip_fences(text);
    let value: Value = serde_json::from_str(body).map_err(|e| format!("not valid JSON: {e}"))?;
    from_value(&value, known_parameters)
}

/// Validates an already parsed JSON value.
pub fn from_value(value: &Value, known_parameters: &BTreeSet<String>) -> Result<Answer, String> {
    let root = value
        .as_object()
        .ok_or_else(|| "the answer is not a JSON object".to_string())?;
    let mut notes = Vec::new();
    let insights = bounded(
        strings(root.get("insights"), "insights")?,
        "insights",
        &mut notes,
    );
    let patterns = root
        .get("patterns")
        .ok_or_else(|| "missing field: patterns".to_string())?
        .as_object()
        .ok_or_else(|| "patterns: not an object".to_string())?;
    let winning = strings(patterns.get("winning"), "patterns.winning")?;
    let losing = strings(patterns.get("losing"), "patterns.losing")?;
    let patterns = Patterns {
        winning: bounded(winning, "winning patterns", &mut notes),
        losing: bounded(losing, "losing patterns", &mut notes),
    };
    let items = root
        .get("recommendations")
        .ok_or_else(|| "missing field: recommendations".to_string())?
        .as_array()
        .ok_or_else(|| "recommendations: not an array".to_string())?;
    let mut recommendations: Vec<Recommendation> = Vec::new();
    let mut repeated = 0usize;
    for (i, item) in items.iter().enumerate() {
        let recommendation = recommendation(item, i, known_parameters)?;
        if recommendations
            .iter()
            .any(|r| r.parameter == recommendation.parameter)
        {
            repeated += 1;
            continue;
        }
        recommendations.push(recommendation);
    }
    if repeated > 0 {
        notes.push(format!(
            "{repeated} more recommendations for parameters already recommended were dropped (one per parameter is read: the first)"
        ));
    }
    Ok(Answer {
        insights,
        patterns,
        recommendations,
        notes,
    })
}

/// At most [`MAX_TEXTS`] texts of at most [`MAX_TEXT_CHARS`] characters; a note says what went.
fn bounded(texts: Vec<String>, what: &str, notes: &mut Vec<String>) -> Vec<String> {
    let n = texts.len();
    if n > MAX_TEXTS {
        notes.push(format!(
            "{} more {what} were dropped (at most {MAX_TEXTS} are kept)",
            n - MAX_TEXTS
        ));
    }
    texts
        .into_iter()
        .take(MAX_TEXTS)
        .map(|text| crate::body::clip(&text, MAX_TEXT_CHARS))
        .collect()
}

fn recommendation(
    item: &Value,
    i: usize,
    known_parameters: &BTreeSet<String>,
) -> Result<Recommendation, String> {
    let at = |field: &str| format!("recommendations[{i}].{field}");
    let obj = item
        .as_object()
        .ok_or_else(|| format!("recommendations[{i}]: not an object"))?;
    let text = |field: &str| -> Result<String, String> {
        match obj.get(field) {
            None | Some(Value::Null) => Err(format!("missing field: {}", at(field))),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
            Some(Value::String(_)) => Err(format!("{}: empty", at(field))),
            Some(other) => Err(format!("{}: expected text, got {}", at(field), kind(other))),
        }
    };
    let number = |field: &str| -> Result<Decimal, String> {
        match obj.get(field) {
            None | Some(Value::Null) => Err(format!("missing field: {}", at(field))),
            Some(Value::Number(n)) => decimal(&n.to_string())
                .ok_or_else(|| format!("{}: {n} is not a finite decimal number", at(field))),
            Some(other) => Err(format!(
                "{}: expected a number, got {}",
                at(field),
                kind(other)
            )),
        }
    };
    let parameter = text("parameter")?;
    if !known_parameters.contains(&parameter) {
        return Err(format!(
            "{}: unknown parameter {parameter:?} (known: {})",
            at("parameter"),
            known_parameters
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let current = number("current")?;
    let recommended = number("recommended")?;
    let reason = crate::body::clip(&text("reason")?, MAX_TEXT_CHARS);
    let tier = match obj.get("tier") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_i64() {
            Some(t) if (1..=3).contains(&t) => Some(t),
            _ => return Err(format!("{}: {n} is not 1, 2 or 3", at("tier"))),
        },
        Some(other) => {
            return Err(format!(
                "{}: expected a number, got {}",
                at("tier"),
                kind(other)
            ))
        }
    };
    let expected_impact = match obj.get("expected_impact") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(crate::body::clip(s, MAX_TEXT_CHARS)),
        // A number or object is information only: keep it as its JSON text.
        Some(other) => Some(crate::body::clip(&other.to_string(), MAX_TEXT_CHARS)),
    };
    Ok(Recommendation {
        parameter,
        current,
        recommended,
        reason,
        tier,
        expected_impact,
    })
}

fn strings(value: Option<&Value>, field: &str) -> Result<Vec<String>, String> {
    let items = value
        .ok_or_else(|| format!("missing field: {field}"))?
        .as_array()
        .ok_or_else(|| format!("{field}: not an array"))?;
    items
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::String(s) => Ok(s.clone()),
            other => Err(format!("{field}[{i}]: expected text, got {}", kind(other))),
        })
        .collect()
}

fn decimal(text: &str) -> Option<Decimal> {
    let parsed = if text.contains(['e', 'E']) {
        Decimal::from_scientific(text)
    } else {
        text.parse::<Decimal>()
    };
    parsed.ok().map(|d| d.normalize())
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Some servers wrap JSON in a Markdown code fence even in JSON mode, and reasoning models
/// served without a reasoning parser put their `<think>…</think>` before it.
fn strip_fences(text: &str) -> &str {
    let mut t = text.trim();
    if let Some(rest) = t.strip_prefix("<think>") {
        t = rest
            .split_once("</think>")
            .map_or(rest, |(_, after)| after)
            .trim();
    }
    let Some(rest) = t.strip_prefix("```") else {
        return t;
    };
    let rest = rest.strip_prefix("json").unwrap_or(rest);
    rest.strip_suffix("```").unwrap_or(rest).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> BTreeSet<String> {
        ["bot_confidence_threshold", "bot_max_position_dollars"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    const GOOD: &str = r#"{"insights":["a"],"patterns":{"winning":["w"],"losing":[]},
        "recommendations":[{"parameter":"bot_confidence_threshold","current":0.75,
        "recommended":0.8,"reason":"r","tier":1,"expected_impact":"+3% win rate"}]}"#;

    #[test]
    fn good_answer_parses() {
        let a = parse(GOOD, &known()).unwrap();
        assert_eq!(a.insights, vec!["a"]);
        assert_eq!(a.recommendations[0].recommended, Decimal::new(8, 1));
        assert_eq!(a.recommendations[0].tier, Some(1));
        let fenced = format!("```json\n{GOOD}\n```");
        assert_eq!(parse(&fenced, &known()).unwrap(), a);
        let thought = format!("<think>\nThe user wants JSON {{}}.\n</think>\n\n{GOOD}");
        assert_eq!(parse(&thought, &known()).unwrap(), a);
    }

    #[test]
    fn bad_answers_say_why() {
        let rec = |body: &str| {
            format!(
                r#"{{"insights":[],"patterns":{{"winning":[],"losing":[]}},"recommendations":[{body}]}}"#
            )
        };
        let cases: Vec<(String, &str)> = vec![
            ("I think you should trade less.".into(), "not valid JSON"),
            (
                r#"{"insights":["a"],"patterns":{"winning":[]"#.into(),
                "not valid JSON",
            ),
            ("[1,2]".into(), "not a JSON object"),
            (
                r#"{"patterns":{"winning":[],"losing":[]},"recommendations":[]}"#.into(),
                "missing field: insights",
            ),
            (
                r#"{"insights":[],"patterns":{"winning":[]},"recommendations":[]}"#.into(),
                "missing field: patterns.losing",
            ),
            (
                rec(r#"{"parameter":"bot_magic","current":1,"recommended":2,"reason":"r"}"#),
                "unknown parameter \"bot_magic\"",
            ),
            (
                rec(
                    r#"{"parameter":"bot_confidence_threshold","current":0.7,"recommended":"0.8","reason":"r"}"#,
                ),
                "recommended: expected a number, got text",
            ),
            (
                rec(r#"{"parameter":"bot_confidence_threshold","current":0.7,"reason":"r"}"#),
                "missing field: recommendations[0].recommended",
            ),
            (
                rec(
                    r#"{"parameter":"bot_confidence_threshold","current":0.7,"recommended":0.8,"reason":"r","tier":"1"}"#,
                ),
                "tier: expected a number",
            ),
            (
                rec(
                    r#"{"parameter":"bot_confidence_threshold","current":0.7,"recommended":NaN,"reason":"r"}"#,
                ),
                "not valid JSON",
            ),
            (
                rec(
                    r#"{"parameter":"bot_confidence_threshold","current":0.7,"recommended":1e400,"reason":"r"}"#,
                ),
                "not valid JSON",
            ),
        ];
        for (text, want) in cases {
            let err = parse(&text, &known()).unwrap_err();
            assert!(err.contains(want), "{text}: got {err:?}, want {want:?}");
        }
    }

    /// Issue 23: 5,000 recommendations became 5,000 proposals. One per parameter is read (the
    /// first), the rest dropped with a note; insights and patterns are bounded too.
    #[test]
    fn an_answer_is_bounded_to_one_recommendation_per_parameter() {
        let rec = |parameter: &str, recommended: f64| {
            serde_json::json!({"parameter": parameter, "current": 0.75, "recommended": recommended,
                "reason": "r", "tier": 1})
        };
        let mut items: Vec<Value> = (0..5_000)
            .map(|i| rec("bot_confidence_threshold", 0.76 + (i % 10) as f64 / 100.0))
            .collect();
        items.insert(7, rec("bot_max_position_dollars", 20.0));
        let answer = serde_json::json!({"insights": vec!["x".repeat(5_000); 50],
            "patterns": {"winning": ["w"], "losing": vec!["l"; 30]}, "recommendations": items});
        let a = from_value(&answer, &known()).unwrap();
        let names: Vec<&str> = a
            .recommendations
            .iter()
            .map(|r| r.parameter.as_str())
            .collect();
        assert_eq!(
            names,
            ["bot_confidence_threshold", "bot_max_position_dollars"]
        );
        assert_eq!(a.recommendations[0].recommended, Decimal::new(76, 2));
        assert_eq!(a.insights.len(), MAX_TEXTS);
        assert!(a
            .insights
            .iter()
            .all(|i| i.chars().count() <= MAX_TEXT_CHARS));
        assert_eq!(a.patterns.losing.len(), MAX_TEXTS);
        assert_eq!(a.notes.len(), 3, "{:?}", a.notes);
        assert!(
            a.notes
                .iter()
                .any(|n| n.starts_with("4999 more recommendations")),
            "{:?}",
            a.notes
        );
        let stored = serde_json::to_value(&a).unwrap();
        assert!(stored["notes"].is_array());
        // A bounded answer says nothing more.
        let small = parse(GOOD, &known()).unwrap();
        assert!(small.notes.is_empty());
        assert!(serde_json::to_value(&small).unwrap().get("notes").is_none());
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| serde_json::json!(f)),
            prop::sample::select(vec![
                "bot_confidence_threshold",
                "bot_max_position_dollars",
                "x",
                ""
            ])
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop::sample::select(vec![
                        "insights",
                        "patterns",
                        "winning",
                        "losing",
                        "recommendations",
                        "parameter",
                        "current",
                        "recommended",
                        "reason",
                        "tier",
                        "expected_impact",
                    ])
                    .prop_map(str::to_string),
                    inner,
                    0..6,
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Any JSON or text: no panic; an accepted answer names each known parameter at most
        /// once and keeps its lists bounded.
        #[test]
        fn any_answer_is_bounded_or_refused(value in json_value(), text in ".{0,200}") {
            let _ = parse(&text, &known());
            if let Ok(a) = from_value(&value, &known()) {
                let mut names: Vec<&str> = a.recommendations.iter().map(|r| r.parameter.as_str()).collect();
                let n = names.len();
                names.dedup();
                names.sort_unstable();
                names.dedup();
                proptest::prop_assert_eq!(names.len(), n);
                proptest::prop_assert!(n <= known().len());
                proptest::prop_assert!(a.insights.len() <= MAX_TEXTS);
            }
        }
    }
}
