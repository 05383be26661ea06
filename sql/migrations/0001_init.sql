-- polyperf schema, version 1.
--
-- Conventions (SPEC §4):
--   * timestamps are UTC text 'YYYY-MM-DD HH:MM:SS', the form SQLite's datetime() produces,
--     so `timestamp >= datetime(?)` comparisons are correct;
--   * money and prices are exact decimal TEXT ('5.00', '-4.9731'); sqlite3's sum() still reads
--     them as numbers, and polyperf sums them exactly with its dec_sum() aggregate;
--   * AUTOINCREMENT keeps ids from being reused after archived rows leave, so an archive can
--     always be restored by id.

-- The seed's table, with its column names kept, plus the settlement bookkeeping.
CREATE TABLE trades (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp              TEXT    NOT NULL,
    market_slug            TEXT    NOT NULL,
    market_id              INTEGER,
    action                 TEXT    NOT NULL CHECK (action IN ('YES', 'NO', 'HOLD')),
    confidence             REAL    NOT NULL,
    position_size          TEXT    NOT NULL,
    reasoning              TEXT,
    btc_price              TEXT    NOT NULL,
    price_to_beat          TEXT,
    time_remaining_seconds INTEGER,
    is_end_phase           INTEGER,
    social_score           REAL,
    market_score           REAL,
    final_score            REAL,
    final_confidence       REAL,
    signal_type            TEXT,
    rsi                    REAL,
    macd                   REAL,
    trend                  TEXT,
    yes_price              TEXT,
    no_price               TEXT,
    executed_price         TEXT,
    actual_outcome         TEXT CHECK (actual_outcome IN ('UP', 'DOWN')),
    profit_loss            TEXT,
    is_win                 INTEGER,
    is_missed_opportunity  INTEGER,
    -- polyperf additions
    decision_id            TEXT    NOT NULL UNIQUE,
    market_start           TEXT,            -- window start (from the trader, the slug or Gamma)
    market_end             TEXT,            -- window end; NULL until known
    fee_rate               TEXT,            -- fee rate the trader logged (overrides settings)
    settlement_status      TEXT    NOT NULL DEFAULT 'pending'
                           CHECK (settlement_status IN ('pending', 'settled', 'unsettleable')),
    settlement_source      TEXT CHECK (settlement_source IN ('gamma', 'price')),
    settled_at             TEXT,
    unsettleable_reason    TEXT,
    fee                    TEXT,            -- taker fee in USDC charged on this decision
    fee_rate_used          TEXT,
    fee_exponent_used      TEXT,
    payout                 TEXT,            -- USDC paid out at resolution (0 on a loss)
    end_price              TEXT,            -- BTC price at the window end (price source)
    start_price            TEXT,            -- price the outcome was compared against
    lag_alerted_at         TEXT,            -- when the "still unsettled" alert was queued
    created_at             TEXT    NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX idx_trades_timestamp   ON trades (timestamp);
CREATE INDEX idx_trades_signal_type ON trades (signal_type);
CREATE INDEX idx_trades_is_win      ON trades (is_win);
-- The settlement job's work queue: only pending rows, ordered by when they become due.
CREATE INDEX idx_trades_pending     ON trades (market_end) WHERE settlement_status = 'pending';
CREATE INDEX idx_trades_settled_at  ON trades (settled_at) WHERE settlement_status = 'settled';

-- The seed's table plus what a reflection needs to be audited and retried.
CREATE TABLE reflections (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp         TEXT    NOT NULL,
    trigger_type      TEXT    NOT NULL,
    trades_analyzed   INTEGER NOT NULL DEFAULT 0,
    insights          TEXT,                 -- JSON: the parsed answer
    adjustments_made  TEXT,                 -- JSON: proposal ids created
    engine            TEXT,                 -- 'openai' | 'rules'
    model             TEXT,
    status            TEXT    NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'invalid_answer', 'failed')),
    prompt            TEXT,
    raw_answer        TEXT,
    error             TEXT,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER
);
CREATE INDEX idx_reflections_timestamp ON reflections (timestamp);

-- Which settled trades each reflection covered, so a trigger never fires twice for them.
CREATE TABLE reflection_trades (
    reflection_id INTEGER NOT NULL REFERENCES reflections (id) ON DELETE CASCADE,
    trade_id      INTEGER NOT NULL,
    PRIMARY KEY (reflection_id, trade_id)
) WITHOUT ROWID;
CREATE INDEX idx_reflection_trades_trade ON reflection_trades (trade_id);

-- The seed's table plus links to what caused the change.
CREATE TABLE parameter_history (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp          TEXT NOT NULL,
    parameter_name     TEXT NOT NULL,
    old_value          TEXT NOT NULL,
    new_value          TEXT NOT NULL,
    reason             TEXT NOT NULL,
    approval_method    TEXT NOT NULL CHECK (approval_method IN ('auto', 'telegram', 'cli', 'rollback', 'init')),
    proposal_id        INTEGER,
    reverts_history_id INTEGER
);
CREATE INDEX idx_parameter_history_name ON parameter_history (parameter_name, timestamp);

-- Live trading parameters: the trader reads these every cycle.
CREATE TABLE parameters (
    name        TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    min         TEXT NOT NULL,
    max         TEXT NOT NULL,
    description TEXT,
    updated_at  TEXT NOT NULL
);
INSERT INTO parameters (name, value, min, max, description, updated_at) VALUES
    ('bot_confidence_threshold', '0.75', '0.50', '0.95', 'minimum confidence for the trader to take a position', datetime('now')),
    ('bot_max_position_dollars', '10',   '1',    '50',   'largest single position in USDC', datetime('now')),
    ('bot_max_exposure_percent', '0.50', '0.05', '0.80', 'largest share of the bankroll at risk at once', datetime('now'));

-- Recommendations from reflections, and their fate.
CREATE TABLE proposals (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at      TEXT NOT NULL,
    reflection_id   INTEGER REFERENCES reflections (id),
    parameter_name  TEXT NOT NULL,
    current_value   TEXT NOT NULL,
    proposed_value  TEXT NOT NULL,
    reason          TEXT,
    expected_impact TEXT,
    suggested_tier  INTEGER,                -- what the model said; information only
    tier            INTEGER,                -- what the adjuster decided
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'awaiting_approval', 'applied', 'rejected',
                                      'expired', 'superseded', 'reported')),
    status_reason   TEXT,
    evidence        TEXT,                   -- JSON: the replay
    nonce           TEXT,                   -- random part of the approval buttons' callback_data
    expires_at      TEXT,
    decided_at      TEXT,
    decided_by      TEXT,
    history_id      INTEGER,                -- the parameter_history row that applied it
    rollback_of     INTEGER                 -- a rollback proposal names the history row it undoes
);
CREATE INDEX idx_proposals_status ON proposals (status);

-- One row: whether the trader may trade.
CREATE TABLE trading_control (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    paused         INTEGER NOT NULL DEFAULT 0,
    reason         TEXT,
    rule           TEXT,                    -- the tier-3 rule that fired, NULL for a manual pause
    figures        TEXT,                    -- JSON: the numbers that made the rule fire
    since          TEXT,
    by             TEXT,
    auto_resume_at TEXT
);
INSERT INTO trading_control (id, paused) VALUES (1, 0);

-- Every pause and resume, for the audit trail.
CREATE TABLE control_events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp TEXT NOT NULL,
    action    TEXT NOT NULL CHECK (action IN ('pause', 'resume')),
    reason    TEXT,
    rule      TEXT,
    by        TEXT NOT NULL
);

-- Messages waiting for polyperf-telegram, the only process that talks to the Bot API.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at      TEXT NOT NULL DEFAULT (datetime('now')),
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,          -- JSON
    dedup_key       TEXT UNIQUE,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at TEXT,
    sent_at         TEXT,
    message_id      INTEGER
);
CREATE INDEX idx_outbox_pending ON outbox (id) WHERE status = 'pending';
CREATE INDEX idx_outbox_created ON outbox (created_at);

-- A trade alert for every fresh YES/NO decision, so the trader needs no Telegram code.
-- Restored rows are never pending, so restoring an archive sends no alerts.
CREATE TRIGGER trades_trade_alert AFTER INSERT ON trades
WHEN NEW.action IN ('YES', 'NO') AND NEW.settlement_status = 'pending'
BEGIN
    INSERT OR IGNORE INTO outbox (created_at, kind, payload, dedup_key)
    VALUES (datetime('now'), 'trade',
            json_object('trade_id', NEW.id, 'decision_id', NEW.decision_id,
                        'timestamp', NEW.timestamp, 'market_slug', NEW.market_slug,
                        'action', NEW.action, 'confidence', NEW.confidence,
                        'position_size', NEW.position_size, 'executed_price', NEW.executed_price,
                        'signal_type', NEW.signal_type),
            'trade:' || NEW.decision_id);
END;

-- Key/value state of the Telegram process (the getUpdates offset).
CREATE TABLE telegram_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One row per job run.
CREATE TABLE job_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job         TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'bad_input', 'tempfail', 'locked')),
    exit_code   INTEGER,
    dry_run     INTEGER NOT NULL DEFAULT 0,
    now         TEXT,                       -- the job's idea of "now" (--now)
    stats       TEXT,                       -- JSON
    error       TEXT
);
CREATE INDEX idx_job_runs_job ON job_runs (job, id);
CREATE INDEX idx_job_runs_started ON job_runs (started_at);

-- Leases: a job never overlaps itself; a dead holder's lease expires on its own.
CREATE TABLE job_locks (
    job         TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    pid         INTEGER,
    acquired_at TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);

-- The manifest of archive files.
CREATE TABLE archives (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    table_name   TEXT    NOT NULL,
    iso_week     TEXT    NOT NULL,          -- '2026-W07'
    part         INTEGER NOT NULL DEFAULT 1,
    file_name    TEXT    NOT NULL UNIQUE,
    rows         INTEGER NOT NULL,
    min_id       INTEGER,
    max_id       INTEGER,
    sha256       TEXT    NOT NULL,
    size_bytes   INTEGER NOT NULL,
    created_at   TEXT    NOT NULL,
    deleted_at   TEXT,                      -- when its rows left the database
    verified_at  TEXT,
    offloaded_to TEXT                       -- set when cleanup moved the file elsewhere
);

-- Cache of BTC 1-minute candles (settlement's price fallback).
CREATE TABLE prices (
    symbol       TEXT    NOT NULL,
    open_time_ms INTEGER NOT NULL,
    open         TEXT    NOT NULL,
    high         TEXT    NOT NULL,
    low          TEXT    NOT NULL,
    close        TEXT    NOT NULL,
    source       TEXT    NOT NULL DEFAULT 'binance',
    fetched_at   TEXT    NOT NULL,
    PRIMARY KEY (symbol, open_time_ms)
) WITHOUT ROWID;

-- Cache of official market data from Gamma (window, resolution, fee schedule).
CREATE TABLE markets (
    slug              TEXT PRIMARY KEY,
    market_id         TEXT,
    window_start      TEXT,
    window_end        TEXT,
    closed            INTEGER NOT NULL DEFAULT 0,
    resolution_status TEXT,
    outcome           TEXT CHECK (outcome IN ('UP', 'DOWN')),
    fee_rate          TEXT,
    fee_exponent      TEXT,
    fees_enabled      INTEGER,
    fetched_at        TEXT NOT NULL
) WITHOUT ROWID;

-- Official result and price-based result disagreed for a market.
CREATE TABLE settlement_disagreements (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    market_slug      TEXT NOT NULL UNIQUE,
    official_outcome TEXT NOT NULL,
    price_outcome    TEXT NOT NULL,
    end_price        TEXT,
    start_price      TEXT,
    trades_corrected INTEGER NOT NULL DEFAULT 0,
    detected_at      TEXT NOT NULL
);

-- Per-day rollup of settled decisions, updated before rows are archived, so all-time figures
-- survive archival. `archived` counts only rows that have left `trades`.
CREATE TABLE daily_rollup (
    day          TEXT    NOT NULL,          -- 'YYYY-MM-DD' (UTC) of the decision
    signal_type  TEXT    NOT NULL DEFAULT '',
    action       TEXT    NOT NULL,
    is_end_phase INTEGER NOT NULL DEFAULT 0,
    n            INTEGER NOT NULL DEFAULT 0,
    wins         INTEGER NOT NULL DEFAULT 0,
    losses       INTEGER NOT NULL DEFAULT 0,
    missed       INTEGER NOT NULL DEFAULT 0,
    profit_loss  TEXT    NOT NULL DEFAULT '0',
    fees         TEXT    NOT NULL DEFAULT '0',
    staked       TEXT    NOT NULL DEFAULT '0',
    PRIMARY KEY (day, signal_type, action, is_end_phase)
) WITHOUT ROWID;
