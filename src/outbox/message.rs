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

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{Engine, Notice};
use crate::kinds::{Action, Method, Outcome, Trigger};

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
/// Money is a JSON number (text in rows queued before migration 0002): either reads, and a
/// value that is neither reads as unknown.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TradeAlert {
    pub trade_id: i64,
    pub decision_id: String,
    #[serde(with = "crate::time::stored::option")]
    pub timestamp: Option<DateTime<Utc>>,
    pub market_slug: String,
    pub action: Option<Action>,
    #[serde(with = "number_or_text::float")]
    pub confidence: Option<f64>,
    #[serde(with = "number_or_text::decimal")]
    pub position_size: Option<Decimal>,
    #[serde(with = "number_or_text::decimal")]
    pub executed_price: Option<Decimal>,
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
    pub action: Action,
    pub outcome: Outcome,
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
    /// The oldest unsettled window.
    #[serde(with = "crate::time::stored::option")]
    pub oldest_window_start: Option<DateTime<Utc>>,
    #[serde(with = "crate::time::stored::option")]
    pub oldest_window_end: Option<DateTime<Utc>>,
    /// One line per source that failed the last run (`Gamma: …`, `Binance: …`).
    pub causes: Vec<String>,
    /// When the figures were taken.
    #[serde(with = "crate::time::stored")]
    pub at: DateTime<Utc>,
    /// The lag is over: every decision it counted has settled.
    pub cleared: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub market_slug: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "crate::time::stored::option"
    )]
    pub market_end: Option<DateTime<Utc>>,
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

/// `disagreement`: the two outcomes (none in a row that lacks one); prices in USD.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SourcesDisagree {
    pub market_slug: String,
    pub official_outcome: Option<Outcome>,
    pub price_outcome: Option<Outcome>,
    pub start_price: Decimal,
    pub end_price: Decimal,
    pub trades_corrected: u64,
}

/// `insights`: a reflection's findings and the proposals it made.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReflectionNote {
    pub reflection_id: i64,
    /// The triggers that fired (rows queued before the list hold them comma-separated in one
    /// string, which still reads).
    #[serde(deserialize_with = "triggers_listed_or_joined")]
    pub trigger: Vec<Trigger>,
    pub engine: Engine,
    pub insights: Vec<String>,
    pub recommendations: Vec<RecommendedChange>,
    pub proposal_ids: Vec<i64>,
}

/// One change a reflection recommends, as its note says it (the analysis's own recommendation,
/// which the reflection validated, in the message's words).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecommendedChange {
    pub parameter: String,
    /// What the analysis believed the value is.
    pub current: Decimal,
    pub recommended: Decimal,
    pub reason: String,
    /// The tier the analysis suggests; the adjuster decides the real one.
    pub tier: Option<i64>,
    pub expected_impact: Option<String>,
}

/// The triggers of a reflection note: a list of words, or (rows queued before the list) one
/// comma-separated string of them.
fn triggers_listed_or_joined<'de, D>(d: D) -> Result<Vec<Trigger>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Triggers {
        Listed(Vec<Trigger>),
        Joined(String),
    }
    match Triggers::deserialize(d)? {
        Triggers::Listed(list) => Ok(list),
        Triggers::Joined(text) => text
            .split(',')
            .map(str::trim)
            .filter(|word| !word.is_empty())
            .map(|word| word.parse().map_err(serde::de::Error::custom))
            .collect(),
    }
}

/// `approval`: a tier-2 proposal waiting for a human; `nonce` makes its buttons its own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApprovalRequest {
    pub proposal_id: i64,
    pub nonce: String,
    pub parameter: String,
    /// The live value and the proposed one (none in a row that lacks them).
    pub current: Option<Decimal>,
    pub proposed: Option<Decimal>,
    pub reason: Option<String>,
    pub expected_impact: Option<String>,
    pub tier: i64,
    #[serde(with = "crate::time::stored::option")]
    pub expires_at: Option<DateTime<Utc>>,
    pub rollback_of: Option<i64>,
    /// The replay in figures (None in rows queued before it, and for rollback proposals).
    pub replay: Option<ReplayFigures>,
    /// Rows queued before [`ApprovalRequest::replay`] carried the proposal's replay evidence
    /// as raw JSON (`evidence`); only its one-line summary is read, and shown in place of the
    /// figures. Never written.
    #[serde(
        rename = "evidence",
        skip_serializing,
        deserialize_with = "summary_of_evidence"
    )]
    pub legacy_summary: Option<String>,
}

/// The `summary` of an old approval row's raw `evidence`, whatever else it holds (or null).
fn summary_of_evidence<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Object(mut evidence) => match evidence.remove("summary") {
            Some(Value::String(summary)) => Some(summary),
            _ => None,
        },
        _ => None,
    })
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
    /// What the parameter held: none when it was not a number (a hand edit this change
    /// repairs; its history row keeps the text), or in a row that lacks it.
    pub old: Option<Decimal>,
    pub new: Option<Decimal>,
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
    /// The guard's figures as `trading_control.figures` keeps them (never shown).
    pub figures: Option<Value>,
    pub by: String,
    #[serde(with = "crate::time::stored")]
    pub since: DateTime<Utc>,
}

/// `resume`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResumeNote {
    pub by: String,
    pub reason: String,
    #[serde(with = "crate::time::stored")]
    pub at: DateTime<Utc>,
}

/// `disk`: cleanup's figures when free space was short.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DiskReport {
    pub level: DiskLevel,
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

/// How short free space is, in a [`DiskReport`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiskLevel {
    /// Under the warning level, above the emergency threshold.
    #[default]
    Warning,
    /// Still under the emergency threshold after the emergency sequence.
    Critical,
    /// The emergency sequence freed enough.
    Recovered,
}

impl DiskLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            DiskLevel::Warning => "warning",
            DiskLevel::Critical => "critical",
            DiskLevel::Recovered => "recovered",
        }
    }
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

/// Numbers of the retired trade alert, which rows hold as JSON numbers or as text: either
/// reads; anything else (or a number no Decimal holds) reads as unknown, never an error.
mod number_or_text {
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    fn text_of<'de>(d: impl Deserializer<'de>) -> Option<String> {
        match Option::<Value>::deserialize(d).ok()?? {
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) => Some(s.trim().to_string()),
            _ => None,
        }
    }

    pub mod decimal {
        use rust_decimal::Decimal;
        use serde::{Deserializer, Serializer};

        pub fn serialize<S: Serializer>(d: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => s.serialize_str(&d.to_string()),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
            Ok(super::text_of(d).and_then(|t| {
                t.parse::<Decimal>()
                    .ok()
                    .or_else(|| Decimal::from_scientific(&t).ok())
            }))
        }
    }

    pub mod float {
        use serde::{Deserializer, Serializer};

        pub fn serialize<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
            match x {
                Some(x) if x.is_finite() => s.serialize_f64(*x),
                _ => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
            Ok(super::text_of(d)
                .and_then(|t| t.parse::<f64>().ok())
                .filter(|x| x.is_finite()))
        }
    }
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
            old: Some(Decimal::new(60, 2)),
            new: Some(Decimal::new(62, 2)),
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
            current: Some(Decimal::new(60, 2)),
            proposed: Some(Decimal::new(62, 2)),
            tier: 2,
            expires_at: crate::time::from_db("2026-02-11 18:00:00").ok(),
            legacy_summary: Some("read from an old row, never written".into()),
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
            "expires_at",
            "rollback_of",
            "replay",
        ] {
            assert!(payload.get(key).is_some(), "{key}: {payload}");
        }
        // Values as they always read: decimals as their exact text, times as stored; and no
        // raw evidence JSON in a new row.
        assert_eq!(payload["current"], json!("0.60"));
        assert_eq!(payload["proposed"], json!("0.62"));
        assert_eq!(payload["expires_at"], json!("2026-02-11 18:00:00"));
        assert!(payload.get("evidence").is_none(), "{payload}");
        let disk = Message::Disk(DiskReport {
            level: DiskLevel::Recovered,
            ..DiskReport::default()
        });
        assert_eq!(disk.payload()["level"], json!("recovered"));
        let note = Message::Insights(ReflectionNote {
            trigger: vec![Trigger::Losses, Trigger::EndOfDay],
            ..ReflectionNote::default()
        });
        assert_eq!(note.payload()["trigger"], json!(["3_losses", "end_of_day"]));
        assert_eq!(
            Message::Dropped(BTreeMap::from([("trade".to_string(), 604)])).payload(),
            json!({"trade": 604})
        );
        assert_eq!(Message::text("hi").payload(), json!({"text": "hi"}));
    }

    /// Rows queued by older versions read into today's types: times as stored, values and
    /// outcomes as text, triggers comma-joined, the approval's raw evidence (its summary kept),
    /// a trade alert's numbers as numbers or text.
    #[test]
    fn rows_queued_by_older_versions_read_as_typed_messages() {
        let t = |s: &str| crate::time::from_db(s).unwrap();
        let approval = json!({"proposal_id": 3, "nonce": "ab", "parameter": "bot_confidence_threshold",
            "current": "0.75", "proposed": "0.80", "tier": 2, "expires_at": "2026-02-11 18:00:00",
            "evidence": {"summary": "Replay: +4.00 USDC", "rows": [1, 2]}, "rollback_of": null});
        let Message::Approval(a) = Message::from_row("approval", &approval).unwrap() else {
            panic!("not an approval")
        };
        assert_eq!(a.current, Some(Decimal::new(75, 2)));
        assert_eq!(a.proposed, Some(Decimal::new(80, 2)));
        assert_eq!(a.expires_at, Some(t("2026-02-11 18:00:00")));
        assert_eq!(a.legacy_summary.as_deref(), Some("Replay: +4.00 USDC"));
        let lag = json!({"unsettled": 3, "lag_hours": 1, "oldest_window_start": "2026-02-11 10:15:00",
            "oldest_window_end": "2026-02-11T10:30:00Z", "at": "2026-02-11 12:00:00"});
        let Message::SettlementLag(lag) = Message::from_row("settlement_lag", &lag).unwrap() else {
            panic!("not a lag")
        };
        assert_eq!(lag.oldest_window_start, Some(t("2026-02-11 10:15:00")));
        assert_eq!(lag.oldest_window_end, Some(t("2026-02-11 10:30:00")));
        assert_eq!(lag.at, t("2026-02-11 12:00:00"));
        let note = json!({"reflection_id": 1, "trigger": "3_losses, end_of_day", "engine": "rules",
            "recommendations": [{"parameter": "p", "current": "0.60", "recommended": "0.65",
                                 "reason": "r", "tier": 1, "expected_impact": null}]});
        let Message::Insights(note) = Message::from_row("insights", &note).unwrap() else {
            panic!("not a note")
        };
        assert_eq!(note.trigger, [Trigger::Losses, Trigger::EndOfDay]);
        assert_eq!(note.recommendations[0].recommended, Decimal::new(65, 2));
        let disk = Message::from_row("disk", &json!({"level": "critical"})).unwrap();
        assert!(matches!(disk, Message::Disk(d) if d.level == DiskLevel::Critical));
        let change = json!({"history_id": 2, "parameter": "p", "old": "0.60", "new": "0.62", "method": "cli"});
        let Message::Applied(change) = Message::from_row("applied", &change).unwrap() else {
            panic!("not a change")
        };
        assert_eq!(
            (change.old, change.new),
            (Some(Decimal::new(60, 2)), Some(Decimal::new(62, 2)))
        );
        let settled = json!({"wins": 1, "largest": [{"decision_id": "d", "market_slug": "m",
            "action": "YES", "outcome": "50-50", "profit_loss": "-0.10"}]});
        let Message::Settlement(s) = Message::from_row("settlement", &settled).unwrap() else {
            panic!("not a settlement")
        };
        assert_eq!(
            (s.largest[0].action, s.largest[0].outcome),
            (Action::Yes, Outcome::Split)
        );
        for (number, text) in [
            (json!(5.0), "5.0"),
            (json!("5.00"), "5.00"),
            (json!("x"), ""),
        ] {
            let row = json!({"action": "YES", "position_size": number, "executed_price": 0.52,
                             "confidence": "0.7", "timestamp": "2026-02-11 10:30:00"});
            let Message::Trade(alert) = Message::from_row("trade", &row).unwrap() else {
                panic!("not a trade")
            };
            let shown = alert
                .position_size
                .map(|d| d.to_string())
                .unwrap_or_default();
            assert_eq!(shown, text);
            assert_eq!(alert.executed_price, Some(Decimal::new(52, 2)));
            assert_eq!(alert.confidence, Some(0.7));
            assert_eq!(alert.timestamp, Some(t("2026-02-11 10:30:00")));
        }
        // A word this version does not know still sends the row to the field-by-field view.
        assert!(Message::from_row("insights", &json!({"trigger": "5_losses"})).is_err());
        assert!(Message::from_row("disk", &json!({"level": "dire"})).is_err());
    }

    proptest::proptest! {
        /// A retired trade alert's numbers, whatever an old row holds, read without panicking:
        /// a decimal as itself, anything else as unknown.
        #[test]
        fn any_trade_alert_number_reads(text in "\\PC{0,30}", units in proptest::num::i64::ANY, scale in 0u32..10) {
            let exact = Decimal::new(units, scale);
            let row = json!({"position_size": text, "executed_price": exact.to_string(), "confidence": text});
            let Ok(Message::Trade(alert)) = Message::from_row("trade", &row) else {
                return Err(proptest::test_runner::TestCaseError::fail("an alert did not read"));
            };
            proptest::prop_assert_eq!(alert.executed_price, Some(exact));
            proptest::prop_assert_eq!(alert.position_size, text.trim().parse::<Decimal>().ok().or_else(|| Decimal::from_scientific(text.trim()).ok()));
        }
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
