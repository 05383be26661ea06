//! `polyperf report` for people (issue 17): P&L per day / week / month that adds up with
//! archived days, real PNG and SVG charts, the HTML page on a phone, the reflection in words,
//! and "n/a" (never 0.00) for figures the archived rows no longer allow.

use chrono::Duration;
use polyperf::metrics::{self, By, Window};
use rust_decimal::Decimal;

use crate::common::{ok_json, succeeds, TestDb};
use crate::metrics::{d, load, simulate_archival, t, Row};

/// A day's expected (name, trades, wins, profit).
type Day = (String, u64, u64, Decimal);

/// Ten days of trades, 2026-01-01 .. 2026-01-10: day k has k + 1 trades, an hour apart; trade j
/// of day k wins +4.0 when (j + k) % 3 != 0, else loses −5.0. Returns the rows and each day's
/// (name, trades, wins, profit).
fn ten_days() -> (Vec<Row>, Vec<Day>) {
    let mut rows = Vec::new();
    let mut days = Vec::new();
    for k in 0..10i64 {
        let day = t("2026-01-01T00:00:00Z") + Duration::days(k);
        let (mut wins, mut profit) = (0, Decimal::ZERO);
        for j in 0..=k {
            let win = (j + k) % 3 != 0;
            rows.push(Row::trade(day + Duration::hours(j), win));
            wins += win as u64;
            profit += if win { d("4.0") } else { d("-5.0") };
        }
        days.push((
            day.format("%Y-%m-%d").to_string(),
            k as u64 + 1,
            wins,
            profit,
        ));
    }
    (rows, days)
}

fn profit(v: &serde_json::Value) -> Decimal {
    d(v.as_str()
        .unwrap_or_else(|| panic!("money as a string: {v}")))
}

#[test]
fn by_day_week_and_month_add_up_including_archived_days() {
    let db = TestDb::new();
    let (rows, days) = ten_days();
    load(&db, &rows);
    // Jan 1..5 leave `trades` for daily_rollup.
    simulate_archival(&mut db.conn(), "2026-01-06 00:00:00");
    assert!(db.count("SELECT count(*) FROM daily_rollup") > 0);
    let now = "2026-01-11T00:00:00Z";

    let v = ok_json(
        db.cmd("polyperf")
            .args(["report", "--json", "--by", "day", "--now", now]),
    );
    let periods = v["periods"].as_array().expect("periods");
    assert_eq!(periods.len(), 10, "{v}");
    // Newest first, each day exactly as built, archived or not.
    for (p, (name, trades, wins, pl)) in periods.iter().zip(days.iter().rev()) {
        assert_eq!(p["period"], name.as_str());
        assert_eq!(p["trades"], *trades, "{p}");
        assert_eq!(p["wins"], *wins, "{p}");
        assert_eq!(p["losses"], trades - wins, "{p}");
        assert_eq!(profit(&p["profit"]), *pl, "{p}");
        for key in ["win_rate", "fees", "roi"] {
            assert!(p.get(key).is_some(), "{key} missing in {p}");
        }
    }
    let total: Decimal = periods.iter().map(|p| profit(&p["profit"])).sum();
    assert_eq!(total, profit(&v["total_profit"]));
    assert_eq!(total, days.iter().map(|d| d.3).sum::<Decimal>());

    // 2026-01-01 is a Thursday: ISO week 1 runs to Sunday the 4th.
    let v = ok_json(
        db.cmd("polyperf")
            .args(["report", "--json", "--by", "week", "--now", now]),
    );
    let names: Vec<&str> = v["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["period"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["2026-W02", "2026-W01"]);
    let week1: Decimal = days[..4].iter().map(|d| d.3).sum();
    assert_eq!(profit(&v["periods"][1]["profit"]), week1);
    let v = ok_json(
        db.cmd("polyperf")
            .args(["report", "--json", "--by", "month", "--now", now]),
    );
    assert_eq!(v["periods"][0]["period"], "2026-01");
    assert_eq!(
        profit(&v["periods"][0]["profit"]),
        profit(&v["total_profit"])
    );

    // The terminal table: newest day first, money with 2 decimals.
    let out = succeeds(
        db.cmd("polyperf")
            .args(["report", "--by", "day", "--now", now]),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let text = &text[text.find("period (UTC)").expect("the periods table")..];
    let first = text.find("2026-01-10").expect("day 10 listed");
    let last = text.find("2026-01-01").expect("day 1 listed");
    assert!(first < last, "{text}");
    assert!(text.contains("P&L USDC"), "{text}");

    // The library call Telegram uses: the last n periods, empty ones included.
    let conn = db.conn();
    let list = metrics::periods(&conn, By::Day, 14, t(now)).unwrap();
    assert_eq!(list.len(), 14);
    assert_eq!(list[0].period, "2026-01-11");
    assert_eq!((list[0].trades, list[0].profit), (0, Decimal::ZERO));
    assert_eq!(list[1].period, "2026-01-10");
    assert_eq!(list[10].period, "2026-01-01");
    let sum: Decimal = list.iter().map(|p| p.profit).sum();
    assert_eq!(sum, days.iter().map(|d| d.3).sum::<Decimal>());
    assert!(metrics::periods(&conn, By::Week, 0, t(now)).is_err());
}

#[test]
fn archived_rows_make_per_row_figures_n_a_not_zero() {
    let db = TestDb::new();
    let (rows, _) = ten_days();
    load(&db, &rows);
    simulate_archival(&mut db.conn(), "2026-01-06 00:00:00");
    let now = "2026-01-11T00:00:00Z";
    let v = ok_json(db.cmd("polyperf").args(["report", "--json", "--now", now]));
    for key in [
        "max_drawdown",
        "longest_losing_streak",
        "current_losing_streak",
        "brier",
        "calibration",
        "profit_factor",
        "gross_profit",
        "fees_by_asset",
    ] {
        assert!(v[key].is_null(), "{key} should be null: {}", v[key]);
    }
    assert_eq!(v["coverage"]["per_row_complete"], false);
    assert_eq!(v["coverage"]["live_rows"][0], "2026-01-06 00:00:00");
    let out = succeeds(db.cmd("polyperf").args(["report", "--now", now]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("max drawdown   n/a"), "{text}");
    assert!(text.contains("--since 2026-01-06"), "{text}");
    assert!(!text.contains("max drawdown   0.00"), "{text}");

    // The live days alone have every row: the figures are back.
    let m = metrics::compute(
        &db.conn(),
        &Window::Since(t("2026-01-06T00:00:00Z")),
        t(now),
    )
    .unwrap();
    assert!(m.max_drawdown.is_some() && m.brier.is_some());
    assert!(m.coverage.per_row_complete);
}

/// Decodes a PNG file: (width, height, RGB pixels).
fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    let decoder = png::Decoder::new(bytes);
    let mut reader = decoder.read_info().expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG data");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// Pixels within a small tolerance of a colour.
fn pixels_of(rgb: &[u8], color: (u8, u8, u8)) -> usize {
    rgb.chunks_exact(3)
        .filter(|p| {
            p[0].abs_diff(color.0) <= 12
                && p[1].abs_diff(color.1) <= 12
                && p[2].abs_diff(color.2) <= 12
        })
        .count()
}

#[test]
fn chart_png_and_svg_are_real_charts() {
    let db = TestDb::new();
    let (rows, _) = ten_days();
    load(&db, &rows);
    let now = "2026-01-11T00:00:00Z";
    let png_path = db.dir.path().join("chart.png");
    let svg_path = db.dir.path().join("chart.SVG");
    succeeds(
        db.cmd("polyperf")
            .args(["report", "--now", now, "--chart"])
            .arg(&png_path),
    );
    let bytes = std::fs::read(&png_path).unwrap();
    assert!(bytes.len() > 20_000, "a real chart, {} bytes", bytes.len());
    let (w, h, rgb) = decode_png(&bytes);
    assert_eq!(w, polyperf::report::chart::WIDTH);
    assert!((1_000..4_000).contains(&h), "height {h}");
    // The equity curve and both bar colours are drawn; most of the image is white.
    let c = polyperf::report::chart::EQUITY_COLOR;
    assert!(pixels_of(&rgb, (c.0, c.1, c.2)) > 500);
    let green = polyperf::report::chart::ABOVE_COLOR;
    assert!(pixels_of(&rgb, (green.0, green.1, green.2)) > 1_000);
    assert!(pixels_of(&rgb, (255, 255, 255)) > (w * h / 2) as usize);

    succeeds(
        db.cmd("polyperf")
            .args(["report", "--now", now, "--chart"])
            .arg(&svg_path),
    );
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("viewBox="),
        "{}",
        &svg[..100]
    );
    assert!(
        svg.contains("stroke=\"#1F77B4\""),
        "equity curve in the SVG"
    );
    assert!(svg.contains("2026-01-0"), "a date axis, not a trade index");
    assert!(svg.contains("Calibration") && svg.contains("break-even"));

    // The equity chart alone (Telegram's /report photo).
    let m = metrics::compute(&db.conn(), &Window::All, t(now)).unwrap();
    let (w, h, _) = decode_png(&polyperf::report::chart::equity_png(&m).unwrap());
    assert_eq!((w, h), (900, 450));
    // An empty window still gives a valid image.
    let empty = metrics::compute(&TestDb::new().conn(), &Window::All, t(now)).unwrap();
    decode_png(&polyperf::report::chart::png(&empty).unwrap());

    // Any other extension is refused before anything is written.
    let bad = db.dir.path().join("chart.jpg");
    let html = db.dir.path().join("page.html");
    let out = db
        .cmd("polyperf")
        .args(["report", "--now", now, "--chart"])
        .arg(&bad)
        .arg("--html")
        .arg(&html)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(".png or .svg"));
    assert!(!bad.exists() && !html.exists());
}

#[test]
fn html_reads_on_a_phone_and_the_reflection_in_words() {
    let db = TestDb::new();
    let (rows, _) = ten_days();
    load(&db, &rows);
    let insights = serde_json::json!({
        "insights": ["Bullish signals win 58% <above> break-even"],
        "patterns": {"winning": ["morning trades"], "losing": ["late entries"]},
        "recommendations": [{"parameter": "bot_confidence_threshold", "current": "0.60",
            "recommended": "0.65", "reason": "fewer but better trades", "tier": 1,
            "expected_impact": "+2% win rate"}]
    });
    let conn = db.conn();
    conn.execute(
        "INSERT INTO reflections (timestamp, trigger_type, insights, status) VALUES ('2026-01-10 12:00:00', 'end_of_day', ?1, 'ok')",
        [insights.to_string()],
    )
    .unwrap();
    let html = db.dir.path().join("report.html");
    succeeds(
        db.cmd("polyperf")
            .args([
                "report",
                "--by",
                "week",
                "--now",
                "2026-01-11T00:00:00Z",
                "--html",
            ])
            .arg(&html),
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
    );
    assert!(page.contains(".chart svg{display:block;width:100%;max-width:480px;height:auto}"));
    // The charts are drawn for a phone: 400 px wide, so that at 390 CSS px (366 inside the
    // page's padding) every label is still at least 11 px (a chart drawn 900 px wide showed
    // its 13-px labels at 5 px).
    let svgs: Vec<&str> = page.split("<svg ").skip(1).collect();
    assert!(svgs.len() >= 5);
    for svg in &svgs {
        assert!(svg.starts_with("width=\"400\""), "{}", &svg[..60]);
        let smallest = svg
            .split("font-size=\"")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap().parse::<f64>().unwrap())
            .fold(f64::INFINITY, f64::min);
        assert!(smallest * 366.0 / 400.0 >= 11.0, "{smallest}");
    }
    // P&L is the first column after the name, in every table that has one.
    for id in ["periods", "by-signal", "by-action"] {
        let table = &page[page.find(&format!("<table id=\"{id}\">")).unwrap()..];
        let header = &table[..table.find("</tr>").unwrap()];
        let cells: Vec<&str> = header.split("<th>").skip(1).collect();
        assert_eq!(cells[1], "P&amp;L</th>", "{id}: {header}");
    }
    // Every table scrolls in its own box.
    assert_eq!(
        page.matches("<table").count(),
        page.matches("<div class=\"scroll\"><table").count()
    );
    assert!(
        page.matches("<svg").count() >= 5,
        "one inline SVG per chart"
    );
    assert!(page.contains("id=\"periods\"") && page.contains("2026-W02"));
    assert!(!page.contains("<script") && !page.contains("src=\"http"));
    // The reflection reads as text: bullets and sentences, no JSON.
    let insights = &page[page.find("id=\"insights\"").unwrap()..];
    assert!(insights.contains("<li>Bullish signals win 58% &lt;above&gt; break-even</li>"));
    assert!(insights.contains("<li>late entries</li>"));
    assert!(insights.contains(
        "Raise bot_confidence_threshold from 0.60 to 0.65: fewer but better trades. Expected: +2% win rate. Suggested tier 1."
    ));
    assert!(!insights.contains("{\"") && !insights.contains("\"parameter\""));
}

/// "How did today go?" without an SQL file: `polyperf status` has the current UTC day's P&L,
/// as `--json` (`today`, a period) and as a line for people.
#[test]
fn status_says_how_today_went() {
    let db = TestDb::new();
    let (rows, days) = ten_days();
    load(&db, &rows);
    let now = "2026-01-10T23:00:00Z";
    let (name, trades, wins, pl) = days.last().unwrap().clone();
    assert_eq!(name, "2026-01-10");

    let v = ok_json(db.cmd("polyperf").args(["status", "--json", "--now", now]));
    let today = &v["today"];
    assert_eq!(today["period"], name.as_str(), "{v}");
    assert_eq!(today["trades"], trades, "{v}");
    assert_eq!(today["wins"], wins, "{v}");
    assert_eq!(profit(&today["profit"]), pl, "{v}");

    let text = succeeds(db.cmd("polyperf").args(["status", "--now", now]));
    let text = String::from_utf8_lossy(&text.stdout);
    let line = format!(
        "  today (UTC)     {}, {trades} trades ({wins} W / {} L), win rate ",
        polyperf::words::usdc(pl),
        trades - wins
    );
    assert!(text.contains(&line), "{line}\n{text}");
    // A day without trades says so with zeros, not n/a money.
    let text = succeeds(
        db.cmd("polyperf")
            .args(["status", "--now", "2026-02-01T00:00:00Z"]),
    );
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("today (UTC)     0.00 USDC, 0 trades (0 W / 0 L), win rate n/a"),
        "{text}"
    );
}
