//! What an archive file must hold to be read back: a header that agrees with the table and week
//! its file name gives, rows inside that week, and, for rows this database did not write, values
//! that pass the same validation as a logged decision plus the settlement columns' rules. Pure
//! checks on parsed values: no I/O. Every value read from a row goes through [`RowValues`], the
//! one place that knows how columns are stored (decimal text today; REAL money columns would
//! change only its `money`).

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use rusqlite::types::Value as SqlValue;
use rust_decimal::Decimal;

use super::format::Header;
use super::tables::{Table, TableKind, Week};
use crate::decision::{Decision, FieldError};
use crate::kinds::{Action, Outcome};

/// Largest amount of money (USDC) or price a restored row may hold, either sign.
const MAX_MONEY: Decimal = Decimal::from_parts(0xD4A5_1000, 0xE8, 0, false, 0); // 10^12

/// Restored times lie in these years (as every time polyperf writes).
const YEARS: std::ops::RangeInclusive<i32> = 2020..=2100;

fn field_err(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_string(),
        message: message.into(),
    }
}

impl Week {
    /// The week of a label `2026-W07`; None when it is not one.
    pub(super) fn from_label(label: &str) -> Option<Week> {
        let (year, week) = label.split_once("-W")?;
        if year.len() != 4 || week.len() != 2 {
            return None;
        }
        let monday =
            NaiveDate::from_isoywd_opt(year.parse().ok()?, week.parse().ok()?, Weekday::Mon)?;
        let week = Week::of(monday.and_hms_opt(0, 0, 0)?.and_utc());
        (week.label == label).then_some(week)
    }
}

/// Where the rows of one file must lie: in the week its header names, on the table's time
/// column (compared as stored text, which sorts as time).
pub(super) struct RowBounds {
    time_index: usize,
    time_col: &'static str,
    week: Option<Week>,
}

/// Checks a header against its table and the name of its file (`named`: the table and week the
/// file name gives, if it follows the archive's naming), and the table's columns here. Returns
/// where the rows must lie.
pub(super) fn header_bounds(
    header: &Header,
    t: &'static Table,
    named: Option<(&str, &str)>,
    table_columns: &[String],
) -> Result<RowBounds, FieldError> {
    if let Some((table, week)) = named {
        if table != header.table {
            return Err(field_err(
                "table",
                format!(
                    "the header is for table {}, the file name says {table}",
                    header.table
                ),
            ));
        }
        if header.iso_week.as_deref().is_some_and(|w| w != week) {
            return Err(field_err(
                "iso_week",
                format!(
                    "the header names week {}, the file name says {week}",
                    header.iso_week.as_deref().unwrap_or_default()
                ),
            ));
        }
    }
    let week = match header.iso_week.as_deref() {
        None => None,
        Some(label) => Some(
            Week::from_label(label)
                .ok_or_else(|| field_err("iso_week", format!("{label:?} is not an ISO week")))?,
        ),
    };
    if let Some(c) = header.columns.iter().find(|c| !table_columns.contains(c)) {
        return Err(field_err(
            "columns",
            format!("table {} has no column {c}", header.table),
        ));
    }
    let time_index = header
        .columns
        .iter()
        .position(|c| c == t.time_col)
        .ok_or_else(|| field_err("columns", format!("the header lacks column {}", t.time_col)))?;
    Ok(RowBounds {
        time_index,
        time_col: t.time_col,
        week,
    })
}

impl RowBounds {
    /// The row's time lies in the header's week.
    pub(super) fn check(&self, values: &[SqlValue]) -> Result<(), FieldError> {
        let Some(week) = &self.week else {
            return Ok(());
        };
        match &values[self.time_index] {
            SqlValue::Text(t)
                if t.as_str() >= week.start.as_str() && t.as_str() < week.end.as_str() =>
            {
                Ok(())
            }
            other => Err(field_err(
                self.time_col,
                format!(
                    "{} is outside week {} that the header names",
                    show(other),
                    week.label
                ),
            )),
        }
    }
}

/// A value as an error message shows it.
pub(super) fn show(value: &SqlValue) -> String {
    let text = match value {
        SqlValue::Null => "null".to_string(),
        SqlValue::Integer(v) => v.to_string(),
        SqlValue::Real(v) => v.to_string(),
        SqlValue::Text(t) => format!("{t:?}"),
        SqlValue::Blob(_) => "a blob".to_string(),
    };
    let mut short: String = text.chars().take(60).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

/// The checks of the rows of a file this database did not write: every value a logged decision
/// and its settlement may hold (trades), or a finished outbox row / job run. Built once per file
/// (it knows where each column is).
pub(super) struct ForeignRows {
    kind: TableKind,
    at: HashMap<String, usize>,
}

impl ForeignRows {
    pub(super) fn new(t: &Table, columns: &[String]) -> ForeignRows {
        ForeignRows {
            kind: t.kind,
            at: columns
                .iter()
                .enumerate()
                .map(|(i, c)| (c.clone(), i))
                .collect(),
        }
    }

    /// Checks one row. `line` is its JSON text (a trade is parsed as a decision from it, so the
    /// decision log's own rules apply).
    pub(super) fn check(&self, values: &[SqlValue], line: &str) -> Result<(), FieldError> {
        let row = RowValues {
            at: &self.at,
            values,
        };
        match self.kind {
            TableKind::Trades => trade(&row, line),
            TableKind::Outbox => outbox_row(&row),
            TableKind::JobRuns => job_run(&row),
        }
    }
}

fn trade(row: &RowValues<'_>, line: &str) -> Result<(), FieldError> {
    // The decision's own columns, by the decision log's rules (SPEC §2).
    let decision = Decision::from_json(line)?;
    if decision.decision_id.is_none() {
        return Err(field_err("decision_id", "is required"));
    }
    for column in [
        "timestamp",
        "market_start",
        "market_end",
        "settled_at",
        "lag_alerted_at",
        "created_at",
    ] {
        row.time(column)?;
    }
    // Money and prices: exact decimals in range.
    for column in [
        "position_size",
        "btc_price",
        "price_to_beat",
        "yes_price",
        "no_price",
        "executed_price",
        "fee_rate",
        "profit_loss",
        "fee",
        "fee_rate_used",
        "fee_exponent_used",
        "payout",
        "end_price",
        "start_price",
    ] {
        row.money(column)?;
    }
    // Settlement (SPEC §3): archives hold finished rows only; a settled trade has its outcome,
    // a settled YES/NO its win flag and P&L; nothing else has a win flag.
    let status = row.required_text("settlement_status")?;
    let settled = match status {
        "settled" => true,
        "unsettleable" => false,
        other => {
            return Err(field_err(
                "settlement_status",
                format!(
                    "{other:?} is not settled or unsettleable (archives hold finished rows only)"
                ),
            ))
        }
    };
    let outcome = row.text("actual_outcome")?;
    let source = row.text("settlement_source")?;
    // A market resolved 50-50 (only the official source gives one) is settled without an
    // outcome, and its YES/NO without a win flag.
    let fifty_fifty = settled && outcome.is_none() && source == Some("gamma");
    let up_or_down = matches!(
        outcome.map(Outcome::parse),
        None | Some(Some(Outcome::Up | Outcome::Down))
    );
    if !up_or_down || (settled && outcome.is_none() && !fifty_fifty) {
        return Err(field_err(
            "actual_outcome",
            format!(
                "{} must be UP or DOWN for a settled trade (null for a 50-50 from gamma), else null",
                show(row.get("actual_outcome"))
            ),
        ));
    }
    if !matches!(source, None | Some("gamma" | "price")) {
        return Err(field_err(
            "settlement_source",
            "must be gamma, price or null",
        ));
    }
    let is_win = row.flag("is_win")?;
    let traded = decision.action != Action::Hold;
    let win_expected = settled && traded && !fifty_fifty;
    if is_win.is_some() != win_expected {
        return Err(field_err(
            "is_win",
            format!(
                "{} does not fit a {} {} (0 or 1 for a settled YES/NO, else null)",
                show(row.get("is_win")),
                status,
                decision.action.as_str()
            ),
        ));
    }
    if settled && traded && row.money("profit_loss")?.is_none() {
        return Err(field_err("profit_loss", "is required for a settled YES/NO"));
    }
    row.flag("is_missed_opportunity")?;
    row.flag("is_end_phase")?;
    Ok(())
}

fn outbox_row(row: &RowValues<'_>) -> Result<(), FieldError> {
    match row.required_text("status")? {
        "sent" | "failed" => {}
        other => {
            return Err(field_err(
                "status",
                format!("{other:?} is not sent or failed (a restored message is never sent again)"),
            ))
        }
    }
    if row.required_text("kind")?.trim().is_empty() {
        return Err(field_err("kind", "must not be empty"));
    }
    let payload = row.required_text("payload")?;
    if serde_json::from_str::<serde_json::Value>(payload).is_err() {
        return Err(field_err("payload", "is not JSON"));
    }
    row.text("dedup_key")?;
    row.text("last_error")?;
    if row.int("attempts")?.is_some_and(|n| n < 0) {
        return Err(field_err("attempts", "must not be negative"));
    }
    row.int("message_id")?;
    for column in ["created_at", "next_attempt_at", "sent_at"] {
        row.time(column)?;
    }
    if row.time("created_at")?.is_none() {
        return Err(field_err("created_at", "is required"));
    }
    Ok(())
}

fn job_run(row: &RowValues<'_>) -> Result<(), FieldError> {
    if row.required_text("job")?.trim().is_empty() {
        return Err(field_err("job", "must not be empty"));
    }
    match row.required_text("status")? {
        "ok" | "failed" | "bad_input" | "tempfail" | "locked" | "crashed" => {}
        other => {
            return Err(field_err(
                "status",
                format!("{other:?} is not the status of a finished run"),
            ))
        }
    }
    if row.time("started_at")?.is_none() {
        return Err(field_err("started_at", "is required"));
    }
    for column in ["finished_at", "now"] {
        row.time(column)?;
    }
    row.int("exit_code")?;
    row.flag("dry_run")?;
    if let Some(stats) = row.text("stats")? {
        if serde_json::from_str::<serde_json::Value>(stats).is_err() {
            return Err(field_err("stats", "is not JSON"));
        }
    }
    row.text("error")?;
    Ok(())
}

/// Exactly `YYYY-MM-DD HH:MM:SS` (what `time::to_db` writes), read without chrono's format
/// parser: restore checks several per row.
fn stored_time(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    let shape = b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        });
    if !shape {
        return None;
    }
    let n = |range: std::ops::Range<usize>| text[range].parse::<u32>().ok();
    let date = NaiveDate::from_ymd_opt(i32::try_from(n(0..4)?).ok()?, n(5..7)?, n(8..10)?)?;
    Some(
        date.and_hms_opt(n(11..13)?, n(14..16)?, n(17..19)?)?
            .and_utc(),
    )
}

/// The values of one row by column name, read as the archive stores them. A column the file
/// does not have reads as null.
struct RowValues<'a> {
    at: &'a HashMap<String, usize>,
    values: &'a [SqlValue],
}

impl RowValues<'_> {
    fn get(&self, name: &str) -> &SqlValue {
        self.at
            .get(name)
            .and_then(|i| self.values.get(*i))
            .unwrap_or(&SqlValue::Null)
    }

    fn text(&self, name: &str) -> Result<Option<&str>, FieldError> {
        match self.get(name) {
            SqlValue::Null => Ok(None),
            SqlValue::Text(t) => Ok(Some(t)),
            other => Err(field_err(
                name,
                format!("expected text, got {}", show(other)),
            )),
        }
    }

    fn required_text(&self, name: &str) -> Result<&str, FieldError> {
        self.text(name)?
            .ok_or_else(|| field_err(name, "is required"))
    }

    fn int(&self, name: &str) -> Result<Option<i64>, FieldError> {
        match self.get(name) {
            SqlValue::Null => Ok(None),
            SqlValue::Integer(v) => Ok(Some(*v)),
            other => Err(field_err(
                name,
                format!("expected an integer, got {}", show(other)),
            )),
        }
    }

    /// 0 or 1 (or null).
    fn flag(&self, name: &str) -> Result<Option<bool>, FieldError> {
        match self.int(name)? {
            None => Ok(None),
            Some(0) => Ok(Some(false)),
            Some(1) => Ok(Some(true)),
            Some(v) => Err(field_err(name, format!("{v} is not 0, 1 or null"))),
        }
    }

    /// An amount of money or a price: exact decimal text (digits, one optional point, an
    /// optional minus), or a number, within ±10^12.
    fn money(&self, name: &str) -> Result<Option<Decimal>, FieldError> {
        let value = match self.get(name) {
            SqlValue::Null => return Ok(None),
            SqlValue::Text(t) => {
                let digits = t.strip_prefix('-').unwrap_or(t);
                let plain = !digits.is_empty()
                    && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                    && digits.bytes().filter(|b| *b == b'.').count() <= 1
                    && !digits.starts_with('.')
                    && !digits.ends_with('.');
                plain.then(|| Decimal::from_str_exact(t).ok()).flatten()
            }
            SqlValue::Integer(v) => Some(Decimal::from(*v)),
            SqlValue::Real(v) => Decimal::from_f64_retain(*v),
            SqlValue::Blob(_) => None,
        };
        match value {
            Some(d) if d.abs() <= MAX_MONEY => Ok(Some(d)),
            Some(_) => Err(field_err(
                name,
                format!("{} is out of range (at most 10^12)", show(self.get(name))),
            )),
            None => Err(field_err(
                name,
                format!("{} is not a decimal number", show(self.get(name))),
            )),
        }
    }

    /// A time as polyperf stores it (`YYYY-MM-DD HH:MM:SS` UTC), in 2020..=2100.
    fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, FieldError> {
        let Some(text) = self.text(name)? else {
            return Ok(None);
        };
        match stored_time(text) {
            Some(t) if YEARS.contains(&t.year()) => Ok(Some(t)),
            _ => Err(field_err(
                name,
                format!("{text:?} is not a time YYYY-MM-DD HH:MM:SS between 2020 and 2100"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_times_are_exactly_the_stored_form() {
        for good in [
            "2026-02-11 10:30:00",
            "2020-01-01 00:00:00",
            "2100-12-31 23:59:59",
        ] {
            assert_eq!(
                stored_time(good).map(crate::time::to_db).as_deref(),
                Some(good)
            );
        }
        for bad in [
            "2026-02-11T10:30:00",
            "2026-02-11 10:30",
            "2026-02-30 10:30:00",
            "2026-02-11 24:00:00",
            "2026-02-11 10:30:00Z",
            "２026-02-11 10:30:00",
            "",
        ] {
            assert!(stored_time(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn max_money_is_ten_to_the_twelfth() {
        assert_eq!(MAX_MONEY, Decimal::from(1_000_000_000_000i64));
    }

    #[test]
    fn week_labels_round_trip() {
        let w = Week::from_label("2026-W07").unwrap();
        assert_eq!(
            (w.start.as_str(), w.end.as_str()),
            ("2026-02-09 00:00:00", "2026-02-16 00:00:00")
        );
        for bad in ["2026-W54", "2026-W7", "26-W07", "2026W07", "", "2026-W00"] {
            assert!(Week::from_label(bad).is_none(), "{bad}");
        }
    }

    fn money(text: SqlValue) -> Result<Option<Decimal>, FieldError> {
        let at = HashMap::from([("m".to_string(), 0)]);
        let values = vec![text];
        RowValues {
            at: &at,
            values: &values,
        }
        .money("m")
    }

    #[test]
    fn money_is_plain_decimal_text_in_range() {
        for ok in ["5.00", "-4.9731", "0", "1000000000000"] {
            assert!(money(SqlValue::Text(ok.into())).unwrap().is_some(), "{ok}");
        }
        for bad in [
            "NaN",
            "1_000",
            "1e3",
            "",
            "-",
            ".5",
            "5.",
            "1.2.3",
            " 5",
            "1000000000000.01",
            "inf",
        ] {
            assert!(money(SqlValue::Text(bad.into())).is_err(), "{bad}");
        }
        assert!(money(SqlValue::Real(4.3)).unwrap().is_some());
        assert!(money(SqlValue::Real(f64::NAN)).is_err());
        assert_eq!(money(SqlValue::Null).unwrap(), None);
    }
}
