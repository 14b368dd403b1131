//! Importing 20,000 tenants with 60,000 subscriptions from a stored snapshot, next to the
//! database's own bulk loader writing the same rows into the same tables: SQLite's `.import`
//! and PostgreSQL's `COPY` into temporary tables, then one `INSERT … SELECT` per table — the
//! fastest path each offers. Then the same selection imported again, which must write nothing.
//!
//!     cargo bench -p ferry-tenants --bench import            # SQLite
//!     FERRY_TEST_POSTGRES_URL=postgres://… cargo bench -p ferry-tenants --bench import
//!
//! `FERRY_BENCH_TENANTS` changes the number of tenants (three subscriptions each). The peak
//! resident size of this process during each import is printed with it.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_domain::{Connector, NewEdition, NewProduct, OfferId, PricingUnit};
use ferry_jobs::{Worker, WorkerConfig};
use ferry_storage::{
    NewHierarchyRun, RunScope, RunStart, Selection, SnapshotSubscription, SnapshotTenant, Store,
    TenantDetails,
};
use ferry_tenants::{ImportTenants, Visible};

mod support;

use support::{env_number, peak_rss_mb, reset_peak_rss};

/// The offers of the world, each mapped to an edition.
const OFFERS: [&str; 3] = [
    "CFQ7TTC0LH18:0001:CFQ7TTC0K971",
    "CFQ7TTC0LDPB:0001:CFQ7TTC0K8P5",
    "91FD106F-4B2C-4938-95AC-F54F74E9A239",
];
/// Tenants written to the snapshot at once.
const CHUNK: usize = 2_000;

#[tokio::main]
async fn main() {
    let tenants = env_number("FERRY_BENCH_TENANTS", 20_000);
    let dir = tempfile::tempdir().expect("temp dir");
    for side in ["ferry", "loader"] {
        std::fs::create_dir_all(dir.path().join(side)).expect("dir");
    }
    let mut backends = vec![(
        ferry_storage::testing::sqlite_url(&dir.path().join("ferry")),
        ferry_storage::testing::sqlite_url(&dir.path().join("loader")),
    )];
    if std::env::var("FERRY_TEST_POSTGRES_URL").is_ok() {
        backends.push((
            ferry_storage::testing::postgres_url().await,
            ferry_storage::testing::postgres_url().await,
        ));
    }
    for (ferry_url, loader_url) in backends {
        let store = open(&ferry_url).await;
        println!(
            "\nImport on {}: {tenants} tenants, {} subscriptions",
            store.backend().name(),
            tenants * 3
        );
        let world = World::seed(&store, tenants).await;
        let first = world.import(Selection::NotImported).await;
        println!(
            "{:<40} {:>8.1} s   ({} companies, {} subscriptions; peak RSS {})",
            "Ferry's import",
            first.seconds,
            first.written.0,
            first.written.1,
            first.memory()
        );
        let ids = world.tenant_ids().await;
        let again = world.import(Selection::Tenants(ids)).await;
        println!(
            "{:<40} {:>8.1} s   (wrote {}; peak RSS {})",
            "the same selection again",
            again.seconds,
            if again.written == first.written {
                "nothing"
            } else {
                "something!"
            },
            again.memory()
        );
        assert_eq!(
            again.written, first.written,
            "importing again writes nothing"
        );
        let ferry = first.seconds;
        let loader = load(&loader_url, dir.path(), tenants).await;
        println!(
            "{:<40} {loader:>8.1} s   ratio {:.2} (target ≤ 3)",
            format!("{}, the same rows", loader_name(&loader_url)),
            ferry / loader
        );
    }
}

async fn open(url: &str) -> Arc<dyn Store> {
    let store = ferry_storage::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
}

fn loader_name(url: &str) -> &'static str {
    if url.starts_with("sqlite") {
        "sqlite3 .import + INSERT … SELECT"
    } else {
        "COPY + INSERT … SELECT"
    }
}

/// The tenant `i` of the world.
fn tenant_id(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-{:012x}", i * 7_919)
}

fn subscription_id(i: usize, s: usize) -> String {
    format!("{i:08x}-{s:04x}-4000-8000-000000000001")
}

struct Seeded {
    marketplace_id: i64,
    instance_id: i64,
    editions: Vec<i64>,
}

/// The marketplace, its instance and its catalog, the same on both sides.
async fn seeded(store: &Arc<dyn Store>) -> Seeded {
    let (marketplace, instance_id) = support::marketplace(store, "direct").await;
    let m = marketplace.id;
    let product = store
        .create_product(
            m,
            &NewProduct {
                name: "Microsoft 365".into(),
                vendor: "Microsoft".into(),
            },
        )
        .await
        .expect("product");
    let mut editions = Vec::new();
    for (n, offer) in OFFERS.iter().enumerate() {
        editions.push(
            store
                .create_edition(
                    m,
                    &NewEdition {
                        product_id: product,
                        code: format!("E{n}"),
                        name: format!("Edition {n}"),
                        pricing_plan_id: format!("plan-{n}"),
                        channel_sku: None,
                        pricing_unit: PricingUnit::User,
                        included_units: 0,
                        billing_cycles: Vec::new(),
                        terms: Vec::new(),
                        connector: Connector::Microsoft,
                        offer_ids: vec![OfferId::parse(offer).expect("offer")],
                        active: true,
                    },
                )
                .await
                .expect("edition"),
        );
    }
    Seeded {
        marketplace_id: m,
        instance_id,
        editions,
    }
}

struct World {
    store: Arc<dyn Store>,
    seeded: Seeded,
    instance: Visible,
}

impl World {
    /// A snapshot of `tenants` direct customers, each with a billing profile and three active
    /// subscriptions, audited.
    async fn seed(store: &Arc<dyn Store>, tenants: usize) -> World {
        let seeded = seeded(store).await;
        let RunStart::Started(run) = store
            .start_hierarchy_run(&NewHierarchyRun {
                instance_id: seeded.instance_id,
                scope: RunScope::Mass,
                tenant: None,
                started_by: "bench",
            })
            .await
            .expect("start")
        else {
            panic!("a retrieval was running");
        };
        for chunk in (0..tenants).collect::<Vec<_>>().chunks(CHUNK) {
            let listed: Vec<SnapshotTenant> = chunk
                .iter()
                .map(|i| SnapshotTenant {
                    tenant_id: tenant_id(*i),
                    name: format!("Customer {i}"),
                    domain: Some(format!("customer{i}.onmicrosoft.com")),
                })
                .collect();
            store
                .store_tenants(run.snapshot, &listed)
                .await
                .expect("tenants");
            let details: Vec<TenantDetails> = chunk.iter().map(|i| details(*i)).collect();
            store
                .store_tenant_details(run.snapshot, &details)
                .await
                .expect("details");
        }
        store
            .complete_hierarchy_run(run.id, None)
            .await
            .expect("complete");
        let m = seeded.marketplace_id;
        ferry_tenants::audit::audit(&**store, m, seeded.instance_id, run.snapshot)
            .await
            .expect("audit");
        let marketplace = store
            .marketplace(m)
            .await
            .expect("read")
            .expect("marketplace");
        let instance = ferry_tenants::instances::visible(&**store, &marketplace)
            .await
            .expect("instances")
            .pop()
            .expect("the instance");
        World {
            store: store.clone(),
            seeded,
            instance,
        }
    }

    async fn tenant_ids(&self) -> Vec<String> {
        let snapshot = self
            .store
            .hierarchy_state(self.seeded.instance_id)
            .await
            .expect("state")
            .snapshot
            .expect("snapshot");
        self.store
            .snapshot_tenants(snapshot, None, i64::MAX)
            .await
            .expect("tenants")
            .into_iter()
            .map(|t| t.tenant_id)
            .collect()
    }

    /// Imports the selection to the end.
    async fn import(&self, selection: Selection) -> Imported {
        let rss_before_mb = reset_peak_rss();
        let started = Instant::now();
        ferry_tenants::start_import(
            &*self.store,
            self.seeded.marketplace_id,
            &self.instance,
            &selection,
            "bench",
            None,
            false,
        )
        .await
        .expect("start");
        let worker = Worker::new(
            "bench".into(),
            self.store.clone(),
            WorkerConfig {
                lease: Duration::from_secs(60),
                poll_interval: Duration::from_millis(10),
            },
        )
        .with_job::<ImportTenants>("http://ferry.test".to_owned());
        while worker.run_next().await.expect("run") {}
        let seconds = started.elapsed().as_secs_f64();
        let peak_rss_mb = peak_rss_mb();
        let linked = self
            .store
            .linked_companies(self.seeded.marketplace_id)
            .await
            .expect("linked");
        let subscriptions = linked.iter().map(|l| l.subscriptions.len()).sum();
        Imported {
            seconds,
            rss_before_mb,
            peak_rss_mb,
            written: (linked.len(), subscriptions),
        }
    }
}

fn details(i: usize) -> TenantDetails {
    TenantDetails {
        tenant_id: tenant_id(i),
        name: None,
        domain: None,
        reseller_tenant_id: None,
        email: None,
        billing: Some(serde_json::json!({
            "first_name": "Dana", "last_name": format!("Whitfield {i}"),
            "email": format!("billing@customer{i}.example"), "phone": "+1 303 555 0147",
            "address_line1": format!("{i} Glenarm Place"), "city": "Denver", "state": "CO",
            "postal_code": "80202", "country": "US", "culture": "en-US",
        })),
        custom_domains: Some(vec![format!("customer{i}.example")]),
        subscriptions: (0..3)
            .map(|s| SnapshotSubscription {
                subscription_id: subscription_id(i, s),
                offer_id: Some(OFFERS[s].into()),
                offer_name: Some(format!("Offer {s}")),
                product_type: (s < 2).then(|| "OnlineServicesNCE".into()),
                quantity: Some(5),
                status: Some("active".into()),
                billing_cycle: Some("monthly".into()),
                term: Some("P1Y".into()),
                auto_renew: Some(true),
                start_date: Some(format!(
                    "2025-{:02}-{:02}T00:00:00Z",
                    1 + i % 12,
                    1 + i % 28
                )),
                end_date: Some(format!(
                    "2026-{:02}-{:02}T00:00:00Z",
                    1 + i % 12,
                    1 + i % 28
                )),
                reseller_mpn_id: None,
                parent_subscription_id: None,
                cancellation_allowed_until: None,
                billing_cycle_end_date: None,
            })
            .collect(),
    }
}

/// One table the loader fills: its temporary table's columns (all text), and the statement
/// that moves the rows into place.
struct Load {
    name: &'static str,
    columns: &'static str,
    insert: String,
}

/// The loader's rows — the same companies, contacts, admin users, memberships, tenant links,
/// subscriptions and the run's results (each tenant's and each subscription's) the import
/// writes — into a fresh database with Ferry's schema; answers
/// the seconds the load took.
async fn load(url: &str, dir: &Path, tenants: usize) -> f64 {
    let store = open(url).await;
    let seeded = seeded(&store).await;
    drop(store);
    let (m, instance) = (seeded.marketplace_id, seeded.instance_id);
    let now = ferry_storage::now().millis();
    let today = ferry_storage::now().date();
    let loads =
        [
            Load {
                name: "companies",
                columns: "tenant_id, name, email, phone, street1, city, state, zip, country",
                // The tenant id rides in the external id, to find the company again.
                insert: format!(
                    "INSERT INTO companies (marketplace_id, external_id, name, email, phone,
                    billing_street1, billing_city, billing_state, billing_zip, billing_country,
                    country, status, origin_kind, origin_ref, created_at, updated_at)
                 SELECT {m}, tenant_id, name, email, phone, street1, city, state, zip, country,
                    country, 'pending', 'import', 1, {now}, {now} FROM load_companies"
                ),
            },
            Load {
                name: "contacts",
                columns: "tenant_id, kind, first_name, last_name, email, phone",
                insert: format!(
                    "INSERT INTO contacts (company_id, kind, first_name, last_name, email, phone)
                 SELECT c.id, l.kind, l.first_name, l.last_name, l.email, l.phone
                 FROM load_contacts l JOIN companies c
                    ON c.marketplace_id = {m} AND c.external_id = l.tenant_id"
                ),
            },
            Load {
                name: "users",
                columns: "tenant_id, email, first_name, last_name, phone, locale",
                insert: format!(
                "INSERT INTO users (marketplace_id, email, first_name, last_name, phone, locale,
                    status, origin_kind, origin_ref, created_at, updated_at)
                 SELECT {m}, email, first_name, last_name, phone, locale, 'created', 'import', 1,
                    {now}, {now} FROM load_users;
                 INSERT INTO memberships (user_id, company_id, company_admin)
                 SELECT u.id, c.id, TRUE FROM load_users l
                 JOIN users u ON u.marketplace_id = {m} AND u.email = l.email
                 JOIN companies c ON c.marketplace_id = {m} AND c.external_id = l.tenant_id"
            ),
            },
            Load {
                name: "links",
                columns: "tenant_id, domain_prefix",
                insert: format!(
                    "INSERT INTO tenant_links (marketplace_id, instance_id, company_id, tenant_id,
                    domain_prefix, created_at)
                 SELECT {m}, {instance}, c.id, l.tenant_id, l.domain_prefix, {now}
                 FROM load_links l JOIN companies c
                    ON c.marketplace_id = {m} AND c.external_id = l.tenant_id"
                ),
            },
            Load {
                name: "subscriptions",
                columns: "tenant_id, edition_id, email, units, start_date, billing_start_date, \
                      end_date, subscription_id",
                insert: format!(
                "INSERT INTO subscriptions (marketplace_id, company_id, edition_id, purchased_by,
                    units, start_date, billing_start_date, end_date, billing_cycle, term,
                    auto_renew, status, vendor_subscription_id, origin_kind, origin_ref,
                    created_at, updated_at)
                 SELECT {m}, c.id, CAST(l.edition_id AS BIGINT), u.id, CAST(l.units AS BIGINT),
                    {date}(l.start_date), {date}(l.billing_start_date), {date}(l.end_date),
                    'monthly', 'P1Y', TRUE, 'active', l.subscription_id, 'import', 1, {now},
                    {now}
                 FROM load_subscriptions l
                 JOIN companies c ON c.marketplace_id = {m} AND c.external_id = l.tenant_id
                 JOIN users u ON u.marketplace_id = {m} AND u.email = l.email",
                date = if url.starts_with("sqlite") { "" } else { "DATE" }
            ),
            },
            // The loaded subscription ids are written as they are: the key finds them.
            Load {
                name: "results",
                columns: "tenant_id, subscription_id, offer_id, offer_name, start_date, \
                      billing_start_date",
                insert: format!(
                    "INSERT INTO import_runs (marketplace_id, instance_id, snapshot, state,
                    started_by, started_at, finished_at)
                 VALUES ({m}, {instance}, 1, 'completed', 'loader', {now}, {now});
                 INSERT INTO import_tenants (run_id, tenant_id, name, tab,
                    target_marketplace_id, status, company_id, company_created, notes,
                    finished_at)
                 SELECT r.id, c.external_id, c.name, 'direct', {m}, 'completed', c.id, TRUE,
                    '[]', {now}
                 FROM companies c, (SELECT MAX(id) AS id FROM import_runs) r
                 WHERE c.marketplace_id = {m};
                 INSERT INTO import_subscriptions (run_id, tenant_id, subscription_id, offer_id,
                    offer_name, outcome, marketplace_subscription_id, start_date,
                    billing_start_date)
                 SELECT r.id, l.tenant_id, l.subscription_id, l.offer_id, l.offer_name,
                    'imported', s.id, {date}(l.start_date), {date}(l.billing_start_date)
                 FROM load_results l
                 JOIN subscriptions s ON s.marketplace_id = {m}
                    AND s.vendor_subscription_id = l.subscription_id,
                 (SELECT MAX(id) AS id FROM import_runs) r",
                    date = if url.starts_with("sqlite") {
                        ""
                    } else {
                        "DATE"
                    }
                ),
            },
        ];
    let files = dir.join(if url.starts_with("sqlite") {
        "load-sqlite"
    } else {
        "load-postgres"
    });
    std::fs::create_dir_all(&files).expect("dir");
    write_files(&files, tenants, &seeded.editions, today);
    let started = Instant::now();
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or(path);
        let mut script = String::from(".bail on\n.mode csv\nBEGIN;\n");
        for l in &loads {
            let file = files.join(format!("{}.csv", l.name));
            script.push_str(&format!(
                ".import --csv --schema temp {} load_{}\n{};\n",
                file.display(),
                l.name,
                l.insert
            ));
        }
        script.push_str("COMMIT;\n");
        run("sqlite3", &[path], &script);
    } else {
        let mut script = String::from("BEGIN;\n");
        for l in &loads {
            let columns: Vec<String> = l.columns.split(", ").map(|c| format!("{c} text")).collect();
            script.push_str(&format!(
                "CREATE TEMP TABLE load_{} ({});\n\\copy load_{} FROM '{}' WITH (FORMAT csv, HEADER)\n{};\n",
                l.name,
                columns.join(", "),
                l.name,
                files.join(format!("{}.csv", l.name)).display(),
                l.insert
            ));
        }
        script.push_str("COMMIT;\n");
        run("psql", &[url, "-v", "ON_ERROR_STOP=1", "-q"], &script);
    }
    started.elapsed().as_secs_f64()
}

fn run(program: &str, args: &[&str], script: &str) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} runs (Debian's package): {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("script");
    let output = child.wait_with_output().expect(program);
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "{program} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The loader's CSV files, with a header each, from the same world the import reads.
fn write_files(dir: &Path, tenants: usize, editions: &[i64], today: time::Date) {
    let open = |name: &str, header: &str| {
        let mut file = std::io::BufWriter::new(
            std::fs::File::create(dir.join(format!("{name}.csv"))).expect("file"),
        );
        writeln!(file, "{header}").expect("write");
        file
    };
    let mut companies = open(
        "companies",
        "tenant_id,name,email,phone,street1,city,state,zip,country",
    );
    let mut contacts = open(
        "contacts",
        "tenant_id,kind,first_name,last_name,email,phone",
    );
    let mut users = open("users", "tenant_id,email,first_name,last_name,phone,locale");
    let mut links = open("links", "tenant_id,domain_prefix");
    let mut subscriptions = open(
        "subscriptions",
        "tenant_id,edition_id,email,units,start_date,billing_start_date,end_date,subscription_id",
    );
    let mut results = open(
        "results",
        "tenant_id,subscription_id,offer_id,offer_name,start_date,billing_start_date",
    );
    for i in 0..tenants {
        let t = tenant_id(i);
        let email = format!("billing@customer{i}.example");
        writeln!(
            companies,
            "{t},Customer {i},{email},+1 303 555 0147,{i} Glenarm Place,Denver,CO,80202,US"
        )
        .expect("write");
        for kind in ["primary", "bill_to"] {
            writeln!(
                contacts,
                "{t},{kind},Dana,Whitfield {i},{email},+1 303 555 0147"
            )
            .expect("write");
        }
        writeln!(
            users,
            "{t},{email},Dana,Whitfield {i},+1 303 555 0147,en-US"
        )
        .expect("write");
        writeln!(links, "{t},customer{i}").expect("write");
        for (s, edition) in editions.iter().enumerate() {
            let month = u8::try_from(1 + i % 12).expect("month");
            let day = u8::try_from(1 + i % 28).expect("day");
            let start = time::Date::from_calendar_date(
                2025,
                time::Month::try_from(month).expect("month"),
                day,
            )
            .expect("date");
            let billing = ferry_domain::billing_start(
                start,
                ferry_domain::BillingCycle::Monthly,
                None,
                today,
            );
            writeln!(
                subscriptions,
                "{t},{edition},{email},5,{start},{billing},2026-{month:02}-{day:02},{}",
                subscription_id(i, s)
            )
            .expect("write");
            writeln!(
                results,
                "{t},{},{},Offer {s},{start},{billing}",
                subscription_id(i, s),
                OFFERS[s]
            )
            .expect("write");
        }
    }
}

/// An import measured: counted after the clock stopped, the companies linked to a tenant and
/// the Microsoft subscriptions they hold.
struct Imported {
    seconds: f64,
    rss_before_mb: f64,
    peak_rss_mb: f64,
    written: (usize, usize),
}

impl Imported {
    /// The process's peak during the import, and how far above its size when the import began
    /// (what the process held before — the other backend's run, the counts — is not the
    /// import's).
    fn memory(&self) -> String {
        format!(
            "{:.0} MB, +{:.0} MB",
            self.peak_rss_mb,
            self.peak_rss_mb - self.rss_before_mb
        )
    }
}
