//! The messages of the outbox: one enum, tagged by `kind`, shared by every producer and by
//! `telegram::render`, so a field renamed on one side is a compile error on the other, not a
//! "-" on a phone. A row keeps the shape it always had: the `kind` column holds the tag, the
//! `payload` column the rest of the object ([`Message::payload`], [`Message::from_row`]).
//!
//! Reading is lenient, because rows outlive the code that wrote them: a field a row lacks reads
//! as empty (each payload struct is `#[serde(default)]`), and a row that still does not read
//! (a kind this version does not know, a field of another type) is shown field by field by the
//! renderer. Nested items (a settlement's largest results, a reflection's recommendations) are
//! strict: an item that is not what it should be sends the whole row to that fallback.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{Engine, Notice};
use crate::kinds::Method;
use crate::reflect::answer::Recommendation;

/// One message, as producers queue it and the sender renders it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Message {
    /// A fresh YES/NO decision, as the `trades_trade_alert` trigger queued it before migration
    /// 0006 dropped it (new trades are read from `trades` by `telegram::feed`); rows still
    /// waiting in an older database are delivered.
    Trade(TradeAlert),
    /// What a settlement run did.
    Settlement(SettlementSummary),
    /// Decisions still unsettled long after their window: one alert for all of them, repeated
    /// at an interval, and a line when the lag clears.
    SettlementLag(SettlementLag),
    /// The price fallback's source refuses this host or a symbol (or answers again).
    PriceSource(PriceSourceNote),
    /// The official result and the price result of a market differ.
    Disagreement(SourcesDisagree),
    /// A stored reflection.
    Insights(ReflectionNote),
    /// A tier-2 change waiting for a human (Approve / Reject buttons).
    Approval(ApprovalRequest),
    /// A parameter changed.
    Applied(ParameterChange),
    /// A parameter went back to an earlier value.
    Rollback(ParameterChange),
    /// Trading paused.
    Pause(PauseNote),
    /// Trading resumed.
    Resume(ResumeNote),
    /// Free disk space under a threshold, or back above it.
    Disk(DiskReport),
    /// A systemd unit failed (`polyperf alert`).
    JobFailure(JobFailure),
    /// A sentence.
    Text(Text),
    /// How many waiting messages of each kind were dropped to keep the outbox bounded.
    Dropped(BTreeMap<String, u64>),
}

/// The `kind` column: which [`Message`] a row holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Trade,
    Settlement,
    SettlementLag,
    PriceSource,
    Disagreement,
    Insights,
    Approval,
    Applied,
    Rollback,
    Pause,
    Resume,
    Disk,
    JobFailure,
    Text,
    Dropped,
}

impl Kind {
    /// The word in the `kind` column (the same as the enum's serde name: a test holds them
    /// together).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Trade => "trade",
            Kind::Settlement => "settlement",
            Kind::SettlementLag => "settlement_lag",
            Kind::PriceSource => "price_source",
            Kind::Disagreement => "disagreement",
            Kind::Insights => "insights",
            Kind::Approval => "approval",
            Kind::Applied => "applied",
            Kind::Rollback => "rollback",
            Kind::Pause => "pause",
            Kind::Resume => "resume",
            Kind::Disk => "disk",
            Kind::JobFailure => "job_failure",
            Kind::Text => "text",
            Kind::Dropped => "dropped",
        }
    }

    /// The `[telegram.notify]` key that says whether (and how loudly) messages of this kind
    /// go out.
    pub fn notice(self) -> Notice {
        match self {
            Kind::Trade => Notice::Trade,
            Kind::Settlement => Notice::Settlement,
            Kind::Insights => Notice::Reflection,
            Kind::Approval | Kind::Applied | Kind::Rollback => Notice::Approval,
            Kind::SettlementLag
            | Kind::PriceSource
            | Kind::Disagreement
            | Kind::Pause
            | Kind::Resume
            | Kind::Disk
            | Kind::JobFailure
            | Kind::Text
            | Kind::Dropped => Notice::Alert,
        }
    }

    /// The kind a `kind` column names, if this version knows it.
    pub fn of_column(text: &str) -> Option<Kind> {
        crate::config::from_word(text).ok()
    }
}

impl Message {
    pub fn kind(&self) -> Kind {
        match self {
            Message::Trade(_) => Kind::Trade,
            Message::Settlement(_) => Kind::Settlement,
            Message::SettlementLag(_) => Kind::SettlementLag,
            Message::PriceSource(_) => Kind::PriceSource,
            Message::Disagreement(_) => Kind::Disagreement,
            Message::Insights(_) => Kind::Insights,
            Message::Approval(_) => Kind::Approval,
            Message::Applied(_) => Kind::Applied,
            Message::Rollback(_) => Kind::Rollback,
            Message::Pause(_) => Kind::Pause,
            Message::Resume(_) => Kind::Resume,
            Message::Disk(_) => Kind::Disk,
            Message::JobFailure(_) => Kind::JobFailure,
            Message::Text(_) => Kind::Text,
            Message::Dropped(_) => Kind::Dropped,
        }
    }

    /// A sentence as a message.
    pub fn text(text: impl Into<String>) -> Message {
        Message::Text(Text { text: text.into() })
    }

    /// The `payload` column: the message without its `kind`.
    pub fn payload(&self) -> Value {
        // Serializing these types cannot fail: string keys, no non-finite floats from serde.
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut value {
            map.remove("kind");
        }
        value
    }

    /// The message a row holds, from its `kind` and `payload` columns.
    pub fn from_row(kind: &str, payload: &Value) -> Result<Message, serde_json::Error> {
        let Value::Object(object) = payload else {
            return Err(serde::de::Error::custom("the payload is not a JSON object"));
        };
        let mut object = object.clone();
        object.insert("kind".into(), Value::String(kind.to_string()));
        serde_json::from_value(Value::Object(object))
    }
}

/// `trade`: the retired trigger's `json_object` of a new `trades` row (see [`Message::Trade`]).
/// Money is a JSON number (text in rows queued before migration 0002).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TradeAlert {
    pub trade_id: i64,
    pub decision_id: String,
    pub timestamp: String,
    pub market_slug: String,
    pub action: String,
    pub confidence: Value,
    pub position_size: Value,
    pub executed_price: Value,
    pub signal_type: Option<String>,
}

/// `settlement`: the run's counts and its largest results.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SettlementSummary {
    pub settled: u64,
    pub wins: u64,
    pub losses: u64,
    pub holds_scored: u64,
    pub missed_opportunities: u64,
    pub unsettleable: u64,
    pub corrected: u64,
    pub disagreements: u64,
    /// Positions on markets resolved 50-50 (neither wins nor losses; their P&L is in `profit`).
    pub fifty_fifty: u64,
    /// Sum of the P&L settled by the run (USDC).
    pub profit: Decimal,
    pub largest: Vec<SettledResult>,
}

/// One of a settlement summary's largest results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettledResult {
    pub decision_id: String,
    pub market_slug: String,
    pub action: String,
    /// `UP` or `DOWN`.
    pub outcome: String,
    pub profit_loss: Decimal,
}

/// `settlement_lag`: how many decisions are still unsettled `lag_hours` after their window
/// ended, the oldest such window, and what the last run knew of why ("Gamma: connection
/// refused"); with `cleared`, the line that says they settled. Rows queued before issue 23 named
/// one decision each (`decision_id`, `market_slug`, `market_end`); they still read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SettlementLag {
    pub unsettled: u64,
    pub lag_hours: u32,
    /// The oldest unsettled window (stored times, UTC).
    pub oldest_window_start: Option<String>,
    pub oldest_window_end: Option<String>,
    /// One line per source that failed the last run (`Gamma: …`, `Binance: …`).
    pub causes: Vec<String>,
    /// When the figures were taken (stored time, UTC).
    pub at: String,
    /// The lag is over: every decision it counted has settled.
    pub cleared: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub market_slug: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub market_end: Option<String>,
}

/// `price_source`: the price fallback's host refuses this host (`symbol` None: HTTP 451 or 403,
/// for every symbol) or one symbol (HTTP 400), and decisions that need a price wait for the
/// official result; or (`refused` false) it answers again.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PriceSourceNote {
    pub source: String,
    pub symbol: Option<String>,
    pub refused: bool,
    /// What the host said (`HTTP 451: Service unavailable from a restricted location…`).
    pub detail: String,
}

/// `disagreement`: outcomes are `UP` / `DOWN`; prices in USD.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SourcesDisagree {
    pub market_slug: String,
    pub official_outcome: String,
    pub price_outcome: String,
    pub start_price: Decimal,
    pub end_price: Decimal,
    pub trades_corrected: u64,
}

/// `insights`: a reflection's findings and the proposals it made.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReflectionNote {
    pub reflection_id: i64,
    /// The triggers that fired, comma-separated.
    pub trigger: String,
    pub engine: Engine,
    pub insights: Vec<String>,
    pub recommendations: Vec<Recommendation>,
    pub proposal_ids: Vec<i64>,
}

/// `approval`: a tier-2 proposal waiting for a human; `nonce` makes its buttons its own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApprovalRequest {
    pub proposal_id: i64,
    pub nonce: String,
    pub parameter: String,
    pub current: String,
    pub proposed: String,
    pub reason: Option<String>,
    pub expected_impact: Option<String>,
    pub tier: i64,
    /// The replay evidence as stored with the proposal (null when there is none); kept for
    /// the record, never shown: [`ApprovalRequest::replay`] is what a person reads.
    pub evidence: Value,
    pub expires_at: String,
    pub rollback_of: Option<i64>,
    /// The replay in figures (None in rows queued before it, and for rollback proposals).
    pub replay: Option<ReplayFigures>,
}

/// What the adjuster's replay says of a change, against keeping the current value: the
/// figures of the approval message's replay line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReplayFigures {
    /// The window replayed, in days.
    pub days: u32,
    /// Whether the replay can judge the change at all, and why not when it cannot.
    pub judgeable: bool,
    pub why_not: Option<String>,
    /// P&L with the proposed value minus P&L keeping the current one (USDC, exact).
    pub difference: Decimal,
    /// Trades and win rate keeping the current value, and with the proposed one.
    pub trades_keeping: u64,
    pub trades_proposed: u64,
    pub win_rate_keeping: Option<f64>,
    pub win_rate_proposed: Option<f64>,
}

impl ReplayFigures {
    /// The replay says the change would have lost money, or cannot judge it: approving it is
    /// a human's call against (or without) the evidence.
    pub fn against(&self) -> bool {
        !self.judgeable || self.difference < Decimal::ZERO
    }
}

/// `applied` and `rollback`: one `parameter_history` row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ParameterChange {
    pub history_id: i64,
    pub parameter: String,
    pub old: String,
    pub new: String,
    pub reason: String,
    /// `None` only in a row without one (written by hand).
    pub method: Option<Method>,
    pub proposal_id: Option<i64>,
    pub by: String,
}

/// `pause`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PauseNote {
    pub reason: String,
    /// The tier-3 rule that fired; `None` for a human's pause.
    pub rule: Option<String>,
    pub figures: Option<Value>,
    pub by: String,
    pub since: String,
}

/// `resume`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResumeNote {
    pub by: String,
    pub reason: String,
    pub at: String,
}

/// `disk`: cleanup's figures when free space was short.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DiskReport {
    /// `critical` (still short), `recovered` (the emergency sequence freed enough) or `warning`.
    pub level: String,
    pub summary: String,
    pub free_bytes_before: u64,
    pub free_bytes_after: u64,
    pub free_percent_before: f64,
    pub free_percent_after: f64,
    pub steps: Vec<String>,
    pub pruned_rows: u64,
    pub archived_rows: u64,
    pub offloaded_files: u64,
    pub db_bytes: u64,
    pub wal_bytes: u64,
    pub archive_bytes: u64,
    pub step_errors: Vec<String>,
}

/// `job_failure`: what systemd said of a failed unit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobFailure {
    pub unit: String,
    pub result: Option<String>,
    pub exit_status: Option<String>,
    pub host: Option<String>,
}

/// `text`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Text {
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// One message of every kind, as a producer writes it.
    fn one_of_each() -> Vec<Message> {
        let change = ParameterChange {
            history_id: 3,
            parameter: "bot_confidence_threshold".into(),
            old: "0.60".into(),
            new: "0.62".into(),
            reason: "r".into(),
            method: Some(Method::Auto),
            proposal_id: Some(1),
            by: "adjust".into(),
        };
        vec![
            Message::Trade(TradeAlert::default()),
            Message::Settlement(SettlementSummary::default()),
            Message::SettlementLag(SettlementLag::default()),
            Message::PriceSource(PriceSourceNote::default()),
            Message::Disagreement(SourcesDisagree::default()),
            Message::Insights(ReflectionNote::default()),
            Message::Approval(ApprovalRequest::default()),
            Message::Applied(change.clone()),
            Message::Rollback(change),
            Message::Pause(PauseNote::default()),
            Message::Resume(ResumeNote::default()),
            Message::Disk(DiskReport::default()),
            Message::JobFailure(JobFailure::default()),
            Message::text("hello"),
            Message::Dropped(BTreeMap::from([("trade".to_string(), 3)])),
        ]
    }

    #[test]
    fn every_kind_round_trips_through_its_row_under_its_column_word() {
        for message in one_of_each() {
            let kind = message.kind();
            let tag = serde_json::to_value(&message).unwrap()["kind"].clone();
            assert_eq!(tag, json!(kind.as_str()), "{kind:?}");
            assert_eq!(Kind::of_column(kind.as_str()), Some(kind));
            let payload = message.payload();
            assert!(payload.get("kind").is_none(), "{kind:?}: {payload}");
            assert_eq!(Message::from_row(kind.as_str(), &payload).unwrap(), message);
        }
    }

    #[test]
    fn payloads_keep_their_shape() {
        let approval = Message::Approval(ApprovalRequest {
            proposal_id: 7,
            nonce: "n".into(),
            tier: 2,
            ..ApprovalRequest::default()
        });
        let payload = approval.payload();
        for key in [
            "proposal_id",
            "nonce",
            "parameter",
            "current",
            "proposed",
            "reason",
            "expected_impact",
            "tier",
            "evidence",
            "expires_at",
            "rollback_of",
            "replay",
        ] {
            assert!(payload.get(key).is_some(), "{key}: {payload}");
        }
        assert_eq!(
            Message::Dropped(BTreeMap::from([("trade".to_string(), 604)])).payload(),
            json!({"trade": 604})
        );
        assert_eq!(Message::text("hi").payload(), json!({"text": "hi"}));
    }

    #[test]
    fn rows_missing_fields_still_read_and_strangers_do_not() {
        let m = Message::from_row("approval", &json!({"proposal_id": 1})).unwrap();
        assert!(matches!(m, Message::Approval(a) if a.proposal_id == 1 && a.nonce.is_empty()));
        assert!(Message::from_row("mystery", &json!({})).is_err());
        assert!(Message::from_row("text", &json!("not an object")).is_err());
        assert!(Message::from_row("settlement", &json!({"largest": [{"slug": "x"}]})).is_err());
    }

    /// Since migration 0006 a decision queues nothing: trade alerts are read from `trades`.
    #[test]
    fn a_decision_queues_no_outbox_row() {
        use chrono::TimeZone;
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::create(&dir.path().join("t.db")).unwrap();
        let start = chrono::Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap();
        let candles = crate::sim::candles(start, 60, 1);
        let decisions = crate::sim::decisions(&candles, 3, 1);
        assert!(decisions.iter().any(|d| d.action != crate::Action::Hold));
        let tx = crate::db::write_tx(&mut conn).unwrap();
        crate::trades::insert_many(&tx, &decisions).unwrap();
        tx.commit().unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }
}
