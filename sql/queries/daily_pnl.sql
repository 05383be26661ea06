-- Daily P&L of settled YES/NO decisions per UTC day, newest first: the daily_results view, so
-- archived days count exactly as live ones (as `polyperf report --by day` counts them). trades =
-- wins + losses (a 50-50 is neither), money in USDC rounded to cents. Run: sqlite3 DB < this file
.mode column
.headers on
SELECT day,
       sum(wins + losses)                                            AS trades,
       sum(wins)                                                     AS wins,
       round(100.0 * sum(wins) / nullif(sum(wins + losses), 0), 1)   AS win_pct,
       round(sum(profit_loss), 2)                                    AS pnl,
       round(sum(fees), 2)                                           AS fees,
       round(sum(staked), 2)                                         AS staked,
       sum(fifty_fifty)                                              AS fifty_fifty
FROM daily_results
WHERE action IN ('YES', 'NO')
GROUP BY day
ORDER BY day DESC
LIMIT 30;
