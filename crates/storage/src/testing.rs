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
                let store = crate::postgres::PgStore::connect(&with_database(admin, &building))
                    .await
                    .expect("connect to the template");
                crate::Store::migrate(&store)
                    .await
                    .expect("migrate the template");
                store.close().await;
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
