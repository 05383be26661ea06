-- polyperf schema, version 2: money and prices that sqlite3 reads as numbers; fill facts.
--
-- Until now money and prices were exact decimal TEXT, so an operator's plain SQL was wrong:
-- max(profit_loss) compared text ('9.997049' > '19.954806'), ORDER BY sorted lexically and
-- `profit_loss > 5` compared text with a number. From here on:
--   * money and share prices (position_size, yes/no/executed price, fee, fee_paid, payout,
--     profit_loss, fee rates, rollup sums) are REAL holding the value rounded to 6 decimals, in
--     USDC units (9.65, not 9650000); polyperf rounds to 6 decimals again when it reads, so Rust
--     gets back the exact decimal it wrote (db::Money);
--   * BTC prices (btc_price, price_to_beat, start/end price, candles) are REAL rounded to 8
--     decimals, Chainlink's precision, exact in f64 below 10,000,000 (db::BtcPrice);
--   * fee exponents are INTEGER.
-- Parameters (parameters, parameter_history, proposals) stay TEXT: they are settings that must
-- equal their bounds and steps exactly, nobody sums them, and the trader reads them as text.
--
-- SQLite cannot change a column's type, and its affinity turns a REAL stored into a TEXT column
-- back into text, so each affected table is rebuilt: create the new table, copy with
-- round(CAST(x AS REAL), n), drop the old one, rename, recreate its indexes and triggers. The
-- whole migration runs in one transaction (db::migrate). No other table references these with a
-- foreign key.
--
-- New on trades, the fill facts the trader may log (SPEC §2): `liquidity` ('taker' unless the
-- fill was a maker's) and `fee_paid` (USDC the fill was really charged); and, from settlement,
-- `fee_asset`: whether the fee was taken in shares (before the CLOB V2 cut-over) or charged in
-- collateral on top of the stake (after it).

-- AUTOINCREMENT counters of the rebuilt tables: dropping a table forgets its counter, and ids
-- of archived rows must never be reused (an archive is restored by id).
CREATE TEMP TABLE migration_0002_sequence AS
    SELECT name, seq FROM sqlite_sequence WHERE name IN ('trades', 'settlement_disagreements');

CREATE TABLE trades_new (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp              TEXT    NOT NULL,
    market_slug            TEXT    NOT NULL,
    market_id              INTEGER,
    action                 TEXT    NOT NULL CHECK (action IN ('YES', 'NO', 'HOLD')),
    confidence             REAL    NOT NULL,
    position_size          REAL    NOT NULL,  -- USDC, 6 decimals
    reasoning              TEXT,
    btc_price              REAL    NOT NULL,  -- USD, 8 decimals
    price_to_beat          REAL,              -- USD, 8 decimals
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
    yes_price              REAL,              -- share prices, 6 decimals
    no_price               REAL,
    executed_price         REAL,
    actual_outcome         TEXT CHECK (actual_outcome IN ('UP', 'DOWN')),
    profit_loss            REAL,              -- USDC, 6 decimals
    is_win                 INTEGER,
    is_missed_opportunity  INTEGER,
    -- polyperf additions
    decision_id            TEXT    NOT NULL UNIQUE,
    market_start           TEXT,
    market_end             TEXT,
    fee_rate               REAL,              -- fee rate the trader logged (overrides settings)
    settlement_status      TEXT    NOT NULL DEFAULT 'pending'
                           CHECK (settlement_status IN ('pending', 'settled', 'unsettleable')),
    settlement_source      TEXT CHECK (settlement_source IN ('gamma', 'price')),
    settled_at             TEXT,
    unsettleable_reason    TEXT,
    fee                    REAL,              -- fee in USDC charged on this decision
    fee_rate_used          REAL,
    fee_exponent_used      INTEGER,
    payout                 REAL,              -- USDC paid out at resolution (0 on a loss)
    end_price              REAL,              -- BTC price at the window end (price source)
    start_price            REAL,              -- price the outcome was compared against
    lag_alerted_at         TEXT,
    created_at             TEXT    NOT NULL DEFAULT (datetime('now')),
    -- version 2: fill facts and the fee's asset
    liquidity              TEXT    NOT NULL DEFAULT 'taker' CHECK (liquidity IN ('taker', 'maker')),
    fee_paid               REAL,              -- USDC the trader says the fill was charged
    fee_asset              TEXT CHECK (fee_asset IN ('shares', 'collateral'))
);

INSERT INTO trades_new (
    id, timestamp, market_slug, market_id, action, confidence, position_size, reasoning,
    btc_price, price_to_beat, time_remaining_seconds, is_end_phase, social_score, market_score,
    final_score, final_confidence, signal_type, rsi, macd, trend, yes_price, no_price,
    executed_price, actual_outcome, profit_loss, is_win, is_missed_opportunity, decision_id,
    market_start, market_end, fee_rate, settlement_status, settlement_source, settled_at,
    unsettleable_reason, fee, fee_rate_used, fee_exponent_used, payout, end_price, start_price,
    lag_alerted_at, created_at, fee_asset)
SELECT
    id, timestamp, market_slug, market_id, action, confidence,
    round(CAST(position_size AS REAL), 6), reasoning,
    round(CAST(btc_price AS REAL), 8), round(CAST(price_to_beat AS REAL), 8),
    time_remaining_seconds, is_end_phase, social_score, market_score,
    final_score, final_confidence, signal_type, rsi, macd, trend,
    round(CAST(yes_price AS REAL), 6), round(CAST(no_price AS REAL), 6),
    round(CAST(executed_price AS REAL), 6), actual_outcome,
    round(CAST(profit_loss AS REAL), 6), is_win, is_missed_opportunity, decision_id,
    market_start, market_end, round(CAST(fee_rate AS REAL), 6), settlement_status,
    settlement_source, settled_at, unsettleable_reason,
    round(CAST(fee AS REAL), 6), round(CAST(fee_rate_used AS REAL), 6),
    CAST(fee_exponent_used AS INTEGER), round(CAST(payout AS REAL), 6),
    round(CAST(end_price AS REAL), 8), round(CAST(start_price AS REAL), 8),
    lag_alerted_at, created_at,
    -- Settled before version 2: the fee was always taken in shares.
    CASE WHEN settlement_status = 'settled' AND action IN ('YES', 'NO') AND profit_loss IS NOT NULL
         THEN 'shares' END
FROM trades ORDER BY id;

DROP TABLE trades;
ALTER TABLE trades_new RENAME TO trades;
CREATE INDEX idx_trades_timestamp   ON trades (timestamp);
CREATE INDEX idx_trades_signal_type ON trades (signal_type);
CREATE INDEX idx_trades_is_win      ON trades (is_win);
CREATE INDEX idx_trades_pending     ON trades (market_end) WHERE settlement_status = 'pending';
CREATE INDEX idx_trades_settled_at  ON trades (settled_at) WHERE settlement_status = 'settled';

-- The trade alert of 0001, unchanged (it went with the old table). `position_size` and
-- `executed_price` now reach the payload as JSON numbers.
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

CREATE TABLE daily_rollup_new (
    day          TEXT    NOT NULL,
    signal_type  TEXT    NOT NULL DEFAULT '',
    action       TEXT    NOT NULL,
    is_end_phase INTEGER NOT NULL DEFAULT 0,
    n            INTEGER NOT NULL DEFAULT 0,
    wins         INTEGER NOT NULL DEFAULT 0,
    losses       INTEGER NOT NULL DEFAULT 0,
    missed       INTEGER NOT NULL DEFAULT 0,
    profit_loss  REAL    NOT NULL DEFAULT 0,   -- USDC, 6 decimals
    fees         REAL    NOT NULL DEFAULT 0,
    staked       REAL    NOT NULL DEFAULT 0,
    PRIMARY KEY (day, signal_type, action, is_end_phase)
) WITHOUT ROWID;
INSERT INTO daily_rollup_new
SELECT day, signal_type, action, is_end_phase, n, wins, losses, missed,
       round(CAST(profit_loss AS REAL), 6), round(CAST(fees AS REAL), 6),
       round(CAST(staked AS REAL), 6)
FROM daily_rollup;
DROP TABLE daily_rollup;
ALTER TABLE daily_rollup_new RENAME TO daily_rollup;

CREATE TABLE markets_new (
    slug              TEXT PRIMARY KEY,
    market_id         TEXT,
    window_start      TEXT,
    window_end        TEXT,
    closed            INTEGER NOT NULL DEFAULT 0,
    resolution_status TEXT,
    outcome           TEXT CHECK (outcome IN ('UP', 'DOWN')),
    fee_rate          REAL,                  -- feeSchedule.rate, 6 decimals
    fee_exponent      INTEGER,
    fees_enabled      INTEGER,
    fetched_at        TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO markets_new
SELECT slug, market_id, window_start, window_end, closed, resolution_status, outcome,
       round(CAST(fee_rate AS REAL), 6), CAST(fee_exponent AS INTEGER), fees_enabled, fetched_at
FROM markets;
DROP TABLE markets;
ALTER TABLE markets_new RENAME TO markets;

CREATE TABLE prices_new (
    symbol       TEXT    NOT NULL,
    open_time_ms INTEGER NOT NULL,
    open         REAL    NOT NULL,           -- USD, 8 decimals
    high         REAL    NOT NULL,
    low          REAL    NOT NULL,
    close        REAL    NOT NULL,
    source       TEXT    NOT NULL DEFAULT 'binance',
    fetched_at   TEXT    NOT NULL,
    PRIMARY KEY (symbol, open_time_ms)
) WITHOUT ROWID;
INSERT INTO prices_new
SELECT symbol, open_time_ms, round(CAST(open AS REAL), 8), round(CAST(high AS REAL), 8),
       round(CAST(low AS REAL), 8), round(CAST(close AS REAL), 8), source, fetched_at
FROM prices;
DROP TABLE prices;
ALTER TABLE prices_new RENAME TO prices;

CREATE TABLE settlement_disagreements_new (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    market_slug      TEXT NOT NULL UNIQUE,
    official_outcome TEXT NOT NULL,
    price_outcome    TEXT NOT NULL,
    end_price        REAL,                   -- USD, 8 decimals
    start_price      REAL,
    trades_corrected INTEGER NOT NULL DEFAULT 0,
    detected_at      TEXT NOT NULL
);
INSERT INTO settlement_disagreements_new
SELECT id, market_slug, official_outcome, price_outcome, round(CAST(end_price AS REAL), 8),
       round(CAST(start_price AS REAL), 8), trades_corrected, detected_at
FROM settlement_disagreements ORDER BY id;
DROP TABLE settlement_disagreements;
ALTER TABLE settlement_disagreements_new RENAME TO settlement_disagreements;

-- Give the rebuilt tables their counters back (never below what they were).
DELETE FROM sqlite_sequence WHERE name IN (SELECT name FROM temp.migration_0002_sequence);
INSERT INTO sqlite_sequence (name, seq)
SELECT s.name, max(s.seq, coalesce((SELECT max(id) FROM trades WHERE s.name = 'trades'),
                                   (SELECT max(id) FROM settlement_disagreements
                                     WHERE s.name = 'settlement_disagreements'), 0))
FROM temp.migration_0002_sequence s;
DROP TABLE temp.migration_0002_sequence;
