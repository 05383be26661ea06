-- Hardening (issue 14): restores judged by their rows, leases of dead holders taken over at
-- once, and a run status for runs whose process died.

-- A digest of an archive file's rows: SHA-256 of the decompressed lines after the header, each
-- with its newline. Restore and verify judge a file by its rows, not by its compressed bytes, so
-- a re-compressed copy of an archived week is known as this database's (and never counted
-- twice). NULL for files archived before this column existed (`archive verify` fills it in).
ALTER TABLE archives ADD COLUMN content_sha256 TEXT;
CREATE INDEX idx_archives_content ON archives (content_sha256);

-- Who holds a lease, so that a run can take over at once from a holder that died on this host:
-- the host name, the start of the holder's process (boot id and start time, so a reused pid is
-- not taken for the holder), and the holder's job_runs row (closed as crashed on takeover).
ALTER TABLE job_locks ADD COLUMN host TEXT;
ALTER TABLE job_locks ADD COLUMN pid_start TEXT;
ALTER TABLE job_locks ADD COLUMN run_id INTEGER;

-- job_runs.status gains 'crashed': a run whose process died before it could record its end,
-- closed by the next run of the job. SQLite cannot change a CHECK constraint in place, so the
-- table is rebuilt. Its AUTOINCREMENT counter moves with it: ids of archived runs are never
-- reused, so an archive file can always be restored by id.
CREATE TABLE job_runs_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job         TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'bad_input', 'tempfail',
                                                'locked', 'crashed')),
    exit_code   INTEGER,
    dry_run     INTEGER NOT NULL DEFAULT 0,
    now         TEXT,                       -- the job's idea of "now" (--now)
    stats       TEXT,                       -- JSON
    error       TEXT
);
INSERT INTO job_runs_new (id, job, started_at, finished_at, status, exit_code, dry_run, now, stats, error)
    SELECT id, job, started_at, finished_at, status, exit_code, dry_run, now, stats, error FROM job_runs;
DELETE FROM sqlite_sequence WHERE name = 'job_runs_new';
UPDATE sqlite_sequence SET name = 'job_runs_new' WHERE name = 'job_runs';
DROP TABLE job_runs;
ALTER TABLE job_runs_new RENAME TO job_runs;
CREATE INDEX idx_job_runs_job ON job_runs (job, id);
CREATE INDEX idx_job_runs_started ON job_runs (started_at);
