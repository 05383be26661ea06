//! Deterministic synthetic data for the demo, tests and benchmarks: a BTC 1-minute price path
//! and a simulated trader's decisions on 15-minute markets. No I/O, no randomness from the
//! environment: the same seed gives the same data.

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

use crate::decision::Decision;

use crate::kinds::{Action, Liquidity};

/// splitmix64: small, fast, good enough for synthetic data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_add(0x9E37_79B9_7F4A_7C15))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in [lo, hi).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo).max(1) as u64) as i64
    }

    /// Approximately standard normal (sum of uniforms).
    pub fn normal(&mut self) -> f64 {
        (0..12).map(|_| self.next_f64()).sum::<f64>() - 6.0
    }
}

/// One 1-minute candle, as settlement reads them from Binance or the price cache.
pub use crate::market::Candle;

/// A random-walk price path of `minutes` candles from `start` (aligned to the minute).
pub fn candles(start: DateTime<Utc>, minutes: usize, seed: u64) -> Vec<Candle> {
    let mut rng = Rng::new(seed);
    let mut price_cents: i64 = 6_700_000;
    let start_ms = start.timestamp() / 60 * 60 * 1000;
    (0..minutes)
        .map(|i| {
            let open = price_cents;
            // About $25 of movement a minute, with a few exact ties.
            let step = if rng.next_f64() < 0.02 {
                0
            } else {
                (rng.normal() * 2500.0) as i64
            };
            let close = (open + step).max(100_000);
            let high = open.max(close) + rng.range(0, 1500);
            let low = open.min(close) - rng.range(0, 1500);
            price_cents = close;
            let d = |c: i64| Decimal::new(c, 2);
            Candle {
                open_time_ms: start_ms + i as i64 * 60_000,
                open: d(open),
                high: d(high),
                low: d(low),
                close: d(close),
            }
        })
        .collect()
}

/// Binance's klines JSON rows for candles (for local test servers).
pub fn klines_json(candles: &[Candle]) -> serde_json::Value {
    serde_json::Value::Array(
        candles
            .iter()
            .map(|c| {
                serde_json::json!([
                    c.open_time_ms,
                    c.open.to_string(),
                    c.high.to_string(),
                    c.low.to_string(),
                    c.close.to_string(),
                    "7.44951",
                    c.open_time_ms + 59_999,
                    "510123.10",
                    1234,
                    "3.10000",
                    "212345.60",
                    "0"
                ])
            })
            .collect(),
    )
}

const SIGNALS: [&str; 5] = [
    "STRONG_BULLISH",
    "BULLISH",
    "NEUTRAL",
    "BEARISH",
    "STRONG_BEARISH",
];

/// A simulated trader over every 15-minute market fully covered by `candles`: in each market
/// it decides `per_market` times, with a signal that sees the window's outcome through noise
/// (so it is right a bit more often than not). Decision ids are deterministic.
pub fn decisions(candles: &[Candle], per_market: usize, seed: u64) -> Vec<Decision> {
    let mut rng = Rng::new(seed ^ 0xD1CE);
    let mut out = Vec::new();
    let Some(first) = candles.first() else {
        return out;
    };
    let first_window = (first.open_time_ms / 1000 + 899) / 900 * 900;
    let minute_index = |t_secs: i64| ((t_secs * 1000 - first.open_time_ms) / 60_000) as usize;
    let mut window = first_window;
    while minute_index(window + 900) <= candles.len() {
        let start_i = minute_index(window);
        let end_i = minute_index(window + 900) - 1;
        let price_to_beat = candles[start_i].open;
        let end_price = candles[end_i].close;
        let went_up = end_price >= price_to_beat;
        let slug = format!("btc-updown-15m-{window}");
        for k in 0..per_market {
            let minute = (k * 14 / per_market.max(1)) + 1;
            let at = window + minute as i64 * 60;
            let btc = candles[minute_index(at).min(end_i)].open;
            // The signal: the truth with probability 0.56, noise otherwise.
            let truth = if went_up { 1.0 } else { -1.0 };
            let score = if rng.next_f64() < 0.56 {
                truth * (0.1 + 0.6 * rng.next_f64())
            } else {
                -truth * (0.1 + 0.6 * rng.next_f64())
            };
            let confidence = (0.5 + score.abs() * 0.7).min(1.0);
            let signal = SIGNALS[((1.0 - score) * 2.49).clamp(0.0, 4.0) as usize];
            let up_prob = Decimal::new(rng.range(30, 71), 2);
            let yes_price = up_prob;
            let no_price = Decimal::ONE - up_prob + Decimal::new(1, 2);
            let take = confidence >= 0.75;
            let (action, executed, size) = if !take {
                (Action::Hold, None, Decimal::ZERO)
            } else if score > 0.0 {
                (
                    Action::Yes,
                    Some(yes_price + Decimal::new(1, 2)),
                    Decimal::new(rng.range(200, 1001), 2),
                )
            } else {
                (
                    Action::No,
                    Some(no_price + Decimal::new(1, 2)),
                    Decimal::new(rng.range(200, 1001), 2),
                )
            };
            out.push(Decision {
                decision_id: Some(format!("sim-{seed}-{window}-{k}")),
                timestamp: DateTime::from_timestamp(at, 0).unwrap_or_default(),
                market_slug: slug.clone(),
                market_id: Some(1_000_000 + (window / 900) % 1_000_000),
                action,
                confidence: (confidence * 100.0).round() / 100.0,
                position_size: size,
                reasoning: Some(format!("{signal} signal, score {score:.2}")),
                btc_price: btc,
                price_to_beat: Some(price_to_beat),
                time_remaining_seconds: Some(900 - minute as i64 * 60),
                is_end_phase: Some(minute >= 12),
                social_score: Some((score * 0.5 * 100.0).round() / 100.0),
                market_score: Some((score * 100.0).round() / 100.0),
                final_score: Some((score * 100.0).round() / 100.0),
                final_confidence: Some((confidence * 100.0).round() / 100.0),
                signal_type: Some(signal.to_string()),
                rsi: Some(50.0 + score * 20.0),
                macd: Some(score * 3.0),
                trend: Some(if score > 0.0 { "BULLISH" } else { "BEARISH" }.to_string()),
                yes_price: Some(yes_price),
                no_price: Some(no_price),
                executed_price: executed,
                market_start: None,
                market_end: None,
                fee_rate: None,
                liquidity: Liquidity::Taker,
                fee_paid: None,
                bankroll: None,
            });
        }
        window += 900;
    }
    out
}

/// The start of the day (UTC) `days` before `now`.
pub fn days_before(now: DateTime<Utc>, days: i64) -> DateTime<Utc> {
    let midnight = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|n| n.and_utc())
        .unwrap_or(now);
    // Days far beyond the calendar give its first day, not a panic.
    Duration::try_days(days)
        .and_then(|d| midnight.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}
