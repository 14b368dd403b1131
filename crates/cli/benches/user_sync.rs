//! User Sync end to end — every linked company's tenant users, active and deleted, read from
//! `ferry emulator partner-center` (its own process) behind a known partner-wide throttle and
//! written into the marketplace — and how close that comes to the floor the throttle allows
//! (calls needed ÷ allowed rate), with the peak resident size of this process (Ferry's side)
//! during the run.
//!
//!     cargo bench -p ferry-cli --bench user_sync
//!
//! `FERRY_BENCH_TENANTS` (default 5,000 linked tenants of 10 to 50 users each) and
//! `FERRY_BENCH_RATE` (calls a minute, default 30,000) change the world and the throttle.
//! `FERRY_TEST_POSTGRES_URL` stores the users in PostgreSQL instead of SQLite.

use std::process::{Command, Stdio};
use std::time::Instant;

use ferry_domain::{NewCompany, Origin, TenantLink, UserStatus};
use ferry_jobs::{BackgroundJob, Worker, WorkerConfig};
use ferry_storage::{SyncSettings, UserQuery};
use ferry_tenants::users::UserSync;
use ferry_tenants::{Clients, HierarchyEnv};
use serde_json::Value;

mod support;

use support::{
    env_number, marketplace_on_emulator, peak_rss_mb, read_banner, reset_peak_rss, sealer,
};

#[tokio::main]
async fn main() {
    ferry_integrations::install_tls();
    let tenants = env_number("FERRY_BENCH_TENANTS", 5_000);
    let rate = env_number("FERRY_BENCH_RATE", 30_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let url = match std::env::var("FERRY_TEST_POSTGRES_URL") {
        Ok(_) => ferry_storage::testing::postgres_url().await,
        Err(_) => ferry_storage::testing::sqlite_url(dir.path()),
    };
    let store = ferry_storage::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");

    let mut emulator = Command::new(env!("CARGO_BIN_EXE_ferry"));
    emulator
        .args(["emulator", "partner-center", "--listen", "127.0.0.1:0"])
        .args(["--seed", "11", "--customers", &tenants.to_string()])
        .args(["--resellers", "4", "--users-min", "10", "--users-max", "50"])
        .args([
            "--jitter-ms",
            "2",
            "--throttle-per-minute",
            &rate.to_string(),
        ])
        .env("FERRY_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = emulator.spawn().expect("start the emulator");
    let printed = read_banner(&mut child);
    let base = printed("base_url");

    let (marketplace, instance) = marketplace_on_emulator(&store, "bench", &printed).await;
    let m = marketplace.id;

    // Every tenant of the world linked to a company of its own.
    let world: Value = reqwest::get(format!("{base}/_admin/world"))
        .await
        .expect("world")
        .json()
        .await
        .expect("json");
    let ids: Vec<String> = world["customers"]
        .as_array()
        .expect("customers")
        .iter()
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .collect();
    let companies: Vec<NewCompany> = (0..ids.len())
        .map(|n| NewCompany {
            external_id: Some(format!("T-{n:05}")),
            ..NewCompany::named(format!("Tenant {n}"), Origin::Manual)
        })
        .collect();
    store
        .insert_companies(m, &companies)
        .await
        .expect("companies");
    for (n, tenant_id) in ids.iter().enumerate() {
        let company = store
            .company_by_external_id(m, &format!("T-{n:05}"))
            .await
            .expect("read")
            .expect("company");
        let link = TenantLink {
            instance_id: instance,
            tenant_id: tenant_id.clone(),
            domain_prefix: None,
            reseller_mpn_id: None,
        };
        store.link_tenant(m, company.id, &link).await.expect("link");
    }
    let settings = SyncSettings {
        user_sync_partner_center: true,
        ..SyncSettings::default()
    };
    store
        .set_sync_settings(m, &settings, "bench")
        .await
        .expect("settings");
    reqwest::Client::new()
        .post(format!("{base}/_admin/stats/reset"))
        .send()
        .await
        .expect("reset the emulator's counters");

    let worker = Worker::new("bench".into(), store.clone(), WorkerConfig::default())
        .with_job::<UserSync>(HierarchyEnv {
            sealer: sealer(),
            clients: Clients::default(),
            google: Default::default(),
        });
    store
        .enqueue_job(&UserSync { marketplace_id: m }.new_job())
        .await
        .expect("queue");
    let rss_before = reset_peak_rss();
    let started = Instant::now();
    while worker.run_next().await.expect("run") {}
    let elapsed = started.elapsed();
    let peak = peak_rss_mb();
    let run = store.user_sync_runs(m, 1).await.expect("runs").remove(0);
    assert_eq!(run.state, "completed", "{:?}", run.error);
    assert!(run.notes.is_empty(), "{:?}", run.notes);

    let stats: Value = reqwest::get(format!("{base}/_admin/stats"))
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    let answered = |k: &str| stats[k].as_u64().unwrap_or(0);
    let needed = answered("total") - answered("throttled") - answered("server_errors");
    let floor = needed as f64 / (rate as f64 / 60.0);
    let mut users = 0;
    let mut suspended = 0;
    let mut query = UserQuery {
        origin: Some("sync".into()),
        limit: 5_000,
        ..UserQuery::default()
    };
    loop {
        let page = store.users(m, &query).await.expect("users");
        let Some(last) = page.last() else { break };
        query.after = Some(last.email.to_string());
        users += page.len();
        suspended += page
            .iter()
            .filter(|u| u.status == UserStatus::Suspended)
            .count();
    }
    println!(
        "\nUser Sync on {}: {} tenants, {} users ({} of them deleted at the source, suspended)",
        store.backend().name(),
        ids.len(),
        users,
        suspended
    );
    println!(
        "{needed} calls at {rate} a minute: elapsed {:.1} s, floor {floor:.1} s, ratio {:.3} \
         (target ≤ 1.15); {} answered 429",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() / floor,
        answered("throttled")
    );
    println!(
        "created {}, suspended {}; peak resident memory during the run {:.0} MB (+{:.0} MB)",
        run.counts.created,
        run.counts.suspended,
        peak,
        peak - rss_before
    );
    child.kill().expect("stop the emulator");
    child.wait().expect("reap");
}
