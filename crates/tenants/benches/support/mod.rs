//! What the tenant benchmarks share: their sizes from the environment, the backends to run on,
//! and the process's memory as `/proc/self/status` gives it.

#![allow(dead_code)]

/// A size from the environment variable `name`, or `default`.
pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// An SQLite database in `dir`, and a PostgreSQL one when `FERRY_TEST_POSTGRES_URL` is set.
pub async fn backends(dir: &std::path::Path) -> Vec<String> {
    let mut backends = vec![ferry_storage::testing::sqlite_url(dir)];
    if std::env::var("FERRY_TEST_POSTGRES_URL").is_ok() {
        backends.push(ferry_storage::testing::postgres_url().await);
    }
    backends
}

/// Starts this process's peak resident size again from its current size, which it answers.
pub fn reset_peak_rss() -> f64 {
    std::fs::write("/proc/self/clear_refs", "5").expect("peak resident size reset (Linux)");
    status_mb("VmRSS:")
}

/// This process's peak resident size since it was last reset, in MB.
pub fn peak_rss_mb() -> f64 {
    status_mb("VmHWM:")
}

/// A size `/proc/self/status` gives, in MB.
fn status_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
