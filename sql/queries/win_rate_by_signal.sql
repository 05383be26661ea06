-- Win rate and P&L by signal type over settled YES/NO decisions. Run: sqlite3 DB < this file
.mode column
.headers on
SELECT coalesce(signal_type, '(none)')                  AS signal_type,
       count(*)                                         AS trades,
       sum(is_win)                                      AS wins,
       round(100.0 * sum(is_win) / count(*), 1)         AS win_pct,
       round(sum(profit_loss), 2)                       AS pnl
FROM trades
WHERE settlement_status = 'settled' AND action IN ('YES', 'NO')
GROUP BY signal_type
ORDER BY trades DESC;
