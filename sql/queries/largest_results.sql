-- Live rows only (`trades`: one row per decision, archived decisions are in archive/*.jsonl.gz).
-- The ten largest wins of settled decisions, then every loss larger than 5 USDC, with the fee
-- and the asset it was charged in (shares before the CLOB V2 cut-over of 2026-04-28 11:00 UTC,
-- collateral on top of the stake since). profit_loss is a number: ORDER BY and > are numeric.
-- Run: sqlite3 DB < this file
.mode column
.headers on
SELECT id, timestamp, market_slug, profit_loss, action, executed_price, position_size, fee, fee_asset
FROM trades
WHERE settlement_status = 'settled' AND profit_loss IS NOT NULL
ORDER BY profit_loss DESC
LIMIT 10;
SELECT id, timestamp, market_slug, profit_loss, action, executed_price, position_size, fee, fee_asset
FROM trades
WHERE settlement_status = 'settled' AND profit_loss < -5
ORDER BY profit_loss
LIMIT 20;
