//! Settlement's own table, `settlement_disagreements`: a market whose official and price
//! outcomes disagree, recorded once and notified. Its statements on `trades` are
//! `trades::settle`'s.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use rust_decimal::Decimal;

use crate::config::Notify;
use crate::db::BtcPrice;
use crate::kinds::Outcome;
use crate::outbox;
use crate::time::to_db;

/// A disagreement between the official and the price outcome of a market.
pub(super) struct Disagreement {
    pub(super) slug: String,
    pub(super) official: Outcome,
    pub(super) price: Outcome,
    pub(super) start: Decimal,
    pub(super) end: Decimal,
    pub(super) corrected: u64,
}

/// Records a market's disagreement once and queues one notification for it. Returns whether it
/// was new. Corrections found later add to `trades_corrected`.
pub(super) fn record_disagreement(
    conn: &Connection,
    notify: &Notify,
    d: &Disagreement,
    now: DateTime<Utc>,
) -> Result<bool> {
    let new = conn.execute(
        "INSERT INTO settlement_disagreements (market_slug, official_outcome, price_outcome, end_price,
             start_price, trades_corrected, detected_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (market_slug) DO NOTHING",
        params![d.slug, d.official.as_str(), d.price.as_str(), BtcPrice(d.end), BtcPrice(d.start), d.corrected, to_db(now)],
    )? == 1;
    if !new && d.corrected > 0 {
        conn.execute(
            "UPDATE settlement_disagreements SET trades_corrected = trades_corrected + ?1 WHERE market_slug = ?2",
            params![d.corrected, d.slug],
        )?;
    }
    let note = crate::outbox::message::SourcesDisagree {
        market_slug: d.slug.clone(),
        official_outcome: Some(d.official),
        price_outcome: Some(d.price),
        start_price: d.start,
        end_price: d.end,
        trades_corrected: d.corrected,
    };
    outbox::enqueue(
        conn,
        notify,
        &crate::outbox::Message::Disagreement(note),
        Some(&format!("disagreement:{}", d.slug)),
        now,
    )?;
    if new {
        tracing::warn!(slug = %d.slug, official = d.official.as_str(), price = d.price.as_str(), "official and price outcomes disagree");
    }
    Ok(new)
}
