//! The settings that choose one of a few words: one enum per key, shared by the TOML file, the
//! environment and, where a flag takes the same choice, clap (atuin's `FilterMode`). A typo
//! fails when the settings are read (exit 2 naming the key and the allowed words), never in a
//! string comparison deep inside. The spellings are the ones the settings always had.

use serde::de::{DeserializeOwned, IntoDeserializer};
use serde::{Deserialize, Serialize};

/// `general.log_format`: how tracing writes to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable on a terminal, JSON lines otherwise (journald).
    #[default]
    Auto,
    Human,
    Json,
}

/// `settlement.source` and polyperf-settle's `--source`: where outcomes may come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Official first; the price fallback only after `official_wait_minutes` (or without Gamma).
    #[default]
    Auto,
    /// Official results only.
    Gamma,
    /// Prices only.
    Price,
}

/// `settlement.tie_rule`: what an exact tie (end == start) resolves to. The real markets: Up
/// ("greater than or equal").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TieRule {
    #[default]
    Up,
    Down,
}

/// `settlement.fee_asset`: `auto` follows the fill time (`money::fees::FeeAsset::at`); the
/// others force one asset (a venue that changes its rules again, or what-if reports).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FeeAssetRule {
    #[default]
    Auto,
    Shares,
    Collateral,
}

/// `reflect.engine` and polyperf-reflect's `--engine`: who analyses performance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// OpenAI when an API key is set, else the rules engine (a setting only, not a flag).
    #[default]
    #[value(skip)]
    Auto,
    Openai,
    Rules,
}

impl Engine {
    /// The engine that runs: `Auto` resolved by whether an API key is set.
    pub fn resolve(self, has_api_key: bool) -> Engine {
        match self {
            Engine::Auto if has_api_key => Engine::Openai,
            Engine::Auto => Engine::Rules,
            chosen => chosen,
        }
    }

    /// The word as stored in `reflections.engine` and shown in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Auto => "auto",
            Engine::Openai => "openai",
            Engine::Rules => "rules",
        }
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `adjust.autonomy` and `polyperf evaluate --autonomy`: how much the adjuster may do on its
/// own. A fresh install observes; the README says when to move on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Autonomy {
    /// Apply nothing: proposals are assessed and reported (the tier-3 guard still pauses).
    #[default]
    Observe,
    /// Apply tier 1; tier 2 asks a human for approval.
    Tier1,
    /// As `tier1`, and a tier-2 change applies on its own (notified, reversible) when the
    /// replay shows it would have made more than what happened and the latest walk-forward
    /// evaluation shows the loop's changes earned money (95% interval above 0).
    Full,
}

impl Autonomy {
    /// Whether anything may be applied at all (not `observe`).
    pub fn applies_changes(self) -> bool {
        self != Autonomy::Observe
    }

    /// The word as the settings and `evaluations.autonomy` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Autonomy::Observe => "observe",
            Autonomy::Tier1 => "tier1",
            Autonomy::Full => "full",
        }
    }
}

impl std::fmt::Display for Autonomy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[telegram.notify]`: how one kind of message reaches the chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Notification {
    /// Sent, with the phone's usual sound.
    On,
    /// Sent without a sound (`disable_notification`): it waits in the chat.
    Silent,
    /// Not sent at all, and not queued.
    Off,
}

/// The kinds of message an operator can turn on, silence or off (`[telegram.notify]`'s keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Notice {
    /// A new YES/NO decision (the trade alert).
    Trade,
    /// A settled trade's result (WIN / LOSS).
    Result,
    /// What a settlement run did.
    Settlement,
    /// A reflection's insights and proposals.
    Reflection,
    /// A change waiting for approval, and parameter changes made or rolled back.
    Approval,
    /// Pauses and resumes, failed jobs, disk space, settlement lag and disagreements, notices.
    Alert,
}

/// A word stored as text (a database column) read into its enum by the enum's serde names, so
/// the enum's derive is the one place that spells them.
pub fn from_word<T: DeserializeOwned>(text: &str) -> Result<T, serde::de::value::Error> {
    T::deserialize(text.into_deserializer())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_the_settings_spellings() {
        for (word, format) in [
            ("auto", LogFormat::Auto),
            ("human", LogFormat::Human),
            ("json", LogFormat::Json),
        ] {
            assert_eq!(from_word::<LogFormat>(word).unwrap(), format);
        }
        for (word, source) in [
            ("auto", Source::Auto),
            ("gamma", Source::Gamma),
            ("price", Source::Price),
        ] {
            assert_eq!(from_word::<Source>(word).unwrap(), source);
        }
        assert_eq!(from_word::<TieRule>("down").unwrap(), TieRule::Down);
        for engine in [Engine::Auto, Engine::Openai, Engine::Rules] {
            assert_eq!(from_word::<Engine>(engine.as_str()).unwrap(), engine);
        }
        for (word, autonomy) in [
            ("observe", Autonomy::Observe),
            ("tier1", Autonomy::Tier1),
            ("full", Autonomy::Full),
        ] {
            assert_eq!(from_word::<Autonomy>(word).unwrap(), autonomy);
            assert_eq!(autonomy.as_str(), word);
        }
        assert!(from_word::<Autonomy>("Observe").is_err());
        for (word, notification) in [
            ("on", Notification::On),
            ("silent", Notification::Silent),
            ("off", Notification::Off),
        ] {
            assert_eq!(from_word::<Notification>(word).unwrap(), notification);
        }
    }

    /// A word outside its key's choices stops the binary with exit 2, naming the key and the
    /// words it takes, from the environment and from a config file alike.
    #[test]
    fn an_unknown_word_is_refused_naming_the_key_and_its_words() {
        use crate::config::tests::env;
        use crate::config::Settings;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        for (section, key, words) in [
            ("general", "log_format", "`auto`, `human`, `json`"),
            ("settlement", "source", "`auto`, `gamma`, `price`"),
            ("settlement", "tie_rule", "`up` or `down`"),
            ("settlement", "fee_asset", "`auto`, `shares`, `collateral`"),
            ("reflect", "engine", "`auto`, `openai`, `rules`"),
            ("adjust", "autonomy", "`observe`, `tier1`, `full`"),
        ] {
            let name = format!("POLYPERF_{}_{}", section, key).to_uppercase();
            let err = Settings::load_with_env(None, &env(&[(&name, "Sideways")])).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(&format!("{section}.{key}")), "{text}");
            assert!(text.contains(words), "{text}");
            assert_eq!(crate::error::exit_code_for(&err), crate::error::EXIT_USAGE);

            std::fs::write(&file, format!("[{section}]\n{key} = \"sideways\"\n")).unwrap();
            let err = Settings::load_with_env(Some(&file), &[]).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(&format!("{section}.{key}")), "{text}");
            assert!(text.contains(words), "{text}");
            assert_eq!(crate::error::exit_code_for(&err), crate::error::EXIT_USAGE);
        }
    }

    #[test]
    fn auto_engine_follows_the_key() {
        assert_eq!(Engine::Auto.resolve(true), Engine::Openai);
        assert_eq!(Engine::Auto.resolve(false), Engine::Rules);
        assert_eq!(Engine::Rules.resolve(true), Engine::Rules);
        assert_eq!(Engine::Openai.resolve(false), Engine::Openai);
    }
}
