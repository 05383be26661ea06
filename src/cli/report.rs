//! `polyperf report`: the window the flags select, the figures (`metrics::compute`), then the
//! terminal table or `--json`, and the `--chart` SVG / `--html` page (`crate::report` renders),
//! each with the latest walk-forward evaluation (`crate::evaluate::report`).

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use super::{open, print, GlobalArgs};
use crate::error::bad_input;
use crate::metrics::{self, Window};
use crate::report::{chart_svg, html_page, render_table};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ReportArgs {
    /// Only the last N days (1 to 36500): decisions from exactly now - N days up to now
    /// (archived days in daily_rollup count whole days). Without --days/--since: all time
    #[arg(
        long,
        conflicts_with = "since",
        allow_hyphen_values = true,
        value_parser = crate::time::parse_days_arg
    )]
    pub days: Option<u32>,
    /// Only decisions at or after this time (RFC 3339)
    #[arg(long, value_parser = crate::time::parse_now_arg)]
    pub since: Option<DateTime<Utc>>,
    /// Write a self-contained HTML page here
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write an SVG chart (equity curve, win rate by signal) here
    #[arg(long, value_name = "FILE")]
    pub chart: Option<PathBuf>,
    /// The report's idea of "now" (RFC 3339), for reruns and tests
    #[arg(long, value_name = "RFC3339", value_parser = crate::time::parse_now_arg)]
    pub now: Option<DateTime<Utc>>,
}

impl ReportArgs {
    /// The window the flags select (all time without `--days` / `--since`).
    pub fn window(&self) -> Result<Window> {
        match (self.days, self.since) {
            (Some(n), _) => Ok(Window::Days(
                crate::time::check_days(n, 1).map_err(|e| bad_input(format!("--days: {e}")))?,
            )),
            (None, Some(t)) => Ok(Window::Since(t)),
            (None, None) => Ok(Window::All),
        }
    }
}

pub fn run(global: &GlobalArgs, args: ReportArgs) -> Result<u8> {
    let window = args.window()?;
    let (_, conn) = open(global)?;
    let now = args.now.unwrap_or_else(Utc::now);
    let started = std::time::Instant::now();
    let m = metrics::compute(&conn, &window, now)?;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "metrics computed"
    );
    let evaluation = crate::evaluate::report::latest(&conn, now)?;
    if let Some(path) = &args.chart {
        std::fs::write(path, chart_svg(&m, true))
            .with_context(|| format!("writing chart {}", path.display()))?;
    }
    if let Some(path) = &args.html {
        let insights = metrics::latest_insights(&conn)?;
        let page = html_page(&m, insights.as_ref());
        // The latest walk-forward evaluation, as its own section before the page ends.
        let section = crate::evaluate::report::html(evaluation.as_ref());
        let page = match page.rfind("</body>") {
            Some(i) => format!("{}{section}{}", &page[..i], &page[i..]),
            None => page + &section,
        };
        std::fs::write(path, page).with_context(|| format!("writing html {}", path.display()))?;
    }
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    if global.json {
        // The figures' object with the latest evaluation beside them.
        let mut value = serde_json::to_value(&m)?;
        if let Some(map) = value.as_object_mut() {
            map.insert("evaluation".into(), serde_json::to_value(&evaluation)?);
        }
        print(true, &value, |_| String::new());
    } else {
        print(false, &m, |m| {
            render_table(m, color) + &crate::evaluate::report::text(evaluation.as_ref())
        });
    }
    Ok(0)
}
