//! The trader's decisions (SPEC §2): parsing and validating the JSON form, and storing them
//! idempotently (`Tracker`). Never settles or interprets them.

use std::borrow::Cow;
use std::io::BufRead;
use std::path::Path;
use std::str::FromStr;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::db::{BtcPrice, Money};
use crate::market;
pub use crate::settle::fees::Liquidity;
use crate::time::{parse_rfc3339, to_db};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    #[serde(rename = "YES")]
    Yes,
    #[serde(rename = "NO")]
    No,
    #[serde(rename = "HOLD")]
    Hold,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Yes => "YES",
            Action::No => "NO",
            Action::Hold => "HOLD",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "YES" => Some(Action::Yes),
            "NO" => Some(Action::No),
            "HOLD" => Some(Action::Hold),
            _ => None,
        }
    }
}

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
                    opt(f.position_size, "position_size", decimal_value)?.unwrap_or(Decimal::ZERO)
                }
                _ => req(f.position_size, "position_size", decimal_value)?,
            },
            reasoning: opt(f.reasoning, "reasoning", string_value)?,
            btc_price: req(f.btc_price, "btc_price", decimal_value)?,
            price_to_beat: opt(f.price_to_beat, "price_to_beat", decimal_value)?,
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
            yes_price: opt(f.yes_price, "yes_price", decimal_value)?,
            no_price: opt(f.no_price, "no_price", decimal_value)?,
            executed_price: opt(f.executed_price, "executed_price", decimal_value)?,
            market_start: opt(f.market_start, "market_start", time_value)?,
            market_end: opt(f.market_end, "market_end", time_value)?,
            fee_rate: opt(f.fee_rate, "fee_rate", decimal_value)?,
            liquidity: opt(f.liquidity, "liquidity", liquidity_value)?.unwrap_or_default(),
            fee_paid: opt(f.fee_paid, "fee_paid", decimal_value)?,
        };
        decision.validate()?;
        Ok(decision)
    }

    /// The rules of SPEC §2 that types alone don't enforce.
    pub fn validate(&self) -> std::result::Result<(), FieldError> {
        if self.market_slug.trim().is_empty() {
            return Err(field_err("market_slug", "must not be empty"));
        }
        if let Some(id) = &self.decision_id {
            if id.trim().is_empty() || id.len() > 200 {
                return Err(field_err("decision_id", "must be 1 to 200 characters"));
            }
        }
        if !(0.0..=1.0).contains(&self.confidence) {
            return Err(field_err(
                "confidence",
                format!("{} is outside [0, 1]", self.confidence),
            ));
        }
        if self.position_size < Decimal::ZERO {
            return Err(field_err(
                "position_size",
                format!("{} is negative", self.position_size),
            ));
        }
        if self.action == Action::Hold && !self.position_size.is_zero() {
            return Err(field_err(
                "position_size",
                format!("{} must be 0 for HOLD", self.position_size),
            ));
        }
        if self.btc_price <= Decimal::ZERO {
            return Err(field_err(
                "btc_price",
                format!("{} must be greater than 0", self.btc_price),
            ));
        }
        if let Some(p) = self.price_to_beat {
            if p <= Decimal::ZERO {
                return Err(field_err(
                    "price_to_beat",
                    format!("{p} must be greater than 0"),
                ));
            }
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
        self.check_stored_exactly()?;
        if self.action != Action::Hold && self.executed_price.is_none() {
            return Err(field_err(
                "executed_price",
                format!("is required for {}", self.action.as_str()),
            ));
        }
        if let Some(c) = self.final_confidence {
            if !(0.0..=1.0).contains(&c) {
                return Err(field_err(
                    "final_confidence",
                    format!("{c} is outside [0, 1]"),
                ));
            }
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

/// A number or a numeric string, as text (borrowed unless the string has escapes).
fn numeric_text(raw: &RawValue) -> std::result::Result<Cow<'_, str>, String> {
    let text = raw.get();
    if let Some(s) = plain_str(text) {
        Ok(Cow::Borrowed(s.trim()))
    } else if text.starts_with('"') {
        let s: String = serde_json::from_str(text).map_err(|e| e.to_string())?;
        Ok(Cow::Owned(s.trim().to_string()))
    } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        Ok(Cow::Borrowed(text))
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
        // Unix seconds (or milliseconds, when the number is that large).
        let n: i64 = text
            .parse()
            .map_err(|_| format!("expected an RFC 3339 timestamp, got {}", preview(text)))?;
        let secs = if n > 100_000_000_000 { n / 1000 } else { n };
        DateTime::from_timestamp(secs, 0).ok_or_else(|| format!("{n} is not a valid time"))
    }
}

fn preview(text: &str) -> String {
    let mut s: String = text.chars().take(40).collect();
    if text.chars().count() > 40 {
        s.push('…');
    }
    s
}

/// What happened to a decision handed to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logged {
    Stored(i64),
    Duplicate,
}

/// Counts of a batch, as `polyperf log --json` prints them.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct LogReport {
    pub stored: u64,
    pub duplicates: u64,
    pub invalid: u64,
    /// `line N: field ...: message`, for each bad line (the first 100).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

const INSERT_COLUMNS: &str = "INSERT INTO trades (
    decision_id, timestamp, market_slug, market_id, action, confidence, position_size, reasoning,
    btc_price, price_to_beat, time_remaining_seconds, is_end_phase, social_score, market_score,
    final_score, final_confidence, signal_type, rsi, macd, trend, yes_price, no_price,
    executed_price, market_start, market_end, fee_rate, liquidity, fee_paid, created_at) VALUES ";

/// Parameters bound per decision (`created_at` is `datetime('now')`).
const PARAMS_PER_ROW: usize = 28;

/// Rows per multi-row INSERT in a bulk log. One statement runs its per-statement work (cursors on
/// the table and its indexes, the CHECK lists, the statement savepoint) once for all its rows.
const BATCH: usize = 64;

/// `INSERT ... VALUES (...), ... ON CONFLICT (decision_id) DO NOTHING` for `rows` decisions.
fn insert_sql(rows: usize) -> String {
    let one = format!("({}datetime('now'))", "?, ".repeat(PARAMS_PER_ROW));
    format!(
        "{INSERT_COLUMNS}{} ON CONFLICT (decision_id) DO NOTHING",
        vec![one; rows].join(", ")
    )
}

thread_local! {
    static INSERT_ONE: String = insert_sql(1);
    static INSERT_BATCH: String = insert_sql(BATCH);
}

/// Binds one decision's parameters at `base + 1 ..= base + 28`. Money and prices go in as
/// numbers through [`Money`] / [`BtcPrice`] (validated to fit them exactly).
fn bind(stmt: &mut rusqlite::Statement<'_>, base: usize, d: &Decision) -> Result<()> {
    let key = match &d.decision_id {
        Some(id) => Cow::Borrowed(id.as_str()),
        None => Cow::Owned(d.key()),
    };
    let window = d.window();
    let values: [&dyn rusqlite::ToSql; PARAMS_PER_ROW] = [
        &key,
        &to_db(d.timestamp),
        &d.market_slug,
        &d.market_id,
        &d.action.as_str(),
        &d.confidence,
        &Money(d.position_size),
        &d.reasoning,
        &BtcPrice(d.btc_price),
        &d.price_to_beat.map(BtcPrice),
        &d.time_remaining_seconds,
        &d.is_end_phase,
        &d.social_score,
        &d.market_score,
        &d.final_score,
        &d.final_confidence,
        &d.signal_type,
        &d.rsi,
        &d.macd,
        &d.trend,
        &d.yes_price.map(Money),
        &d.no_price.map(Money),
        &d.executed_price.map(Money),
        &window.map(|w| to_db(w.0)),
        &window.map(|w| to_db(w.1)),
        &d.fee_rate.map(Money),
        &d.liquidity.as_str(),
        &d.fee_paid.map(Money),
    ];
    for (i, v) in values.iter().enumerate() {
        stmt.raw_bind_parameter(base + i + 1, v)?;
    }
    Ok(())
}

/// Inserts one decision with the connection's cached statement. Part of the caller's transaction.
pub fn insert(conn: &Connection, d: &Decision) -> Result<Logged> {
    let mut stmt = INSERT_ONE.with(|sql| conn.prepare_cached(sql))?;
    bind(&mut stmt, 0, d)?;
    let n = stmt.raw_execute()?;
    Ok(if n == 1 {
        Logged::Stored(conn.last_insert_rowid())
    } else {
        Logged::Duplicate
    })
}

/// Inserts decisions in multi-row statements (same rules as [`insert`]); returns how many were
/// stored (the rest were duplicates). Part of the caller's transaction, which it leaves with
/// the outbox within its bound (each stored YES/NO queues a trade alert).
pub fn insert_many(conn: &Connection, decisions: &[Decision]) -> Result<u64> {
    let mut stored = 0;
    let mut chunks = decisions.chunks_exact(BATCH);
    if chunks.len() > 0 {
        let mut stmt = INSERT_BATCH.with(|sql| conn.prepare_cached(sql))?;
        for chunk in &mut chunks {
            for (i, d) in chunk.iter().enumerate() {
                bind(&mut stmt, i * PARAMS_PER_ROW, d)?;
            }
            stored += stmt.raw_execute()? as u64;
        }
    }
    for d in chunks.remainder() {
        if let Logged::Stored(_) = insert(conn, d)? {
            stored += 1;
        }
    }
    crate::outbox::enforce_bound(conn)?;
    Ok(stored)
}

/// The trader's handle on the store.
pub struct Tracker {
    conn: Connection,
}

impl Tracker {
    /// Opens (and migrates) the existing database at `path`; a missing one is refused (bad
    /// input naming the path): `polyperf init` creates it.
    pub fn open(path: &Path) -> Result<Tracker> {
        Ok(Tracker {
            conn: crate::db::open(path)?,
        })
    }

    pub fn from_connection(conn: Connection) -> Tracker {
        Tracker { conn }
    }

    /// Stores one decision in its own transaction. Logging the same decision twice stores it once.
    pub fn log_decision(&mut self, decision: &Decision) -> Result<Logged> {
        decision
            .validate()
            .map_err(|e| crate::error::bad_input(e.to_string()))?;
        let tx = crate::db::write_tx(&mut self.conn)?;
        let logged = insert(&tx, decision)?;
        crate::outbox::enforce_bound(&tx)?;
        tx.commit()?;
        Ok(logged)
    }

    /// Stores many decisions in one transaction.
    pub fn log_batch(&mut self, decisions: &[Decision]) -> Result<LogReport> {
        let mut report = LogReport::default();
        let tx = crate::db::write_tx(&mut self.conn)?;
        for d in decisions {
            match insert(&tx, d)? {
                Logged::Stored(_) => report.stored += 1,
                Logged::Duplicate => report.duplicates += 1,
            }
        }
        crate::outbox::enforce_bound(&tx)?;
        tx.commit()?;
        Ok(report)
    }

    /// Reads one JSON object (possibly pretty-printed), a JSON array, or JSON Lines from
    /// `input` and stores them in one transaction. Any bad line stores nothing unless
    /// `skip_invalid`; the report names each bad line and field.
    pub fn log_reader(&mut self, input: impl BufRead, skip_invalid: bool) -> Result<LogReport> {
        let mut report = LogReport::default();
        let tx = crate::db::write_tx(&mut self.conn)?;
        let note = |report: &mut LogReport, line: usize, e: &FieldError| {
            report.invalid += 1;
            if report.errors.len() < 100 {
                report.errors.push(format!("line {line}: {e}"));
            }
        };
        let mut pending: Vec<Decision> = Vec::with_capacity(BATCH);
        let flush = |report: &mut LogReport, pending: &mut Vec<Decision>| -> Result<()> {
            let stored = insert_many(&tx, pending)?;
            report.stored += stored;
            report.duplicates += pending.len() as u64 - stored;
            pending.clear();
            Ok(())
        };
        for_each_document(input, |line_no, text| {
            match Decision::from_json(text) {
                Ok(d) if report.invalid == 0 || skip_invalid => {
                    pending.push(d);
                    if pending.len() == BATCH {
                        flush(&mut report, &mut pending)?;
                    }
                }
                Ok(_) => {}
                Err(e) => note(&mut report, line_no, &e),
            }
            Ok(())
        })?;
        flush(&mut report, &mut pending)?;
        if report.invalid > 0 && !skip_invalid {
            drop(tx); // rolls back: a batch with a bad line stores nothing
            report.stored = 0;
            report.duplicates = 0;
            return Ok(report);
        }
        tx.commit()?;
        Ok(report)
    }

    pub fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

/// Calls `each(line_number, text)` for every JSON document in `input`: JSON Lines, a single
/// (possibly multi-line) object, or a JSON array of objects. Blank lines are skipped.
fn for_each_document(
    mut input: impl BufRead,
    mut each: impl FnMut(usize, &str) -> Result<()>,
) -> Result<()> {
    let mut first = String::new();
    let mut line_no = 0usize;
    // Skip leading blank lines, then look at the first one.
    loop {
        first.clear();
        if input.read_line(&mut first).context("reading decisions")? == 0 {
            return Ok(());
        }
        line_no += 1;
        if !first.trim().is_empty() {
            break;
        }
    }
    let trimmed = first.trim();
    let complete_line =
        trimmed.starts_with('{') && serde_json::from_str::<&RawValue>(trimmed).is_ok();
    if !complete_line && (trimmed.starts_with('{') || trimmed.starts_with('[')) {
        // A pretty-printed object or an array: read the whole document.
        let start_line = line_no;
        let mut whole = first.clone();
        input
            .read_to_string(&mut whole)
            .context("reading decisions")?;
        if trimmed.starts_with('[') {
            let items: Vec<&RawValue> = match serde_json::from_str(&whole) {
                Ok(items) => items,
                Err(e) => return each(start_line, &format!("<invalid JSON array: {e}>")),
            };
            for (i, item) in items.iter().enumerate() {
                each(i + 1, item.get())?;
            }
            return Ok(());
        }
        return each(start_line, &whole);
    }
    each(line_no, trimmed)?;
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line).context("reading decisions")? == 0 {
            return Ok(());
        }
        line_no += 1;
        let text = line.trim();
        if !text.is_empty() {
            each(line_no, text)?;
        }
    }
}

impl FromStr for Decision {
    type Err = FieldError;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Decision::from_json(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"decision_id": "9b2f", "timestamp": "2026-02-11T10:30:00Z",
 "market_slug": "btc-updown-15m-1770828300", "market_id": 1362391,
 "action": "NO", "confidence": 1.0, "position_size": "5.00", "reasoning": "Bearish signals aligned",
 "btc_price": 66940.0, "price_to_beat": "66826.14", "time_remaining_seconds": 480, "is_end_phase": false,
 "social_score": -0.10, "market_score": -0.21, "final_score": -0.17, "final_confidence": 1.0,
 "signal_type": "STRONG_BEARISH", "rsi": 60.1, "macd": 1.74, "trend": "BULLISH",
 "yes_price": "0.51", "no_price": 0.50, "executed_price": "0.52"}"#;

    #[test]
    fn parses_the_spec_example_exactly() {
        let d = Decision::from_json(GOOD).unwrap();
        assert_eq!(d.action, Action::No);
        assert_eq!(d.position_size.to_string(), "5.00");
        assert_eq!(d.btc_price.to_string(), "66940.0");
        assert_eq!(d.price_to_beat.unwrap().to_string(), "66826.14");
        assert_eq!(d.no_price.unwrap().to_string(), "0.50");
        assert_eq!(d.key(), "9b2f");
        let (start, end) = d.window().unwrap();
        assert_eq!(to_db(start), "2026-02-11 16:45:00");
        assert_eq!((end - start).num_minutes(), 15);
    }

    fn rejects(change: (&str, &str), field: &str) {
        let mut v: serde_json::Value = serde_json::from_str(GOOD).unwrap();
        if change.1 == "<remove>" {
            v.as_object_mut().unwrap().remove(change.0);
        } else {
            v[change.0] = serde_json::from_str(change.1).unwrap();
        }
        let err = Decision::from_json(&v.to_string()).unwrap_err();
        assert_eq!(err.field, field, "{change:?} gave {err}");
    }

    #[test]
    fn rejects_bad_fields_naming_them() {
        rejects(("confidence", "1.5"), "confidence");
        rejects(("action", "\"BUY\""), "action");
        rejects(("position_size", "-1"), "position_size");
        rejects(("btc_price", "0"), "btc_price");
        rejects(("executed_price", "1.0"), "executed_price");
        rejects(("executed_price", "<remove>"), "executed_price");
        rejects(("timestamp", "\"yesterday\""), "timestamp");
        rejects(("market_slug", "<remove>"), "market_slug");
        rejects(("position_size", "\"five\""), "position_size");
        rejects(("market_slug", "42"), "market_slug");
        rejects(("liquidity", "\"both\""), "liquidity");
        rejects(("liquidity", "1"), "liquidity");
        rejects(("fee_paid", "-0.01"), "fee_paid");
        rejects(("fee_paid", "\"a lot\""), "fee_paid");
    }

    #[test]
    fn fill_facts_are_read_and_default_to_a_taker_without_a_logged_fee() {
        let d = Decision::from_json(GOOD).unwrap();
        assert_eq!((d.liquidity, d.fee_paid), (Liquidity::Taker, None));
        let mut v: serde_json::Value = serde_json::from_str(GOOD).unwrap();
        v["liquidity"] = "Maker".into();
        v["fee_paid"] = serde_json::json!(0.17472);
        let d = Decision::from_json(&v.to_string()).unwrap();
        assert_eq!(d.liquidity, Liquidity::Maker);
        assert_eq!(d.fee_paid, Some(Decimal::new(17472, 5)));
        v["fee_paid"] = "0".into();
        v["liquidity"] = serde_json::Value::Null;
        let d = Decision::from_json(&v.to_string()).unwrap();
        assert_eq!(
            (d.liquidity, d.fee_paid),
            (Liquidity::Taker, Some(Decimal::ZERO))
        );
    }

    #[test]
    fn more_places_than_a_column_keeps_are_refused_not_rounded() {
        // (field, value, accepted): money and share prices keep 6 places, BTC prices 8.
        let cases = [
            ("position_size", "\"5.123456\"", true),
            ("position_size", "\"5.1234567\"", false),
            ("position_size", "\"5.1234560\"", true),
            ("position_size", "999999999.999999", true),
            ("position_size", "1000000000", false),
            ("executed_price", "0.5234567", false),
            ("yes_price", "\"0.1234567\"", false),
            ("no_price", "0.123456", true),
            ("fee_paid", "0.0000001", false),
            ("fee_rate", "0.0725", true),
            ("btc_price", "\"66940.12345678\"", true),
            ("btc_price", "\"66940.123456789\"", false),
            ("btc_price", "10000000", false),
            ("price_to_beat", "66826.000000001", false),
        ];
        for (field, value, accepted) in cases {
            let mut v: serde_json::Value = serde_json::from_str(GOOD).unwrap();
            v[field] = serde_json::from_str(value).unwrap();
            match Decision::from_json(&v.to_string()) {
                Ok(_) => assert!(accepted, "{field} = {value} was accepted"),
                Err(e) => {
                    assert!(!accepted, "{field} = {value}: {e}");
                    assert_eq!(e.field, field, "{e}");
                }
            }
        }
    }

    proptest::proptest! {
        /// Whatever the fill fields hold, parsing answers (a decision or an error naming the
        /// field), never panics; valid ones come back exactly.
        #[test]
        fn fill_fields_parse_or_name_the_field(
            liquidity in proptest::prop_oneof![
                proptest::strategy::Just("taker".to_string()),
                proptest::strategy::Just("maker".to_string()),
                "\\PC{0,12}",
            ],
            fee_units in -1_000_000_000i64..1_000_000_000_000,
            fee_dp in 0u32..9,
        ) {
            let fee = Decimal::new(fee_units, fee_dp);
            let mut v: serde_json::Value = serde_json::from_str(GOOD).unwrap();
            v["liquidity"] = liquidity.clone().into();
            v["fee_paid"] = fee.to_string().into();
            match Decision::from_json(&v.to_string()) {
                Ok(d) => {
                    proptest::prop_assert_eq!(d.liquidity.as_str(), liquidity.to_ascii_lowercase());
                    proptest::prop_assert_eq!(d.fee_paid, Some(fee));
                    proptest::prop_assert!(Money::fits(fee) && fee >= Decimal::ZERO);
                }
                Err(e) => proptest::prop_assert!(
                    e.field == "liquidity" || e.field == "fee_paid",
                    "{}", e
                ),
            }
        }
    }

    #[test]
    fn multi_row_inserts_store_each_decision_once() {
        use chrono::TimeZone;
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::create(&dir.path().join("t.db")).unwrap();
        let start = Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap();
        let all: Vec<Decision> = crate::sim::decisions(&crate::sim::candles(start, 600, 1), 10, 3)
            .into_iter()
            .take(200)
            .collect();
        let tx = crate::db::write_tx(&mut conn).unwrap();
        assert_eq!(insert_many(&tx, &all[..100]).unwrap(), 100);
        // Again, plus a duplicate inside one batch: only the 100 new ones are stored.
        let mut again = all.clone();
        again.insert(150, all[149].clone());
        assert_eq!(insert_many(&tx, &again).unwrap(), 100);
        tx.commit().unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM trades", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 200);
        let stored: Money = conn
            .query_row("SELECT position_size FROM trades WHERE id = 7", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(stored.0, all[6].position_size);
    }

    #[test]
    fn derived_key_is_stable() {
        let mut v: serde_json::Value = serde_json::from_str(GOOD).unwrap();
        v.as_object_mut().unwrap().remove("decision_id");
        let a = Decision::from_json(&v.to_string()).unwrap();
        let b = Decision::from_json(&v.to_string()).unwrap();
        assert!(a.key().starts_with("auto-"));
        assert_eq!(a.key(), b.key());
    }
}
