#!/usr/bin/env bash
# Opens `polyperf report --html` in headless Chromium and checks that the chart rendered: the
# screenshot must contain the equity curve's colour (#1f77b4) and the DOM its <polyline>.
# Skips (exit 0) when chromium or sqlite3 is not installed; CI runs it when they are.
# Usage: tests/html_screenshot.sh [path/to/polyperf]   (default: target/debug/polyperf, built)
set -euo pipefail
cd "$(dirname "$0")/.."

browser=""
for b in chromium chromium-browser google-chrome; do
    if command -v "$b" >/dev/null 2>&1; then browser="$b"; break; fi
done
if [ -z "$browser" ]; then echo "html_screenshot: skipped (chromium not installed)"; exit 0; fi
if ! command -v sqlite3 >/dev/null 2>&1 || ! command -v python3 >/dev/null 2>&1; then
    echo "html_screenshot: skipped (sqlite3 or python3 not installed)"; exit 0
fi

bin="${1:-target/debug/polyperf}"
if [ ! -x "$bin" ]; then cargo build --quiet --bin polyperf; fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
db="$tmp/performance.db"
"$bin" --db "$db" init >/dev/null

# 60 settled decisions, one an hour: the seed's pattern (i % 3 != 0 wins +4.0, else −5.0).
sqlite3 "$db" "
WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n < 59)
INSERT INTO trades (decision_id, timestamp, market_slug, action, confidence, position_size,
    btc_price, signal_type, executed_price, settlement_status, is_win, profit_loss, fee)
SELECT 'shot-' || n, datetime('2026-02-08 00:00:00', '+' || n || ' hours'),
    'btc-updown-15m-1770805800', CASE n % 2 WHEN 0 THEN 'YES' ELSE 'NO' END, 0.8, '5.00',
    '66940.0', CASE n % 3 WHEN 0 THEN 'BULLISH' WHEN 1 THEN 'BEARISH' ELSE 'NEUTRAL' END,
    '0.52', 'settled', n % 3 != 0, CASE WHEN n % 3 != 0 THEN '4.0' ELSE '-5.0' END, '0.10'
FROM i;
INSERT INTO reflections (timestamp, trigger_type, insights)
VALUES ('2026-02-10 12:00:00', 'end_of_day', '{\"summary\": \"screenshot check\"}');"

"$bin" --db "$db" report --now 2026-02-11T00:00:00Z --html "$tmp/report.html" >/dev/null

flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --user-data-dir="$tmp/profile" --hide-scrollbars
       --window-size=1000,1600)
"$browser" "${flags[@]}" --dump-dom "file://$tmp/report.html" >"$tmp/dom.html" 2>/dev/null
grep -q '<polyline id="equity"' "$tmp/dom.html" || { echo "html_screenshot: no equity curve in the DOM"; exit 1; }
grep -q 'screenshot check' "$tmp/dom.html" || { echo "html_screenshot: insights missing"; exit 1; }
"$browser" "${flags[@]}" --screenshot="$tmp/shot.png" "file://$tmp/report.html" >/dev/null 2>&1
[ -s "$tmp/shot.png" ] || { echo "html_screenshot: no screenshot written"; exit 1; }

# Count pixels of the curve's colour (a tolerance for anti-aliasing) with a small PNG decoder.
python3 - "$tmp/shot.png" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat = 8, b""
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    if kind == b"IHDR":
        width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
    elif kind == b"IDAT":
        idat += body
    pos += 12 + length
assert depth == 8 and ctype in (2, 6), f"unexpected PNG format {depth}/{ctype}"
bpp = 3 if ctype == 2 else 4
raw, stride = zlib.decompress(idat), width * bpp
prev, rows, i = bytearray(stride), [], 0
for _ in range(height):
    f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride]); i += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b, c = prev[x], prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(line); prev = line
target = (0x1F, 0x77, 0xB4)
hits = sum(1 for line in rows for x in range(0, stride, bpp)
           if all(abs(line[x + k] - target[k]) <= 12 for k in range(3)))
print(f"html_screenshot: {width}x{height} screenshot, {hits} equity-curve pixels")
sys.exit(0 if hits >= 200 else 1)
PY
