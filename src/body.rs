//! Remote bodies read with a size bound: a server that answers 20 MB (or 2 GB) costs at most
//! the bound in memory, never the whole answer. Knows no API; the callers pick the bound. On
//! the ground floor: no polyperf imports.

/// The usual bound on a remote API's answer (the largest honest answers are far smaller).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body is larger than the bound (by its `Content-Length` or as it streamed in).
    #[error("the answer is larger than {} bytes", .0)]
    TooLarge(usize),
    /// The connection failed or timed out while the body streamed in.
    #[error("reading the body: {}", describe(.0))]
    Read(#[from] reqwest::Error),
}

/// A reqwest error without its URL (the Telegram token lives in the URL path): what went wrong
/// and its deepest cause.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else {
        "body error"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = None;
    while let Some(cause) = source {
        detail = Some(cause.to_string());
        source = cause.source();
    }
    match detail {
        Some(detail) => format!("{kind}: {detail}"),
        None => kind.to_string(),
    }
}

/// Reads a response's body, at most `max_bytes` of it: a larger body is an error as soon as it
/// is known to be larger (its `Content-Length`, or the first chunk past the bound).
pub async fn read_limited(
    mut response: reqwest::Response,
    max_bytes: usize,
) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|n| n > max_bytes as u64)
    {
        return Err(BodyError::TooLarge(max_bytes));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len().saturating_add(chunk.len()) > max_bytes {
            return Err(BodyError::TooLarge(max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// As [`read_limited`], as text (invalid UTF-8 replaced, as `reqwest::Response::text` does).
pub async fn text_limited(
    response: reqwest::Response,
    max_bytes: usize,
) -> Result<String, BodyError> {
    let bytes = read_limited(response, max_bytes).await?;
    Ok(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// At most `max_chars` characters of `text`, with "…" when it was cut: error texts from remote
/// services are stored and logged this way (never a 20 MB description on every row).
pub fn clip(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_string(),
        Some(_) if max_chars == 0 => String::new(),
        Some((end, _)) => {
            let kept: String = text[..end]
                .chars()
                .take(max_chars.saturating_sub(1))
                .collect();
            format!("{kept}…")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_short_texts_and_cuts_long_ones_to_the_bound() {
        assert_eq!(clip("short", 500), "short");
        assert_eq!(clip("", 3), "");
        assert_eq!(clip("abcd", 4), "abcd");
        assert_eq!(clip("abcde", 4), "abc…");
        let long = "é".repeat(20_000);
        let cut = clip(&long, 500);
        assert_eq!(cut.chars().count(), 500);
        assert!(cut.ends_with('…'));
        assert_eq!(clip("abc", 0), "");
    }
}
