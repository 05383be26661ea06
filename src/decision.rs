//! The trader's decisions (SPEC §2): the JSON form, its validation, what tells two versions of
//! a decision apart ([`Conflict`]) and the pure fingerprints of their content. No SQL: the
//! decision log that stores them is `trades::log` ([`crate::Tracker`]). Never settles or
//! interprets them.

use std::borrow::Cow;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::db::{BtcPrice, Money};
use crate::kinds::{Action, Liquidity};
use crate::market;
use crate::time::{parse_rfc3339, to_db};

mod conflict;
mod fingerprint;
mod input;
#[cfg(test)]
mod proptests;
mod rules;
#[cfg(test)]
pub(crate) mod tests;

pub use conflict::{short, Conflict};
pub use fingerprint::{canonical_fingerprint, content_hash};
pub(crate) use input::for_each_document;
use rules::{text_len, time_in_range};

// The money bounds a decision is held to are the settlement rules' own.
use crate::money::{MAX_EXECUTED_PRICE, MAX_POSITION_SIZE, MAX_SHARES, MIN_EXECUTED_PRICE};

/// The decision's fields besides its `decision_id`, in the order the log stores them (the
/// `trades` columns of the same names, and an archive line's).
pub const FIELDS: [&str; 28] = [
    "timestamp",
    "market_slug",
    "market_id",
    "action",
    "confidence",
    "position_size",
    "reasoning",
    "btc_price",
    "price_to_beat",
    "time_remaining_seconds",
    "is_end_phase",
    "social_score",
    "market_score",
    "final_score",
    "final_confidence",
    "signal_type",
    "rsi",
    "macd",
    "trend",
    "yes_price",
    "no_price",
    "executed_price",
    "market_start",
    "market_end",
    "fee_rate",
    "liquidity",
    "fee_paid",
    "bankroll",
];

/// How far before its market's window a decision may be taken (markets are listed ahead).
pub const MAX_DAYS_BEFORE_WINDOW: i64 = 7;
/// How far after its market's window ended a decision may be dated (late fills, clock skew).
pub const MAX_HOURS_AFTER_WINDOW: i64 = 24;
/// `btc_price` / `price_to_beat` (USD) stay below this (what a BTC price column stores exactly).
pub const MAX_BTC_PRICE: Decimal = Decimal::from_parts(10_000_000, 0, 0, false, 0);
/// Largest `time_remaining_seconds`: a week, the longest window.
pub const MAX_TIME_REMAINING_SECS: i64 = 604_800;
/// Longest `decision_id` and `market_slug`, in characters.
pub const MAX_ID_CHARS: usize = 200;
/// Longest `signal_type` and `trend`, in characters.
pub const MAX_LABEL_CHARS: usize = 64;
/// Longest `reasoning`, in characters.
pub const MAX_REASONING_CHARS: usize = 10_000;

/// One decision of the trader, validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub decision_id: Option<String>,
    pub timestamp: DateTime<Utc>,
    pub market_slug: String,
    pub market_id: Option<i64>,
    pub action: Action,
    pub confidence: f64,
    pub position_size: Decimal,
    pub reasoning: Option<String>,
    pub btc_price: Decimal,
    pub price_to_beat: Option<Decimal>,
    pub time_remaining_seconds: Option<i64>,
    pub is_end_phase: Option<bool>,
    pub social_score: Option<f64>,
    pub market_score: Option<f64>,
    pub final_score: Option<f64>,
    pub final_confidence: Option<f64>,
    pub signal_type: Option<String>,
    pub rsi: Option<f64>,
    pub macd: Option<f64>,
    pub trend: Option<String>,
    pub yes_price: Option<Decimal>,
    pub no_price: Option<Decimal>,
    pub executed_price: Option<Decimal>,
    /// The market's window, when the trader knows it (needed for slugs without a timestamp).
    pub market_start: Option<DateTime<Utc>>,
    pub market_end: Option<DateTime<Utc>>,
    /// A fee rate the trader logged; overrides the configured fee model.
    pub fee_rate: Option<Decimal>,
    /// Which side of the book the fill took (`taker` unless logged as `maker`).
    #[serde(default)]
    pub liquidity: Liquidity,
    /// USDC the fill was really charged, from the trader's fill report; beats any formula.
    #[serde(default)]
    pub fee_paid: Option<Decimal>,
    /// The trader's bankroll when it decided (USDC): what its exposure fraction is a share of.
    /// The adjuster judges an exposure change only against it, never against a guess.
    #[serde(default)]
    pub bankroll: Option<Decimal>,
}

/// A field that failed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "field `{}`: {}", self.field, self.message)
        }
    }
}

fn field_err(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_string(),
        message: message.into(),
    }
}

/// A field's JSON text, borrowed from the line (`None` when absent or null).
type Raw<'a> = Option<&'a RawValue>;

/// The known fields of one decision object, borrowed from its text: one parse pass, no map and
/// no copies. Unknown fields are skipped; values are read by the `*_value` functions below.
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow, default)]
    decision_id: Raw<'a>,
    #[serde(borrow, default)]
    timestamp: Raw<'a>,
    #[serde(borrow, default)]
    market_slug: Raw<'a>,
    #[serde(borrow, default)]
    market_id: Raw<'a>,
    #[serde(borrow, default)]
    action: Raw<'a>,
    #[serde(borrow, default)]
    confidence: Raw<'a>,
    #[serde(borrow, default)]
    position_size: Raw<'a>,
    #[serde(borrow, default)]
    reasoning: Raw<'a>,
    #[serde(borrow, default)]
    btc_price: Raw<'a>,
    #[serde(borrow, default)]
    price_to_beat: Raw<'a>,
    #[serde(borrow, default)]
    time_remaining_seconds: Raw<'a>,
    #[serde(borrow, default)]
    is_end_phase: Raw<'a>,
    #[serde(borrow, default)]
    social_score: Raw<'a>,
    #[serde(borrow, default)]
    market_score: Raw<'a>,
    #[serde(borrow, default)]
    final_score: Raw<'a>,
    #[serde(borrow, default)]
    final_confidence: Raw<'a>,
    #[serde(borrow, default)]
    signal_type: Raw<'a>,
    #[serde(borrow, default)]
    rsi: Raw<'a>,
    #[serde(borrow, default)]
    macd: Raw<'a>,
    #[serde(borrow, default)]
    trend: Raw<'a>,
    #[serde(borrow, default)]
    yes_price: Raw<'a>,
    #[serde(borrow, default)]
    no_price: Raw<'a>,
    #[serde(borrow, default)]
    executed_price: Raw<'a>,
    #[serde(borrow, default)]
    market_start: Raw<'a>,
    #[serde(borrow, default)]
    market_end: Raw<'a>,
    #[serde(borrow, default)]
    fee_rate: Raw<'a>,
    #[serde(borrow, default)]
    liquidity: Raw<'a>,
    #[serde(borrow, default)]
    fee_paid: Raw<'a>,
    #[serde(borrow, default)]
    bankroll: Raw<'a>,
}

impl Decision {
    /// Parses and validates one JSON object. Amounts may be JSON numbers or strings; they are
    /// read from the JSON text itself, so no digit goes through floating point.
    pub fn from_json(text: &str) -> std::result::Result<Decision, FieldError> {
        // A derived struct would also accept an array of values; only an object is a decision.
        if !text.trim_start().starts_with('{') {
            let e = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text)
                .err()
                .map_or_else(|| "expected an object".to_string(), |e| e.to_string());
            return Err(field_err("", format!("not a JSON object: {e}")));
        }
        let f: Fields = serde_json::from_str(text)
            .map_err(|e| field_err("", format!("not a JSON object: {e}")))?;
        let action_text = req(f.action, "action", string_value)?;
        let action = Action::parse(&action_text.to_ascii_uppercase()).ok_or_else(|| {
            field_err("action", format!("{action_text:?} is not YES, NO or HOLD"))
        })?;
        let decision = Decision {
            decision_id: opt(f.decision_id, "decision_id", string_value)?,
            timestamp: req(f.timestamp, "timestamp", time_value)?,
            market_slug: req(f.market_slug, "market_slug", string_value)?,
            market_id: opt(f.market_id, "market_id", int_value)?,
            action,
            confidence: req(f.confidence, "confidence", float_value)?,
            position_size: match action {
                Action::Hold => {
                    opt(f.position_size, "position_size", money_value)?.unwrap_or(Decimal::ZERO)
                }
                _ => req(f.position_size, "position_size", money_value)?,
            },
            reasoning: opt(f.reasoning, "reasoning", string_value)?,
            btc_price: req(f.btc_price, "btc_price", btc_value)?,
            price_to_beat: opt(f.price_to_beat, "price_to_beat", btc_value)?,
            time_remaining_seconds: opt(
                f.time_remaining_seconds,
                "time_remaining_seconds",
                int_value,
            )?,
            is_end_phase: opt(f.is_end_phase, "is_end_phase", bool_value)?,
            social_score: opt(f.social_score, "social_score", float_value)?,
            market_score: opt(f.market_score, "market_score", float_value)?,
            final_score: opt(f.final_score, "final_score", float_value)?,
            final_confidence: opt(f.final_confidence, "final_confidence", float_value)?,
            signal_type: opt(f.signal_type, "signal_type", string_value)?,
            rsi: opt(f.rsi, "rsi", float_value)?,
            macd: opt(f.macd, "macd", float_value)?,
            trend: opt(f.trend, "trend", string_value)?,
            yes_price: opt(f.yes_price, "yes_price", money_value)?,
            no_price: opt(f.no_price, "no_price", money_value)?,
            executed_price: opt(f.executed_price, "executed_price", money_value)?,
            market_start: opt(f.market_start, "market_start", time_value)?,
            market_end: opt(f.market_end, "market_end", time_value)?,
            fee_rate: opt(f.fee_rate, "fee_rate", money_value)?,
            liquidity: opt(f.liquidity, "liquidity", liquidity_value)?.unwrap_or_default(),
            fee_paid: opt(f.fee_paid, "fee_paid", money_value)?,
            bankroll: opt(f.bankroll, "bankroll", money_value)?,
        };
        decision.validate()?;
        Ok(decision)
    }

    /// The rules of SPEC §2 that types alone don't enforce: ranges of every amount, price, score
    /// and time, lengths of every text. Whatever passes settles without overflow.
    pub fn validate(&self) -> std::result::Result<(), FieldError> {
        text_len("decision_id", self.decision_id.as_deref(), 1, MAX_ID_CHARS)?;
        text_len("market_slug", Some(&self.market_slug), 1, MAX_ID_CHARS)?;
        text_len(
            "signal_type",
            self.signal_type.as_deref(),
            0,
            MAX_LABEL_CHARS,
        )?;
        text_len("trend", self.trend.as_deref(), 0, MAX_LABEL_CHARS)?;
        text_len(
            "reasoning",
            self.reasoning.as_deref(),
            0,
            MAX_REASONING_CHARS,
        )?;
        time_in_range("timestamp", Some(self.timestamp))?;
        time_in_range("market_start", self.market_start)?;
        time_in_range("market_end", self.market_end)?;
        for (field, value) in [
            ("social_score", self.social_score),
            ("market_score", self.market_score),
            ("final_score", self.final_score),
            ("rsi", self.rsi),
            ("macd", self.macd),
        ] {
            if value.is_some_and(|v| !v.is_finite()) {
                return Err(field_err(field, "must be a finite number"));
            }
        }
        for (field, value) in [
            ("confidence", Some(self.confidence)),
            ("final_confidence", self.final_confidence),
        ] {
            if let Some(v) = value.filter(|v| !(0.0..=1.0).contains(v)) {
                return Err(field_err(field, format!("{v} is outside [0, 1]")));
            }
        }
        if self.position_size < Decimal::ZERO || self.position_size > MAX_POSITION_SIZE {
            return Err(field_err(
                "position_size",
                format!("{} is outside 0 to {MAX_POSITION_SIZE}", self.position_size),
            ));
        }
        if self.action == Action::Hold && !self.position_size.is_zero() {
            return Err(field_err(
                "position_size",
                format!("{} must be 0 for HOLD", self.position_size),
            ));
        }
        for (field, value) in [
            ("btc_price", Some(self.btc_price)),
            ("price_to_beat", self.price_to_beat),
        ] {
            if let Some(v) = value.filter(|v| *v <= Decimal::ZERO || *v >= MAX_BTC_PRICE) {
                return Err(field_err(
                    field,
                    format!("{v} is outside (0, {MAX_BTC_PRICE})"),
                ));
            }
        }
        if let Some(t) = self
            .time_remaining_seconds
            .filter(|t| !(0..=MAX_TIME_REMAINING_SECS).contains(t))
        {
            return Err(field_err(
                "time_remaining_seconds",
                format!("{t} is outside 0 to {MAX_TIME_REMAINING_SECS}"),
            ));
        }
        let unit =
            |field: &str, v: Option<Decimal>, open: bool| -> std::result::Result<(), FieldError> {
                if let Some(v) = v {
                    let ok = if open {
                        v > Decimal::ZERO && v < Decimal::ONE
                    } else {
                        v >= Decimal::ZERO && v <= Decimal::ONE
                    };
                    if !ok {
                        let range = if open { "(0, 1)" } else { "[0, 1]" };
                        return Err(field_err(field, format!("{v} is outside {range}")));
                    }
                }
                Ok(())
            };
        unit("yes_price", self.yes_price, false)?;
        unit("no_price", self.no_price, false)?;
        unit("executed_price", self.executed_price, true)?;
        unit("fee_rate", self.fee_rate, false)?;
        if let Some(fee) = self.fee_paid {
            if fee < Decimal::ZERO {
                return Err(field_err("fee_paid", format!("{fee} is negative")));
            }
        }
        if let Some(bankroll) = self.bankroll.filter(|b| *b <= Decimal::ZERO) {
            return Err(field_err("bankroll", format!("{bankroll} is not above 0")));
        }
        self.check_stored_exactly()?;
        self.check_position()?;
        self.check_time_near_window()?;
        if self.action != Action::Hold && self.executed_price.is_none() {
            return Err(field_err(
                "executed_price",
                format!("is required for {}", self.action.as_str()),
            ));
        }
        if let (Some(start), Some(end)) = (self.market_start, self.market_end) {
            if end <= start {
                return Err(field_err("market_end", "must be after market_start"));
            }
        }
        Ok(())
    }

    /// Money and prices are stored as numbers rounded to a fixed number of places (SPEC §4):
    /// a value with more places than its column keeps, or too large to store exactly, is
    /// refused rather than silently rounded.
    fn check_stored_exactly(&self) -> std::result::Result<(), FieldError> {
        // (field, value, places kept, magnitude limit)
        let money = |field, v| (field, v, Money::DP, Money::limit());
        let btc = |field, v| (field, v, BtcPrice::DP, BtcPrice::limit());
        let columns = [
            money("position_size", Some(self.position_size)),
            btc("btc_price", Some(self.btc_price)),
            btc("price_to_beat", self.price_to_beat),
            money("yes_price", self.yes_price),
            money("no_price", self.no_price),
            money("executed_price", self.executed_price),
            money("fee_rate", self.fee_rate),
            money("fee_paid", self.fee_paid),
            money("bankroll", self.bankroll),
        ];
        for (field, value, dp, limit) in columns {
            match value {
                Some(v) if v.normalize().scale() > dp => {
                    return Err(field_err(
                        field,
                        format!("{v} has more than {dp} decimal places"),
                    ))
                }
                Some(v) if v.abs() >= limit => {
                    return Err(field_err(
                        field,
                        format!("{v} is too large (below {limit})"),
                    ))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The bounds that keep every settlement exactly representable (see [`MAX_SHARES`]): the
    /// exchange's price range, at most [`MAX_SHARES`] shares, a YES/NO's logged fee at most its
    /// stake.
    fn check_position(&self) -> std::result::Result<(), FieldError> {
        if let Some(price) = self.executed_price {
            if price < MIN_EXECUTED_PRICE || price > MAX_EXECUTED_PRICE {
                return Err(field_err(
                    "executed_price",
                    format!("{price} is outside {MIN_EXECUTED_PRICE} to {MAX_EXECUTED_PRICE}, the exchange's prices"),
                ));
            }
            // price >= 0.001 and size <= 10^6: the division cannot fail.
            let shares = self.position_size.checked_div(price);
            if shares.is_none_or(|s| s > MAX_SHARES) {
                return Err(field_err(
                    "position_size",
                    format!(
                        "{} at executed_price {price} buys more than {MAX_SHARES} shares",
                        self.position_size
                    ),
                ));
            }
        }
        // A HOLD has no fill: whatever fee it carries is never settled.
        let traded = self.action != Action::Hold;
        if let Some(fee) = self
            .fee_paid
            .filter(|fee| traded && *fee > self.position_size)
        {
            return Err(field_err(
                "fee_paid",
                format!(
                    "{fee} is above the stake (position_size {})",
                    self.position_size
                ),
            ));
        }
        Ok(())
    }

    /// A decision is taken near its market's window: from [`MAX_DAYS_BEFORE_WINDOW`] before
    /// it starts to [`MAX_HOURS_AFTER_WINDOW`] after it ends (its time picks the fee era, so a
    /// stray year must not).
    fn check_time_near_window(&self) -> std::result::Result<(), FieldError> {
        let Some((start, end)) = self.window() else {
            return Ok(());
        };
        let earliest = start.checked_sub_signed(chrono::Duration::days(MAX_DAYS_BEFORE_WINDOW));
        let latest = end.checked_add_signed(chrono::Duration::hours(MAX_HOURS_AFTER_WINDOW));
        let near = earliest.is_none_or(|e| self.timestamp >= e)
            && latest.is_none_or(|l| self.timestamp <= l);
        if near {
            return Ok(());
        }
        let source = if self.market_start.is_some() && self.market_end.is_some() {
            "market_start/market_end"
        } else {
            "market_slug"
        };
        Err(field_err(
            "timestamp",
            format!(
                "{} is far from its market's window {} to {} (from {source}): a decision is taken from {MAX_DAYS_BEFORE_WINDOW} days before its window to {MAX_HOURS_AFTER_WINDOW} hours after it",
                to_db(self.timestamp),
                to_db(start),
                to_db(end)
            ),
        ))
    }

    /// The idempotency key: the trader's own, or one derived from the decision's content, so
    /// logging the same id-less decision twice still stores it once.
    pub fn key(&self) -> String {
        if let Some(id) = &self.decision_id {
            return id.clone();
        }
        let mut hasher = Sha256::new();
        let content = format!(
            "{}|{}|{}|{}|{}|{}|{}",
            to_db(self.timestamp),
            self.market_slug,
            self.action.as_str(),
            self.position_size.normalize(),
            self.executed_price
                .map(|d| d.normalize().to_string())
                .unwrap_or_default(),
            self.btc_price.normalize(),
            self.confidence
        );
        hasher.update(content.as_bytes());
        let digest = hasher.finalize();
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        format!("auto-{hex}")
    }

    /// The market window: explicit fields first, else the slug.
    pub fn window(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        match (self.market_start, self.market_end) {
            (Some(start), Some(end)) => Some((start, end)),
            _ => market::window_from_slug(&self.market_slug),
        }
    }
}

fn req<T>(
    value: Raw,
    name: &str,
    parse: fn(&RawValue) -> std::result::Result<T, String>,
) -> std::result::Result<T, FieldError> {
    let value = value.ok_or_else(|| field_err(name, "is required"))?;
    parse(value).map_err(|m| field_err(name, m))
}

fn opt<T>(
    value: Raw,
    name: &str,
    parse: fn(&RawValue) -> std::result::Result<T, String>,
) -> std::result::Result<Option<T>, FieldError> {
    value
        .map(|v| parse(v).map_err(|m| field_err(name, m)))
        .transpose()
}

/// The contents of a JSON string without escapes, borrowed; `None` for anything else.
fn plain_str(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains('\\')).then_some(inner)
}

fn string_value(raw: &RawValue) -> std::result::Result<String, String> {
    if let Some(s) = plain_str(raw.get()) {
        return Ok(s.to_string());
    }
    serde_json::from_str::<String>(raw.get())
        .map_err(|_| format!("expected a string, got {}", preview(raw.get())))
}

/// A number or a numeric string, as text (borrowed unless the string has escapes). Only JSON's
/// number grammar passes (`-12.5`, `1e-3`): no `1_000`, `+5`, `.5`, `5.`, `NaN` or `inf`,
/// whatever the decimal or float parsers would tolerate.
fn numeric_text(raw: &RawValue) -> std::result::Result<Cow<'_, str>, String> {
    let text = raw.get();
    let number = if let Some(s) = plain_str(text) {
        Cow::Borrowed(s.trim())
    } else if text.starts_with('"') {
        let s: String = serde_json::from_str(text).map_err(|e| e.to_string())?;
        Cow::Owned(s.trim().to_string())
    } else {
        Cow::Borrowed(text)
    };
    if crate::json::is_number(&number) {
        Ok(number)
    } else {
        Err(format!("expected a number, got {}", preview(text)))
    }
}

fn decimal_value(raw: &RawValue) -> std::result::Result<Decimal, String> {
    let text = numeric_text(raw)?;
    let parsed = if text.contains(['e', 'E']) {
        Decimal::from_scientific(&text)
    } else {
        Decimal::from_str_exact(&text)
    };
    parsed.map_err(|_| format!("{} is not a decimal number", preview(&text)))
}

/// An amount kept at `dp` places. A JSON *number* that lies within float noise of such a value
/// is that value: a float-typed trader cannot send anything else (Python's `1 - 0.57` is
/// `0.43000000000000005`). Noise is at most 10^-(dp+3) (1e-9 for money), or a few units in the
/// last place of an f64 of that size, whichever is larger; a real extra digit is further away
/// (a 7th decimal of money at least 1e-7). A string is taken as written, and more places than
/// the column keeps are refused later, naming the field.
fn amount_value(raw: &RawValue, dp: u32) -> std::result::Result<Decimal, String> {
    let value = decimal_value(raw)?;
    let is_number = !raw.get().starts_with('"');
    if is_number && value.scale() > dp {
        let rounded = value.round_dp(dp);
        let places = Decimal::new(1, dp.saturating_add(3).min(28));
        // 2e-15 relative: about 9 units in the last place of an f64 (2^-52 = 2.2e-16).
        let ulps = value
            .abs()
            .checked_mul(Decimal::new(2, 15))
            .unwrap_or(Decimal::ZERO);
        if (value - rounded).abs() <= places.max(ulps) {
            return Ok(rounded);
        }
    }
    Ok(value)
}

/// Money and share prices: 6 places (USDC's precision).
fn money_value(raw: &RawValue) -> std::result::Result<Decimal, String> {
    amount_value(raw, Money::DP)
}

/// BTC prices: 8 places (Chainlink's).
fn btc_value(raw: &RawValue) -> std::result::Result<Decimal, String> {
    amount_value(raw, BtcPrice::DP)
}

fn liquidity_value(raw: &RawValue) -> std::result::Result<Liquidity, String> {
    let text = string_value(raw)?;
    Liquidity::parse(&text.to_ascii_lowercase())
        .ok_or_else(|| format!("{} is not taker or maker", preview(&text)))
}

fn float_value(raw: &RawValue) -> std::result::Result<f64, String> {
    let text = numeric_text(raw)?;
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("{} is not a finite number", preview(&text))),
    }
}

fn int_value(raw: &RawValue) -> std::result::Result<i64, String> {
    let text = numeric_text(raw)?;
    text.parse::<i64>()
        .map_err(|_| format!("{} is not an integer", preview(&text)))
}

fn bool_value(raw: &RawValue) -> std::result::Result<bool, String> {
    match raw.get() {
        "true" | "1" | "\"true\"" => Ok(true),
        "false" | "0" | "\"false\"" => Ok(false),
        other => Err(format!("expected true or false, got {}", preview(other))),
    }
}

fn time_value(raw: &RawValue) -> std::result::Result<DateTime<Utc>, String> {
    let text = raw.get();
    if let Some(s) = plain_str(text) {
        parse_rfc3339(s).map_err(|e| e.to_string())
    } else if text.starts_with('"') {
        let s: String = serde_json::from_str(text).map_err(|e| e.to_string())?;
        parse_rfc3339(&s).map_err(|e| e.to_string())
    } else {
        // Unix seconds, or milliseconds: whichever lands in 2020..2100 (never both), else refused.
        let n: i64 = text
            .parse()
            .map_err(|_| format!("expected an RFC 3339 timestamp, got {}", preview(text)))?;
        rules::unix_time(n)
    }
}

fn preview(text: &str) -> String {
    let mut s: String = text.chars().take(40).collect();
    if text.chars().count() > 40 {
        s.push('…');
    }
    s
}

impl FromStr for Decision {
    type Err = FieldError;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Decision::from_json(s)
    }
}
