//! What one settled decision adds to the figures: the one definition that metrics' fold over
//! live rows and the archive's rollup both use, so that every figure is the same before and
//! after its rows leave `trades`. Pure: no SQL.
//!
//! Every sum here is exact and independent of the order it is added in: money at 6 places (as
//! settlement writes it), and the Brier and confidence terms rounded to [`CONFIDENCE_DP`]
//! places before they are summed (a float sum would change with the order of its terms).

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::kinds::{Action, FeeAsset, SettlementStatus};
use crate::money::pnl::{self, BreakEven, Charge};
use crate::trades::Scored;

/// Places of a confidence and of a Brier term as summed.
pub const CONFIDENCE_DP: u32 = 12;

/// Largest amount of money one row may carry into the sums (10^15 USDC; settlement bounds a
/// position's payout at 10^12). Sums of such rows cannot overflow a Decimal.
const MAX_ROW_MONEY: Decimal = crate::db::MAX_ROW_MONEY;

/// One settled position's figures, as every group it belongs to adds them.
#[derive(Debug, Clone)]
pub struct Position {
    /// `None`: resolved 50-50, neither a win nor a loss.
    pub is_win: Option<bool>,
    pub profit: Decimal,
    pub fee: Decimal,
    pub asset: FeeAsset,
    pub staked: Decimal,
    /// Its own break-even terms (none when its price is unknown).
    pub break_even: Option<BreakEven>,
    /// The price paid per share, when known (its [`price_bucket`]).
    pub price: Option<Decimal>,
    /// Its stated confidence in [0, 1] (rounded to [`CONFIDENCE_DP`]), when known and it won
    /// or lost: what the Brier score and the calibration count.
    pub confidence: Option<Decimal>,
}

/// A settled HOLD's figures.
#[derive(Debug, Clone)]
pub struct Hold {
    /// Its favoured side won.
    pub missed: bool,
    /// A missed one whose favoured side's price is known: what $1 staked on that side would
    /// have made at that price, before fees (settlement's own rule).
    pub per_dollar: Option<Decimal>,
}

/// What a settled decision adds.
#[derive(Debug, Clone)]
pub enum RowFigures {
    Position(Position),
    Hold(Hold),
    /// A settled YES/NO without a result or P&L, or with money no settlement writes (a hand
    /// edit): set aside, counted as inconsistent.
    Inconsistent,
}

/// The figures of a row; None when it is not settled.
pub fn of(row: &Scored) -> Option<RowFigures> {
    if row.settlement_status != SettlementStatus::Settled {
        return None;
    }
    if row.action == Action::Hold {
        return Some(RowFigures::Hold(hold_of(row)));
    }
    Some(position_of(row).map_or(RowFigures::Inconsistent, RowFigures::Position))
}

fn position_of(row: &Scored) -> Option<Position> {
    let (is_win, pl) = match (row.is_win, row.profit_loss) {
        (Some(is_win), Some(pl)) => (Some(is_win), pl),
        (None, Some(pl)) if row.is_fifty_fifty() => (None, pl),
        _ => return None,
    };
    let fee = row.fee.unwrap_or_default();
    let staked = row.position_size.unwrap_or_default();
    if [pl, fee, staked].iter().any(|m| m.abs() > MAX_ROW_MONEY) {
        return None;
    }
    let asset = row.fee_asset_or_shares();
    let break_even = row.executed_price.and_then(|price| {
        let mut be = BreakEven::default();
        be.add(staked, price, Charge { fee, asset }).then_some(be)
    });
    let confidence = row
        .confidence
        .filter(|c| is_win.is_some() && *c >= Decimal::ZERO && *c <= Decimal::ONE)
        .map(|c| c.round_dp(CONFIDENCE_DP));
    Some(Position {
        is_win,
        profit: pl,
        fee,
        asset,
        staked,
        break_even,
        price: row.executed_price,
        confidence,
    })
}

fn hold_of(row: &Scored) -> Hold {
    let missed = row.is_missed_opportunity.unwrap_or(false);
    let price = match row.final_score {
        Some(s) if missed && s > 0.0 => row.yes_price,
        Some(s) if missed && s < 0.0 => row.no_price,
        _ => None,
    };
    // A $1 win at the recorded price with no fee, by settlement's own rule.
    let no_fee = Charge {
        fee: Decimal::ZERO,
        asset: FeeAsset::Shares,
    };
    let per_dollar = price
        .and_then(|p| pnl::settle_position(Decimal::ONE, p, true, no_fee).ok())
        .map(|won| won.profit_loss);
    Hold { missed, per_dollar }
}

/// The calibration bucket of a confidence in [0, 1], exactly in decimal: 0 for [0, 0.5), then
/// 1..=5 for [0.5, 0.6) … [0.9, 1.0].
pub fn bucket_of(confidence: Decimal) -> usize {
    let tenths = (confidence * Decimal::TEN).floor().to_u64().unwrap_or(0);
    match tenths {
        0..=4 => 0,
        t => (t as usize - 4).min(5),
    }
}

/// The price bucket of a position (`by_price`): 5-cent steps from 0.30 to 0.70, open ends
/// below and above, named so that they sort in price order.
pub fn price_bucket(price: Decimal) -> &'static str {
    const EDGES: [(i64, &str); 8] = [
        (30, "0.00-0.30"),
        (35, "0.30-0.35"),
        (40, "0.35-0.40"),
        (45, "0.40-0.45"),
        (50, "0.45-0.50"),
        (55, "0.50-0.55"),
        (60, "0.55-0.60"),
        (70, "0.60-0.70"),
    ];
    let cents = price * Decimal::ONE_HUNDRED;
    EDGES
        .iter()
        .find(|(edge, _)| cents < Decimal::from(*edge))
        .map_or("0.70-1.00", |(_, name)| *name)
}

/// A group's additive sums (a signal, an action, an hour, a price bucket, …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sums {
    pub wins: u64,
    pub losses: u64,
    pub fifty_fifty: u64,
    pub profit: Decimal,
    pub fees: Decimal,
    pub staked: Decimal,
    pub holds: u64,
    pub missed: u64,
    pub break_even: BreakEven,
}

impl Sums {
    pub fn add_position(&mut self, p: &Position) {
        match p.is_win {
            Some(true) => self.wins += 1,
            Some(false) => self.losses += 1,
            None => self.fifty_fifty += 1,
        }
        self.profit += p.profit;
        self.fees += p.fee;
        self.staked += p.staked;
        if let Some(be) = &p.break_even {
            self.break_even.merge(be);
        }
    }

    pub fn add_hold(&mut self, h: &Hold) {
        self.holds += 1;
        self.missed += u64::from(h.missed);
    }

    /// Adds (`sign` 1) or takes away (`sign` -1) another group's sums; counts never go below 0.
    pub fn merge(&mut self, other: &Sums, sign: i64) {
        let count = |a: u64, b: u64| match sign {
            1 => a.saturating_add(b),
            _ => a.saturating_sub(b),
        };
        let s = Decimal::from(sign);
        self.wins = count(self.wins, other.wins);
        self.losses = count(self.losses, other.losses);
        self.fifty_fifty = count(self.fifty_fifty, other.fifty_fifty);
        self.holds = count(self.holds, other.holds);
        self.missed = count(self.missed, other.missed);
        self.profit += s * other.profit;
        self.fees += s * other.fees;
        self.staked += s * other.staked;
        let ((a, b), (c, d)) = (self.break_even.terms(), other.break_even.terms());
        self.break_even = BreakEven::from_terms(a + s * c, b + s * d);
    }

    pub fn is_zero(&self) -> bool {
        *self == Sums::default()
    }
}

/// One calibration bucket's sums, and the Brier score's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Calibration {
    pub trades: u64,
    pub wins: u64,
    pub confidence_sum: Decimal,
    /// Σ (confidence − won)².
    pub brier_sum: Decimal,
}

impl Calibration {
    pub fn add(&mut self, confidence: Decimal, won: bool) {
        let outcome = if won { Decimal::ONE } else { Decimal::ZERO };
        let miss = confidence - outcome;
        self.trades += 1;
        self.wins += u64::from(won);
        self.confidence_sum += confidence;
        self.brier_sum += (miss * miss).round_dp(CONFIDENCE_DP);
    }

    pub fn merge(&mut self, other: &Calibration, sign: i64) {
        let s = Decimal::from(sign);
        let count = |a: u64, b: u64| match sign {
            1 => a.saturating_add(b),
            _ => a.saturating_sub(b),
        };
        self.trades = count(self.trades, other.trades);
        self.wins = count(self.wins, other.wins);
        self.confidence_sum += s * other.confidence_sum;
        self.brier_sum += s * other.brier_sum;
    }
}

/// The figures of the whole that no group keeps: gross P&L, fees by asset, the priced missed
/// opportunities.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Whole {
    pub gross_profit: Decimal,
    /// As a positive amount.
    pub gross_loss: Decimal,
    pub fees_shares: Decimal,
    pub fees_collateral: Decimal,
    pub missed_priced: u64,
    pub missed_per_dollar: Decimal,
}

impl Whole {
    pub fn add_position(&mut self, p: &Position) {
        if p.profit > Decimal::ZERO {
            self.gross_profit += p.profit;
        } else {
            self.gross_loss -= p.profit;
        }
        match p.asset {
            FeeAsset::Shares => self.fees_shares += p.fee,
            FeeAsset::Collateral => self.fees_collateral += p.fee,
        }
    }

    pub fn add_hold(&mut self, h: &Hold) {
        let sum = h
            .per_dollar
            .and_then(|d| self.missed_per_dollar.checked_add(d));
        if let Some(sum) = sum {
            self.missed_priced += 1;
            self.missed_per_dollar = sum;
        }
    }

    pub fn merge(&mut self, other: &Whole, sign: i64) {
        let s = Decimal::from(sign);
        self.gross_profit += s * other.gross_profit;
        self.gross_loss += s * other.gross_loss;
        self.fees_shares += s * other.fees_shares;
        self.fees_collateral += s * other.fees_collateral;
        self.missed_priced = match sign {
            1 => self.missed_priced.saturating_add(other.missed_priced),
            _ => self.missed_priced.saturating_sub(other.missed_priced),
        };
        self.missed_per_dollar += s * other.missed_per_dollar;
    }
}
