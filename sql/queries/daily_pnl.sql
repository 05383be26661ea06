-- Daily P&L of settled YES/NO decisions (UTC days), newest first, archived days included (from
-- daily_rollup, which holds only rows that left `trades`). Money columns are numbers in USDC:
-- sum(), max() and comparisons need no casts. Run: sqlite3 DB < this file
.mode column
.headers on
SELECT day,
       sum(trades)                                      AS trades,
       sum(wins)                                        AS wins,
       round(100.0 * sum(wins) / sum(trades), 1)        AS win_pct,
       round(sum(pnl), 2)                               AS pnl,
       round(sum(fees), 4)                              AS fees,
       max(best)                                        AS best
FROM (SELECT date(timestamp) AS day, count(*) AS trades, sum(is_win) AS wins,
             sum(profit_loss) AS pnl, sum(fee) AS fees, max(profit_loss) AS best
      FROM trades
      WHERE settlement_status = 'settled' AND action IN ('YES', 'NO')
      GROUP BY day
      UNION ALL
      SELECT day, sum(wins + losses), sum(wins), sum(profit_loss), sum(fees), NULL
      FROM daily_rollup
      WHERE action IN ('YES', 'NO')
      GROUP BY day)
GROUP BY day
ORDER BY day DESC
LIMIT 30;
