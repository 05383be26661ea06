//! Polymarket's Gamma API, the official source of a market's window, resolution and fee
//! schedule (WIRE.md). Parsing is pure; the two fetch functions are the only I/O.
//!
//! Real answers are messier than the documented shape (outcome names with stray spaces or in
//! capitals, markets that are not Up/Down at all, 40-digit prices, closed markets priced
//! `["0", "0"]`, 50-50 resolutions), and any slug a trader logs reaches Gamma. So one market
//! that cannot be read is a fact about that market ([`MarketInfo::problem`]), never a reason to
//! drop the rest of an answer.

use std::collections::HashSet;
use std::str::FromStr;

use anyhow::{anyhow, Result};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::money::pnl::FeeModel;

use crate::http::{Http, HttpError};
use crate::kinds::Outcome;
use crate::time::parse_rfc3339;

/// Slugs asked for in one `/markets?slug=..&slug=..` request (keeps the URL near 5 KB).
pub const SLUGS_PER_REQUEST: usize = 150;

/// Markets asked for per page of a listing (`limit`). Gamma pages its listings (third-party
/// clients report caps of 20 to 500 per call): an answer holding this many markets is followed
/// by a request for the next page (`offset`).
pub const PAGE_LIMIT: usize = 100;

/// What Gamma says about one market.
#[derive(Debug, Clone, PartialEq)]
pub struct MarketInfo {
    pub slug: String,
    pub market_id: Option<String>,
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub closed: bool,
    pub resolution_status: Option<String>,
    /// The official result, once the market is closed and resolved (a 50-50 included).
    pub outcome: Option<Outcome>,
    /// The market's taker fee schedule (`FeeModel::NONE` when fees are disabled).
    pub fee: Option<FeeModel>,
    pub fees_enabled: Option<bool>,
    /// Why this answer cannot settle the market's decisions, if it cannot.
    pub problem: Option<Problem>,
}

/// Why a market's answer cannot settle its decisions; the text names the market.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A fact no later answer changes (its outcomes are not Up and Down): the market's
    /// decisions are set aside as unsettleable with this reason.
    NotUpDown(String),
    /// An answer that may read next time (prices or a fee schedule that are not numbers): the
    /// market's decisions wait, as if it had not resolved yet.
    Unreadable(String),
}

impl Problem {
    pub fn reason(&self) -> &str {
        match self {
            Problem::NotUpDown(why) | Problem::Unreadable(why) => why,
        }
    }
}

/// Parses one market object as Gamma sends it. Only an object without a slug is an error
/// (nothing to name); anything else that cannot be read is the market's [`Problem`].
pub fn parse_market(value: &Value) -> Result<MarketInfo> {
    let slug = value
        .get("slug")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("not a Gamma market object (no slug)"))?
        .to_string();
    let in_market = |what: String| format!("market {slug}: {what}");
    let text = |key: &str| value.get(key).and_then(Value::as_str);
    let flag = |key: &str| match value.get(key) {
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) => s.trim().parse::<bool>().ok(),
        _ => None,
    };
    // A time that cannot be read, or a window outside 2020..2100, is no window (as for slugs).
    let time = |key: &str| text(key).and_then(|t| parse_rfc3339(t).ok());
    let window = match (time("eventStartTime"), time("endDate")) {
        (Some(s), Some(e)) if crate::market::plausible_window(s, e) => Some((s, e)),
        _ => None,
    };
    let closed = flag("closed").unwrap_or(false);
    let resolution_status = text("umaResolutionStatus").map(str::to_string);
    let resolved = closed && resolution_status.as_deref().is_none_or(|s| s == "resolved");
    let (outcome, mut problem) =
        match resolution(value.get("outcomes"), value.get("outcomePrices"), resolved) {
            Ok(outcome) => (outcome, None),
            Err(problem) => (None, Some(problem.named(&slug))),
        };
    let fees_enabled = flag("feesEnabled");
    let fee = match fee_model(fees_enabled, value.get("feeSchedule")) {
        Ok(fee) => fee,
        Err(why) => {
            problem = problem.or(Some(Problem::Unreadable(in_market(why))));
            None
        }
    };
    // A market whose answer cannot be read waits whole: no result from a half-read answer.
    let outcome = outcome.filter(|_| problem.is_none());
    let market_id = value.get("id").and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    Ok(MarketInfo {
        slug,
        market_id,
        window,
        closed,
        resolution_status,
        outcome,
        fee,
        fees_enabled,
        problem,
    })
}

/// The market's fee schedule: none with fees disabled, else `feeSchedule` when present.
fn fee_model(
    fees_enabled: Option<bool>,
    schedule: Option<&Value>,
) -> std::result::Result<Option<FeeModel>, String> {
    if fees_enabled == Some(false) {
        return Ok(Some(FeeModel::NONE));
    }
    let Some(schedule) = schedule.filter(|s| !s.is_null()) else {
        return Ok(None);
    };
    let number = |key: &str| -> std::result::Result<Decimal, String> {
        let value = schedule
            .get(key)
            .ok_or_else(|| format!("feeSchedule.{key} is missing"))?;
        let text = match value {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.trim().to_string(),
            other => return Err(format!("feeSchedule.{key} {other} is not a number")),
        };
        Decimal::from_str(&text)
            .or_else(|_| Decimal::from_scientific(&text))
            .map_err(|_| format!("feeSchedule.{key} {text:?} is not a number"))
    };
    let model = FeeModel::new(number("rate")?, number("exponent")?)
        .map_err(|e| format!("feeSchedule: {e}"))?;
    Ok(Some(model))
}

/// A problem found before the market's slug was known to the message.
enum Unnamed {
    NotUpDown(String),
    Unreadable(String),
}

impl Unnamed {
    fn named(self, slug: &str) -> Problem {
        match self {
            Unnamed::NotUpDown(why) => Problem::NotUpDown(format!("market {slug}: {why}")),
            Unnamed::Unreadable(why) => Problem::Unreadable(format!("market {slug}: {why}")),
        }
    }
}

/// The official result from `outcomes` / `outcomePrices` (JSON arrays, usually inside
/// strings). Names are compared trimmed and case-blind: `Up`/`Down`, and `Yes`/`No` (the
/// decision format's own words for the two sides: YES buys Up). A market whose two outcomes
/// are not one of each is not an Up/Down market, resolved or not. Prices: one side 1 and the
/// other 0 is that side's win; both 0.5 is a 50-50; anything else (live prices, `["0", "0"]`
/// while the result is pending, 40-digit decimals) is not resolved yet.
fn resolution(
    outcomes: Option<&Value>,
    prices: Option<&Value>,
    resolved: bool,
) -> std::result::Result<Option<Outcome>, Unnamed> {
    let Some(outcomes) = outcomes.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let names = string_list(outcomes)
        .ok_or_else(|| Unnamed::Unreadable("outcomes is not a list of names".into()))?;
    let sides = sides_of(&names)?;
    let Some(prices) = prices.filter(|v| !v.is_null() && resolved) else {
        return Ok(None);
    };
    let prices = string_list(prices)
        .ok_or_else(|| Unnamed::Unreadable("outcomePrices is not a list of prices".into()))?;
    if prices.len() != names.len() {
        return Err(Unnamed::Unreadable(format!(
            "{} outcomes but {} outcomePrices",
            names.len(),
            prices.len()
        )));
    }
    let mut exact = Vec::with_capacity(2);
    for price in &prices {
        exact.push(exact_price(price).map_err(Unnamed::Unreadable)?);
    }
    let (one, half) = (Decimal::ONE, Decimal::new(5, 1));
    Ok(match (exact[0], exact[1]) {
        (Some(a), Some(b)) if a == one && b.is_zero() => Some(sides[0]),
        (Some(a), Some(b)) if a.is_zero() && b == one => Some(sides[1]),
        (Some(a), Some(b)) if a == half && b == half => Some(Outcome::Split),
        _ => None,
    })
}

/// Each name's side: exactly two outcomes, one Up (or Yes) and one Down (or No).
fn sides_of(names: &[String]) -> std::result::Result<[Outcome; 2], Unnamed> {
    let shown = || {
        let list: Vec<String> = names.iter().take(5).map(|n| format!("{n:?}")).collect();
        list.join(", ")
    };
    let side = |name: &str| match name.trim().to_lowercase().as_str() {
        "up" | "yes" => Some(Outcome::Up),
        "down" | "no" => Some(Outcome::Down),
        _ => None,
    };
    let [a, b] = names else {
        return Err(Unnamed::NotUpDown(format!(
            "{} outcomes ({}), not Up and Down",
            names.len(),
            shown()
        )));
    };
    match (side(a), side(b)) {
        (Some(x), Some(y)) if x != y => Ok([x, y]),
        _ => Err(Unnamed::NotUpDown(format!(
            "outcomes {} are not Up and Down",
            shown()
        ))),
    }
}

/// A list of strings (or numbers), given as a JSON array or as a string holding one.
fn string_list(value: &Value) -> Option<Vec<String>> {
    let parsed;
    let items = match value {
        Value::Array(items) => items,
        Value::String(text) => {
            parsed = serde_json::from_str::<Value>(text).ok()?;
            parsed.as_array()?
        }
        _ => return None,
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect()
}

/// A price exactly as written: `Ok(Some)` when it fits a Decimal exactly (trailing zeros
/// dropped), `Ok(None)` for a number with more digits than that (never exactly 0, 0.5 or 1),
/// `Err` for text that is not a number at all. Nothing is rounded: a 40-digit
/// 0.99999… must not become 1.
fn exact_price(text: &str) -> std::result::Result<Option<Decimal>, String> {
    let trimmed = text.trim();
    if !crate::json::is_number(trimmed) {
        return Err(format!(
            "outcome price {:?} is not a number",
            short(trimmed)
        ));
    }
    let plain = if trimmed.contains('.') && !trimmed.contains(['e', 'E']) {
        trimmed.trim_end_matches('0').trim_end_matches('.')
    } else {
        trimmed
    };
    Ok(Decimal::from_str_exact(plain)
        .ok()
        .or_else(|| Decimal::from_scientific(plain).ok()))
}

fn short(text: &str) -> String {
    text.chars().take(40).collect()
}

/// A listing's markets: each item that can be read, each named problem kept with its market.
/// Items without a slug are skipped with a warning.
fn parse_list(body: &Value) -> Result<Vec<MarketInfo>> {
    let items = body
        .as_array()
        .ok_or_else(|| anyhow!("expected a JSON array of markets"))?;
    let mut markets = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match parse_market(item) {
            Ok(info) => markets.push(info),
            Err(e) => {
                tracing::warn!(item = i, error = %e, "gamma markets: an item is not a market")
            }
        }
    }
    Ok(markets)
}

/// The closed markets among `slugs`, page by page (`limit` [`PAGE_LIMIT`], then `offset`
/// while a page comes back full and some slug is still unanswered). Markets Gamma does not list
/// (unknown, or not closed yet) are simply absent; markets nobody asked for are ignored.
pub async fn fetch_closed(http: &Http, base: &str, slugs: &[String]) -> Result<Vec<MarketInfo>> {
    let url = format!("{}/markets", base.trim_end_matches('/'));
    let wanted: HashSet<&str> = slugs.iter().map(String::as_str).collect();
    let mut seen: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    let limit = PAGE_LIMIT.to_string();
    let mut offset = 0usize;
    loop {
        let offset_text = offset.to_string();
        let mut query: Vec<(&str, &str)> = slugs.iter().map(|s| ("slug", s.as_str())).collect();
        query.extend([
            ("closed", "true"),
            ("limit", limit.as_str()),
            ("offset", offset_text.as_str()),
        ]);
        let body: Value = http
            .json("gamma markets", || http.client.get(&url).query(&query))
            .await?;
        let page = parse_list(&body)
            .map_err(|e| anyhow!(format!("gamma markets: malformed response: {e:#}")))?;
        let n_page = body.as_array().map_or(0, Vec::len);
        let mut new = 0usize;
        for info in page {
            if wanted.contains(info.slug.as_str()) && seen.insert(info.slug.clone()) {
                new += 1;
                out.push(info);
            }
        }
        // A short page is the last; a page with nothing new means the server ignores `offset`.
        if n_page < PAGE_LIMIT || new == 0 || seen.len() >= wanted.len() {
            return Ok(out);
        }
        offset += n_page;
    }
}

/// One market by slug, open or closed; `None` when Gamma does not know it (404, or it refuses
/// the slug as malformed: 400 / 422). The slug is one percent-encoded path segment, so a
/// decision's slug (whatever the trader logged) can only ever ask about itself.
pub async fn fetch_one(http: &Http, base: &str, slug: &str) -> Result<Option<MarketInfo>> {
    if slug.is_empty() || slug == "." || slug == ".." {
        return Ok(None);
    }
    let mut url = reqwest::Url::parse(base)
        .map_err(|e| crate::error::bad_input(format!("gamma API base: {e}")))?;
    url.path_segments_mut()
        .map_err(|_| crate::error::bad_input("gamma API base cannot take a path"))?
        .pop_if_empty()
        .extend(["markets", "slug", slug]);
    let response = match http
        .send("gamma market", || http.client.get(url.clone()))
        .await
    {
        Ok(r) => r,
        Err(HttpError::Rejected {
            status: 400 | 404 | 422,
            ..
        }) => return Ok(None),
        Err(e) => return Err(e.into_anyhow()),
    };
    let body =
        crate::http::read_body(response, "gamma market", crate::http::MAX_BODY_BYTES).await?;
    let value: Value = serde_json::from_str(&body).map_err(|e| {
        anyhow::anyhow!(format!(
            "gamma market: malformed response ({e}): {}",
            crate::http::short(&body)
        ))
    })?;
    let info = parse_market(&value)
        .map_err(|e| anyhow::anyhow!(format!("gamma market: malformed response: {e:#}")))?;
    // An answer about another market is no answer about this one.
    Ok((info.slug == slug).then_some(info))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn market(closed: bool, prices: &str) -> Value {
        json!({"id": "1066851", "slug": "btc-updown-15m-1771684200",
            "eventStartTime": "2026-02-21T14:30:00Z", "endDate": "2026-02-21T14:45:00Z",
            "closed": closed, "umaResolutionStatus": if closed { "resolved" } else { "" },
            "outcomes": "[\"Up\", \"Down\"]", "outcomePrices": prices,
            "feesEnabled": true, "feeType": "crypto_fees_v2",
            "feeSchedule": {"exponent": 1, "rate": 0.07, "takerOnly": true, "rebateRate": 0.2}})
    }

    #[test]
    fn parses_resolutions() {
        let cases = [
            (true, "[\"1\", \"0\"]", Some(Outcome::Up)),
            (true, "[\"0\", \"1\"]", Some(Outcome::Down)),
            (true, "[\"0.5\", \"0.5\"]", Some(Outcome::Split)),
            (true, "[\"0.50\", \"0.500\"]", Some(Outcome::Split)),
            (true, "[\"1.0\", \"0.00\"]", Some(Outcome::Up)),
            (true, "[\" 0 \", \"1\"]", Some(Outcome::Down)),
            // Closed, result not in yet.
            (true, "[\"0\", \"0\"]", None),
            (true, "[\"0.585\", \"0.415\"]", None),
            (false, "[\"0.585\", \"0.415\"]", None),
            (false, "[\"1\", \"0\"]", None),
            (false, "[\"0.5\", \"0.5\"]", None),
            // 40 digits: a live price, never rounded to 0 or 1.
            (
                true,
                "[\"0.9999999999999999999999999999999999999999\", \"0.0000000000000000000000000000000000000001\"]",
                None,
            ),
            (
                true,
                "[\"0.0000000436000000000000000000000000000000\", \"0.9999999564\"]",
                None,
            ),
            (
                true,
                "[\"1.0000000000000000000000000000000000000000\", \"0\"]",
                Some(Outcome::Up),
            ),
        ];
        for (closed, prices, expected) in cases {
            let m = parse_market(&market(closed, prices)).unwrap();
            assert_eq!(m.outcome, expected, "{closed} {prices}");
            assert_eq!(m.problem, None, "{closed} {prices}");
            assert_eq!(m.market_id.as_deref(), Some("1066851"));
            assert_eq!(
                m.fee,
                Some(FeeModel {
                    rate: Decimal::new(7, 2),
                    exponent: 1
                })
            );
            let (s, e) = m.window.unwrap();
            assert_eq!((e - s).num_minutes(), 15);
        }
        let mut no_fees = market(true, "[\"1\", \"0\"]");
        no_fees["feesEnabled"] = json!(false);
        assert_eq!(parse_market(&no_fees).unwrap().fee, Some(FeeModel::NONE));
    }

    /// Names trimmed and case-blind, in either order; Yes/No are the decision format's sides.
    #[test]
    fn outcome_names_as_they_come() {
        let with = |names: Value, prices: &str| {
            let mut m = market(true, prices);
            m["outcomes"] = names;
            parse_market(&m).unwrap()
        };
        let cases = [
            (json!("[\"Up \", \"Down\"]"), "[\"1\", \"0\"]", Outcome::Up),
            (
                json!("[\"UP\", \" down\"]"),
                "[\"0\", \"1\"]",
                Outcome::Down,
            ),
            (json!("[\"Down\", \"Up\"]"), "[\"1\", \"0\"]", Outcome::Down),
            (json!("[\"YES\", \"No\"]"), "[\"1\", \"0\"]", Outcome::Up),
            (json!("[\"no\", \"yes\"]"), "[\"1\", \"0\"]", Outcome::Down),
            (json!(["Up", "Down"]), "[\"0\", \"1\"]", Outcome::Down),
        ];
        for (names, prices, expected) in cases {
            let m = with(names.clone(), prices);
            assert_eq!((m.outcome, m.problem), (Some(expected), None), "{names}");
        }
    }

    #[test]
    fn markets_that_are_not_up_down_name_themselves() {
        let not_up_down = [
            json!("[\"Hanyu Guo\", \"McCartney Kessler\"]"),
            json!("[\"Up\", \"Down\", \"Flat\"]"),
            json!("[\"Up\", \"Up\"]"),
            json!("[\"Yes\", \"Up\"]"),
            json!("[\"Up\"]"),
        ];
        for names in not_up_down {
            for closed in [true, false] {
                let mut m = market(closed, "[\"1\", \"0\", \"0\"]");
                m["outcomes"] = names.clone();
                let info = parse_market(&m).unwrap();
                let Some(Problem::NotUpDown(why)) = &info.problem else {
                    panic!("{names}: {:?}", info.problem);
                };
                assert!(
                    why.starts_with("market btc-updown-15m-1771684200: "),
                    "{why}"
                );
                assert_eq!(info.outcome, None);
            }
        }
        let mut three = market(true, "[\"1\", \"0\", \"0\"]");
        three["outcomes"] = json!("[\"Up\", \"Down\", \"Flat\"]");
        let why = parse_market(&three).unwrap().problem.unwrap();
        assert_eq!(
            why.reason(),
            "market btc-updown-15m-1771684200: 3 outcomes (\"Up\", \"Down\", \"Flat\"), not Up and Down"
        );
    }

    #[test]
    fn unreadable_answers_are_the_markets_problem_not_an_error() {
        let unreadable = |m: Value| {
            let info = parse_market(&m).unwrap();
            assert!(
                matches!(info.problem, Some(Problem::Unreadable(_))),
                "{m}: {:?}",
                info.problem
            );
            assert_eq!(info.outcome, None);
        };
        unreadable(market(true, "not json"));
        unreadable(market(true, "[\"1\"]"));
        unreadable(market(true, "[1, 0"));
        unreadable(market(true, "[\"one\", \"zero\"]"));
        unreadable(market(true, "[\"NaN\", \"0\"]"));
        let mut bad = market(true, "[\"1\", \"0\"]");
        bad["feeSchedule"]["exponent"] = json!(1.5);
        unreadable(bad.clone());
        bad["feeSchedule"]["exponent"] = json!("x");
        unreadable(bad);
        // Not even a market: no slug to name.
        assert!(parse_market(&json!({"closed": true})).is_err());
        assert!(parse_list(&json!({"markets": []})).is_err());
        // One item without a slug does not drop the rest of the list.
        let list = parse_list(&json!([{"closed": true}, market(true, "[\"1\", \"0\"]")])).unwrap();
        assert_eq!(list.len(), 1);
        // Odd types where strings were expected read as absent, not as a failure.
        let mut odd = market(true, "[\"1\", \"0\"]");
        odd["endDate"] = json!(12);
        odd["closed"] = json!("true");
        let info = parse_market(&odd).unwrap();
        assert_eq!((info.window, info.outcome), (None, Some(Outcome::Up)));
    }

    proptest::proptest! {
        /// Any outcome names and prices, as strings holding JSON or as arrays: a result, a
        /// named problem or nothing yet; never a panic, and never a result from prices that are
        /// not exactly 1/0 or 0.5/0.5.
        #[test]
        fn any_outcomes_and_prices(
            names in proptest::collection::vec(".{0,12}", 0..4),
            prices in proptest::collection::vec("[0-9. eE+-]{0,45}|1|0|0.5", 0..4),
            as_text in proptest::prelude::any::<bool>(),
            closed in proptest::prelude::any::<bool>(),
        ) {
            let encode = |items: &Vec<String>| if as_text {
                json!(serde_json::to_string(items).unwrap())
            } else {
                json!(items)
            };
            let mut m = market(closed, "[]");
            m["outcomes"] = encode(&names);
            m["outcomePrices"] = encode(&prices);
            let info = parse_market(&m).unwrap();
            if let Some(outcome) = info.outcome {
                proptest::prop_assert!(closed);
                proptest::prop_assert!(info.problem.is_none());
                let p: Vec<Decimal> = prices.iter().map(|p| exact_price(p).unwrap().unwrap()).collect();
                let allowed = [Decimal::ZERO, Decimal::new(5, 1), Decimal::ONE];
                proptest::prop_assert!(p.iter().all(|p| allowed.contains(p)), "{:?} {:?}", prices, outcome);
            }
            if let Some(problem) = info.problem {
                proptest::prop_assert!(problem.reason().starts_with("market btc-updown-15m-1771684200: "));
            }
        }

        /// Arbitrary JSON text in the two fields: never a panic.
        #[test]
        fn any_text_in_the_fields(outcomes in ".{0,60}", prices in ".{0,60}") {
            let mut m = market(true, "[]");
            m["outcomes"] = json!(outcomes);
            m["outcomePrices"] = json!(prices);
            let _ = parse_market(&m);
        }
    }
}
