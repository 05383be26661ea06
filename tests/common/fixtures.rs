//! Database fixtures shared by the integration tests and the benchmarks (which include this
//! file with `#[path]`): settled trades written directly, and a whole table settled in SQL.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

/// A settled decision, written as the settle job leaves it (the trade-alert trigger fires only
/// for pending rows, so none is queued).
pub struct Settled<'a> {
    pub decision_id: &'a str,
    pub at: DateTime<Utc>,
    /// `YES`, `NO` or `HOLD`.
    pub action: &'a str,
    pub confidence: f64,
    pub final_score: f64,
    /// `UP` or `DOWN`.
    pub outcome: &'a str,
    /// USDC, as text (`None` for a HOLD).
    pub profit_loss: Option<&'a str>,
    pub is_win: Option<bool>,
}

/// Inserts one [`Settled`] decision: 5 USDC at 0.50 on the one test market.
pub fn insert_settled(conn: &Connection, t: &Settled<'_>) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO trades (decision_id, timestamp, market_slug, action, confidence, position_size, btc_price,
                             executed_price, yes_price, no_price, final_score, settlement_status, actual_outcome, profit_loss, is_win)
         VALUES (?1, ?2, 'btc-updown-15m-1770805800', ?3, ?4, '5', '66000', '0.50', '0.50', '0.50', ?5, 'settled', ?6, ?7, ?8)",
    )?
    .execute(params![
        t.decision_id,
        polyperf::time::to_db(t.at),
        t.action,
        t.confidence,
        t.final_score,
        t.outcome,
        t.profit_loss,
        t.is_win
    ])?;
    Ok(())
}

/// Settles every decision logged before `before` (a stored time) in SQL, without a job: every
/// 11th unsettleable, outcomes alternating, two wins in three, maker / taker and logged fees
/// mixed, fees charged in shares; settled 20 minutes after the decision.
pub fn settle_in_sql(conn: &Connection, before: &str) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE trades SET
           settlement_status = CASE WHEN id % 11 = 0 THEN 'unsettleable' ELSE 'settled' END,
           unsettleable_reason = CASE WHEN id % 11 = 0 THEN 'no price' END,
           actual_outcome = CASE WHEN id % 11 = 0 THEN NULL WHEN id % 2 = 0 THEN 'UP' ELSE 'DOWN' END,
           is_win = CASE WHEN id % 11 = 0 OR action = 'HOLD' THEN NULL ELSE (id % 3 != 0) END,
           is_missed_opportunity = CASE WHEN action = 'HOLD' AND id % 11 != 0 THEN id % 2 END,
           profit_loss = CASE WHEN id % 11 = 0 THEN NULL WHEN action = 'HOLD' THEN '0'
                              WHEN id % 3 != 0 THEN '4.3' || (id % 10) ELSE '-' || position_size END,
           fee = CASE WHEN action = 'HOLD' OR id % 11 = 0 THEN NULL ELSE '0.0' || (id % 97) END,
           fee_asset = CASE WHEN action != 'HOLD' AND id % 11 != 0 THEN 'shares' END,
           liquidity = CASE WHEN id % 4 = 0 THEN 'maker' ELSE 'taker' END,
           fee_paid = CASE WHEN id % 5 = 0 THEN 0.012345 END,
           settled_at = datetime(timestamp, '+20 minutes')
         WHERE timestamp < ?1",
        [before],
    )
}
