//! One decision's verdict, with no I/O: the row as settlement reads it, its fee model and fill
//! facts, the price evidence, and the outcome and money ([`crate::money::pnl::settle_fill`]).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::binance::MINUTE_MS;
use super::gamma::MarketInfo;
use super::Source;
use crate::db::{BtcPrice, Money};
use crate::kinds::Liquidity;
use crate::kinds::Outcome;
use crate::money::fees::FeeAssetRule;
use crate::money::pnl::TieRule;
use crate::money::pnl::{self, FeeModel, FeeRules, Fill};
use crate::time::from_db;

/// What a verdict depends on besides the row and its market: the rules of a run, decided once
/// from the settings and flags.
pub(super) struct Rules {
    pub source: Source,
    /// Official results are looked up (`settlement.gamma_enabled`, and not `--source price`).
    pub gamma: bool,
    pub tie: TieRule,
    /// The fee model without a logged rate or a market schedule (none with fees disabled).
    pub default_fee: FeeModel,
    pub default_exponent: u32,
    pub fee_asset: FeeAssetRule,
    /// Windows that ended before this had `official_wait_minutes` to get their official result.
    pub official_before: DateTime<Utc>,
}

/// A decision as settlement reads it.
#[derive(Debug, Clone)]
pub(super) struct Row {
    pub id: i64,
    pub decision_id: String,
    pub timestamp: DateTime<Utc>,
    pub slug: String,
    pub action: String,
    pub position_size: Option<Decimal>,
    pub executed_price: Option<Decimal>,
    pub price_to_beat: Option<Decimal>,
    pub final_score: Option<f64>,
    pub fee_rate: Option<Decimal>,
    pub liquidity: Liquidity,
    pub fee_paid: Option<Decimal>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub actual_outcome: Option<String>,
    /// `market_end` as stored, for the batch cursor.
    pub end_text: Option<String>,
    /// The market's asset from its slug (`BTC`), which picks the price fallback's symbol.
    pub asset: Option<String>,
    /// The first money column that could not be read as a number (a hand edit), which makes
    /// a YES/NO unsettleable rather than stopping the batch.
    pub unreadable: Option<&'static str>,
}

pub(super) const ROW_COLUMNS: &str = "id, decision_id, timestamp, market_slug, action,
    position_size, executed_price, price_to_beat, final_score, fee_rate, liquidity, fee_paid,
    market_start, market_end, actual_outcome";

pub(super) fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let time = |i: usize| -> rusqlite::Result<Option<DateTime<Utc>>> {
        let text: Option<String> = r.get(i)?;
        Ok(text.and_then(|t| from_db(&t).ok()))
    };
    let mut unreadable = None;
    let mut money = |i: usize, name: &'static str| -> rusqlite::Result<Option<Decimal>> {
        Ok(Money::from_value(r.get_ref(i)?).unwrap_or_else(|_| {
            unreadable = unreadable.or(Some(name));
            None
        }))
    };
    let position_size = money(5, "position_size is not a number")?;
    let executed_price = money(6, "executed_price is not a number")?;
    let fee_rate = money(9, "fee_rate is not a number")?;
    let fee_paid = money(11, "fee_paid is not a number")?;
    let liquidity: Option<String> = r.get(10)?;
    let slug: String = r.get(3)?;
    Ok(Row {
        id: r.get(0)?,
        decision_id: r.get(1)?,
        timestamp: time(2)?.unwrap_or(DateTime::<Utc>::MIN_UTC),
        asset: crate::market::asset_of_slug(&slug),
        slug,
        action: r.get(4)?,
        position_size,
        executed_price,
        // An unreadable price to beat is as good as none: the window's first candle stands in.
        price_to_beat: BtcPrice::from_value(r.get_ref(7)?).ok().flatten(),
        final_score: r.get(8)?,
        fee_rate,
        liquidity: liquidity
            .as_deref()
            .and_then(Liquidity::parse)
            .unwrap_or_default(),
        fee_paid,
        start: time(12)?,
        end: time(13)?,
        actual_outcome: r.get(14)?,
        end_text: r.get(13)?,
        unreadable,
    })
}

/// The write for one row.
#[derive(Debug, Clone)]
pub(super) enum Verdict {
    Settled(Box<Settlement>),
    Unsettleable(i64, String),
}

#[derive(Debug, Clone)]
pub(super) struct Settlement {
    pub id: i64,
    pub decision_id: String,
    pub slug: String,
    pub action: String,
    pub outcome: Outcome,
    pub source: &'static str,
    pub is_win: Option<bool>,
    pub missed: Option<bool>,
    pub money: Option<pnl::Settled>,
    pub fee: Option<FeeModel>,
    pub end_price: Option<Decimal>,
    pub start_price: Option<Decimal>,
}

/// The fee model of a row: the rate the trader logged, else the market's schedule, else the
/// settings.
fn fee_model(
    rules: &Rules,
    row: &Row,
    market: Option<&MarketInfo>,
) -> Result<FeeModel, &'static str> {
    let market_fee = market.and_then(|m| m.fee);
    if let Some(rate) = row.fee_rate {
        let exponent = market_fee
            .filter(|f| f.rate > Decimal::ZERO)
            .map_or(rules.default_exponent, |f| f.exponent);
        return FeeModel::new(rate, Decimal::from(exponent)).map_err(|_| "fee_rate outside [0, 1]");
    }
    Ok(market_fee.unwrap_or(rules.default_fee))
}

/// Whether price evidence may settle a market whose window ended at `end`: always with
/// `--source price`, never with `gamma`, and with `auto` once the official result had
/// `official_wait_minutes` to come (or without Gamma at all).
pub(super) fn price_allowed(rules: &Rules, end: DateTime<Utc>) -> bool {
    match rules.source {
        Source::Price => true,
        Source::Gamma => false,
        Source::Auto => !rules.gamma || end <= rules.official_before,
    }
}

/// The price outcome of a row: end = close of the window's last minute, start = price_to_beat
/// or the open of its first minute.
pub(super) fn price_evidence(
    row: &Row,
    candles: &HashMap<i64, (Decimal, Decimal)>,
) -> Option<(Decimal, Decimal)> {
    let end_minute = row.end?.timestamp_millis() - MINUTE_MS;
    let end = candles.get(&end_minute)?.1;
    let start = match row.price_to_beat {
        Some(p) if p > Decimal::ZERO => p,
        _ => candles.get(&row.start?.timestamp_millis())?.0,
    };
    Some((start, end))
}

/// Why a row's timestamp cannot be its decision's: far from its market's window (the log
/// refuses such a decision; a row written by hand or before the bound gets here), which would
/// pick the wrong fee era.
fn far_from_window(row: &Row) -> Option<String> {
    use crate::decision::{MAX_DAYS_BEFORE_WINDOW, MAX_HOURS_AFTER_WINDOW};
    let end = row.end?;
    // Without a start, the longest window a slug may encode stands in.
    let longest = chrono::Duration::minutes(crate::market::MAX_LENGTH_MINUTES);
    let start = match row.start {
        Some(start) => start,
        None => end.checked_sub_signed(longest)?,
    };
    let earliest = start.checked_sub_signed(chrono::Duration::days(MAX_DAYS_BEFORE_WINDOW))?;
    let latest = end.checked_add_signed(chrono::Duration::hours(MAX_HOURS_AFTER_WINDOW))?;
    if (earliest..=latest).contains(&row.timestamp) {
        return None;
    }
    Some(super::reasons::far_from_window(
        row.timestamp,
        row.start,
        end,
    ))
}

/// Settles one row given what is known of its market. `None` leaves it pending.
pub(super) fn decide(
    rules: &Rules,
    row: &Row,
    market: Option<&MarketInfo>,
    official: Option<Outcome>,
    prices: Option<(Decimal, Decimal)>,
) -> Option<Verdict> {
    let (outcome, source) = match (official, prices) {
        (Some(o), _) => (o, "gamma"),
        (None, Some((start, end))) => (pnl::outcome_from_prices(start, end, rules.tie), "price"),
        (None, None) => return None,
    };
    let (end_price, start_price) = match prices {
        Some((start, end)) => (Some(end), Some(start)),
        None => (None, None),
    };
    if let Some(reason) = far_from_window(row) {
        return Some(Verdict::Unsettleable(row.id, reason));
    }
    let mut s = Settlement {
        id: row.id,
        decision_id: row.decision_id.clone(),
        slug: row.slug.clone(),
        action: row.action.clone(),
        outcome,
        source,
        is_win: None,
        missed: None,
        money: None,
        fee: None,
        end_price,
        start_price,
    };
    match row.action.as_str() {
        "HOLD" => s.missed = Some(pnl::missed_opportunity(row.final_score, outcome)),
        action @ ("YES" | "NO") => {
            let unsettleable = |reason: &str| Some(Verdict::Unsettleable(row.id, reason.into()));
            if let Some(reason) = row.unreadable {
                return unsettleable(reason);
            }
            let Some(price) = row.executed_price else {
                return unsettleable("executed_price is missing");
            };
            let Some(size) = row.position_size else {
                return unsettleable("position_size is missing");
            };
            let model = match fee_model(rules, row, market) {
                Ok(m) => m,
                Err(reason) => return unsettleable(reason),
            };
            let fill = Fill {
                size,
                price,
                time: row.timestamp,
                liquidity: row.liquidity,
                fee_paid: row.fee_paid,
            };
            let rules = FeeRules {
                model,
                asset: rules.fee_asset,
            };
            let payoff = pnl::Payoff::of(action == "YES", outcome);
            match pnl::settle_fill_paying(&fill, &rules, payoff) {
                Ok(money) => {
                    s.is_win = money.is_win();
                    s.money = Some(money);
                    s.fee = Some(model);
                }
                Err(why) => return Some(Verdict::Unsettleable(row.id, why.reason())),
            }
        }
        _ => return Some(Verdict::Unsettleable(row.id, "unknown action".into())),
    }
    Some(Verdict::Settled(Box::new(s)))
}
