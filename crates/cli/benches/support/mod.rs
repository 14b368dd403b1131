//! What the benchmarks against the emulator's own process share: its banner, a marketplace
//! with an instance on it, sizes from the environment, and this process's memory as
//! `/proc/self/status` gives it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::sync::Arc;

use ferry_domain::{MarketplaceKind, Slug};
use ferry_storage::seal::Sealer;
use ferry_storage::{Marketplace, NewInstance, NewMarketplace, Store};

/// The benchmarks' key for sealing the emulator's secrets.
pub fn sealer() -> Sealer {
    Sealer::from_hex(&"5e".repeat(32)).expect("key")
}

/// A distributor `slug` with an instance on the emulator whose banner is `printed`; answers
/// the marketplace and the instance's id.
pub async fn marketplace_on_emulator(
    store: &Arc<dyn Store>,
    slug: &str,
    printed: &impl Fn(&str) -> String,
) -> (Marketplace, i64) {
    let marketplace = store
        .create_marketplace(&NewMarketplace {
            slug: Slug::parse(slug).expect("slug"),
            name: slug.to_owned(),
            kind: MarketplaceKind::Distributor,
            parent_id: None,
        })
        .await
        .expect("marketplace");
    let sealer = sealer();
    let base = printed("base_url");
    let instance = store
        .create_instance(
            marketplace.id,
            &NewInstance {
                name: "Emulated".into(),
                model: "both".into(),
                partner_tenant_id: printed("partner_tenant_id"),
                application_id: printed("client_id"),
                secret_encrypted: Some(sealer.seal(&printed("client_secret"))),
                refresh_token_encrypted: Some(sealer.seal(&printed("refresh_token"))),
                mpn_id: None,
                api_base_url: base.clone(),
                login_base_url: base,
            },
        )
        .await
        .expect("instance");
    (marketplace, instance)
}

/// The `key: value` lines the emulator prints at start, up to its address.
pub fn read_banner(child: &mut Child) -> impl Fn(&str) -> String + use<> {
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut printed = std::collections::HashMap::new();
    for line in lines.by_ref() {
        let line = line.expect("line");
        if let Some((key, value)) = line.split_once(": ") {
            printed.insert(key.to_owned(), value.trim().to_owned());
        }
        if line.starts_with("base_url:") {
            break;
        }
    }
    // Keep reading so the emulator never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    move |key: &str| {
        printed
            .get(key)
            .cloned()
            .unwrap_or_else(|| panic!("no {key} printed"))
    }
}

/// A number from the environment variable `name`, or `default`.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Starts this process's peak resident size again from its current size, which it answers.
pub fn reset_peak_rss() -> f64 {
    std::fs::write("/proc/self/clear_refs", "5").expect("peak resident size reset (Linux)");
    status_mb("VmRSS:")
}

/// This process's peak resident size (since the last reset), in MB.
pub fn peak_rss_mb() -> f64 {
    status_mb("VmHWM:")
}

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
