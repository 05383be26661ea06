-- Win rate and P&L by signal type over settled YES/NO decisions, all time: the daily_results
-- view (live rows and archived days, as `polyperf report` counts them, money in USDC rounded to
-- cents). For the last 30 UTC days add: AND day >= date('now', '-29 days'). Run: sqlite3 DB < this file
.mode column
.headers on
SELECT coalesce(signal_type, '(none)')                               AS signal_type,
       sum(wins + losses)                                            AS trades,
       sum(wins)                                                     AS wins,
       sum(losses)                                                   AS losses,
       round(100.0 * sum(wins) / nullif(sum(wins + losses), 0), 1)   AS win_pct,
       round(sum(profit_loss), 2)                                    AS pnl,
       round(sum(fees), 2)                                           AS fees
FROM daily_results
WHERE action IN ('YES', 'NO')
GROUP BY signal_type
ORDER BY trades DESC, signal_type;
