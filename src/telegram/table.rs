//! Tables for a phone: monospace rows (`<pre>`) at most [`PHONE_COLUMNS`] wide, so that none
//! wraps on a 390-pixel screen, with a result mark (✅ / ❌) after a row. Columns a table can
//! do without are dropped, the last first, when the figures are too wide. Pure; the caller
//! escapes the result for HTML.

/// The widest row a phone shows without wrapping, in monospace columns.
pub const PHONE_COLUMNS: usize = 34;

/// A won trade, a profitable period, a healthy job.
pub const GOOD: &str = "✅";
/// A lost trade, a losing period, a job that is overdue.
pub const BAD: &str = "❌";

/// The mark of a result: ✅ above zero, ❌ below, none at zero.
pub fn mark_of(profit: rust_decimal::Decimal) -> Option<&'static str> {
    if profit.is_sign_positive() && !profit.is_zero() {
        Some(GOOD)
    } else if profit.is_sign_negative() && !profit.is_zero() {
        Some(BAD)
    } else {
        None
    }
}

/// The columns a text takes in a monospace font on a phone: emoji and the other wide
/// characters take two (East Asian Wide ranges that we may send), the rest one.
pub fn width(text: &str) -> usize {
    text.chars()
        .map(|c| match u32::from(c) {
            0x1100..=0x115F
            | 0x2600..=0x27BF
            | 0x2E80..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6
            | 0x1F000..=0x1FAFF
            | 0x20000..=0x3FFFD => 2,
            _ => 1,
        })
        .sum()
}

/// One row: its cells (as many as the header) and the mark after it, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    pub cells: Vec<String>,
    pub mark: Option<&'static str>,
}

/// The rows as aligned lines (the header first): the first column left-aligned, the others
/// right-aligned, two spaces apart (one when two do not fit), the mark after a space. While the
/// widest line is still wider than [`PHONE_COLUMNS`], the columns in `optional` are dropped, in
/// that order.
pub fn lines(header: &[&str], rows: &[Row], optional: &[usize]) -> Vec<String> {
    let mut keep: Vec<usize> = (0..header.len()).collect();
    let mut droppable = optional.iter();
    let fits = |lines: &[String]| lines.iter().all(|l| width(l) <= PHONE_COLUMNS);
    loop {
        for gap in [2, 1] {
            let out = layout(header, rows, &keep, gap);
            if fits(&out) {
                return out;
            }
        }
        match droppable.next() {
            Some(column) => keep.retain(|c| c != column),
            None => return layout(header, rows, &keep, 1),
        }
    }
}

fn cell(row: &Row, c: usize) -> &str {
    row.cells.get(c).map_or("", String::as_str)
}

fn layout(header: &[&str], rows: &[Row], keep: &[usize], gap: usize) -> Vec<String> {
    let widths: Vec<usize> = keep
        .iter()
        .map(|&c| {
            rows.iter()
                .map(|r| width(cell(r, c)))
                .chain([width(header.get(c).copied().unwrap_or(""))])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>, mark: Option<&str>| {
        let mut out = String::new();
        for (i, (text, w)) in cells.iter().zip(&widths).enumerate() {
            let pad = " ".repeat(w.saturating_sub(width(text)));
            match i {
                0 => out.push_str(&format!("{text}{pad}")),
                _ => out.push_str(&format!("{}{pad}{text}", " ".repeat(gap))),
            }
        }
        let mut out = out.trim_end().to_string();
        if let Some(mark) = mark {
            out.push(' ');
            out.push_str(mark);
        }
        out
    };
    let mut out = vec![line(
        keep.iter()
            .map(|&c| header.get(c).copied().unwrap_or(""))
            .collect(),
        None,
    )];
    for row in rows {
        out.push(line(keep.iter().map(|&c| cell(row, c)).collect(), row.mark));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str], mark: Option<&'static str>) -> Row {
        Row {
            cells: cells.iter().map(|c| c.to_string()).collect(),
            mark,
        }
    }

    #[test]
    fn rows_align_and_marks_follow() {
        let out = lines(
            &["Day", "#", "Profit", "ROI"],
            &[
                row(&["2026-02-11", "3", "+3.00", "+20.0%"], Some(GOOD)),
                row(&["2026-02-10", "12", "-1,234.50", "-8.1%"], Some(BAD)),
                row(&["2026-02-09", "0", "0.00", "n/a"], None),
            ],
            &[3],
        );
        // Two spaces apart would be 36 wide: one.
        assert_eq!(
            out,
            [
                "Day         #    Profit    ROI",
                "2026-02-11  3     +3.00 +20.0% ✅",
                "2026-02-10 12 -1,234.50  -8.1% ❌",
                "2026-02-09  0      0.00    n/a",
            ]
        );
        assert_eq!(width(&out[1]), 33);
        // Narrower figures: two spaces apart.
        let out = lines(
            &["Day", "#", "Profit", "ROI"],
            &[row(&["2026-02-11", "3", "+3.00", "+20.0%"], Some(GOOD))],
            &[3],
        );
        assert_eq!(out[1], "2026-02-11  3   +3.00  +20.0% ✅");
    }

    #[test]
    fn optional_columns_go_when_too_wide() {
        let rows = [row(
            &["2026-W07", "1,234", "+123,456.78", "+1234.5%"],
            Some(GOOD),
        )];
        let out = lines(&["Week", "#", "Profit", "ROI"], &rows, &[3]);
        assert_eq!(out[1], "2026-W07  1,234  +123,456.78 ✅");
        assert!(out.iter().all(|l| width(l) <= PHONE_COLUMNS));
    }

    #[test]
    fn widths_count_emoji_twice() {
        assert_eq!(width("abc"), 3);
        assert_eq!(width("✅"), 2);
        assert_eq!(width("❌ x"), 4);
        assert_eq!(width("10:15–10:30"), 11);
        assert_eq!(mark_of(rust_decimal::Decimal::ZERO), None);
        assert_eq!(mark_of(rust_decimal::Decimal::ONE), Some(GOOD));
        assert_eq!(mark_of(-rust_decimal::Decimal::ONE), Some(BAD));
    }
}
