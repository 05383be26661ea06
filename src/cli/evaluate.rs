//! `polyperf evaluate`: the walk-forward worth of the learning loop (`crate::evaluate`), printed
//! or `--json`, and stored in `evaluations` for the report and autonomy `full`.

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::{open, print, GlobalArgs};
use crate::config::{Autonomy, Engine};
use crate::error::bad_input;
use crate::evaluate::{self, model::Model, Evaluation, Options, Rules};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct EvaluateArgs {
    /// The evaluation's "now" (RFC 3339): decisions settled before it are replayed
    #[arg(long, value_name = "RFC3339", value_parser = crate::time::parse_now_arg)]
    pub now: Option<DateTime<Utc>>,
    /// Who analyses each replayed reflection: the rules engine (offline) or the configured
    /// model (answers are stored and reused on reruns)
    #[arg(long, value_enum, default_value = "rules")]
    pub engine: Engine,
    /// The autonomy level to evaluate (default: the configured `adjust.autonomy`)
    #[arg(long, value_enum)]
    pub autonomy: Option<Autonomy>,
    /// Only the last N days (1 to 36500)
    #[arg(long, conflicts_with = "since", value_parser = crate::time::parse_days_arg)]
    pub days: Option<u32>,
    /// Only decisions at or after this time (RFC 3339)
    #[arg(long, value_parser = crate::time::parse_now_arg)]
    pub since: Option<DateTime<Utc>>,
}

pub fn run(global: &GlobalArgs, args: EvaluateArgs) -> Result<u8> {
    let (settings, conn) = open(global)?;
    let now = args.now.unwrap_or_else(Utc::now);
    let since = match args.days {
        Some(n) => Some(crate::time::days_before(now, n)?),
        None => args.since,
    };
    let opts = Options {
        now,
        engine: args.engine,
        autonomy: args.autonomy.unwrap_or(settings.adjust.autonomy),
        since,
    };
    let evaluation = match args.engine {
        Engine::Openai => {
            if settings.llm.api_key.as_deref().is_none_or(|k| k.is_empty()) {
                return Err(bad_input(
                    "--engine openai needs OPENAI_API_KEY (or use --engine rules)",
                ));
            }
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let mut model = Model {
                live: &conn,
                runtime: &runtime,
                now,
                asked: 0,
            };
            evaluate::run(&conn, &settings, &opts, &mut model)?
        }
        _ => evaluate::run(&conn, &settings, &opts, &mut Rules)?,
    };
    evaluate::store(&conn, &evaluation, now)?;
    print(global.json, &evaluation, render);
    Ok(0)
}

fn render(e: &Evaluation) -> String {
    let side = |name: &str, s: &evaluate::compare::Summary| {
        format!(
            "  {name:<9} {:>6} trades  {:>6} wins  win rate {:>7}  profit {:>12}  fees {:>10}  max drawdown {:>10}  missed {:>5}\n",
            s.trades,
            s.wins,
            s.win_rate
                .map(|w| format!("{:.2}%", w * 100.0))
                .unwrap_or_else(|| "n/a".into()),
            s.profit.round_dp(2),
            s.fees.round_dp(2),
            s.max_drawdown.round_dp(2),
            s.missed_opportunities
        )
    };
    let mut out = format!(
        "Walk-forward evaluation (autonomy {}, engine {}): {} to {}, {} days, {} reflections\n",
        e.autonomy,
        e.engine,
        e.since.as_deref().unwrap_or("-"),
        e.until.as_deref().unwrap_or("-"),
        e.folds,
        e.reflections
    );
    out += &side("baseline", &e.baseline);
    out += &side("adjusted", &e.adjusted);
    out += &format!(
        "  improvement {} USDC (95% CI {}..{}, bootstrap over {} days, seed {:#x})\n",
        e.improvement.profit.round_dp(2),
        e.improvement.ci[0],
        e.improvement.ci[1],
        e.improvement.days,
        e.improvement.seed
    );
    out += &format!(
        "  win rate change {}, missed opportunities change {:+}: criteria {}\n",
        e.criteria
            .win_rate_change
            .map(|w| format!("{:+.2} pts", w * 100.0))
            .unwrap_or_else(|| "n/a".into()),
        e.criteria.missed_opportunities_change,
        if e.criteria.met { "met" } else { "not met" }
    );
    if e.left_for_approval > 0 {
        out += &format!(
            "  {} tier-2 request(s) would have waited for a human (not applied here)\n",
            e.left_for_approval
        );
    }
    for c in &e.changes {
        out += &format!(
            "  {} {} {} -> {} (tier {}, {})\n",
            c.at,
            c.parameter,
            c.old,
            c.new,
            c.tier.map(|t| t.to_string()).unwrap_or_else(|| "-".into()),
            c.method
        );
    }
    out += &format!(
        "Verdict: {}.\nNext: {}.\n",
        e.verdict.text, e.verdict.next_step
    );
    out
}
