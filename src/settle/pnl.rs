//! Settlement arithmetic with no I/O: outcome from prices (tie rule), the taker fee, and the
//! P&L of one position. Exact `rust_decimal` throughout; never touches f64 for money.
//!
//! Rounding: the fee is rounded to 5 decimals (Polymarket's rule, WIRE.md); stored money
//! (`payout`, `profit_loss`) is rounded to 6 decimals, the precision of USDC. Both round half
//! away from zero.
//!
//! Every operation is checked: whatever a row holds (even one written by hand, bypassing the
//! log's validation), the answer is a settlement or an [`Unsettleable`] reason, never a panic.

use std::str::FromStr;

use anyhow::{bail, Result};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

/// Decimal places of the taker fee (Polymarket rounds fees to 5).
pub const FEE_DP: u32 = 5;
/// Decimal places of stored money: USDC has 6.
pub const MONEY_DP: u32 = 6;
/// Most shares one position may buy (10^12): beyond it the price is not a real fill (a
/// 10^-28 price), and sums of such results could overflow.
pub const MAX_SHARES: Decimal = Decimal::from_parts(0xD4A5_1000, 0xE8, 0, false, 0);

/// Which side won a market.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Up,
    Down,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Up => "UP",
            Outcome::Down => "DOWN",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        match s {
            "UP" => Some(Outcome::Up),
            "DOWN" => Some(Outcome::Down),
            _ => None,
        }
    }
}

/// What an exact tie (end == start) resolves to. The real markets: Up ("greater than or equal").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TieRule {
    Up,
    Down,
}

impl TieRule {
    /// From the `settlement.tie_rule` setting (`up` / `down`).
    pub fn parse(s: &str) -> Result<TieRule> {
        match s {
            "up" => Ok(TieRule::Up),
            "down" => Ok(TieRule::Down),
            other => bail!("tie rule {other:?} is neither \"up\" nor \"down\""),
        }
    }
}

/// The outcome a price source gives: Up when the end price beats the start price, ties per rule.
pub fn outcome_from_prices(start: Decimal, end: Decimal, tie: TieRule) -> Outcome {
    if end > start || (end == start && tie == TieRule::Up) {
        Outcome::Up
    } else {
        Outcome::Down
    }
}

/// The taker fee model applied to one position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeModel {
    pub rate: Decimal,
    /// Whole-number exponent of `p(1−p)`.
    pub exponent: u32,
}

impl FeeModel {
    pub const NONE: FeeModel = FeeModel {
        rate: Decimal::ZERO,
        exponent: 1,
    };

    /// A model from a rate and a decimal exponent; only whole exponents 0..=4 are accepted.
    /// The configured default: `fee_rate` and `fee_exponent`, or no fee when `fees_enabled`
    /// is off. (A market's own `feeSchedule` or a logged `fee_rate` overrides it when settling.)
    pub fn from_settings(s: &crate::config::Settlement) -> Result<FeeModel> {
        let model = FeeModel::new(s.fee_rate, s.fee_exponent)?;
        Ok(if s.fees_enabled {
            model
        } else {
            FeeModel::NONE
        })
    }

    pub fn new(rate: Decimal, exponent: Decimal) -> Result<FeeModel> {
        if rate < Decimal::ZERO || rate > Decimal::ONE {
            bail!("fee rate {rate} is outside [0, 1]");
        }
        if exponent.fract() != Decimal::ZERO
            || exponent < Decimal::ZERO
            || exponent > Decimal::from(4)
        {
            bail!("fee exponent {exponent} is not a whole number in 0..=4");
        }
        // Cannot fail: checked to be a whole number in 0..=4 just above.
        let exponent = exponent.to_u32().expect("small whole exponent");
        Ok(FeeModel { rate, exponent })
    }
}

/// Taker fee in USDC for `shares` bought at `price`: `C × rate × (p(1−p))^exponent`, rounded to
/// 5 decimals. `None` when the arithmetic overflows.
pub fn fee(shares: Decimal, price: Decimal, model: FeeModel) -> Option<Decimal> {
    let base = price.checked_mul(Decimal::ONE.checked_sub(price)?)?;
    let mut factor = Decimal::ONE;
    for _ in 0..model.exponent {
        factor = factor.checked_mul(base)?;
    }
    let fee = shares.checked_mul(model.rate)?.checked_mul(factor)?;
    Some(fee.round_dp_with_strategy(FEE_DP, RoundingStrategy::MidpointAwayFromZero))
}

/// Why a position cannot be settled; [`Unsettleable::reason`] names the field and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsettleable {
    /// A required column is NULL.
    Missing(&'static str),
    /// A column's text is not a decimal number.
    NotADecimal { field: &'static str, text: String },
    /// `executed_price` outside (0, 1).
    BadPrice(Decimal),
    /// `position_size` negative.
    NegativeSize(Decimal),
    /// `position_size` above [`crate::decision::MAX_POSITION_SIZE`].
    SizeTooLarge(Decimal),
    /// The price is so small that the position would be more than [`MAX_SHARES`] shares (or
    /// the arithmetic would overflow).
    TooManyShares { price: Decimal, size: Decimal },
}

impl Unsettleable {
    pub fn reason(&self) -> String {
        match self {
            Unsettleable::Missing(field) => format!("{field} is missing"),
            Unsettleable::NotADecimal { field, text } => {
                let shown: String = text.chars().take(40).collect();
                format!("{field} {shown:?} is not a decimal number")
            }
            Unsettleable::BadPrice(p) => format!("executed_price {p} is outside (0, 1)"),
            Unsettleable::NegativeSize(s) => format!("position_size {s} is negative"),
            Unsettleable::SizeTooLarge(s) => format!(
                "position_size {s} is over {}",
                crate::decision::MAX_POSITION_SIZE
            ),
            Unsettleable::TooManyShares { price, size } => format!(
                "executed_price {price} is too small: position_size {size} would buy more than {MAX_SHARES} shares"
            ),
        }
    }
}

/// A money or price column as stored (`field` names it in the reason): plain decimal text, or
/// scientific notation written by some other tool.
pub fn stored_decimal(field: &'static str, text: Option<&str>) -> Result<Decimal, Unsettleable> {
    let text = text.ok_or(Unsettleable::Missing(field))?.trim();
    Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .map_err(|_| Unsettleable::NotADecimal {
            field,
            text: text.to_string(),
        })
}

/// The settled money of one YES/NO position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub is_win: bool,
    /// Taker fee in USDC (5 decimals).
    pub fee: Decimal,
    /// USDC paid at resolution: `(C − fee/p) × $1` on a win, 0 on a loss (6 decimals).
    pub payout: Decimal,
    /// `payout − position_size` (6 decimals).
    pub profit_loss: Decimal,
}

/// Settles a position of `position_size` USDC bought at `executed_price` on the side that wins
/// when the market resolves `won` (true = the bought side won). `C = position_size / p` shares;
/// the fee is taken in shares, so a win pays `C − fee/p`; a loss is `−position_size`.
pub fn settle_position(
    position_size: Decimal,
    executed_price: Decimal,
    won: bool,
    model: FeeModel,
) -> Result<Settled, Unsettleable> {
    if executed_price <= Decimal::ZERO || executed_price >= Decimal::ONE {
        return Err(Unsettleable::BadPrice(executed_price));
    }
    if position_size < Decimal::ZERO {
        return Err(Unsettleable::NegativeSize(position_size));
    }
    if position_size > crate::decision::MAX_POSITION_SIZE {
        return Err(Unsettleable::SizeTooLarge(position_size));
    }
    let too_many = || Unsettleable::TooManyShares {
        price: executed_price,
        size: position_size,
    };
    let shares = position_size
        .checked_div(executed_price)
        .filter(|shares| *shares <= MAX_SHARES)
        .ok_or_else(too_many)?;
    // With at most 10^12 shares at a price in (0, 1) and a rate in [0, 1], none of what follows
    // can overflow; checked all the same, so that no future change can make it panic.
    let fee = fee(shares, executed_price, model).ok_or_else(too_many)?;
    let money =
        |d: Decimal| d.round_dp_with_strategy(MONEY_DP, RoundingStrategy::MidpointAwayFromZero);
    let payout = if won {
        let fee_in_shares = fee.checked_div(executed_price).ok_or_else(too_many)?;
        money(
            shares
                .checked_sub(fee_in_shares)
                .ok_or_else(too_many)?
                .max(Decimal::ZERO),
        )
    } else {
        Decimal::ZERO
    };
    let profit_loss = payout.checked_sub(position_size).ok_or_else(too_many)?;
    // Normalized so stored text carries no trailing zeros ("9.3", not "9.300").
    Ok(Settled {
        is_win: won,
        fee: fee.normalize(),
        payout: payout.normalize(),
        profit_loss: money(profit_loss).normalize(),
    })
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
    use super::*;
    use proptest::prelude::*;

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

    #[test]
    fn fees() {
        let m = |rate: &str, exp: &str| FeeModel::new(d(rate), d(exp)).unwrap();
        // (shares, price, model, fee)
        let cases = [
            ("100", "0.5", m("0.07", "1"), "1.75"),
            ("100", "0.5", m("0.25", "2"), "1.5625"),
            ("10", "0.52", m("0.07", "1"), "0.17472"),
            ("30.5641025641", "0.39", m("0.07", "1"), "0.50898"),
            ("100", "0.5", m("0", "1"), "0"),
            ("100", "0.5", m("0.07", "0"), "7"),
            ("0", "0.5", m("0.07", "1"), "0"),
        ];
        for (shares, price, model, expected) in cases {
            assert_eq!(
                fee(d(shares), d(price), model),
                Some(d(expected)),
                "{shares} @ {price}"
            );
        }
        assert!(FeeModel::new(d("0.07"), d("1.5")).is_err());
        assert!(FeeModel::new(d("0.07"), d("5")).is_err());
        assert!(FeeModel::new(d("1.5"), d("1")).is_err());
        assert_eq!(FeeModel::new(d("0.07"), d("2.00")).unwrap().exponent, 2);
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
        for (size, price, won, profit) in cases {
            let s = settle_position(d(size), d(price), won, FeeModel::NONE).unwrap();
            assert_eq!(s.profit_loss.round_dp(2), d(profit), "{size} @ {price}");
            assert_eq!(s.is_win, won);
            assert_eq!(s.fee, Decimal::ZERO);
        }
    }

    #[test]
    fn positions_with_fees() {
        let model = FeeModel::new(d("0.07"), d("1")).unwrap();
        // 10 USDC at 0.5: 20 shares, fee 20*0.07*0.25 = 0.35, paid in shares 0.7 → 19.3.
        let s = settle_position(d("10"), d("0.5"), true, model).unwrap();
        assert_eq!(
            (s.fee, s.payout, s.profit_loss),
            (d("0.35"), d("19.3"), d("9.3"))
        );
        let s = settle_position(d("10"), d("0.5"), false, model).unwrap();
        assert_eq!(
            (s.fee, s.payout, s.profit_loss),
            (d("0.35"), d("0"), d("-10"))
        );
        // 11.92 at 0.39: C = 30.564102564..., fee 0.50896, payout C - fee/p rounded to 6.
        let s = settle_position(d("11.92"), d("0.39"), true, model).unwrap();
        assert_eq!(s.fee, d("0.50898"));
        assert_eq!(s.payout, d("29.259026"));
        assert_eq!(s.profit_loss, d("17.339026"));
        // Zero-size position: nothing won or lost.
        let s = settle_position(d("0"), d("0.5"), true, model).unwrap();
        assert_eq!(s.profit_loss, Decimal::ZERO);
    }

    #[test]
    fn unsettleable_positions() {
        let m = FeeModel::NONE;
        for price in ["0", "1", "1.2", "-0.1"] {
            assert_eq!(
                settle_position(d("5"), d(price), true, m),
                Err(Unsettleable::BadPrice(d(price)))
            );
        }
        assert_eq!(
            settle_position(d("-5"), d("0.5"), true, m),
            Err(Unsettleable::NegativeSize(d("-5")))
        );
    }

    #[test]
    fn poison_values_are_unsettleable_with_a_reason_naming_the_field() {
        let m = FeeModel::new(d("0.07"), d("1")).unwrap();
        // The examples of issue 14: the largest Decimal as a size, 10^-28 as a price.
        let huge = settle_position(d("79228162514264337593543950335"), d("0.5"), true, m);
        let reason = huge.unwrap_err().reason();
        assert!(
            reason.starts_with("position_size 79228162514264337593543950335"),
            "{reason}"
        );
        for won in [true, false] {
            let tiny = settle_position(d("5"), d("1e-28"), won, m);
            let reason = tiny.unwrap_err().reason();
            assert!(
                reason.starts_with("executed_price 0.0000000000000000000000000001"),
                "{reason}"
            );
        }
        // The largest size at a real price settles.
        let max = settle_position(d("1000000"), d("0.001"), true, m).unwrap();
        assert_eq!(max.profit_loss, d("929070000"));
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

    /// Any Decimal from its 96-bit mantissa, sign and scale (all of them, not only "nice" ones).
    fn any_decimal() -> impl Strategy<Value = Decimal> {
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

    fn any_model() -> impl Strategy<Value = FeeModel> {
        (any_decimal(), 0u32..=4).prop_map(|(rate, exponent)| FeeModel {
            rate: rate.abs().min(Decimal::ONE),
            exponent,
        })
    }

    proptest! {
        /// Arbitrary sizes, prices and fee models: a settlement within the bounds, or a reason.
        #[test]
        fn any_position_settles_or_has_a_reason(
            size in any_decimal(),
            price in any_decimal(),
            won in any::<bool>(),
            model in any_model(),
        ) {
            match settle_position(size, price, won, model) {
                Ok(s) => {
                    prop_assert!(size >= Decimal::ZERO && size <= crate::decision::MAX_POSITION_SIZE);
                    prop_assert!(price > Decimal::ZERO && price < Decimal::ONE);
                    prop_assert!(s.profit_loss >= -size);
                    prop_assert!(s.payout <= MAX_SHARES);
                    prop_assert_eq!(s.is_win, won);
                }
                Err(why) => {
                    let reason = why.reason();
                    prop_assert!(
                        reason.starts_with("executed_price") || reason.starts_with("position_size"),
                        "{}", reason
                    );
                }
            }
        }

        /// The fee never panics, whatever the operands.
        #[test]
        fn fee_never_panics(shares in any_decimal(), price in any_decimal(), model in any_model()) {
            let _ = fee(shares, price, model);
        }
    }
}
