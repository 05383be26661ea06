//! Generated settled histories for the learning loop's statistics (tests/learning.rs): one
//! decision per 15-minute market, a confidence, the price of the side its signal favoured and
//! an outcome drawn from a seeded generator, traded when the confidence reaches the trader's
//! threshold and settled by settlement's own function. A market decides, per decision, the
//! favoured side's price and its chance to win:
//!
//! - [`Market::Null`]: no edge anywhere. The price varies and the outcome follows it: a side
//!   priced p wins exactly as often as settlement's fee-aware break-even at p, so every trade
//!   and every HOLD a lower threshold would take is worth 0 on average (the price carries the
//!   outcome: lowering a threshold does not earn by construction).
//! - [`Market::Edge`]: price 0.50; a confidence of 0.80 or more wins 70%, below 0.65 wins 40%,
//!   linear in between (break-even 51.8% near 0.71).
//! - [`Market::Flip`]: the edge until a day, then turned over (0.80 and more wins 40%, below
//!   0.65 wins 70%).

use chrono::{DateTime, Duration, Utc};
use polyperf::kinds::Liquidity;
use polyperf::money::fees::{FeeAssetRule, FeeModel, FeeRules, Fill};
use rust_decimal::Decimal;

/// How outcomes relate to confidence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Market {
    Null,
    Edge,
    Flip { day: i64 },
}

/// A history to generate.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub market: Market,
    pub days: i64,
    /// Decisions a day (one per 15-minute market: 96).
    pub per_day: i64,
    /// The trader's confidence threshold (the parameter is set to it).
    pub threshold: Decimal,
    pub seed: u64,
}

/// The first decision's time.
pub fn start() -> DateTime<Utc> {
    polyperf::time::parse_rfc3339("2026-03-02T00:00:00Z").unwrap()
}

/// Settlement's default fee rules (taker 0.07, exponent 1, asset by era).
pub fn fees() -> FeeRules {
    FeeRules {
        model: FeeModel::new(Decimal::new(7, 2), Decimal::ONE).unwrap(),
        asset: FeeAssetRule::Auto,
    }
}

/// The simulator's splitmix64, and prices in hundredths from it.
use polyperf::sim::Rng;

/// Uniform in lo..=hi hundredths.
fn cents(rng: &mut Rng, lo: i64, hi: i64) -> Decimal {
    Decimal::new(rng.range(lo, hi + 1), 2)
}

/// The win rate at which a 10 USDC taker buy at `p` breaks even, fees included (fee in shares,
/// as in March 2026): p / (1 - 0.07 (1 - p)).
fn break_even(p: f64) -> f64 {
    p / (1.0 - 0.07 * (1.0 - p))
}

/// The edge's chance to win at confidence `c`.
fn edge(c: f64) -> f64 {
    if c >= 0.80 {
        0.70
    } else if c < 0.65 {
        0.40
    } else {
        0.40 + (c - 0.65) / 0.15 * 0.30
    }
}

impl Market {
    /// (the favoured side's price, its chance to win) for a decision at confidence `c` on
    /// `day` (0-based).
    fn draw(self, rng: &mut Rng, day: i64, c: f64) -> (Decimal, f64) {
        use rust_decimal::prelude::ToPrimitive;
        match self {
            Market::Null => {
                let p = cents(rng, 38, 62);
                (p, break_even(p.to_f64().unwrap_or(0.5)))
            }
            Market::Edge => (Decimal::new(50, 2), edge(c)),
            Market::Flip { day: flip } if day >= flip => (Decimal::new(50, 2), 1.10 - edge(c)),
            Market::Flip { .. } => (Decimal::new(50, 2), edge(c)),
        }
    }
}

/// Writes the history into `conn` (one transaction) and sets the trader's threshold.
pub fn generate(conn: &mut rusqlite::Connection, spec: &Spec) {
    use rust_decimal::prelude::ToPrimitive;
    // `Rng::new` adds the golden-ratio step to its seed: the same stream as a state of
    // seed × 0x2545F4914F6CDD1D ^ 0x5EED (the histories the tests were written against).
    let state = spec.seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x5EED;
    let mut rng = Rng::new(state.wrapping_sub(0x9E37_79B9_7F4A_7C15));
    let tx = polyperf::db::write_tx(conn).unwrap();
    tx.execute(
        "UPDATE parameters SET value = ?1 WHERE name = 'bot_confidence_threshold'",
        [spec.threshold.to_string()],
    )
    .unwrap();
    let mut stmt = tx
        .prepare(
            "INSERT INTO trades (decision_id, timestamp, market_slug, action, confidence,
                 position_size, btc_price, executed_price, yes_price, no_price, final_score,
                 market_end, settlement_status, settled_at, actual_outcome, is_win, profit_loss,
                 fee, fee_asset, liquidity, is_missed_opportunity)
             VALUES (?1, ?2, 'btc-updown-15m-1772409600', ?3, ?4, ?5, '66000', ?6, ?7, ?8, ?9,
                 ?10, 'settled', ?10, ?11, ?12, ?13, ?14, ?15, 'taker', ?16)",
        )
        .unwrap();
    let step = 86_400 / spec.per_day;
    for i in 0..spec.days * spec.per_day {
        let at = start() + Duration::seconds(i * step);
        let day = i / spec.per_day;
        let confidence = cents(&mut rng, 50, 95);
        let c = confidence.to_f64().unwrap();
        let (price, chance) = spec.market.draw(&mut rng, day, c);
        let won = rng.next_f64() < chance;
        let yes = rng.next_u64().is_multiple_of(2);
        let up = yes == won;
        let other = Decimal::ONE - price;
        let (yes_price, no_price) = if yes { (price, other) } else { (other, price) };
        let traded = confidence >= spec.threshold;
        let settled = traded.then(|| {
            let fill = Fill {
                size: Decimal::TEN,
                price,
                time: at,
                liquidity: Liquidity::Taker,
                fee_paid: None,
            };
            polyperf::money::pnl::settle_fill(&fill, &fees(), won).unwrap()
        });
        let money = |d: Decimal| polyperf::db::Money(d);
        stmt.execute(rusqlite::params![
            format!("g-{i}"),
            polyperf::time::to_db(at),
            match (traded, yes) {
                (false, _) => "HOLD",
                (true, true) => "YES",
                (true, false) => "NO",
            },
            c,
            money(if traded { Decimal::TEN } else { Decimal::ZERO }),
            traded.then(|| money(price)),
            money(yes_price),
            money(no_price),
            if yes { c - 0.45 } else { 0.45 - c },
            polyperf::time::to_db(at + Duration::minutes(15)),
            if up { "UP" } else { "DOWN" },
            traded.then_some(won),
            settled.as_ref().map(|s| money(s.profit_loss)),
            settled.as_ref().map(|s| money(s.fee)),
            settled.as_ref().map(|s| s.asset.as_str()),
            (!traded).then_some(won),
        ])
        .unwrap();
    }
    drop(stmt);
    tx.commit().unwrap();
}
