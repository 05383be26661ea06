//! Helpers the benchmarks share (each bench is a crate of its own and says `mod common;`):
//! the row count from the command line, peak memory, and the integration tests' database
//! fixtures (`tests/common/fixtures.rs`).

#![allow(dead_code)]

#[path = "../tests/common/fixtures.rs"]
pub mod fixtures;

/// N: the first numeric argument, else `POLYPERF_BENCH_ROWS`, else `default`.
pub fn rows(default: usize) -> usize {
    std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .or_else(|| std::env::var("POLYPERF_BENCH_ROWS").ok()?.parse().ok())
        .unwrap_or(default)
}

/// A `/proc/self/status` figure in KiB (`VmRSS:`, `VmHWM:`), 0 when unknown.
pub fn vm_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Resets the peak-RSS counter (Linux >= 4.0: writing 5 to clear_refs sets VmHWM to the current
/// RSS), so each phase reports its own peak.
pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
