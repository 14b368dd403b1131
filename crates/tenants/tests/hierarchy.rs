//! Get Hierarchy against the Partner Center emulator, on both backends: the snapshot holds
//! exactly the emulator's world under faults, resellers and attribution included; revoked
//! consent keeps the previous snapshot; a worker that dies is followed by another; a tenant
//! Partner Center does not know is said so.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_domain::{MarketplaceKind, Slug};
use ferry_emulators::Faults;
use ferry_emulators::partner_center::{Emulator, Options};
use ferry_jobs::{Worker, WorkerConfig};
use ferry_storage::seal::Sealer;
use ferry_storage::{HierarchyRun, NewInstance, NewMarketplace, RunStart, RunState, Store};
use ferry_tenants::hierarchy::unknown_tenant;
use ferry_tenants::{Clients, GetHierarchy, HierarchyEnv, Scope, Visible, get_hierarchy};
use serde_json::Value;

ferry_storage::on_both_backends!(open =>
    a_retrieval_stores_the_emulators_world_exactly,
    revoked_consent_keeps_the_previous_snapshot,
    a_killed_worker_is_followed_by_another,
    one_tenant_is_found_by_id_or_domain_or_said_unknown,
);

async fn open(url: &str) -> Arc<dyn Store> {
    let store = ferry_storage::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
}

struct Setup {
    store: Arc<dyn Store>,
    marketplace_id: i64,
    instance: Visible,
    emulator: Emulator,
    base: String,
    clients: Clients,
}

fn sealer() -> Sealer {
    Sealer::from_hex(&"5e".repeat(32)).expect("key")
}

async fn setup(store: Arc<dyn Store>, options: Options) -> Setup {
    ferry_integrations::install_tls();
    let emulator = Emulator::new(options);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(ferry_emulators::serve(
        listener,
        emulator.router(),
        std::future::pending(),
    ));
    let marketplace = store
        .create_marketplace(&NewMarketplace {
            slug: Slug::parse("dist").expect("slug"),
            name: "Distributor".into(),
            kind: MarketplaceKind::Distributor,
            parent_id: None,
        })
        .await
        .expect("marketplace");
    let credentials = emulator.credentials();
    let sealer = sealer();
    store
        .create_instance(
            marketplace.id,
            &NewInstance {
                name: "Emulated".into(),
                model: "both".into(),
                partner_tenant_id: credentials.partner_tenant_id.clone(),
                application_id: credentials.client_id.clone(),
                secret_encrypted: Some(sealer.seal(&credentials.client_secret)),
                refresh_token_encrypted: Some(sealer.seal(&credentials.refresh_token)),
                mpn_id: None,
                api_base_url: base.clone(),
                login_base_url: base.clone(),
            },
        )
        .await
        .expect("instance");
    let instance = ferry_tenants::instances::visible(&*store, &marketplace)
        .await
        .expect("instances")
        .pop()
        .expect("the instance");
    Setup {
        store,
        marketplace_id: marketplace.id,
        instance,
        emulator,
        base,
        clients: Clients::default(),
    }
}

impl Setup {
    async fn start(&self, scope: Scope) -> HierarchyRun {
        match get_hierarchy(
            &*self.store,
            self.marketplace_id,
            &self.instance,
            &scope,
            "user:1",
        )
        .await
        .expect("start")
        {
            RunStart::Started(run) => run,
            RunStart::AlreadyRunning(run) => panic!("run {} is running", run.id),
        }
    }

    fn worker(&self, lease: Duration) -> Worker {
        let config = WorkerConfig {
            lease,
            poll_interval: Duration::from_millis(50),
        };
        Worker::new(format!("w{}", rand_suffix()), self.store.clone(), config)
            .with_job::<GetHierarchy>(HierarchyEnv {
                sealer: sealer(),
                clients: self.clients.clone(),
            })
    }

    /// Runs queued jobs until none is left; the run as it ended.
    async fn finish(&self, run: &HierarchyRun) -> HierarchyRun {
        let worker = self.worker(Duration::from_secs(30));
        while worker.run_next().await.expect("run") {}
        self.store
            .hierarchy_run(run.id)
            .await
            .expect("read")
            .expect("run")
    }

    async fn admin(&self, path: &str) {
        reqwest::Client::new()
            .post(format!("{}/_admin{path}", self.base))
            .send()
            .await
            .expect("admin");
    }

    /// The emulator's world as the snapshot should hold it.
    fn expected(&self) -> World {
        let dump: Value = serde_json::from_str(&self.emulator.world_json()).expect("dump");
        let lower = |v: &Value| v.as_str().map(str::to_ascii_lowercase);
        let mut world = World::default();
        for r in dump["resellers"].as_array().expect("resellers") {
            world.resellers.insert(
                lower(&r["id"]).expect("id"),
                (
                    r["name"].as_str().map(str::to_owned),
                    r["mpnId"].as_str().map(str::to_owned),
                ),
            );
        }
        for c in dump["customers"].as_array().expect("customers") {
            let id = lower(&c["id"]).expect("id");
            world.tenants.insert(
                id.clone(),
                (
                    c["companyName"].as_str().expect("name").to_owned(),
                    c["domain"].as_str().map(str::to_owned),
                    lower(&c["associatedPartnerId"]),
                    c["billingProfile"]["email"].as_str().map(str::to_owned),
                ),
            );
            for s in c["subscriptions"].as_array().expect("subscriptions") {
                let partner = s["partnerId"].as_str().filter(|p| !p.is_empty());
                world.subscriptions.insert(
                    (id.clone(), lower(&s["id"]).expect("id")),
                    (
                        s["offerId"].as_str().map(str::to_owned),
                        s["quantity"].as_i64(),
                        s["status"].as_str().map(str::to_ascii_lowercase),
                        partner.map(str::to_owned),
                    ),
                );
            }
        }
        world
    }

    /// What the instance's current snapshot holds, in the same shape.
    async fn stored(&self) -> World {
        let instance = self.instance.record.summary.id;
        let state = self.store.hierarchy_state(instance).await.expect("state");
        let snapshot = state.snapshot.expect("a snapshot");
        let mut world = World::default();
        for r in self
            .store
            .snapshot_resellers(snapshot)
            .await
            .expect("resellers")
        {
            world.resellers.insert(r.tenant_id, (r.name, r.mpn_id));
        }
        let mut after: Option<String> = None;
        loop {
            let page = self
                .store
                .snapshot_tenants(snapshot, after.as_deref(), 500)
                .await
                .expect("tenants");
            let Some(last) = page.last() else { break };
            after = Some(last.tenant_id.clone());
            let ids: Vec<String> = page.iter().map(|t| t.tenant_id.clone()).collect();
            for t in page {
                assert!(t.details_fetched, "{} has its details", t.tenant_id);
                let email = t
                    .billing
                    .as_ref()
                    .and_then(|b| b["email"].as_str().map(str::to_owned));
                world
                    .tenants
                    .insert(t.tenant_id, (t.name, t.domain, t.reseller_tenant_id, email));
            }
            for s in self
                .store
                .snapshot_subscriptions(snapshot, &ids)
                .await
                .expect("subscriptions")
            {
                let sub = s.subscription;
                world.subscriptions.insert(
                    (s.tenant_id, sub.subscription_id),
                    (sub.offer_id, sub.quantity, sub.status, sub.reseller_mpn_id),
                );
            }
        }
        world
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()))
}

type Tenant = (String, Option<String>, Option<String>, Option<String>);
type Sub = (Option<String>, Option<i64>, Option<String>, Option<String>);

#[derive(Debug, Default, PartialEq)]
struct World {
    resellers: BTreeMap<String, (Option<String>, Option<String>)>,
    tenants: BTreeMap<String, Tenant>,
    subscriptions: BTreeMap<(String, String), Sub>,
}

fn faulty(customers: usize) -> Options {
    Options {
        seed: 7,
        customers,
        resellers: 4,
        faults: Faults {
            latency_ms: 0,
            jitter_ms: 2,
            throttle_per_minute: None,
            customer_throttle_per_minute: None,
            fault_5xx_rate: 0.05,
            bom: true,
            next_links_without_v1: true,
            mixed_case_enums: true,
        },
        token_lifetime_s: 60,
        ..Options::default()
    }
}

async fn a_retrieval_stores_the_emulators_world_exactly(store: Arc<dyn Store>) {
    let setup = setup(store, faulty(300)).await;
    let run = setup.start(Scope::Mass).await;
    let done = setup.finish(&run).await;
    assert_eq!(done.state, RunState::Completed, "{:?}", done.error);
    let expected = setup.expected();
    let stored = setup.stored().await;
    assert_eq!(stored, expected);
    assert_eq!(
        expected.resellers.len(),
        4,
        "the reseller with no customer is listed too"
    );
    assert!(
        expected.tenants.values().any(|t| t.2.is_some())
            && expected.tenants.values().any(|t| t.2.is_none()),
        "direct and indirect tenants"
    );
    let summary = done.summary.expect("summary");
    assert_eq!(summary.tenants, 300);
    assert!(!summary.compared);
    assert_eq!(done.lacks, None, "an App+User instance reads everything");
}

async fn revoked_consent_keeps_the_previous_snapshot(store: Arc<dyn Store>) {
    let setup = setup(store, faulty(40)).await;
    let first = setup.start(Scope::Mass).await;
    assert_eq!(setup.finish(&first).await.state, RunState::Completed);
    let before = setup.stored().await;

    setup.admin("/tokens/revoke-refresh-tokens").await;
    setup.admin("/tokens/expire-access-tokens").await;
    let second = setup.start(Scope::Mass).await;
    let failed = setup.finish(&second).await;
    assert_eq!(failed.state, RunState::Failed);
    let error = failed.error.unwrap_or_default();
    assert!(error.contains("needs a new consent"), "{error}");
    let instance = setup.instance.record.summary.id;
    let state = setup.store.hierarchy_state(instance).await.expect("state");
    assert_eq!(
        state.snapshot,
        Some(first.id),
        "the previous snapshot stays"
    );
    assert_eq!(setup.stored().await, before);
}

async fn a_killed_worker_is_followed_by_another(store: Arc<dyn Store>) {
    let mut options = faulty(600);
    options.faults.latency_ms = 5;
    let setup = setup(store, options).await;
    let run = setup.start(Scope::Mass).await;
    let first = setup.worker(Duration::from_secs(1));
    let dying = tokio::spawn(async move { first.run_next().await });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let counts = setup
            .store
            .snapshot_counts(run.snapshot)
            .await
            .expect("counts");
        if counts.detailed > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first worker never got going"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    dying.abort();
    let _ = dying.await;
    let stopped = setup
        .store
        .hierarchy_run(run.id)
        .await
        .expect("read")
        .expect("run");
    assert_eq!(
        stopped.state,
        RunState::Running,
        "killed midway, not finished"
    );
    // The lease lapses; the next worker carries on from the stored rows.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let second = setup.worker(Duration::from_secs(30));
    while second.run_next().await.expect("run") {}
    let done = setup
        .store
        .hierarchy_run(run.id)
        .await
        .expect("read")
        .expect("run");
    assert_eq!(done.state, RunState::Completed, "{:?}", done.error);
    assert_eq!(setup.stored().await, setup.expected());
}

async fn one_tenant_is_found_by_id_or_domain_or_said_unknown(store: Arc<dyn Store>) {
    let setup = setup(store, faulty(20)).await;
    let world = setup.expected();
    let (id, (name, domain, ..)) = world.tenants.iter().next().expect("a tenant");
    let domain = domain.clone().expect("a domain");

    let by_domain = setup.start(Scope::Domain(domain.to_uppercase())).await;
    let done = setup.finish(&by_domain).await;
    assert_eq!(done.state, RunState::Completed, "{:?}", done.error);
    let snapshot = setup
        .store
        .hierarchy_state(setup.instance.record.summary.id)
        .await
        .expect("state");
    assert_eq!(snapshot.snapshot, Some(by_domain.id));
    assert_eq!(
        snapshot.last_update, None,
        "Last Update is a mass retrieval's"
    );
    let tenants = setup
        .store
        .snapshot_tenants(by_domain.id, None, 10)
        .await
        .expect("tenants");
    assert_eq!(
        tenants
            .iter()
            .map(|t| (&t.tenant_id, &t.name))
            .collect::<Vec<_>>(),
        [(id, name)]
    );

    let by_id = setup.start(Scope::TenantId(id.to_uppercase())).await;
    assert_eq!(
        by_id.snapshot, by_domain.id,
        "refreshes the current snapshot"
    );
    assert_eq!(setup.finish(&by_id).await.state, RunState::Completed);

    let nobody = "00000000-0000-4000-8000-000000000000";
    let unknown = setup.start(Scope::TenantId(nobody.into())).await;
    let failed = setup.finish(&unknown).await;
    assert_eq!(failed.state, RunState::Failed);
    assert_eq!(
        failed.error.as_deref(),
        Some(unknown_tenant(nobody).as_str())
    );
    let unknown = setup
        .start(Scope::Domain("nobody.onmicrosoft.com".into()))
        .await;
    let failed = setup.finish(&unknown).await;
    assert_eq!(
        failed.error.as_deref(),
        Some("The Microsoft Tenant with ID 'nobody.onmicrosoft.com' does not exist.")
    );
}
