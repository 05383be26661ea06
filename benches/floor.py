"""The floor of issue 20: a plain Python loader doing polyperf's bulk work on the seed's schema.

python3 floor.py log DB JSONL        -- executemany into the seed's trades table, one transaction
python3 floor.py settle DB           -- outcome columns filled in SQL (not timed by the bench)
python3 floor.py archive DB FILE     -- SELECT -> JSON lines -> gzip -> fsync -> DELETE
python3 floor.py restore DB FILE     -- gunzip -> JSON -> executemany into the same table

Same durability as polyperf: WAL, synchronous=FULL, one transaction per step.
"""
import gzip
import json
import os
import sqlite3
import sys

SCHEMA = """
CREATE TABLE IF NOT EXISTS trades (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp TEXT NOT NULL,
    market_slug TEXT NOT NULL,
    market_id INTEGER,
    action TEXT NOT NULL,
    confidence REAL NOT NULL,
    position_size REAL NOT NULL,
    reasoning TEXT,
    btc_price REAL NOT NULL,
    price_to_beat REAL,
    time_remaining_seconds INTEGER,
    is_end_phase INTEGER,
    social_score REAL,
    market_score REAL,
    final_score REAL,
    final_confidence REAL,
    signal_type TEXT,
    rsi REAL,
    macd REAL,
    trend TEXT,
    yes_price REAL,
    no_price REAL,
    executed_price REAL,
    actual_outcome TEXT,
    profit_loss REAL,
    is_win INTEGER,
    is_missed_opportunity INTEGER
);
CREATE INDEX IF NOT EXISTS idx_trades_timestamp ON trades (timestamp);
CREATE INDEX IF NOT EXISTS idx_trades_signal_type ON trades (signal_type);
CREATE INDEX IF NOT EXISTS idx_trades_is_win ON trades (is_win);
"""

COLUMNS = [
    "timestamp", "market_slug", "market_id", "action", "confidence", "position_size",
    "reasoning", "btc_price", "price_to_beat", "time_remaining_seconds", "is_end_phase",
    "social_score", "market_score", "final_score", "final_confidence", "signal_type", "rsi",
    "macd", "trend", "yes_price", "no_price", "executed_price", "actual_outcome",
    "profit_loss", "is_win", "is_missed_opportunity",
]
INSERT = "INSERT INTO trades (%s) VALUES (%s)" % (
    ", ".join(COLUMNS), ", ".join("?" * len(COLUMNS)))


def connect(path):
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.executescript(SCHEMA)
    return conn


def log(conn, jsonl):
    with open(jsonl, "rb") as f:
        rows = [tuple(d.get(c) for c in COLUMNS) for d in map(json.loads, f)]
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(INSERT, rows)
    conn.execute("COMMIT")
    return len(rows)


def settle(conn):
    conn.execute("""UPDATE trades SET
        actual_outcome = CASE WHEN id % 2 = 0 THEN 'UP' ELSE 'DOWN' END,
        is_win = CASE WHEN action = 'HOLD' THEN NULL ELSE (id % 3 != 0) END,
        is_missed_opportunity = CASE WHEN action = 'HOLD' THEN id % 2 END,
        profit_loss = CASE WHEN action = 'HOLD' THEN 0 WHEN id % 3 != 0 THEN 4.3
                           ELSE -position_size END""")
    return conn.execute("SELECT count(*) FROM trades").fetchone()[0]


def archive(conn, path):
    conn.row_factory = sqlite3.Row
    conn.execute("BEGIN IMMEDIATE")
    n = 0
    with open(path, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) as gz:
            for row in conn.execute("SELECT * FROM trades ORDER BY id"):
                gz.write(json.dumps(dict(row)).encode() + b"\n")
                n += 1
        raw.flush()
        os.fsync(raw.fileno())
    conn.execute("DELETE FROM trades")
    conn.execute("COMMIT")
    return n


def restore(conn, path):
    cols = ["id"] + COLUMNS
    sql = "INSERT INTO trades (%s) VALUES (%s)" % (", ".join(cols), ", ".join("?" * len(cols)))
    with gzip.open(path, "rb") as f:
        rows = [tuple(d.get(c) for c in cols) for d in map(json.loads, f)]
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(sql, rows)
    conn.execute("COMMIT")
    return len(rows)


def main():
    step, db = sys.argv[1], sys.argv[2]
    conn = connect(db)
    if step == "log":
        n = log(conn, sys.argv[3])
    elif step == "settle":
        n = settle(conn)
    elif step == "archive":
        n = archive(conn, sys.argv[3])
    elif step == "restore":
        n = restore(conn, sys.argv[3])
    else:
        sys.exit("unknown step " + step)
    conn.close()
    print(n)


if __name__ == "__main__":
    main()
