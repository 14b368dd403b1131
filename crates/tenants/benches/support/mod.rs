//! What the tenant benchmarks share: their sizes from the environment, the backends to run on,
//! the marketplace they run in, and the process's memory as `/proc/self/status` gives it.

#![allow(dead_code)]

use std::sync::Arc;

use ferry_domain::{MarketplaceKind, Slug};
use ferry_storage::{Marketplace, NewInstance, NewMarketplace, Store};

/// The distributor "bench" and an instance of it (`model`) whose addresses answer nothing:
/// benchmarks store what Get Hierarchy would have read.
pub async fn marketplace(store: &Arc<dyn Store>, model: &str) -> (Marketplace, i64) {
    let marketplace = store
        .create_marketplace(&NewMarketplace {
            slug: Slug::parse("bench").expect("slug"),
            name: "Bench".into(),
            kind: MarketplaceKind::Distributor,
            parent_id: None,
        })
        .await
        .expect("marketplace");
    let instance = store
        .create_instance(
            marketplace.id,
            &NewInstance {
                name: "Bench".into(),
                model: model.into(),
                partner_tenant_id: "ffffffff-0000-4000-8000-000000000000".into(),
                application_id: "app".into(),
                secret_encrypted: None,
                refresh_token_encrypted: None,
                mpn_id: None,
                api_base_url: "http://127.0.0.1:9".into(),
                login_base_url: "http://127.0.0.1:9".into(),
            },
        )
        .await
        .expect("instance");
    (marketplace, instance)
}

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
