//! `polyperf settle-check`: recomputes every settled decision from its stored inputs by
//! settlement's own verdict (`decide.rs`'s `judge`, the row as [`Trade`]) with the fee model it
//! recorded, under today's fee rules (the fee asset the settings choose for the fill's time). The check reads only; [`resettle`] (`--fix`) rewrites the money of the
//! rows whose money differs, e.g. rows settled before polyperf knew the CLOB V2 fee rules.

use std::collections::HashSet;

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use rust_decimal::Decimal;
use serde::Serialize;

use super::decide::judge;
use crate::config::Settings;
use crate::kinds::{Action, FeeAsset};
use crate::money::pnl::{self, FeeModel, Settled};
use crate::trades::Trade;

/// Result of `polyperf settle-check`.
#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    pub checked: u64,
    pub mismatches: Vec<String>,
    /// With `--fix`: rows whose money was rewritten under today's rules, and the change of
    /// their summed P&L (USDC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profit_change: Option<Decimal>,
}

/// A settled trade whose money differs from what today's rules give; [`resettle`] writes `new`.
struct MoneyFix {
    id: i64,
    old_profit_loss: Option<Decimal>,
    new: Settled,
    /// Whether the money was the row's only difference (an outcome or `is_win` that differs is
    /// reported, never rewritten).
    only_money: bool,
}

/// Recomputes every settled decision from its stored inputs (outcome, prices, size, price, fee
/// model used, liquidity, logged fee) under today's fee rules and lists the rows whose stored
/// outcome or money differ.
pub fn verify(conn: &Connection, settings: &Settings) -> Result<VerifyReport> {
    Ok(check(conn, settings)?.0)
}

/// `settle-check --fix`: in one transaction, rewrites the fee, fee asset, payout and P&L of
/// every settled trade whose only difference from today's rules is its money (e.g. a fill after
/// the CLOB V2 cut-over that an older polyperf settled with the fee in shares, or a fee rounded
/// half up where the venue rounds down). Rows that differ otherwise stay as they are and stay
/// listed. Archived rows are in the daily rollup and are not touched. Running it again changes
/// nothing.
pub fn resettle(
    conn: &mut Connection,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<VerifyReport> {
    let tx = crate::db::write_tx(conn)?;
    let (mut report, fixes) = check(&tx, settings)?;
    let fixes: Vec<&MoneyFix> = fixes.iter().filter(|f| f.only_money).collect();
    let rows: Vec<(i64, Settled)> = fixes.iter().map(|f| (f.id, f.new.clone())).collect();
    let fixed = crate::trades::rewrite_money(&tx, &rows, now)?;
    let change: Decimal = fixes
        .iter()
        .map(|f| f.new.profit_loss - f.old_profit_loss.unwrap_or_default())
        .sum();
    tx.commit()?;
    let fixed_ids: HashSet<i64> = fixes.iter().map(|f| f.id).collect();
    report.mismatches.retain(|m| {
        !fixed_ids
            .iter()
            .any(|id| m.starts_with(&format!("trade {id} (")))
    });
    report.fixed = Some(fixed);
    report.profit_change = Some(change);
    Ok(report)
}

/// Every settled row against today's rules: the report, and the money fixes `--fix` may write.
fn check(conn: &Connection, settings: &Settings) -> Result<(VerifyReport, Vec<MoneyFix>)> {
    let mut report = VerifyReport::default();
    let mut fixes = Vec::new();
    crate::trades::each_settled(conn, |t| {
        report.checked += 1;
        let mut problems = Vec::new();
        match check_row(&t, settings, &mut problems) {
            Ok(fix) => fixes.extend(fix),
            // It cannot be recomputed: that alone is its line.
            Err(why) => problems = vec![why],
        }
        if !problems.is_empty() {
            let (id, key) = (t.id, &t.decision_id);
            let problems = problems.join("; ");
            report
                .mismatches
                .push(format!("trade {id} ({key}): {problems}"));
        }
        Ok(())
    })?;
    Ok((report, fixes))
}

/// One settled row recomputed by settlement's own verdict ([`judge`]) with the fee model it
/// recorded and today's fee asset rule: what differs goes to `problems`; the money fix when
/// its money differs. Err: why it cannot be recomputed.
fn check_row(
    t: &Trade,
    settings: &Settings,
    problems: &mut Vec<String>,
) -> std::result::Result<Option<MoneyFix>, String> {
    // A settled row without an outcome is a 50-50 the exchange resolved (only Gamma gives
    // those): its money must be what a 50-50 pays.
    let outcome = t.outcome().ok_or("settled without an outcome")?;
    if let (Some("price"), Some(end), Some(start)) =
        (t.settlement_source, t.end_price, t.start_price)
    {
        let again = pnl::outcome_from_prices(start, end, settings.settlement.tie_rule);
        if again != outcome {
            problems.push(format!(
                "outcome stored {outcome} recomputed {again} from prices"
            ));
        }
    }
    let model = match (t.fee_rate_used, t.fee_exponent_used) {
        (Some(rate), Some(exponent)) => {
            FeeModel::new(rate, Decimal::from(exponent)).map_err(|_| "inputs cannot be settled")
        }
        _ if t.action == Action::Hold => Ok(FeeModel::NONE),
        _ => Err("missing size, price or fee model"),
    };
    let judged = judge(t, outcome, model, settings.settlement.fee_asset)?;
    let Some(m) = judged.money else {
        if t.is_missed_opportunity != judged.missed {
            let (stored, expected) = (t.is_missed_opportunity, judged.missed);
            problems.push(format!(
                "is_missed_opportunity stored {stored:?} recomputed {}",
                expected.unwrap_or_default()
            ));
        }
        if t.is_win.is_some() || t.profit_loss.is_some() || t.unreadable.contains(&"profit_loss") {
            problems.push("a HOLD has is_win or profit_loss".into());
        }
        return Ok(None);
    };
    Ok(compare_money(t, m, problems))
}

/// Compares a settled YES/NO row's stored money and win flag with `m`, adding what differs to
/// `problems`; the fix to write when the money differs.
fn compare_money(t: &Trade, m: Settled, problems: &mut Vec<String>) -> Option<MoneyFix> {
    let other_problems = problems.len();
    if t.is_win != m.is_win() {
        problems.push(format!(
            "is_win stored {:?} recomputed {:?}",
            t.is_win,
            m.is_win()
        ));
    }
    let mut money_differs = t.fee_asset != Some(m.asset);
    for (name, stored, expected) in [
        ("profit_loss", t.profit_loss, m.profit_loss),
        ("fee", t.fee, m.fee),
        ("payout", t.payout, m.payout),
    ] {
        if stored != Some(expected) {
            money_differs = true;
            problems.push(format!(
                "{name} stored {} recomputed {expected}",
                stored.map(|d| d.to_string()).unwrap_or("NULL".into())
            ));
        }
    }
    if !money_differs {
        return None;
    }
    if t.fee_asset != Some(m.asset) {
        problems.push(format!(
            "fee asset stored {} today's rules {}",
            t.fee_asset.map_or("NULL", FeeAsset::as_str),
            m.asset
        ));
    }
    Some(MoneyFix {
        id: t.id,
        old_profit_loss: t.profit_loss,
        only_money: other_problems == 0 && t.is_win == m.is_win(),
        new: m,
    })
}
