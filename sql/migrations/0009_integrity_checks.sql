-- Issue 23: the database's own integrity checks. polyperf-cleanup runs `PRAGMA quick_check`
-- within a time limit and records each result here; `polyperf status` shows the last one.
--
-- result: ok (nothing wrong), damaged (quick_check listed problems, kept in `problems`),
-- incomplete (the time limit stopped it first), failed (the check itself could not run:
-- `problems` says why, e.g. a disk I/O error after the WAL file was deleted under a job).
-- Nothing else changes; older rows are pruned by cleanup (the last 100 are kept).
CREATE TABLE integrity_checks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    checked_at  TEXT    NOT NULL,
    result      TEXT    NOT NULL CHECK (result IN ('ok', 'damaged', 'incomplete', 'failed')),
    problems    TEXT,
    elapsed_ms  INTEGER NOT NULL,
    db_bytes    INTEGER
);
