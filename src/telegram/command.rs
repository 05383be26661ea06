//! A chat message's text as a typed [`Command`]: pure, no I/O, never panics whatever the text.
//! What each command does lives in [`super::inbox`].

use std::fmt;

use crate::metrics::By;

/// One command the bot understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Status,
    /// `/profit [days]`: all time without a day count, else the last `days` UTC days.
    Profit {
        days: Option<u32>,
    },
    /// `/trades [n]`: the last `n` settled trades.
    Trades {
        n: u32,
    },
    /// `/daily [n]`, `/weekly [n]`, `/monthly [n]`: P&L of the last `n` periods.
    Periods {
        by: By,
        n: u32,
    },
    /// `/report [days]`: all time without a day count, else the last `days` UTC days.
    Report {
        days: Option<u32>,
    },
    /// `/health`: may the trader trade (the verdict of `status --json`).
    Health,
    Params,
    /// `/pause [reason]`, or `/stop [reason]` as Freqtrade names it (`alias`).
    Pause {
        reason: Option<String>,
        alias: bool,
    },
    /// `/resume`, or `/start` as Freqtrade names it (`alias`).
    Resume {
        alias: bool,
    },
    /// `/approve ID` (`#12` works too).
    Approve {
        id: i64,
    },
    Reject {
        id: i64,
    },
    Help,
}

impl Command {
    /// Whether the command changes something (only allowed users may send those).
    pub fn changes(&self) -> bool {
        matches!(
            self,
            Command::Pause { .. }
                | Command::Resume { .. }
                | Command::Approve { .. }
                | Command::Reject { .. }
        )
    }
}

/// Why a text is not a command to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// Ordinary chat (no leading `/`): ignored, no reply.
    NotACommand,
    /// A `/word` the bot does not know (lowercased, without `@botname`).
    Unknown(String),
    /// A known command with arguments it cannot take.
    Usage {
        usage: &'static str,
        problem: String,
    },
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::NotACommand => f.write_str("not a command"),
            CommandError::Unknown(name) => write!(f, "unknown command {name}"),
            CommandError::Usage { usage, problem } => write!(f, "usage: {usage} ({problem})"),
        }
    }
}

/// One command as `/help` and the menu show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// As typed, without the slash.
    pub name: &'static str,
    /// Its arguments as `/help` shows them (`[n]`, `ID`), or "".
    pub arguments: &'static str,
    /// What it does: the menu's description and `/help`'s line.
    pub description: &'static str,
}

const fn spec(name: &'static str, arguments: &'static str, description: &'static str) -> Spec {
    Spec {
        name,
        arguments,
        description,
    }
}

/// Every command, in menu order: `/help` has one line each and `setMyCommands` the same
/// descriptions. A day count means UTC days (today and the ones before), as `/daily` counts.
pub const COMMANDS: [Spec; 16] = [
    spec("status", "", "Trading state, today's P&L and health"),
    spec(
        "profit",
        "[days]",
        "P&L, win rate, best and worst trade, fees: all time, or the last N UTC days",
    ),
    spec("trades", "[n]", "The last n settled trades (10 by default)"),
    spec("daily", "[n]", "P&L per UTC day, the last n (7 by default)"),
    spec(
        "weekly",
        "[n]",
        "P&L per ISO week (UTC), the last n (8 by default)",
    ),
    spec(
        "monthly",
        "[n]",
        "P&L per UTC month, the last n (6 by default)",
    ),
    spec(
        "report",
        "[days]",
        "Equity chart and summary: all time, or the last N UTC days (as /daily N)",
    ),
    spec(
        "health",
        "",
        "Safe to trade? The jobs' last successes and the settlement lag",
    ),
    spec("params", "", "Current parameters and their bounds"),
    spec("pause", "[reason]", "Pause trading (allowed users)"),
    spec("stop", "[reason]", "Same as /pause (Freqtrade's name)"),
    spec("resume", "", "Resume trading (allowed users)"),
    spec("start", "", "Same as /resume (Freqtrade's name)"),
    spec("approve", "ID", "Approve a proposal (allowed users)"),
    spec("reject", "ID", "Reject a proposal (allowed users)"),
    spec("help", "", "One line per command"),
];

/// The menu registered with `setMyCommands`: (name, description), in order.
pub fn menu() -> Vec<(&'static str, &'static str)> {
    COMMANDS.iter().map(|c| (c.name, c.description)).collect()
}

/// `/help`'s answer (HTML): one line per command, `/daily [n] — P&L per UTC day, …`.
pub fn help() -> String {
    let mut out = String::from("<b>Commands</b> (day counts are UTC days, today included)");
    for c in COMMANDS {
        out.push('\n');
        out.push('/');
        out.push_str(c.name);
        if !c.arguments.is_empty() {
            out.push(' ');
            out.push_str(c.arguments);
        }
        out.push_str(" — ");
        out.push_str(&super::html::esc(c.description));
    }
    out
}

/// Most periods one `/daily`, `/weekly` or `/monthly` shows (a year of days).
pub const MAX_PERIODS_ASKED: u32 = 365;

/// Most trades one `/trades` lists.
pub const MAX_TRADES_ASKED: u32 = 50;

/// A count argument `[n]` from 1 to `max`, `default` without one.
fn count_arg(
    usage: &'static str,
    rest: &[&str],
    default: u32,
    max: u32,
) -> Result<u32, CommandError> {
    match rest {
        [] => Ok(default),
        [n] => {
            let digits = !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
            match n.parse::<u32>() {
                Ok(n) if digits && (1..=max).contains(&n) => Ok(n),
                _ => Err(CommandError::Usage {
                    usage,
                    problem: format!(
                        "n must be a whole number from 1 to {max}, got {:?}",
                        n.chars().take(40).collect::<String>()
                    ),
                }),
            }
        }
        _ => Err(CommandError::Usage {
            usage,
            problem: "it takes at most one number".into(),
        }),
    }
}

/// `/daily [n]` and friends: `n` defaults per period as in Freqtrade (7 days, 8 weeks, 6
/// months), from 1 to [`MAX_PERIODS_ASKED`].
fn periods(by: By, rest: &[&str]) -> Result<Command, CommandError> {
    let (usage, default) = match by {
        By::Day => ("/daily [n]", 7),
        By::Week => ("/weekly [n]", 8),
        By::Month => ("/monthly [n]", 6),
    };
    let n = count_arg(usage, rest, default, MAX_PERIODS_ASKED)?;
    Ok(Command::Periods { by, n })
}

/// A day-count argument `[days]`: none, or 1 to [`crate::time::MAX_DAYS`].
fn days_arg(usage: &'static str, rest: &[&str]) -> Result<Option<u32>, CommandError> {
    match rest {
        [] => Ok(None),
        [days] => crate::time::parse_days(days, 1)
            .map(Some)
            .map_err(|problem| CommandError::Usage { usage, problem }),
        _ => Err(CommandError::Usage {
            usage,
            problem: "it takes at most one number of days".into(),
        }),
    }
}

/// `/approve ID`, `/reject ID`.
fn verdict(name: &str, rest: &[&str]) -> Result<Command, CommandError> {
    let (usage, approve) = if name == "/approve" {
        ("/approve ID", true)
    } else {
        ("/reject ID", false)
    };
    let id = match rest {
        [id] => id.trim_start_matches('#').parse::<i64>().ok(),
        _ => None,
    };
    match id {
        Some(id) if approve => Ok(Command::Approve { id }),
        Some(id) => Ok(Command::Reject { id }),
        None => Err(CommandError::Usage {
            usage,
            problem: "ID is the proposal's number".into(),
        }),
    }
}

/// The bot a command is addressed to (`/status@my_polyperf_bot` → `my_polyperf_bot`), if any.
pub fn addressee(text: &str) -> Option<&str> {
    let head = text.split_whitespace().next()?;
    if !head.starts_with('/') {
        return None;
    }
    let (_, name) = head.split_once('@')?;
    (!name.is_empty()).then_some(name)
}

/// Whether a command is for the bot called `username`: unaddressed (`/status`), or addressed to
/// it (`/status@my_polyperf_bot`, compared case-blind as Telegram compares usernames). In a
/// group, `/pause@some_other_bot` is another bot's and never ours.
pub fn is_for(text: &str, username: &str) -> bool {
    addressee(text).is_none_or(|name| name.eq_ignore_ascii_case(username.trim_start_matches('@')))
}

/// Longest command name echoed back in an "unknown command" reply.
const MAX_NAME_CHARS: usize = 64;

/// Parses a message text: `/name[@bot] [arguments]`.
pub fn parse(text: &str) -> Result<Command, CommandError> {
    if !text.starts_with('/') {
        return Err(CommandError::NotACommand);
    }
    let mut words = text.split_whitespace();
    let head = words.next().unwrap_or_default();
    // `/status@polyperf_bot` in groups.
    let name = head.split('@').next().unwrap_or_default().to_lowercase();
    let rest: Vec<&str> = words.collect();
    let no_arguments = |command: Command, usage: &'static str| {
        if rest.is_empty() {
            Ok(command)
        } else {
            Err(CommandError::Usage {
                usage,
                problem: "it takes no arguments".into(),
            })
        }
    };
    let reason = (!rest.is_empty()).then(|| rest.join(" "));
    match name.as_str() {
        "/status" => no_arguments(Command::Status, "/status"),
        "/health" => no_arguments(Command::Health, "/health"),
        "/params" => no_arguments(Command::Params, "/params"),
        "/resume" => no_arguments(Command::Resume { alias: false }, "/resume"),
        "/start" => no_arguments(Command::Resume { alias: true }, "/start"),
        "/help" => Ok(Command::Help),
        "/daily" => periods(By::Day, &rest),
        "/weekly" => periods(By::Week, &rest),
        "/monthly" => periods(By::Month, &rest),
        "/report" => days_arg("/report [days]", &rest).map(|days| Command::Report { days }),
        "/profit" => days_arg("/profit [days]", &rest).map(|days| Command::Profit { days }),
        "/trades" => {
            count_arg("/trades [n]", &rest, 10, MAX_TRADES_ASKED).map(|n| Command::Trades { n })
        }
        "/pause" => Ok(Command::Pause {
            reason,
            alias: false,
        }),
        "/stop" => Ok(Command::Pause {
            reason,
            alias: true,
        }),
        "/approve" | "/reject" => verdict(&name, &rest),
        _ => Err(CommandError::Unknown(
            name.chars().take(MAX_NAME_CHARS).collect(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_commands_and_their_arguments() {
        let cases = [
            ("/status", Ok(Command::Status)),
            ("/status@polyperf_bot", Ok(Command::Status)),
            ("/REPORT 7", Ok(Command::Report { days: Some(7) })),
            ("/report", Ok(Command::Report { days: None })),
            ("/params", Ok(Command::Params)),
            (
                "/pause lunch  <break>",
                Ok(Command::Pause {
                    reason: Some("lunch <break>".into()),
                    alias: false,
                }),
            ),
            (
                "/pause",
                Ok(Command::Pause {
                    reason: None,
                    alias: false,
                }),
            ),
            (
                "/stop lunch",
                Ok(Command::Pause {
                    reason: Some("lunch".into()),
                    alias: true,
                }),
            ),
            ("/resume", Ok(Command::Resume { alias: false })),
            ("/start", Ok(Command::Resume { alias: true })),
            ("/help", Ok(Command::Help)),
            ("/health", Ok(Command::Health)),
            ("/profit", Ok(Command::Profit { days: None })),
            ("/profit 7", Ok(Command::Profit { days: Some(7) })),
            ("/trades", Ok(Command::Trades { n: 10 })),
            ("/trades 50", Ok(Command::Trades { n: 50 })),
            ("/approve #12", Ok(Command::Approve { id: 12 })),
            ("/reject 7", Ok(Command::Reject { id: 7 })),
            ("/daily", Ok(Command::Periods { by: By::Day, n: 7 })),
            ("/daily 30", Ok(Command::Periods { by: By::Day, n: 30 })),
            ("/weekly", Ok(Command::Periods { by: By::Week, n: 8 })),
            (
                "/monthly@polyperf_bot 12",
                Ok(Command::Periods {
                    by: By::Month,
                    n: 12,
                }),
            ),
            ("hello", Err(CommandError::NotACommand)),
            ("/nope", Err(CommandError::Unknown("/nope".into()))),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text), expected, "{text}");
        }
    }

    #[test]
    fn day_counts_out_of_range_are_usage_errors() {
        for text in [
            "/report 100000000",
            "/report 36501",
            "/report 0",
            "/report -1",
            "/report seven",
            "/report 99999999999999999999999",
            "/report 7 8",
        ] {
            let err = parse(text).unwrap_err();
            assert!(
                matches!(
                    &err,
                    CommandError::Usage {
                        usage: "/report [days]",
                        ..
                    }
                ),
                "{text}: {err}"
            );
        }
        assert_eq!(
            parse("/report 36500"),
            Ok(Command::Report { days: Some(36_500) })
        );
        let err = parse("/report 100000000").unwrap_err().to_string();
        assert!(err.contains("from 1 to 36500"), "{err}");
    }

    #[test]
    fn period_counts_are_bounded_with_a_clear_usage() {
        assert_eq!(
            parse("/daily 365"),
            Ok(Command::Periods {
                by: By::Day,
                n: 365
            })
        );
        for text in [
            "/daily 366",
            "/daily 0",
            "/daily -3",
            "/weekly x",
            "/monthly 99999999999999999999",
            "/daily 1 2",
            "/trades 51",
            "/trades 0",
            "/profit 0",
            "/profit 36501",
            "/profit 7 days",
            "/health now",
            "/start 1",
        ] {
            let err = parse(text).unwrap_err();
            assert!(matches!(err, CommandError::Usage { .. }), "{text}: {err}");
        }
        assert_eq!(
            parse("/daily 366").unwrap_err().to_string(),
            "usage: /daily [n] (n must be a whole number from 1 to 365, got \"366\")"
        );
    }

    #[test]
    fn the_menu_is_valid_for_telegram_and_in_the_help() {
        let help = help();
        assert_eq!(help.lines().count(), COMMANDS.len() + 1, "{help}");
        for (name, description) in menu() {
            assert!(
                (1..=32).contains(&name.len())
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{name}"
            );
            assert!(
                (1..=256).contains(&description.chars().count()),
                "{description}"
            );
            // One line per command in /help, carrying the menu's description.
            assert_eq!(
                help.lines()
                    .filter(|l| l.starts_with(&format!("/{name} "))
                        && l.ends_with(&super::super::html::esc(description)))
                    .count(),
                1,
                "{name}"
            );
            assert!(
                parse(&format!("/{name}"))
                    .map_or_else(|e| matches!(e, CommandError::Usage { .. }), |_| true),
                "{name}"
            );
        }
    }

    #[test]
    fn commands_addressed_to_another_bot_are_not_ours() {
        let cases = [
            ("/status", None, true),
            ("/status@my_polyperf_bot", Some("my_polyperf_bot"), true),
            ("/status@My_PolyPerf_Bot 7", Some("My_PolyPerf_Bot"), true),
            ("/pause@some_other_bot", Some("some_other_bot"), false),
            ("/resume@some_other_bot", Some("some_other_bot"), false),
            ("/pause@my_polyperf_bot_x", Some("my_polyperf_bot_x"), false),
            ("/pause@", None, true),
            ("/pause @some_other_bot", None, true),
            ("hello @some_other_bot", None, true),
            ("", None, true),
        ];
        for (text, addressed, ours) in cases {
            assert_eq!(addressee(text), addressed, "{text}");
            assert_eq!(is_for(text, "my_polyperf_bot"), ours, "{text}");
        }
        assert!(is_for("/status@my_polyperf_bot", "@my_polyperf_bot"));
    }

    proptest! {
        /// Any text and any username: no panic; a command addressed to another name is never
        /// ours, and one addressed to ours (in any case) always is.
        #[test]
        fn addressing_decides_whose_command_it_is(
            name in "/[a-z]{1,10}",
            bot in "[A-Za-z][A-Za-z0-9_]{3,31}",
            other in "[A-Za-z][A-Za-z0-9_]{3,31}",
            args in "[ -~]{0,30}",
            text in any::<String>(),
        ) {
            let _ = is_for(&text, &bot);
            let _ = addressee(&text);
            let ours = format!("{name}@{} {args}", bot.to_uppercase());
            prop_assert!(is_for(&ours, &bot));
            let theirs = format!("{name}@{other} {args}");
            prop_assert_eq!(is_for(&theirs, &bot), other.eq_ignore_ascii_case(&bot));
            let plain = format!("{name} {args}");
            prop_assert!(is_for(&plain, &bot));
        }

        /// Any text: no panic, and either a command or an error that says something.
        #[test]
        fn any_text_is_a_command_or_a_clear_error(text in any::<String>()) {
            match parse(&text) {
                Ok(command) => prop_assert!(text.starts_with('/'), "{command:?}"),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }

        /// Command-shaped text with arbitrary arguments: a known name never becomes Unknown.
        #[test]
        fn known_names_with_any_arguments(
            name in prop::sample::select(COMMANDS.iter().map(|c| format!("/{}", c.name)).collect::<Vec<_>>()),
            args in "[ -~]{0,40}",
        ) {
            let text = format!("{name} {args}");
            match parse(&text) {
                Ok(_) | Err(CommandError::Usage { .. }) => {}
                Err(other) => prop_assert!(false, "{text:?} gave {other:?}"),
            }
        }
    }
}
