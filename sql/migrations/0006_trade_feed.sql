-- Trade alerts and results leave the outbox (issue 17): polyperf-telegram reads new trades and
-- newly settled ones from `trades` itself, by two watermarks kept in `telegram_state`, so a
-- decision costs no outbox row (issue 20 counts database bytes per decision).
DROP TRIGGER IF EXISTS trades_trade_alert;

-- The watermarks start where the database is now, so nothing logged or settled before this
-- version is announced again (trade alerts still waiting in the outbox go out as they are):
-- `feed_trades_after` is the last trade id announced; `feed_results_after` the last
-- (settled_at, id) whose result was.
INSERT OR IGNORE INTO telegram_state (key, value)
    SELECT 'feed_trades_after', CAST(coalesce(max(id), 0) AS TEXT) FROM trades;
INSERT OR IGNORE INTO telegram_state (key, value)
    SELECT 'feed_results_after',
           json_object('settled_at', coalesce(max(settled_at), ''),
                       'id', coalesce((SELECT max(id) FROM trades t2
                                       WHERE t2.settlement_status = 'settled'
                                         AND t2.settled_at = max(t1.settled_at)), 0))
    FROM trades t1 WHERE settlement_status = 'settled';

-- Trades that `polyperf archive restore` put back past a watermark: history, not news, so the
-- feed never announces them. Rows leave once both watermarks are past them.
CREATE TABLE telegram_restored (
    trade_id INTEGER PRIMARY KEY
);
