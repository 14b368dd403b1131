//! What the tenant tests share: a distributor with an instance of the Partner Center emulator,
//! and a worker that runs Get Hierarchy, import, Company Sync and User Sync jobs.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use ferry_domain::{MarketplaceKind, Slug};
use ferry_emulators::partner_center::{Emulator, Options};
use ferry_jobs::{Worker, WorkerConfig};
use ferry_storage::seal::Sealer;
use ferry_storage::{HierarchyRun, NewInstance, NewMarketplace, RunStart, Store};
use ferry_tenants::sync::CompanySync;
use ferry_tenants::users::UserSync;
use ferry_tenants::{
    Clients, GetHierarchy, HierarchyEnv, ImportTenants, Scope, Visible, get_hierarchy,
};

pub async fn open(url: &str) -> Arc<dyn Store> {
    let store = ferry_storage::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
}

pub struct Setup {
    pub store: Arc<dyn Store>,
    pub marketplace_id: i64,
    pub instance: Visible,
    pub emulator: Emulator,
    pub base: String,
    pub clients: Clients,
}

pub fn sealer() -> Sealer {
    Sealer::from_hex(&"5e".repeat(32)).expect("key")
}

pub async fn setup(store: Arc<dyn Store>, options: Options) -> Setup {
    ferry_integrations::install_tls();
    let emulator = Emulator::new(options);
    let base = emulator.serve_locally().await.expect("the emulator");
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
    pub async fn start(&self, scope: Scope) -> HierarchyRun {
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

    /// Runs User Sync now, to its end; its run, completed.
    pub async fn run_user_sync(&self) -> ferry_storage::UserSyncRun {
        let now = ferry_tenants::users::sync_users_now(&*self.store, self.marketplace_id)
            .await
            .expect("sync now");
        let worker = self.worker(Duration::from_secs(30));
        while worker.run_next().await.expect("run") {}
        let run = self
            .store
            .user_sync_run_of_job(self.marketplace_id, now.job_id)
            .await
            .expect("read")
            .expect("a run");
        assert_eq!(run.state, "completed", "{:?}", run.error);
        run
    }

    pub fn worker(&self, lease: Duration) -> Worker {
        let config = WorkerConfig {
            lease,
            poll_interval: Duration::from_millis(50),
        };
        Worker::new(format!("w{}", rand_suffix()), self.store.clone(), config)
            .with_job::<GetHierarchy>(HierarchyEnv {
                sealer: sealer(),
                clients: self.clients.clone(),
                google: Default::default(),
            })
            .with_job::<ImportTenants>("http://ferry.test".to_owned())
            .with_job::<CompanySync>(HierarchyEnv {
                sealer: sealer(),
                clients: self.clients.clone(),
                google: Default::default(),
            })
            .with_job::<UserSync>(HierarchyEnv {
                sealer: sealer(),
                clients: self.clients.clone(),
                google: Default::default(),
            })
    }

    /// Runs queued jobs until none is left; the retrieval as it ended.
    pub async fn finish(&self, run: &HierarchyRun) -> HierarchyRun {
        let worker = self.worker(Duration::from_secs(30));
        while worker.run_next().await.expect("run") {}
        self.store
            .hierarchy_run(run.id)
            .await
            .expect("read")
            .expect("run")
    }

    pub async fn admin(&self, path: &str) {
        reqwest::Client::new()
            .post(format!("{}/_admin{path}", self.base))
            .send()
            .await
            .expect("admin");
    }
}

pub fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()))
}
