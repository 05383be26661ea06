//! Polymarket's Gamma API, the official source of a market's window, resolution and fee
//! schedule (WIRE.md). Parsing is pure; the two fetch functions are the only I/O.

use std::str::FromStr;

use anyhow::{anyhow, Context, Result};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;

use super::pnl::{FeeModel, Outcome};
use crate::http::{Http, HttpError};
use crate::time::parse_rfc3339;

/// Slugs asked for in one `/markets?slug=..&slug=..` request (keeps the URL near 5 KB).
pub const SLUGS_PER_REQUEST: usize = 150;

/// What Gamma says about one market.
#[derive(Debug, Clone, PartialEq)]
pub struct MarketInfo {
    pub slug: String,
    pub market_id: Option<String>,
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub closed: bool,
    pub resolution_status: Option<String>,
    /// The official result, once the market is closed and resolved.
    pub outcome: Option<Outcome>,
    /// The market's taker fee schedule (`FeeModel::NONE` when fees are disabled).
    pub fee: Option<FeeModel>,
    pub fees_enabled: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMarket {
    id: Option<serde_json::Value>,
    slug: String,
    event_start_time: Option<String>,
    end_date: Option<String>,
    #[serde(default)]
    closed: bool,
    uma_resolution_status: Option<String>,
    outcomes: Option<String>,
    outcome_prices: Option<String>,
    fees_enabled: Option<bool>,
    fee_schedule: Option<RawFee>,
}

#[derive(Debug, Deserialize)]
struct RawFee {
    rate: serde_json::Number,
    exponent: serde_json::Number,
}

/// Parses one market object as Gamma sends it.
pub fn parse_market(value: &serde_json::Value) -> Result<MarketInfo> {
    let raw: RawMarket =
        serde_json::from_value(value.clone()).context("not a Gamma market object")?;
    let slug = raw.slug.clone();
    let in_market = |what: &str| format!("market {slug}: {what}");
    let time = |s: &Option<String>, name: &str| -> Result<Option<DateTime<Utc>>> {
        s.as_deref()
            .map(parse_rfc3339)
            .transpose()
            .with_context(|| in_market(name))
    };
    let start = time(&raw.event_start_time, "eventStartTime")?;
    let end = time(&raw.end_date, "endDate")?;
    // A window outside 2020..2100 is no window (the same rule as for slugs).
    let window = match (start, end) {
        (Some(s), Some(e)) if crate::market::plausible_window(s, e) => Some((s, e)),
        _ => None,
    };
    let outcome = if raw.closed
        && raw
            .uma_resolution_status
            .as_deref()
            .is_none_or(|s| s == "resolved")
    {
        resolved_outcome(raw.outcomes.as_deref(), raw.outcome_prices.as_deref())
            .with_context(|| in_market("outcomes/outcomePrices"))?
    } else {
        None
    };
    let fee = match (raw.fees_enabled, &raw.fee_schedule) {
        (Some(false), _) => Some(FeeModel::NONE),
        (_, Some(f)) => {
            let rate = Decimal::from_str(&f.rate.to_string())
                .map_err(|e| anyhow!(in_market(&format!("feeSchedule.rate: {e}"))))?;
            let exponent = Decimal::from_str(&f.exponent.to_string())
                .map_err(|e| anyhow!(in_market(&format!("feeSchedule.exponent: {e}"))))?;
            Some(FeeModel::new(rate, exponent).with_context(|| in_market("feeSchedule"))?)
        }
        _ => None,
    };
    let market_id = raw.id.map(|v| match v {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    });
    Ok(MarketInfo {
        slug: raw.slug,
        market_id,
        window,
        closed: raw.closed,
        resolution_status: raw.uma_resolution_status,
        outcome,
        fee,
        fees_enabled: raw.fees_enabled,
    })
}

/// The winner from the JSON-encoded `outcomes` / `outcomePrices` strings: the outcome priced 1
/// while every other is 0. Live prices (not 1/0) mean not resolved yet.
fn resolved_outcome(outcomes: Option<&str>, prices: Option<&str>) -> Result<Option<Outcome>> {
    let (Some(outcomes), Some(prices)) = (outcomes, prices) else {
        return Ok(None);
    };
    let names: Vec<String> =
        serde_json::from_str(outcomes).context("outcomes is not a JSON array of strings")?;
    let prices: Vec<String> =
        serde_json::from_str(prices).context("outcomePrices is not a JSON array of strings")?;
    if names.len() != prices.len() {
        anyhow::bail!("{} outcomes but {} prices", names.len(), prices.len());
    }
    let mut winner = None;
    for (name, price) in names.iter().zip(&prices) {
        let price = Decimal::from_str(price.trim()).with_context(|| format!("price {price:?}"))?;
        if price == Decimal::ONE {
            if winner.is_some() {
                return Ok(None);
            }
            winner = Some(name.as_str());
        } else if price != Decimal::ZERO {
            return Ok(None);
        }
    }
    Ok(match winner.map(|w| w.to_ascii_lowercase()) {
        Some(w) if w == "up" || w == "yes" => Some(Outcome::Up),
        Some(w) if w == "down" || w == "no" => Some(Outcome::Down),
        Some(w) => anyhow::bail!("unknown outcome name {w:?}"),
        None => None,
    })
}

fn parse_list(body: &serde_json::Value) -> Result<Vec<MarketInfo>> {
    let items = body
        .as_array()
        .ok_or_else(|| anyhow!("expected a JSON array of markets"))?;
    items.iter().map(parse_market).collect()
}

/// The closed markets among `slugs`, several slugs per request. Markets Gamma does not list
/// (unknown, or not closed yet) are simply absent.
pub async fn fetch_closed(http: &Http, base: &str, slugs: &[String]) -> Result<Vec<MarketInfo>> {
    let url = format!("{}/markets", base.trim_end_matches('/'));
    let mut out = Vec::new();
    for chunk in slugs.chunks(SLUGS_PER_REQUEST) {
        let limit = chunk.len().to_string();
        let mut query: Vec<(&str, &str)> = chunk.iter().map(|s| ("slug", s.as_str())).collect();
        query.push(("closed", "true"));
        query.push(("limit", &limit));
        let body: serde_json::Value = http
            .json("gamma markets", || http.client.get(&url).query(&query))
            .await?;
        out.extend(
            parse_list(&body).map_err(|e| {
                anyhow::anyhow!(format!("gamma markets: malformed response: {e:#}"))
            })?,
        );
    }
    Ok(out)
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
    let body = response.text().await.map_err(|e| {
        crate::error::temp_fail(format!(
            "gamma market: reading the body: {}",
            crate::http::describe(&e)
        ))
    })?;
    let value: serde_json::Value = serde_json::from_str(&body).map_err(|e| {
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

    fn market(closed: bool, prices: &str) -> serde_json::Value {
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
            (true, "[\"0.585\", \"0.415\"]", None),
            (false, "[\"0.585\", \"0.415\"]", None),
            (false, "[\"1\", \"0\"]", None),
        ];
        for (closed, prices, expected) in cases {
            let m = parse_market(&market(closed, prices)).unwrap();
            assert_eq!(m.outcome, expected, "{closed} {prices}");
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
        let mut reversed = market(true, "[\"1\", \"0\"]");
        reversed["outcomes"] = json!("[\"Down\", \"Up\"]");
        assert_eq!(
            parse_market(&reversed).unwrap().outcome,
            Some(Outcome::Down)
        );
        let mut no_fees = market(true, "[\"1\", \"0\"]");
        no_fees["feesEnabled"] = json!(false);
        assert_eq!(parse_market(&no_fees).unwrap().fee, Some(FeeModel::NONE));
    }

    #[test]
    fn rejects_malformed_markets() {
        let mut bad = market(true, "not json");
        assert!(parse_market(&bad).is_err());
        bad = market(true, "[\"1\"]");
        assert!(parse_market(&bad).is_err());
        bad = market(true, "[\"1\", \"0\"]");
        bad["feeSchedule"]["exponent"] = json!(1.5);
        assert!(parse_market(&bad).is_err());
        assert!(parse_market(&json!({"closed": true})).is_err());
        assert!(parse_list(&json!({"markets": []})).is_err());
    }
}
