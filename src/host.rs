//! Facts about processes on this host, for leases and temp files that a crashed run left:
//! this host's name, and whether a pid still runs the process that recorded it (a reused pid is
//! told apart by its start time). Reads `/proc`; never signals anything but signal 0.

/// Who a process is: the host it runs on, its pid, and when it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub host: String,
    pub pid: u32,
    /// `<boot id>:<start time in clock ticks since boot>`, or None where `/proc` lacks it.
    pub start: Option<String>,
}

/// This process.
pub fn current() -> Identity {
    let pid = std::process::id();
    Identity {
        host: host_name(),
        pid,
        start: start_token(i64::from(pid)),
    }
}

/// The host name (`gethostname`), or "" when it cannot be read.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is writable for its whole length, which is what we pass.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// `<boot id>:<start ticks>` of `pid`: equal for the same process, different for a process that
/// later got the same pid (or ran before a reboot). None without `/proc`.
pub fn start_token(pid: i64) -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let (_, start) = stat(pid)?;
    Some(format!("{}:{start}", boot.trim()))
}

/// State letter and start time (field 22) of `/proc/<pid>/stat`.
fn stat(pid: i64) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or ')': fields after it
    // start at the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Field 3 is the state; the start time is field 22, 19 fields further on.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Whether a process with this pid exists (a zombie or a dead entry does not count).
pub fn alive(pid: i64) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    if let Some((state, _)) = stat(i64::from(pid)) {
        return !matches!(state, 'Z' | 'X' | 'x');
    }
    // SAFETY: signal 0 only checks whether the process exists and may be signalled.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Whether `pid` still runs the process that recorded `start` (its [`start_token`]). Without a
/// recorded start (or without `/proc`) a live pid is taken to be that process: when in doubt, a
/// holder is alive.
pub fn still_running(pid: i64, start: Option<&str>) -> bool {
    if !alive(pid) {
        return false;
    }
    match (start, start_token(pid)) {
        (Some(recorded), Some(now)) => recorded == now,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_running_and_a_reused_pid_is_not_it() {
        let me = current();
        assert!(!me.host.is_empty());
        let pid = i64::from(me.pid);
        assert!(still_running(pid, me.start.as_deref()));
        if me.start.is_some() {
            assert!(!still_running(pid, Some("another-boot:1")));
        }
        assert!(still_running(pid, None));
    }

    #[test]
    fn a_reaped_child_is_dead_and_a_zombie_too() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = i64::from(child.id());
        // Exited but not reaped yet: a zombie, which holds nothing any more.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while alive(pid) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(!alive(pid));
        child.wait().unwrap();
        assert!(!alive(pid));
        assert!(!alive(0));
        assert!(!alive(-5));
        assert!(!alive(i64::MAX));
    }
}
