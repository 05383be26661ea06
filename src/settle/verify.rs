//! `polyperf settle-check`: recomputes every settled decision from its stored inputs with the
//! pure functions of [`super::pnl`]. Reads only; never corrects anything.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use rust_decimal::Decimal;
use serde::Serialize;

use super::fees::{FeeAsset, FeeAssetRule, FeeRules, Fill, Liquidity};
use super::pnl::{self, FeeModel, Outcome};
use crate::config::Settings;
use crate::db::{BtcPrice, Money};
use crate::trades::settled;

/// Result of `polyperf settle-check`.
#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    pub checked: u64,
    pub mismatches: Vec<String>,
}

/// Recomputes every settled decision from its stored inputs (outcome, prices, size, price, fee
/// model used) and lists the rows whose stored outcome or money differ.
pub fn verify(conn: &Connection, settings: &Settings) -> Result<VerifyReport> {
    let tie = settings.settlement.tie_rule;
    let mut stmt = conn.prepare(concat!(
        "SELECT id, decision_id, action, position_size, executed_price, final_score, actual_outcome,
                is_win, is_missed_opportunity, profit_loss, fee, fee_rate_used, fee_exponent_used,
                payout, settlement_source, end_price, start_price, liquidity, fee_paid, fee_asset
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
        let dec = |i: usize| -> rusqlite::Result<Option<Decimal>> {
            Ok(Money::from_value(r.get_ref(i)?).ok().flatten())
        };
        let btc = |i: usize| -> rusqlite::Result<Option<Decimal>> {
            Ok(BtcPrice::from_value(r.get_ref(i)?).ok().flatten())
        };
        let mut problems = Vec::new();
        let outcome = text(6)?.as_deref().and_then(Outcome::parse);
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
                let inputs = (dec(3)?, dec(4)?, dec(11)?, r.get::<_, Option<i64>>(12)?);
                let (Some(size), Some(price), Some(rate), Some(exponent)) = inputs else {
                    report.mismatches.push(format!(
                        "trade {id} ({decision_id}): missing size, price or fee model"
                    ));
                    continue;
                };
                let fill = Fill {
                    size,
                    price,
                    // The asset settlement used is stored; the fill time is not needed.
                    time: DateTime::<Utc>::MIN_UTC,
                    liquidity: text(17)?
                        .as_deref()
                        .and_then(Liquidity::parse)
                        .unwrap_or_default(),
                    fee_paid: dec(18)?,
                };
                let asset = FeeAsset::stored(text(19)?.as_deref());
                let won = pnl::side_wins(action == "YES", outcome);
                let recomputed =
                    FeeModel::new(rate, Decimal::from(exponent))
                        .ok()
                        .and_then(|model| {
                            let rules = FeeRules {
                                model,
                                asset: FeeAssetRule::from(asset),
                            };
                            pnl::settle_fill(&fill, &rules, won).ok()
                        });
                let Some(m) = recomputed else {
                    report.mismatches.push(format!(
                        "trade {id} ({decision_id}): inputs cannot be settled"
                    ));
                    continue;
                };
                if is_win != Some(m.is_win) {
                    problems.push(format!("is_win stored {is_win:?} recomputed {}", m.is_win));
                }
                for (name, i, expected) in [
                    ("profit_loss", 9, m.profit_loss),
                    ("fee", 10, m.fee),
                    ("payout", 13, m.payout),
                ] {
                    let stored = dec(i)?;
                    if stored != Some(expected) {
                        problems.push(format!(
                            "{name} stored {} recomputed {expected}",
                            stored.map(|d| d.to_string()).unwrap_or("NULL".into())
                        ));
                    }
                }
            }
        }
        if !problems.is_empty() {
            report.mismatches.push(format!(
                "trade {id} ({decision_id}): {}",
                problems.join("; ")
            ));
        }
    }
    Ok(report)
}
