//! How fast the company list answers with a million companies, on SQLite and PostgreSQL.
//!
//!     cargo bench -p ferry-storage --bench company_list            # SQLite
//!     FERRY_TEST_POSTGRES_URL=postgres://… cargo bench -p ferry-storage --bench company_list
//!
//! `FERRY_BENCH_COMPANIES` changes the count (default 1,000,000). Each query runs 101 times;
//! the median and the 99th percentile are printed, of the page and of its total (counted up to
//! 1,000, as the list page does).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_domain::{CompanyStatus, MarketplaceKind, NewCompany, Origin, Slug};
use ferry_storage::{CompanyKey, CompanyQuery, NewMarketplace, Store};

const FIRST: &[&str] = &[
    "Alpine", "Blue", "Cedar", "Delta", "Elm", "Fjord", "Granite", "Harbour", "Iron", "Juniper",
    "Kestrel", "Lake", "Maple", "North", "Oak", "Pine", "Quartz", "River", "Summit", "Tidal",
];
const SECOND: &[&str] = &[
    "Analytics",
    "Bakery",
    "Clinic",
    "Dental",
    "Energy",
    "Foods",
    "Group",
    "Holdings",
    "Insurance",
    "Joinery",
    "Logistics",
    "Media",
    "Networks",
    "Optics",
    "Partners",
    "Realty",
    "Systems",
];

/// How many times each query runs.
const RUNS: usize = 101;

#[tokio::main]
async fn main() {
    let count: usize = std::env::var("FERRY_BENCH_COMPANIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut backends = vec![ferry_storage::testing::sqlite_url(dir.path())];
    if std::env::var("FERRY_TEST_POSTGRES_URL").is_ok() {
        backends.push(ferry_storage::testing::postgres_url().await);
    }
    for url in backends {
        let store = ferry_storage::connect(&url).await.expect("connect");
        store.migrate().await.expect("migrate");
        run(&store, count).await;
    }
}

async fn run(store: &Arc<dyn Store>, count: usize) {
    let marketplace = store
        .create_marketplace(&NewMarketplace {
            slug: Slug::parse("bench").expect("slug"),
            name: "Bench".into(),
            kind: MarketplaceKind::Distributor,
            parent_id: None,
        })
        .await
        .expect("marketplace");
    let m = marketplace.id;
    let started = Instant::now();
    for batch in (0..count).collect::<Vec<_>>().chunks(50_000) {
        let companies: Vec<NewCompany> = batch.iter().map(|i| company(*i)).collect();
        store.insert_companies(m, &companies).await.expect("insert");
    }
    let seeded = started.elapsed();
    println!(
        "\n{}: {count} companies seeded in {:.1} s ({:.0} rows/s)",
        store.backend().name(),
        seeded.as_secs_f64(),
        count as f64 / seeded.as_secs_f64()
    );
    let page = |search: Option<&str>, status: Option<CompanyStatus>, after: Option<CompanyKey>| {
        CompanyQuery {
            search: search.map(str::to_owned),
            status,
            origin_kind: None,
            after,
            before: None,
            limit: 50,
        }
    };
    let middle = CompanyKey {
        name: "maple".into(),
        id: 0,
    };
    let cases = [
        ("first page", page(None, None, None)),
        (
            "a page in the middle (keyset)",
            page(None, None, Some(middle)),
        ),
        (
            "search 'harbour' (start of 50,000 names)",
            page(Some("harbour"), None, None),
        ),
        (
            "search 'summit realty 9' (start of a few names)",
            page(Some("summit realty 9"), None, None),
        ),
        (
            "search a name that does not exist",
            page(Some("zzz"), None, None),
        ),
        (
            "search an external id",
            page(Some("EXT-0777777"), None, None),
        ),
        (
            // Contains: a word in the middle of 1 name in 17.
            "search 'realty' (inside 58,000 names)",
            page(Some("realty"), None, None),
        ),
        (
            // External ids follow the seeding order, not the names: spread through the list.
            "search 'ext-01' (100,000 ids, spread out)",
            page(Some("ext-01"), None, None),
        ),
        (
            "search 'ty 77777' (inside a few names)",
            page(Some("ty 77777"), None, None),
        ),
        (
            "search 'bour logis' (inside a few thousand)",
            page(Some("bour logis"), None, None),
        ),
        (
            "the page before a key in the middle",
            CompanyQuery {
                before: Some(CompanyKey {
                    name: "maple".into(),
                    id: 0,
                }),
                ..page(None, None, None)
            },
        ),
        (
            "filter status = suspended",
            page(None, Some(CompanyStatus::Suspended), None),
        ),
        (
            // The slow case without the status index: every name passed over.
            "filter status = pending (no company has it)",
            page(None, Some(CompanyStatus::Pending), None),
        ),
    ];
    println!(
        "{:<44} {:>12} {:>12} {:>6} {:>12} {:>12}",
        "query (50 rows a page)", "median", "p99", "rows", "total p50", "total p99"
    );
    for (name, query) in cases {
        let mut times = Vec::new();
        let mut counts = Vec::new();
        let mut rows = 0;
        for _ in 0..RUNS {
            let started = Instant::now();
            rows = store.companies(m, &query).await.expect("query").len();
            times.push(started.elapsed());
            // The list page also says how many match, counted up to 1,000.
            let started = Instant::now();
            store
                .count_matching_companies(m, &query, 1_000)
                .await
                .expect("count");
            counts.push(started.elapsed());
        }
        times.sort();
        counts.sort();
        let p50 = |t: &[Duration]| ms(t[t.len() / 2]);
        let p99 = |t: &[Duration]| ms(t[t.len() * 99 / 100]);
        println!(
            "{name:<44} {:>9.2} ms {:>9.2} ms {rows:>6} {:>9.2} ms {:>9.2} ms",
            p50(&times),
            p99(&times),
            p50(&counts),
            p99(&counts)
        );
    }
    let started = Instant::now();
    let total = store.count_companies(m).await.expect("count");
    println!(
        "{:<44} {:>9.2} ms {total:>6}",
        "count (overview page)",
        ms(started.elapsed())
    );
}

fn company(i: usize) -> NewCompany {
    let name = format!(
        "{} {} {}",
        FIRST[i % FIRST.len()],
        SECOND[(i / FIRST.len()) % SECOND.len()],
        i
    );
    NewCompany {
        external_id: Some(format!("EXT-{i:07}")),
        status: if i.is_multiple_of(100) {
            CompanyStatus::Suspended
        } else {
            CompanyStatus::Active
        },
        ..NewCompany::named(name, Origin::Manual)
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
