-- Issue 23: nothing real stops settlement, and nothing is counted twice.

-- Decisions whose rows polyperf-archive moved out of `trades`: a decision logged again after
-- archival is then a duplicate (same content) or a conflict (other content), exactly as while
-- it was live. `fingerprint` is decision::fingerprint of the decision's canonical content (what
-- a conflict compares: amounts however written, the time to the second, no market window);
-- `summary` is how a conflict names the stored version ("NO 5.00 @ 0.52"). Written in the
-- transaction that deletes the rows; a restore that puts a decision back removes its entry.
CREATE TABLE archived_decisions (
    decision_id TEXT    PRIMARY KEY,
    fingerprint INTEGER,                     -- NULL: the row could not be read; any re-log conflicts
    summary     TEXT    NOT NULL,
    trade_id    INTEGER NOT NULL             -- the row's id in `trades` (and in the archive file)
) WITHOUT ROWID;

-- Whether a trades file's decisions are in archived_decisions. Files whose rows left the
-- database before this migration are indexed by the next polyperf-archive run (it reads them).
ALTER TABLE archives ADD COLUMN decisions_indexed INTEGER NOT NULL DEFAULT 1;
UPDATE archives SET decisions_indexed = 0 WHERE table_name = 'trades' AND deleted_at IS NOT NULL;

-- A market resolved 50-50 (each share pays $0.50): `outcome` stays NULL (its CHECK knows UP and
-- DOWN), `split` says so. On `trades` a 50-50 is a settled row with actual_outcome and is_win
-- NULL (neither a win nor a loss) and its P&L.
ALTER TABLE markets ADD COLUMN split INTEGER NOT NULL DEFAULT 0;

-- Settlement's own state between runs (one row per key, JSON values): the one outage alert
-- (`lag_alert`) and price sources that refuse this host (`price_refused:<symbol or *>`).
CREATE TABLE settlement_state (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;

-- Waiting outbox rows per kind, kept by triggers, so that bounding the outbox costs the same
-- however long the queue is (no count(*) per enqueue): outbox::enforce_bound reads these.
CREATE TABLE outbox_pending (
    kind TEXT    PRIMARY KEY,
    n    INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO outbox_pending (kind, n)
    SELECT kind, count(*) FROM outbox WHERE status = 'pending' GROUP BY kind;

CREATE TRIGGER outbox_pending_insert AFTER INSERT ON outbox WHEN NEW.status = 'pending'
BEGIN
    INSERT OR IGNORE INTO outbox_pending (kind, n) VALUES (NEW.kind, 0);
    UPDATE outbox_pending SET n = n + 1 WHERE kind = NEW.kind;
END;

CREATE TRIGGER outbox_pending_delete AFTER DELETE ON outbox WHEN OLD.status = 'pending'
BEGIN
    UPDATE outbox_pending SET n = n - 1 WHERE kind = OLD.kind;
END;

CREATE TRIGGER outbox_pending_update AFTER UPDATE OF status, kind ON outbox
WHEN OLD.status = 'pending' OR NEW.status = 'pending'
BEGIN
    UPDATE outbox_pending SET n = n - 1 WHERE kind = OLD.kind AND OLD.status = 'pending';
    INSERT OR IGNORE INTO outbox_pending (kind, n) VALUES (NEW.kind, 0);
    UPDATE outbox_pending SET n = n + 1 WHERE kind = NEW.kind AND NEW.status = 'pending';
END;

-- The bound drops the oldest waiting rows of a kind: found through this index, not by walking
-- every waiting row.
CREATE INDEX idx_outbox_pending_kind ON outbox (kind, id) WHERE status = 'pending';
