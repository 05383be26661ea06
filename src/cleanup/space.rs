//! Free space: `statvfs`, the levels against the thresholds, what the guard measures, and the
//! reserve file (ballast released first in an emergency).

use std::ffi::CString;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::config::Settings;

/// Free space of one filesystem.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Space {
    pub free_bytes: u64,
    pub total_bytes: u64,
}

impl Space {
    pub fn free_percent(&self) -> f64 {
        if self.total_bytes == 0 {
            return 100.0;
        }
        self.free_bytes as f64 * 100.0 / self.total_bytes as f64
    }
}

/// Where free space stands against the thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Below,
    Warning,
    Ok,
}

/// The level of one filesystem: under either threshold is `Below`; under either times
/// `factor` is `Warning`.
pub fn level(space: Space, min_bytes: u64, min_percent: f64, factor: f64) -> Level {
    let under = |f: f64| {
        (space.free_bytes as f64) < min_bytes as f64 * f || space.free_percent() < min_percent * f
    };
    if under(1.0) {
        Level::Below
    } else if under(factor.max(1.0)) {
        Level::Warning
    } else {
        Level::Ok
    }
}

/// `statvfs` of the filesystem holding `path` (or its nearest existing ancestor).
pub fn statvfs(path: &Path) -> Result<Space> {
    let mut p = path.to_path_buf();
    while !p.exists() {
        match p.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => p = parent.to_path_buf(),
            _ => {
                p = PathBuf::from(".");
                break;
            }
        }
    }
    let c = CString::new(p.as_os_str().as_bytes())
        .with_context(|| format!("path {} contains a NUL byte", p.display()))?;
    // SAFETY: `c` is a valid NUL-terminated path and `s` a properly sized, writable struct.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut s) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("statvfs {}", p.display()));
    }
    let frsize = s.f_frsize as u64;
    Ok(Space {
        free_bytes: s.f_bavail as u64 * frsize,
        total_bytes: s.f_blocks as u64 * frsize,
    })
}

/// One measurement of both watched filesystems.
#[derive(Debug, Clone, Copy)]
pub(super) struct Measure {
    pub(super) level: Level,
    /// Free bytes of the filesystem nearest to (or furthest under) its threshold.
    pub(super) free_bytes: u64,
    pub(super) free_percent: f64,
}

pub(super) struct Guard<'a> {
    pub(super) settings: &'a Settings,
    pub(super) db: PathBuf,
    pub(super) archive_dir: PathBuf,
}

impl Guard<'_> {
    pub(super) fn measure(&self) -> Result<Measure> {
        let c = &self.settings.cleanup;
        let mut out: Option<Measure> = None;
        for path in [self.db.as_path(), self.archive_dir.as_path()] {
            let space = statvfs(path)?;
            let lvl = level(
                space,
                c.min_free_bytes,
                c.min_free_percent,
                c.warning_factor,
            );
            let m = Measure {
                level: lvl,
                free_bytes: space.free_bytes,
                free_percent: (space.free_percent() * 100.0).round() / 100.0,
            };
            out = Some(match out {
                Some(o) if (o.level, o.free_bytes) <= (m.level, m.free_bytes) => o,
                _ => m,
            });
        }
        Ok(out.expect("two paths measured"))
    }

    pub(super) fn archive_bytes(&self) -> u64 {
        std::fs::read_dir(&self.archive_dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.metadata().ok())
                    .filter(|m| m.is_file())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }
}

/// The ballast file beside the database (see `cleanup.reserve_bytes`).
pub fn reserve_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".reserve");
    PathBuf::from(p)
}

/// Deletes the reserve file; returns how many bytes it held (0 when there was none).
pub(super) fn release_reserve(db: &Path) -> Result<u64> {
    let path = reserve_path(db);
    let Ok(meta) = std::fs::metadata(&path) else {
        return Ok(0);
    };
    remove_and_sync(&path)?;
    tracing::warn!(
        bytes = meta.len(),
        "released the reserve file to give SQLite room"
    );
    Ok(meta.len())
}

/// Creates the reserve file (really allocated, not sparse) when it is missing and the space
/// allows it without coming near the warning level.
pub(super) fn ensure_reserve(guard: &Guard<'_>) -> Result<()> {
    let c = &guard.settings.cleanup;
    let path = reserve_path(&guard.db);
    if c.reserve_bytes == 0 || path.exists() {
        return Ok(());
    }
    let space = statvfs(&guard.db)?;
    let after = Space {
        free_bytes: space.free_bytes.saturating_sub(c.reserve_bytes),
        ..space
    };
    if level(
        after,
        c.min_free_bytes,
        c.min_free_percent,
        c.warning_factor,
    ) != Level::Ok
    {
        return Ok(());
    }
    let tmp = path.with_extension("reserve.tmp");
    let file = std::fs::File::create(&tmp)?;
    use std::os::fd::AsRawFd;
    // SAFETY: a valid open file descriptor; posix_fallocate only allocates blocks for it.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, c.reserve_bytes as libc::off_t) };
    if rc != 0 {
        drop(file);
        let _ = std::fs::remove_file(&tmp);
        anyhow::bail!(
            "allocating {} bytes for {}: error {rc}",
            c.reserve_bytes,
            path.display()
        );
    }
    file.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    tracing::info!(bytes = c.reserve_bytes, path = %path.display(), "created the reserve file");
    Ok(())
}

pub(super) fn remove_and_sync(path: &Path) -> Result<()> {
    std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        let gib = 1u64 << 30;
        let cases = [
            // free, total, min_bytes, min_percent, factor, expected
            (10 * gib, 100 * gib, gib, 5.0, 1.5, Level::Ok),
            (gib / 2, 100 * gib, gib, 5.0, 1.5, Level::Below),
            (gib + gib / 4, 100 * gib, gib, 1.0, 1.5, Level::Warning),
            (4 * gib, 100 * gib, gib, 5.0, 1.5, Level::Below),
            (6 * gib, 100 * gib, gib, 5.0, 1.5, Level::Warning),
            (8 * gib, 100 * gib, gib, 5.0, 1.5, Level::Ok),
            (6 * gib, 100 * gib, gib, 5.0, 1.0, Level::Ok),
            (0, 0, 0, 0.0, 1.5, Level::Ok),
        ];
        for (free, total, min_bytes, min_percent, factor, want) in cases {
            let space = Space {
                free_bytes: free,
                total_bytes: total,
            };
            assert_eq!(
                level(space, min_bytes, min_percent, factor),
                want,
                "{free}/{total} min {min_bytes} {min_percent}% ×{factor}"
            );
        }
    }

    #[test]
    fn statvfs_reports_space() {
        let dir = tempfile::tempdir().unwrap();
        let s = statvfs(&dir.path().join("missing/child")).unwrap();
        assert!(s.total_bytes > 0 && s.free_bytes <= s.total_bytes);
    }
}
