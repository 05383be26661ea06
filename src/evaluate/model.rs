//! `--engine openai`: the walk's reflections analysed by the configured model, through the
//! reflection's own client ([`crate::reflect::llm::complete`]) and validation
//! ([`Analysis::from_reply`]). Each answer is stored in `evaluation_answers` by the SHA-256 of
//! its prompt, so a rerun over the same history asks the model nothing it has answered.

use anyhow::Result;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use sha2::{Digest, Sha256};

use super::walk::Analyst;
use crate::config::Settings;
use crate::evaluations;
use crate::reflect::llm::{self, Reply};
use crate::reflect::{Analysis, Prepared};

/// The model, with the answers stored in the live database (`now`: when new ones are stored).
pub struct Model<'a> {
    pub live: &'a Connection,
    pub runtime: &'a tokio::runtime::Runtime,
    pub now: DateTime<Utc>,
    /// Answers asked of the model during this evaluation (the rest were stored).
    pub asked: usize,
}

impl Analyst for Model<'_> {
    fn analyse(&mut self, prepared: &Prepared, settings: &Settings) -> Result<Analysis> {
        let prompt = prepared.prompt.text();
        let key = hex(&Sha256::digest(prompt.as_bytes()));
        if let Some((model, content)) = evaluations::answer(self.live, &key)? {
            let reply = Reply {
                model,
                content,
                truncated: false,
                prompt_tokens: None,
                completion_tokens: None,
            };
            return Ok(Analysis::from_reply(reply, prepared));
        }
        let reply = self
            .runtime
            .block_on(llm::complete(settings, &prepared.prompt))?;
        self.asked += 1;
        if !reply.truncated {
            evaluations::store_answer(self.live, &key, &reply.model, &reply.content, self.now)?;
        }
        Ok(Analysis::from_reply(reply, prepared))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
