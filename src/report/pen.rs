//! What every chart is drawn with: the bundled font, the colours, the drawing area, text
//! styles, the message of an empty chart and the colour of a win-rate bar. Shared by the
//! charts ([`super::chart`]) and the phone's win-rate rows (`chart_rows.rs`).

use std::sync::OnceLock;

use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::metrics::Group;

/// The font every chart's text is drawn with (DejaVu Sans 2.37, licence beside it).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
pub(super) const FAMILY: &str = "sans-serif";

/// Colour of the equity curve (the screenshot check in tests/html_screenshot.sh looks for it).
pub const EQUITY_COLOR: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
/// A bar at or above its break-even.
pub const ABOVE_COLOR: RGBColor = RGBColor(0x2e, 0x7d, 0x32);
/// A bar below its break-even (or a losing period).
pub const BELOW_COLOR: RGBColor = RGBColor(0xc6, 0x28, 0x28);
/// A bar whose break-even is unknown (no live row with a price).
pub(super) const UNKNOWN_COLOR: RGBColor = RGBColor(0x9e, 0x9e, 0x9e);
pub(super) const GRID_COLOR: RGBColor = RGBColor(0xe0, 0xe0, 0xe0);

pub(super) type Area<'a, DB> = DrawingArea<DB, Shift>;

pub(super) fn drawing<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("drawing the chart: {e}")
}

/// Registers the bundled font once (plotters' `ab_glyph` text needs it before any text).
pub(super) fn font_ready() -> Result<()> {
    static READY: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    READY
        .get_or_init(|| {
            plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
                .map_err(|_| "the bundled font is not a valid TrueType font".to_string())
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

pub(super) fn text(size: u32) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&BLACK)
}

pub(super) fn grey_text(size: u32) -> TextStyle<'static> {
    (FAMILY, size)
        .into_font()
        .color(&RGBColor(0x55, 0x55, 0x55))
}

/// A message in the middle of an empty chart, on two lines when one would not fit.
pub(super) fn empty<DB: DrawingBackend>(area: &Area<'_, DB>, title: &str, why: &str) -> Result<()> {
    let (w, h) = area.dim_in_pixel();
    area.draw(&Text::new(title.to_string(), (20, 12), text(18)))
        .map_err(drawing)?;
    let style = grey_text(15).pos(plotters::style::text_anchor::Pos::new(
        plotters::style::text_anchor::HPos::Center,
        plotters::style::text_anchor::VPos::Center,
    ));
    // About 8 pixels a character at this size.
    let lines: Vec<&str> = match why.len() * 8 + 20 > w as usize {
        true => why.rsplit_once(" (").map_or(vec![why], |(a, b)| vec![a, b]),
        false => vec![why],
    };
    for (i, line) in lines.iter().enumerate() {
        let line = match (i, lines.len()) {
            (1, 2) => format!("({line}"),
            _ => line.to_string(),
        };
        let y = h as i32 / 2 + (i as i32 * 2 - lines.len() as i32 + 1) * 10;
        area.draw(&Text::new(line, (w as i32 / 2, y), style.clone()))
            .map_err(drawing)?;
    }
    Ok(())
}

/// The colour of a win-rate bar: at or above the group's own fee-aware break-even, below it,
/// or unknown.
pub fn bar_color(g: &Group) -> RGBColor {
    match (g.win_rate, g.break_even) {
        (Some(rate), Some(be)) if rate >= be => ABOVE_COLOR,
        (Some(_), Some(_)) => BELOW_COLOR,
        _ => UNKNOWN_COLOR,
    }
}
