//! P&L per UTC day, ISO week or month (`polyperf report --by`, Telegram's /daily /weekly
//! /monthly): the settled YES/NO decisions of each period, live and archived, grouped by the
//! UTC date of their own `timestamp`. Built from [`Metrics::by_day`], so the periods of a
//! report add up exactly to its `total_profit`.

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use rusqlite::Connection;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::accumulate::{dec_ratio, ratio};
use super::{compute, Group, Metrics, Window};
use crate::error::bad_input;

/// The most periods one call returns (100 years of days).
pub const MAX_PERIODS: u32 = 36_500;

/// The length of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum By {
    /// UTC days, `YYYY-MM-DD`.
    Day,
    /// ISO weeks (Monday to Sunday, UTC), `YYYY-Www`.
    Week,
    /// Calendar months (UTC), `YYYY-MM`.
    Month,
}

impl By {
    /// The name of the period a date falls in.
    pub fn name(self, date: NaiveDate) -> String {
        match self {
            By::Day => date.format("%Y-%m-%d").to_string(),
            By::Week => {
                let week = date.iso_week();
                format!("{:04}-W{:02}", week.year(), week.week())
            }
            By::Month => date.format("%Y-%m").to_string(),
        }
    }

    /// The first day of the period a date falls in.
    pub fn start(self, date: NaiveDate) -> NaiveDate {
        match self {
            By::Day => date,
            By::Week => date - chrono::Days::new(u64::from(date.weekday().num_days_from_monday())),
            By::Month => date.with_day(1).unwrap_or(date),
        }
    }

    /// The first day of the period before the one starting on `start`.
    fn previous(self, start: NaiveDate) -> Option<NaiveDate> {
        match self {
            By::Day => start.checked_sub_days(chrono::Days::new(1)),
            By::Week => start.checked_sub_days(chrono::Days::new(7)),
            By::Month => start.checked_sub_months(Months::new(1)),
        }
    }

    /// "day", "week", "month".
    pub fn as_str(self) -> &'static str {
        match self {
            By::Day => "day",
            By::Week => "week",
            By::Month => "month",
        }
    }
}

/// One period's figures.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Period {
    /// `YYYY-MM-DD`, `YYYY-Www` (ISO week) or `YYYY-MM`, UTC.
    pub period: String,
    /// Settled YES/NO decisions (= wins + losses).
    pub trades: u64,
    pub wins: u64,
    pub losses: u64,
    /// wins / trades, a fraction; null without trades.
    pub win_rate: Option<f64>,
    /// P&L in USDC, exact.
    pub profit: Decimal,
    pub fees: Decimal,
    /// Sum of position sizes.
    pub staked: Decimal,
    /// profit / staked, a fraction; null without stake.
    pub roi: Option<f64>,
}

impl Period {
    fn empty(period: String) -> Period {
        Period {
            period,
            ..Period::default()
        }
    }

    fn add(&mut self, g: &Group) {
        self.trades += g.settled;
        self.wins += g.wins;
        self.losses += g.losses;
        self.profit += g.total_profit;
        self.fees += g.fees;
        self.staked += g.staked;
    }

    fn finish(mut self) -> Period {
        self.win_rate = ratio(self.wins, self.trades);
        self.roi = dec_ratio(self.profit, self.staked);
        self.profit = self.profit.normalize();
        self.fees = self.fees.normalize();
        self.staked = self.staked.normalize();
        self
    }
}

/// The periods of a report's figures that hold settled positions, newest first.
pub fn group(m: &Metrics, by: By) -> Vec<Period> {
    let mut periods: BTreeMap<String, Period> = BTreeMap::new();
    for (day, g) in &m.by_day {
        if g.settled == 0 {
            continue;
        }
        // A day the rollup or a hand edit wrote in another form keeps its own name.
        let name = NaiveDate::parse_from_str(day, "%Y-%m-%d")
            .map(|d| by.name(d))
            .unwrap_or_else(|_| day.clone());
        periods
            .entry(name.clone())
            .or_insert_with(|| Period::empty(name))
            .add(g);
    }
    periods.into_values().rev().map(Period::finish).collect()
}

/// The last `n` periods up to the one holding `now` (that one first), empty ones included:
/// `/daily 7` is today and the six days before, each whether it traded or not. A period
/// covers its decisions up to `now` (later timestamps are not counted). `n` is 1 to
/// [`MAX_PERIODS`].
pub fn periods(conn: &Connection, by: By, n: u32, now: DateTime<Utc>) -> Result<Vec<Period>> {
    if !(1..=MAX_PERIODS).contains(&n) {
        return Err(bad_input(format!(
            "the number of periods must be a whole number from 1 to {MAX_PERIODS}, got {n}"
        )));
    }
    let mut starts = vec![by.start(now.date_naive())];
    while starts.len() < n as usize {
        match starts.last().and_then(|s| by.previous(*s)) {
            Some(s) => starts.push(s),
            None => break,
        }
    }
    let first = starts
        .last()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc());
    let window = match first {
        Some(from) => Window::Since(from),
        None => Window::All,
    };
    let m = compute(conn, &window, now)?;
    let mut found: BTreeMap<String, Period> = group(&m, by)
        .into_iter()
        .map(|p| (p.period.clone(), p))
        .collect();
    Ok(starts
        .into_iter()
        .map(|s| {
            let name = by.name(s);
            found
                .remove(&name)
                .unwrap_or_else(|| Period::empty(name).finish())
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn names_and_starts() {
        // 2026-01-01 is a Thursday in ISO week 1 of 2026; 2027-01-01 a Friday in 2026-W53.
        let cases = [
            ("2026-01-01", By::Day, "2026-01-01", "2026-01-01"),
            ("2026-01-01", By::Week, "2026-W01", "2025-12-29"),
            ("2027-01-01", By::Week, "2026-W53", "2026-12-28"),
            ("2026-02-11", By::Month, "2026-02", "2026-02-01"),
        ];
        for (day, by, name, start) in cases {
            assert_eq!(by.name(date(day)), name, "{day} {by:?}");
            assert_eq!(by.start(date(day)), date(start), "{day} {by:?}");
        }
        assert_eq!(
            By::Month.previous(date("2026-03-01")),
            Some(date("2026-02-01"))
        );
        assert_eq!(
            By::Week.previous(date("2026-01-05")),
            Some(date("2025-12-29"))
        );
    }
}
