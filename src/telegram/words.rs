//! The side a trade bought as the market names it ("Up" / "Down"). The figures themselves
//! (money, prices, counts, percents, times) are rendered by [`crate::words`]; no HTML here either.

/// The side a YES / NO decision bought, as the market names it.
pub fn side(action: &str) -> &'static str {
    match action {
        "YES" => "Up",
        "NO" => "Down",
        _ => "?",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_are_the_markets_words() {
        assert_eq!((side("YES"), side("NO"), side("HOLD")), ("Up", "Down", "?"));
    }
}
