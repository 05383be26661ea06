//! Helpers the benchmarks share (each bench is a crate of its own and says `mod common;`):
//! the row count from the command line, peak memory, and the integration tests' database
//! fixtures (`tests/common/fixtures.rs`).

#![allow(dead_code)]

#[path = "../tests/common/fixtures.rs"]
pub mod fixtures;

/// N: the first numeric argument, else `POLYPERF_BENCH_ROWS`, else `default`.
pub fn rows(default: usize) -> usize {
    std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .or_else(|| std::env::var("POLYPERF_BENCH_ROWS").ok()?.parse().ok())
        .unwrap_or(default)
}

/// A `/proc/self/status` figure in KiB (`VmRSS:`, `VmHWM:`), 0 when unknown.
pub fn vm_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Resets the peak-RSS counter (Linux >= 4.0: writing 5 to clear_refs sets VmHWM to the current
/// RSS), so each phase reports its own peak.
pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Decisions shaped like a real trader's, as JSON Lines (issue 20): every optional field filled,
/// about 70% YES/NO (35% each) and 30% HOLD, UUID ids, amounts as JSON numbers with a few
/// decimals, indicators with full float precision, and reasoning text of 80 to 320 characters
/// (a sentence or two, as an LLM-backed trader writes them). One decision every 20 seconds
/// from 2026-01-05, `seed` varies the content. Deterministic.
pub fn trader_jsonl(n: usize, seed: u64) -> String {
    const SIGNALS: [&str; 5] = ["strong_buy", "buy", "neutral", "sell", "strong_sell"];
    const PHRASES: [&str; 8] = [
        "BTC momentum is positive on the 1m and 5m candles",
        "RSI has crossed back above its moving average",
        "social sentiment leans bullish after the funding update",
        "MACD histogram is flattening, so the edge is small",
        "order book depth on the YES side is thinner than usual",
        "price is holding above the window's opening level",
        "volatility over the last 15 minutes is above its daily median",
        "the spread between YES and NO leaves room after fees",
    ];
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let start = 1_767_571_200_i64; // 2026-01-05T00:00:00Z
    let mut out = String::with_capacity(n * 1100);
    for i in 0..n {
        let at = start + i as i64 * 20;
        let window = at - at % 900;
        let remaining = window + 900 - at;
        let r = next();
        let action = match r % 100 {
            0..=34 => "YES",
            35..=69 => "NO",
            _ => "HOLD",
        };
        let score = ((r >> 8) % 2001) as f64 / 1000.0 - 1.0;
        let confidence = 0.5 + ((r >> 20) % 50) as f64 / 100.0;
        let size = if action == "HOLD" {
            "0".to_string()
        } else {
            format!("{}.{:02}", 2 + (r >> 28) % 9, (r >> 32) % 100)
        };
        let yes = 30 + (r >> 40) % 41;
        let no = 101 - yes;
        let executed = if action == "NO" { no + 1 } else { yes + 1 };
        let btc = 90_000.0 + ((r >> 12) % 2_000_000) as f64 / 100.0;
        let mut reasoning = String::new();
        let target = 80 + (next() % 241) as usize;
        while reasoning.len() < target {
            let p = PHRASES[(next() % PHRASES.len() as u64) as usize];
            if !reasoning.is_empty() {
                reasoning.push_str("; ");
            }
            reasoning.push_str(p);
        }
        reasoning.truncate(target);
        let id = {
            let (a, b) = (next(), next());
            format!(
                "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
                a >> 32,
                (a >> 16) & 0xffff,
                a & 0xfff,
                0x8000 | (b >> 48) & 0x3fff,
                b & 0xffff_ffff_ffff
            )
        };
        let time = |t: i64| {
            chrono::DateTime::from_timestamp(t, 0)
                .unwrap_or_default()
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        };
        out.push_str(&format!(
            concat!(
                "{{\"decision_id\":\"{id}\",\"timestamp\":\"{ts}\",",
                "\"market_slug\":\"btc-updown-15m-{window}\",\"market_id\":{mid},",
                "\"action\":\"{action}\",\"confidence\":{conf:.2},\"position_size\":{size},",
                "\"reasoning\":\"{reasoning}.\",\"btc_price\":{btc:.2},\"price_to_beat\":{ptb:.2},",
                "\"time_remaining_seconds\":{remaining},\"is_end_phase\":{end},",
                "\"social_score\":{social},\"market_score\":{market},\"final_score\":{score},",
                "\"final_confidence\":{fconf:.4},\"signal_type\":\"{signal}\",\"rsi\":{rsi},",
                "\"macd\":{macd},\"trend\":\"{trend}\",\"yes_price\":0.{yes:02},",
                "\"no_price\":0.{no:02},\"executed_price\":0.{executed:02},",
                "\"market_start\":\"{ws}\",\"market_end\":\"{we}\",\"fee_rate\":0.07,",
                "\"liquidity\":\"{liq}\",\"fee_paid\":0.{fee:04}}}\n"
            ),
            id = id,
            ts = time(at),
            window = window,
            mid = 1_000_000 + window / 900 % 1_000_000,
            action = action,
            conf = confidence,
            size = size,
            reasoning = reasoning,
            btc = btc,
            ptb = btc - 35.5 + ((r >> 50) % 70) as f64,
            remaining = remaining,
            end = remaining < 180,
            social = score * 0.37,
            market = score * 0.81,
            score = score,
            fconf = confidence * 0.97,
            signal = SIGNALS[((1.0 - score) * 2.49).clamp(0.0, 4.0) as usize],
            rsi = 50.0 + score * 23.456_789,
            macd = score * 3.017_482_9,
            trend = if score > 0.0 { "BULLISH" } else { "BEARISH" },
            yes = yes,
            no = no,
            executed = executed.min(99),
            ws = time(window),
            we = time(window + 900),
            liq = if r % 4 == 0 { "maker" } else { "taker" },
            fee = 10 + (r >> 44) % 900,
        ));
    }
    out
}
