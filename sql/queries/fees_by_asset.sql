-- Live rows only (`trades`: daily_rollup keeps no fee asset): fees of settled YES/NO decisions
-- by the asset they were charged in (shares before the CLOB V2 cut-over of 2026-04-28 11:00 UTC,
-- collateral on top of the stake since, and rows settled before the column existed count as shares,
-- as the report counts them). HOLDs pay no fee and have no row here. Run: sqlite3 DB < this file
.mode column
.headers on
SELECT coalesce(fee_asset, 'shares')                                 AS fee_asset,
       count(*)                                                      AS trades,
       round(sum(fee), 4)                                            AS fees,
       min(timestamp)                                                AS first,
       max(timestamp)                                                AS last
FROM trades
WHERE settlement_status = 'settled' AND action IN ('YES', 'NO')
GROUP BY 1
ORDER BY 1;
