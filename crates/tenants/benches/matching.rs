//! Pending Companies' matching, as a sync does it — the instance's snapshot audited against
//! the marketplace's companies, the tenants not imported queued with their suggestions:
//!
//! 1. how often the first suggestion is right, on the labelled tenants and companies kept
//!    beside this file (`labelled/`), next to matching by exact name only in the same run;
//! 2. 20,000 waiting tenants against 1,000,000 companies: time and peak memory, on SQLite and
//!    (with `FERRY_TEST_POSTGRES_URL`) PostgreSQL.
//!
//!     cargo bench -p ferry-tenants --bench matching
//!
//! `labelled/tenants.csv` says which company each tenant truly is (`truth`, the company's
//! `key`), or none. Precision: of the first suggestions made, how many are right. Recall: of
//! the tenants that have a company, how many get it as their first suggestion.
//! `FERRY_BENCH_TENANTS` and `FERRY_BENCH_COMPANIES` change the sizes of part 2.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use ferry_domain::{CountryCode, Email, NewCompany, Origin};
use ferry_storage::{
    Marketplace, NewHierarchyRun, PendingQuery, RunScope, RunStart, SnapshotTenant, Store,
    SyncSettings, TenantDetails,
};

mod support;

use support::{backends, env_number, peak_rss_mb, reset_peak_rss};

/// A tenant as the labelled set and the generated world give it.
struct Tenant {
    name: String,
    domain: String,
    custom_domains: Vec<String>,
    email: Option<String>,
    country: Option<String>,
}

#[tokio::main]
async fn main() {
    labelled().await;
    let tenants = env_number("FERRY_BENCH_TENANTS", 20_000);
    let companies = env_number("FERRY_BENCH_COMPANIES", 1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    for url in backends(dir.path()).await {
        let store = ferry_storage::connect(&url).await.expect("connect");
        store.migrate().await.expect("migrate");
        at_scale(&store, tenants, companies).await;
    }
}

/// Part 1: the labelled set, through a store as a sync sees it.
async fn labelled() {
    let companies = rows(include_str!("labelled/companies.csv"), 5);
    let tenants = rows(include_str!("labelled/tenants.csv"), 6);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ferry_storage::connect(&ferry_storage::testing::sqlite_url(dir.path()))
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    let (marketplace, instance) = world(&store).await;
    let mut keys: HashMap<i64, &str> = HashMap::new();
    for c in &companies {
        let company = NewCompany {
            email: some(c[2]).map(|e| Email::parse(&e).expect("a labelled e-mail")),
            website: some(c[3]),
            address: ferry_domain::Address {
                country: some(c[4]).map(|x| CountryCode::parse(&x).expect("a labelled country")),
                ..ferry_domain::Address::default()
            },
            ..NewCompany::named(c[1].to_owned(), Origin::Manual)
        };
        let id = store
            .create_company(marketplace.id, &company)
            .await
            .expect("company");
        keys.insert(id, c[0]);
    }
    let labelled: Vec<Tenant> = tenants
        .iter()
        .map(|t| Tenant {
            name: t[0].to_owned(),
            domain: t[1].to_owned(),
            custom_domains: t[2]
                .split(';')
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
                .collect(),
            email: some(t[3]),
            country: some(t[4]),
        })
        .collect();
    snapshot(&store, instance, &labelled).await;
    sync(&store, &marketplace, instance).await;
    let first: HashMap<String, Option<&str>> = queue(&store, marketplace.id)
        .await
        .into_iter()
        .map(|p| (p.name, p.suggestions.first().map(|s| keys[&s.id])))
        .collect();
    let ferry: Vec<Option<&str>> = tenants.iter().map(|t| first[t[0]]).collect();
    let exact: Vec<Option<&str>> = tenants
        .iter()
        .map(|t| {
            companies
                .iter()
                .find(|c| c[1].trim().eq_ignore_ascii_case(t[0].trim()))
                .map(|c| c[0])
        })
        .collect();
    let truth: Vec<Option<&str>> = tenants.iter().map(|t| some_str(t[5])).collect();
    println!(
        "labelled set: {} tenants ({} with a company), {} companies",
        tenants.len(),
        truth.iter().flatten().count(),
        companies.len()
    );
    report("Ferry's matching", &ferry, &truth);
    report("exact name only", &exact, &truth);
    for (n, (got, want)) in ferry.iter().zip(&truth).enumerate() {
        if got != want {
            println!(
                "  Ferry: {:<45} suggested {:<18} truth {}",
                tenants[n][0],
                got.unwrap_or("nothing"),
                want.unwrap_or("none")
            );
        }
    }
}

fn report(label: &str, first: &[Option<&str>], truth: &[Option<&str>]) {
    let made = first.iter().flatten().count();
    let right = first
        .iter()
        .zip(truth)
        .filter(|(got, want)| got.is_some() && got == want)
        .count();
    let matchable = truth.iter().flatten().count();
    println!(
        "{label:<18} first suggestions {made:>3}, right {right:>3}: precision {:.3}, recall {:.3}",
        right as f64 / made.max(1) as f64,
        right as f64 / matchable.max(1) as f64
    );
}

/// Part 2: `tenants` waiting tenants against `companies` companies. One company in 50 is a
/// tenant's: by its website (half of them) or by its name with a legal form.
async fn at_scale(store: &Arc<dyn Store>, tenants: usize, companies: usize) {
    let (marketplace, instance) = world(store).await;
    let generated: Vec<Tenant> = (0..tenants)
        .map(|i| Tenant {
            name: tenant_name(i),
            domain: format!("t{i}.onmicrosoft.com"),
            custom_domains: vec![format!("t{i}.example")],
            email: Some(format!("billing@t{i}.example")),
            country: Some("US".into()),
        })
        .collect();
    snapshot(store, instance, &generated).await;
    drop(generated);
    for chunk in (0..companies).collect::<Vec<_>>().chunks(50_000) {
        let rows: Vec<NewCompany> = chunk
            .iter()
            .map(|&i| {
                let tenant = (i % 50 == 0).then_some(i / 50).filter(|t| *t < tenants);
                match tenant {
                    Some(t) if t % 2 == 0 => NewCompany {
                        website: Some(format!("https://www.t{t}.example")),
                        ..NewCompany::named(format!("Customer {i}"), Origin::Manual)
                    },
                    Some(t) => {
                        NewCompany::named(format!("{} GmbH", tenant_name(t)), Origin::Manual)
                    }
                    None => NewCompany::named(format!("Company {i}"), Origin::Manual),
                }
            })
            .collect();
        store
            .insert_companies(marketplace.id, &rows)
            .await
            .expect("companies");
    }
    let rss_before = reset_peak_rss();
    let started = Instant::now();
    sync(store, &marketplace, instance).await;
    let elapsed = started.elapsed();
    let peak = peak_rss_mb();
    let waiting = store.count_pending(marketplace.id).await.expect("count");
    let mut matched = 0;
    let mut query = PendingQuery {
        matched: Some(true),
        limit: 1_000,
        ..PendingQuery::default()
    };
    loop {
        let page = store
            .pending_companies(marketplace.id, &query)
            .await
            .expect("page");
        let Some(last) = page.last() else { break };
        query.after = Some((last.name.to_lowercase(), last.id));
        matched += page.len();
    }
    println!(
        "\n{}: {waiting} tenants waiting, {matched} with a suggestion, matched against \
         {companies} companies in {:.1} s (target ≤ 60 s); peak memory {:.0} MB (+{:.0} MB \
         during it; target ≤ 300 MB)",
        store.backend().name(),
        elapsed.as_secs_f64(),
        peak,
        peak - rss_before
    );
}

fn tenant_name(i: usize) -> String {
    const FIRST: &[&str] = &[
        "Alpine", "Blue", "Cedar", "Delta", "Elm", "Fjord", "Granite", "Harbour", "Iron",
        "Juniper", "Kestrel", "Lake", "Maple", "North", "Oak", "Pine", "Quartz", "River", "Summit",
        "Tidal",
    ];
    const SECOND: &[&str] = &["Analytics", "Bakery", "Clinic", "Dental", "Energy", "Foods"];
    // A word of its own, so that names are told apart as real ones are.
    format!(
        "{} {} {}",
        FIRST[i % FIRST.len()],
        SECOND[(i / FIRST.len()) % SECOND.len()],
        syllables(i)
    )
}

fn syllables(mut i: usize) -> String {
    const PARTS: &[&str] = &["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "bu"];
    let mut word = String::new();
    loop {
        word.push_str(PARTS[i % PARTS.len()]);
        i /= PARTS.len();
        if i == 0 {
            break;
        }
    }
    word
}

async fn world(store: &Arc<dyn Store>) -> (Marketplace, i64) {
    let (marketplace, instance) = support::marketplace(store, "both").await;
    let settings = SyncSettings {
        company_sync: true,
        ..SyncSettings::default()
    };
    store
        .set_sync_settings(marketplace.id, &settings, "bench")
        .await
        .expect("settings");
    (marketplace, instance)
}

/// A completed retrieval holding the tenants.
async fn snapshot(store: &Arc<dyn Store>, instance: i64, tenants: &[Tenant]) {
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
        panic!("a retrieval is running");
    };
    let ids: Vec<String> = (0..tenants.len())
        .map(|i| format!("{i:08x}-0000-4000-8000-{:012x}", i * 7919))
        .collect();
    for (chunk, ids) in tenants.chunks(5_000).zip(ids.chunks(5_000)) {
        let rows: Vec<SnapshotTenant> = chunk
            .iter()
            .zip(ids)
            .map(|(t, id)| SnapshotTenant {
                tenant_id: id.clone(),
                name: t.name.clone(),
                domain: Some(t.domain.clone()),
            })
            .collect();
        store
            .store_tenants(run.snapshot, &rows)
            .await
            .expect("tenants");
        let details: Vec<TenantDetails> = chunk
            .iter()
            .zip(ids)
            .map(|(t, id)| TenantDetails {
                tenant_id: id.clone(),
                name: None,
                domain: None,
                reseller_tenant_id: None,
                email: None,
                billing: Some(serde_json::json!({
                    "email": t.email, "country": t.country,
                    "first_name": "Pat", "last_name": "Doe",
                })),
                custom_domains: Some(t.custom_domains.clone()),
                subscriptions: Vec::new(),
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
}

/// What a sync does once the snapshot is stored: the audit, then the queue.
async fn sync(store: &Arc<dyn Store>, marketplace: &Marketplace, instance: i64) {
    let snapshot = store
        .hierarchy_state(instance)
        .await
        .expect("state")
        .snapshot
        .expect("a snapshot");
    ferry_tenants::audit::audit(&**store, marketplace.id, instance, snapshot)
        .await
        .expect("audit");
    let run = store
        .start_sync_run(marketplace.id, 1, "bench")
        .await
        .expect("run");
    let followed = ferry_tenants::instances::find(&**store, marketplace, instance)
        .await
        .expect("instance")
        .expect("visible");
    let settings = store.sync_settings(marketplace.id).await.expect("settings");
    ferry_tenants::sync::fill_queue(&**store, marketplace, &settings, &run, &followed)
        .await
        .expect("queue");
}

async fn queue(store: &Arc<dyn Store>, marketplace_id: i64) -> Vec<ferry_storage::PendingCompany> {
    store
        .pending_companies(
            marketplace_id,
            &PendingQuery {
                limit: 10_000,
                ..PendingQuery::default()
            },
        )
        .await
        .expect("queue")
}

/// The rows of a small CSV without quoted fields, its header left out.
fn rows(text: &'static str, columns: usize) -> Vec<Vec<&'static str>> {
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            assert_eq!(
                cells.len(),
                columns,
                "a labelled row has {columns} cells: {line}"
            );
            cells
        })
        .collect()
}

fn some(cell: &str) -> Option<String> {
    some_str(cell).map(str::to_owned)
}

fn some_str(cell: &str) -> Option<&str> {
    Some(cell.trim()).filter(|c| !c.is_empty())
}
