//! polyperf-reflect: finds its triggers in the database, analyses performance with an
//! OpenAI-compatible model or the deterministic rules engine, and stores the reflection, its
//! proposals and an insights message. Never changes a parameter (the adjuster does).
//!
//! A run is [`triggers::evaluate`], [`Prepared::load`] (input and prompt), an [`Analysis`]
//! (the model's or the rules engine's) and [`conclude`] (storing, with the rules engine as the
//! fallback of an unusable answer); `polyperf evaluate` replays history through the same steps.

pub mod answer;
pub mod completion;
pub mod figures;
pub mod input;
pub mod llm;
pub mod outage;
pub mod prompt;
pub mod rules;
pub mod store;
pub mod triggers;

use std::collections::BTreeSet;

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::Serialize;

use crate::config::{Engine, Settings};
use crate::error::bad_input;
use crate::kinds::Trigger;
use crate::runner::JobContext;
pub use triggers::Requested;

/// Options beyond the common job flags.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--trigger end_of_day|manual`.
    pub trigger: Option<Requested>,
    /// `--engine openai|rules`; `None` follows the settings (`reflect.engine`, `auto`).
    pub engine: Option<Engine>,
    /// `--print-prompt`: print the prompt to stdout and write nothing.
    pub print_prompt: bool,
}

/// What a run did: the `--json` object.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Stats {
    pub triggered: Vec<Trigger>,
    pub reflection_id: Option<i64>,
    pub engine: Engine,
    /// `ok`, `invalid_answer`, `model_failed` (the model gave no answer after its attempts
    /// and the rules engine stood in), or `skipped` (no trigger fired, or `--print-prompt`).
    pub status: &'static str,
    /// Proposals stored by the run (by the fallback when the model's answer was unusable).
    pub proposals: usize,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    /// When the model's answer was unusable: the rules engine's reflection stored in its place.
    pub fallback: Option<Fallback>,
    /// Why the model gave no answer (`model_failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_error: Option<String>,
}

/// The rules engine's reflection that stands in for an unusable answer.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Fallback {
    pub engine: Engine,
    pub reflection_id: Option<i64>,
    pub proposals: usize,
}

/// A reflection about to be made: the triggers' evaluation, what it reads, and its prompt.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub eval: triggers::Evaluation,
    pub input: input::ReflectionInput,
    pub prompt: prompt::Prompt,
}

impl Prepared {
    /// Reads what a reflection over `eval` looks at and builds its prompt.
    pub fn load(
        conn: &Connection,
        settings: &Settings,
        eval: triggers::Evaluation,
        now: DateTime<Utc>,
    ) -> Result<Prepared> {
        let input = input::load(conn, settings, &eval, now)?;
        let prompt = prompt::build(&input);
        Ok(Prepared {
            eval,
            input,
            prompt,
        })
    }

    /// The parameters a recommendation may name.
    pub fn known(&self) -> BTreeSet<String> {
        self.input
            .parameters
            .iter()
            .map(|p| p.name.clone())
            .collect()
    }
}

/// What an engine made of a prepared reflection, valid or not.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub engine: Engine,
    /// The validated answer, or why it is unusable.
    pub answer: std::result::Result<answer::Answer, String>,
    pub model: Option<String>,
    pub raw: Option<String>,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    /// The model gave no answer at all (`answer` says why): stored as a `failed` reflection.
    pub failed: bool,
    /// Why this analysis stands in for another (the rules engine for the model's).
    pub stands_in: Option<String>,
}

impl Analysis {
    /// The rules engine's analysis (never invalid).
    pub fn by_rules(prepared: &Prepared, settings: &Settings) -> Result<Analysis> {
        let answer = rules::analyse(&prepared.input, settings.reflect.min_sample);
        Ok(Analysis {
            engine: Engine::Rules,
            raw: Some(serde_json::to_string(&answer)?),
            answer: Ok(answer),
            model: None,
            prompt_tokens: None,
            completion_tokens: None,
            failed: false,
            stands_in: None,
        })
    }

    /// The model's analysis when it gave no answer: why, and the model asked.
    pub fn model_failed(model: &str, why: &str) -> Analysis {
        Analysis {
            engine: Engine::Openai,
            answer: Err(why.to_string()),
            model: Some(model.to_string()),
            raw: None,
            prompt_tokens: None,
            completion_tokens: None,
            failed: true,
            stands_in: None,
        }
    }

    /// The model's reply, validated against the parameters `prepared` knows.
    pub fn from_reply(reply: llm::Reply, prepared: &Prepared) -> Analysis {
        let answer = if reply.truncated {
            Err("the answer was cut off at max_tokens (finish_reason \"length\")".to_string())
        } else {
            answer::parse(&reply.content, &prepared.known())
        };
        Analysis {
            engine: Engine::Openai,
            answer,
            model: Some(reply.model),
            raw: Some(reply.content),
            prompt_tokens: reply.prompt_tokens,
            completion_tokens: reply.completion_tokens,
            failed: false,
            stands_in: None,
        }
    }

    fn record<'a>(&'a self, prepared: &'a Prepared, prompt: &'a str) -> store::Record<'a> {
        // An unusable answer covers nothing: the trades wait for a usable analysis (its
        // fallback's, stored beside it).
        let covered: &[i64] = match self.answer {
            Ok(_) => &prepared.eval.uncovered,
            Err(_) => &[],
        };
        store::Record {
            triggered: &prepared.eval.fired,
            covered,
            engine: self.engine,
            model: self.model.as_deref(),
            answer: self.answer.as_ref().map_err(String::as_str),
            prompt,
            raw_answer: self.raw.as_deref(),
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            failed: self.failed,
            note: self.stands_in.as_deref(),
        }
    }

    fn n_recommendations(&self) -> usize {
        self.answer
            .as_ref()
            .map(|a| a.recommendations.len())
            .unwrap_or(0)
    }
}

/// The 15-minute run: automatic triggers only.
pub async fn run(ctx: &mut JobContext) -> Result<Stats> {
    run_with(ctx, &Options::default()).await
}

/// A run with command-line options (the daily timer passes `trigger: Some(EndOfDay)`).
pub async fn run_with(ctx: &mut JobContext, opts: &Options) -> Result<Stats> {
    let settings = ctx.settings.clone();
    let engine = match opts.engine {
        Some(chosen) => chosen.resolve(settings.llm.api_key.is_some()),
        None => settings.effective_engine(),
    };
    let has_key = settings
        .llm
        .api_key
        .as_deref()
        .is_some_and(|k| !k.is_empty());
    // Showing the prompt needs no key.
    if engine == Engine::Openai && !has_key && !opts.print_prompt {
        return Err(bad_input(
            "engine openai needs OPENAI_API_KEY (or use --engine rules)",
        ));
    }
    let now = ctx.now;
    let eval = triggers::evaluate(&ctx.conn, &settings, opts.trigger, now)?;
    if eval.fired.is_empty() && !opts.print_prompt {
        tracing::info!(uncovered = eval.uncovered.len(), "no trigger fired");
        return Ok(skipped(eval.fired, engine));
    }
    let prepared = Prepared::load(&ctx.conn, &settings, eval, now)?;
    if opts.print_prompt {
        crate::output::println(&settings.scrub(&prepared.prompt.text()));
        return Ok(skipped(prepared.eval.fired, engine));
    }
    tracing::info!(triggered = ?prepared.eval.fired, covered = prepared.eval.uncovered.len(), engine = %engine, "reflecting");
    let analysis = if engine == Engine::Openai {
        // No transaction is open here: the network call happens between reads and one write.
        match llm::ask(&settings, &prepared.prompt).await? {
            Ok(reply) => Analysis::from_reply(reply, &prepared),
            Err(failure) => {
                let run = outage::Run {
                    prepared: &prepared,
                    now,
                    dry_run: ctx.dry_run,
                };
                return outage::without_model(&mut ctx.conn, &settings, &run, &failure);
            }
        }
    } else {
        Analysis::by_rules(&prepared, &settings)?
    };
    conclude(
        &mut ctx.conn,
        &settings,
        &prepared,
        analysis,
        now,
        ctx.dry_run,
    )
}

fn skipped(triggered: Vec<Trigger>, engine: Engine) -> Stats {
    Stats {
        triggered,
        engine,
        status: "skipped",
        ..Stats::default()
    }
}

/// Stores an analysis of `prepared` (nothing with `dry_run`). An unusable answer is recorded
/// as a failed reflection that covers no trade, and the rules engine's analysis is stored
/// beside it as its own reflection (engine `rules`, its `error` saying why it stood in) with its
/// proposals, in one transaction.
pub fn conclude(
    conn: &mut Connection,
    settings: &Settings,
    prepared: &Prepared,
    analysis: Analysis,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<Stats> {
    conclude_with(conn, settings, prepared, analysis, None, now, dry_run)
}

/// As [`conclude`], with an alert queued in the same transaction (once per its key).
pub(crate) fn conclude_with(
    conn: &mut Connection,
    settings: &Settings,
    prepared: &Prepared,
    analysis: Analysis,
    alert: Option<store::Alert>,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<Stats> {
    let mut stats = Stats {
        triggered: prepared.eval.fired.clone(),
        engine: analysis.engine,
        status: match (&analysis.answer, analysis.failed) {
            (Ok(_), _) => "ok",
            (Err(_), true) => "model_failed",
            (Err(_), false) => "invalid_answer",
        },
        prompt_tokens: analysis.prompt_tokens.unwrap_or(0),
        completion_tokens: analysis.completion_tokens.unwrap_or(0),
        model_error: analysis
            .answer
            .as_ref()
            .err()
            .filter(|_| analysis.failed)
            .map(|why| settings.scrub(why)),
        ..Stats::default()
    };
    let fallback = match &analysis.answer {
        Ok(_) => None,
        Err(why) => {
            let why = settings.scrub(why);
            tracing::warn!(reason = %why, "the model gave no usable answer; recorded as a failed reflection, the rules engine stands in");
            let mut rules = Analysis::by_rules(prepared, settings)?;
            rules.stands_in = Some(if analysis.failed {
                format!("the rules engine stood in: the model could not answer: {why}")
            } else {
                format!("the rules engine stood in: the model's answer was unusable: {why}")
            });
            Some(rules)
        }
    };
    if dry_run {
        stats.proposals = fallback.as_ref().unwrap_or(&analysis).n_recommendations();
        stats.fallback = fallback.map(|f| Fallback {
            engine: f.engine,
            reflection_id: None,
            proposals: f.n_recommendations(),
        });
        return Ok(stats);
    }
    let prompt = prepared.prompt.text();
    let mut records = vec![analysis.record(prepared, &prompt)];
    records.extend(fallback.iter().map(|f| f.record(prepared, &prompt)));
    let saved = store::save(conn, settings, &records, alert.as_ref(), now)?;
    if let Some(first) = saved.first() {
        stats.reflection_id = Some(first.reflection_id);
    }
    stats.proposals = saved.iter().map(|s| s.n_proposals).sum();
    if let (Some(f), Some(s)) = (&fallback, saved.get(1)) {
        stats.fallback = Some(Fallback {
            engine: f.engine,
            reflection_id: Some(s.reflection_id),
            proposals: s.n_proposals,
        });
    }
    tracing::info!(
        reflection_id = stats.reflection_id,
        status = stats.status,
        proposals = stats.proposals,
        "reflection stored"
    );
    Ok(stats)
}
