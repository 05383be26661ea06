//! Property tests of the decision parser: whatever the text, no panic; an accepted decision
//! passes validation (and settles or is set aside, never panics); a refused one names a field.

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::*;
use crate::money::pnl;

/// Every field the parser reads.
fn fields() -> Vec<&'static str> {
    std::iter::once("decision_id").chain(FIELDS).collect()
}

fn valid() -> Value {
    json!({"decision_id": "p-1", "timestamp": "2026-02-11T10:30:00Z",
        "market_slug": "btc-updown-15m-1770828300", "market_id": 1362391, "action": "NO",
        "confidence": 0.9, "position_size": "5.00", "btc_price": "66940.0",
        "price_to_beat": "66826.14", "time_remaining_seconds": 480, "final_score": -0.17,
        "yes_price": "0.51", "no_price": "0.50", "executed_price": "0.52"})
}

/// JSON values of every kind, weighted toward the awkward ones (huge, tiny, signed, textual
/// numbers, underscores, exponents, NaN words, long and non-ASCII strings).
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[-+]?[0-9_]{0,32}(\\.[0-9]{0,32})?([eE][-+]?[0-9]{1,4})?".prop_map(Value::from),
        prop::sample::select(vec![
            "NaN",
            "inf",
            "-inf",
            "1_000",
            "+5",
            ".5",
            "5.",
            "1e-28",
            "1e999",
            "0x10",
            "79228162514264337593543950335",
            "-0",
            "0.000000000000000000000000000001",
            "253402300800",
            "2026-02-11T10:30:00Z",
            "9999-12-31T23:59:59Z",
            "YES",
            "hold",
            "btc-updown-9223372036854775807m-1770828300",
            "btc-updown-999999999999d-1770828300",
        ])
        .prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        "[a-z0-9 \\-]{0,300}".prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z_]{1,8}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// What an accepted decision must satisfy, and what a refusal must say.
fn check(text: &str) -> std::result::Result<(), TestCaseError> {
    match Decision::from_json(text) {
        Ok(d) => {
            prop_assert!(d.validate().is_ok(), "accepted but invalid: {text}");
            if let Some(price) = d.executed_price {
                let rules = pnl::FeeRules {
                    model: pnl::FeeModel::new(Decimal::new(7, 2), Decimal::ONE).unwrap(),
                    asset: crate::money::fees::FeeAssetRule::Auto,
                };
                let fill = pnl::Fill {
                    size: d.position_size,
                    price,
                    time: d.timestamp,
                    liquidity: d.liquidity,
                    fee_paid: d.fee_paid,
                };
                // A valid decision settles; never a panic.
                let settled = pnl::settle_fill(&fill, &rules, true);
                prop_assert!(settled.is_ok(), "{text}: {settled:?}");
            }
            let _ = d.window();
            let _ = d.key();
        }
        Err(e) => {
            prop_assert!(!e.to_string().is_empty());
            prop_assert!(
                e.field.is_empty() || fields().contains(&e.field.as_str()),
                "unknown field {:?} in {e}",
                e.field
            );
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn any_text(text in any::<String>()) {
        check(&text)?;
    }

    /// Objects with any of the known fields (and others) holding any values.
    #[test]
    fn any_object(
        fields in prop::collection::vec(
            (prop_oneof![prop::sample::select(fields()).prop_map(String::from), "[a-z]{1,6}"], any_value()),
            0..30,
        )
    ) {
        let object: Map<String, Value> = fields.into_iter().collect();
        check(&Value::Object(object).to_string())?;
    }

    /// A valid decision with one field replaced by anything: accepted and valid, or refused
    /// naming a field.
    #[test]
    fn one_field_replaced(field in prop::sample::select(fields()), value in any_value()) {
        let mut v = valid();
        v[field] = value;
        let text = v.to_string();
        check(&text)?;
        if let Err(e) = Decision::from_json(&text) {
            prop_assert!(!e.field.is_empty(), "{field}: {e}");
        }
    }

    /// A float-typed trader's price: any 6-place price p in [0.01, 0.99], sent as the f64 that
    /// float arithmetic gives for it (`1 - (1 - p)`, printed shortest-round-trip as Python's
    /// json does), is stored as p exactly.
    #[test]
    fn float_noise_reads_as_the_six_place_value(micros in 10_000i64..=990_000) {
        let price = Decimal::new(micros, 6);
        let float = 1.0 - (1.0 - micros as f64 / 1e6);
        let mut v = valid();
        v["executed_price"] = serde_json::Number::from_f64(float).map(Value::Number).unwrap();
        let d = Decision::from_json(&v.to_string()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(d.executed_price, Some(price));
    }
}

#[test]
fn the_valid_example_is_valid() {
    assert!(Decision::from_json(&valid().to_string()).is_ok());
}
