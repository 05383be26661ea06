//! The analysis answer in the seed's shape, and its strict validation: JSON, every required
//! field, known parameters, finite numbers. Pure; decides nothing about tiers or bounds.

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
}

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
    let insights = strings(root.get("insights"), "insights")?;
    let patterns = root
        .get("patterns")
        .ok_or_else(|| "missing field: patterns".to_string())?
        .as_object()
        .ok_or_else(|| "patterns: not an object".to_string())?;
    let patterns = Patterns {
        winning: strings(patterns.get("winning"), "patterns.winning")?,
        losing: strings(patterns.get("losing"), "patterns.losing")?,
    };
    let items = root
        .get("recommendations")
        .ok_or_else(|| "missing field: recommendations".to_string())?
        .as_array()
        .ok_or_else(|| "recommendations: not an array".to_string())?;
    let mut recommendations = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        recommendations.push(recommendation(item, i, known_parameters)?);
    }
    Ok(Answer {
        insights,
        patterns,
        recommendations,
    })
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
    let reason = text("reason")?;
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
        Some(Value::String(s)) => Some(s.clone()),
        // A number or object is information only: keep it as its JSON text.
        Some(other) => Some(other.to_string()),
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

/// Some servers wrap JSON in a Markdown code fence even in JSON mode.
fn strip_fences(text: &str) -> &str {
    let t = text.trim();
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
}
