//! The tier-3 guard: four loss rules over settled trades that pause trading (via
//! `control::pause`) at every autonomy level, and the optional auto-resume. Never resumes
//! unless `auto_resume_after_hours` is set.

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OptionalExtension};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::config::{Adjust, Settings};
use crate::control;
use crate::time::to_db;

/// The figures the rules look at (only trades decided after the last resume count, so a
/// human's resume is not undone by the same losses on the next run).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Figures {
    pub consecutive_losses: u32,
    #[serde(with = "rust_decimal::serde::str")]
    pub loss_24h: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub drawdown: Decimal,
    pub recent_n: u32,
    pub recent_wins: u32,
    pub counted_since: Option<String>,
}

/// A rule that fired.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trip {
    pub rule: &'static str,
    pub reason: String,
}

/// What the guard reports: trading is paused (now or before), and why.
#[derive(Debug, Clone, Serialize)]
pub struct PauseInfo {
    pub rule: Option<String>,
    pub reason: String,
    /// This call paused trading (false: it already was).
    pub fired_now: bool,
    pub figures: Option<serde_json::Value>,
}

/// A rule: its name (`trading_control.rule`) and why it fires for the figures, if it does.
type Rule = (&'static str, fn(&Figures, &Adjust) -> Option<String>);

/// The rules, in the order they are checked. A limit of zero disables its rule. Each fires at
/// its threshold (≥), the win rate strictly below its floor and only over a full window.
const RULES: [Rule; 4] = [
    ("consecutive_losses", consecutive_losses),
    ("daily_loss", daily_loss),
    ("drawdown", drawdown),
    ("win_rate", win_rate),
];

/// The first rule (of `RULES`, in order) that fires for `f`.
pub fn check(f: &Figures, a: &Adjust) -> Option<Trip> {
    RULES
        .iter()
        .find_map(|(rule, fires)| fires(f, a).map(|reason| Trip { rule, reason }))
}

fn consecutive_losses(f: &Figures, a: &Adjust) -> Option<String> {
    let limit = a.max_consecutive_losses;
    (limit > 0 && f.consecutive_losses >= limit).then(|| {
        format!(
            "{} consecutive losses (limit {limit})",
            f.consecutive_losses
        )
    })
}

fn daily_loss(f: &Figures, a: &Adjust) -> Option<String> {
    let limit = a.daily_loss_limit;
    (limit > Decimal::ZERO && f.loss_24h >= limit)
        .then(|| format!("lost {} over the last 24 h (limit {limit})", f.loss_24h))
}

fn drawdown(f: &Figures, a: &Adjust) -> Option<String> {
    let (limit, days) = (a.max_drawdown, a.drawdown_lookback_days);
    (limit > Decimal::ZERO && f.drawdown >= limit).then(|| {
        format!(
            "drawdown of {} over the last {days} days (limit {limit})",
            f.drawdown
        )
    })
}

fn win_rate(f: &Figures, a: &Adjust) -> Option<String> {
    if a.win_rate_window == 0 || f.recent_n < a.win_rate_window {
        return None;
    }
    let rate = Decimal::from(f.recent_wins) / Decimal::from(f.recent_n);
    (rate < a.win_rate_floor).then(|| {
        format!(
            "won {} of the last {} ({}), below the floor of {}",
            f.recent_wins,
            f.recent_n,
            rate.round_dp(4).normalize(),
            a.win_rate_floor
        )
    })
}

/// Largest peak-to-trough fall of the running P&L (starting at 0) over `pnls` in time order.
pub fn max_drawdown(pnls: &[Decimal]) -> Decimal {
    let (mut running, mut peak, mut worst) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    for p in pnls {
        running += *p;
        peak = peak.max(running);
        worst = worst.max(peak - running);
    }
    worst
}

/// Reads the figures at `now`.
pub fn figures(conn: &Connection, a: &Adjust, now: DateTime<Utc>) -> Result<Figures> {
    let since: Option<String> = conn
        .query_row(
            "SELECT max(timestamp) FROM control_events WHERE action = 'resume' AND timestamp <= ?1",
            [to_db(now)],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    let floor = since.clone().unwrap_or_default();
    let now_db = to_db(now);
    let recent = |limit: u32| crate::trades::recent_wins(conn, &floor, &now_db, limit);
    let streak = recent(a.max_consecutive_losses.max(1))?;
    let consecutive_losses = streak.iter().take_while(|w| !**w).count() as u32;
    let window = recent(a.win_rate_window)?;
    let recent_wins = window.iter().filter(|w| **w).count() as u32;

    let after = |t: DateTime<Utc>| to_db(t).max(floor.clone());
    // Exact sums in Rust: SQL's sum() of REAL goes through floating point.
    // A P&L that is not a number (a hand edit) is left out, as a missing one is.
    let pnls_since = |since: String| crate::trades::pnls_between(conn, &since, &now_db);
    let day_pnl: Decimal = pnls_since(after(crate::time::sub(now, Duration::hours(24))?))?
        .iter()
        .sum();
    let pnls = pnls_since(after(crate::time::days_before(
        now,
        a.drawdown_lookback_days,
    )?))?;
    Ok(Figures {
        consecutive_losses,
        loss_24h: (-day_pnl).max(Decimal::ZERO),
        drawdown: max_drawdown(&pnls),
        recent_n: window.len() as u32,
        recent_wins,
        counted_since: since,
    })
}

/// Runs the guard: auto-resumes an expired pause when configured, then checks the rules and
/// pauses when one fires (unless already paused). Returns the pause in force afterwards.
/// With `dry_run`, writes nothing and reports what it would do.
pub fn run(
    conn: &mut Connection,
    settings: &Settings,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<Option<PauseInfo>> {
    let a = &settings.adjust;
    let tx = crate::db::write_tx(conn)?;
    let mut state = control::state(&tx)?;
    if state.paused {
        let due = state
            .auto_resume_at
            .as_deref()
            .and_then(|t| crate::time::from_db(t).ok())
            .is_some_and(|t| t <= now);
        if !due {
            return Ok(Some(PauseInfo {
                rule: state.rule,
                reason: state.reason.unwrap_or_default(),
                fired_now: false,
                figures: state.figures,
            }));
        }
        if dry_run {
            return Ok(None);
        }
        let reason = format!(
            "auto-resume after {} h",
            a.auto_resume_after_hours.unwrap_or_default()
        );
        control::resume(&tx, &settings.telegram.notify, "adjust", &reason, now)?;
        tracing::info!(%reason, "trading resumed automatically");
        state = control::state(&tx)?;
        debug_assert!(!state.paused);
    }
    let figures = figures(&tx, a, now)?;
    let Some(trip) = check(&figures, a) else {
        // Keeps an auto-resume made above.
        tx.commit()?;
        return Ok(None);
    };
    let figures_json = serde_json::to_value(&figures)?;
    if !dry_run {
        let auto_resume_at = a
            .auto_resume_after_hours
            .map(|h| crate::time::hours_after(now, h))
            .transpose()?;
        let reason = format!("emergency pause: {}", trip.reason);
        control::pause(
            &tx,
            &settings.telegram.notify,
            &control::Pause {
                reason: &reason,
                by: "adjust",
                rule: Some(trip.rule),
                figures: Some(figures_json.clone()),
                auto_resume_at,
            },
            now,
        )?;
        tx.commit()?;
        tracing::warn!(rule = trip.rule, reason = %trip.reason, "trading paused by the tier-3 guard");
    }
    Ok(Some(PauseInfo {
        rule: Some(trip.rule.to_string()),
        reason: format!("emergency pause: {}", trip.reason),
        fired_now: true,
        figures: Some(figures_json),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn drawdown_is_peak_to_trough() {
        let cases: [(&[&str], &str); 4] = [
            (&[], "0"),
            (&["5", "-3", "-4", "10"], "7"),
            (&["-2", "-3"], "5"),
            (&["1", "2", "3"], "0"),
        ];
        for (pnls, want) in cases {
            let v: Vec<Decimal> = pnls.iter().map(|s| d(s)).collect();
            assert_eq!(max_drawdown(&v), d(want), "{pnls:?}");
        }
    }

    #[test]
    fn each_rule_fires_at_its_threshold_and_not_below() {
        let a = Adjust::default();
        let base = Figures::default();
        let cases = [
            (
                Figures {
                    consecutive_losses: 4,
                    ..base.clone()
                },
                None,
            ),
            (
                Figures {
                    consecutive_losses: 5,
                    ..base.clone()
                },
                Some("consecutive_losses"),
            ),
            (
                Figures {
                    loss_24h: d("49.99"),
                    ..base.clone()
                },
                None,
            ),
            (
                Figures {
                    loss_24h: d("50"),
                    ..base.clone()
                },
                Some("daily_loss"),
            ),
            (
                Figures {
                    drawdown: d("99.99"),
                    ..base.clone()
                },
                None,
            ),
            (
                Figures {
                    drawdown: d("100"),
                    ..base.clone()
                },
                Some("drawdown"),
            ),
            (
                Figures {
                    recent_n: 20,
                    recent_wins: 7,
                    ..base.clone()
                },
                None,
            ),
            (
                Figures {
                    recent_n: 20,
                    recent_wins: 6,
                    ..base.clone()
                },
                Some("win_rate"),
            ),
            (
                Figures {
                    recent_n: 19,
                    recent_wins: 0,
                    ..base.clone()
                },
                None,
            ),
        ];
        for (f, want) in cases {
            assert_eq!(check(&f, &a).map(|t| t.rule), want, "{f:?}");
        }
    }
}
