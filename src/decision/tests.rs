//! Unit tests of the decision format.

use super::*;
use crate::db::Money;

pub(crate) const GOOD: &str = r#"{"decision_id": "9b2f", "timestamp": "2026-02-11T10:30:00Z",
 "market_slug": "btc-updown-15m-1770828300", "market_id": 1362391,
 "action": "NO", "confidence": 1.0, "position_size": "5.00", "reasoning": "Bearish signals aligned",
 "btc_price": 66940.0, "price_to_beat": "66826.14", "time_remaining_seconds": 480, "is_end_phase": false,
 "social_score": -0.10, "market_score": -0.21, "final_score": -0.17, "final_confidence": 1.0,
 "signal_type": "STRONG_BEARISH", "rsi": 60.1, "macd": 1.74, "trend": "BULLISH",
 "yes_price": "0.51", "no_price": 0.50, "executed_price": "0.52"}"#;

#[test]
fn parses_the_spec_example_exactly() {
    let d = Decision::from_json(GOOD).unwrap();
    assert_eq!(d.action, Action::No);
    assert_eq!(d.position_size.to_string(), "5.00");
    assert_eq!(d.btc_price.to_string(), "66940.0");
    assert_eq!(d.price_to_beat.unwrap().to_string(), "66826.14");
    assert_eq!(d.no_price.unwrap().to_string(), "0.50");
    assert_eq!(d.key(), "9b2f");
    let (start, end) = d.window().unwrap();
    assert_eq!(to_db(start), "2026-02-11 16:45:00");
    assert_eq!((end - start).num_minutes(), 15);
}

fn rejects(change: (&str, &str), field: &str) {
    let mut v: serde_json::Value = serde_json::from_str(GOOD).unwrap();
    if change.1 == "<remove>" {
        v.as_object_mut().unwrap().remove(change.0);
    } else {
        v[change.0] = serde_json::from_str(change.1).unwrap();
    }
    let err = Decision::from_json(&v.to_string()).unwrap_err();
    assert_eq!(err.field, field, "{change:?} gave {err}");
}

#[test]
fn rejects_bad_fields_naming_them() {
    rejects(("confidence", "1.5"), "confidence");
    rejects(("action", "\"BUY\""), "action");
    rejects(("position_size", "-1"), "position_size");
    rejects(("btc_price", "0"), "btc_price");
    rejects(("executed_price", "1.0"), "executed_price");
    rejects(("executed_price", "<remove>"), "executed_price");
    rejects(("timestamp", "\"yesterday\""), "timestamp");
    rejects(("market_slug", "<remove>"), "market_slug");
    rejects(("position_size", "\"five\""), "position_size");
    rejects(("market_slug", "42"), "market_slug");
    rejects(("liquidity", "\"both\""), "liquidity");
    rejects(("liquidity", "1"), "liquidity");
    rejects(("fee_paid", "-0.01"), "fee_paid");
    rejects(("fee_paid", "\"a lot\""), "fee_paid");
    rejects(("bankroll", "0"), "bankroll");
    rejects(("bankroll", "-500"), "bankroll");
    rejects(("bankroll", "\"plenty\""), "bankroll");
    rejects(("bankroll", "0.0000001"), "bankroll");
    rejects(("bankroll", "1e12"), "bankroll");
}

#[test]
fn the_bankroll_is_optional_and_kept_exactly() {
    assert_eq!(Decision::from_json(GOOD).unwrap().bankroll, None);
    let mut v: serde_json::Value = serde_json::from_str(GOOD).unwrap();
    v["bankroll"] = "1250.50".into();
    let d = Decision::from_json(&v.to_string()).unwrap();
    assert_eq!(d.bankroll, Some(Decimal::new(125050, 2)));
    v["bankroll"] = serde_json::json!(980);
    assert_eq!(
        Decision::from_json(&v.to_string()).unwrap().bankroll,
        Some(Decimal::from(980))
    );
}

#[test]
fn fill_facts_are_read_and_default_to_a_taker_without_a_logged_fee() {
    let d = Decision::from_json(GOOD).unwrap();
    assert_eq!((d.liquidity, d.fee_paid), (Liquidity::Taker, None));
    let mut v: serde_json::Value = serde_json::from_str(GOOD).unwrap();
    v["liquidity"] = "Maker".into();
    v["fee_paid"] = serde_json::json!(0.17472);
    let d = Decision::from_json(&v.to_string()).unwrap();
    assert_eq!(d.liquidity, Liquidity::Maker);
    assert_eq!(d.fee_paid, Some(Decimal::new(17472, 5)));
    v["fee_paid"] = "0".into();
    v["liquidity"] = serde_json::Value::Null;
    let d = Decision::from_json(&v.to_string()).unwrap();
    assert_eq!(
        (d.liquidity, d.fee_paid),
        (Liquidity::Taker, Some(Decimal::ZERO))
    );
}

#[test]
fn more_places_than_a_column_keeps_are_refused_not_rounded() {
    // (field, value, accepted): money and share prices keep 6 places, BTC prices 8.
    let cases = [
        ("position_size", "\"5.123456\"", true),
        ("position_size", "\"5.1234567\"", false),
        ("position_size", "\"5.1234560\"", true),
        ("position_size", "999999.999999", true),
        ("position_size", "1000000000", false),
        ("executed_price", "0.5234567", false),
        ("yes_price", "\"0.1234567\"", false),
        ("no_price", "0.123456", true),
        ("fee_paid", "0.0000001", false),
        ("fee_rate", "0.0725", true),
        ("btc_price", "\"66940.12345678\"", true),
        ("btc_price", "\"66940.123456789\"", false),
        ("btc_price", "10000000", false),
        ("price_to_beat", "66826.000000001", false),
    ];
    for (field, value, accepted) in cases {
        let mut v: serde_json::Value = serde_json::from_str(GOOD).unwrap();
        v[field] = serde_json::from_str(value).unwrap();
        match Decision::from_json(&v.to_string()) {
            Ok(_) => assert!(accepted, "{field} = {value} was accepted"),
            Err(e) => {
                assert!(!accepted, "{field} = {value}: {e}");
                assert_eq!(e.field, field, "{e}");
            }
        }
    }
}

proptest::proptest! {
    /// Whatever the fill fields hold, parsing answers (a decision or an error naming the
    /// field), never panics; valid ones come back exactly.
    #[test]
    fn fill_fields_parse_or_name_the_field(
        liquidity in proptest::prop_oneof![
            proptest::strategy::Just("taker".to_string()),
            proptest::strategy::Just("maker".to_string()),
            "\\PC{0,12}",
        ],
        fee_units in -1_000_000_000i64..1_000_000_000_000,
        fee_dp in 0u32..9,
    ) {
        let fee = Decimal::new(fee_units, fee_dp);
        let mut v: serde_json::Value = serde_json::from_str(GOOD).unwrap();
        v["liquidity"] = liquidity.clone().into();
        v["fee_paid"] = fee.to_string().into();
        match Decision::from_json(&v.to_string()) {
            Ok(d) => {
                proptest::prop_assert_eq!(d.liquidity.as_str(), liquidity.to_ascii_lowercase());
                proptest::prop_assert_eq!(d.fee_paid, Some(fee));
                proptest::prop_assert!(Money::fits(fee) && fee >= Decimal::ZERO);
            }
            Err(e) => proptest::prop_assert!(
                e.field == "liquidity" || e.field == "fee_paid",
                "{}", e
            ),
        }
    }
}

#[test]
fn rejects_values_out_of_bounds_naming_them() {
    let long = |n: usize| format!("\"{}\"", "x".repeat(n));
    for (field, value) in [
        ("position_size", "\"1000000.01\""),
        ("position_size", "\"79228162514264337593543950335\""),
        ("executed_price", "\"1e-29\""),
        ("executed_price", "0"),
        ("yes_price", "1.01"),
        ("no_price", "-0.01"),
        ("btc_price", "\"10000000.5\""),
        ("price_to_beat", "0"),
        ("fee_rate", "1.5"),
        ("time_remaining_seconds", "-1"),
        ("time_remaining_seconds", "604801"),
        ("timestamp", "\"2019-12-31T23:59:59Z\""),
        ("timestamp", "\"2100-01-01T00:00:01Z\""),
        ("timestamp", "253402300800"),
        ("timestamp", "0"),
        ("market_start", "\"1999-01-01T00:00:00Z\""),
        ("market_end", "\"2200-01-01T00:00:00Z\""),
        ("decision_id", &long(201)),
        ("decision_id", "\" \""),
        ("market_slug", &long(201)),
        ("signal_type", &long(65)),
        ("trend", &long(65)),
        ("reasoning", &long(10_001)),
        ("position_size", "\"1_000\""),
        ("position_size", "\"+5\""),
        ("position_size", "\".5\""),
        ("btc_price", "\"NaN\""),
        ("rsi", "\"inf\""),
        ("rsi", "\"1e999\""),
        ("final_confidence", "1.5"),
    ] {
        rejects((field, value), field);
    }
}

#[test]
fn accepts_values_at_the_bounds() {
    let mut v: serde_json::Value = serde_json::from_str(GOOD).unwrap();
    v["position_size"] = "1000000".into();
    v["btc_price"] = "9999999.99999999".into();
    v["time_remaining_seconds"] = 604_800.into();
    v["reasoning"] = "é".repeat(10_000).into();
    v["decision_id"] = "é".repeat(200).into();
    v["timestamp"] = 1_770_805_800_000i64.into();
    let d = Decision::from_json(&v.to_string()).unwrap();
    assert_eq!(to_db(d.timestamp), "2026-02-11 10:30:00");
    // A library caller that builds a decision by hand is held to the same rules.
    let mut bad = d.clone();
    bad.macd = Some(f64::NAN);
    assert_eq!(bad.validate().unwrap_err().field, "macd");
    bad = d;
    bad.position_size = MAX_POSITION_SIZE + Decimal::ONE;
    assert_eq!(bad.validate().unwrap_err().field, "position_size");
}

#[test]
fn derived_key_is_stable() {
    let mut v: serde_json::Value = serde_json::from_str(GOOD).unwrap();
    v.as_object_mut().unwrap().remove("decision_id");
    let a = Decision::from_json(&v.to_string()).unwrap();
    let b = Decision::from_json(&v.to_string()).unwrap();
    assert!(a.key().starts_with("auto-"));
    assert_eq!(a.key(), b.key());
}

/// docs/decision-format.md documents every field the parser reads, and nothing else; its
/// example is a valid decision.
#[test]
fn the_documented_fields_are_the_parsed_fields() {
    let doc = include_str!("../../docs/decision-format.md");
    let documented: std::collections::BTreeSet<&str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .collect();
    let example = doc
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("an example in docs/decision-format.md");
    let decision = Decision::from_json(example).unwrap();
    let value = serde_json::to_value(&decision).unwrap();
    let parsed: std::collections::BTreeSet<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(documented, parsed);
    assert_eq!(decision.fee_paid, Some(Decimal::new(12, 2)));
}

/// A Python trader's floats: `1 - 0.57` is sent as 0.43000000000000005. A JSON number within
/// 1e-9 of a value with the column's places is that value; a string is taken as written, and a
/// number with a real 7th decimal is still refused, naming the field.
#[test]
fn float_noise_in_json_numbers_is_rounded_but_real_digits_are_refused() {
    let with = |field: &str, raw: &str| -> std::result::Result<Decision, FieldError> {
        let mut v: serde_json::Value = serde_json::from_str(GOOD).unwrap();
        v.as_object_mut().unwrap().remove(field);
        let text = v.to_string();
        let text = format!("{{\"{field}\": {raw}, {}", &text[1..]);
        Decision::from_json(&text)
    };
    let d = with("executed_price", "0.43000000000000005").unwrap();
    assert_eq!(d.executed_price.unwrap().to_string(), "0.430000");
    assert_eq!(d.executed_price.unwrap(), Decimal::new(43, 2));
    let d = with("position_size", "4.999999999999999").unwrap();
    assert_eq!(d.position_size, Decimal::new(5, 0));
    let d = with("fee_paid", "0.07700000000000001").unwrap();
    assert_eq!(d.fee_paid, Some(Decimal::new(77, 3)));
    let d = with("btc_price", "66940.120000000003").unwrap();
    assert_eq!(d.btc_price, Decimal::new(6_694_012, 2));
    // The same noise logged twice is the same decision (one fingerprint).
    assert_eq!(
        with("executed_price", "0.43000000000000005").unwrap(),
        with("executed_price", "0.43").unwrap()
    );
    // A real 7th decimal, as a number or a string, and noise sent as text: refused.
    for (field, raw) in [
        ("executed_price", "0.4300001"),
        ("executed_price", "\"0.43000000000000005\""),
        ("position_size", "5.0000005"),
        ("btc_price", "66940.123456789"),
    ] {
        let err = with(field, raw).unwrap_err();
        assert_eq!(err.field, field, "{raw}: {err}");
        assert!(err.to_string().contains("decimal places"), "{raw}: {err}");
    }
}
