//! Results on stdout, for every binary. A reader that went away (`polyperf report | head -1`,
//! `polyperf-settle --json | true`) ends the output quietly, where `println!` would panic; the
//! exit code stays the command's own. Knows no other polyperf module.

use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicU8, Ordering};

/// What became of stdout: still open, closed by its reader, or failed otherwise.
const OPEN: u8 = 0;
const CLOSED: u8 = 1;
const FAILED: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(OPEN);

/// Writes `text` to stdout as it is, flushed. Once the reader has gone (EPIPE) nothing more is
/// written and nothing is said: that is how `head` ends a pipe. Any other failure (a full disk
/// under a redirect) is said once on stderr, and [`exit_code`] turns a success into exit 1.
pub fn print(text: &str) {
    if STATE.load(Ordering::Relaxed) != OPEN {
        return;
    }
    let mut out = std::io::stdout().lock();
    let result = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    if let Err(e) = result {
        if e.kind() == ErrorKind::BrokenPipe {
            STATE.store(CLOSED, Ordering::Relaxed);
        } else {
            STATE.store(FAILED, Ordering::Relaxed);
            eprintln!("error: writing to stdout: {e}");
        }
    }
}

/// [`print()`] with a newline.
pub fn println(text: &str) {
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    line.push('\n');
    print(&line);
}

/// The exit code of a command whose output went to stdout: its own, except that a command that
/// succeeded but could not write its result (other than to a reader that left) exits 1.
pub fn exit_code(code: u8) -> u8 {
    if code == 0 && STATE.load(Ordering::Relaxed) == FAILED {
        1
    } else {
        code
    }
}
