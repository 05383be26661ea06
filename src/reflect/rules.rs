//! The rules engine: deterministic insights from the same figures the model sees, in the same
//! answer shape. Suggests a threshold change only on a large enough sample, one step at a time,
//! within bounds. Pure.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::answer::{Answer, Recommendation};
pub use super::input::THRESHOLD;
use super::input::{Group, ReflectionInput};

/// Analyses `input`. `min_sample` is the smallest sample a recommendation may rest on.
pub fn analyse(input: &ReflectionInput, min_sample: u32) -> Answer {
    let week = &input.last_7_days;
    let mut answer = Answer::default();
    let o = &week.overall;
    answer.insights.push(match (o.win_rate, o.win_rate_ci) {
        (Some(rate), Some([lo, hi])) => format!(
            "last 7 days: {} settled trades, win rate {} (95% CI {}–{}), P&L {} USDC{}",
            o.n,
            pct(rate),
            pct(lo),
            pct(hi),
            crate::report::money(o.profit_loss),
            o.break_even
                .map(|p| format!(", break-even win rate {} (fees included)", pct_dec(p)))
                .unwrap_or_default()
        ),
        _ => "last 7 days: no settled trades".to_string(),
    });
    if input.since_last.overall.n > 0 {
        let s = &input.since_last.overall;
        answer.insights.push(format!(
            "since the last reflection: {} trades, {} won, {} lost, P&L {} USDC",
            s.n,
            s.wins,
            s.losses,
            crate::report::money(s.profit_loss)
        ));
    }

    for (signal, g) in &week.by_signal {
        match verdict(g) {
            Some(Verdict::Losing) => {
                let text = format!(
                    "signal {signal}: win rate {} over {} trades, 95% CI upper bound {} is below the break-even {} (fees included)",
                    pct(g.win_rate.unwrap_or(0.0)),
                    g.n,
                    pct(g.win_rate_ci.map(|c| c[1]).unwrap_or(1.0)),
                    g.break_even.map(pct_dec).unwrap_or_default(),
                );
                answer.insights.push(text.clone());
                answer.patterns.losing.push(text);
            }
            Some(Verdict::Winning) => answer.patterns.winning.push(format!(
                "signal {signal}: win rate {} over {} trades, 95% CI lower bound {} is above the break-even {}",
                pct(g.win_rate.unwrap_or(0.0)),
                g.n,
                pct(g.win_rate_ci.map(|c| c[0]).unwrap_or(0.0)),
                g.break_even.map(pct_dec).unwrap_or_default(),
            )),
            None => {}
        }
    }

    for b in &week.calibration {
        if let Some([_, hi]) = b.group.win_rate_ci {
            if hi < b.mean_confidence {
                answer.insights.push(format!(
                    "over-confident: decisions with confidence {:.2}–{:.2} (mean {:.2}) won {} of {}, 95% CI upper bound {} is below the confidence claimed",
                    b.confidence_from,
                    b.confidence_to,
                    b.mean_confidence,
                    b.group.wins,
                    b.group.n,
                    pct(hi),
                ));
            }
        }
    }

    if let Some(rec) = threshold_change(input, min_sample) {
        answer.recommendations.push(rec);
    } else if o.n < u64::from(min_sample) {
        answer.insights.push(format!(
            "no parameter change suggested: {} settled trades in 7 days, fewer than the {} a change needs",
            o.n, min_sample
        ));
    }
    answer
}

#[derive(Debug, PartialEq)]
enum Verdict {
    Winning,
    Losing,
}

/// Whether a group's 95% interval lies wholly above or below its break-even win rate (fees
/// included, [`Group::break_even`]).
fn verdict(g: &Group) -> Option<Verdict> {
    let [lo, hi] = g.win_rate_ci?;
    let break_even = g.break_even?.to_f64()?;
    if hi < break_even {
        Some(Verdict::Losing)
    } else if lo > break_even {
        Some(Verdict::Winning)
    } else {
        None
    }
}

/// One step of the confidence threshold, on a sample of at least `min_sample`:
/// up when the week is clearly losing, or when the trades just above the threshold are;
/// down only when the week and the trades just above the threshold are both clearly winning
/// (then slightly less confident trades plausibly win too). Nothing at a bound.
fn threshold_change(input: &ReflectionInput, min_sample: u32) -> Option<Recommendation> {
    let o = &input.last_7_days.overall;
    let near = &input.near_threshold;
    let enough = |g: &Group| min_sample > 0 && g.n >= u64::from(min_sample);
    let p = input.parameters.iter().find(|p| p.name == THRESHOLD)?;
    let step = p.step.filter(|s| *s > Decimal::ZERO)?;
    let (direction, group, why) = match (
        enough(o).then(|| verdict(o)).flatten(),
        enough(near).then(|| verdict(near)).flatten(),
    ) {
        (Some(Verdict::Losing), _) => (Decimal::ONE, o, "the last 7 days are clearly losing"),
        (_, Some(Verdict::Losing)) => (
            Decimal::ONE,
            near,
            "trades just above the confidence threshold are clearly losing",
        ),
        (Some(Verdict::Winning), Some(Verdict::Winning)) => (
            Decimal::NEGATIVE_ONE,
            near,
            "the last 7 days, and the trades just above the confidence threshold, are clearly winning",
        ),
        _ => return None,
    };
    let proposed = (p.value + direction * step).clamp(p.min, p.max).normalize();
    if proposed == p.value.normalize() {
        return None;
    }
    let [lo, hi] = group.win_rate_ci?;
    Some(Recommendation {
        parameter: THRESHOLD.into(),
        current: p.value,
        recommended: proposed,
        reason: format!(
            "{why}: win rate 95% CI {}–{} over {} trades against a break-even of {} (fees included)",
            pct(lo),
            pct(hi),
            group.n,
            group.break_even.map(pct_dec).unwrap_or_default()
        ),
        tier: Some(1),
        expected_impact: Some(if direction > Decimal::ZERO {
            "fewer, more confident trades".into()
        } else {
            "more trades at a win rate that has been profitable".into()
        }),
    })
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn pct_dec(p: Decimal) -> String {
    pct(p.to_f64().unwrap_or(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reflect::input::{figures, near, ParamView, Row};
    use crate::settle::fees::FeeAsset;
    use std::str::FromStr;

    fn input(wins: usize, losses: usize, conf: f64, price: &str) -> ReflectionInput {
        input_with_fee(wins, losses, conf, price, "0", FeeAsset::Shares)
    }

    fn input_with_fee(
        wins: usize,
        losses: usize,
        conf: f64,
        price: &str,
        fee: &str,
        fee_asset: FeeAsset,
    ) -> ReflectionInput {
        let mut rows = Vec::new();
        for i in 0..wins + losses {
            rows.push(Row {
                action: "YES".into(),
                confidence: conf,
                signal_type: Some("BULLISH".into()),
                executed_price: Decimal::from_str(price).ok(),
                position_size: Some(Decimal::from(10)),
                fee: Decimal::from_str(fee).ok(),
                fee_asset,
                is_win: Some(i < wins),
                profit_loss: Some(if i < wins {
                    Decimal::new(4, 0)
                } else {
                    Decimal::new(-5, 0)
                }),
                is_missed_opportunity: None,
            });
        }
        let f = figures(&rows);
        let near_threshold = near(&rows, 0.75);
        let empty = || {
            crate::metrics::Accumulator::new().finish(crate::metrics::WindowInfo {
                label: "last 7 days".into(),
                from: None,
                to: None,
                now: "2026-02-11 12:00:00".into(),
            })
        };
        ReflectionInput {
            metrics_7_days: empty(),
            metrics_since_last: empty(),
            near_threshold,
            now: "2026-02-11 12:00:00".into(),
            triggered: vec!["manual".into()],
            last_7_days: f.clone(),
            since_last: f,
            parameters: vec![ParamView {
                name: THRESHOLD.into(),
                value: Decimal::from_str("0.75").unwrap(),
                min: Decimal::from_str("0.50").unwrap(),
                max: Decimal::from_str("0.95").unwrap(),
                step: Decimal::from_str("0.01").ok(),
                description: None,
            }],
            history: vec![],
            reasoning: vec![],
        }
    }

    #[test]
    fn rules_follow_the_evidence() {
        // (wins, losses, confidence, price, min_sample, recommended threshold, over-confident?)
        let cases = [
            (10, 30, 0.9, "0.55", 30, Some("0.76"), true),
            (10, 30, 0.9, "0.55", 50, None, true),
            (30, 10, 0.8, "0.50", 30, Some("0.74"), false),
            // Winning, but none of it just above the threshold: no step down.
            (30, 10, 0.6, "0.50", 30, None, false),
            (30, 10, 0.9, "0.50", 30, None, true),
            (20, 20, 0.6, "0.50", 30, None, false),
            (1, 4, 0.9, "0.55", 3, None, true),
        ];
        for (w, l, conf, price, min, want, over) in cases {
            let a = analyse(&input(w, l, conf, price), min);
            let got = a.recommendations.first().map(|r| r.recommended.to_string());
            assert_eq!(got.as_deref(), want, "{w}/{l} at {price}, min {min}: {a:?}");
            let has_over = a.insights.iter().any(|i| i.starts_with("over-confident"));
            assert_eq!(has_over, over, "{a:?}");
        }
    }

    #[test]
    fn money_in_insights_reads_with_two_decimals() {
        // Settlement keeps 6 decimals; people read 2.
        let mut input = input(30, 10, 0.8, "0.50");
        input.last_7_days.overall.profit_loss = Decimal::from_str("736.262076").unwrap();
        input.since_last.overall.profit_loss = Decimal::from_str("-3.004999").unwrap();
        let a = analyse(&input, 30);
        assert!(
            a.insights[0].contains(", P&L +736.26 USDC"),
            "{}",
            a.insights[0]
        );
        assert!(
            a.insights[1].ends_with("P&L -3.00 USDC"),
            "{}",
            a.insights[1]
        );
    }

    #[test]
    fn break_even_includes_fees_and_their_era() {
        // 60 of 100 won at 0.50: 95% CI 50.2%–69.1%. Before fees the week is clearly winning;
        // with the taker fee (0.35 on 10 USDC) in shares the break-even is 51.81%, in
        // collateral 51.75%: no longer clearly winning, so no step down.
        let free = input(60, 40, 0.8, "0.50");
        assert_eq!(
            free.last_7_days.overall.break_even,
            Decimal::from_str("0.5").ok()
        );
        assert_eq!(verdict(&free.last_7_days.overall), Some(Verdict::Winning));
        for (asset, break_even) in [
            (FeeAsset::Shares, "0.5181"),
            (FeeAsset::Collateral, "0.5175"),
        ] {
            let i = input_with_fee(60, 40, 0.8, "0.50", "0.35", asset);
            let overall = &i.last_7_days.overall;
            assert_eq!(
                overall.break_even,
                Decimal::from_str(break_even).ok(),
                "{asset:?}"
            );
            assert_eq!(verdict(overall), None, "{asset:?}");
        }
    }

    #[test]
    fn no_step_past_a_bound() {
        let mut i = input(10, 30, 0.9, "0.55");
        i.parameters[0].value = Decimal::from_str("0.95").unwrap();
        assert!(analyse(&i, 30).recommendations.is_empty());
    }
}
