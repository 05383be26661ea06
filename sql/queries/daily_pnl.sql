-- Daily P&L of settled YES/NO decisions (UTC days), newest first. Run: sqlite3 DB < this file
.mode column
.headers on
SELECT date(timestamp)                                  AS day,
       count(*)                                         AS trades,
       sum(is_win)                                      AS wins,
       round(100.0 * sum(is_win) / count(*), 1)         AS win_pct,
       round(sum(profit_loss), 2)                       AS pnl,
       round(sum(fee), 4)                               AS fees
FROM trades
WHERE settlement_status = 'settled' AND action IN ('YES', 'NO')
GROUP BY day
ORDER BY day DESC
LIMIT 30;
