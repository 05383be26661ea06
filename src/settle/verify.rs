//! `polyperf settle-check`: recomputes every settled decision from its stored inputs with the
//! pure functions of [`crate::money::pnl`] under today's fee rules (the fee asset the settings choose
//! for the fill's time). The check reads only; [`resettle`] (`--fix`) rewrites the money of the
//! rows whose money differs, e.g. rows settled before polyperf knew the CLOB V2 fee rules.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::money::fees::{FeeRules, Fill};

use crate::config::Settings;
use crate::db::{BtcPrice, Money};
use crate::kinds::Liquidity;
use crate::kinds::Outcome;
use crate::money::pnl::{self, FeeModel, Settled};
use crate::time::{from_db, to_db};
use crate::trades::settled;

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
    let mut fixed = 0u64;
    let mut change = Decimal::ZERO;
    {
        let mut update = tx.prepare(
            "UPDATE trades SET profit_loss = ?1, fee = ?2, payout = ?3, fee_asset = ?4,
                 settled_at = ?5
             WHERE id = ?6",
        )?;
        for fix in fixes.iter().filter(|f| f.only_money) {
            let m = &fix.new;
            update.execute(params![
                Money(m.profit_loss),
                Money(m.fee),
                Money(m.payout),
                m.asset.as_str(),
                to_db(now),
                fix.id
            ])?;
            fixed += 1;
            change += m.profit_loss - fix.old_profit_loss.unwrap_or_default();
        }
    }
    tx.commit()?;
    let fixed_ids: std::collections::HashSet<i64> = fixes
        .iter()
        .filter(|f| f.only_money)
        .map(|f| f.id)
        .collect();
    report.mismatches.retain(|m| {
        !fixed_ids
            .iter()
            .any(|id| m.starts_with(&format!("trade {id} (")))
    });
    report.fixed = Some(fixed);
    report.profit_change = Some(change);
    Ok(report)
}

/// The money today's rules give a settled YES/NO row (the columns of [`check`]'s query), or
/// why it cannot be recomputed. A money column that is not a number reads as missing.
fn recompute(
    r: &rusqlite::Row<'_>,
    settings: &Settings,
    action: &str,
    outcome: Outcome,
) -> rusqlite::Result<std::result::Result<Settled, &'static str>> {
    let dec = |i: usize| -> rusqlite::Result<Option<Decimal>> {
        Ok(Money::from_value(r.get_ref(i)?).ok().flatten())
    };
    let inputs = (dec(3)?, dec(4)?, dec(11)?, r.get::<_, Option<i64>>(12)?);
    let (Some(size), Some(price), Some(rate), Some(exponent)) = inputs else {
        return Ok(Err("missing size, price or fee model"));
    };
    let time = r.get::<_, Option<String>>(20)?;
    let Some(time) = time.as_deref().and_then(|t| from_db(t).ok()) else {
        return Ok(Err("its timestamp is not a time"));
    };
    let fill = Fill {
        size,
        price,
        // Today's rules: the asset the settings choose for the fill's time.
        time,
        liquidity: r
            .get::<_, Option<String>>(17)?
            .as_deref()
            .and_then(Liquidity::parse)
            .unwrap_or_default(),
        fee_paid: dec(18)?,
    };
    let payoff = pnl::Payoff::of(action == "YES", outcome);
    let recomputed = FeeModel::new(rate, Decimal::from(exponent))
        .ok()
        .and_then(|model| {
            let rules = FeeRules {
                model,
                asset: settings.settlement.fee_asset,
            };
            pnl::settle_fill_paying(&fill, &rules, payoff).ok()
        });
    Ok(recomputed.ok_or("inputs cannot be settled"))
}

/// Compares a settled YES/NO row's stored money and win flag with `m`, adding what differs to
/// `problems`; the fix to write when the money differs.
fn compare_money(
    r: &rusqlite::Row<'_>,
    id: i64,
    m: Settled,
    problems: &mut Vec<String>,
) -> rusqlite::Result<Option<MoneyFix>> {
    let dec = |i: usize| -> rusqlite::Result<Option<Decimal>> {
        Ok(Money::from_value(r.get_ref(i)?).ok().flatten())
    };
    let is_win: Option<bool> = r.get(7)?;
    let other_problems = problems.len();
    if is_win != m.is_win() {
        problems.push(format!(
            "is_win stored {is_win:?} recomputed {:?}",
            m.is_win()
        ));
    }
    let stored_asset = r.get::<_, Option<String>>(19)?;
    let mut money_differs = stored_asset.as_deref() != Some(m.asset.as_str());
    for (name, i, expected) in [
        ("profit_loss", 9, m.profit_loss),
        ("fee", 10, m.fee),
        ("payout", 13, m.payout),
    ] {
        let stored = dec(i)?;
        if stored != Some(expected) {
            money_differs = true;
            problems.push(format!(
                "{name} stored {} recomputed {expected}",
                stored.map(|d| d.to_string()).unwrap_or("NULL".into())
            ));
        }
    }
    if !money_differs {
        return Ok(None);
    }
    if stored_asset.as_deref() != Some(m.asset.as_str()) {
        problems.push(format!(
            "fee asset stored {} today's rules {}",
            stored_asset.as_deref().unwrap_or("NULL"),
            m.asset.as_str()
        ));
    }
    Ok(Some(MoneyFix {
        id,
        old_profit_loss: dec(9)?,
        only_money: other_problems == 0 && is_win == m.is_win(),
        new: m,
    }))
}

fn check(conn: &Connection, settings: &Settings) -> Result<(VerifyReport, Vec<MoneyFix>)> {
    let tie = settings.settlement.tie_rule;
    let mut fixes = Vec::new();
    let mut stmt = conn.prepare(concat!(
        "SELECT id, decision_id, action, position_size, executed_price, final_score, actual_outcome,
                is_win, is_missed_opportunity, profit_loss, fee, fee_rate_used, fee_exponent_used,
                payout, settlement_source, end_price, start_price, liquidity, fee_paid, fee_asset,
                timestamp
         FROM trades WHERE ",
        settled!(),
        " ORDER BY id"
    ))?;
    let mut rows = stmt.query([])?;
    let mut report = VerifyReport::default();
    while let Some(r) = rows.next()? {
        report.checked += 1;
        let id: i64 = r.get(0)?;
        let decision_id: String = r.get(1)?;
        let text = |i: usize| r.get::<_, Option<String>>(i);
        // A column that is not a number reads as missing, and is reported as such.
        let btc = |i: usize| -> rusqlite::Result<Option<Decimal>> {
            Ok(BtcPrice::from_value(r.get_ref(i)?).ok().flatten())
        };
        let mut problems = Vec::new();
        // A settled row without an outcome is a 50-50 the exchange resolved (only Gamma gives
        // those): its money must be what a 50-50 pays.
        let outcome = match (text(6)?, text(14)?) {
            (Some(text), _) => Outcome::parse(&text),
            (None, Some(source)) if source == "gamma" => Some(Outcome::Split),
            (None, _) => None,
        };
        let Some(outcome) = outcome else {
            report.mismatches.push(format!(
                "trade {id} ({decision_id}): settled without an outcome"
            ));
            continue;
        };
        if text(14)?.as_deref() == Some("price") {
            if let (Some(end), Some(start)) = (btc(15)?, btc(16)?) {
                let again = pnl::outcome_from_prices(start, end, tie);
                if again != outcome {
                    problems.push(format!(
                        "outcome stored {} recomputed {} from prices",
                        outcome.as_str(),
                        again.as_str()
                    ));
                }
            }
        }
        let is_win: Option<bool> = r.get(7)?;
        let missed: Option<bool> = r.get(8)?;
        match r.get::<_, String>(2)?.as_str() {
            "HOLD" => {
                let expected = pnl::missed_opportunity(r.get(5)?, outcome);
                if missed != Some(expected) {
                    problems.push(format!(
                        "is_missed_opportunity stored {missed:?} recomputed {expected}"
                    ));
                }
                if is_win.is_some() || r.get_ref(9)? != rusqlite::types::ValueRef::Null {
                    problems.push("a HOLD has is_win or profit_loss".into());
                }
            }
            action => {
                let m = match recompute(r, settings, action, outcome)? {
                    Ok(m) => m,
                    Err(why) => {
                        report
                            .mismatches
                            .push(format!("trade {id} ({decision_id}): {why}"));
                        continue;
                    }
                };
                fixes.extend(compare_money(r, id, m, &mut problems)?);
            }
        }
        if !problems.is_empty() {
            report.mismatches.push(format!(
                "trade {id} ({decision_id}): {}",
                problems.join("; ")
            ));
        }
    }
    Ok((report, fixes))
}
