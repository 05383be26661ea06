-- Walk-forward evaluations of the learning loop (`polyperf evaluate`, issue 18): what the
-- loop's changes would have earned over the history, so `polyperf report` can show the latest
-- and autonomy `full` can ask whether the evidence agrees. Money as in `trades`: REAL in USDC,
-- rounded to 6 decimals.
CREATE TABLE evaluations (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at      TEXT    NOT NULL,     -- the evaluation's "now" (UTC, as every timestamp)
    since           TEXT,                 -- the first replayed decision's time
    until           TEXT,                 -- the last one's
    engine          TEXT    NOT NULL CHECK (engine IN ('rules', 'openai')),
    autonomy        TEXT    NOT NULL CHECK (autonomy IN ('observe', 'tier1', 'full')),
    baseline_profit REAL    NOT NULL,     -- what really happened
    adjusted_profit REAL    NOT NULL,     -- what the loop's changes would have made
    improvement     REAL    NOT NULL,     -- adjusted - baseline
    ci_low          REAL    NOT NULL,     -- 95% interval of the improvement (block bootstrap)
    ci_high         REAL    NOT NULL,
    changes         INTEGER NOT NULL,     -- parameter changes the loop made
    result          TEXT    NOT NULL      -- JSON: the whole `polyperf evaluate --json` object
);
CREATE INDEX idx_evaluations_created ON evaluations (created_at);

-- Model answers an evaluation with `--engine openai` got, by the SHA-256 of the prompt: a
-- rerun over the same history asks the model nothing it has answered.
CREATE TABLE evaluation_answers (
    prompt_sha256 TEXT PRIMARY KEY,
    model         TEXT NOT NULL,
    answer        TEXT NOT NULL,
    created_at    TEXT NOT NULL
) WITHOUT ROWID;
