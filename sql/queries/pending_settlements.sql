-- Live rows only (`trades`): pending decisions are never archived, unsettleable ones older than
-- the archive retention are (in archive/*.jsonl.gz). Run: sqlite3 DB < this file
-- Decisions not yet settled, oldest window first, with how long past the window end they are.
.mode column
.headers on
SELECT id, decision_id, market_slug, action, market_end,
       round((julianday('now') - julianday(market_end)) * 24 * 60) AS minutes_past_end
FROM trades
WHERE settlement_status = 'pending'
ORDER BY market_end
LIMIT 50;
-- And the ones that cannot be settled, with the reason.
SELECT id, market_slug, unsettleable_reason FROM trades WHERE settlement_status = 'unsettleable' ORDER BY id DESC LIMIT 20;
