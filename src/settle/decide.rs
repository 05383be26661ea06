//! One decision's verdict, with no I/O: from its row ([`Trade`]), its fee model and fill
//! facts, the price evidence, the outcome and money ([`crate::money::pnl::settle_fill`]). `settle-check`
//! asks the same [`judge`] of a settled row.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::binance::MINUTE_MS;
use super::gamma::MarketInfo;
use super::Source;
use crate::kinds::{Action, Outcome};
use crate::money::fees::FeeAssetRule;
use crate::money::pnl::{self, FeeModel, FeeRules, Fill, TieRule};
pub(super) use crate::trades::Settlement;
use crate::trades::Trade;

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

/// The write for one row.
#[derive(Debug, Clone)]
pub(super) enum Verdict {
    Settled(Box<Settlement>),
    Unsettleable(i64, String),
}

/// The fee model of a row: the rate the trader logged, else the market's schedule, else the
/// settings.
fn fee_model(
    rules: &Rules,
    row: &Trade,
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
    row: &Trade,
    candles: &HashMap<i64, (Decimal, Decimal)>,
) -> Option<(Decimal, Decimal)> {
    let end_minute = row.market_end?.timestamp_millis() - MINUTE_MS;
    let end = candles.get(&end_minute)?.1;
    let start = match row.price_to_beat {
        Some(p) if p > Decimal::ZERO => p,
        _ => candles.get(&row.market_start?.timestamp_millis())?.0,
    };
    Some((start, end))
}

/// Why a row's timestamp cannot be its decision's: far from its market's window (the log
/// refuses such a decision; a row written by hand or before the bound gets here), which would
/// pick the wrong fee era.
fn far_from_window(row: &Trade) -> Option<String> {
    use crate::decision::{MAX_DAYS_BEFORE_WINDOW, MAX_HOURS_AFTER_WINDOW};
    let end = row.market_end?;
    // Without a start, the longest window a slug may encode stands in.
    let longest = chrono::Duration::minutes(crate::market::MAX_LENGTH_MINUTES);
    let start = match row.market_start {
        Some(start) => start,
        None => end.checked_sub_signed(longest)?,
    };
    let earliest = start.checked_sub_signed(chrono::Duration::days(MAX_DAYS_BEFORE_WINDOW))?;
    let latest = end.checked_add_signed(chrono::Duration::hours(MAX_HOURS_AFTER_WINDOW))?;
    // A timestamp that is no time is as far as any.
    let timestamp = row.timestamp.unwrap_or(DateTime::<Utc>::MIN_UTC);
    if (earliest..=latest).contains(&timestamp) {
        return None;
    }
    Some(super::reasons::far_from_window(
        timestamp,
        row.market_start,
        end,
    ))
}

/// Settles one row given what is known of its market. `None` leaves it pending.
pub(super) fn decide(
    rules: &Rules,
    row: &Trade,
    market: Option<&MarketInfo>,
    official: Option<Outcome>,
    prices: Option<(Decimal, Decimal)>,
) -> Option<Verdict> {
    let (outcome, source) = match (official, prices) {
        (Some(o), _) => (o, "gamma"),
        (None, Some((start, end))) => (pnl::outcome_from_prices(start, end, rules.tie), "price"),
        (None, None) => return None,
    };
    if let Some(reason) = far_from_window(row) {
        return Some(Verdict::Unsettleable(row.id, reason));
    }
    let model = fee_model(rules, row, market);
    let judged = match judge(row, outcome, model, rules.fee_asset) {
        Ok(judged) => judged,
        Err(reason) => return Some(Verdict::Unsettleable(row.id, reason)),
    };
    Some(Verdict::Settled(Box::new(Settlement {
        id: row.id,
        decision_id: row.decision_id.clone(),
        slug: row.market_slug.clone(),
        action: row.action,
        outcome,
        source,
        is_win: judged.is_win,
        missed: judged.missed,
        fee: judged.money.as_ref().map(|_| judged.model),
        money: judged.money,
        end_price: prices.map(|(_, end)| end),
        start_price: prices.map(|(start, _)| start),
    })))
}

/// What a row's outcome makes of it: a HOLD's missed opportunity, a YES/NO's win and money.
#[derive(Debug, Clone)]
pub(super) struct Judged {
    pub is_win: Option<bool>,
    pub missed: Option<bool>,
    pub money: Option<pnl::Settled>,
    /// The fee model that charged a YES/NO (the given one).
    pub model: FeeModel,
}

/// The columns a YES/NO's money is settled from: one that cannot be read sets it aside.
const MONEY_INPUTS: [&str; 4] = ["position_size", "executed_price", "fee_rate", "fee_paid"];

/// Judges a row whose market resolved `outcome`, its fee charged by `model` under `asset`:
/// settlement's verdict, and what `settle-check` recomputes a settled row against. Err: why
/// the row cannot be settled.
pub(super) fn judge(
    row: &Trade,
    outcome: Outcome,
    model: Result<FeeModel, &'static str>,
    asset: FeeAssetRule,
) -> Result<Judged, String> {
    let mut judged = Judged {
        is_win: None,
        missed: None,
        money: None,
        model: model.unwrap_or(FeeModel::NONE),
    };
    if row.action == Action::Hold {
        judged.missed = Some(pnl::missed_opportunity(row.final_score, outcome));
        return Ok(judged);
    }
    if let Some(column) = row.unreadable.iter().find(|c| MONEY_INPUTS.contains(c)) {
        return Err(format!("{column} is not a number"));
    }
    let price = row.executed_price.ok_or("executed_price is missing")?;
    let size = row.position_size.ok_or("position_size is missing")?;
    let model = model?;
    let fill = Fill {
        size,
        price,
        time: row.timestamp.ok_or("timestamp is not a time")?,
        liquidity: row.liquidity,
        fee_paid: row.fee_paid,
    };
    let rules = FeeRules { model, asset };
    let payoff = pnl::Payoff::of(row.action == Action::Yes, outcome);
    let money = pnl::settle_fill_paying(&fill, &rules, payoff).map_err(|why| why.reason())?;
    judged.is_win = money.is_win();
    judged.money = Some(money);
    judged.model = model;
    Ok(judged)
}
