-- Issue 26: every figure survives archival. The daily rollup keeps what each figure needs of
-- the rows that left `trades`; the existing columns keep their meaning (the `daily_results`
-- view reads them).
--
-- daily_rollup, per slice: of its n decisions, `detailed` were archived with these details
-- (0 for rows archived before this migration: their figures that need rows stay unknown, and
-- the report says so in coverage.live_only); gross P&L, fees by the asset charged, the fee-aware
-- break-even's two sums, and the priced missed opportunities. Money as REAL at 6 places.
ALTER TABLE daily_rollup ADD COLUMN detailed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE daily_rollup ADD COLUMN gross_profit REAL NOT NULL DEFAULT 0;
ALTER TABLE daily_rollup ADD COLUMN gross_loss REAL NOT NULL DEFAULT 0;
ALTER TABLE daily_rollup ADD COLUMN fees_shares REAL NOT NULL DEFAULT 0;
ALTER TABLE daily_rollup ADD COLUMN fees_collateral REAL NOT NULL DEFAULT 0;
ALTER TABLE daily_rollup ADD COLUMN break_even_at_risk REAL NOT NULL DEFAULT 0;
ALTER TABLE daily_rollup ADD COLUMN break_even_swing REAL NOT NULL DEFAULT 0;
ALTER TABLE daily_rollup ADD COLUMN missed_priced INTEGER NOT NULL DEFAULT 0;
ALTER TABLE daily_rollup ADD COLUMN missed_per_dollar REAL NOT NULL DEFAULT 0;

-- Per day, the breakdowns no slice keeps: by hour ('00'..'23'), by price bucket, and the
-- calibration buckets ('0'..'5') with their sums of confidence and of the Brier terms (exact
-- decimal text at 12 places: a statistic summed in any order to the same value).
CREATE TABLE rollup_groups (
    day                TEXT    NOT NULL,
    dimension          TEXT    NOT NULL CHECK (dimension IN ('hour', 'price', 'confidence')),
    name               TEXT    NOT NULL,
    wins               INTEGER NOT NULL DEFAULT 0,
    losses             INTEGER NOT NULL DEFAULT 0,
    fifty_fifty        INTEGER NOT NULL DEFAULT 0,
    holds              INTEGER NOT NULL DEFAULT 0,
    missed             INTEGER NOT NULL DEFAULT 0,
    profit_loss        REAL    NOT NULL DEFAULT 0,
    fees               REAL    NOT NULL DEFAULT 0,
    staked             REAL    NOT NULL DEFAULT 0,
    break_even_at_risk REAL    NOT NULL DEFAULT 0,
    break_even_swing   REAL    NOT NULL DEFAULT 0,
    confidence_sum     TEXT    NOT NULL DEFAULT '0',
    brier_sum          TEXT    NOT NULL DEFAULT '0',
    PRIMARY KEY (day, dimension, name)
) WITHOUT ROWID;

-- Per day and archive file, the path of the positions the file took, in the order
-- (timestamp, id): P&L, highest and lowest point and the largest fall inside it (levels from
-- the part's start, times in Unix seconds, _seq: after how many of the part's positions), and
-- its losing runs (at its start, at its end, the longest; one_run: it holds no win). A day archived in two runs has
-- two parts; restoring a file removes its parts. Parts compose in the order of their first
-- position (first_at, first_id).
CREATE TABLE rollup_paths (
    day           TEXT    NOT NULL,
    file          TEXT    NOT NULL,
    first_at      TEXT    NOT NULL,
    first_id      INTEGER NOT NULL,
    first_secs    INTEGER NOT NULL,
    last_secs     INTEGER NOT NULL,
    positions     INTEGER NOT NULL,
    net           REAL    NOT NULL,
    high          REAL    NOT NULL,
    high_secs     INTEGER NOT NULL,
    high_seq      INTEGER NOT NULL,
    low           REAL    NOT NULL,
    low_secs      INTEGER NOT NULL,
    low_seq       INTEGER NOT NULL,
    drawdown      REAL    NOT NULL,
    peak          REAL    NOT NULL,
    peak_secs     INTEGER NOT NULL,
    peak_seq      INTEGER NOT NULL,
    trough_secs   INTEGER NOT NULL,
    trough_seq    INTEGER NOT NULL,
    run_start     INTEGER NOT NULL,
    run_end       INTEGER NOT NULL,
    run_longest   INTEGER NOT NULL,
    one_run       INTEGER NOT NULL,
    PRIMARY KEY (day, file)
) WITHOUT ROWID;
CREATE INDEX idx_rollup_paths_file ON rollup_paths (file);

-- Archive files whose rows' details went into the rollup (restore takes out exactly those).
CREATE TABLE rollup_files (
    file TEXT PRIMARY KEY
) WITHOUT ROWID;
