//! `polyperf report`: the window the flags select, the figures (`metrics::compute`), then the
//! terminal table or `--json`, and the `--chart` PNG / SVG and `--html` page (`crate::report`
//! renders), each with the latest walk-forward evaluation (`crate::evaluate::report`).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use super::{open, print, GlobalArgs};
use crate::error::bad_input;
use crate::metrics::{self, By, Window};
use crate::report::{chart, html_page, render_table, Extras};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ReportArgs {
    /// Only the last N UTC days (1 to 36500): today and the N - 1 days before it, from 00:00
    /// UTC (as Telegram's /report N and /daily N). Without --days/--since: all time
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
    /// P&L per UTC day, ISO week or month, newest first (a table, `periods` in --json, bars in
    /// --html)
    #[arg(long, value_enum, value_name = "PERIOD")]
    pub by: Option<By>,
    /// Write a self-contained HTML page here (readable on a phone)
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write the charts here: PNG for a .png file, SVG for .svg (equity and drawdown, P&L per
    /// period, win rate by signal and by price against break-even, calibration)
    #[arg(long, value_name = "FILE")]
    pub chart: Option<PathBuf>,
    /// The report's idea of "now" (RFC 3339), for reruns and tests
    #[arg(long, value_name = "RFC3339", value_parser = crate::time::parse_now_arg)]
    pub now: Option<DateTime<Utc>>,
}

/// The two chart formats, by the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChartFormat {
    Png,
    Svg,
}

impl ChartFormat {
    fn of(path: &Path) -> Result<ChartFormat> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("png") => Ok(ChartFormat::Png),
            Some("svg") => Ok(ChartFormat::Svg),
            _ => Err(bad_input(format!(
                "--chart {}: the file must end in .png or .svg",
                path.display()
            ))),
        }
    }
}

impl ReportArgs {
    /// The window the flags select (all time without `--days` / `--since`).
    pub fn window(&self) -> Result<Window> {
        match (self.days, self.since) {
            (Some(n), _) => Ok(Window::UtcDays(
                crate::time::check_days(n, 1).map_err(|e| bad_input(format!("--days: {e}")))?,
            )),
            (None, Some(t)) => Ok(Window::Since(t)),
            (None, None) => Ok(Window::All),
        }
    }
}

pub fn run(global: &GlobalArgs, args: ReportArgs) -> Result<u8> {
    let window = args.window()?;
    // Refused before anything is computed or written.
    let chart_format = args.chart.as_deref().map(ChartFormat::of).transpose()?;
    let (_, conn) = open(global)?;
    let now = args.now.unwrap_or_else(Utc::now);
    let started = std::time::Instant::now();
    let mut m = metrics::compute(&conn, &window, now)?;
    if let Some(by) = args.by {
        m.periods = Some(metrics::periods::group(&m, by));
    }
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "metrics computed"
    );
    let evaluation = crate::evaluate::report::latest(&conn, now)?;
    if let (Some(path), Some(format)) = (&args.chart, chart_format) {
        let bytes = match format {
            ChartFormat::Png => chart::png(&m)?,
            ChartFormat::Svg => chart::svg(&m)?.into_bytes(),
        };
        std::fs::write(path, bytes).with_context(|| format!("writing chart {}", path.display()))?;
    }
    if let Some(path) = &args.html {
        let insights = metrics::latest_insights(&conn)?;
        let proposals = match &insights {
            Some(i) => crate::proposals::of_reflection(&conn, i.reflection_id)?,
            None => Vec::new(),
        };
        let extras = Extras {
            insights: insights.as_ref(),
            proposals: &proposals,
            sections: vec![crate::evaluate::report::html(evaluation.as_ref())],
        };
        std::fs::write(path, html_page(&m, &extras)?)
            .with_context(|| format!("writing html {}", path.display()))?;
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
