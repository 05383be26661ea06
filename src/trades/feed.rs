//! The Telegram trade feed's reads of `trades` (new YES/NO decisions by id, settled ones by
//! `(settled_at, id)`), and `telegram_restored`: trades `polyperf archive restore` put back,
//! which the feed never announces. The archive holds them back in the restore's transaction
//! ([`hold_back_restored`]); the feed lets go of those both its watermarks passed
//! ([`forget_restored`]). The watermarks themselves are the feed's (`telegram_state`).

use anyhow::Result;
use rusqlite::{params, Connection};

use super::row::{columns, Trade};

/// New alerts after id `?1`, oldest first; restored trades never.
pub const ALERTS: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM trades WHERE id > ?1 AND action IN ('YES', 'NO')
       AND NOT EXISTS (SELECT 1 FROM telegram_restored r WHERE r.trade_id = trades.id)
     ORDER BY id"
);

/// New results after (`?1`, `?2`), settled before `?3` (when given), oldest first; restored
/// trades never.
pub const RESULTS: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM trades WHERE ",
    super::settled_position!(),
    " AND (settled_at > ?1 OR (settled_at = ?1 AND id > ?2))
       AND (?3 IS NULL OR settled_at < ?3)
       AND NOT EXISTS (SELECT 1 FROM telegram_restored r WHERE r.trade_id = trades.id)
     ORDER BY settled_at, id"
);

/// Where a feed stream stands or may go: `(settled_at, id)` for results, `("", id)` for
/// alerts.
pub type FeedMark = (String, i64);

/// The newest trade's id (0 with none): how far alerts may go.
pub fn last_id(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT coalesce(max(id), 0) FROM trades", [], |r| r.get(0))?)
}

/// The newest `settled_at` of any settled row (a settlement run under way is still writing
/// it).
pub fn last_settled_at(conn: &Connection) -> Result<Option<String>> {
    Ok(conn.query_row(
        concat!(
            "SELECT max(settled_at) FROM trades WHERE ",
            super::settled!()
        ),
        [],
        |r| r.get(0),
    )?)
}

/// The last settled row (its `settled_at`, id) settled before `before` (when given): how far
/// results may go. `("", 0)` with none.
pub fn last_settled_before(conn: &Connection, before: Option<&str>) -> Result<FeedMark> {
    let found = conn.query_row(
        concat!(
            "SELECT settled_at, id FROM trades WHERE ",
            super::settled!(),
            " AND (?1 IS NULL OR settled_at < ?1) ORDER BY settled_at DESC, id DESC LIMIT 1"
        ),
        [before],
        |r| {
            Ok((
                r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                r.get(1)?,
            ))
        },
    );
    match found {
        Ok(mark) => Ok(mark),
        Err(rusqlite::Error::QueryReturnedNoRows) => Ok((String::new(), 0)),
        Err(e) => Err(e.into()),
    }
}

/// Calls `each` with the YES/NO decisions after id `after` not held back, oldest first.
pub fn each_alert(conn: &Connection, after: i64, each: impl FnMut(Trade)) -> Result<()> {
    let mut stmt = conn.prepare_cached(ALERTS)?;
    let rows = stmt.query(params![after])?;
    for_each(rows, each)
}

/// Calls `each` with the settled positions after `after` (and settled before `before`, when
/// given) not held back, in `(settled_at, id)` order.
pub fn each_result(
    conn: &Connection,
    after: &FeedMark,
    before: Option<&str>,
    each: impl FnMut(Trade),
) -> Result<()> {
    let mut stmt = conn.prepare_cached(RESULTS)?;
    let rows = stmt.query(params![after.0, after.1, before])?;
    for_each(rows, each)
}

fn for_each(mut rows: rusqlite::Rows<'_>, mut each: impl FnMut(Trade)) -> Result<()> {
    while let Some(r) = rows.next()? {
        each(Trade::read(r, 0)?);
    }
    Ok(())
}

/// Holds the restored trades `ids` back from the feed (the YES/NO ones: the feed announces
/// nothing else). Part of the restore's transaction. The feed forgets those its watermarks
/// have passed on its next run ([`forget_restored`]).
pub fn hold_back_restored(conn: &Connection, ids: &[i64]) -> Result<()> {
    // A database older than migration 0006 has no feed to hold them back from.
    let feed: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'telegram_restored')",
        [],
        |r| r.get(0),
    )?;
    if ids.is_empty() || !feed {
        return Ok(());
    }
    // The ids go in as one JSON array a statement (bound, never spliced into the SQL).
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO telegram_restored (trade_id)
         SELECT t.id FROM json_each(?1) j JOIN trades t ON t.id = j.value
         WHERE t.action IN ('YES', 'NO')",
    )?;
    for chunk in ids.chunks(10_000) {
        insert.execute([serde_json::to_string(chunk)?])?;
    }
    Ok(())
}

/// Whether any trade is held back.
pub fn any_held_back(conn: &Connection) -> Result<bool> {
    Ok(
        conn.query_row("SELECT EXISTS (SELECT 1 FROM telegram_restored)", [], |r| {
            r.get(0)
        })?,
    )
}

/// Lets go of held-back trades both watermarks have passed (alerts at id `alerts_after`,
/// results at `results_after`), or whose trade is gone. Part of the caller's transaction.
pub fn forget_restored(
    conn: &Connection,
    alerts_after: i64,
    results_after: &FeedMark,
) -> Result<()> {
    conn.execute(
        "DELETE FROM telegram_restored WHERE trade_id <= ?1 AND NOT EXISTS
           (SELECT 1 FROM trades t WHERE t.id = telegram_restored.trade_id
              AND (t.settled_at > ?2 OR (t.settled_at = ?2 AND t.id > ?3)))",
        params![alerts_after, results_after.0, results_after.1],
    )?;
    Ok(())
}
