#!/usr/bin/env bash
# Opens `polyperf report --html` in headless Chromium and checks that the charts render and fit:
# - desktop (1000 px wide): the DOM holds the equity chart as inline SVG with its curve, the
#   reflection is there, and the screenshot shows the curve's colour (#1f77b4);
# - phone (390x844 CSS px at device scale 2, as an iPhone 12-15): a copy of the page with a small
#   probe script added is shown in a 390 px wide frame (headless Chromium lays a window out at
#   least 500 px wide; a frame is exactly as wide as it is told). The probe measures the layout
#   (the page must not scroll sideways, each chart must end inside the screen and fill its
#   width), the charts' text (every label at least 11 CSS px once the SVG is scaled to the
#   screen: a chart drawn 900 px wide shows 13-px labels at 5 px) and the tables (the P&L column
#   in view without scrolling sideways), scrolls to the equity chart and paints a stripe at the
#   top: green when all hold, else a colour naming the first that failed; the screenshot must
#   be 780 px wide, the stripe green, and the equity curve drawn up to near the right edge but
#   not cut by it.
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
       --disable-component-update --disable-sync --user-data-dir="$tmp/profile" --hide-scrollbars)
desktop=(--window-size=1000,1600)
"$browser" "${flags[@]}" "${desktop[@]}" --dump-dom "file://$tmp/report.html" >"$tmp/dom.html" 2>/dev/null
grep -q '<div class="chart" id="chart-equity"><svg' "$tmp/dom.html" \
    || { echo "html_screenshot: no equity chart in the DOM"; exit 1; }
grep -qi 'stroke="#1f77b4"' "$tmp/dom.html" || { echo "html_screenshot: no equity curve in the DOM"; exit 1; }
grep -q 'screenshot check' "$tmp/dom.html" || { echo "html_screenshot: insights missing"; exit 1; }
"$browser" "${flags[@]}" "${desktop[@]}" --screenshot="$tmp/shot.png" "file://$tmp/report.html" >/dev/null 2>&1
[ -s "$tmp/shot.png" ] || { echo "html_screenshot: no screenshot written"; exit 1; }

# The phone: the same page with a probe appended (the report itself carries no script).
python3 - "$tmp/report.html" "$tmp/probed.html" "$tmp/phone.html" <<'PY'
import sys
page = open(sys.argv[1], encoding="utf-8").read()
probe = """<script>
(function () {
  var w = window.innerWidth, ok = w <= 420 && document.documentElement.scrollWidth <= w;
  var charts = document.querySelectorAll(".chart svg");
  ok = ok && charts.length >= 4;
  var smallest = 1000, pnl = 0, pnlInView = true;
  charts.forEach(function (svg) {
    var r = svg.getBoundingClientRect();
    ok = ok && r.left >= 0 && r.right <= w && r.width >= w - 40;
    // Text as shown: its size in the SVG's own units times the SVG's scale on the screen.
    var scale = r.width / svg.viewBox.baseVal.width;
    svg.querySelectorAll("text").forEach(function (t) {
      var size = parseFloat(t.getAttribute("font-size") || getComputedStyle(t).fontSize);
      smallest = Math.min(smallest, size * scale);
    });
  });
  // Every table with a P&L column shows it without scrolling sideways.
  document.querySelectorAll("table th").forEach(function (th) {
    if (th.textContent !== "P&L") return;
    pnl += 1;
    var r = th.getBoundingClientRect();
    pnlInView = pnlInView && r.left >= 0 && r.right <= w;
  });
  document.getElementById("chart-equity").scrollIntoView();
  var colour = !ok ? "#ff0000" : smallest < 11 ? "#ff00ff"
    : (pnl < 3 || !pnlInView) ? "#ff8000" : "#00ff00";
  var s = document.createElement("div");
  s.style.cssText = "position:fixed;top:0;left:0;width:100%;height:10px;background:" + colour;
  document.body.appendChild(s);
})();
</script></body>"""
assert "</body>" in page, "no </body> in the report"
open(sys.argv[2], "w", encoding="utf-8").write(page.replace("</body>", probe))
open(sys.argv[3], "w", encoding="utf-8").write(
    '<!doctype html><html><body style="margin:0"><iframe src="probed.html" '
    'style="display:block;border:0;width:390px;height:844px"></iframe></body></html>')
PY
"$browser" "${flags[@]}" --window-size=390,844 --force-device-scale-factor=2 \
    --screenshot="$tmp/phone.png" "file://$tmp/phone.html" >/dev/null 2>&1
[ -s "$tmp/phone.png" ] || { echo "html_screenshot: no phone screenshot written"; exit 1; }

# Pixel checks with a small PNG decoder.
python3 - "$tmp/shot.png" "$tmp/phone.png" <<'PY'
import struct, sys, zlib

def decode(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG"
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
    return width, height, bpp, rows

def near(line, x, bpp, colour, tolerance=12):
    return all(abs(line[x * bpp + k] - colour[k]) <= tolerance for k in range(3))

curve = (0x1F, 0x77, 0xB4)
width, height, bpp, rows = decode(sys.argv[1])
hits = sum(1 for line in rows for x in range(width) if near(line, x, bpp, curve))
print(f"html_screenshot: desktop {width}x{height}, {hits} equity-curve pixels")
if hits < 200:
    sys.exit("html_screenshot: the desktop screenshot shows no equity curve")

width, height, bpp, rows = decode(sys.argv[2])
if width != 780:
    sys.exit(f"html_screenshot: the phone screenshot is {width} px wide, not 390 x 2")
stripe = rows[4]
failures = {(255, 0, 0): "the page scrolls sideways or a chart does not fit",
            (255, 0, 255): "a chart's text is under 11 CSS px at 390 px wide",
            (255, 128, 0): "a table's P&L column is off-screen (or fewer than 3 tables have one)"}
for colour, why in failures.items():
    if near(stripe, width // 2, bpp, colour):
        sys.exit(f"html_screenshot: on a phone {why}")
if not all(near(stripe, x, bpp, (0, 255, 0)) for x in (2, width // 2, width - 3)):
    sys.exit("html_screenshot: on a phone the probe's stripe is not green")
print("html_screenshot: phone: chart text at least 11 CSS px, P&L columns in view")
xs = [x for line in rows[12:] for x in range(width) if near(line, x, bpp, curve)]
right = max(xs, default=-1)
print(f"html_screenshot: phone {width}x{height}, {len(xs)} equity-curve pixels, "
      f"the curve ends at x={right}")
if len(xs) < 100:
    sys.exit("html_screenshot: the phone screenshot shows no equity curve")
if not 0.75 * width <= right <= width - 6:
    sys.exit(f"html_screenshot: the equity curve ends at x={right} of {width}: cut off or not scaled")
PY
