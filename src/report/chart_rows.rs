//! Win rate by group drawn for a phone: one row per group, its name, trade count and win rate
//! above a horizontal bar, green at or above the group's own fee-aware break-even (the black
//! tick), red below, with its 95% interval as a whisker. Names of any length read on a narrow
//! screen, where bars side by side would need their labels squeezed under them.

use std::collections::BTreeMap;

use anyhow::Result;
use plotters::prelude::*;

use super::pen::{bar_color, drawing, empty, text, Area};
use crate::metrics::Group;

/// The rows chart of `groups` (settled ones only), the first group at the top.
pub(super) fn win_rate_rows<DB: DrawingBackend>(
    area: &Area<'_, DB>,
    title: &str,
    groups: &BTreeMap<String, Group>,
) -> Result<()> {
    let rows: Vec<(&String, &Group)> = groups.iter().filter(|(_, g)| g.settled > 0).collect();
    if rows.is_empty() {
        return empty(area, title, "no settled trades with this breakdown");
    }
    let n = rows.len() as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(title, text(18))
        .margin(10)
        .margin_right(28)
        .x_label_area_size(30)
        .y_label_area_size(0)
        .build_cartesian_2d(0.0..1.0, 0.0..n)
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(0xe0, 0xe0, 0xe0))
        .x_labels(6)
        .x_label_formatter(&|x: &f64| format!("{:.0}%", x * 100.0))
        .label_style(text(16))
        .draw()
        .map_err(drawing)?;
    for (i, (name, g)) in rows.iter().enumerate() {
        // The first group at the top: row `i` is the band [y, y + 1].
        let y = n - 1.0 - i as f64;
        let rate = g.win_rate.unwrap_or(0.0);
        let label = format!("{name} ({}): {:.1}%", g.settled, rate * 100.0);
        chart
            .draw_series([Text::new(label, (0.0, y + 0.92), text(16))])
            .map_err(drawing)?;
        chart
            .draw_series([Rectangle::new(
                [(0.0, y + 0.1), (rate, y + 0.45)],
                bar_color(g).filled(),
            )])
            .map_err(drawing)?;
        let style = BLACK.mix(0.8).stroke_width(2);
        if let Some([low, high]) = g.win_rate_ci {
            let mid = y + 0.275;
            for segment in [
                [(low, mid), (high, mid)],
                [(low, mid - 0.1), (low, mid + 0.1)],
                [(high, mid - 0.1), (high, mid + 0.1)],
            ] {
                chart
                    .draw_series(LineSeries::new(segment, style))
                    .map_err(drawing)?;
            }
        }
        if let Some(be) = g.break_even {
            chart
                .draw_series(LineSeries::new(
                    [(be, y + 0.03), (be, y + 0.52)],
                    BLACK.stroke_width(3),
                ))
                .map_err(drawing)?;
        }
    }
    Ok(())
}
