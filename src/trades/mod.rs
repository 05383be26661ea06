//! `trades`, the central table, and the tables that exist only for its rows
//! (`archived_decisions`, `telegram_restored`): the one owner of every statement on them.
//! Callers get typed rows ([`Trade`], read with the one column list [`COLUMNS`]; [`Scored`],
//! its columns the figures count, for scans over all of history) and typed results, never
//! SQL. What "a settled trade" means is defined here once (`settled!`).
//!
//! - `log.rs`: the decision log ([`Tracker`]); `logged.rs` what it returns ([`Logged`],
//!   [`LogReport`], the typed [`LogError`]); `insert.rs` its statements ([`insert`],
//!   [`insert_many`]); `bulk.rs` its two-thread bulk path; `stored.rs` a stored decision read
//!   back (duplicate or [`crate::decision::Conflict`]); `archived.rs` the index of archived
//!   decisions (`archived_decisions`).
//! - `row.rs`: [`Trade`] and [`COLUMNS`]; [`Scored`].
//! - `settle.rs`: settlement's reads and compare-and-set writes, the lag alert's counts,
//!   `settle-check`'s rows and fixes.
//! - `history.rs`: settled decisions as the jobs that judge them read them (metrics,
//!   reflection, the adjuster, the evaluation), and `status`' counts.
//! - `scratch.rs`: the walk-forward evaluation's statements on its scratch copy.
//! - `feed.rs`: the Telegram trade feed's reads, and the restored trades it holds back
//!   (`telegram_restored`).
//! - `archival.rs`: what the archive moves out and puts back: the finished rows, a range
//!   leaving with its index entries, a row's presence, the rollup's facts of a row.
//!
//! Money is exact (`db::Money`); words are enums (`kinds`); every multi-step change is part of
//! the caller's transaction.

mod archival;
pub mod archived;
mod bulk;
mod feed;
mod history;
mod insert;
mod log;
mod logged;
pub mod recent;
pub mod row;
pub mod scratch;
mod settle;
mod stored;

pub use archival::{
    delete_archived_range, is_present, TradeColumns, TradeFacts, FINISHED, NAME, TIME_COLUMN,
};
pub use feed::{
    any_held_back, each_alert, each_result, forget_restored, hold_back_restored, last_id,
    last_settled_at, last_settled_before, FeedMark,
};
pub(crate) use history::pending_market_slugs;
pub use history::{
    by_ids, counts, each_in_window, known_by, pnls_between, positions_beside, recent_positions,
    recent_wins, replay_rows, settled_between, uncovered, uncovered_among, Counts, Side,
};
pub use insert::{insert, insert_many, Inserted};
pub use log::Tracker;
pub use logged::{LogError, LogReport, Logged};
pub use row::{decimal_of_real, Scored, Trade, COLUMNS, DECISION_COLUMNS, SCORED_COLUMNS};
pub use settle::{
    correct_settlement, due, each_settled, lagging, mark_unsettleable, oldest_due_end,
    price_settled_since, rewrite_money, set_window, without_window, write_settlement, Due,
    DueCursor, Settlement,
};
pub use stored::{stored_decision, Columns};

/// The statements on `trades` the jobs run most (tests check each is served by an index).
pub mod sql {
    pub use super::feed::{ALERTS, RESULTS};
    pub use super::history::{IN_WINDOW, RECENT_POSITIONS, RECENT_WINS};
    pub use super::insert::RELOGGED;
    pub use super::settle::{DUE, LAGGING, OLDEST_DUE_END, PRICE_SETTLED_SINCE, WITHOUT_WINDOW};
}

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

#[cfg(test)]
mod tests {
    /// Each narrower definition is the wider one plus its extra condition.
    #[test]
    fn definitions_nest() {
        const SETTLED: &str = settled!();
        const POSITION: &str = settled_position!();
        const WITH_PNL: &str = settled_position_with_pnl!();
        assert_eq!(SETTLED, "settlement_status = 'settled'");
        assert!(POSITION.starts_with(SETTLED));
        assert!(WITH_PNL.starts_with(POSITION));
    }
}
