-- A 64-bit fingerprint of the values each decision was logged with (polyperf's
-- decision::fingerprint), indexed with its decision_id: re-logging a stored decision is then
-- recognised as a duplicate from the index alone, without reading the row back; the same
-- decision_id with another fingerprint is compared value by value (a duplicate written
-- differently, or a conflict). NULL for rows logged before this migration.
ALTER TABLE trades ADD COLUMN content_hash INTEGER;
CREATE UNIQUE INDEX idx_trades_decision_content ON trades (decision_id, content_hash);
