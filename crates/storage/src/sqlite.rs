//! The embedded default: one SQLite file in WAL mode.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

use crate::Result;

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The bulk connection's page cache, in KiB (SQLite's negative `cache_size`): 64 MB. The
/// set-level checks run with less (`DIALECT.checks_begin`).
macro_rules! bulk_cache {
    () => {
        "-65536"
    };
}

pub struct SqliteStore {
    pool: SqlitePool,
    /// One connection with a large page cache, for the dataset pipeline's set-based statements
    /// (`datasets/staging_sql.rs`): they touch far more pages than a request, and with the
    /// default 2 MB cache a transaction of 100,000 rows spills its pages to the WAL and reads
    /// them back. One connection, so the cache is held once; SQLite writes one at a time anyway.
    bulk: SqlitePool,
    files: crate::files::Files,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file a `sqlite://PATH` URL names.
    pub(crate) async fn connect(url: &str, files: crate::files::Files) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?;
        owner_only(options.get_filename())?;
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // Several processes (server, workers) may share the file; a writer waits its turn.
            .busy_timeout(Duration::from_secs(30))
            // Rows come from SQLite's own thread: a larger buffer lets it run ahead of a
            // reader of many rows instead of waiting on it every fifty.
            .row_buffer_size(1024);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.clone())
            .await?;
        let bulk = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                options
                    .pragma("cache_size", bulk_cache!())
                    .pragma("wal_autocheckpoint", BULK_CHECKPOINT),
            )
            .await?;
        Ok(SqliteStore { pool, bulk, files })
    }
}

/// The bulk connection moves the WAL into the database once it holds this many pages (64 MB)
/// rather than SQLite's 1,000: the pipeline commits every few thousand rows, and each
/// checkpoint writes and syncs the database file.
const BULK_CHECKPOINT: &str = "16384";

/// Makes the database file readable by its owner only, creating it so when new: SQLite gives
/// its WAL and shared-memory files the database file's mode. The file holds sessions' and
/// links' hashes, sealed secrets and the outbox.
fn owner_only(path: &std::path::Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if path.as_os_str().is_empty() || path.as_os_str() == ":memory:" {
            return Ok(());
        }
        let io = |error: std::io::Error| crate::StoreError::Database(sqlx::Error::Io(error));
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        for suffix in ["", "-wal", "-shm"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
            if file.exists() {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .map_err(io)?;
            }
        }
    }
    Ok(())
}

// What this backend does its own way; `statements.rs` is written in terms of these.
type This = SqliteStore;
type Db = Sqlite;
const BACKEND: crate::Backend = crate::Backend::Sqlite;
// Take the write lock up front: a deferred transaction that reads first cannot upgrade
// once another connection has written, whatever the busy timeout.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
// SQLite has one writer at a time; the claiming UPDATE is atomic on its own.
macro_rules! skip_locked {
    () => {
        ""
    };
}
// BEGIN IMMEDIATE already holds the only write lock.
macro_rules! for_update {
    () => {
        ""
    };
}
/// How this backend spells what dataset activation needs.
const DIALECT: crate::datasets::Dialect = crate::datasets::Dialect {
    distinct: "IS NOT",
    json_type: "TEXT",
    date_type: "TEXT",
    bool_type: "INTEGER",
    json_get: "json_extract(d.before, '$.KEY')",
    analyze: "",
    vacuum: "",
    json_object: "json_object",
    // 8 MB while checking; the bulk connection's own after.
    checks_begin: "PRAGMA cache_size = -8192",
    checks_end: concat!("PRAGMA cache_size = ", bulk_cache!()),
};

// The one implementation of the shared statements, compiled here for this backend as in the
// other backend's module: the same files on purpose.
#[allow(clippy::duplicate_mod)]
#[path = "statements.rs"]
mod statements;

/// Rows a staging INSERT carries. Each connection keeps its statements prepared, and one of
/// thousands of rows would hold megabytes; a few hundred rows stay far below SQLite's 32,766
/// parameters a statement too.
const ROWS_PER_INSERT: usize = 250;

impl SqliteStore {
    /// Stages rows with multi-row INSERTs, each row's outcome decided on the way in.
    async fn stage_rows_fast(
        tx: &mut sqlx::SqliteConnection,
        dataset_id: i64,
        staged: &crate::StagedRows<'_>,
    ) -> Result<()> {
        let table = crate::datasets::identifier(staged.table)?;
        let columns = crate::datasets::staging_columns(staged)?;
        // The VALUES columns are column1, column2, …: name them as the table does.
        let named: Vec<String> = columns
            .split(", ")
            .enumerate()
            .map(|(i, column)| format!("column{} AS {column}", i + 1))
            .collect();
        let outcome = crate::datasets::staged_outcome(table, staged.marketplace_id);
        let head = format!(
            "INSERT INTO {table} ({columns}, outcome) SELECT s.*, {outcome} FROM (SELECT {} FROM (",
            named.join(", ")
        );
        for chunk in staged.rows.chunks(ROWS_PER_INSERT) {
            let mut sql = sqlx::QueryBuilder::new(head.as_str());
            sql.push_values(chunk, |mut row, staged| {
                row.push_bind(dataset_id)
                    .push_bind(staged.line)
                    .push_bind(staged.custom.clone())
                    .push_bind(staged.hash.clone());
                for value in &staged.values {
                    row.push_bind(value.clone());
                }
            });
            sql.push(")) AS s");
            sql.build().execute(&mut *tx).await?;
        }
        Ok(())
    }
}
