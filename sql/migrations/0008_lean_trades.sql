-- Issue 20: a leaner `trades` (bytes per decision) without a query losing its index.
--
-- * idx_trades_decision_content (decision_id, content_hash) goes: it repeated every
--   decision_id a second time (~60 bytes a row) only so that a bulk re-log could skip
--   duplicates inside an upsert. The bulk log now inserts with OR IGNORE and compares
--   fingerprints only for the rows of a chunk that were not stored (decision::store), through
--   the UNIQUE index on decision_id that stays. `content_hash` stays as a column.
-- * idx_trades_is_win keeps its name (SPEC §4) but holds only decided rows: every row is
--   logged with is_win NULL, and no query looks for NULL through it (`is_win = 1`,
--   `is_win IS NOT NULL` and `ORDER BY is_win` on decided rows still use it).
--
-- Indexes only: no row changes, the conversion is in place. The pages freed go to the
-- freelist, which cleanup's incremental vacuum returns to the file system.
DROP INDEX IF EXISTS idx_trades_decision_content;
DROP INDEX IF EXISTS idx_trades_is_win;
CREATE INDEX idx_trades_is_win ON trades (is_win) WHERE is_win IS NOT NULL;
