//! Settings: built-in defaults, then an optional TOML file, then environment variables (the
//! environment wins). Validated once at start; a bad value is exit 2 naming the key.
//! Every key is `[section] key` in TOML and `POLYPERF_<SECTION>_<KEY>` in the environment;
//! the names other programs rely on (SPEC §6) are accepted too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::bad_input;

mod checks;
mod vocab;
use checks::bad_file_key;
pub use vocab::{
    from_word, Autonomy, Engine, FeeAssetRule, LogFormat, Notice, Notification, Source, TieRule,
};

/// What a secret is replaced with wherever settings are shown.
pub const REDACTED: &str = "<redacted>";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub general: General,
    pub apis: Apis,
    pub settlement: Settlement,
    pub reflect: Reflect,
    pub llm: Llm,
    pub adjust: Adjust,
    pub telegram: Telegram,
    pub archive: Archive,
    pub cleanup: Cleanup,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct General {
    pub db: PathBuf,
    /// `human`, `json`, or `auto` (human on a terminal, JSON otherwise).
    pub log_format: LogFormat,
    /// How long a job's lease in `job_locks` lasts before another run may take it over.
    pub lock_lease_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Apis {
    pub binance_api_base: String,
    pub gamma_api_base: String,
    /// Timeout of one HTTP request.
    pub http_timeout_secs: u64,
    /// Attempts per request on 429 / 5xx / timeouts before the run gives up (exit 75).
    pub http_max_attempts: u32,
    /// First backoff delay; doubles each attempt.
    pub http_backoff_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Settlement {
    pub batch_size: u32,
    /// A decision still unsettled this long after its window gets one alert (official results
    /// normally arrive within minutes).
    pub alert_lag_hours: u32,
    /// Wait after the window's end before settling.
    pub grace_seconds: u32,
    /// `auto` (official first, price fallback after `official_wait_minutes`), `gamma`, `price`.
    pub source: Source,
    pub official_wait_minutes: u32,
    /// Query Gamma for official results (off for offline use and the demo).
    pub gamma_enabled: bool,
    /// `up` (the real markets' rule: end >= start resolves Up) or `down`.
    pub tie_rule: TieRule,
    pub fees_enabled: bool,
    pub fee_rate: Decimal,
    pub fee_exponent: Decimal,
    /// The asset fees are charged in: `auto` (shares before the CLOB V2 cut-over of
    /// 2026-04-28 11:00 UTC, collateral after it, by the fill time), `shares` or `collateral`.
    pub fee_asset: FeeAssetRule,
    /// The Binance symbol of each asset's price fallback (`[settlement.price_symbols] ETH =
    /// "ETHUSDT"`, or `POLYPERF_SETTLEMENT_PRICE_SYMBOLS="BTC=BTCUSDT,ETH=ETHUSDT"`); an asset
    /// without one (or with `""`) waits for the official result.
    pub price_symbols: PriceSymbols,
    /// The older setting of one symbol: when set, the symbol of BTC markets (it wins over
    /// `price_symbols.BTC`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_symbol: Option<String>,
}

impl Settlement {
    /// Every asset's price symbol: `price_symbols`, with the older `price_symbol` (when set)
    /// as BTC's.
    pub fn effective_price_symbols(&self) -> PriceSymbols {
        let mut symbols = self.price_symbols.clone();
        if let Some(btc) = &self.price_symbol {
            symbols.0.insert("BTC".into(), btc.clone());
        }
        symbols
    }
}

/// Asset (upper case, as [`crate::market::asset_of_slug`] names it) → Binance symbol. Reads a
/// TOML table or a text `BTC=BTCUSDT,ETH=ETHUSDT` (the environment's form); asset names are
/// compared in upper case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriceSymbols(pub BTreeMap<String, String>);

impl PriceSymbols {
    /// The symbol of `asset`; `None` when it has none (absent, or `""`).
    pub fn of(&self, asset: &str) -> Option<&str> {
        self.0
            .get(asset)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

impl Default for PriceSymbols {
    fn default() -> Self {
        PriceSymbols(
            [
                ("BTC", "BTCUSDT"),
                ("ETH", "ETHUSDT"),
                ("SOL", "SOLUSDT"),
                ("XRP", "XRPUSDT"),
            ]
            .into_iter()
            .map(|(a, s)| (a.to_string(), s.to_string()))
            .collect(),
        )
    }
}

impl<'de> Deserialize<'de> for PriceSymbols {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Table(BTreeMap<String, String>),
            Text(String),
        }
        let pairs: Vec<(String, String)> = match Either::deserialize(d)? {
            Either::Table(table) => table.into_iter().collect(),
            Either::Text(text) => {
                let mut pairs = Vec::new();
                for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                    let (asset, symbol) = item.split_once('=').ok_or_else(|| {
                        serde::de::Error::custom(format!(
                            "{item:?} is not ASSET=SYMBOL (e.g. ETH=ETHUSDT)"
                        ))
                    })?;
                    pairs.push((asset.trim().to_string(), symbol.trim().to_string()));
                }
                pairs
            }
        };
        Ok(PriceSymbols(
            pairs
                .into_iter()
                .map(|(asset, symbol)| (asset.to_ascii_uppercase(), symbol))
                .collect(),
        ))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Reflect {
    /// `auto` (openai when an API key is set, else rules), `openai`, `rules`.
    pub engine: Engine,
    pub losses_trigger: u32,
    pub trades_trigger: u32,
    /// Smallest sample on which the rules engine suggests a parameter change.
    pub min_sample: u32,
    /// How many earlier reflections the prompt recalls.
    pub history: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Llm {
    pub api_key: Option<String>,
    pub model: String,
    pub base_url: String,
    pub timeout_secs: u64,
    pub max_tokens: u32,
    pub temperature: f32,
    pub max_attempts: u32,
    /// How long a reflection waits for a model that is unavailable (down, 5xx, rate limited)
    /// before the rules engine reflects instead, from its first failed run; 0: at once. A model
    /// that refuses for good (401, out of quota, unreadable answers) is not waited for.
    pub fallback_after_minutes: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Adjust {
    /// `observe`, `tier1` or `full`.
    pub autonomy: Autonomy,
    pub tier1_max_change: Decimal,
    pub tier2_max_change: Decimal,
    pub tier1_cooldown_hours: u32,
    pub approval_ttl_hours: u32,
    pub replay_days: u32,
    pub rollback_watch_trades: u32,
    pub max_consecutive_losses: u32,
    pub daily_loss_limit: Decimal,
    pub max_drawdown: Decimal,
    pub drawdown_lookback_days: u32,
    pub win_rate_floor: Decimal,
    pub win_rate_window: u32,
    pub auto_resume_after_hours: Option<u32>,
    /// Hard bounds and step of each parameter; the database's min/max follow these.
    pub parameters: BTreeMap<String, ParamBounds>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ParamBounds {
    pub min: Decimal,
    pub max: Decimal,
    /// Values are rounded to a multiple of this.
    pub step: Decimal,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Telegram {
    pub enabled: bool,
    pub bot_token: Option<String>,
    /// The one chat the bot talks to: a numeric id (`-1001234`, as a number or text) or `@name`.
    #[serde(deserialize_with = "string_or_integer")]
    pub chat_id: Option<String>,
    /// Users allowed to change things (pause, resume, approvals). Empty: only the owner of a
    /// private chat with the bot (chat id = user id); in a group nobody, until ids are listed.
    /// Read-only commands (/status, /report, /params, /help) answer anyone in the chat.
    pub allowed_user_ids: Vec<i64>,
    pub api_base: String,
    pub max_attempts: u32,
    /// Long-polling timeout of `getUpdates` in `--watch` mode.
    pub poll_timeout_secs: u32,
    /// This many pending rows of one kind or more are merged into one message.
    pub merge_threshold: u32,
    /// Per kind of message: `on`, `silent` or `off` (`[telegram.notify] trade = "silent"`,
    /// `POLYPERF_TELEGRAM_NOTIFY_TRADE=silent`).
    pub notify: Notify,
}

/// `[telegram.notify]`: how each kind of message reaches the chat. Routine news (trade alerts,
/// results, settlement summaries, reflections) arrives silently; what needs a human (approvals,
/// alerts) with a sound; nothing is off unless the operator says so.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Notify {
    pub trade: Notification,
    pub result: Notification,
    pub settlement: Notification,
    pub reflection: Notification,
    pub approval: Notification,
    pub alert: Notification,
}

impl Notify {
    /// How messages of this kind go out.
    pub fn of(&self, notice: Notice) -> Notification {
        match notice {
            Notice::Trade => self.trade,
            Notice::Result => self.result,
            Notice::Settlement => self.settlement,
            Notice::Reflection => self.reflection,
            Notice::Approval => self.approval,
            Notice::Alert => self.alert,
        }
    }
}

impl Default for Notify {
    fn default() -> Self {
        Notify {
            trade: Notification::Silent,
            result: Notification::Silent,
            settlement: Notification::Silent,
            reflection: Notification::Silent,
            approval: Notification::On,
            alert: Notification::On,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Archive {
    pub dir: PathBuf,
    pub retention_days: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Cleanup {
    pub min_free_bytes: u64,
    pub min_free_percent: f64,
    /// The warning level is the thresholds times this factor; the emergency sequence stops
    /// once free space is back above it.
    pub warning_factor: f64,
    pub emergency_retention_days: u32,
    pub archive_offload_dir: Option<PathBuf>,
    pub outbox_retention_days: u32,
    pub job_runs_retention_days: u32,
    pub prices_retention_days: u32,
    /// Checkpoint with TRUNCATE when the WAL is larger than this.
    pub wal_checkpoint_bytes: u64,
    /// Size of the ballast file `<db>.reserve` that cleanup keeps while space is plentiful and
    /// deletes first in an emergency: on a completely full disk SQLite cannot even delete
    /// (a DELETE grows the WAL, a checkpoint grows the database), so it needs this room. 0: off.
    pub reserve_bytes: u64,
    /// The longest each run's `PRAGMA quick_check` may take before it is stopped (recorded as
    /// incomplete). 0: no check.
    pub integrity_check_secs: u64,
}

/// Accepts text or an integer (a Telegram chat id from the environment or TOML) as text.
fn string_or_integer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Text(String),
        Integer(i64),
    }
    Ok(Option::<Either>::deserialize(d)?.map(|v| match v {
        Either::Text(s) => s,
        Either::Integer(i) => i.to_string(),
    }))
}

impl Default for General {
    fn default() -> Self {
        General {
            db: PathBuf::from("data/performance.db"),
            log_format: LogFormat::Auto,
            lock_lease_secs: 600,
        }
    }
}

impl Default for Apis {
    fn default() -> Self {
        Apis {
            binance_api_base: "https://api.binance.com".into(),
            gamma_api_base: "https://gamma-api.polymarket.com".into(),
            http_timeout_secs: 10,
            http_max_attempts: 4,
            http_backoff_ms: 500,
        }
    }
}

impl Default for Settlement {
    fn default() -> Self {
        Settlement {
            batch_size: 500,
            alert_lag_hours: 1,
            grace_seconds: 120,
            source: Source::Auto,
            official_wait_minutes: 60,
            gamma_enabled: true,
            tie_rule: TieRule::Up,
            fees_enabled: true,
            fee_rate: Decimal::new(7, 2),
            fee_exponent: Decimal::ONE,
            fee_asset: FeeAssetRule::Auto,
            price_symbols: PriceSymbols::default(),
            price_symbol: None,
        }
    }
}

impl Default for Reflect {
    fn default() -> Self {
        Reflect {
            engine: Engine::Auto,
            losses_trigger: 3,
            trades_trigger: 10,
            min_sample: 30,
            history: 5,
        }
    }
}

impl Default for Llm {
    fn default() -> Self {
        Llm {
            api_key: None,
            model: "gpt-4o-mini".into(),
            base_url: "https://api.openai.com/v1".into(),
            timeout_secs: 60,
            max_tokens: 2000,
            temperature: 0.7,
            max_attempts: 3,
            fallback_after_minutes: 60,
        }
    }
}

impl Default for Adjust {
    fn default() -> Self {
        let bounds = |min: i64, max: i64, step: i64, scale: u32| ParamBounds {
            min: Decimal::new(min, scale),
            max: Decimal::new(max, scale),
            step: Decimal::new(step, scale),
        };
        let mut parameters = BTreeMap::new();
        parameters.insert("bot_confidence_threshold".into(), bounds(50, 95, 1, 2));
        parameters.insert("bot_max_position_dollars".into(), bounds(100, 5000, 1, 2));
        parameters.insert("bot_max_exposure_fraction".into(), bounds(5, 80, 1, 2));
        Adjust {
            // A fresh install only observes (proposals and notifications; the guard still
            // pauses): README "Autonomy" says how to move to tier1 and full.
            autonomy: Autonomy::Observe,
            tier1_max_change: Decimal::new(5, 2),
            tier2_max_change: Decimal::new(20, 2),
            tier1_cooldown_hours: 24,
            approval_ttl_hours: 6,
            replay_days: 14,
            rollback_watch_trades: 20,
            max_consecutive_losses: 5,
            daily_loss_limit: Decimal::new(50, 0),
            max_drawdown: Decimal::new(100, 0),
            drawdown_lookback_days: 7,
            win_rate_floor: Decimal::new(35, 2),
            win_rate_window: 20,
            auto_resume_after_hours: None,
            parameters,
        }
    }
}

impl Default for Telegram {
    fn default() -> Self {
        Telegram {
            enabled: false,
            bot_token: None,
            chat_id: None,
            allowed_user_ids: Vec::new(),
            api_base: "https://api.telegram.org".into(),
            max_attempts: 10,
            poll_timeout_secs: 30,
            merge_threshold: 5,
            notify: Notify::default(),
        }
    }
}

impl Default for Archive {
    fn default() -> Self {
        Archive {
            dir: PathBuf::from("archive"),
            retention_days: 30,
        }
    }
}

impl Default for Cleanup {
    fn default() -> Self {
        Cleanup {
            min_free_bytes: 1 << 30,
            min_free_percent: 5.0,
            warning_factor: 1.5,
            emergency_retention_days: 7,
            archive_offload_dir: None,
            outbox_retention_days: 30,
            job_runs_retention_days: 30,
            prices_retention_days: 14,
            wal_checkpoint_bytes: 64 << 20,
            reserve_bytes: 64 << 20,
            integrity_check_secs: 60,
        }
    }
}

/// Environment names fixed by SPEC §6 and the seed, and the key each sets.
const ENV_ALIASES: &[(&str, &str, &str)] = &[
    ("POLYPERF_DB", "general", "db"),
    ("POLYPERF_LOG_FORMAT", "general", "log_format"),
    ("BINANCE_API_BASE", "apis", "binance_api_base"),
    ("GAMMA_API_BASE", "apis", "gamma_api_base"),
    ("SETTLEMENT_BATCH_SIZE", "settlement", "batch_size"),
    (
        "SETTLEMENT_ALERT_LAG_HOURS",
        "settlement",
        "alert_lag_hours",
    ),
    ("OPENAI_API_KEY", "llm", "api_key"),
    ("OPENAI_MODEL", "llm", "model"),
    ("OPENAI_BASE_URL", "llm", "base_url"),
    ("TELEGRAM_ENABLED", "telegram", "enabled"),
    ("TELEGRAM_BOT_TOKEN", "telegram", "bot_token"),
    ("TELEGRAM_CHAT_ID", "telegram", "chat_id"),
    ("TELEGRAM_ALLOWED_USER_IDS", "telegram", "allowed_user_ids"),
    ("TELEGRAM_API_BASE", "telegram", "api_base"),
    ("POLYPERF_ARCHIVE_DIR", "archive", "dir"),
    (
        "POLYPERF_ARCHIVE_RETENTION_DAYS",
        "archive",
        "retention_days",
    ),
    ("POLYPERF_MIN_FREE_BYTES", "cleanup", "min_free_bytes"),
    ("POLYPERF_MIN_FREE_PERCENT", "cleanup", "min_free_percent"),
];

/// The largest config file read (a real one is a few kilobytes).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The text of a config file: a regular file of at most [`MAX_CONFIG_BYTES`], UTF-8. Anything
/// else (`/dev/zero`, a FIFO, a directory, a huge file) is bad input naming it, refused before
/// it is opened (opening a FIFO would wait for a writer; reading `/dev/zero` never ends).
fn read_config_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let bad = |why: String| bad_input(format!("config file {}: {why}", path.display()));
    let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
    if !meta.is_file() {
        return Err(bad("not a regular file".into()));
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(bad(format!(
            "{} bytes, more than a config file may hold ({MAX_CONFIG_BYTES})",
            meta.len()
        )));
    }
    let file = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
    // Bounded again while reading: the file may have grown (or been swapped) since.
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(e.to_string()))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(bad(format!(
            "more than a config file may hold ({MAX_CONFIG_BYTES} bytes)"
        )));
    }
    String::from_utf8(bytes).map_err(|e| bad(format!("not UTF-8 text ({e})")))
}

/// Keys whose values are lists given as comma-separated text in the environment.
const LIST_KEYS: &[(&str, &str)] = &[("telegram", "allowed_user_ids")];

/// Keys whose values are secrets: never printed, logged or stored.
const SECRET_KEYS: &[(&str, &str)] = &[("llm", "api_key"), ("telegram", "bot_token")];

impl Settings {
    /// Loads settings: defaults, then `config_file` (if given), then the process environment.
    pub fn load(config_file: Option<&Path>) -> Result<Settings> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(config_file, &env)
    }

    /// As [`Settings::load`], with the environment passed in (tests).
    pub fn load_with_env(config_file: Option<&Path>, env: &[(String, String)]) -> Result<Settings> {
        let mut tree = toml::Value::try_from(Settings::default())?;
        if let Some(path) = config_file {
            let text = read_config_file(path)?;
            let file: toml::Value = toml::from_str(&text).map_err(|e| {
                bad_input(format!(
                    "config file {}{}: {}",
                    path.display(),
                    e.span()
                        .map(|s| line_column(&text, s.start))
                        .unwrap_or_default(),
                    e.message()
                ))
            })?;
            // Deserialize now so that an error names the file (and the key), not the environment.
            if let Some((key, why)) = bad_file_key(&file) {
                return Err(bad_input(format!(
                    "config file {}: {key}: {why}",
                    path.display()
                )));
            }
            merge(&mut tree, file);
            Settings::deserialize(tree.clone()).map_err(|e| {
                bad_input(format!("config file {}: {}", path.display(), e.message()))
            })?;
        }
        for (name, value) in env {
            let Some((section, key)) = env_target(name) else {
                continue;
            };
            // `KEY=` in an environment file means "not set": the default (or the TOML file)
            // applies. Otherwise an empty OPENAI_API_KEY would select the OpenAI engine.
            if value.trim().is_empty() {
                continue;
            }
            let table = tree
                .as_table_mut()
                .and_then(|t| t.get_mut(&section))
                .and_then(|s| s.as_table_mut())
                .ok_or_else(|| bad_input(format!("{name}: unknown setting section {section}")))?;
            // `POLYPERF_TELEGRAM_NOTIFY_TRADE` sets `[telegram.notify] trade`.
            let (table, key, path) = match nested_key(table, &key) {
                Some((sub, rest)) => {
                    let path = format!("{section}.{sub}.{rest}");
                    let Some(inner) = table.get_mut(&sub).and_then(|v| v.as_table_mut()) else {
                        continue;
                    };
                    (inner, rest, path)
                }
                None => {
                    let path = format!("{section}.{key}");
                    (table, key, path)
                }
            };
            let parsed = env_value(
                LIST_KEYS.contains(&(section.as_str(), key.as_str())),
                table.get(&key),
                value,
            );
            table.insert(key.clone(), parsed);
            Settings::deserialize(tree.clone()).map_err(|e| {
                bad_input(format!(
                    "{name}={}: invalid value for {path}: {}",
                    shown(&section, &key, value),
                    e.message()
                ))
            })?;
        }
        let settings = Settings::deserialize(tree)
            .map_err(|e| bad_input(format!("settings: {}", e.message())))?;
        settings.validate()?;
        Ok(settings)
    }

    /// The reflection engine to use: `openai` only when asked for or when a key is configured.
    pub fn effective_engine(&self) -> Engine {
        self.reflect.engine.resolve(self.llm.api_key.is_some())
    }

    /// The settings as TOML with secrets replaced, for `polyperf config`.
    pub fn redacted_toml(&self) -> String {
        let mut copy = self.clone();
        copy.redact();
        toml::to_string_pretty(&copy).unwrap_or_else(|e| format!("# cannot render settings: {e}"))
    }

    /// The settings as JSON with secrets replaced.
    pub fn redacted_json(&self) -> serde_json::Value {
        let mut copy = self.clone();
        copy.redact();
        serde_json::to_value(copy).unwrap_or_default()
    }

    fn redact(&mut self) {
        if self.llm.api_key.is_some() {
            self.llm.api_key = Some(REDACTED.into());
        }
        if self.telegram.bot_token.is_some() {
            self.telegram.bot_token = Some(REDACTED.into());
        }
    }

    /// Every secret value currently set, for scrubbing text before it is logged or stored.
    pub fn secrets(&self) -> Vec<String> {
        [self.llm.api_key.clone(), self.telegram.bot_token.clone()]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// Replaces every secret in `text` with a placeholder.
    pub fn scrub(&self, text: &str) -> String {
        scrub_secrets(text, &self.secrets())
    }
}

/// Replaces each of `secrets` in `text` with a placeholder.
pub fn scrub_secrets(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for secret in secrets {
        if secret.len() >= 4 {
            out = out.replace(secret.as_str(), REDACTED);
        }
    }
    out
}

/// Environment variables that look meant for polyperf but set nothing: a `POLYPERF_`,
/// `TELEGRAM_` or `OPENAI_` name within two edits of a setting's name (`TELEGRAM_ENABLE=true`
/// for `TELEGRAM_ENABLED`). One warning text each, naming the likely setting; the value is never
/// shown (it may be a secret). Names far from every setting are left alone: other programs
/// share those prefixes.
pub fn misspelt_env_names(env: &[(String, String)]) -> Vec<String> {
    let known = known_env_names();
    let mut warnings = Vec::new();
    for (name, _) in env {
        let ours = ["POLYPERF_", "TELEGRAM_", "OPENAI_"]
            .iter()
            .any(|p| name.starts_with(p));
        if !ours || name.starts_with("POLYPERF_FAULT_") || known.contains(name) {
            continue;
        }
        if env_target(name).is_some() {
            continue; // a POLYPERF_<SECTION>_<KEY>: an unknown key is refused when loading
        }
        let nearest = known
            .iter()
            .map(|k| (edit_distance(name, k), k))
            .filter(|(d, _)| *d <= 2)
            .min();
        if let Some((_, setting)) = nearest {
            warnings.push(format!(
                "environment variable {name} is not a polyperf setting and is ignored; did you mean {setting}?"
            ));
        }
    }
    warnings
}

/// Every environment name a setting answers to: the fixed names of SPEC §6 and
/// `POLYPERF_<SECTION>_<KEY>` for every key (nested tables as `<TABLE>_<KEY>`).
fn known_env_names() -> std::collections::BTreeSet<String> {
    let mut names: std::collections::BTreeSet<String> = ENV_ALIASES
        .iter()
        .map(|(env, _, _)| env.to_string())
        .collect();
    names.insert("POLYPERF_CONFIG".into());
    if let Ok(toml::Value::Table(sections)) = toml::Value::try_from(Settings::default()) {
        for (section, keys) in &sections {
            let Some(keys) = keys.as_table() else {
                continue;
            };
            for (key, value) in keys {
                let base = format!("POLYPERF_{section}_{key}").to_uppercase();
                match value.as_table() {
                    Some(inner) if key != "parameters" => {
                        names.extend(inner.keys().map(|k| format!("{base}_{k}").to_uppercase()))
                    }
                    _ => {
                        names.insert(base);
                    }
                }
            }
        }
    }
    // Options without a default are absent from the tree above.
    for (section, key) in [
        ("llm", "api_key"),
        ("telegram", "bot_token"),
        ("telegram", "chat_id"),
        ("adjust", "auto_resume_after_hours"),
        ("cleanup", "archive_offload_dir"),
    ] {
        names.insert(format!("POLYPERF_{section}_{key}").to_uppercase());
    }
    names
}

/// Levenshtein distance in bytes (names are ASCII), stopping early past 3.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len().abs_diff(b.len()) > 3 {
        return 4;
    }
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// `:LINE:COLUMN` (both from 1, the column in characters) of a byte offset in `text`, as
/// compilers and editors print a position.
fn line_column(text: &str, offset: usize) -> String {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    format!(":{line}:{column}")
}

/// Recursively overlays `top` onto `base` (tables merge, other values replace).
fn merge(base: &mut toml::Value, top: toml::Value) {
    match (base, top) {
        (toml::Value::Table(base), toml::Value::Table(top)) => {
            for (key, value) in top {
                match base.get_mut(&key) {
                    Some(existing) if existing.is_table() && value.is_table() => {
                        merge(existing, value)
                    }
                    _ => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, top) => *base = top,
    }
}

/// Which `[section] key` an environment variable sets, if any.
fn env_target(name: &str) -> Option<(String, String)> {
    if let Some((_, section, key)) = ENV_ALIASES.iter().find(|(env, _, _)| *env == name) {
        return Some((section.to_string(), key.to_string()));
    }
    let rest = name.strip_prefix("POLYPERF_")?;
    for section in [
        "general",
        "apis",
        "settlement",
        "reflect",
        "llm",
        "adjust",
        "telegram",
        "archive",
        "cleanup",
    ] {
        let prefix = format!("{}_", section.to_uppercase());
        if let Some(key) = rest.strip_prefix(&prefix) {
            if !key.is_empty() && key != "PARAMETERS" {
                return Some((section.to_string(), key.to_lowercase()));
            }
        }
    }
    None
}

/// The sub-table a key of a section's environment name points into: `notify_trade` in
/// `[telegram]` is `("notify", "trade")` because `[telegram.notify]` is a table.
fn nested_key(table: &toml::map::Map<String, toml::Value>, key: &str) -> Option<(String, String)> {
    table.iter().find_map(|(name, value)| {
        let rest = key.strip_prefix(name.as_str())?.strip_prefix('_')?;
        (value.is_table() && !rest.is_empty()).then(|| (name.clone(), rest.to_string()))
    })
}

/// Turns environment text into a TOML value of the type the setting has now (`existing`), or
/// a list for the comma-separated keys.
fn env_value(list: bool, existing: Option<&toml::Value>, text: &str) -> toml::Value {
    let text = text.trim();
    if list {
        let items = text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<i64>()
                    .map(toml::Value::Integer)
                    .unwrap_or_else(|_| toml::Value::String(s.to_string()))
            })
            .collect();
        return toml::Value::Array(items);
    }
    match existing {
        Some(toml::Value::Integer(_)) => text
            .parse::<i64>()
            .map(toml::Value::Integer)
            .unwrap_or_else(|_| toml::Value::String(text.into())),
        Some(toml::Value::Float(_)) => text
            .parse::<f64>()
            .map(toml::Value::Float)
            .unwrap_or_else(|_| toml::Value::String(text.into())),
        Some(toml::Value::Boolean(_)) => match text.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => toml::Value::Boolean(true),
            "0" | "false" | "no" | "off" | "" => toml::Value::Boolean(false),
            _ => toml::Value::String(text.into()),
        },
        Some(_) => toml::Value::String(text.into()),
        // An unset Option: integers stay integers (e.g. hours), everything else is text.
        None => text
            .parse::<i64>()
            .map(toml::Value::Integer)
            .unwrap_or_else(|_| toml::Value::String(text.into())),
    }
}

/// The value as it may be shown in an error message.
fn shown(section: &str, key: &str, value: &str) -> String {
    if SECRET_KEYS.contains(&(section, key)) {
        REDACTED.to_string()
    } else {
        format!("{value:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An environment for [`Settings::load_with_env`] (the checks' tests use it too).
    pub(super) fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_valid() {
        let s = Settings::load_with_env(None, &[]).unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!(s.effective_engine(), Engine::Rules);
    }

    /// A fresh install observes: nothing is applied until the operator moves to tier1 / full.
    #[test]
    fn a_fresh_install_only_observes() {
        let s = Settings::load_with_env(None, &[]).unwrap();
        assert_eq!(s.adjust.autonomy, Autonomy::Observe);
        assert!(!s.adjust.autonomy.applies_changes());
        let s =
            Settings::load_with_env(None, &env(&[("POLYPERF_ADJUST_AUTONOMY", "tier1")])).unwrap();
        assert_eq!(s.adjust.autonomy, Autonomy::Tier1);
    }

    #[test]
    fn environment_overrides_file_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[settlement]\nbatch_size = 7\ngrace_seconds = 30\n[telegram]\nmerge_threshold = 9\n",
        )
        .unwrap();
        let s = Settings::load_with_env(
            Some(&file),
            &env(&[
                ("SETTLEMENT_BATCH_SIZE", "11"),
                ("TELEGRAM_ALLOWED_USER_IDS", "111, 222"),
                ("POLYPERF_ADJUST_TIER1_MAX_CHANGE", "0.04"),
                ("OPENAI_API_KEY", "sk-test-secret"),
            ]),
        )
        .unwrap();
        assert_eq!(s.settlement.batch_size, 11);
        assert_eq!(s.settlement.grace_seconds, 30);
        assert_eq!(s.telegram.merge_threshold, 9);
        assert_eq!(s.telegram.allowed_user_ids, vec![111, 222]);
        assert_eq!(s.adjust.tier1_max_change, Decimal::new(4, 2));
        assert_eq!(s.effective_engine(), Engine::Openai);
        assert!(!s.redacted_toml().contains("sk-test-secret"));
    }

    #[test]
    fn empty_environment_values_are_not_set() {
        // The shipped environment file has `OPENAI_API_KEY=` and `TELEGRAM_CHAT_ID=`: they must
        // not select the OpenAI engine with an empty key or name an empty chat.
        let s = Settings::load_with_env(
            None,
            &env(&[
                ("OPENAI_API_KEY", ""),
                ("TELEGRAM_BOT_TOKEN", " "),
                ("TELEGRAM_CHAT_ID", ""),
                ("TELEGRAM_ALLOWED_USER_IDS", ""),
                ("POLYPERF_ARCHIVE_RETENTION_DAYS", ""),
            ]),
        )
        .unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!(s.effective_engine(), Engine::Rules);
    }

    /// `[telegram.notify]` in the file, `POLYPERF_TELEGRAM_NOTIFY_<KIND>` in the environment
    /// (which wins); a word it does not take names the key and the words it does.
    #[test]
    fn notification_settings_per_kind() {
        let d = Notify::default();
        assert_eq!(
            (d.trade, d.result, d.approval, d.alert),
            (
                Notification::Silent,
                Notification::Silent,
                Notification::On,
                Notification::On
            )
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[telegram]\nmerge_threshold = 4\n[telegram.notify]\ntrade = \"off\"\nreflection = \"on\"\n",
        )
        .unwrap();
        let s = Settings::load_with_env(
            Some(&file),
            &env(&[
                ("POLYPERF_TELEGRAM_NOTIFY_RESULT", "off"),
                ("POLYPERF_TELEGRAM_NOTIFY_REFLECTION", "silent"),
            ]),
        )
        .unwrap();
        let n = s.telegram.notify;
        assert_eq!(s.telegram.merge_threshold, 4);
        assert_eq!(n.trade, Notification::Off);
        assert_eq!(n.result, Notification::Off);
        assert_eq!(n.reflection, Notification::Silent);
        assert_eq!(n.approval, Notification::On);
        assert_eq!(n.of(Notice::Trade), Notification::Off);
        assert!(s.redacted_toml().contains("[telegram.notify]"));

        let err =
            Settings::load_with_env(None, &env(&[("POLYPERF_TELEGRAM_NOTIFY_ALERT", "loud")]))
                .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("telegram.notify.alert") && text.contains("`on`, `silent`, `off`"),
            "{text}"
        );
        assert_eq!(crate::error::exit_code_for(&err), crate::error::EXIT_USAGE);
        std::fs::write(&file, "[telegram.notify]\napproval = \"loud\"\n").unwrap();
        let err = Settings::load_with_env(Some(&file), &[]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("telegram.notify.approval") && text.contains("`on`, `silent`, `off`"),
            "{text}"
        );
        std::fs::write(&file, "[telegram.notify]\nrezult = \"on\"\n").unwrap();
        let err = Settings::load_with_env(Some(&file), &[]).unwrap_err();
        assert!(err.to_string().contains("telegram.notify.rezult"), "{err}");
    }

    /// `TELEGRAM_ENABLE=true` sets nothing: it is named with the setting it resembles; a
    /// known name, a far-off name and a fault-injection name are not.
    #[test]
    fn misspelt_environment_names_are_found() {
        let warnings = misspelt_env_names(&env(&[
            ("TELEGRAM_ENABLE", "true"),
            ("OPENAI_API_KYE", "sk-secret-value"),
            ("POLYPERF_DATABASE", "x.db"),
            ("POLYPERF_BD", "x.db"),
            ("TELEGRAM_ENABLED", "true"),
            ("POLYPERF_SETTLEMENT_BATCH_SIZE", "5"),
            ("POLYPERF_TELEGRAM_NOTIFY_TRADE", "off"),
            ("OPENAI_ORGANIZATION", "org-1"),
            ("POLYPERF_FAULT_ARCHIVE_CRASH_AFTER_STEP", "x"),
            ("PATH", "/bin"),
        ]));
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(
            warnings[0].contains("TELEGRAM_ENABLE ") && warnings[0].contains("TELEGRAM_ENABLED?"),
            "{warnings:?}"
        );
        assert!(warnings[1].contains("OPENAI_API_KEY?"), "{warnings:?}");
        assert!(warnings[2].contains("POLYPERF_DB?"), "{warnings:?}");
        assert!(!warnings.concat().contains("sk-secret-value"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    /// A syntax error in the TOML file names the file, line and column (`file:3:7: …`).
    #[test]
    fn toml_syntax_errors_carry_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[settlement]\nbatch_size = 7\ngrace = = 3\n").unwrap();
        let err = Settings::load_with_env(Some(&file), &[]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&format!("{}:3:9:", file.display())), "{text}");
        assert_eq!(crate::error::exit_code_for(&err), crate::error::EXIT_USAGE);
        std::fs::write(&file, "[telegram]\nenabled = tru\n").unwrap();
        let text = Settings::load_with_env(Some(&file), &[])
            .unwrap_err()
            .to_string();
        assert!(text.contains("c.toml:2:11:"), "{text}");
        assert_eq!(line_column("ab\ncé\nx", 6), ":2:3");
    }

    #[test]
    fn bad_values_name_the_key() {
        let err =
            Settings::load_with_env(None, &env(&[("SETTLEMENT_BATCH_SIZE", "many")])).unwrap_err();
        assert!(err.to_string().contains("SETTLEMENT_BATCH_SIZE"), "{err}");
        let err = Settings::load_with_env(None, &env(&[("POLYPERF_ADJUST_AUTONOMY", "yolo")]))
            .unwrap_err();
        assert!(err.to_string().contains("adjust.autonomy"), "{err}");
        let err =
            Settings::load_with_env(None, &env(&[("OPENAI_BASE_URL", "localhost:1")])).unwrap_err();
        assert!(err.to_string().contains("llm.base_url"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[settlement]\nbatch_sise = 7\n").unwrap();
        let err = Settings::load_with_env(Some(&file), &[]).unwrap_err();
        assert!(err.to_string().contains("batch_sise"), "{err}");
        assert_eq!(crate::error::exit_code_for(&err), crate::error::EXIT_USAGE);
    }
}
