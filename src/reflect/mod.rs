//! polyperf-reflect: finds its triggers in the database, analyses performance with an
//! OpenAI-compatible model or the deterministic rules engine, and stores the reflection, its
//! proposals and an insights message. Never changes a parameter (the adjuster does).

pub mod answer;
pub mod input;
pub mod llm;
pub mod prompt;
pub mod rules;
pub mod store;
pub mod triggers;

use std::collections::BTreeSet;

use anyhow::Result;
use serde::Serialize;

use crate::config::Engine;
use crate::error::bad_input;
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
    pub triggered: Vec<&'static str>,
    pub reflection_id: Option<i64>,
    pub engine: Engine,
    /// `ok`, `invalid_answer`, or `skipped` (no trigger fired, or `--print-prompt`).
    pub status: &'static str,
    pub proposals: usize,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
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
    let mut stats = Stats {
        triggered: eval.fired.clone(),
        engine,
        status: "skipped",
        ..Stats::default()
    };
    if eval.fired.is_empty() && !opts.print_prompt {
        tracing::info!(uncovered = eval.uncovered.len(), "no trigger fired");
        return Ok(stats);
    }
    let input = input::load(&ctx.conn, &settings, &eval.fired, &eval.uncovered, now)?;
    let prompt = prompt::build(&input);
    if opts.print_prompt {
        println!("{}", settings.scrub(&prompt.text()));
        return Ok(stats);
    }
    tracing::info!(triggered = ?eval.fired, covered = eval.uncovered.len(), engine = %engine, "reflecting");

    let known: BTreeSet<String> = input.parameters.iter().map(|p| p.name.clone()).collect();
    let (answer, model, raw, prompt_tokens, completion_tokens) = if engine == Engine::Openai {
        // No transaction is open here: the network call happens between reads and one write.
        let reply = llm::complete(&settings, &prompt).await?;
        let answer = if reply.truncated {
            Err("the answer was cut off at max_tokens (finish_reason \"length\")".to_string())
        } else {
            answer::parse(&reply.content, &known)
        };
        (
            answer,
            Some(reply.model),
            Some(reply.content),
            reply.prompt_tokens,
            reply.completion_tokens,
        )
    } else {
        let answer = rules::analyse(&input, settings.reflect.min_sample);
        let raw = serde_json::to_string(&answer)?;
        (Ok(answer), None, Some(raw), None, None)
    };
    stats.prompt_tokens = prompt_tokens.unwrap_or(0);
    stats.completion_tokens = completion_tokens.unwrap_or(0);
    stats.status = if answer.is_ok() {
        "ok"
    } else {
        "invalid_answer"
    };
    if let Err(why) = &answer {
        tracing::warn!(reason = %settings.scrub(why), "the model's answer is unusable; recorded as a failed reflection");
    }
    if ctx.dry_run {
        stats.proposals = answer
            .as_ref()
            .map(|a| a.recommendations.len())
            .unwrap_or(0);
        return Ok(stats);
    }
    let record = store::Record {
        triggered: &eval.fired,
        covered: &eval.uncovered,
        engine,
        model: model.as_deref(),
        answer: answer.as_ref().map_err(String::as_str),
        prompt: &prompt.text(),
        raw_answer: raw.as_deref(),
        prompt_tokens,
        completion_tokens,
    };
    let saved = store::save(&mut ctx.conn, &settings, &record, now)?;
    stats.reflection_id = Some(saved.reflection_id);
    stats.proposals = saved.n_proposals;
    tracing::info!(
        reflection_id = saved.reflection_id,
        status = stats.status,
        proposals = saved.n_proposals,
        "reflection stored"
    );
    Ok(stats)
}
