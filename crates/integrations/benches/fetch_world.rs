//! How close the Partner Center client comes to the floor a throttle allows: it fetches every
//! customer, billing profile and subscription of an emulated world under a known partner-wide
//! throttle, and prints the elapsed time next to (calls needed ÷ allowed rate).
//!
//!     cargo bench -p ferry-integrations --bench fetch_world
//!
//! `FERRY_BENCH_CUSTOMERS` (default 20,000) and `FERRY_BENCH_RATE` (calls a minute, default
//! 30,000) change the world and the throttle. Answers take 0–2 ms, so the client's two requests
//! in flight per key could carry more than the throttle allows: the throttle is what limits.

use std::sync::Arc;
use std::time::Instant;

use ferry_emulators::Faults;
use ferry_emulators::partner_center::{Emulator, Options};
use ferry_integrations::partner_center::{
    Client, MemoryTokenStore, Secret, Settings, TokenEndpoint,
};

#[tokio::main]
async fn main() {
    let customers: usize = env_number("FERRY_BENCH_CUSTOMERS", 20_000);
    let per_minute: u32 = env_number("FERRY_BENCH_RATE", 30_000);
    let faults = Faults {
        jitter_ms: 2,
        throttle_per_minute: Some(per_minute),
        ..Faults::default()
    };
    let emulator = Emulator::new(Options {
        seed: 7,
        customers,
        resellers: 8,
        faults,
        ..Options::default()
    });
    let credentials = emulator.credentials();
    let base = emulator.serve_locally().await.expect("the emulator");
    let settings = Settings {
        api_base_url: base.clone(),
        login_base_url: base.clone(),
        tenant_id: credentials.partner_tenant_id,
        application_id: credentials.client_id,
        secret: Secret::new(credentials.client_secret),
        token_endpoint: TokenEndpoint::V2,
    };
    let client =
        Arc::new(Client::new(settings, Arc::new(MemoryTokenStore::new(None))).expect("client"));

    let started = Instant::now();
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut pager = client.customers(None);
    while let Some(page) = pager.next_page().await.expect("page") {
        pages += 1;
        ids.extend(page.into_iter().map(|c| c.id));
    }
    let gate = Arc::new(tokio::sync::Semaphore::new(32));
    let mut tasks = tokio::task::JoinSet::new();
    for id in &ids {
        let (client, gate, id) = (client.clone(), gate.clone(), id.clone());
        tasks.spawn(async move {
            let _slot = gate.acquire().await.expect("gate");
            client.customer(&id).await.expect("customer");
            client.billing_profile(&id).await.expect("billing");
            client.subscriptions(&id).await.expect("subscriptions");
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let calls = pages + 3 * ids.len();
    let floor = calls as f64 / (f64::from(per_minute) / 60.0);
    let stats: serde_json::Value = reqwest::get(format!("{base}/_admin/stats"))
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    println!(
        "\nPartner Center client, {} customers, throttle {per_minute} calls a minute",
        ids.len()
    );
    println!("{:<36} {calls:>10}", "calls needed");
    println!("{:<36} {:>10}", "429 answers", stats["throttled"]);
    println!(
        "{:<36} {:>10}",
        "most 429s in a row, one call", stats["max_consecutive_429_per_call"]
    );
    println!(
        "{:<36} {:>10}",
        "most 429s in a row, one key", stats["max_consecutive_429"]
    );
    println!("{:<36} {elapsed:>10.1} s", "elapsed");
    println!("{:<36} {floor:>10.1} s", "floor (calls ÷ allowed rate)");
    println!(
        "{:<36} {:>10.3}   (target <= 1.15)",
        "ratio",
        elapsed / floor
    );
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
