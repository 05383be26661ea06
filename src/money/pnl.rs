//! Settlement arithmetic with no I/O: outcome from prices (tie rule), the P&L of one position
//! given its fee ([`super::fees`]), and the break-even win rate that follows. Exact
//! `rust_decimal` throughout; never touches f64 for money.
//!
//! Rounding: the fee is rounded down to 5 decimals (Polymarket's rule, WIRE.md); stored money
//! (`payout`, `profit_loss`) is rounded to 6 decimals, the precision of USDC, half away from
//! zero.
//!
//! Every operation is checked: whatever a row holds (even one written by hand, bypassing the
//! log's validation), the answer is a settlement or an [`Unsettleable`] reason naming the field,
//! never a panic. The bounds ([`MIN_EXECUTED_PRICE`], [`MAX_SHARES`], a logged fee at most the
//! stake) are [`crate::money`]'s, which the decision log holds every decision to, and they keep
//! every payout and P&L below 10^9 USDC, where the REAL money columns hold 6 decimal places
//! exactly.

use anyhow::Result;
use rust_decimal::{Decimal, RoundingStrategy};

pub use super::fees::{Charge, FeeModel, FeeRules, Fill};

use super::{MAX_EXECUTED_PRICE, MAX_POSITION_SIZE, MAX_SHARES, MIN_EXECUTED_PRICE};
use crate::kinds::FeeAsset;

/// Decimal places of stored money: USDC has 6.
pub const MONEY_DP: u32 = 6;

use crate::kinds::Outcome;

/// What one share of the side a position bought pays at resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payoff {
    /// $1: the side won.
    Won,
    /// Nothing: the side lost.
    Lost,
    /// $0.50: the market resolved 50-50.
    Half,
}

impl Payoff {
    /// What a YES (bought Up) or NO (bought Down) position is paid under `outcome`.
    pub fn of(action_is_yes: bool, outcome: Outcome) -> Payoff {
        match outcome {
            Outcome::Split => Payoff::Half,
            _ if side_wins(action_is_yes, outcome) => Payoff::Won,
            _ => Payoff::Lost,
        }
    }

    /// `is_win` as stored: true, false, or NULL for a 50-50 (neither a win nor a loss).
    pub fn is_win(self) -> Option<bool> {
        match self {
            Payoff::Won => Some(true),
            Payoff::Lost => Some(false),
            Payoff::Half => None,
        }
    }

    fn per_share(self) -> Decimal {
        match self {
            Payoff::Won => Decimal::ONE,
            Payoff::Lost => Decimal::ZERO,
            Payoff::Half => Decimal::new(5, 1),
        }
    }
}

/// What an exact tie (end == start) resolves to (`settlement.tie_rule`).
pub use crate::config::TieRule;

/// The outcome a price source gives: Up when the end price beats the start price, ties per rule
/// (never a 50-50: only the exchange resolves one).
pub fn outcome_from_prices(start: Decimal, end: Decimal, tie: TieRule) -> Outcome {
    if end > start || (end == start && tie == TieRule::Up) {
        Outcome::Up
    } else {
        Outcome::Down
    }
}

/// Why a position cannot be settled; [`Unsettleable::reason`] names the field and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsettleable {
    /// `executed_price` outside (0, 1).
    BadPrice(Decimal),
    /// `executed_price` inside (0, 1) but outside the exchange's prices,
    /// [`MIN_EXECUTED_PRICE`] to [`MAX_EXECUTED_PRICE`].
    PriceOutsideTicks(Decimal),
    /// `position_size` negative.
    NegativeSize(Decimal),
    /// `position_size` above [`MAX_POSITION_SIZE`].
    SizeTooLarge(Decimal),
    /// The fee (logged `fee_paid`) negative.
    BadFee(Decimal),
    /// A logged `fee_paid` above the stake: no fill charges more than it stakes.
    FeeAboveStake { fee: Decimal, size: Decimal },
    /// The price is so small that the position would be more than [`MAX_SHARES`] shares (or
    /// the arithmetic would overflow).
    TooManyShares { price: Decimal, size: Decimal },
}

impl Unsettleable {
    pub fn reason(&self) -> String {
        match self {
            Unsettleable::BadPrice(p) => format!("executed_price {p} is outside (0, 1)"),
            Unsettleable::PriceOutsideTicks(p) => format!(
                "executed_price {p} is outside {MIN_EXECUTED_PRICE} to {MAX_EXECUTED_PRICE}, the exchange's prices"
            ),
            Unsettleable::NegativeSize(s) => format!("position_size {s} is negative"),
            Unsettleable::SizeTooLarge(s) => format!(
                "position_size {s} is over {}",
                MAX_POSITION_SIZE
            ),
            Unsettleable::BadFee(f) => format!("fee_paid {f} is negative"),
            Unsettleable::FeeAboveStake { fee, size } => {
                format!("fee_paid {fee} is above the stake (position_size {size})")
            }
            Unsettleable::TooManyShares { price, size } => format!(
                "executed_price {price} is too small: position_size {size} would buy more than {MAX_SHARES} shares"
            ),
        }
    }
}

/// The settled money of one YES/NO position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    /// What each share paid: won, lost or half (a 50-50).
    pub payoff: Payoff,
    /// Fee in USDC: logged, 0 for a maker, or the taker formula (5 decimals).
    pub fee: Decimal,
    /// The asset the fee was charged in.
    pub asset: FeeAsset,
    /// USDC paid at resolution, 0 on a loss (6 decimals). A win pays `C − fee/p` when the fee
    /// is taken in shares, `C` when it is charged in collateral; a 50-50 half of that.
    pub payout: Decimal,
    /// `payout − position_size`, less the fee when charged in collateral (6 decimals).
    pub profit_loss: Decimal,
}

impl Settled {
    /// `is_win` as stored: NULL for a 50-50.
    pub fn is_win(&self) -> Option<bool> {
        self.payoff.is_win()
    }
}

/// Settles a fill: its fee ([`Charge::of`]: logged, maker, or the taker formula) and asset
/// (by its time and the rule), then the money ([`settle_position`]).
pub fn settle_fill(fill: &Fill, rules: &FeeRules, won: bool) -> Result<Settled, Unsettleable> {
    settle_fill_paying(fill, rules, if won { Payoff::Won } else { Payoff::Lost })
}

/// [`settle_fill`] for any payoff, a 50-50 included.
pub fn settle_fill_paying(
    fill: &Fill,
    rules: &FeeRules,
    payoff: Payoff,
) -> Result<Settled, Unsettleable> {
    let shares = check_inputs(fill.size, fill.price)?;
    if let Some(fee) = fill.fee_paid.filter(|fee| *fee > fill.size) {
        return Err(Unsettleable::FeeAboveStake {
            fee,
            size: fill.size,
        });
    }
    let charge = Charge::of(fill, rules).ok_or(too_many(fill.size, fill.price))?;
    debug_assert!(shares <= MAX_SHARES);
    settle_position_paying(fill.size, fill.price, payoff, charge)
}

fn too_many(size: Decimal, price: Decimal) -> Unsettleable {
    Unsettleable::TooManyShares { price, size }
}

/// The bounds every position must meet; returns its share count `size / price`.
fn check_inputs(position_size: Decimal, executed_price: Decimal) -> Result<Decimal, Unsettleable> {
    if executed_price <= Decimal::ZERO || executed_price >= Decimal::ONE {
        return Err(Unsettleable::BadPrice(executed_price));
    }
    if executed_price < MIN_EXECUTED_PRICE || executed_price > MAX_EXECUTED_PRICE {
        return Err(Unsettleable::PriceOutsideTicks(executed_price));
    }
    if position_size < Decimal::ZERO {
        return Err(Unsettleable::NegativeSize(position_size));
    }
    if position_size > MAX_POSITION_SIZE {
        return Err(Unsettleable::SizeTooLarge(position_size));
    }
    position_size
        .checked_div(executed_price)
        .filter(|shares| *shares <= MAX_SHARES)
        .ok_or(too_many(position_size, executed_price))
}

/// The money rule. A position of `position_size` USDC bought at `executed_price` holds
/// `C = position_size / p` shares; `won` says whether the bought side won; `charge` is the fee
/// and its asset. Fee in shares (before the CLOB V2 cut-over): a win pays `(C − fee/p) × $1`,
/// profit = payout − position_size; a loss is −position_size. Fee in collateral (since): a win
/// pays `C`, profit = C − position_size − fee; a loss is −position_size − fee.
pub fn settle_position(
    position_size: Decimal,
    executed_price: Decimal,
    won: bool,
    charge: Charge,
) -> Result<Settled, Unsettleable> {
    let payoff = if won { Payoff::Won } else { Payoff::Lost };
    settle_position_paying(position_size, executed_price, payoff, charge)
}

/// [`settle_position`] for any payoff: the shares received (less the fee in shares before the
/// cut-over) are paid [`Payoff`]'s amount each; a 50-50 pays $0.50 a share, in both fee eras.
pub fn settle_position_paying(
    position_size: Decimal,
    executed_price: Decimal,
    payoff: Payoff,
    charge: Charge,
) -> Result<Settled, Unsettleable> {
    let shares = check_inputs(position_size, executed_price)?;
    if charge.fee < Decimal::ZERO {
        return Err(Unsettleable::BadFee(charge.fee));
    }
    // No fee reaches this: a logged one is at most the stake, the formula's at most C × rate.
    // Past it (a stored fee edited by hand) the P&L could outgrow the money columns.
    if charge.fee > shares {
        return Err(Unsettleable::FeeAboveStake {
            fee: charge.fee,
            size: position_size,
        });
    }
    let money =
        |d: Decimal| d.round_dp_with_strategy(MONEY_DP, RoundingStrategy::MidpointAwayFromZero);
    // With at most 10^12 shares at a price in (0, 1), what follows cannot overflow for any fee
    // the formula gives; a logged fee_paid can be anything, so every step is checked.
    let too_large = too_many(position_size, executed_price);
    let per_share = payoff.per_share();
    let (received, cost) = match charge.asset {
        FeeAsset::Shares => {
            let fee_shares = charge.fee.checked_div(executed_price).ok_or(too_large)?;
            let received = shares
                .checked_sub(fee_shares)
                .ok_or(too_large)?
                .max(Decimal::ZERO);
            (received, position_size)
        }
        FeeAsset::Collateral => {
            let cost = position_size.checked_add(charge.fee).ok_or(too_large)?;
            (shares, cost)
        }
    };
    let payout = money(received.checked_mul(per_share).ok_or(too_large)?);
    let profit_loss = payout.checked_sub(cost).ok_or(too_large)?;
    // Normalized so figures carry no trailing zeros ("9.3", not "9.300").
    Ok(Settled {
        payoff,
        fee: charge.fee.normalize(),
        asset: charge.asset,
        payout: payout.normalize(),
        profit_loss: money(profit_loss).normalize(),
    })
}

/// The break-even win rate of a set of positions, fees included: the win rate at which their
/// P&L would be zero if each won or lost with it, `Σ loss / Σ (win − loss)` with each
/// position's win and loss from [`settle_position`] (its own price, size, fee and fee asset).
/// With no fee it is `Σ size / Σ shares`, the size-weighted harmonic mean of the prices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BreakEven {
    /// Σ of what each position loses when it loses.
    at_risk: Decimal,
    /// Σ of (profit when it wins − P&L when it loses).
    swing: Decimal,
}

impl BreakEven {
    /// Adds one position; one that cannot be settled is left out (returns false).
    pub fn add(&mut self, position_size: Decimal, executed_price: Decimal, charge: Charge) -> bool {
        let outcome = |won| settle_position(position_size, executed_price, won, charge);
        let (Ok(win), Ok(loss)) = (outcome(true), outcome(false)) else {
            return false;
        };
        let swing = win.profit_loss - loss.profit_loss;
        match (
            self.at_risk.checked_sub(loss.profit_loss),
            self.swing.checked_add(swing),
        ) {
            (Some(at_risk), Some(total)) => {
                self.at_risk = at_risk;
                self.swing = total;
                true
            }
            _ => false,
        }
    }

    /// Adds the positions of another set (one row's, folded into several groups at once).
    pub fn merge(&mut self, other: &BreakEven) -> bool {
        match (
            self.at_risk.checked_add(other.at_risk),
            self.swing.checked_add(other.swing),
        ) {
            (Some(at_risk), Some(swing)) => {
                self.at_risk = at_risk;
                self.swing = swing;
                true
            }
            _ => false,
        }
    }

    /// Its two sums, `(Σ loss, Σ (win − loss))`, as the daily rollup keeps them.
    pub fn terms(&self) -> (Decimal, Decimal) {
        (self.at_risk, self.swing)
    }

    /// The sums kept by [`BreakEven::terms`], back.
    pub fn from_terms(at_risk: Decimal, swing: Decimal) -> BreakEven {
        BreakEven { at_risk, swing }
    }

    /// The break-even win rate (4 decimals); `None` with no position, or none that can win
    /// more than it loses.
    pub fn rate(&self) -> Option<Decimal> {
        (self.swing > Decimal::ZERO).then(|| (self.at_risk / self.swing).round_dp(4).normalize())
    }
}

/// Whether a YES (Up) or NO (Down) position won under `outcome`.
pub fn side_wins(action_is_yes: bool, outcome: Outcome) -> bool {
    (outcome == Outcome::Up) == action_is_yes
}

/// For a HOLD: whether the side the signal favoured would have won. `final_score` > 0 favours
/// YES, < 0 favours NO; 0 or unknown favours nothing (never a missed opportunity).
pub fn missed_opportunity(final_score: Option<f64>, outcome: Outcome) -> bool {
    match final_score {
        Some(s) if s > 0.0 => outcome == Outcome::Up,
        Some(s) if s < 0.0 => outcome == Outcome::Down,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::fees::FeeAssetRule;
    use super::*;
    use crate::kinds::Liquidity;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn outcomes_from_prices() {
        let check = |start: &str, end: &str, tie, expected| {
            assert_eq!(
                outcome_from_prices(d(start), d(end), tie),
                expected,
                "{start} -> {end}"
            );
        };
        check("66826.14", "66900.00", TieRule::Up, Outcome::Up);
        check("66826.14", "66826.13", TieRule::Up, Outcome::Down);
        check("66826.14", "66826.14", TieRule::Up, Outcome::Up);
        check("66826.14", "66826.140", TieRule::Up, Outcome::Up);
        check("66826.14", "66826.14", TieRule::Down, Outcome::Down);
        check("66826.14", "66826.15", TieRule::Down, Outcome::Up);
    }

    fn rules(asset: FeeAssetRule) -> FeeRules {
        FeeRules {
            model: FeeModel::new(d("0.07"), d("1")).unwrap(),
            asset,
        }
    }

    fn fill(time: &str, liquidity: Liquidity, fee_paid: Option<&str>) -> Fill {
        Fill {
            size: d("10"),
            price: d("0.50"),
            time: crate::time::parse_rfc3339(time).unwrap(),
            liquidity,
            fee_paid: fee_paid.map(d),
        }
    }

    #[test]
    fn the_issue_examples_by_era_side_and_logged_fee() {
        // feeSchedule 0.07 / 1, YES at 0.50 for 10 USDC: 20 shares, taker fee 0.35.
        // (fill time, liquidity, fee_paid, won, profit_loss, fee, asset)
        let before = "2026-04-28T10:59:59Z";
        let after = "2026-04-28T11:00:00Z";
        let (taker, maker) = (Liquidity::Taker, Liquidity::Maker);
        let (shares, collateral) = (FeeAsset::Shares, FeeAsset::Collateral);
        let cases = [
            (before, taker, None, true, "9.30", "0.35", shares),
            (before, taker, None, false, "-10", "0.35", shares),
            (before, maker, None, true, "10", "0", shares),
            (before, taker, Some("0.2"), true, "9.60", "0.2", shares),
            (after, taker, None, true, "9.65", "0.35", collateral),
            (after, taker, None, false, "-10.35", "0.35", collateral),
            (after, maker, None, true, "10", "0", collateral),
            (after, taker, Some("0.2"), true, "9.80", "0.2", collateral),
        ];
        for (time, liquidity, paid, won, profit, fee, asset) in cases {
            let s = settle_fill(
                &fill(time, liquidity, paid),
                &rules(FeeAssetRule::Auto),
                won,
            );
            let s = s.unwrap();
            let case = format!("{time} {liquidity:?} fee_paid {paid:?} won {won}");
            assert_eq!(s.profit_loss, d(profit), "{case}");
            assert_eq!(
                (s.fee, s.asset, s.is_win()),
                (d(fee), asset, Some(won)),
                "{case}"
            );
        }
        // The setting overrides the era either way.
        let forced = settle_fill(
            &fill(after, taker, None),
            &rules(FeeAssetRule::Shares),
            true,
        );
        assert_eq!(forced.unwrap().profit_loss, d("9.3"));
        let forced = settle_fill(
            &fill(before, taker, None),
            &rules(FeeAssetRule::Collateral),
            false,
        );
        assert_eq!(forced.unwrap().profit_loss, d("-10.35"));
    }

    #[test]
    fn seed_examples_without_fee() {
        // (size, price, won, profit rounded to cents)
        let cases = [
            ("11.92", "0.39", true, "18.64"),
            ("5.00", "0.11", true, "40.45"),
            ("10", "0.89", true, "1.24"),
            ("11.92", "0.39", false, "-11.92"),
            ("5.00", "0.11", false, "-5.00"),
        ];
        for asset in [FeeAsset::Shares, FeeAsset::Collateral] {
            let free = Charge {
                fee: Decimal::ZERO,
                asset,
            };
            for (size, price, won, profit) in cases {
                let s = settle_position(d(size), d(price), won, free).unwrap();
                assert_eq!(s.profit_loss.round_dp(2), d(profit), "{size} @ {price}");
                assert_eq!(s.is_win(), Some(won));
                assert_eq!(s.fee, Decimal::ZERO);
            }
        }
    }

    #[test]
    fn positions_with_fees() {
        let charge = |fee: &str, asset| Charge { fee: d(fee), asset };
        // 10 USDC at 0.5: 20 shares, fee 0.35 paid in shares (0.7 of them) → 19.3.
        let s = settle_position(d("10"), d("0.5"), true, charge("0.35", FeeAsset::Shares));
        let s = s.unwrap();
        assert_eq!((s.payout, s.profit_loss), (d("19.3"), d("9.3")));
        // In collateral the win pays all 20 shares and the fee comes on top of the stake.
        let s = settle_position(
            d("10"),
            d("0.5"),
            true,
            charge("0.35", FeeAsset::Collateral),
        );
        let s = s.unwrap();
        assert_eq!((s.payout, s.profit_loss), (d("20"), d("9.65")));
        let s = settle_position(
            d("10"),
            d("0.5"),
            false,
            charge("0.35", FeeAsset::Collateral),
        );
        let s = s.unwrap();
        assert_eq!((s.payout, s.profit_loss), (d("0"), d("-10.35")));
        // 11.92 at 0.39: C = 30.564102564..., fee 0.50898, payout C - fee/p rounded to 6.
        let s = settle_position(
            d("11.92"),
            d("0.39"),
            true,
            charge("0.50898", FeeAsset::Shares),
        );
        let s = s.unwrap();
        assert_eq!(s.payout, d("29.259026"));
        assert_eq!(s.profit_loss, d("17.339026"));
        // Zero-size position: nothing won or lost.
        let s = settle_position(d("0"), d("0.5"), true, charge("0", FeeAsset::Shares));
        assert_eq!(s.unwrap().profit_loss, Decimal::ZERO);
    }

    #[test]
    fn break_even_counts_fees_and_their_asset() {
        let be = |rows: &[(&str, &str, &str, FeeAsset)]| {
            let mut b = BreakEven::default();
            for (size, price, fee, asset) in rows {
                let charge = Charge {
                    fee: d(fee),
                    asset: *asset,
                };
                assert!(b.add(d(size), d(price), charge));
            }
            b.rate()
        };
        use FeeAsset::{Collateral, Shares};
        // No fee: the price (size-weighted average of prices).
        assert_eq!(be(&[("10", "0.5", "0", Shares)]), Some(d("0.5")));
        assert_eq!(
            be(&[("10", "0.4", "0", Shares), ("10", "0.6", "0", Shares)]),
            Some(d("0.48"))
        );
        // Fee in shares: win +9.3, loss -10 → 10 / 19.3.
        assert_eq!(be(&[("10", "0.5", "0.35", Shares)]), Some(d("0.5181")));
        // Fee in collateral: win +9.65, loss -10.35 → 10.35 / 20.
        assert_eq!(be(&[("10", "0.5", "0.35", Collateral)]), Some(d("0.5175")));
        assert_eq!(be(&[]), None);
        let mut b = BreakEven::default();
        assert!(!b.add(
            d("10"),
            d("1"),
            Charge {
                fee: Decimal::ZERO,
                asset: Shares
            }
        ));
    }

    #[test]
    fn unsettleable_positions() {
        let free = Charge {
            fee: Decimal::ZERO,
            asset: FeeAsset::Shares,
        };
        for price in ["0", "1", "1.2", "-0.1"] {
            assert_eq!(
                settle_position(d("5"), d(price), true, free),
                Err(Unsettleable::BadPrice(d(price)))
            );
        }
        assert_eq!(
            settle_position(d("-5"), d("0.5"), true, free),
            Err(Unsettleable::NegativeSize(d("-5")))
        );
        let negative = Charge {
            fee: d("-0.1"),
            asset: FeeAsset::Collateral,
        };
        assert_eq!(
            settle_position(d("5"), d("0.5"), true, negative),
            Err(Unsettleable::BadFee(d("-0.1")))
        );
        // Figures beyond Decimal's range are refused, not a panic.
        assert_eq!(
            settle_position(Decimal::MAX, d("0.001"), true, free),
            Err(Unsettleable::SizeTooLarge(Decimal::MAX))
        );
        let huge = Fill {
            size: Decimal::MAX,
            price: d("0.001"),
            time: crate::time::parse_rfc3339("2026-05-01T00:00:00Z").unwrap(),
            liquidity: Liquidity::Taker,
            fee_paid: None,
        };
        assert_eq!(
            settle_fill(&huge, &rules(FeeAssetRule::Auto), true),
            Err(Unsettleable::SizeTooLarge(Decimal::MAX))
        );
    }

    #[test]
    fn poison_values_are_unsettleable_with_a_reason_naming_the_field() {
        let free = Charge {
            fee: Decimal::ZERO,
            asset: FeeAsset::Shares,
        };
        // The examples of issue 14: the largest Decimal as a size, 10^-28 as a price.
        let huge = settle_position(d("79228162514264337593543950335"), d("0.5"), true, free);
        let reason = huge.unwrap_err().reason();
        assert!(
            reason.starts_with("position_size 79228162514264337593543950335 is over"),
            "{reason}"
        );
        for won in [true, false] {
            let tiny = settle_position(d("5"), d("1e-28"), won, free);
            let reason = tiny.unwrap_err().reason();
            assert!(
                reason.starts_with(
                    "executed_price 0.0000000000000000000000000001 is outside 0.001 to 0.999"
                ),
                "{reason}"
            );
        }
        // A logged fee beyond reason is a reason too, not an overflow.
        let fee = Charge {
            fee: Decimal::MAX,
            asset: FeeAsset::Shares,
        };
        assert!(settle_position(d("5"), d("0.000001"), true, fee).is_err());
        // The largest size at a real price settles; one that would buy more than 10^8 shares
        // (issue 23: 1,000,000 at 0.000001 settled 9.3e11, past what the columns hold) does not.
        let max = settle_position(d("1000000"), d("0.01"), true, free).unwrap();
        assert_eq!(max.profit_loss, d("99000000"));
        let too_many = settle_position(d("1000000"), d("0.001"), true, free);
        assert_eq!(
            too_many.unwrap_err().reason(),
            "executed_price 0.001 is too small: position_size 1000000 would buy more than 100000000 shares"
        );
        let issue = settle_position(d("1000000"), d("0.000001"), true, free);
        assert!(issue
            .unwrap_err()
            .reason()
            .starts_with("executed_price 0.000001 is outside"));
    }

    /// A 50-50 pays $0.50 a share on either side, by the fee rules of each era: before the
    /// cut-over the fee came out of the shares (half of `C − fee/p`), since then it is charged
    /// on top of the stake (half of `C`, less the fee). Neither a win nor a loss.
    #[test]
    fn fifty_fifty_pays_half_a_share_in_both_eras() {
        // 10 USDC at 0.40: 25 shares, taker fee 25 × 0.07 × 0.24 = 0.42.
        let fill = |time: &str, price: &str, paid: Option<&str>| Fill {
            size: d("10"),
            price: d(price),
            time: crate::time::parse_rfc3339(time).unwrap(),
            liquidity: Liquidity::Taker,
            fee_paid: paid.map(d),
        };
        let before = "2026-04-28T10:59:59Z";
        let after = "2026-04-28T11:00:00Z";
        // (fill time, price, fee_paid, fee, payout, profit)
        let cases = [
            // (25 − 0.42 / 0.4) × 0.5 = 11.975; − 10.
            (before, "0.40", None, "0.42", "11.975", "1.975"),
            // 25 × 0.5 = 12.5; − 10 − 0.42.
            (after, "0.40", None, "0.42", "12.5", "2.08"),
            // At 0.50: 20 shares, fee 0.35: (20 − 0.7) × 0.5 − 10 = −0.35; 10 − 10 − 0.35.
            (before, "0.50", None, "0.35", "9.65", "-0.35"),
            (after, "0.50", None, "0.35", "10", "-0.35"),
            // At 0.80 a 50-50 loses money; a logged fee beats the formula.
            (after, "0.80", Some("0.1"), "0.1", "6.25", "-3.85"),
        ];
        for (time, price, paid, fee, payout, profit) in cases {
            let s = settle_fill_paying(
                &fill(time, price, paid),
                &rules(FeeAssetRule::Auto),
                Payoff::Half,
            )
            .unwrap();
            let case = format!("{time} @ {price} fee_paid {paid:?}");
            assert_eq!(
                (s.fee, s.payout, s.profit_loss),
                (d(fee), d(payout), d(profit)),
                "{case}"
            );
            assert_eq!((s.payoff, s.is_win()), (Payoff::Half, None), "{case}");
        }
        assert_eq!(Payoff::of(true, Outcome::Split), Payoff::Half);
        assert_eq!(Payoff::of(false, Outcome::Split), Payoff::Half);
        assert_eq!(Payoff::of(true, Outcome::Up), Payoff::Won);
        assert_eq!(Payoff::of(false, Outcome::Up), Payoff::Lost);
        assert_eq!(Outcome::Split.column(), None);
        assert!(!missed_opportunity(Some(0.5), Outcome::Split));
        assert!(!missed_opportunity(Some(-0.5), Outcome::Split));
    }

    /// No fill charges more than it stakes: a logged fee above the stake is a reason, and so
    /// is a price outside the exchange's 0.001 to 0.999.
    #[test]
    fn bounds_of_the_decision_log_hold_at_settlement() {
        let at = |paid: &str| Fill {
            size: d("10"),
            price: d("0.5"),
            time: crate::time::parse_rfc3339("2026-05-01T00:00:00Z").unwrap(),
            liquidity: Liquidity::Taker,
            fee_paid: Some(d(paid)),
        };
        let rules = rules(FeeAssetRule::Auto);
        assert_eq!(
            settle_fill(&at("10.000001"), &rules, true)
                .unwrap_err()
                .reason(),
            "fee_paid 10.000001 is above the stake (position_size 10)"
        );
        assert!(settle_fill(&at("10"), &rules, true).is_ok());
        for price in ["0.0009", "0.9991"] {
            let reason = settle_position(
                d("1"),
                d(price),
                true,
                Charge {
                    fee: Decimal::ZERO,
                    asset: FeeAsset::Shares,
                },
            )
            .unwrap_err()
            .reason();
            assert_eq!(
                reason,
                format!("executed_price {price} is outside 0.001 to 0.999, the exchange's prices")
            );
        }
    }

    /// Any Decimal from its 96-bit mantissa, sign and scale (all of them, not only "nice" ones).
    fn any_decimal() -> impl proptest::strategy::Strategy<Value = Decimal> {
        use proptest::prelude::*;
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<bool>(),
            0u32..=28,
        )
            .prop_map(|(lo, mid, hi, negative, scale)| {
                Decimal::from_parts(lo, mid, hi, negative, scale)
            })
    }

    proptest::proptest! {
        /// Arbitrary sizes, prices and fees: a settlement within the bounds, or a reason naming
        /// a field; never a panic.
        #[test]
        fn any_position_settles_or_has_a_reason(
            size in any_decimal(),
            price in any_decimal(),
            fee in any_decimal(),
            won in proptest::prelude::any::<bool>(),
            collateral in proptest::prelude::any::<bool>(),
        ) {
            let asset = if collateral { FeeAsset::Collateral } else { FeeAsset::Shares };
            match settle_position(size, price, won, Charge { fee, asset }) {
                Ok(s) => {
                    proptest::prop_assert!(size >= Decimal::ZERO && size <= MAX_POSITION_SIZE);
                    proptest::prop_assert!(price > Decimal::ZERO && price < Decimal::ONE);
                    proptest::prop_assert!(s.payout <= MAX_SHARES);
                    // Every figure a money column holds exactly (below 10^9, 6 places).
                    for figure in [s.payout, s.profit_loss] {
                        proptest::prop_assert!(crate::db::Money::fits(figure), "{}", figure);
                    }
                    proptest::prop_assert_eq!(s.is_win(), Some(won));
                }
                Err(why) => {
                    let reason = why.reason();
                    proptest::prop_assert!(
                        ["executed_price", "position_size", "fee_paid"].iter().any(|f| reason.starts_with(f)),
                        "{}", reason
                    );
                }
            }
        }

        /// The whole fill path (fee model, era, logged fee): no panic.
        #[test]
        fn any_fill_settles_or_has_a_reason(
            size in any_decimal(),
            price in any_decimal(),
            paid in proptest::option::of(any_decimal()),
            rate in any_decimal(),
            exponent in 0u32..=4,
            secs in 1_577_836_800i64..4_102_444_800,
            maker in proptest::prelude::any::<bool>(),
        ) {
            let fill = Fill {
                size,
                price,
                time: chrono::DateTime::from_timestamp(secs, 0).unwrap(),
                liquidity: if maker { Liquidity::Maker } else { Liquidity::Taker },
                fee_paid: paid,
            };
            let rules = FeeRules {
                model: FeeModel { rate: rate.abs().min(Decimal::ONE), exponent },
                asset: FeeAssetRule::Auto,
            };
            let _ = settle_fill(&fill, &rules, true);
        }
    }

    #[test]
    fn sides_and_missed_opportunities() {
        assert!(side_wins(true, Outcome::Up));
        assert!(!side_wins(true, Outcome::Down));
        assert!(side_wins(false, Outcome::Down));
        let cases = [
            (Some(0.3), Outcome::Up, true),
            (Some(0.3), Outcome::Down, false),
            (Some(-0.2), Outcome::Down, true),
            (Some(-0.2), Outcome::Up, false),
            (Some(0.0), Outcome::Up, false),
            (None, Outcome::Down, false),
        ];
        for (score, outcome, missed) in cases {
            assert_eq!(
                missed_opportunity(score, outcome),
                missed,
                "{score:?} {outcome:?}"
            );
        }
    }
}
