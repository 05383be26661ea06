//! The side a trade bought as the market names it ("Up" / "Down"). The figures themselves
//! (money, prices, counts, percents, times) are rendered by [`crate::words`]; no HTML here either.

use crate::kinds::{Action, Outcome};

/// The side a YES / NO decision bought, as the market names it (`?` for a HOLD).
pub fn side(action: Action) -> &'static str {
    match action.side() {
        Some(Outcome::Up) => "Up",
        Some(Outcome::Down) => "Down",
        _ => "?",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_are_the_markets_words() {
        assert_eq!(
            (side(Action::Yes), side(Action::No), side(Action::Hold)),
            ("Up", "Down", "?")
        );
    }
}
