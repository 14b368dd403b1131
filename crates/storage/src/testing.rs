//! Fresh databases for tests, on either backend, and [`on_both_backends!`](crate::on_both_backends)
//! to declare a test once for both.
//!
//! PostgreSQL tests need a running server: the test command (`scripts/test`) starts a throwaway
//! cluster and exports its URL as `FERRY_TEST_POSTGRES_URL`. Without it they fail and say so —
//! they are never skipped. Each test's database is a copy of one migrated template (made once
//! per cluster and set of migrations), and is dropped when the test ends.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, PgConnection};
use tokio::sync::OnceCell;

/// Declares each test once per backend — `sqlite::NAME` and `postgres::NAME` — each on a fresh,
/// migrated database. `open` (a function or associated function of the calling module, such as
/// `open` or `App::start`) turns the database URL into what the test takes; the test function
/// `NAME` of the calling module receives it.
#[macro_export]
macro_rules! on_both_backends {
    ($open:path => $($name:ident),* $(,)?) => {
        mod sqlite {
            // `open` is named as the calling module names it.
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let database = $crate::testing::TestDatabase::sqlite();
                    super::$name($open(database.url()).await).await;
                }
            )*
        }
        mod postgres {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let database = $crate::testing::TestDatabase::postgres().await;
                    super::$name($open(database.url()).await).await;
                }
            )*
        }
    };
}

/// A database that exists for one test: an SQLite file in a temporary directory, or a
/// PostgreSQL database on the test cluster, dropped with this value.
pub struct TestDatabase {
    url: String,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory for the test database");
        TestDatabase {
            url: sqlite_url(dir.path()),
            _dir: Some(dir),
            postgres: None,
        }
    }

    /// # Panics
    /// When `FERRY_TEST_POSTGRES_URL` is not set or the cluster cannot be reached.
    pub async fn postgres() -> Self {
        let admin = admin_url();
        let name = new_database(&admin).await;
        TestDatabase {
            url: with_database(&admin, &name),
            _dir: None,
            postgres: Some((admin, name)),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its own
        // drops the database, ending what connections the test left open.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&admin).await?;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await?;
                Ok::<_, sqlx::Error>(())
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop a test database: {e}");
        }
    }
}

/// The URL of a new SQLite database file inside `dir`.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("ferry.db").display())
}

/// Creates a migrated PostgreSQL database on the test cluster, kept after the test (for
/// benchmarks and tests that hand it to other processes), and returns its URL.
///
/// # Panics
/// When `FERRY_TEST_POSTGRES_URL` is not set or the cluster cannot be reached.
pub async fn postgres_url() -> String {
    let admin = admin_url();
    let name = new_database(&admin).await;
    with_database(&admin, &name)
}

fn admin_url() -> String {
    std::env::var("FERRY_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "FERRY_TEST_POSTGRES_URL is not set: PostgreSQL tests need the cluster that \
             scripts/test starts. Run the suite with scripts/test."
        )
    })
}

/// A new database copied from the migrated template.
async fn new_database(admin: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let template = template(admin).await;
    let name = format!(
        "ferry_test_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        crate::now().millis() % 1_000_000
    );
    let mut conn = PgConnection::connect(admin)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL at {admin}: {e}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE {name} TEMPLATE {template}"
    )))
    .execute(&mut conn)
    .await
    .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    name
}

/// The template every test database is copied from: migrated once per cluster and set of
/// migrations (its name carries their checksums), under an advisory lock so that test processes
/// running at once make it once.
async fn template(admin: &str) -> &'static str {
    static TEMPLATE: OnceCell<String> = OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            let mut digest = 0u64;
            for migration in crate::postgres::MIGRATOR.iter() {
                for byte in migration.checksum.iter() {
                    digest = digest.rotate_left(5) ^ u64::from(*byte);
                }
            }
            let name = format!("ferry_template_{digest:016x}");
            let mut conn = PgConnection::connect(admin)
                .await
                .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL at {admin}: {e}"));
            sqlx::query("SELECT pg_advisory_lock(7262)")
                .execute(&mut conn)
                .await
                .expect("the template lock");
            let exists: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                    .bind(&name)
                    .fetch_optional(&mut conn)
                    .await
                    .expect("look for the template");
            if exists.is_none() {
                let building = format!("{name}_building");
                for sql in [
                    format!("DROP DATABASE IF EXISTS {building}"),
                    format!("CREATE DATABASE {building}"),
                ] {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await
                        .expect("create the template");
                }
                let store = crate::postgres::PgStore::connect(
                    &with_database(admin, &building),
                    crate::files::Files::Database,
                )
                .await
                .expect("connect to the template");
                crate::Store::migrate(&store)
                    .await
                    .expect("migrate the template");
                crate::Store::close(&store).await;
                // Renamed only once complete, so a failed build is never taken for a template.
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "ALTER DATABASE {building} RENAME TO {name}"
                )))
                .execute(&mut conn)
                .await
                .expect("name the template");
            }
            sqlx::query("SELECT pg_advisory_unlock(7262)")
                .execute(&mut conn)
                .await
                .expect("release the template lock");
            name
        })
        .await
}

/// The same server URL with another database name.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    if query.is_empty() {
        format!("{server}/{database}")
    } else {
        format!("{server}/{database}?{query}")
    }
}

/// A real S3-compatible server for one test: moto's (`moto[server]` from PyPI, which
/// `scripts/test` installs beside the SMTP sink), with one empty bucket, stopped with this value.
/// Moto answers the S3 calls `object_store` makes — multipart uploads included — from memory,
/// and installs from the registries here; MinIO and Garage do not.
pub struct S3Server {
    process: std::process::Child,
    pub endpoint: String,
    pub bucket: String,
}

impl S3Server {
    /// # Panics
    /// When `FERRY_TEST_PYTHON` is not set or the server does not start.
    pub async fn start() -> S3Server {
        let python = std::env::var("FERRY_TEST_PYTHON").unwrap_or_else(|_| {
            panic!(
                "FERRY_TEST_PYTHON is not set: this test needs the Python with moto that \
                 scripts/test installs. Run the suite with scripts/test."
            )
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let process = std::process::Command::new(&python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto's S3 server with {python}: {e}"));
        let server = S3Server {
            process,
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket: "ferry-files".to_owned(),
        };
        // The crypto Ferry's processes install at start, for the HTTP clients here.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        // Moto takes no signature by default: the bucket is made with a plain PUT.
        let bucket = format!("{}/{}", server.endpoint, server.bucket);
        while !client
            .put(&bucket)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(
                std::time::Instant::now() < deadline,
                "moto's S3 server did not start on port {port}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        server
    }

    /// The storage setting for this server's bucket, reached at `endpoint`.
    pub fn storage(&self, endpoint: &str) -> crate::FileStorage {
        crate::FileStorage::S3(crate::S3Bucket {
            bucket: self.bucket.clone(),
            region: Some("us-east-1".to_owned()),
            endpoint: Some(endpoint.to_owned()),
            access_key_id: Some("ferry-test".to_owned()),
            secret_access_key: Some("ferry-test-secret".to_owned()),
        })
    }

    /// The names of the bucket's objects.
    pub async fn objects(&self) -> Vec<String> {
        self.listed("?list-type=2", "Key").await
    }

    /// The multipart uploads begun and neither completed nor aborted.
    pub async fn unfinished_uploads(&self) -> Vec<String> {
        self.listed("?uploads", "UploadId").await
    }

    async fn listed(&self, query: &str, element: &str) -> Vec<String> {
        let url = format!("{}/{}{query}", self.endpoint, self.bucket);
        let xml = reqwest::get(&url)
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("list the bucket")
            .text()
            .await
            .expect("the listing");
        let (open, close) = (format!("<{element}>"), format!("</{element}>"));
        xml.split(&open)
            .skip(1)
            .filter_map(|rest| rest.split_once(&close).map(|(value, _)| value.to_owned()))
            .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
