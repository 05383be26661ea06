//! The learning loop's statistics on generated histories (tests/common/histories.rs): false
//! claims on histories without an edge, how fast an edge is found and how much of it is
//! captured, letting go after the edge turns over, and `full` against `tier1`. Fixed seeds;
//! `cargo test --test integration learning:: -- --ignored --nocapture` measures the rates
//! over 40 seeds of each kind.

use chrono::{DateTime, Duration, Utc};
use polyperf::config::{Autonomy, Engine};
use polyperf::evaluate::{self, Evaluation, Options, Rules};
use rust_decimal::Decimal;

use crate::common::histories::{self, Market, Spec};
use crate::common::TestDb;

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn now_of(spec: &Spec) -> DateTime<Utc> {
    histories::start() + Duration::days(spec.days)
}

/// A database holding `spec`'s history.
fn db_of(spec: &Spec) -> TestDb {
    let db = TestDb::new();
    histories::generate(&mut db.conn(), spec);
    db
}

fn evaluate(db: &TestDb, spec: &Spec, autonomy: Autonomy) -> Evaluation {
    let opts = Options {
        now: now_of(spec),
        engine: Engine::Rules,
        autonomy,
        since: None,
    };
    evaluate::run(&db.conn(), &db.settings(), &opts, &mut Rules).unwrap()
}

/// What the best fixed threshold would have made over the whole history, against the record
/// (0 when keeping the trader's threshold is best): the hindsight gain.
fn hindsight_gain(db: &TestDb, spec: &Spec) -> Decimal {
    let conn = db.conn();
    let now = now_of(spec);
    let rows = polyperf::adjust::replay::load_rows(&conn, now, spec.days as u32 + 1).unwrap();
    let history = polyperf::adjust::replay::History::load(&conn, now).unwrap();
    let actual = history.timeline(histories::start());
    let values: Vec<Decimal> = (50..=95).map(|c| Decimal::new(c, 2)).collect();
    polyperf::adjust::replay::threshold_scan(
        &rows,
        &actual,
        spec.threshold,
        &values,
        histories::fees(),
    )
    .into_iter()
    .map(|c| c.difference)
    .max()
    .unwrap_or_default()
    .max(Decimal::ZERO)
}

/// The day (0-based, from the history's start) of the loop's first threshold change in the
/// direction `up`.
fn first_move(e: &Evaluation, up: bool) -> Option<i64> {
    e.changes
        .iter()
        .filter(|c| c.parameter == "bot_confidence_threshold" && (c.new > c.old) == up)
        .map(|c| day_of(&c.at))
        .min()
}

fn day_of(at: &str) -> i64 {
    (polyperf::time::from_db(at).unwrap() - histories::start()).num_days()
}

fn spec(market: Market, seed: u64) -> Spec {
    Spec {
        market,
        days: 60,
        per_day: 96,
        threshold: dec("0.60"),
        seed,
    }
}

/// What one history's evaluation showed.
#[derive(Debug, Clone)]
struct Outcome {
    ci_above_0: bool,
    first_raise: Option<i64>,
    /// improvement / hindsight gain (None when there was nothing to gain).
    captured: Option<f64>,
    /// A rollback, or a threshold lowered, in [day, day + 10).
    let_go_by: Option<i64>,
    rollbacks: usize,
    changes: usize,
    threshold_changes: usize,
}

fn outcome(s: &Spec, autonomy: Autonomy) -> Outcome {
    use rust_decimal::prelude::ToPrimitive;
    let db = db_of(s);
    let e = evaluate(&db, s, autonomy);
    let gain = hindsight_gain(&db, s);
    if std::env::var("LEARNING_VERBOSE").is_ok() {
        println!(
            "{:?} seed {}: improvement {} ci {:?} gain {gain}",
            s.market, s.seed, e.improvement.profit, e.improvement.ci
        );
        for c in &e.changes {
            println!(
                "  {} {} {} -> {} {:?} {}",
                c.at, c.parameter, c.old, c.new, c.tier, c.method
            );
        }
    }
    let flip = match s.market {
        Market::Flip { day } => Some(day),
        _ => None,
    };
    let let_go_by = flip.and_then(|flip| {
        e.changes
            .iter()
            .filter(|c| {
                c.parameter == "bot_confidence_threshold"
                    && (c.method == "rollback" || c.new < c.old)
            })
            .map(|c| day_of(&c.at))
            .find(|d| *d >= flip)
    });
    Outcome {
        ci_above_0: e.improvement.ci[0] > Decimal::ZERO,
        first_raise: first_move(&e, true),
        captured: (gain > Decimal::ZERO)
            .then(|| (e.improvement.profit / gain).to_f64().unwrap_or(0.0)),
        let_go_by,
        rollbacks: e.changes.iter().filter(|c| c.method == "rollback").count(),
        changes: e.changes.len(),
        threshold_changes: e
            .changes
            .iter()
            .filter(|c| c.parameter == "bot_confidence_threshold")
            .count(),
    }
}

fn median(mut xs: Vec<f64>) -> Option<f64> {
    xs.sort_by(f64::total_cmp);
    (!xs.is_empty()).then(|| xs[xs.len() / 2])
}

#[test]
#[ignore = "measures rates over many seeds; run with --ignored --nocapture"]
fn measure_rates_over_many_seeds() {
    let n: u64 = std::env::var("LEARNING_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let t = std::time::Instant::now();
    let null: Vec<Outcome> = (0..n)
        .map(|k| outcome(&spec(Market::Null, 1000 + k), Autonomy::Tier1))
        .collect();
    let edge: Vec<Outcome> = (0..n)
        .map(|k| outcome(&spec(Market::Edge, 2000 + k), Autonomy::Tier1))
        .collect();
    let flip: Vec<Outcome> = (0..n)
        .map(|k| outcome(&spec(Market::Flip { day: 30 }, 3000 + k), Autonomy::Tier1))
        .collect();
    let count = |xs: &[Outcome], f: &dyn Fn(&Outcome) -> bool| xs.iter().filter(|o| f(o)).count();
    println!("null: CI above 0 in {}/{n}; histories with a rollback {}; changes median {:?}, threshold changes median {:?}, none in {}",
        count(&null, &|o| o.ci_above_0), count(&null, &|o| o.rollbacks > 0),
        median(null.iter().map(|o| o.changes as f64).collect()),
        median(null.iter().map(|o| o.threshold_changes as f64).collect()),
        count(&null, &|o| o.threshold_changes == 0));
    println!("edge: first raise median day {:?} (none in {}); captured median {:?}, mean {:.3}, below 60% in {}; CI above 0 in {}; rollbacks in {}",
        median(edge.iter().filter_map(|o| o.first_raise.map(|d| d as f64)).collect()),
        count(&edge, &|o| o.first_raise.is_none()),
        median(edge.iter().filter_map(|o| o.captured).collect()),
        edge.iter().filter_map(|o| o.captured).sum::<f64>() / n as f64,
        count(&edge, &|o| o.captured.is_some_and(|c| c < 0.6)),
        count(&edge, &|o| o.ci_above_0), count(&edge, &|o| o.rollbacks > 0));
    println!(
        "flip: let go within 10 days in {}/{n}; at all in {}",
        count(&flip, &|o| o.let_go_by.is_some_and(|d| d < 40)),
        count(&flip, &|o| o.let_go_by.is_some())
    );
    println!("{:.0}s", t.elapsed().as_secs_f64());
}
