//! The statements SQLite and PostgreSQL share, compiled once into each backend's module.
//!
//! `sqlite.rs` and `postgres.rs` each declare this file as their `statements` module after
//! naming what differs between them: the store type `This`, the sqlx database `Db`, `BACKEND`,
//! `MIGRATOR`, `BEGIN_WRITE` (the statement that opens a transaction which will write) and the
//! `skip_locked!()` clause that lets concurrent workers pass over a claimed job. Each area's
//! `sql.rs` below is then the one implementation of its trait, written once for both.
//! Parameters are `$1, $2, …`, which both understand; times are integers.

use super::{BACKEND, BEGIN_WRITE, DIALECT, Db, MIGRATOR, This};

#[path = "access/sql.rs"]
mod access;
#[path = "audit/sql.rs"]
mod audit;
#[path = "catalog/sql.rs"]
mod catalog;
#[path = "companies/sql.rs"]
mod companies;
#[path = "datasets/provisioning_sql.rs"]
mod dataset_provisioning;
#[path = "datasets/report_sql.rs"]
mod dataset_report;
#[path = "datasets/staging_sql.rs"]
mod dataset_staging;
#[path = "datasets/sql.rs"]
mod datasets;
#[path = "google/sql.rs"]
mod google;
#[path = "hierarchy/sql.rs"]
mod hierarchy;
#[path = "imports/sql.rs"]
mod imports;
#[path = "instances/sql.rs"]
mod instances;
#[path = "jobs/sql.rs"]
mod jobs;
#[path = "marketplaces/sql.rs"]
mod marketplaces;
#[path = "outbox/sql.rs"]
mod outbox;
#[path = "schedules/sql.rs"]
mod schedules;
#[path = "subscriptions/sql.rs"]
mod subscriptions;
#[path = "sync/sql.rs"]
mod sync;
#[path = "sync/users_sql.rs"]
mod sync_users;
#[path = "users/sql.rs"]
mod users;

/// How many hits of a trigram index a contains-search sorts at once; a term with more is
/// frequent, and first tests up to `WALK_BUDGET` rows in list order, which usually hold a page
/// of it (companies, users, the tenant list).
const SORTED_AT_MOST: i64 = 1_000;
const WALK_BUDGET: i64 = 5_000;

#[async_trait::async_trait]
impl crate::Store for This {
    fn backend(&self) -> crate::Backend {
        BACKEND
    }

    async fn close(&self) {
        self.pool.close().await;
        self.bulk.close().await;
    }

    async fn migrate(&self) -> crate::Result<usize> {
        let before = self.applied_migrations().await?;
        MIGRATOR.run(&self.pool).await?;
        Ok(self.applied_migrations().await? - before)
    }

    async fn take_write_lock(&self) -> crate::Result<()> {
        self.pool.begin_with(BEGIN_WRITE).await?.rollback().await?;
        Ok(())
    }

    async fn pending_migrations(&self) -> crate::Result<usize> {
        let applied: Vec<(i64, Vec<u8>)> =
            match sqlx::query_as("SELECT version, checksum FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await
            {
                Ok(rows) => rows,
                // No migrations table yet: nothing is applied.
                Err(sqlx::Error::Database(_)) => Vec::new(),
                Err(e) => return Err(e.into()),
            };
        let mut pending = 0;
        for migration in MIGRATOR
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
        {
            match applied.iter().find(|(v, _)| *v == migration.version) {
                Some((_, checksum)) if checksum.as_slice() != &*migration.checksum => {
                    return Err(
                        sqlx::migrate::MigrateError::VersionMismatch(migration.version).into(),
                    );
                }
                Some(_) => {}
                None => pending += 1,
            }
        }
        Ok(pending)
    }
}

impl This {
    async fn applied_migrations(&self) -> crate::Result<usize> {
        match sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(&self.pool)
            .await
        {
            Ok(n) => Ok(usize::try_from(n).unwrap_or(0)),
            Err(sqlx::Error::Database(_)) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }
}

async fn insert_user<'e, E>(
    executor: E,
    marketplace_id: i64,
    u: &ferry_domain::NewUser,
    password_hash: Option<&str>,
) -> crate::Result<i64>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    let insert = sqlx::query(
        "INSERT INTO users (marketplace_id, external_id, email, first_name, last_name,
            locale, phone, allow_login, status, password_hash, custom_attributes,
            origin_kind, origin_ref, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)
         RETURNING id",
    )
    .bind(marketplace_id);
    let row = bind_user_profile(insert, u)
        .bind(u.status.as_str())
        .bind(password_hash)
        .bind(sqlx::types::Json(&u.custom_attributes))
        .bind(u.origin.kind())
        .bind(u.origin.reference())
        .bind(crate::now().millis())
        .fetch_one(executor)
        .await?;
    Ok(sqlx::Row::try_get(&row, 0)?)
}

type Query<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments>;

/// Binds what a user says of themself, `external_id` to `allow_login`, in the order both the
/// insert and the update name them.
fn bind_user_profile<'q>(query: Query<'q>, u: &ferry_domain::NewUser) -> Query<'q> {
    query
        .bind(&u.external_id)
        .bind(u.email.as_str())
        .bind(&u.first_name)
        .bind(&u.last_name)
        .bind(&u.locale)
        .bind(&u.phone)
        .bind(u.allow_login)
}

/// Queues a job; with `executor` a transaction, together with what the caller writes in it.
async fn insert_job<'e, E>(executor: E, job: &crate::NewJob) -> crate::Result<i64>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    let now = crate::now().millis();
    Ok(sqlx::query_scalar(
        "INSERT INTO jobs (marketplace_id, kind, payload, state, max_attempts, run_at, created_at)
         VALUES ($1, $2, $3, 'queued', $4, $5, $6) RETURNING id",
    )
    .bind(job.marketplace_id)
    .bind(&job.kind)
    .bind(sqlx::types::Json(&job.payload))
    .bind(job.max_attempts)
    .bind(job.run_at.map_or(now, |at| at.millis()))
    .bind(now)
    .fetch_one(executor)
    .await?)
}

async fn insert_audit<'e, E>(executor: E, entry: &crate::NewAuditEntry) -> crate::Result<()>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    sqlx::query(
        "INSERT INTO audit_log (marketplace_id, actor, action, entity_type, entity_id,
            changes, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(entry.marketplace_id)
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(&entry.entity_type)
    .bind(entry.entity_id)
    .bind(sqlx::types::Json(&entry.changes))
    .bind(crate::now().millis())
    .execute(executor)
    .await?;
    Ok(())
}

/// Escapes `%`, `_` and `\` so a search term matches literally in `LIKE … ESCAPE '\'`.
fn like_escape(term: &str) -> String {
    term.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The smallest string greater than every string that starts with `prefix`.
fn prefix_end(prefix: &str) -> String {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = char::from_u32(u32::from(last) + 1) {
            chars.push(next);
            return chars.into_iter().collect();
        }
    }
    String::from(char::MAX)
}

/// Runs a multi-row `INSERT … VALUES` and answers the new rows' ids in the order of its rows.
/// Both backends hand out ids in the order of a statement's `VALUES` (SQLite's next rowid,
/// PostgreSQL's identity sequence, which only grows), so the returned ids, sorted, pair with
/// the rows whatever order `RETURNING` lists them in.
async fn inserted_ids(
    mut insert: sqlx::QueryBuilder<Db>,
    tx: &mut <Db as sqlx::Database>::Connection,
) -> crate::Result<Vec<i64>> {
    insert.push(" RETURNING id");
    let mut ids: Vec<i64> = insert.build_query_scalar().fetch_all(&mut *tx).await?;
    ids.sort_unstable();
    Ok(ids)
}

/// Turns "no row matched" into the error naming what was missing.
fn found(rows: u64, what: &'static str) -> crate::Result<()> {
    if rows == 0 {
        Err(crate::StoreError::NotFound { what })
    } else {
        Ok(())
    }
}

/// Records a job's checkpoint (and its audit line) inside a transaction, only while the
/// lease is held: the caller's step and the checkpoint commit together or not at all.
async fn write_checkpoint(
    tx: &mut sqlx::Transaction<'_, Db>,
    lease: &crate::Lease,
    checkpoint: &crate::Checkpoint,
) -> crate::Result<()> {
    let done = sqlx::query(
        "UPDATE jobs SET checkpoint = $3, progress_done = $4, progress_total = $5,
            progress_message = $6
         WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
    )
    .bind(lease.job_id)
    .bind(&lease.owner)
    .bind(sqlx::types::Json(&checkpoint.data))
    .bind(checkpoint.progress.done)
    .bind(checkpoint.progress.total)
    .bind(&checkpoint.progress.message)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(crate::StoreError::LeaseLost {
            job_id: lease.job_id,
        });
    }
    if let Some(entry) = &checkpoint.audit {
        insert_audit(&mut **tx, entry).await?;
    }
    Ok(())
}

/// A fresh database of this backend, for the tests of the statements.
#[cfg(test)]
async fn test_database() -> crate::testing::TestDatabase {
    match BACKEND {
        crate::Backend::Sqlite => crate::testing::TestDatabase::sqlite(),
        crate::Backend::Postgres => crate::testing::TestDatabase::postgres().await,
    }
}

#[cfg(test)]
mod tests {
    use ferry_domain::{MarketplaceKind, Slug};
    use serde_json::json;

    use super::{This, test_database};
    use crate::{JobStore, MarketplaceStore, NewJob, NewMarketplace, Store};

    #[tokio::test]
    async fn dataset_jobs_queued_before_migration_10_get_their_marketplace_in_the_payload() {
        let database = test_database().await;
        let store = This::connect(database.url(), crate::files::Files::Database)
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        let marketplace = store
            .create_marketplace(&NewMarketplace {
                slug: Slug::parse("old").expect("slug"),
                name: "Old".into(),
                kind: MarketplaceKind::Distributor,
                parent_id: None,
            })
            .await
            .expect("marketplace");
        // As the database stood before migration 10: undone, and a job queued the old way.
        sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 10")
            .execute(&store.pool)
            .await
            .expect("undo 10");
        let queued = |kind: &str| NewJob {
            marketplace_id: Some(marketplace.id),
            kind: kind.into(),
            payload: json!({ "dataset_id": 7 }),
            max_attempts: 5,
            run_at: None,
        };
        let dataset_job = store
            .enqueue_job(&queued("dataset.activate"))
            .await
            .expect("enqueue");
        let other_job = store.enqueue_job(&queued("probe")).await.expect("enqueue");

        assert_eq!(store.migrate().await.expect("migrate"), 1);
        let payload = async |id| store.job(id).await.expect("read").expect("job").payload;
        assert_eq!(
            payload(dataset_job).await,
            json!({ "dataset_id": 7, "marketplace_id": marketplace.id })
        );
        assert_eq!(payload(other_job).await, json!({ "dataset_id": 7 }));
    }
}
