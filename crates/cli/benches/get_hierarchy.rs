//! Get Hierarchy end to end — listing, resellers, every customer in full with its
//! subscriptions, storing the snapshot and auditing it — against `ferry emulator partner-center`
//! (its own process) behind a known partner-wide throttle, and how close that comes to the
//! floor the throttle allows (calls needed ÷ allowed rate). Then the same at a larger world
//! without the throttle, for memory: the peak resident size of this process (Ferry's side) is
//! printed after each.
//!
//!     cargo bench -p ferry-cli --bench get_hierarchy
//!
//! `FERRY_BENCH_CUSTOMERS` (default 20,000), `FERRY_BENCH_RATE` (calls a minute, default
//! 30,000) and `FERRY_BENCH_LARGE` (default 100,000) change the worlds and the throttle.
//! `FERRY_TEST_POSTGRES_URL` stores the snapshots in PostgreSQL instead of SQLite.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use ferry_jobs::{Worker, WorkerConfig};
use ferry_storage::{RunStart, RunState, Store};
use ferry_tenants::{Clients, GetHierarchy, HierarchyEnv, Scope, get_hierarchy};
use serde_json::Value;

mod support;

use support::{env_number, marketplace_on_emulator, peak_rss_mb, read_banner, sealer};

#[tokio::main]
async fn main() {
    ferry_integrations::install_tls();
    let customers = env_number("FERRY_BENCH_CUSTOMERS", 20_000);
    let rate = env_number("FERRY_BENCH_RATE", 30_000);
    let large = env_number("FERRY_BENCH_LARGE", 100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let url = match std::env::var("FERRY_TEST_POSTGRES_URL") {
        Ok(_) => ferry_storage::testing::postgres_url().await,
        Err(_) => ferry_storage::testing::sqlite_url(dir.path()),
    };
    let store = ferry_storage::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    println!("\nGet Hierarchy on {}", store.backend().name());
    println!(
        "{:<34} {:>10} {:>10} {:>8} {:>7} {:>10}",
        "world", "elapsed", "floor", "ratio", "429s", "peak RSS"
    );
    run(&store, "throttled", customers, Some(rate)).await;
    run(&store, "unthrottled", customers, None).await;
    run(&store, "unthrottled", large, None).await;
}

async fn run(store: &Arc<dyn Store>, label: &str, customers: u64, rate: Option<u64>) {
    let mut emulator = Command::new(env!("CARGO_BIN_EXE_ferry"));
    emulator
        .args([
            "emulator",
            "partner-center",
            "--listen",
            "127.0.0.1:0",
            "--seed",
            "7",
        ])
        .args([
            "--customers",
            &customers.to_string(),
            "--resellers",
            "8",
            "--jitter-ms",
            "2",
        ])
        .env("FERRY_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(rate) = rate {
        emulator.args(["--throttle-per-minute", &rate.to_string()]);
    }
    let mut child = emulator.spawn().expect("start the emulator");
    let printed = read_banner(&mut child);
    let base = printed("base_url");
    let slug = format!("bench-{customers}-{}", rate.unwrap_or(0));
    let (marketplace, _) = marketplace_on_emulator(store, &slug, &printed).await;
    let instance = ferry_tenants::instances::visible(&**store, &marketplace)
        .await
        .expect("instances")
        .pop()
        .expect("the instance");
    let worker = Worker::new("bench".into(), store.clone(), WorkerConfig::default())
        .with_job::<GetHierarchy>(HierarchyEnv {
            sealer: sealer(),
            clients: Clients::default(),
            google: Default::default(),
        });

    let started = Instant::now();
    let RunStart::Started(run) =
        get_hierarchy(&**store, marketplace.id, &instance, &Scope::Mass, "bench")
            .await
            .expect("start")
    else {
        panic!("a retrieval was running");
    };
    while worker.run_next().await.expect("run") {}
    let elapsed = started.elapsed();
    let done = store
        .hierarchy_run(run.id)
        .await
        .expect("read")
        .expect("run");
    assert_eq!(done.state, RunState::Completed, "{:?}", done.error);
    let summary = done.summary.expect("summary");
    assert_eq!(u64::try_from(summary.tenants).ok(), Some(customers));

    let stats: Value = reqwest::get(format!("{base}/_admin/stats"))
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    let answered = |k: &str| stats[k].as_u64().unwrap_or(0);
    let needed = answered("total") - answered("throttled") - answered("server_errors");
    let (floor, ratio) = match rate {
        Some(rate) => {
            let floor = needed as f64 / (rate as f64 / 60.0);
            (
                format!("{floor:.1} s"),
                format!("{:.3}", elapsed.as_secs_f64() / floor),
            )
        }
        None => ("—".to_owned(), "—".to_owned()),
    };
    println!(
        "{:<34} {:>8.1} s {floor:>10} {ratio:>8} {:>7} {:>7.0} MB",
        format!("{customers} customers, {label}"),
        elapsed.as_secs_f64(),
        answered("throttled"),
        peak_rss_mb()
    );
    println!(
        "{:<34} {} calls; {} resellers, {} tenants, {} subscriptions stored and audited",
        "", needed, summary.resellers, summary.tenants, summary.subscriptions
    );
    child.kill().expect("stop the emulator");
    child.wait().expect("reap");
}
