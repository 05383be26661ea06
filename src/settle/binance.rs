//! Binance 1-minute klines, the price fallback (WIRE.md): planning the fewest requests for a set
//! of missing minutes, parsing rows exactly, and the fetch itself (the only I/O here).

use std::str::FromStr;

use anyhow::{anyhow, Result};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use rust_decimal::Decimal;

use crate::db::BtcPrice;
use crate::http::Http;
use crate::market::Candle;

/// Most candles one klines request returns.
pub const MAX_LIMIT: i64 = 1000;
pub const MINUTE_MS: i64 = 60_000;

/// Stores candles in the `prices` cache, which settlement reads before asking Binance, in the
/// caller's transaction. `source` says where they came from (`binance`, or `demo` for
/// generated ones). Candles already cached are kept.
pub fn store_candles(
    conn: &Connection,
    symbol: &str,
    candles: &[Candle],
    source: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO prices (symbol, open_time_ms, open, high, low, close, source, fetched_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let fetched_at = crate::time::to_db(now);
    for c in candles {
        insert.execute(params![
            symbol,
            c.open_time_ms,
            BtcPrice(c.open),
            BtcPrice(c.high),
            BtcPrice(c.low),
            BtcPrice(c.close),
            source,
            fetched_at
        ])?;
    }
    Ok(())
}

/// Start times of the requests that cover every minute in `missing` (sorted, open times in
/// ms): each request covers 1,000 minutes from the first minute it has to cover.
pub fn plan_requests(missing: &[i64]) -> Vec<i64> {
    let mut starts = Vec::new();
    let mut covered_until = i64::MIN;
    for &minute in missing {
        if minute >= covered_until {
            starts.push(minute);
            covered_until = minute + MAX_LIMIT * MINUTE_MS;
        }
    }
    starts
}

/// Parses klines rows `[openTime, "open", "high", "low", "close", ...]`.
pub fn parse_klines(body: &serde_json::Value) -> Result<Vec<Candle>> {
    let rows = body
        .as_array()
        .ok_or_else(|| anyhow!("expected a JSON array of klines"))?;
    rows.iter()
        .enumerate()
        .map(|(i, row)| {
            let cells = row
                .as_array()
                .filter(|c| c.len() >= 5)
                .ok_or_else(|| anyhow!("row {i}: expected an array of at least 5 fields"))?;
            let open_time_ms = cells[0]
                .as_i64()
                .ok_or_else(|| anyhow!("row {i}: open time is not an integer"))?;
            let price = |k: usize| -> Result<Decimal> {
                let text = cells[k]
                    .as_str()
                    .ok_or_else(|| anyhow!("row {i}: field {k} is not a price string"))?;
                Decimal::from_str(text).map_err(|e| anyhow!("row {i}: field {k} {text:?}: {e}"))
            };
            Ok(Candle {
                open_time_ms,
                open: price(1)?,
                high: price(2)?,
                low: price(3)?,
                close: price(4)?,
            })
        })
        .collect()
}

/// Up to 1,000 candles of `symbol` from `start_ms`.
pub async fn fetch(http: &Http, base: &str, symbol: &str, start_ms: i64) -> Result<Vec<Candle>> {
    let url = format!("{}/api/v3/klines", base.trim_end_matches('/'));
    let start = start_ms.to_string();
    let end = (start_ms + MAX_LIMIT * MINUTE_MS - 1).to_string();
    let limit = MAX_LIMIT.to_string();
    let query = [
        ("symbol", symbol),
        ("interval", "1m"),
        ("startTime", &start),
        ("endTime", &end),
        ("limit", &limit),
    ];
    let body: serde_json::Value = http
        .json("binance klines", || http.client.get(&url).query(&query))
        .await?;
    parse_klines(&body)
        .map_err(|e| anyhow::anyhow!(format!("binance klines: malformed response: {e:#}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plans_few_requests() {
        let m = |i: i64| i * MINUTE_MS;
        let cases: [(Vec<i64>, Vec<i64>); 4] = [
            (vec![], vec![]),
            (vec![m(0), m(14), m(999)], vec![m(0)]),
            (vec![m(0), m(1000), m(1001)], vec![m(0), m(1000)]),
            (
                vec![m(5), m(2000), m(2999), m(3000)],
                vec![m(5), m(2000), m(3000)],
            ),
        ];
        for (missing, expected) in cases {
            assert_eq!(plan_requests(&missing), expected, "{missing:?}");
        }
    }

    #[test]
    fn parses_rows_exactly() {
        let body = json!([[
            1771684200000i64,
            "68522.30",
            "68525.53",
            "68484.35",
            "68484.35",
            "7.44951",
            1771684259999i64,
            "510123.10",
            1234,
            "3.10000",
            "212345.60",
            "0"
        ]]);
        let candles = parse_klines(&body).unwrap();
        assert_eq!(candles[0].open_time_ms, 1771684200000);
        assert_eq!(candles[0].open.to_string(), "68522.30");
        assert_eq!(candles[0].close.to_string(), "68484.35");
        for bad in [
            json!({"code": -1121}),
            json!([[1, 2, 3]]),
            json!([[1, "x", "1", "1", "1"]]),
            json!([["t", "1", "1", "1", "1"]]),
            json!([[1, 1.5, "1", "1", "1"]]),
        ] {
            assert!(parse_klines(&bad).is_err(), "{bad}");
        }
    }
}
