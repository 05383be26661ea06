//! The words of the domain, each an enum defined once: what a decision did ([`Action`]), how a
//! market resolved ([`Outcome`]), where a decision's settlement stands ([`SettlementStatus`]),
//! which side of the book a fill took ([`Liquidity`]), what its fee was charged in
//! ([`FeeAsset`]), how a parameter change was approved ([`Method`]) and why a reflection ran
//! ([`Trigger`]). Each reads and writes its column's words (`ToSql` / `FromSql`), its JSON
//! (serde) and its text (`Display`, `parse`), so a misspelt word fails where it enters, never
//! in a string comparison deep inside. The literals of these words live in this file only. On the ground floor: no
//! polyperf imports.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};

/// An enum of words: `as_str`, `parse` (exact words), `ALL`, `Display`, and the SQL
/// conversions (a column holding another word reads as an error naming it).
macro_rules! words {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $word)] $variant,)+
        }

        impl $name {
            /// Every word, in the order defined.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word as stored and written.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)+
                }
            }

            /// The word exactly as stored (case and spaces matter), if it is one.
            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($word => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownWord;
            fn from_str(text: &str) -> Result<$name, UnknownWord> {
                $name::parse(text).ok_or_else(|| UnknownWord {
                    what: stringify!($name),
                    word: text.chars().take(64).collect(),
                    known: $name::ALL.iter().map(|w| w.as_str()).collect::<Vec<_>>().join(", "),
                })
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                value
                    .as_str()?
                    .parse()
                    .map_err(|e: UnknownWord| FromSqlError::Other(Box::new(e)))
            }
        }
    };
}

/// A word that is none of its enum's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownWord {
    pub what: &'static str,
    pub word: String,
    pub known: String,
}

impl std::fmt::Display for UnknownWord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} is not a valid {} ({})",
            self.word, self.what, self.known
        )
    }
}

impl std::error::Error for UnknownWord {}

words! {
    /// What the trader decided: buy the Up outcome, buy the Down outcome, or nothing.
    Action {
        /// Bought Up.
        Yes = "YES",
        /// Bought Down.
        No = "NO",
        /// Did nothing (its outcome is still scored: a missed opportunity or not).
        Hold = "HOLD",
    }
}

impl Action {
    /// A position was taken (YES or NO): what wins, loses and pays fees.
    pub fn is_trade(self) -> bool {
        self != Action::Hold
    }

    /// The outcome a position bought: Up for YES, Down for NO (none for a HOLD).
    pub fn side(self) -> Option<Outcome> {
        match self {
            Action::Yes => Some(Outcome::Up),
            Action::No => Some(Outcome::Down),
            Action::Hold => None,
        }
    }

    /// The action that buys `side`.
    pub fn buying(side: Outcome) -> Option<Action> {
        match side {
            Outcome::Up => Some(Action::Yes),
            Outcome::Down => Some(Action::No),
            Outcome::Split => None,
        }
    }
}

words! {
    /// How a market resolved: Up won, Down won, or (officially only) 50-50, where each share of
    /// either side pays $0.50.
    Outcome {
        Up = "UP",
        Down = "DOWN",
        /// Resolved 50-50 by the exchange. Stored as `actual_outcome` NULL on a settled row
        /// (the column's CHECK knows only UP and DOWN), with `is_win` NULL: neither a win nor a
        /// loss. Written `50-50` in messages and logs.
        Split = "50-50",
    }
}

impl Outcome {
    /// The value of `trades.actual_outcome` and `markets.outcome`: NULL for a 50-50.
    pub fn column(self) -> Option<&'static str> {
        match self {
            Outcome::Split => None,
            other => Some(other.as_str()),
        }
    }

    /// Whether the side a YES (`bought_up`) or NO position bought won; a 50-50 wins neither.
    pub fn wins(self, bought: Action) -> bool {
        bought.side() == Some(self) && self != Outcome::Split
    }
}

words! {
    /// Where a decision's settlement stands (`trades.settlement_status`).
    SettlementStatus {
        /// Waiting for its market to end and resolve.
        Pending = "pending",
        /// Its outcome (and P&L for a position) is decided.
        Settled = "settled",
        /// Set aside with a reason (no window, a bad price): never counted as a loss.
        Unsettleable = "unsettleable",
    }
}

words! {
    /// Which side of the book a fill was on. Makers pay no fee (`takerOnly`).
    Liquidity {
        Taker = "taker",
        Maker = "maker",
    }
}

// The macro derives the same traits for every enum; Default belongs to two of them only.
#[allow(clippy::derivable_impls)]
impl Default for Liquidity {
    fn default() -> Self {
        Liquidity::Taker
    }
}

words! {
    /// The asset a fill's fee was charged in (`trades.fee_asset`).
    FeeAsset {
        /// Taken from the shares bought: a win pays `C − fee/p`.
        Shares = "shares",
        /// A collateral commission on top of the stake: a win pays `C`, the trade costs S + fee.
        Collateral = "collateral",
    }
}

#[allow(clippy::derivable_impls)]
impl Default for FeeAsset {
    /// Shares: what every row settled before the column existed paid in.
    fn default() -> Self {
        FeeAsset::Shares
    }
}

impl FeeAsset {
    /// The asset of a settled fill as stored in `trades.fee_asset`: rows settled before the
    /// column existed (NULL) always paid in shares.
    pub fn stored(text: Option<&str>) -> FeeAsset {
        text.and_then(FeeAsset::parse).unwrap_or_default()
    }
}

words! {
    /// How a parameter change was approved (`parameter_history.approval_method`).
    Method {
        Auto = "auto",
        Telegram = "telegram",
        Cli = "cli",
        Rollback = "rollback",
        /// The parameters' first values (the column allows it; no change is made with it).
        Init = "init",
    }
}

words! {
    /// Why a reflection ran (`reflections.trigger_type` holds the ones that fired,
    /// comma-separated).
    Trigger {
        /// The last `reflect.losses_trigger` settled trades all lost.
        Losses = "3_losses",
        /// `reflect.trades_trigger` settled trades no reflection has covered.
        Trades = "10_trades",
        /// Once per UTC day, from the daily timer.
        EndOfDay = "end_of_day",
        /// Asked for by hand.
        Manual = "manual",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every word reads back as itself: text, JSON and SQL agree.
    #[test]
    fn words_round_trip_through_text_json_and_sql() {
        fn check<T>(all: &[T])
        where
            T: Copy + PartialEq + std::fmt::Debug + std::fmt::Display + std::str::FromStr,
            T: Serialize + for<'de> Deserialize<'de> + ToSql + FromSql,
        {
            let conn = rusqlite::Connection::open_in_memory().unwrap();
            for word in all {
                let text = word.to_string();
                assert_eq!(text.parse::<T>().ok(), Some(*word));
                assert_eq!(serde_json::to_string(word).unwrap(), format!("{text:?}"));
                assert_eq!(
                    serde_json::from_str::<T>(&format!("{text:?}")).unwrap(),
                    *word
                );
                let back: T = conn.query_row("SELECT ?1", [word], |r| r.get(0)).unwrap();
                assert_eq!(back, *word);
            }
        }
        check(Action::ALL);
        check(Outcome::ALL);
        check(SettlementStatus::ALL);
        check(Liquidity::ALL);
        check(FeeAsset::ALL);
        check(Method::ALL);
        check(Trigger::ALL);
    }

    /// A column holding another word is an error that names the word and the known ones.
    #[test]
    fn an_unknown_word_is_named() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let err = conn
            .query_row("SELECT 'yes'", [], |r| r.get::<_, Action>(0))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"yes\" is not a valid Action (YES, NO, HOLD)"),
            "{err}"
        );
        assert!("BUY".parse::<Action>().is_err());
        assert_eq!(FeeAsset::stored(None), FeeAsset::Shares);
        assert_eq!(FeeAsset::stored(Some("collateral")), FeeAsset::Collateral);
    }

    #[test]
    fn sides_and_wins() {
        assert_eq!(Action::Yes.side(), Some(Outcome::Up));
        assert_eq!(Action::buying(Outcome::Down), Some(Action::No));
        assert!(Outcome::Up.wins(Action::Yes) && !Outcome::Up.wins(Action::No));
        assert!(!Outcome::Split.wins(Action::Yes) && !Outcome::Split.wins(Action::No));
        assert!(!Outcome::Up.wins(Action::Hold));
        assert_eq!(Outcome::Split.column(), None);
        assert_eq!(Outcome::Down.column(), Some("DOWN"));
    }
}
