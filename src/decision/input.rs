//! Splitting `polyperf log` input into JSON documents: JSON Lines, one (pretty-printed) object,
//! or a JSON array. Bytes that are not UTF-8 make their line invalid (named, like any bad line);
//! a leading UTF-8 byte order mark is skipped.

use std::io::BufRead;

use anyhow::{Context, Result};
use serde_json::value::RawValue;

use super::{field_err, FieldError};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One document's text, or why its line cannot be read.
pub type Document<'a> = std::result::Result<&'a str, FieldError>;

/// Calls `each(line_number, document)` for every JSON document in `input`: JSON Lines, a single
/// (possibly multi-line) object, or a JSON array of objects. Blank lines are skipped.
pub fn for_each_document(
    mut input: impl BufRead,
    mut each: impl FnMut(usize, Document<'_>) -> Result<()>,
) -> Result<()> {
    let mut line = Vec::new();
    let mut line_no = 0usize;
    // Skip a byte order mark and leading blank lines, then look at the first line.
    loop {
        if !next_line(&mut input, &mut line)? {
            return Ok(());
        }
        line_no += 1;
        if line_no == 1 && line.starts_with(BOM) {
            line.drain(..BOM.len());
        }
        if !line.trim_ascii().is_empty() {
            break;
        }
    }
    let first = line.trim_ascii();
    let complete_line = first.starts_with(b"{")
        && std::str::from_utf8(first)
            .is_ok_and(|text| serde_json::from_str::<&RawValue>(text).is_ok());
    if !complete_line && (first.starts_with(b"{") || first.starts_with(b"[")) {
        // A pretty-printed object or an array: read the whole document.
        let is_array = first.starts_with(b"[");
        let start_line = line_no;
        input.read_to_end(&mut line).context("reading decisions")?;
        let whole = match std::str::from_utf8(&line) {
            Ok(text) => text,
            Err(e) => {
                let newlines = line[..e.valid_up_to()].iter().filter(|b| **b == b'\n');
                return each(start_line + newlines.count(), Err(not_utf8(&e)));
            }
        };
        if is_array {
            let items: Vec<&RawValue> = match serde_json::from_str(whole) {
                Ok(items) => items,
                Err(e) => {
                    let message = format!("not a JSON array of objects: {e}");
                    return each(start_line, Err(field_err("", message)));
                }
            };
            for (i, item) in items.iter().enumerate() {
                each(i + 1, Ok(item.get()))?;
            }
            return Ok(());
        }
        return each(start_line, Ok(whole));
    }
    each(line_no, utf8(&line))?;
    loop {
        if !next_line(&mut input, &mut line)? {
            return Ok(());
        }
        line_no += 1;
        if !line.trim_ascii().is_empty() {
            each(line_no, utf8(&line))?;
        }
    }
}

/// Reads the next line's bytes into `line` (replacing what it held); false at the end.
fn next_line(input: &mut impl BufRead, line: &mut Vec<u8>) -> Result<bool> {
    line.clear();
    let n = input.read_until(b'\n', line).context("reading decisions")?;
    Ok(n > 0)
}

/// A line as trimmed text, or the error naming where its UTF-8 breaks.
fn utf8(line: &[u8]) -> Document<'_> {
    std::str::from_utf8(line.trim_ascii())
        .map(str::trim)
        .map_err(|e| not_utf8(&e))
}

fn not_utf8(e: &std::str::Utf8Error) -> FieldError {
    field_err(
        "",
        format!(
            "not valid UTF-8 (bad byte after {} valid bytes)",
            e.valid_up_to()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (line number, text or error) of every document.
    fn documents(input: &[u8]) -> Vec<(usize, std::result::Result<String, String>)> {
        let mut out = Vec::new();
        for_each_document(input, |n, doc| {
            out.push((n, doc.map(str::to_string).map_err(|e| e.to_string())));
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn lines_objects_and_arrays() {
        assert_eq!(
            documents(b"\n{\"a\":1}\n\n{\"b\":2}\n"),
            [(2, Ok("{\"a\":1}".into())), (4, Ok("{\"b\":2}".into()))]
        );
        assert_eq!(
            documents(b"{\n \"a\": 1\n}\n"),
            [(1, Ok("{\n \"a\": 1\n}\n".into()))]
        );
        assert_eq!(
            documents(b"[{\"a\":1}, {\"b\":2}]"),
            [(1, Ok("{\"a\":1}".into())), (2, Ok("{\"b\":2}".into()))]
        );
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        assert_eq!(
            documents(b"\xEF\xBB\xBF{\"a\":1}\n{\"b\":2}\n"),
            [(1, Ok("{\"a\":1}".into())), (2, Ok("{\"b\":2}".into()))]
        );
        assert_eq!(
            documents(b"\xEF\xBB\xBF[{\"a\":1}]"),
            [(1, Ok("{\"a\":1}".into()))]
        );
    }

    #[test]
    fn invalid_utf8_names_its_line_and_the_others_go_on() {
        let got = documents(b"{\"a\":1}\n{\"b\":\"\xff\"}\n{\"c\":3}\n");
        assert_eq!(got[0], (1, Ok("{\"a\":1}".into())));
        assert_eq!(got[1].0, 2);
        assert!(got[1].1.as_ref().unwrap_err().contains("not valid UTF-8"));
        assert_eq!(got[2], (3, Ok("{\"c\":3}".into())));
        // Inside a pretty-printed object: the line where the bad byte is.
        let got = documents(b"{\n \"a\": 1,\n \"b\": \"\xc3\x28\"\n}\n");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, 3);
        assert!(got[0].1.is_err());
    }
}
