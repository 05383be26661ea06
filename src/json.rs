//! JSON read in the order it was written (serde_json's map sorts its keys): an archive line's
//! columns, a job's figures as its struct lists them; and JSON's number grammar, which a
//! decision's money, a stored parameter and Gamma's numbers in text are held to.

use serde::Deserialize;

/// A JSON object as its fields in order, borrowed from the text (no map, no copies: archive
/// lines are wide and many). Keys with escapes are rejected; column names and the jobs' figure
/// names have none.
pub struct JsonObject<'a>(pub Vec<(&'a str, &'a serde_json::value::RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for JsonObject<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visitor<'a> {
            type Value = JsonObject<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<JsonObject<'a>, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(48));
                while let Some(entry) =
                    map.next_entry::<&'de str, &'de serde_json::value::RawValue>()?
                {
                    fields.push(entry);
                }
                Ok(JsonObject(fields))
            }
        }
        d.deserialize_map(Visitor(std::marker::PhantomData))
    }
}

/// The top-level fields of a JSON object's text in the order written, each value as text
/// (a string without its quotes); nothing when the text is not such an object.
pub fn fields_in_order(text: &str) -> Vec<(String, String)> {
    let Ok(object) = serde_json::from_str::<JsonObject>(text) else {
        return Vec::new();
    };
    object
        .0
        .into_iter()
        .map(|(key, raw)| {
            let shown = match serde_json::from_str::<serde_json::Value>(raw.get()) {
                Ok(serde_json::Value::String(s)) => s,
                _ => raw.get().to_string(),
            };
            (key.to_string(), shown)
        })
        .collect()
}

/// JSON's number grammar: `-? digits (. digits)? ([eE] [+-]? digits)?` (leading zeros allowed).
pub fn is_number(text: &str) -> bool {
    fn digits(b: &[u8]) -> usize {
        b.iter().take_while(|c| c.is_ascii_digit()).count()
    }
    let b = text.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let n = digits(&b[i..]);
    if n == 0 {
        return false;
    }
    i += n;
    if b.get(i) == Some(&b'.') {
        let n = digits(&b[i + 1..]);
        if n == 0 {
            return false;
        }
        i += 1 + n;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let n = digits(&b[i..]);
        if n == 0 {
            return false;
        }
        i += n;
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_numbers_only() {
        for good in [
            "0", "5", "-5", "5.00", "0.52", "1e-28", "1E+3", "66940.0", "007",
        ] {
            assert!(is_number(good), "{good}");
        }
        for bad in [
            "", "-", "1_000", "+5", ".5", "5.", "1e", "1e+", "NaN", "nan", "inf", "-inf",
            "Infinity", "0x10", "5 ", " 5", "1.2.3", "1e5e5", "٣", "5,0", "--5",
        ] {
            assert!(!is_number(bad), "{bad}");
        }
    }

    #[test]
    fn fields_keep_their_written_order() {
        let fields = fields_in_order(r#"{"settled":3,"wins":2,"profit":"4.5","by":{"b":1,"a":2}}"#);
        let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["settled", "wins", "profit", "by"]);
        assert_eq!(fields[2].1, "4.5");
        assert_eq!(fields[3].1, r#"{"b":1,"a":2}"#);
        assert!(fields_in_order("[1, 2]").is_empty());
    }
}
