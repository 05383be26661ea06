-- Fees of settled YES/NO decisions by the asset they were charged in, archived days included
-- (the view daily_results): shares before the CLOB V2 cut-over of 2026-04-28 11:00 UTC,
-- collateral on top of the stake since, and rows settled before the column existed count as shares,
-- as the report counts them. HOLDs pay no fee and have no row here. Positions archived before
-- migration 0012 kept no asset: their fees show as "unknown". Run: sqlite3 DB < this file
.mode column
.headers on
SELECT fee_asset, round(fees, 2) AS fees, round(100.0 * fees / total, 1) AS percent
FROM (SELECT 'collateral' AS fee_asset, sum(fees_collateral) AS fees, sum(fees) AS total
      FROM daily_results
      UNION ALL
      SELECT 'shares', sum(fees_shares), sum(fees) FROM daily_results
      UNION ALL
      SELECT 'unknown', sum(fees - fees_shares - fees_collateral), sum(fees) FROM daily_results)
WHERE round(fees, 6) <> 0
ORDER BY fee_asset;
