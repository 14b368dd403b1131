//! How fast a large migration dataset is validated and activated, next to the database's
//! fastest path loading the same rows into the same tables, on SQLite and on PostgreSQL.
//!
//!     scripts/bench-datasets            # starts a throwaway PostgreSQL, runs both backends
//!     cargo bench -p ferry-datasets --bench migrate   # SQLite, and PostgreSQL when
//!                                                     # FERRY_TEST_POSTGRES_URL is set
//!
//! The data is generated deterministically: 100,000 companies, 500,000 users, 500,000
//! memberships, 200,000 company entitlements and 200,000 user entitlements (1.5M rows);
//! `FERRY_BENCH_SCALE` multiplies it. Each pipeline runs in a child process, so its peak memory
//! (VmHWM) is its own; the same dataset is then run again, unchanged. On SQLite the pipeline
//! also runs at twice the size, to show memory stays flat. The references load the same files
//! into the same tables and indexes the fastest way each database offers: `sqlite3 .import` /
//! PostgreSQL `COPY` into temporary tables, then one set-based `INSERT … SELECT` per table,
//! ids resolved by joining external ids, in a fresh database with Ferry's schema.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use ferry_datasets::{ActivateDataset, DataType, FileUpload, ValidateDataset};
use ferry_domain::{
    Connector, DatasetKind, DatasetState, MarketplaceKind, NewEdition, NewProduct, PricingUnit,
    Slug,
};
use ferry_jobs::BackgroundJob;
use ferry_jobs::{Worker, WorkerConfig};
use ferry_storage::{NewDataset, NewMarketplace, Store};
use serde_json::{Value, json};

const COMPANIES: usize = 100_000;
const USERS: usize = 500_000;
const ENTITLEMENTS: usize = 200_000;

fn main() {
    if let Ok(url) = std::env::var("FERRY_BENCH_CHILD_URL") {
        let dir = PathBuf::from(std::env::var("FERRY_BENCH_CHILD_DIR").expect("dir"));
        let rerun = std::env::var("FERRY_BENCH_CHILD_RERUN").is_ok_and(|v| v == "1");
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let figures = runtime.block_on(pipeline(&url, &dir, rerun));
        println!("FIGURES {figures}");
        return;
    }
    let scale: usize = std::env::var("FERRY_BENCH_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let work = tempfile::tempdir().expect("temp dir");
    let files = work.path().join("x1");
    let rows = generate(&files, scale);
    println!(
        "\nDatasets: {rows} rows ({scale}x: companies, users, memberships, company and user entitlements)"
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");

    // `FERRY_BENCH_BACKENDS=sqlite` or `postgres` runs one backend only.
    let only = std::env::var("FERRY_BENCH_BACKENDS").unwrap_or_default();
    if only != "postgres" {
        sqlite(&runtime, work.path(), &files, rows, scale);
    }
    if only == "sqlite" {
        return;
    }
    if std::env::var("FERRY_TEST_POSTGRES_URL").is_ok() {
        let url = runtime.block_on(ferry_storage::testing::postgres_url());
        let loader = runtime.block_on(postgres_loader(&url, &files));
        let url = runtime.block_on(ferry_storage::testing::postgres_url());
        let figures = child(&url, &files, true);
        report("PostgreSQL", rows, loader, &figures);
    } else {
        println!(
            "PostgreSQL: skipped, FERRY_TEST_POSTGRES_URL is not set (scripts/bench-datasets sets it)"
        );
    }
}

/// SQLite: the loader, the pipeline and its re-run, then the pipeline at twice the size.
fn sqlite(runtime: &tokio::runtime::Runtime, work: &Path, files: &Path, rows: usize, scale: usize) {
    let sqlite_url = |name: &str| ferry_storage::testing::sqlite_url(&work.join(name));
    std::fs::create_dir_all(work.join("loader")).expect("dir");
    let loader_db = work.join("loader").join("ferry.db");
    let loader = runtime.block_on(sqlite_loader(&sqlite_url("loader"), &loader_db, files));
    std::fs::create_dir_all(work.join("pipeline")).expect("dir");
    let figures = child(&sqlite_url("pipeline"), files, true);
    report("SQLite", rows, loader, &figures);

    let double = work.join("x2");
    generate(&double, scale * 2);
    std::fs::create_dir_all(work.join("double")).expect("dir");
    let twice = child(&sqlite_url("double"), &double, false);
    let (one, two) = (
        figures["peak_mb"].as_f64().unwrap_or(0.0),
        twice["peak_mb"].as_f64().unwrap_or(0.0),
    );
    println!(
        "{:<44} {two:>10.0} MB  ({:+.1}% against {one:.0} MB at {rows} rows; target within 10%)",
        format!("SQLite peak memory at {} rows", rows * 2),
        (two / one - 1.0) * 100.0
    );
}

fn report(backend: &str, rows: usize, loader: f64, figures: &Value) {
    let first = figures["first_s"].as_f64().unwrap_or(f64::NAN);
    let rerun = figures["rerun_s"].as_f64().unwrap_or(f64::NAN);
    println!("\n{backend}");
    println!(
        "{:<44} {loader:>10.1} s",
        "reference: bulk load + INSERT ... SELECT"
    );
    println!(
        "{:<44} {first:>10.1} s  ({:.0} rows/s; {:.2}x the reference, target <= 2.5)",
        "upload + validate + activate",
        rows as f64 / first,
        first / loader
    );
    println!(
        "{:<44} {rerun:>10.1} s  ({:.2}x faster, target >= 2; records written: {})",
        "the same dataset again",
        first / rerun,
        figures["rerun_written"]
    );
    println!(
        "{:<44} {:>10.0} MB  (target <= 300)",
        "peak memory",
        figures["peak_mb"].as_f64().unwrap_or(0.0)
    );
}

/// Runs the pipeline in a child process and returns what it measured.
fn child(url: &str, files: &Path, rerun: bool) -> Value {
    let output = Command::new(std::env::current_exe().expect("exe"))
        .env("FERRY_BENCH_CHILD_URL", url)
        .env("FERRY_BENCH_CHILD_DIR", files)
        .env("FERRY_BENCH_CHILD_RERUN", if rerun { "1" } else { "0" })
        .output()
        .expect("child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the pipeline failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("FIGURES "))
        .expect("figures");
    serde_json::from_str(line).expect("json")
}

/// In the child: one marketplace with an edition, then the dataset (twice with `rerun`).
async fn pipeline(url: &str, files: &Path, rerun: bool) -> Value {
    let store = ferry_storage::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let market = marketplace(&store).await;
    let first = run_dataset(&store, market, files, "first").await;
    // The peak of one run, comparable between sizes.
    let mut figures = json!({ "first_s": first.0, "peak_mb": peak_mb() });
    if rerun {
        let (seconds, written) = run_dataset(&store, market, files, "again").await;
        figures["rerun_s"] = json!(seconds);
        figures["rerun_written"] = json!(written);
    }
    figures
}

/// Uploads, validates and activates; returns the seconds taken and the records written.
async fn run_dataset(store: &Arc<dyn Store>, market: i64, files: &Path, name: &str) -> (f64, i64) {
    let started = Instant::now();
    let dataset = store
        .create_dataset(&NewDataset {
            marketplace_id: market,
            kind: DatasetKind::Migration,
            name: name.into(),
            provision: false,
            review: false,
            created_by_user: None,
            created_by_company: None,
            creator: "bench".into(),
        })
        .await
        .expect("dataset");
    for data_type in [
        DataType::Users,
        DataType::Companies,
        DataType::Memberships,
        DataType::CompanyEntitlements,
        DataType::UserEntitlements,
    ] {
        let path = files.join(format!("{}.csv", data_type.part()));
        let mut upload = FileUpload::start(store.clone(), dataset.id, data_type, data_type.part())
            .await
            .expect("upload");
        let mut file = std::fs::File::open(&path).expect("open");
        let mut buffer = vec![0; 256 * 1024];
        loop {
            let n = std::io::Read::read(&mut file, &mut buffer).expect("read");
            if n == 0 {
                break;
            }
            upload.write(&buffer[..n]).await.expect("write");
        }
        upload.finish().await.expect("finish");
    }
    store
        .enqueue_job(&ValidateDataset(dataset.key()).new_job())
        .await
        .expect("enqueue");
    let worker = Worker::new("bench".into(), store.clone(), WorkerConfig::default())
        .with_job::<ValidateDataset>(None)
        .with_job::<ActivateDataset>(());
    while worker.run_next().await.expect("run") {}
    let done = store
        .dataset(dataset.key())
        .await
        .expect("read")
        .expect("dataset");
    assert_eq!(done.state, DatasetState::Activated, "{done:?}");
    let seconds = started.elapsed().as_secs_f64();
    let written = store
        .staged_outcomes(dataset.id)
        .await
        .expect("outcomes")
        .iter()
        .map(|p| p.created + p.updated)
        .sum();
    (seconds, written)
}

async fn marketplace(store: &Arc<dyn Store>) -> i64 {
    let market = store
        .create_marketplace(&NewMarketplace {
            slug: Slug::parse("bench").expect("slug"),
            name: "Bench".into(),
            kind: MarketplaceKind::Distributor,
            parent_id: None,
        })
        .await
        .expect("marketplace");
    let product = store
        .create_product(
            market.id,
            &NewProduct {
                name: "Mail".into(),
                vendor: "Contoso".into(),
            },
        )
        .await
        .expect("product");
    store
        .create_edition(
            market.id,
            &NewEdition {
                product_id: product,
                code: "E1".into(),
                name: "Business".into(),
                pricing_plan_id: "pp-1".into(),
                channel_sku: None,
                pricing_unit: PricingUnit::User,
                included_units: 1,
                billing_cycles: vec![],
                terms: vec![],
                connector: Connector::None,
                offer_ids: vec![],
                active: true,
            },
        )
        .await
        .expect("edition");
    market.id
}

/// VmHWM of this process, in MB.
fn peak_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Writes the dataset's files. Returns the number of dataset rows.
fn generate(dir: &Path, scale: usize) -> usize {
    std::fs::create_dir_all(dir).expect("dir");
    let (companies, users, entitlements) = (COMPANIES * scale, USERS * scale, ENTITLEMENTS * scale);
    let out = |name: &str, header: &str, count: usize, row: &dyn Fn(usize) -> String| {
        let mut file = BufWriter::new(std::fs::File::create(dir.join(name)).expect("file"));
        if !header.is_empty() {
            writeln!(file, "{header}").expect("write");
        }
        for i in 0..count {
            writeln!(file, "{}", row(i)).expect("write");
        }
    };
    out(
        "users.csv",
        "EXTERNAL_ID,EMAIL_ADDRESS,FIRST_NAME,LAST_NAME",
        users,
        &|i| format!("u-{i},u{i}@example.com,First{i},Last{}", i % 977),
    );
    out(
        "companies.csv",
        "EXTERNAL_ID,NAME,CITY,COUNTRY,EMAIL",
        companies,
        &|i| format!("c-{i},Company {i},City {},US,c{i}@example.com", i % 311),
    );
    out(
        "memberships.csv",
        "USER_EXTERNAL_ID,COMPANY_EXTERNAL_ID,SYS_ADMIN",
        users,
        &|i| format!("u-{i},c-{},{}", i % companies, i < companies),
    );
    out(
        "company_entitlements.csv",
        "EXTERNAL_ID,COMPANY_EXTERNAL_ID,PURCHASED_BY_EXTERNAL_ID,EDITION_CODE,UNITS",
        entitlements,
        &|i| format!("s-{i},c-{},u-{},E1,5", i % companies, i % companies),
    );
    out(
        "user_entitlements.csv",
        "USER_EXTERNAL_ID,COMPANY_ENTITLEMENT_EXTERNAL_ID",
        entitlements,
        &|i| format!("u-{i},s-{i}"),
    );
    users * 2 + companies + entitlements * 2
}

/// The dataset's files as the reference loads them: each into a temporary table of text
/// columns named as its header (lower case), in file order.
const LOAD_TABLES: &[(&str, &str)] = &[
    ("companies", "external_id, name, city, country, email"),
    ("users", "external_id, email_address, first_name, last_name"),
    (
        "memberships",
        "user_external_id, company_external_id, sys_admin",
    ),
    (
        "company_entitlements",
        "external_id, company_external_id, purchased_by_external_id, edition_code, units",
    ),
    (
        "user_entitlements",
        "user_external_id, company_entitlement_external_id",
    ),
];

/// The same rows into Ferry's tables and indexes, set by set, ids resolved by joining external
/// ids: what a database does fastest once the files are in temporary tables.
const LOAD_INTO_TABLES: &str = "
INSERT INTO companies (marketplace_id, external_id, name, city, country, email, allow_login,
    status, custom_attributes, origin_kind, created_at, updated_at)
SELECT 1, external_id, name, city, country, email, TRUE, 'active', '{}', 'dataset', 0, 0
FROM load_companies;
INSERT INTO users (marketplace_id, external_id, email, first_name, last_name, allow_login,
    status, custom_attributes, origin_kind, created_at, updated_at)
SELECT 1, external_id, email_address, first_name, last_name, TRUE, 'created', '{}', 'dataset',
    0, 0
FROM load_users;
INSERT INTO memberships (user_id, company_id, company_admin, billing_admin, sales_support,
    restricted_sales_support)
SELECT u.id, c.id, m.sys_admin = 'true', FALSE, FALSE, FALSE
FROM load_memberships m
JOIN users u ON u.marketplace_id = 1 AND u.external_id = m.user_external_id
JOIN companies c ON c.marketplace_id = 1 AND c.external_id = m.company_external_id;
INSERT INTO subscriptions (marketplace_id, external_id, company_id, edition_id, purchased_by,
    units, auto_renew, status, custom_attributes, origin_kind, created_at, updated_at)
SELECT 1, s.external_id, c.id, e.id, u.id, CAST(s.units AS INTEGER), TRUE, 'active', '{}',
    'dataset', 0, 0
FROM load_company_entitlements s
JOIN companies c ON c.marketplace_id = 1 AND c.external_id = s.company_external_id
JOIN users u ON u.marketplace_id = 1 AND u.external_id = s.purchased_by_external_id
JOIN editions e ON e.marketplace_id = 1 AND e.code = s.edition_code;
INSERT INTO seat_assignments (subscription_id, user_id)
SELECT s.id, u.id
FROM load_user_entitlements a
JOIN subscriptions s ON s.marketplace_id = 1 AND s.external_id = a.company_entitlement_external_id
JOIN users u ON u.marketplace_id = 1 AND u.external_id = a.user_external_id;
";

/// The temporary tables the files are loaded into.
fn load_tables() -> String {
    LOAD_TABLES
        .iter()
        .map(|(file, columns)| {
            let columns: Vec<String> = columns.split(", ").map(|c| format!("{c} TEXT")).collect();
            format!("CREATE TEMP TABLE load_{file} ({});\n", columns.join(", "))
        })
        .collect()
}

/// The reference on SQLite, the fastest way it loads: `sqlite3 .import` of the dataset's
/// files into temporary tables (in memory, with a large page cache), then one `INSERT …
/// SELECT` per table, all in one transaction, into a fresh database with Ferry's schema.
async fn sqlite_loader(url: &str, db: &Path, files: &Path) -> f64 {
    let store = ferry_storage::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    marketplace(&store).await;
    // Every connection closed, so sqlite3 finds the file free.
    store.close().await;
    let mut script = String::from(
        ".bail on\n.mode csv\nPRAGMA temp_store = MEMORY;\nPRAGMA cache_size = -262144;\nBEGIN;\n",
    );
    script.push_str(&load_tables());
    for (file, _) in LOAD_TABLES {
        script.push_str(&format!(
            ".import --skip 1 {} load_{file}\n",
            files.join(format!("{file}.csv")).display()
        ));
    }
    script.push_str(LOAD_INTO_TABLES);
    script.push_str("COMMIT;\n");
    let started = Instant::now();
    let mut sqlite3 = Command::new("sqlite3")
        .arg(db)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sqlite3 (Debian's sqlite3 package) runs");
    sqlite3
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("script");
    let output = sqlite3.wait_with_output().expect("sqlite3");
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "sqlite3 .import failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    seconds
}

/// The reference on PostgreSQL: `COPY` (through `psql \copy`) of the dataset's files into
/// temporary tables, analysed so the planner knows their sizes, then one `INSERT … SELECT` per
/// table, in one transaction.
async fn postgres_loader(url: &str, files: &Path) -> f64 {
    let store = ferry_storage::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    marketplace(&store).await;
    // Ferry's connections closed: psql has the database to itself.
    store.close().await;
    let mut script = String::from("BEGIN;\n");
    script.push_str(&load_tables());
    for (file, _) in LOAD_TABLES {
        script.push_str(&format!(
            "\\copy load_{file} FROM '{}' WITH (FORMAT csv, HEADER true)\nANALYZE load_{file};\n",
            files.join(format!("{file}.csv")).display()
        ));
    }
    script.push_str(LOAD_INTO_TABLES);
    script.push_str("COMMIT;\n");
    let started = Instant::now();
    let mut psql = Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-q"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("psql runs");
    psql.stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("script");
    let output = psql.wait_with_output().expect("psql");
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "psql COPY failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    seconds
}
