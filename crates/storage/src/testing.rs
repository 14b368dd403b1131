//! Fresh databases for tests, on either backend.
//!
//! PostgreSQL tests need a running server: the test command (`scripts/test`) starts a throwaway
//! cluster and exports its URL as `FERRY_TEST_POSTGRES_URL`. Without it they fail and say so —
//! they are never skipped.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

/// The URL of a new SQLite database file inside `dir`.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("ferry.db").display())
}

/// Creates an empty PostgreSQL database on the test cluster and returns its URL.
///
/// # Panics
/// When `FERRY_TEST_POSTGRES_URL` is not set or the cluster cannot be reached.
pub async fn postgres_url() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let admin = std::env::var("FERRY_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "FERRY_TEST_POSTGRES_URL is not set: PostgreSQL tests need the cluster that \
             scripts/test starts. Run the suite with scripts/test."
        )
    });
    let name = format!(
        "ferry_test_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        crate::now().millis() % 1_000_000
    );
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL at {admin}: {e}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    with_database(&admin, &name)
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
