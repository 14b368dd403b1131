//! The User Sync statements, the same for both backends: compiled once into `crate::sqlite` and
//! once into `crate::postgres` (see `statements.rs`).

use std::collections::HashMap;

use ferry_domain::UserStatus;

use super::{BEGIN_WRITE, Db, This};
use crate::{SourceCompany, SourceUser, StoreError, UserSyncCounts, UserSyncRun};

const RUN_COLUMNS: &str = "id, marketplace_id, job_id, state, started_at, finished_at, companies, \
    created, updated, suspended, reactivated, conflicts, notes, error";

type Tx<'a> = sqlx::Transaction<'a, Db>;

/// Users written per statement.
const USERS_AT_ONCE: usize = 200;

/// A synced user as the store holds them.
#[derive(sqlx::FromRow)]
struct Known {
    source_id: String,
    user_id: i64,
    suspended_by_sync: Option<String>,
    email: String,
    first_name: Option<String>,
    last_name: Option<String>,
    status: String,
}

#[async_trait::async_trait]
impl crate::UserSyncStore for This {
    async fn start_user_sync_run(
        &self,
        marketplace_id: i64,
        job_id: i64,
    ) -> crate::Result<UserSyncRun> {
        sqlx::query(
            "INSERT INTO user_sync_runs (marketplace_id, job_id, state, started_at)
             VALUES ($1, $2, 'running', $3) ON CONFLICT (job_id) DO NOTHING",
        )
        .bind(marketplace_id)
        .bind(job_id)
        .bind(crate::now().millis())
        .execute(&self.pool)
        .await?;
        self.user_sync_run_of_job(marketplace_id, job_id)
            .await?
            .ok_or(StoreError::NotFound {
                what: "user sync run",
            })
    }

    async fn apply_source_users(
        &self,
        marketplace_id: i64,
        run_id: i64,
        companies: &[SourceCompany<'_>],
    ) -> crate::Result<UserSyncCounts> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let mut counts = UserSyncCounts::default();
        for company in companies {
            apply_company(&mut tx, marketplace_id, run_id, company, &mut counts).await?;
        }
        sqlx::query(
            "UPDATE user_sync_runs SET companies = companies + $2, created = created + $3,
                updated = updated + $4, suspended = suspended + $5,
                reactivated = reactivated + $6, conflicts = conflicts + $7
             WHERE id = $1",
        )
        .bind(run_id)
        .bind(i64::try_from(companies.len()).unwrap_or(i64::MAX))
        .bind(counts.created)
        .bind(counts.updated)
        .bind(counts.suspended)
        .bind(counts.reactivated)
        .bind(counts.conflicts)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(counts)
    }

    async fn finish_user_sync_run(
        &self,
        run_id: i64,
        notes: &[String],
        error: Option<&str>,
    ) -> crate::Result<()> {
        sqlx::query(
            "UPDATE user_sync_runs SET state = $2, notes = $3, error = $4, finished_at = $5
             WHERE id = $1",
        )
        .bind(run_id)
        .bind(if error.is_some() {
            "failed"
        } else {
            "completed"
        })
        .bind(sqlx::types::Json(notes))
        .bind(error)
        .bind(crate::now().millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn user_sync_runs(
        &self,
        marketplace_id: i64,
        limit: i64,
    ) -> crate::Result<Vec<UserSyncRun>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM user_sync_runs WHERE marketplace_id = $1
             ORDER BY id DESC LIMIT $2"
        )))
        .bind(marketplace_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn user_sync_run_of_job(
        &self,
        marketplace_id: i64,
        job_id: i64,
    ) -> crate::Result<Option<UserSyncRun>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM user_sync_runs WHERE marketplace_id = $1 AND job_id = $2"
        )))
        .bind(marketplace_id)
        .bind(job_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn user_sync_conflicts(
        &self,
        run_id: i64,
    ) -> crate::Result<Vec<crate::UserSyncConflict>> {
        Ok(sqlx::query_as(
            "SELECT tenant_id, source_id, email, source_name, company_id, existing_user_id
             FROM user_sync_conflicts WHERE run_id = $1 ORDER BY email, source_id",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn due_reminders(
        &self,
        now: i64,
        after: i64,
        limit: i64,
    ) -> crate::Result<Vec<(i64, i64)>> {
        Ok(sqlx::query_as(
            "SELECT u.marketplace_id, u.id FROM users u
             JOIN sync_settings s ON s.marketplace_id = u.marketplace_id
             WHERE s.reminders_since IS NOT NULL AND u.id > $2
               AND u.origin_kind IN ('dataset', 'import', 'sync')
               AND u.status IN ('created', 'invited') AND u.allow_login
               AND u.reminded_at IS NULL
               AND (CASE WHEN u.created_at > s.reminders_since THEN u.created_at
                         ELSE s.reminders_since END) + $3 <= $1
             ORDER BY u.id LIMIT $4",
        )
        .bind(now)
        .bind(after)
        .bind(crate::sync::users::REMIND_AFTER_MS)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn mark_reminded(&self, user_id: i64, at: i64) -> crate::Result<()> {
        sqlx::query("UPDATE users SET reminded_at = $2 WHERE id = $1 AND reminded_at IS NULL")
            .bind(user_id)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn tenant_companies(
        &self,
        marketplace_id: i64,
        after: i64,
        limit: i64,
    ) -> crate::Result<Vec<crate::TenantCompany>> {
        Ok(sqlx::query_as(
            "SELECT company_id, instance_id, tenant_id FROM tenant_links
             WHERE marketplace_id = $1 AND company_id > $2
             ORDER BY company_id, instance_id LIMIT $3",
        )
        .bind(marketplace_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// Writes one company's users within the caller's transaction, adding to `counts`.
async fn apply_company(
    tx: &mut Tx<'_>,
    marketplace_id: i64,
    run_id: i64,
    company: &SourceCompany<'_>,
    counts: &mut UserSyncCounts,
) -> crate::Result<()> {
    let tenant = company.tenant_id.to_ascii_lowercase();
    // The tenant's synced users, read once.
    let mut known: HashMap<String, Known> = sqlx::query_as::<_, Known>(
        "SELECT s.source_id, s.user_id, s.suspended_by_sync, u.email, u.first_name,
                u.last_name, u.status
             FROM user_sources s JOIN users u ON u.id = s.user_id
             WHERE s.marketplace_id = $1 AND s.tenant_id = $2",
    )
    .bind(marketplace_id)
    .bind(&tenant)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .map(|k| (k.source_id.clone(), k))
    .collect();
    let mut members = Vec::new();
    let mut new = Vec::new();
    for user in company.users {
        match known.remove(&user.source_id) {
            Some(was) => {
                if user.active {
                    members.push(was.user_id);
                }
                follow(
                    tx,
                    marketplace_id,
                    run_id,
                    company,
                    &tenant,
                    user,
                    was,
                    counts,
                )
                .await?;
            }
            None if user.active => new.push(user),
            None => {}
        }
    }
    members.extend(create(tx, marketplace_id, run_id, company, &tenant, &new, counts).await?);
    join(tx, company.company_id, &members).await?;
    if company.complete {
        // Gone at the source: every synced user of the tenant it no longer lists.
        for gone in known.into_values() {
            if gone.status != UserStatus::Suspended.as_str() {
                suspend(
                    tx,
                    marketplace_id,
                    &tenant,
                    &gone.source_id,
                    gone.user_id,
                    &gone.status,
                )
                .await?;
                counts.suspended += 1;
            }
        }
    }
    Ok(())
}

/// A known user follows their source: renamed, suspended when inactive there, reactivated
/// when back if User Sync suspended them. A new e-mail another user has is a conflict.
#[allow(clippy::too_many_arguments)]
async fn follow(
    tx: &mut Tx<'_>,
    marketplace_id: i64,
    run_id: i64,
    company: &SourceCompany<'_>,
    tenant: &str,
    user: &SourceUser,
    known: Known,
    counts: &mut UserSyncCounts,
) -> crate::Result<()> {
    if !user.active {
        if known.status != UserStatus::Suspended.as_str() {
            suspend(
                tx,
                marketplace_id,
                tenant,
                &user.source_id,
                known.user_id,
                &known.status,
            )
            .await?;
            counts.suspended += 1;
        }
        return Ok(());
    }
    let email = user.email.as_str();
    if known.email != email {
        let taken = email_holder(tx, marketplace_id, email).await?;
        match taken {
            Some(other) if other != known.user_id => {
                conflict(tx, run_id, company, tenant, user, other).await?;
                counts.conflicts += 1;
            }
            _ => {
                set_profile(tx, known.user_id, Some(email), user).await?;
                counts.updated += 1;
            }
        }
    } else if known.first_name != user.first_name || known.last_name != user.last_name {
        set_profile(tx, known.user_id, None, user).await?;
        counts.updated += 1;
    }
    if let Some(before) = &known.suspended_by_sync
        && known.status == UserStatus::Suspended.as_str()
    {
        sqlx::query("UPDATE users SET status = $2, updated_at = $3 WHERE id = $1")
            .bind(known.user_id)
            .bind(before)
            .bind(crate::now().millis())
            .execute(&mut **tx)
            .await?;
        counts.reactivated += 1;
    }
    // Whoever suspended the user, the sync no longer holds them suspended.
    if known.suspended_by_sync.is_some() {
        mark_suspended_by_sync(tx, marketplace_id, tenant, &user.source_id, None).await?;
    }
    Ok(())
}

/// Creates the new active users a few hundred per statement, with their source keys; one
/// whose e-mail another user has is a conflict instead. Answers the new users' ids.
async fn create(
    tx: &mut Tx<'_>,
    marketplace_id: i64,
    run_id: i64,
    company: &SourceCompany<'_>,
    tenant: &str,
    users: &[&SourceUser],
    counts: &mut UserSyncCounts,
) -> crate::Result<Vec<i64>> {
    let now = crate::now().millis();
    let mut created = Vec::new();
    for chunk in users.chunks(USERS_AT_ONCE) {
        let mut held =
            sqlx::QueryBuilder::<Db>::new("SELECT email, id FROM users WHERE marketplace_id = ");
        held.push_bind(marketplace_id).push(" AND email IN (");
        let mut list = held.separated(", ");
        for user in chunk {
            list.push_bind(user.email.as_str().to_owned());
        }
        held.push(")");
        let held: HashMap<String, i64> = held
            .build_query_as::<(String, i64)>()
            .fetch_all(&mut **tx)
            .await?
            .into_iter()
            .collect();
        let mut fresh = Vec::new();
        for user in chunk {
            match held.get(user.email.as_str()) {
                Some(other) => {
                    conflict(tx, run_id, company, tenant, user, *other).await?;
                    counts.conflicts += 1;
                }
                None => fresh.push(*user),
            }
        }
        if fresh.is_empty() {
            continue;
        }
        let mut insert = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO users (marketplace_id, email, first_name, last_name, allow_login, status,
                custom_attributes, origin_kind, origin_ref, created_at, updated_at) ",
        );
        let no_attributes = std::collections::BTreeMap::<String, String>::new();
        insert.push_values(&fresh, |mut row, u| {
            row.push_bind(marketplace_id)
                .push_bind(u.email.as_str().to_owned())
                .push_bind(u.first_name.clone())
                .push_bind(u.last_name.clone())
                .push_bind(true)
                .push_bind(UserStatus::Created.as_str())
                .push_bind(sqlx::types::Json(no_attributes.clone()))
                .push_bind(ferry_domain::Origin::Sync.kind())
                .push_bind(ferry_domain::Origin::Sync.reference())
                .push_bind(now)
                .push_bind(now);
        });
        let ids = super::inserted_ids(insert, tx).await?;
        let mut sources = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO user_sources (marketplace_id, tenant_id, source_id, user_id) ",
        );
        sources.push_values(fresh.iter().zip(&ids), |mut row, (u, id)| {
            row.push_bind(marketplace_id)
                .push_bind(tenant.to_owned())
                .push_bind(u.source_id.clone())
                .push_bind(*id);
        });
        sources.build().execute(&mut **tx).await?;
        counts.created += i64::try_from(ids.len()).unwrap_or(0);
        created.extend(ids);
    }
    Ok(created)
}

/// The user of the marketplace with this e-mail, if any.
async fn email_holder(
    tx: &mut Tx<'_>,
    marketplace_id: i64,
    email: &str,
) -> crate::Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM users WHERE marketplace_id = $1 AND email = $2")
            .bind(marketplace_id)
            .bind(email)
            .fetch_optional(&mut **tx)
            .await?,
    )
}

async fn set_profile(
    tx: &mut Tx<'_>,
    user_id: i64,
    email: Option<&str>,
    user: &SourceUser,
) -> crate::Result<()> {
    sqlx::query(
        "UPDATE users SET email = COALESCE($2, email), first_name = $3, last_name = $4,
            updated_at = $5, import_hash = NULL
         WHERE id = $1",
    )
    .bind(user_id)
    .bind(email)
    .bind(&user.first_name)
    .bind(&user.last_name)
    .bind(crate::now().millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Suspends a synced user and signs them out, remembering the status to give back.
async fn suspend(
    tx: &mut Tx<'_>,
    marketplace_id: i64,
    tenant: &str,
    source_id: &str,
    user_id: i64,
    status: &str,
) -> crate::Result<()> {
    sqlx::query("UPDATE users SET status = 'suspended', updated_at = $2 WHERE id = $1")
        .bind(user_id)
        .bind(crate::now().millis())
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE subject_kind = 'user' AND subject_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    mark_suspended_by_sync(tx, marketplace_id, tenant, source_id, Some(status)).await
}

async fn mark_suspended_by_sync(
    tx: &mut Tx<'_>,
    marketplace_id: i64,
    tenant: &str,
    source_id: &str,
    before: Option<&str>,
) -> crate::Result<()> {
    sqlx::query(
        "UPDATE user_sources SET suspended_by_sync = $4
         WHERE marketplace_id = $1 AND tenant_id = $2 AND source_id = $3",
    )
    .bind(marketplace_id)
    .bind(tenant)
    .bind(source_id)
    .bind(before)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Makes the users members of the company, those who are not yet.
async fn join(tx: &mut Tx<'_>, company_id: i64, users: &[i64]) -> crate::Result<()> {
    for chunk in users.chunks(USERS_AT_ONCE) {
        let mut sql =
            sqlx::QueryBuilder::<Db>::new("INSERT INTO memberships (user_id, company_id) ");
        sql.push_values(chunk, |mut row, id| {
            row.push_bind(*id).push_bind(company_id);
        });
        sql.push(" ON CONFLICT DO NOTHING");
        sql.build().execute(&mut **tx).await?;
    }
    Ok(())
}

async fn conflict(
    tx: &mut Tx<'_>,
    run_id: i64,
    company: &SourceCompany<'_>,
    tenant: &str,
    user: &SourceUser,
    existing_user_id: i64,
) -> crate::Result<()> {
    let name = match (&user.first_name, &user.last_name) {
        (Some(first), Some(last)) => Some(format!("{first} {last}")),
        (first, last) => first.clone().or_else(|| last.clone()),
    };
    sqlx::query(
        "INSERT INTO user_sync_conflicts (run_id, tenant_id, source_id, email, source_name,
            company_id, existing_user_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind(run_id)
    .bind(tenant)
    .bind(&user.source_id)
    .bind(user.email.as_str())
    .bind(name)
    .bind(company.company_id)
    .bind(existing_user_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
