//! What "a settled trade" means, in SQL, in one place: every reader of `trades` that counts,
//! samples or recomputes settled decisions uses these conditions (unqualified column names, so
//! they work with or without a table alias). Writing settlements is `settle`'s; logging is
//! `decision`'s.
//!
//! The conditions are macros expanding to string literals, so that constant queries can
//! `concat!` them; [`SETTLED`], [`SETTLED_POSITION`] and [`SETTLED_POSITION_WITH_PNL`] are the
//! same text for `format!`.

/// A decision whose outcome is settled (HOLDs included): settlement is done with it, and its
/// outcome columns hold what it decided.
macro_rules! settled {
    () => {
        "settlement_status = 'settled'"
    };
}

/// A settled YES or NO with its result: a position that won or lost. What the guard, the
/// reflection triggers and the win rates count.
macro_rules! settled_position {
    () => {
        concat!(
            $crate::trades::settled!(),
            " AND action IN ('YES', 'NO') AND is_win IS NOT NULL"
        )
    };
}

/// A settled position with its P&L as well: what the rollback watch compares, since it sums
/// P&L on both sides of a change (a settled YES/NO always has one; a hand-edited row may not).
macro_rules! settled_position_with_pnl {
    () => {
        concat!(
            $crate::trades::settled_position!(),
            " AND profit_loss IS NOT NULL"
        )
    };
}

pub(crate) use {settled, settled_position, settled_position_with_pnl};

/// `settled!()` as a constant.
pub const SETTLED: &str = settled!();
/// `settled_position!()` as a constant.
pub const SETTLED_POSITION: &str = settled_position!();
/// `settled_position_with_pnl!()` as a constant.
pub const SETTLED_POSITION_WITH_PNL: &str = settled_position_with_pnl!();

#[cfg(test)]
mod tests {
    use super::*;

    /// Each narrower definition is the wider one plus its extra condition.
    #[test]
    fn definitions_nest() {
        assert_eq!(SETTLED, "settlement_status = 'settled'");
        assert!(SETTLED_POSITION.starts_with(SETTLED));
        assert!(SETTLED_POSITION_WITH_PNL.starts_with(SETTLED_POSITION));
    }
}
