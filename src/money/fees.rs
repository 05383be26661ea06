//! Fees as Polymarket charges them, with no I/O: which fee a fill paid (what the trader logged,
//! nothing for a maker, else the taker formula rounded down to 5 decimals) and in which asset
//! (shares before the CLOB V2 cut-over, collateral after it). The one implementation of fee
//! arithmetic: settlement, `settle-check`, the adjuster's replay and the rules engine's
//! break-even all come here (and to [`super::pnl::settle_position`] for the money).

use anyhow::{bail, Result};
use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

/// Decimal places of a computed fee: the venue rounds fees down to 5.
pub const FEE_DP: u32 = 5;

/// The CLOB V2 cut-over, 2026-04-28 11:00 UTC (Polymarket's V2 migration notes). Before it a
/// taker BUY paid its fee in the asset it received, shares (C − fee/p shares were credited);
/// since it the operator sets the fee at match time and charges it as a collateral (pUSD)
/// commission on top of the stake. NautilusTrader's Polymarket adapter
/// (`compute_commission`, `adjust_market_buy_amount`) mirrors the V2 client.
pub const CLOB_V2_CUTOVER: DateTime<Utc> = match DateTime::from_timestamp(1_777_374_000, 0) {
    Some(t) => t,
    // A constant: evaluated at compile time, so this cannot fire at run time.
    None => panic!("the cut-over is a valid instant"),
};

use crate::kinds::{FeeAsset, Liquidity};

impl FeeAsset {
    /// The venue's rule for a fill at `time`: shares before [`CLOB_V2_CUTOVER`], collateral
    /// from it on.
    pub fn at(time: DateTime<Utc>) -> FeeAsset {
        if time < CLOB_V2_CUTOVER {
            FeeAsset::Shares
        } else {
            FeeAsset::Collateral
        }
    }
}

/// The `settlement.fee_asset` setting (one of the settings' words, see `config`).
pub use crate::config::FeeAssetRule;

impl FeeAssetRule {
    /// The asset of a fill at `time` under this rule.
    pub fn asset_at(self, time: DateTime<Utc>) -> FeeAsset {
        match self {
            FeeAssetRule::Auto => FeeAsset::at(time),
            FeeAssetRule::Shares => FeeAsset::Shares,
            FeeAssetRule::Collateral => FeeAsset::Collateral,
        }
    }
}

impl From<FeeAsset> for FeeAssetRule {
    /// The rule that always picks `asset`.
    fn from(asset: FeeAsset) -> FeeAssetRule {
        match asset {
            FeeAsset::Shares => FeeAssetRule::Shares,
            FeeAsset::Collateral => FeeAssetRule::Collateral,
        }
    }
}

/// A market's taker fee schedule (Gamma's `feeSchedule`, or the settings).
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

    /// A model from a rate and a decimal exponent; only whole exponents 0..=4 are accepted.
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
        let Some(exponent) = exponent.to_u32() else {
            bail!("fee exponent {exponent} is not a whole number in 0..=4");
        };
        Ok(FeeModel { rate, exponent })
    }

    /// Whether the schedule's formula gives shares rather than USDC. Known uncertainty: for
    /// the 0.25 / exponent-2 crypto schedule (2026-01-05 to 2026-03-29, the only one with
    /// exponent 2) Polymarket's docs value the fee at `C·p·0.25·(p(1−p))²` USDC ($0.78 per
    /// 100 shares at 50¢: the formula gave shares, worth p each), while the V2 client's tests
    /// imply `C·0.25·(p(1−p))²` USDC. We follow the docs; a logged `fee_paid` settles any doubt.
    fn formula_gives_shares(self) -> bool {
        self.exponent == 2
    }
}

/// Taker fee in USDC for `shares` bought at `price`: `C × rate × (p(1−p))^exponent` (times p
/// for a schedule whose formula gives shares), rounded down to [`FEE_DP`] decimals as the venue
/// does. `None` when the figures overflow.
pub fn taker_fee(shares: Decimal, price: Decimal, model: FeeModel) -> Option<Decimal> {
    let base = price.checked_mul(Decimal::ONE.checked_sub(price)?)?;
    let mut factor = Decimal::ONE;
    for _ in 0..model.exponent {
        factor = factor.checked_mul(base)?;
    }
    let mut fee = shares.checked_mul(model.rate)?.checked_mul(factor)?;
    if model.formula_gives_shares() {
        fee = fee.checked_mul(price)?;
    }
    Some(fee.round_dp_with_strategy(FEE_DP, RoundingStrategy::ToZero))
}

/// How fees are settled: the market's model and the asset rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeRules {
    pub model: FeeModel,
    pub asset: FeeAssetRule,
}

impl FeeRules {
    /// The settings' default model and asset rule (a market's own schedule overrides the model
    /// when settling).
    pub fn from_settings(s: &crate::config::Settlement) -> Result<FeeRules> {
        Ok(FeeRules {
            model: FeeModel::from_settings(s)?,
            asset: s.fee_asset,
        })
    }
}

/// What the trader knows of one fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    /// USDC staked (`position_size`).
    pub size: Decimal,
    /// Price per share (`executed_price`).
    pub price: Decimal,
    /// When it filled (the decision's timestamp): picks the fee asset.
    pub time: DateTime<Utc>,
    pub liquidity: Liquidity,
    /// USDC the fill was really charged, when the trader logged it.
    pub fee_paid: Option<Decimal>,
}

/// The fee one fill paid, in USDC, and the asset it was charged in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge {
    pub fee: Decimal,
    pub asset: FeeAsset,
}

impl Charge {
    /// The fee of a fill: `fee_paid` when logged (it beats any formula); else nothing for a
    /// maker; else the taker formula on `C = size / price` shares. `None` for a price outside
    /// (0, 1) or figures that overflow.
    pub fn of(fill: &Fill, rules: &FeeRules) -> Option<Charge> {
        let fee = match (fill.fee_paid, fill.liquidity) {
            (Some(paid), _) => paid,
            (None, Liquidity::Maker) => Decimal::ZERO,
            (None, Liquidity::Taker) => {
                if fill.price <= Decimal::ZERO || fill.price >= Decimal::ONE {
                    return None;
                }
                let shares = fill.size.checked_div(fill.price)?;
                taker_fee(shares, fill.price, rules.model)?
            }
        };
        Some(Charge {
            fee,
            asset: rules.asset.asset_at(fill.time),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        crate::time::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn taker_fees_round_down_to_five_places() {
        let m = |rate: &str, exp: &str| FeeModel::new(d(rate), d(exp)).unwrap();
        // (shares, price, model, fee)
        let cases = [
            ("100", "0.5", m("0.07", "1"), "1.75"),
            ("20", "0.5", m("0.07", "1"), "0.35"),
            ("10", "0.52", m("0.07", "1"), "0.17472"),
            ("30.5641025641", "0.39", m("0.07", "1"), "0.50898"),
            // 0.99999 × 0.072 × 0.25 = 0.01799982: down to 0.01799 (half-up gave 0.018).
            ("0.99999", "0.5", m("0.072", "1"), "0.01799"),
            ("100", "0.5", m("0", "1"), "0"),
            ("100", "0.5", m("0.07", "0"), "7"),
            ("0", "0.5", m("0.07", "1"), "0"),
        ];
        for (shares, price, model, expected) in cases {
            assert_eq!(
                taker_fee(d(shares), d(price), model),
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
    fn the_quadratic_schedule_follows_the_docs() {
        // Polymarket's docs: 100 shares at 50¢ under the 0.25 / exponent-2 schedule pay $0.78
        // (100 × 0.5 × 0.25 × 0.0625 = 0.78125 USDC), not the client tests' 1.5625.
        let model = FeeModel::new(d("0.25"), d("2")).unwrap();
        let fee = taker_fee(d("100"), d("0.5"), model).unwrap();
        assert_eq!(fee, d("0.78125"));
        assert_eq!(fee.round_dp(2), d("0.78"));
    }

    #[test]
    fn fee_asset_follows_the_cut_over_unless_forced() {
        assert_eq!(CLOB_V2_CUTOVER, at("2026-04-28T11:00:00Z"));
        let before = at("2026-04-28T10:59:59Z");
        let after = at("2026-04-28T11:00:00Z");
        assert_eq!(FeeAssetRule::Auto.asset_at(before), FeeAsset::Shares);
        assert_eq!(FeeAssetRule::Auto.asset_at(after), FeeAsset::Collateral);
        assert_eq!(FeeAssetRule::Shares.asset_at(after), FeeAsset::Shares);
        assert_eq!(
            FeeAssetRule::Collateral.asset_at(before),
            FeeAsset::Collateral
        );
    }

    #[test]
    fn logged_fee_beats_maker_beats_formula() {
        let rules = FeeRules {
            model: FeeModel::new(d("0.07"), d("1")).unwrap(),
            asset: FeeAssetRule::Auto,
        };
        let fill = |liquidity, fee_paid: Option<&str>| Fill {
            size: d("10"),
            price: d("0.5"),
            time: at("2026-05-01T00:00:00Z"),
            liquidity,
            fee_paid: fee_paid.map(d),
        };
        let fee = |f: Fill| Charge::of(&f, &rules).map(|c| c.fee);
        assert_eq!(fee(fill(Liquidity::Taker, None)), Some(d("0.35")));
        assert_eq!(fee(fill(Liquidity::Maker, None)), Some(d("0")));
        assert_eq!(fee(fill(Liquidity::Taker, Some("0.2"))), Some(d("0.2")));
        assert_eq!(fee(fill(Liquidity::Maker, Some("0.01"))), Some(d("0.01")));
        let mut bad = fill(Liquidity::Taker, None);
        bad.price = d("1");
        assert_eq!(Charge::of(&bad, &rules), None);
    }
}
