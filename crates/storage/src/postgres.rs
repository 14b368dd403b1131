//! PostgreSQL, for installations that run several `ferry serve` and `ferry worker` processes.

use std::str::FromStr;

use sqlx::Postgres;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::Result;

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PgStore {
    pool: PgPool,
    /// The dataset pipeline's statements share the pool here: PostgreSQL's buffers are the
    /// server's, not a connection's (compare `SqliteStore::bulk`).
    bulk: PgPool,
    files: crate::files::Files,
}

impl PgStore {
    pub(crate) async fn connect(url: &str, files: crate::files::Files) -> Result<Self> {
        // Ferry's statements are many and short; compiling one with JIT costs more than it
        // saves (about 10 ms per staging batch).
        let options = PgConnectOptions::from_str(url)?.options([("jit", "off")]);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect_with(options)
            .await?;
        Ok(PgStore {
            bulk: pool.clone(),
            pool,
            files,
        })
    }
}

// What this backend does its own way; `statements.rs` is written in terms of these.
type This = PgStore;
type Db = Postgres;
const BACKEND: crate::Backend = crate::Backend::Postgres;
const BEGIN_WRITE: &str = "BEGIN";
// Concurrent workers pass over a job another one is claiming instead of queueing behind it.
macro_rules! skip_locked {
    () => {
        "FOR UPDATE SKIP LOCKED"
    };
}
// A row read to be changed waits for whoever changes it first.
macro_rules! for_update {
    () => {
        "FOR UPDATE"
    };
}
/// How this backend spells what dataset activation needs.
const DIALECT: crate::datasets::Dialect = crate::datasets::Dialect {
    distinct: "IS DISTINCT FROM",
    json_type: "JSONB",
    date_type: "DATE",
    bool_type: "BOOLEAN",
    json_get: "(CAST(d.before AS JSONB) ->> 'KEY')",
    analyze: "ANALYZE",
    vacuum: "VACUUM",
    json_object: "json_build_object",
    checks_begin: "",
    checks_end: "",
};

// The one implementation of the shared statements, compiled here for this backend as in the
// other backend's module: the same files on purpose.
#[allow(clippy::duplicate_mod)]
#[path = "statements.rs"]
mod statements;

impl PgStore {
    /// Stages rows with `COPY … FROM STDIN`, PostgreSQL's bulk path, into a temporary table,
    /// and from there into the staging table with each row's outcome decided on the way in.
    async fn stage_rows_fast(
        tx: &mut sqlx::PgConnection,
        dataset_id: i64,
        staged: &crate::StagedRows<'_>,
    ) -> Result<()> {
        let table = crate::datasets::identifier(staged.table)?;
        let columns = crate::datasets::staging_columns(staged)?;
        let incoming = format!("incoming_{table}");
        for sql in [
            // The connection's table from an earlier batch is reused without a notice each time.
            "SET LOCAL client_min_messages = warning".to_owned(),
            format!(
                "CREATE TEMPORARY TABLE IF NOT EXISTS {incoming} (LIKE {table} INCLUDING DEFAULTS)"
            ),
            format!("TRUNCATE {incoming}"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await?;
        }
        let mut data = Vec::with_capacity(staged.rows.len() * 96);
        for row in staged.rows {
            data.extend_from_slice(format!("{dataset_id},{}", row.line).as_bytes());
            for value in std::iter::once(&row.custom)
                .chain(std::iter::once(&Some(row.hash.clone())))
                .chain(row.values.iter())
            {
                data.push(b',');
                // Unquoted empty is NULL; a value is always quoted, so "" is an empty text.
                if let Some(value) = value {
                    data.push(b'"');
                    data.extend_from_slice(value.replace('"', "\"\"").as_bytes());
                    data.push(b'"');
                }
            }
            data.push(b'\n');
        }
        let copy = format!("COPY {incoming} ({columns}) FROM STDIN WITH (FORMAT csv)");
        let mut copy = tx.copy_in_raw(&copy).await?;
        copy.send(data).await?;
        copy.finish().await?;
        let outcome = crate::datasets::staged_outcome(table, staged.marketplace_id);
        let sql = format!(
            "INSERT INTO {table} ({columns}, outcome) SELECT {columns}, {outcome} FROM {incoming} AS s"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await?;
        Ok(())
    }
}
