//! The report's charts, drawn with `plotters` as PNG (bitmap backend, text through `ab_glyph`
//! with the DejaVu Sans font bundled in `assets/fonts/`: no system font or graphics library
//! needed) or SVG: the equity curve over a date axis with its drawdown under it, P&L per
//! period, win rate by signal and by price against the fee-aware break-even with 95% Wilson
//! whiskers, and calibration (claimed confidence against realised win rate). Coordinates are
//! f64 for drawing only; every figure comes exact from [`crate::metrics`].
//!
//! Two layouts ([`Layout`]): [`Layout::WIDE`] for files and Telegram (900 px), and
//! [`Layout::PHONE`] for the HTML page, drawn for a phone's width (400 px, larger text, fewer
//! axis labels, win rates as rows with their names above the bars) so that its text stays
//! readable when the SVG is scaled to a 390-pixel screen.

use anyhow::Result;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use rust_decimal::prelude::ToPrimitive;

pub use super::pen::{bar_color, ABOVE_COLOR, BELOW_COLOR, EQUITY_COLOR};
use super::pen::{drawing, empty, font_ready, text, Area, GRID_COLOR};
use crate::metrics::{periods, By, Group, Metrics, Period};

/// Width of the wide charts, in pixels (files and Telegram's picture).
pub const WIDTH: u32 = 900;
/// Width of the charts drawn for a phone (the HTML page): about a phone's CSS width, so the
/// SVG is shown near its own size and its text near the size it was drawn at.
pub const PHONE_WIDTH: u32 = 400;

/// How a chart is drawn: for a wide file or picture, or for a phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub width: u32,
    /// Drawn for a narrow screen: larger text, fewer axis labels, short titles, win rates as
    /// rows.
    pub narrow: bool,
}

impl Layout {
    pub const WIDE: Layout = Layout {
        width: WIDTH,
        narrow: false,
    };
    pub const PHONE: Layout = Layout {
        width: PHONE_WIDTH,
        narrow: true,
    };

    /// The size a label of `wide` pixels is drawn at in this layout.
    fn label(self, wide: u32) -> u32 {
        if self.narrow {
            16
        } else {
            wide
        }
    }

    /// Room on the right for the last axis label, centred on the plot's edge.
    fn right_margin(self) -> u32 {
        if self.narrow {
            28
        } else {
            10
        }
    }

    /// The most intervals between date ticks (labels need room).
    fn date_intervals(self) -> f64 {
        if self.narrow {
            3.0
        } else {
            6.0
        }
    }
}
const EQUITY_HEIGHT: u32 = 300;
const DRAWDOWN_HEIGHT: u32 = 150;
const BARS_HEIGHT: u32 = 300;
const CALIBRATION_HEIGHT: u32 = 380;
const PHONE_EQUITY_HEIGHT: u32 = 260;
/// A win-rate row on a phone: its name above, its bar below.
const ROW_HEIGHT: u32 = 58;
/// The title and the axis around the rows.
const ROWS_CHROME: u32 = 80;
/// Bars at most in the P&L-per-period chart (the newest ones).
pub const MAX_PERIOD_BARS: usize = 120;
/// Points at most drawn of the equity curve (each chunk keeps its low and its high).
const MAX_POINTS: usize = 2_000;

/// One chart of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chart {
    /// The cumulative P&L over a date axis, its drawdown under it.
    Equity,
    /// P&L per period (`report --by`, days by default).
    Periods,
    /// Win rate by signal against the break-even.
    BySignal,
    /// Win rate by price paid against the break-even.
    ByPrice,
    /// Claimed confidence against realised win rate.
    Calibration,
}

impl Chart {
    /// Every chart, in the order the report shows them.
    pub const ALL: [Chart; 5] = [
        Chart::Equity,
        Chart::Periods,
        Chart::BySignal,
        Chart::ByPrice,
        Chart::Calibration,
    ];

    fn height(self, layout: Layout, m: &Metrics) -> u32 {
        let rows = |groups: &std::collections::BTreeMap<String, Group>| {
            let n = groups.values().filter(|g| g.settled > 0).count().max(1) as u32;
            ROWS_CHROME + n.saturating_mul(ROW_HEIGHT)
        };
        match (self, layout.narrow) {
            (Chart::Equity, false) => EQUITY_HEIGHT + DRAWDOWN_HEIGHT,
            (Chart::Equity, true) => PHONE_EQUITY_HEIGHT + DRAWDOWN_HEIGHT,
            (Chart::Calibration, false) => CALIBRATION_HEIGHT,
            (Chart::Calibration, true) => PHONE_WIDTH,
            (Chart::BySignal, true) => rows(&m.by_signal),
            (Chart::ByPrice, true) => rows(&m.by_price),
            _ => BARS_HEIGHT,
        }
    }

    /// A name for HTML ids and file names.
    pub fn id(self) -> &'static str {
        match self {
            Chart::Equity => "equity",
            Chart::Periods => "periods",
            Chart::BySignal => "by-signal",
            Chart::ByPrice => "by-price",
            Chart::Calibration => "calibration",
        }
    }
}

/// Every chart stacked in one PNG image (`report --chart FILE.png`).
pub fn png(m: &Metrics) -> Result<Vec<u8>> {
    render_png(m, &Chart::ALL)
}

/// Every chart stacked in one SVG document (`report --chart FILE.svg`).
pub fn svg(m: &Metrics) -> Result<String> {
    render_svg(m, &Chart::ALL, Layout::WIDE)
}

/// The equity curve and its drawdown alone, as PNG (Telegram's /report photo).
pub fn equity_png(m: &Metrics) -> Result<Vec<u8>> {
    render_png(m, &[Chart::Equity])
}

/// One chart as SVG in `layout` (the HTML page inlines each, drawn for a phone).
pub fn one_svg(m: &Metrics, chart: Chart, layout: Layout) -> Result<String> {
    render_svg(m, &[chart], layout)
}

fn total_height(charts: &[Chart], layout: Layout, m: &Metrics) -> u32 {
    charts.iter().map(|c| c.height(layout, m)).sum()
}

fn render_png(m: &Metrics, charts: &[Chart]) -> Result<Vec<u8>> {
    let layout = Layout::WIDE;
    let (w, h) = (WIDTH, total_height(charts, layout, m));
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw_all(&root, m, charts, layout)?;
        root.present().map_err(drawing)?;
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&rgb)?;
    writer.finish()?;
    Ok(out)
}

fn render_svg(m: &Metrics, charts: &[Chart], layout: Layout) -> Result<String> {
    let mut out = String::new();
    {
        let size = (layout.width, total_height(charts, layout, m));
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        draw_all(&root, m, charts, layout)?;
        root.present().map_err(drawing)?;
    }
    Ok(out)
}

fn draw_all<DB: DrawingBackend>(
    root: &Area<'_, DB>,
    m: &Metrics,
    charts: &[Chart],
    layout: Layout,
) -> Result<()> {
    font_ready()?;
    root.fill(&WHITE).map_err(drawing)?;
    let mut rest = root.clone();
    for chart in charts {
        let (area, below) = rest.split_vertically(chart.height(layout, m));
        let (by_signal, by_price) = ("Win rate by signal", "Win rate by price paid");
        match (chart, layout.narrow) {
            (Chart::Equity, _) => equity(&area, m, layout)?,
            (Chart::Periods, _) => period_bars(&area, &chart_periods(m), m, layout)?,
            (Chart::BySignal, false) => win_rate_bars(&area, by_signal, &m.by_signal)?,
            (Chart::ByPrice, false) => win_rate_bars(&area, by_price, &m.by_price)?,
            (Chart::BySignal, true) => {
                super::chart_rows::win_rate_rows(&area, by_signal, &m.by_signal)?
            }
            (Chart::ByPrice, true) => {
                super::chart_rows::win_rate_rows(&area, by_price, &m.by_price)?
            }
            (Chart::Calibration, _) => calibration(&area, m, layout)?,
        }
        rest = below;
    }
    Ok(())
}

/// The periods the chart shows: the report's `--by` periods, else days; the newest
/// [`MAX_PERIOD_BARS`], oldest first.
fn chart_periods(m: &Metrics) -> Vec<Period> {
    let mut list = m
        .periods
        .clone()
        .unwrap_or_else(|| periods::group(m, By::Day));
    list.truncate(MAX_PERIOD_BARS);
    list.reverse();
    list
}

fn f(d: rust_decimal::Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

/// The curve's points, at most [`MAX_POINTS`]: each chunk keeps its lowest and highest point
/// in time order, so the drawdown drawn is the one computed.
fn thinned(m: &Metrics) -> Vec<(f64, f64)> {
    let all: Vec<(f64, f64)> = m
        .equity
        .iter()
        .map(|p| (p.at as f64, f(p.cumulative)))
        .collect();
    if all.len() <= MAX_POINTS {
        return all;
    }
    let chunk = all.len().div_ceil(MAX_POINTS / 2);
    let mut out = Vec::with_capacity(MAX_POINTS + 2);
    for part in all.chunks(chunk) {
        let lo = part
            .iter()
            .enumerate()
            .min_by(|a, b| a.1 .1.total_cmp(&b.1 .1));
        let hi = part
            .iter()
            .enumerate()
            .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1));
        if let (Some((i, lo)), Some((j, hi))) = (lo, hi) {
            let (first, second) = if i <= j { (lo, hi) } else { (hi, lo) };
            out.push(*first);
            if i != j {
                out.push(*second);
            }
        }
    }
    out
}

const HOUR: f64 = 3_600.0;
const DAY: f64 = 86_400.0;

/// The date axis's ticks (Unix seconds): at most `intervals + 1` over `x0..=x1`, a round step
/// apart (whole hours, whole UTC days, Mondays for weeks), and whether their labels need the
/// hour.
fn date_ticks(x0: f64, x1: f64, intervals: f64) -> (Vec<f64>, bool) {
    const STEPS: [f64; 14] = [
        HOUR,
        2.0 * HOUR,
        3.0 * HOUR,
        6.0 * HOUR,
        12.0 * HOUR,
        DAY,
        2.0 * DAY,
        7.0 * DAY,
        14.0 * DAY,
        28.0 * DAY,
        56.0 * DAY,
        91.0 * DAY,
        182.0 * DAY,
        364.0 * DAY,
    ];
    let span = (x1 - x0).max(1.0);
    let step = STEPS
        .into_iter()
        .find(|step| span / step <= intervals)
        .unwrap_or_else(|| (span / intervals / DAY).ceil() * DAY);
    // 1970-01-05 was a Monday: steps of whole weeks start on Mondays.
    let offset = if step % (7.0 * DAY) == 0.0 {
        4.0 * DAY
    } else {
        0.0
    };
    let first = ((x0 - offset) / step).ceil() * step + offset;
    let ticks = (0..8)
        .map(|i| first + f64::from(i) * step)
        .take_while(|t| *t <= x1)
        .collect();
    (ticks, step < DAY)
}

/// A tick's label: the UTC date, with the hour when ticks fall within a day. Narrow: the hour
/// alone (the date at midnight), and the date without its year.
fn date_label(secs: f64, with_hour: bool, narrow: bool) -> String {
    let Some(t) = chrono::DateTime::from_timestamp(secs as i64, 0) else {
        return String::new();
    };
    let midnight = t.format("%H:%M").to_string() == "00:00";
    let format = match (with_hour, narrow) {
        (true, false) => "%m-%d %H:%M",
        (false, false) => "%Y-%m-%d",
        (true, true) if !midnight => "%H:%M",
        (_, true) => "%m-%d",
    };
    t.format(format).to_string()
}

fn padded(lo: f64, hi: f64) -> (f64, f64) {
    let span = (hi - lo).abs().max(1e-9);
    (lo - span * 0.05, hi + span * 0.05)
}

fn equity<DB: DrawingBackend>(area: &Area<'_, DB>, m: &Metrics, layout: Layout) -> Result<()> {
    let title = match layout.narrow {
        false => format!("Equity: cumulative P&L (USDC), {}", m.window.label),
        true => format!("Equity (USDC), {}", m.window.label),
    };
    let points = thinned(m);
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return empty(area, &title, super::EMPTY_MESSAGE);
    };
    let (x0, x1) = if last.0 > first.0 {
        (first.0, last.0)
    } else {
        (first.0 - 3600.0, first.0 + 3600.0)
    };
    let (ticks, with_hour) = date_ticks(x0, x1, layout.date_intervals());
    let upper_height = match layout.narrow {
        false => EQUITY_HEIGHT,
        true => PHONE_EQUITY_HEIGHT,
    };
    let (upper, lower) = area.split_vertically(upper_height);
    let lo = points.iter().map(|p| p.1).fold(0.0, f64::min);
    let hi = points.iter().map(|p| p.1).fold(0.0, f64::max);
    let (y0, y1) = padded(lo, hi);
    let labels = |x: &f64| date_label(*x, with_hour, layout.narrow);
    let mut chart = ChartBuilder::on(&upper)
        .caption(&title, text(18))
        .margin(10)
        .margin_right(layout.right_margin())
        .x_label_area_size(0)
        .y_label_area_size(70)
        .build_cartesian_2d(DateAxis::new(x0, x1, &ticks), y0..y1)
        .map_err(drawing)?;
    date_mesh(&mut chart, &labels, 6, layout)?;
    chart
        .draw_series(LineSeries::new([(x0, 0.0), (x1, 0.0)], BLACK.mix(0.4)))
        .map_err(drawing)?;
    chart
        .draw_series(LineSeries::new(
            points.iter().copied(),
            EQUITY_COLOR.stroke_width(3),
        ))
        .map_err(drawing)?;

    // The drawdown: how far the curve is below its running peak (the curve starts at 0).
    let mut peak: f64 = 0.0;
    let drawdown: Vec<(f64, f64)> = points
        .iter()
        .map(|&(x, y)| {
            peak = peak.max(y);
            (x, y - peak)
        })
        .collect();
    let deepest = drawdown.iter().map(|p| p.1).fold(0.0, f64::min);
    let caption = match m.max_drawdown {
        Some(d) => format!("Drawdown (USDC), max {:.2}", d.round_dp(2)),
        None => "Drawdown (USDC); days archived before details as daily steps".to_string(),
    };
    let mut chart = ChartBuilder::on(&lower)
        .caption(caption, text(layout.label(14)))
        .margin(10)
        .margin_top(0)
        .margin_right(layout.right_margin())
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(DateAxis::new(x0, x1, &ticks), (deepest * 1.1 - 1e-9)..0.0)
        .map_err(drawing)?;
    date_mesh(&mut chart, &labels, 3, layout)?;
    chart
        .draw_series(AreaSeries::new(drawdown, 0.0, BELOW_COLOR.mix(0.35)))
        .map_err(drawing)?;
    Ok(())
}

/// An x axis over Unix seconds with its ticks where [`date_ticks`] puts them.
struct DateAxis {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl DateAxis {
    fn new(x0: f64, x1: f64, ticks: &[f64]) -> DateAxis {
        DateAxis {
            inner: (x0..x1).into(),
            ticks: ticks.to_vec(),
        }
    }
}

impl Ranged for DateAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

/// The grid and labels of a chart over dates (x) and USDC (y).
fn date_mesh<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<DateAxis, RangedCoordf64>>,
    labels: &dyn Fn(&f64) -> String,
    y_labels: usize,
    layout: Layout,
) -> Result<()> {
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID_COLOR)
        .x_labels(8)
        .y_labels(y_labels)
        .x_label_formatter(labels)
        .y_label_formatter(&|y: &f64| format!("{y:.2}"))
        .label_style(text(layout.label(13)))
        .draw()
        .map_err(drawing)
}

fn win_rate_bars<DB: DrawingBackend>(
    area: &Area<'_, DB>,
    title: &str,
    groups: &std::collections::BTreeMap<String, Group>,
) -> Result<()> {
    let bars: Vec<(&String, &Group)> = groups.iter().filter(|(_, g)| g.settled > 0).collect();
    if bars.is_empty() {
        return empty(area, title, "no settled trades with this breakdown");
    }
    let n = bars.len() as f64;
    let names: Vec<String> = bars
        .iter()
        .map(|(name, g)| format!("{name} ({})", g.settled))
        .collect();
    let label = |x: &f64| {
        let i = x.floor();
        if (x - i - 0.5).abs() < 0.01 && i >= 0.0 {
            names.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("{title}: green above its fee-aware break-even (black tick), red below; whiskers 95% CI"),
            text(14),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(55)
        // Headroom above 100% for the label of a bar whose interval reaches it.
        .build_cartesian_2d(0.0..n, 0.0..1.1)
        .map_err(drawing)?;
    let positions: Vec<f64> = (0..bars.len()).map(|i| i as f64 + 0.5).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID_COLOR)
        .x_labels(bars.len() * 2 + 1)
        .x_label_formatter(&label)
        .y_labels(6)
        .y_label_formatter(&|y: &f64| format!("{:.0}%", y * 100.0))
        .label_style(text(12))
        .draw()
        .map_err(drawing)?;
    for ((_, g), x) in bars.iter().zip(&positions) {
        let rate = g.win_rate.unwrap_or(0.0);
        chart
            .draw_series([Rectangle::new(
                [(x - 0.35, 0.0), (x + 0.35, rate)],
                bar_color(g).filled(),
            )])
            .map_err(drawing)?;
        if let Some([low, high]) = g.win_rate_ci {
            whisker(&mut chart, *x, low, high, 0.08)?;
        }
        if let Some(be) = g.break_even {
            chart
                .draw_series(LineSeries::new(
                    [(x - 0.42, be), (x + 0.42, be)],
                    BLACK.stroke_width(3),
                ))
                .map_err(drawing)?;
        }
        // Above the whisker (or the bar), clear of both.
        let top = g.win_rate_ci.map_or(rate, |[_, high]| high.max(rate));
        chart
            .draw_series([Text::new(
                format!("{:.1}%", rate * 100.0),
                (x - 0.12, top + 0.07),
                text(12),
            )])
            .map_err(drawing)?;
    }
    Ok(())
}

/// A vertical 95% interval with caps at `x`, in data coordinates.
pub(super) fn whisker<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    x: f64,
    low: f64,
    high: f64,
    cap: f64,
) -> Result<()> {
    let style = BLACK.mix(0.8).stroke_width(2);
    for segment in [
        [(x, low), (x, high)],
        [(x - cap, low), (x + cap, low)],
        [(x - cap, high), (x + cap, high)],
    ] {
        chart
            .draw_series(LineSeries::new(segment, style))
            .map_err(drawing)?;
    }
    Ok(())
}

fn period_bars<DB: DrawingBackend>(
    area: &Area<'_, DB>,
    list: &[Period],
    m: &Metrics,
    layout: Layout,
) -> Result<()> {
    let by = match m.periods {
        Some(_) => "period",
        None => "day",
    };
    let title = match layout.narrow {
        false => format!("P&L per {by} (USDC, UTC), oldest left"),
        true => format!("P&L per {by} (USDC, UTC)"),
    };
    if list.is_empty() {
        return empty(area, &title, super::EMPTY_MESSAGE);
    }
    let values: Vec<f64> = list.iter().map(|p| f(p.profit)).collect();
    let lo = values.iter().copied().fold(0.0, f64::min);
    let hi = values.iter().copied().fold(0.0, f64::max);
    let (y0, y1) = padded(lo, hi);
    let n = list.len() as f64;
    let every = match layout.narrow {
        false => (list.len() / 8).max(1),
        true => list.len().div_ceil(3).max(1),
    };
    let label = |x: &f64| {
        let i = x.floor();
        let ok = (x - i - 0.5).abs() < 0.01 && i >= 0.0 && (i as usize).is_multiple_of(every);
        if ok {
            list.get(i as usize)
                .map(|p| p.period.clone())
                .unwrap_or_default()
        } else {
            String::new()
        }
    };
    let mut chart = ChartBuilder::on(area)
        .caption(title, text(layout.label(16)))
        .margin(10)
        .margin_right(layout.right_margin())
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..n, y0..y1)
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID_COLOR)
        .x_labels(list.len() * 2 + 1)
        .x_label_formatter(&label)
        .y_labels(6)
        .y_label_formatter(&|y: &f64| format!("{y:.2}"))
        .label_style(text(layout.label(12)))
        .draw()
        .map_err(drawing)?;
    let bars = values.iter().enumerate().map(|(i, v)| {
        let color = if *v < 0.0 { BELOW_COLOR } else { ABOVE_COLOR };
        let x = i as f64;
        Rectangle::new([(x + 0.1, 0.0), (x + 0.9, *v)], color.filled())
    });
    chart.draw_series(bars).map_err(drawing)?;
    chart
        .draw_series(LineSeries::new([(0.0, 0.0), (n, 0.0)], BLACK.mix(0.5)))
        .map_err(drawing)?;
    Ok(())
}

fn calibration<DB: DrawingBackend>(area: &Area<'_, DB>, m: &Metrics, layout: Layout) -> Result<()> {
    let title = match layout.narrow {
        false => "Calibration: claimed confidence vs realised win rate (diagonal: perfect)",
        true => "Calibration (diagonal: perfect)",
    };
    let Some(buckets) = &m.calibration else {
        return empty(
            area,
            title,
            "n/a: decisions in this window were archived (the rollup keeps no confidence)",
        );
    };
    let points: Vec<_> = buckets.iter().filter(|b| b.trades > 0).collect();
    if points.is_empty() {
        return empty(area, title, super::EMPTY_MESSAGE);
    }
    let x0 = if points.iter().any(|b| b.low < 0.5) {
        0.0
    } else {
        0.5
    };
    let mut chart = ChartBuilder::on(area)
        .caption(title, text(layout.label(15)))
        .margin(10)
        .margin_right(layout.right_margin())
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(x0..1.0, 0.0..1.0)
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID_COLOR)
        .x_labels(6)
        .y_labels(6)
        .x_desc("claimed confidence")
        .y_desc("won")
        .x_label_formatter(&|x: &f64| format!("{:.0}%", x * 100.0))
        .y_label_formatter(&|y: &f64| format!("{:.0}%", y * 100.0))
        .label_style(text(layout.label(12)))
        .axis_desc_style(text(layout.label(13)))
        .draw()
        .map_err(drawing)?;
    chart
        .draw_series(LineSeries::new([(x0, x0), (1.0, 1.0)], BLACK.mix(0.5)))
        .map_err(drawing)?;
    for b in points {
        let (Some(x), Some(y)) = (b.mean_confidence, b.win_rate) else {
            continue;
        };
        if let Some([low, high]) = b.win_rate_ci {
            whisker(&mut chart, x, low, high, 0.01)?;
        }
        chart
            .draw_series([Circle::new((x, y), 6, EQUITY_COLOR.filled())])
            .map_err(drawing)?;
        chart
            .draw_series([Text::new(
                format!("n={}", b.trades),
                (x + 0.01, (y - 0.04).max(0.02)),
                text(layout.label(12)),
            )])
            .map_err(drawing)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bar is green only at or above its own fee-aware break-even: 49% against 51.75% (a
    /// 0.50 price at fee rate 0.07) is red, whatever 50% would say.
    #[test]
    fn date_ticks_are_round_and_never_read_the_same() {
        let start = 1_770_508_800.0; // 2026-02-08 00:00 UTC, a Sunday
        let labels = |x0: f64, x1: f64| {
            let (ticks, with_hour) = date_ticks(x0, x1, 6.0);
            assert!((2..=7).contains(&ticks.len()), "{ticks:?}");
            assert!(ticks.iter().all(|t| (x0..=x1).contains(t)));
            let labels: Vec<String> = ticks
                .iter()
                .map(|t| date_label(*t, with_hour, false))
                .collect();
            let distinct: std::collections::BTreeSet<&String> = labels.iter().collect();
            assert_eq!(distinct.len(), labels.len(), "{labels:?}");
            labels
        };
        // 2.5 days from 00:20: every 12 hours, on the hour.
        assert_eq!(
            labels(start + 1_200.0, start + 2.5 * DAY),
            [
                "02-08 12:00",
                "02-09 00:00",
                "02-09 12:00",
                "02-10 00:00",
                "02-10 12:00"
            ]
        );
        // 30 days: weekly, on Mondays.
        assert_eq!(
            labels(start, start + 30.0 * DAY),
            [
                "2026-02-09",
                "2026-02-16",
                "2026-02-23",
                "2026-03-02",
                "2026-03-09"
            ]
        );
        // An hour, a year, ten years: still a handful of distinct labels.
        labels(start, start + HOUR);
        labels(start, start + 365.0 * DAY);
        labels(start, start + 3_650.0 * DAY);
    }

    #[test]
    fn bars_are_coloured_against_the_break_even() {
        let group = |rate: f64, be: Option<f64>| Group {
            settled: 100,
            win_rate: Some(rate),
            break_even: be,
            ..Group::default()
        };
        assert_eq!(bar_color(&group(0.49, Some(0.5175))), BELOW_COLOR);
        assert_eq!(bar_color(&group(0.51, Some(0.5175))), BELOW_COLOR);
        assert_eq!(bar_color(&group(0.53, Some(0.5175))), ABOVE_COLOR);
        assert_eq!(
            bar_color(&group(0.53, None)),
            crate::report::pen::UNKNOWN_COLOR
        );
    }
}
