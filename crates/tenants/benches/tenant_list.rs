//! The audited tenant list at 100,000 tenants, and the audit of those tenants against
//! 1,000,000 companies, on SQLite and PostgreSQL.
//!
//!     cargo bench -p ferry-tenants --bench tenant_list            # SQLite
//!     FERRY_TEST_POSTGRES_URL=postgres://… cargo bench -p ferry-tenants --bench tenant_list
//!
//! `FERRY_BENCH_TENANTS` and `FERRY_BENCH_COMPANIES` change the sizes. Each list query runs
//! 101 times; the median and the 99th percentile are printed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_domain::{MarketplaceKind, NewCompany, Origin, Slug, TenantLink, TenantStatus};
use ferry_storage::{
    NewHierarchyRun, NewMarketplace, RunScope, RunStart, SnapshotReseller, SnapshotSubscription,
    SnapshotTenant, Store, TenantAuditQuery, TenantDetails,
};

mod support;

use support::{backends, env_number};

const RUNS: usize = 101;
const WORDS: &[&str] = &[
    "Alpine", "Blue", "Cedar", "Delta", "Elm", "Fjord", "Granite", "Harbour", "Iron", "Juniper",
    "Kestrel", "Lake", "Maple", "North", "Oak", "Pine", "Quartz", "River", "Summit", "Tidal",
];
const KINDS: &[&str] = &[
    "Analytics",
    "Bakery",
    "Clinic",
    "Dental",
    "Energy",
    "Foods",
    "Group",
];

#[tokio::main]
async fn main() {
    let tenants = env_number("FERRY_BENCH_TENANTS", 100_000);
    let companies = env_number("FERRY_BENCH_COMPANIES", 1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    for url in backends(dir.path()).await {
        let store = ferry_storage::connect(&url).await.expect("connect");
        store.migrate().await.expect("migrate");
        run(&store, tenants, companies).await;
    }
}

fn name(i: usize) -> String {
    format!(
        "{} {} {i}",
        WORDS[i % WORDS.len()],
        KINDS[(i / WORDS.len()) % KINDS.len()]
    )
}

fn tenant_id(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-{:012x}", i * 7919)
}

async fn run(store: &Arc<dyn Store>, tenants: usize, companies: usize) {
    let (marketplace, instance) = support::marketplace(store, "both").await;
    let m = marketplace.id;

    // A snapshot: every other tenant is a reseller's end customer; three subscriptions each.
    let started = Instant::now();
    let RunStart::Started(run) = store
        .start_hierarchy_run(&NewHierarchyRun {
            instance_id: instance,
            scope: RunScope::Mass,
            tenant: None,
            started_by: "bench",
        })
        .await
        .expect("start")
    else {
        panic!("running");
    };
    let resellers: Vec<SnapshotReseller> = (0..20)
        .map(|r| SnapshotReseller {
            tenant_id: format!("{r:08x}-1111-4000-8000-000000000000"),
            name: Some(format!("Reseller {r}")),
            mpn_id: Some(format!("{}", 5_000_000 + r)),
            location: Some("US".into()),
        })
        .collect();
    store
        .store_resellers(run.snapshot, &resellers)
        .await
        .expect("resellers");
    for chunk in (0..tenants).collect::<Vec<_>>().chunks(5_000) {
        let rows: Vec<SnapshotTenant> = chunk
            .iter()
            .map(|i| SnapshotTenant {
                tenant_id: tenant_id(*i),
                name: name(*i),
                domain: Some(format!("t{i}.onmicrosoft.com")),
            })
            .collect();
        store
            .store_tenants(run.snapshot, &rows)
            .await
            .expect("tenants");
        let details: Vec<TenantDetails> = chunk
            .iter()
            .map(|i| TenantDetails {
                tenant_id: tenant_id(*i),
                name: None,
                domain: None,
                reseller_tenant_id: (i % 2 == 1)
                    .then(|| resellers[i % resellers.len()].tenant_id.clone()),
                email: None,
                billing: Some(serde_json::json!({ "email": format!("billing@t{i}.example"), "country": "US" })),
                custom_domains: Some(vec![format!("t{i}.example")]),
                subscriptions: (0..3)
                    .map(|s| SnapshotSubscription {
                        subscription_id: format!("{i:08x}-{s:04x}-4000-8000-000000000000"),
                        offer_id: Some("CFQ7TTC0LH18:0001:CFQ7TTC0K971".into()),
                        offer_name: Some("Microsoft 365 Business Basic".into()),
                        product_type: Some("OnlineServicesNCE".into()),
                        quantity: Some(5),
                        status: Some("active".into()),
                        billing_cycle: Some("monthly".into()),
                        term: Some("P1Y".into()),
                        auto_renew: Some(true),
                        start_date: None,
                        end_date: None,
                        reseller_mpn_id: None,
                        parent_subscription_id: None,
                        cancellation_allowed_until: None,
                        billing_cycle_end_date: None,
                    })
                    .collect(),
            })
            .collect();
        store
            .store_tenant_details(run.snapshot, &details)
            .await
            .expect("details");
    }
    store
        .complete_hierarchy_run(run.id, None)
        .await
        .expect("complete");
    let snapshot_time = started.elapsed();

    // Companies: one in every 20 linked to a tenant, one in every 10 named like one.
    let started = Instant::now();
    for chunk in (0..companies).collect::<Vec<_>>().chunks(50_000) {
        let rows: Vec<NewCompany> = chunk
            .iter()
            .map(|i| NewCompany {
                external_id: Some(format!("EXT-{i:07}")),
                ..NewCompany::named(
                    if i % 10 == 0 {
                        name(*i / 10)
                    } else {
                        format!("Company {i}")
                    },
                    Origin::Manual,
                )
            })
            .collect();
        store.insert_companies(m, &rows).await.expect("companies");
    }
    let linked = tenants / 20;
    for i in 0..linked {
        let company = store
            .company_by_external_id(m, &format!("EXT-{:07}", i * 10 + 1))
            .await
            .expect("read")
            .expect("company");
        let link = TenantLink {
            instance_id: instance,
            tenant_id: tenant_id(i * 20),
            domain_prefix: None,
            reseller_mpn_id: None,
        };
        store.link_tenant(m, company.id, &link).await.expect("link");
    }
    // A tenant reseller holds one reseller's end customers (one tenant in 40).
    let storefront = store
        .create_marketplace(&NewMarketplace {
            slug: Slug::parse("bench-store").expect("slug"),
            name: "Storefront".into(),
            kind: MarketplaceKind::SimpleTenant,
            parent_id: Some(m),
        })
        .await
        .expect("simple tenant");
    store
        .set_reseller_mpn_id(m, storefront.id, resellers[5].mpn_id.as_deref())
        .await
        .expect("tenant reseller");
    let seeding = started.elapsed();
    println!(
        "\n{}: {tenants} tenants ({} subscriptions) stored in {:.1} s; {companies} companies and \
         {linked} links in {:.1} s",
        store.backend().name(),
        tenants * 3,
        snapshot_time.as_secs_f64(),
        seeding.as_secs_f64()
    );

    let started = Instant::now();
    let counts = ferry_tenants::audit::audit(&**store, m, instance, run.snapshot)
        .await
        .expect("audit");
    println!(
        "{:<44} {:>9.1} s  (target < 30 s): {} synced, {} out of sync, {} not imported",
        format!("audit of {tenants} tenants against {companies} companies"),
        started.elapsed().as_secs_f64(),
        counts.synced,
        counts.out_of_sync,
        counts.not_imported
    );

    let page =
        |search: Option<&str>, status: Option<TenantStatus>, reseller: Option<Option<String>>| {
            TenantAuditQuery {
                search: search.map(str::to_owned),
                status,
                reseller,
                tenant_reseller: None,
                after: None,
                limit: 50,
            }
        };
    let held = |tenant_reseller| TenantAuditQuery {
        tenant_reseller: Some(tenant_reseller),
        ..page(None, None, None)
    };
    let middle = TenantAuditQuery {
        after: Some(("maple".into(), String::new())),
        ..page(None, None, None)
    };
    let cases = [
        ("first page", page(None, None, None)),
        ("a page in the middle (keyset)", middle),
        (
            "status = out of sync (5%)",
            page(None, Some(TenantStatus::OutOfSync), None),
        ),
        (
            "status = not imported (95%)",
            page(None, Some(TenantStatus::NotImported), None),
        ),
        ("direct customers", page(None, None, Some(None))),
        (
            "one reseller's end customers",
            page(None, None, Some(Some(resellers[3].tenant_id.clone()))),
        ),
        ("type = customer (97.5%)", held(false)),
        ("type = tenant reseller (2.5%)", held(true)),
        ("search 'bakery' (1 in 7)", page(Some("bakery"), None, None)),
        (
            "search a tenant id",
            page(Some(&tenant_id(77_777 % tenants.max(1))), None, None),
        ),
        (
            "search a name that does not exist",
            page(Some("zzz"), None, None),
        ),
    ];
    println!(
        "{:<44} {:>12} {:>12} {:>6} {:>12}",
        "query (50 rows a page)", "median", "p99", "rows", "total p99"
    );
    for (label, query) in cases {
        let mut times = Vec::new();
        let mut counts = Vec::new();
        let mut rows = 0;
        for _ in 0..RUNS {
            let started = Instant::now();
            rows = store
                .tenant_audits(m, instance, &query)
                .await
                .expect("list")
                .len();
            times.push(started.elapsed());
            let started = Instant::now();
            store
                .count_tenant_audits(m, instance, &query, 1_000)
                .await
                .expect("count");
            counts.push(started.elapsed());
        }
        times.sort();
        counts.sort();
        println!(
            "{label:<44} {:>9.2} ms {:>9.2} ms {rows:>6} {:>9.2} ms",
            ms(times[RUNS / 2]),
            ms(times[RUNS * 99 / 100]),
            ms(counts[RUNS * 99 / 100])
        );
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
