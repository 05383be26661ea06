-- All-time totals as `polyperf report --json` gives them (settled, wins, losses, fifty_fifty,
-- holds, total_profit, fees, staked), archived days included: the daily_results view. Money in
-- USDC rounded to cents. `archived`: decisions known only from daily_rollup. Run: sqlite3 DB < this file
.mode column
.headers on
SELECT min(day)                                                      AS first_day,
       max(day)                                                      AS last_day,
       sum(wins + losses)                                            AS settled,
       sum(wins)                                                     AS wins,
       sum(losses)                                                   AS losses,
       sum(fifty_fifty)                                              AS fifty_fifty,
       sum(CASE WHEN action = 'HOLD' THEN decisions ELSE 0 END)      AS holds,
       round(100.0 * sum(wins) / nullif(sum(wins + losses), 0), 1)   AS win_pct,
       round(sum(profit_loss), 2)                                    AS profit,
       round(sum(fees), 2)                                           AS fees,
       round(sum(staked), 2)                                         AS staked,
       round(100.0 * sum(profit_loss) / nullif(sum(staked), 0), 1)   AS roi_pct,
       sum(archived)                                                 AS archived
FROM daily_results;
