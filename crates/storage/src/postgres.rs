//! PostgreSQL, for installations that run several `ferry serve` and `ferry worker` processes.

use sqlx::Postgres;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::Result;
use crate::datasets::dataset_columns;
use crate::shared::{
    CompanySearch, HasDatabase, company_columns, impl_store, instance_columns, job_columns,
    membership_columns, user_columns,
};

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub async fn connect(url: &str) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect(url)
            .await?;
        Ok(PgStore { pool })
    }
}

impl HasDatabase for PgStore {
    type Database = Postgres;
}

impl_store! {
    store: PgStore,
    backend: crate::Backend::Postgres,
    migrator: MIGRATOR,
    begin_write: "BEGIN",
    // Concurrent workers pass over a job another one is claiming instead of queueing behind it.
    skip_locked: "FOR UPDATE SKIP LOCKED",
}

crate::datasets::impl_dataset_store! {
    store: PgStore,
    begin_write: "BEGIN",
    dialect: crate::datasets::Dialect {
        distinct: "IS DISTINCT FROM",
        json_type: "JSONB",
        date_type: "DATE",
        bool_type: "BOOLEAN",
        json_get: "(CAST(d.before AS JSONB) ->> 'KEY')",
        json_object: "json_build_object",
    },
}
