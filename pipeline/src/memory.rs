//! The process's memory as `/proc/self/status` reports it, for every program's figures. (Here,
//! in the crate every other one depends on, so that a program that never runs libtorch does not
//! link the trainer, and with it libtorch, to read its own RSS.)

/// A `/proc/self/status` field in kB (`VmHWM:`, `VmRSS:`, `RssAnon:`, `RssFile:`), as bytes;
/// 0 where the file or field is missing.
pub fn status_bytes(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .map_or(0, |kb: u64| kb * 1024)
}

/// Peak resident memory of this process (`VmHWM`), bytes.
pub fn peak_rss_bytes() -> u64 {
    status_bytes("VmHWM:")
}

/// Current resident memory (`VmRSS`), bytes.
pub fn rss_bytes() -> u64 {
    status_bytes("VmRSS:")
}
