-- Issue 26: one view for the operator's SQL, so that totals over time read the same in sqlite3
-- as in `polyperf report`, archived days included. Rows that polyperf-archive moved out of
-- `trades` survive only as `daily_rollup` sums; a query on `trades` alone silently counts the
-- live rows only.
--
-- `daily_results` has one row per UTC day, action and signal type: settled decisions from
-- `trades` (live) plus `daily_rollup` (archived), counted exactly as archival counts them, so
-- archiving a day (or restoring it) changes no row of the view. For YES/NO rows:
--
--   decisions    settled decisions (wins + losses + fifty_fifty); for HOLD rows the settled HOLDs
--   wins, losses settled YES/NO that won / lost (report --json `wins`, `losses`; their sum is
--                `settled`)
--   fifty_fifty  settled YES/NO whose market resolved 50-50 (neither a win nor a loss)
--   missed       settled HOLDs that were missed opportunities
--   profit_loss, fees, staked
--                USDC, each row's sum rounded to 6 decimals (the money columns' own precision);
--                0 on HOLD rows (a HOLD stakes nothing). sum() over rows goes through floating
--                point again: round it (2 places for people, 6 to compare with the report).
--   fees_shares, fees_collateral
--                `fees` by the asset they were charged in (a row settled before `fee_asset`
--                existed counts as shares, as the report counts it); positions archived before
--                migration 0012 kept no asset: their fees are in `fees` only
--   archived     how many of `decisions` are known only from daily_rollup
--
-- signal_type is NULL when the decision had none (daily_rollup keeps '' for it).
--
-- A later migration that rebuilds `trades` or `daily_rollup` (CREATE new, DROP, RENAME) must
-- DROP this view first and create it again afterwards: SQLite refuses to rename a table while
-- a view names a table that is missing.
CREATE VIEW daily_results AS
SELECT day,
       action,
       signal_type,
       sum(decisions)                                                       AS decisions,
       sum(wins)                                                            AS wins,
       sum(losses)                                                          AS losses,
       CASE WHEN action IN ('YES', 'NO')
            THEN sum(decisions) - sum(wins) - sum(losses) ELSE 0 END        AS fifty_fifty,
       sum(missed)                                                          AS missed,
       CASE WHEN action IN ('YES', 'NO')
            THEN round(sum(profit_loss), 6) ELSE 0.0 END                    AS profit_loss,
       CASE WHEN action IN ('YES', 'NO')
            THEN round(sum(fees), 6) ELSE 0.0 END                           AS fees,
       CASE WHEN action IN ('YES', 'NO')
            THEN round(sum(fees_shares), 6) ELSE 0.0 END                    AS fees_shares,
       CASE WHEN action IN ('YES', 'NO')
            THEN round(sum(fees_collateral), 6) ELSE 0.0 END                AS fees_collateral,
       CASE WHEN action IN ('YES', 'NO')
            THEN round(sum(staked), 6) ELSE 0.0 END                         AS staked,
       sum(archived)                                                        AS archived
FROM (SELECT substr(timestamp, 1, 10)                                       AS day,
             action,
             nullif(signal_type, '')                                        AS signal_type,
             count(*)                                                       AS decisions,
             coalesce(sum(action <> 'HOLD' AND is_win = 1), 0)             AS wins,
             coalesce(sum(action <> 'HOLD' AND is_win = 0), 0)             AS losses,
             coalesce(sum(action = 'HOLD' AND is_missed_opportunity = 1), 0) AS missed,
             total(profit_loss)                                             AS profit_loss,
             total(fee)                                                     AS fees,
             total(CASE WHEN coalesce(fee_asset, 'shares') = 'shares'
                        THEN fee END)                                       AS fees_shares,
             total(CASE WHEN fee_asset = 'collateral' THEN fee END)         AS fees_collateral,
             total(CASE WHEN action <> 'HOLD' THEN position_size END)       AS staked,
             0                                                              AS archived
      FROM trades
      WHERE settlement_status = 'settled'
      GROUP BY 1, 2, 3
      UNION ALL
      SELECT day, action, nullif(signal_type, ''), n, wins, losses, missed, profit_loss, fees,
             fees_shares, fees_collateral, staked, n
      FROM daily_rollup)
GROUP BY day, action, signal_type;
