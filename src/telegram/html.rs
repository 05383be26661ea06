//! Telegram's HTML parse mode: escaping, and lengths and cuts as Telegram counts them (the text
//! after entity parsing, in UTF-16 code units). Pure functions; never does I/O.

/// Telegram's limit on a message's text: 4,096 characters of the text after entity parsing
/// (tags removed, `&amp;` one character), counted in UTF-16 code units as Telegram counts
/// entity offsets (an emoji outside the BMP is two). See [`visible_len`].
pub const MAX_CHARS: usize = 4096;

/// A free-text value (a reason, an insight, an error, a job name) shows at most this many
/// characters in a message, so one long value never crowds out the rest of it.
pub const MAX_FIELD_CHARS: usize = 600;

/// `text` cut to at most `max` characters (the last one `…` when cut), then escaped.
pub fn esc_short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return esc(text);
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    esc(&cut)
}

/// Escapes `<`, `>` and `&` for Telegram's HTML parse mode.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
    out
}

/// One piece of Telegram HTML: a tag, an entity (`&lt;`), or a character of text.
enum Piece<'a> {
    Tag(&'a str),
    Entity(&'a str, char),
    Char(char),
}

/// The pieces of `html`, with the byte offset after each. A `<` without `>` or an `&` that
/// starts no entity is a plain character (we never write either; [`esc`] escapes them).
fn pieces(html: &str) -> impl Iterator<Item = (Piece<'_>, usize)> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let rest = &html[at..];
        let c = rest.chars().next()?;
        let piece = match c {
            '<' => rest.find('>').map(|end| Piece::Tag(&rest[..=end])),
            '&' => rest
                .char_indices()
                .take(10)
                .find(|(_, c)| *c == ';')
                .and_then(|(end, _)| {
                    entity(&rest[..=end]).map(|ch| Piece::Entity(&rest[..=end], ch))
                }),
            _ => None,
        }
        .unwrap_or(Piece::Char(c));
        at += match &piece {
            Piece::Tag(t) | Piece::Entity(t, _) => t.len(),
            Piece::Char(c) => c.len_utf8(),
        };
        Some((piece, at))
    })
}

/// The character an HTML entity stands for (the four named ones Telegram knows, and numeric).
fn entity(text: &str) -> Option<char> {
    let name = text.strip_prefix('&')?.strip_suffix(';')?;
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "quot" => Some('"'),
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

/// The length of a message as Telegram counts it against [`MAX_CHARS`]: its text after entity
/// parsing, in UTF-16 code units.
pub fn visible_len(html: &str) -> usize {
    pieces(html)
        .map(|(piece, _)| match piece {
            Piece::Tag(_) => 0,
            Piece::Entity(_, c) | Piece::Char(c) => c.len_utf16(),
        })
        .sum()
}

/// Cuts `text` to a visible length (see [`visible_len`]) of at most `max` without splitting a
/// tag or an entity, closing the tags left open, and marking the cut with `…`.
pub fn truncate_html(text: &str, max: usize) -> String {
    if visible_len(text) <= max {
        return text.to_string();
    }
    // Room for the ellipsis.
    let budget = max.saturating_sub(1);
    let mut visible = 0;
    let mut end = 0;
    let mut open: Vec<&str> = Vec::new();
    for (piece, after) in pieces(text) {
        match piece {
            Piece::Tag(tag) => {
                let inner = tag.trim_start_matches('<').trim_end_matches('>');
                if let Some(name) = inner.strip_prefix('/') {
                    if let Some(pos) = open.iter().rposition(|t| *t == name.trim()) {
                        open.remove(pos);
                    }
                } else if !inner.ends_with('/') {
                    open.push(inner.split_whitespace().next().unwrap_or(""));
                }
            }
            Piece::Entity(_, c) | Piece::Char(c) => {
                if visible + c.len_utf16() > budget {
                    break;
                }
                visible += c.len_utf16();
            }
        }
        end = after;
    }
    let mut cut = text[..end].to_string();
    cut.push('…');
    for name in open.iter().rev() {
        cut.push_str(&format!("</{name}>"));
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_user_text() {
        for (input, expected) in [
            ("a<b", "a&lt;b"),
            ("x & y", "x &amp; y"),
            ("<script>", "&lt;script&gt;"),
            ("btc_up*down", "btc_up*down"),
        ] {
            assert_eq!(esc(input), expected);
        }
    }

    #[test]
    fn truncation_keeps_html_valid() {
        let long = format!("<b>{}</b>", "a&amp;".repeat(3000));
        let cut = truncate_html(&long, MAX_CHARS);
        assert_eq!(visible_len(&cut), MAX_CHARS);
        assert!(cut.ends_with("…</b>"), "{}", &cut[cut.len() - 20..]);
        let before = cut.trim_end_matches("…</b>");
        assert!(before.ends_with(';') || before.ends_with('a'));
        assert_eq!(truncate_html("short", 10), "short");
        // Inside a <pre> that stays open, and with emoji (two UTF-16 units each).
        let cut = truncate_html(&format!("<b>x</b><pre>{}", "😀".repeat(3000)), 100);
        assert!(visible_len(&cut) <= 100, "{}", visible_len(&cut));
        assert!(cut.ends_with("…</pre>"));
    }

    #[test]
    fn visible_length_is_what_telegram_counts() {
        for (html, n) in [
            ("plain", 5),
            ("<b>bold</b>", 4),
            ("a &amp; b &lt;c&gt;", 9),
            ("&#65;&#x42;", 2),
            ("😀", 2),
            ("é", 1),
            ("a & b", 5),
            ("<pre>x</pre>\n", 2),
        ] {
            assert_eq!(visible_len(html), n, "{html}");
        }
    }
}
