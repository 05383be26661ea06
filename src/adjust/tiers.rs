//! Pure rules of the adjuster: deciding a proposal's tier from the size of the change, and
//! what the autonomy level does with it. No I/O. (A proposed value is validated against its
//! bounds and step by [`crate::params::validate_value`].)

use rust_decimal::Decimal;

use crate::config::Autonomy;
use crate::params::relative_change;

/// What the adjuster decided a proposal is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tier {
    /// Small enough to apply without a human.
    One,
    /// Needs a human's approval.
    Two,
    /// Not acceptable at all; the reason is stored with the proposal.
    Rejected(String),
}

impl Tier {
    pub fn number(&self) -> Option<i64> {
        match self {
            Tier::One => Some(1),
            Tier::Two => Some(2),
            Tier::Rejected(_) => None,
        }
    }
}

/// Inputs of the tier decision besides the values.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub tier1_max_change: Decimal,
    pub tier2_max_change: Decimal,
}

/// What else tier 1 needs beyond a small change.
#[derive(Debug, Clone, Copy)]
pub struct Tier1Gate {
    /// The parameter's tier-1 cooldown has passed.
    pub cooldown_passed: bool,
    /// The replay does not say the new value would have lost money.
    pub evidence_ok: bool,
    /// Rollback proposals always go to a human.
    pub is_rollback: bool,
}

/// The tier of a change from `old` to `new` (both already validated): tier 1 when the relative
/// change is at most `tier1_max_change` and the gate is open, tier 2 when it is at most
/// `tier2_max_change` (or small but gated), rejected when larger or when nothing changes.
pub fn classify(old: Decimal, new: Decimal, limits: Limits, gate: Tier1Gate) -> Tier {
    if new == old {
        return Tier::Rejected(format!("proposed value {new} equals the current value"));
    }
    let Some(change) = relative_change(old, new) else {
        return Tier::Rejected(format!(
            "the relative change from {old} to {new} is undefined (or too large to compute)"
        ));
    };
    if change > limits.tier2_max_change {
        return Tier::Rejected(format!(
            "change of {} from {old} to {new} exceeds the tier-2 limit of {}",
            percent(change),
            percent(limits.tier2_max_change)
        ));
    }
    if change <= limits.tier1_max_change
        && gate.cooldown_passed
        && gate.evidence_ok
        && !gate.is_rollback
    {
        Tier::One
    } else {
        Tier::Two
    }
}

/// What else a tier-2 change needs to apply without a human under autonomy `full`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FullGate {
    /// The replay says the new value would have made more than what happened.
    pub replay_better: bool,
    /// The latest walk-forward evaluation shows the loop's changes earned money (its 95%
    /// interval lies above 0), and is recent.
    pub evaluation_agrees: bool,
    /// The parameter's cooldown since its last automatic change has passed.
    pub cooldown_passed: bool,
    /// Rollback proposals always go to a human.
    pub is_rollback: bool,
}

impl FullGate {
    pub fn open(&self) -> bool {
        self.replay_better && self.evaluation_agrees && self.cooldown_passed && !self.is_rollback
    }

    /// Why it is closed, for the stored reason.
    pub fn closed_because(&self) -> &'static str {
        if self.is_rollback {
            "rollback proposals always need a human"
        } else if !self.cooldown_passed {
            "the parameter's cooldown has not passed"
        } else if !self.replay_better {
            "the replay does not show the new value would have made more"
        } else {
            "no recent walk-forward evaluation shows the loop's changes earning money"
        }
    }
}

/// What the adjuster does with an accepted proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Autonomy `observe`: assessed and reported, nothing applied.
    Report,
    /// Applied without a human (tier 1, or tier 2 under `full` with its gate open), notified.
    Apply,
    /// Sent to a human for approval.
    AskApproval,
}

/// The action an autonomy level takes on a proposal of `tier`: `observe` reports; `tier1`
/// applies tier 1 and asks approval for tier 2; `full` also applies tier 2 when `full` (the
/// replay and the walk-forward evaluation) agrees.
pub fn action(autonomy: Autonomy, tier: &Tier, full: &FullGate) -> Action {
    match (autonomy, tier) {
        (Autonomy::Observe, _) => Action::Report,
        (_, Tier::One) => Action::Apply,
        (Autonomy::Full, Tier::Two) if full.open() => Action::Apply,
        _ => Action::AskApproval,
    }
}

/// Why a small change still went to tier 2, for the stored reason.
pub fn tier2_reason(change: Decimal, limits: Limits, gate: Tier1Gate) -> String {
    if gate.is_rollback {
        "rollback proposals always need a human".into()
    } else if change > limits.tier1_max_change {
        format!(
            "change of {} is above the tier-1 limit of {}",
            percent(change),
            percent(limits.tier1_max_change)
        )
    } else if !gate.cooldown_passed {
        "the parameter's tier-1 cooldown has not passed".into()
    } else if !gate.evidence_ok {
        "the replay does not show the new value would not have lost money".into()
    } else {
        "needs approval".into()
    }
}

/// A fraction as a percent with up to two decimals: 0.05 → "5%".
pub fn percent(fraction: Decimal) -> String {
    match fraction.checked_mul(Decimal::ONE_HUNDRED) {
        Some(p) => format!("{}%", p.round_dp(2).normalize()),
        None => format!("{} (as a fraction)", fraction.normalize()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ParamBounds;
    use crate::params::validate_value;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn limits() -> Limits {
        Limits {
            tier1_max_change: d("0.05"),
            tier2_max_change: d("0.20"),
        }
    }

    const OPEN: Tier1Gate = Tier1Gate {
        cooldown_passed: true,
        evidence_ok: true,
        is_rollback: false,
    };

    #[test]
    fn tiers_at_and_around_each_boundary() {
        // (old, new, expected tier number or None for rejected)
        let cases = [
            ("1.00", "1.04", Some(1)),
            ("1.00", "1.0499", Some(1)),
            ("1.00", "1.05", Some(1)), // exactly 5%: tier 1
            ("1.00", "0.95", Some(1)), // exactly -5%: tier 1
            ("1.00", "1.0501", Some(2)),
            ("1.00", "0.9499", Some(2)),
            ("1.00", "1.19", Some(2)),
            ("1.00", "1.20", Some(2)), // exactly 20%: tier 2
            ("1.00", "0.80", Some(2)),
            ("1.00", "1.2001", None),
            ("1.00", "0.7999", None),
            ("0.75", "0.78", Some(1)), // 4%
            ("0.75", "0.79", Some(2)), // 5.33%
            ("0.75", "0.90", Some(2)), // exactly 20%
            ("0.75", "0.91", None),    // 21.3%
            ("10", "10.50", Some(1)),
            ("10", "10.51", Some(2)),
            ("10", "12", Some(2)),
            ("10", "12.01", None),
            ("1.00", "1.00", None), // no change
            ("0", "0.5", None),     // undefined relative change
        ];
        for (old, new, expected) in cases {
            let tier = classify(d(old), d(new), limits(), OPEN);
            assert_eq!(tier.number(), expected, "{old} -> {new}: {tier:?}");
        }
    }

    #[test]
    fn a_closed_gate_sends_small_changes_to_tier_two() {
        let closed = [
            Tier1Gate {
                cooldown_passed: false,
                ..OPEN
            },
            Tier1Gate {
                evidence_ok: false,
                ..OPEN
            },
            Tier1Gate {
                is_rollback: true,
                ..OPEN
            },
        ];
        for gate in closed {
            assert_eq!(classify(d("1"), d("1.01"), limits(), gate), Tier::Two);
            // Too large stays rejected whatever the gate.
            assert!(matches!(
                classify(d("1"), d("1.5"), limits(), gate),
                Tier::Rejected(_)
            ));
        }
    }

    /// `tier1` and `full` differ exactly on tier 2 with the full gate open.
    #[test]
    fn each_autonomy_level_acts_as_documented() {
        let open = FullGate {
            replay_better: true,
            evaluation_agrees: true,
            cooldown_passed: true,
            is_rollback: false,
        };
        let cases = [
            (Autonomy::Observe, Tier::One, open, Action::Report),
            (Autonomy::Observe, Tier::Two, open, Action::Report),
            (Autonomy::Tier1, Tier::One, open, Action::Apply),
            (Autonomy::Tier1, Tier::Two, open, Action::AskApproval),
            (Autonomy::Full, Tier::One, open, Action::Apply),
            (Autonomy::Full, Tier::Two, open, Action::Apply),
            (
                Autonomy::Full,
                Tier::Two,
                FullGate {
                    evaluation_agrees: false,
                    ..open
                },
                Action::AskApproval,
            ),
            (
                Autonomy::Full,
                Tier::Two,
                FullGate {
                    replay_better: false,
                    ..open
                },
                Action::AskApproval,
            ),
            (
                Autonomy::Full,
                Tier::Two,
                FullGate {
                    is_rollback: true,
                    ..open
                },
                Action::AskApproval,
            ),
            (
                Autonomy::Full,
                Tier::Two,
                FullGate {
                    cooldown_passed: false,
                    ..open
                },
                Action::AskApproval,
            ),
        ];
        for (autonomy, tier, gate, want) in cases {
            assert_eq!(
                action(autonomy, &tier, &gate),
                want,
                "{autonomy} {tier:?} {gate:?}"
            );
        }
    }

    /// Values stored by hand at the edges of what a Decimal holds (issue 23: a position cap of
    /// 1e-28 panicked the adjuster on every run with a division overflow): no arithmetic
    /// panics; a change that cannot be computed is rejected with a reason.
    #[test]
    fn extreme_stored_values_never_panic() {
        let tiny = d("0.0000000000000000000000000001");
        let huge = Decimal::MAX;
        assert_eq!(relative_change(tiny, d("10")), None);
        assert_eq!(relative_change(huge, Decimal::MIN), None);
        assert_eq!(relative_change(d("-1"), huge), None);
        let gate = Tier1Gate {
            cooldown_passed: true,
            evidence_ok: true,
            is_rollback: false,
        };
        for (old, new) in [(tiny, d("10")), (huge, Decimal::MIN), (Decimal::MIN, huge)] {
            match classify(old, new, limits(), gate) {
                Tier::Rejected(why) => assert!(why.contains("too large"), "{why}"),
                other => panic!("{old} -> {new}: {other:?}"),
            }
        }
        assert!(percent(huge).contains("as a fraction"));
        assert_eq!(percent(d("0.05")), "5%");
        let b = ParamBounds {
            min: tiny,
            max: huge,
            step: tiny,
        };
        assert!(validate_value("p", "79228162514264337593543950335", &b).is_ok());
    }
}
