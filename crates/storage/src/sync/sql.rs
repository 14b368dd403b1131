//! The Company Sync statements, the same for both backends: compiled once into `crate::sqlite`
//! and once into `crate::postgres` (see `statements.rs`).

use ferry_domain::PendingState;

use super::{BEGIN_WRITE, Db, This, insert_audit, like_escape};
use crate::{NewAuditEntry, PendingCompany, StoreError, SyncFound, SyncRun};

const SETTINGS_COLUMNS: &str = "company_sync, create_automatically, invite_admins, \
    sales_support_pending, customer_support_pending, instance_id, interval_minutes, \
    user_sync_partner_center, user_sync_google, user_interval_minutes, reminders_since";
const RUN_COLUMNS: &str = "id, marketplace_id, job_id, state, started_by, started_at, \
    finished_at, tenants, new_pending, created, linked, gone, error";
const PENDING_COLUMNS: &str = "p.id, p.instance_id, p.tenant_id, p.name, p.domain, p.country, \
    p.contact_name, p.contact_email, p.state, p.suggestions, p.best_score, p.first_seen_at, \
    p.gone_at, p.company_id, c.name AS company_name, p.import_run_id, p.decided_by, \
    p.decided_at";
const PENDING_FROM: &str = "FROM pending_companies p \
    LEFT JOIN companies c ON c.id = p.company_id AND c.marketplace_id = p.marketplace_id";
/// A waiting tenant no company is linked to (a link made anywhere since takes it out at once).
const UNLINKED: &str = "NOT EXISTS (SELECT 1 FROM tenant_links l \
    WHERE l.marketplace_id = p.marketplace_id AND l.tenant_id = p.tenant_id)";
/// Pending rows written per statement.
const PENDING_AT_ONCE: usize = 200;

#[async_trait::async_trait]
impl crate::SyncStore for This {
    async fn sync_settings(&self, marketplace_id: i64) -> crate::Result<crate::SyncSettings> {
        let stored: Option<crate::SyncSettings> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {SETTINGS_COLUMNS} FROM sync_settings WHERE marketplace_id = $1"
        )))
        .bind(marketplace_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(stored.unwrap_or_default())
    }

    async fn set_sync_settings(
        &self,
        marketplace_id: i64,
        s: &crate::SyncSettings,
        by: &str,
    ) -> crate::Result<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO sync_settings (marketplace_id, {SETTINGS_COLUMNS}, updated_at, updated_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT (marketplace_id) DO UPDATE SET company_sync = excluded.company_sync,
                create_automatically = excluded.create_automatically,
                invite_admins = excluded.invite_admins,
                sales_support_pending = excluded.sales_support_pending,
                customer_support_pending = excluded.customer_support_pending,
                instance_id = excluded.instance_id,
                interval_minutes = excluded.interval_minutes,
                user_sync_partner_center = excluded.user_sync_partner_center,
                user_sync_google = excluded.user_sync_google,
                user_interval_minutes = excluded.user_interval_minutes,
                reminders_since = excluded.reminders_since,
                updated_at = excluded.updated_at, updated_by = excluded.updated_by"
        )))
        .bind(marketplace_id)
        .bind(s.company_sync)
        .bind(s.create_automatically)
        .bind(s.invite_admins)
        .bind(s.sales_support_pending)
        .bind(s.customer_support_pending)
        .bind(s.instance_id)
        .bind(s.interval_minutes)
        .bind(s.user_sync_partner_center)
        .bind(s.user_sync_google)
        .bind(s.user_interval_minutes)
        .bind(s.reminders_since)
        .bind(crate::now().millis())
        .bind(by)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn start_sync_run(
        &self,
        marketplace_id: i64,
        job_id: i64,
        started_by: &str,
    ) -> crate::Result<SyncRun> {
        sqlx::query(
            "INSERT INTO sync_runs (marketplace_id, job_id, state, started_by, started_at)
             VALUES ($1, $2, 'running', $3, $4) ON CONFLICT (job_id) DO NOTHING",
        )
        .bind(marketplace_id)
        .bind(job_id)
        .bind(started_by)
        .bind(crate::now().millis())
        .execute(&self.pool)
        .await?;
        self.sync_run_of_job(marketplace_id, job_id)
            .await?
            .ok_or(StoreError::NotFound { what: "sync run" })
    }

    async fn count_sync_run(&self, run_id: i64, found: &SyncFound) -> crate::Result<()> {
        sqlx::query(
            "UPDATE sync_runs SET tenants = tenants + $2, created = created + $3,
                linked = linked + $4, gone = gone + $5
             WHERE id = $1",
        )
        .bind(run_id)
        .bind(found.tenants)
        .bind(found.created)
        .bind(found.linked)
        .bind(found.gone)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn finish_sync_run(&self, run_id: i64, error: Option<&str>) -> crate::Result<()> {
        // The tenants it brought into the queue, counted once whatever the attempts.
        sqlx::query(
            "UPDATE sync_runs SET state = $2, error = $3, finished_at = $4,
                new_pending = (SELECT COUNT(*) FROM pending_companies p
                               WHERE p.first_run_id = sync_runs.id)
             WHERE id = $1",
        )
        .bind(run_id)
        .bind(if error.is_some() {
            "failed"
        } else {
            "completed"
        })
        .bind(error)
        .bind(crate::now().millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn sync_runs(&self, marketplace_id: i64, limit: i64) -> crate::Result<Vec<SyncRun>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM sync_runs WHERE marketplace_id = $1
             ORDER BY id DESC LIMIT $2"
        )))
        .bind(marketplace_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn sync_run_of_job(
        &self,
        marketplace_id: i64,
        job_id: i64,
    ) -> crate::Result<Option<SyncRun>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM sync_runs WHERE marketplace_id = $1 AND job_id = $2"
        )))
        .bind(marketplace_id)
        .bind(job_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn queue_pending(
        &self,
        marketplace_id: i64,
        instance_id: i64,
        run_id: i64,
        tenants: &[crate::NewPending],
    ) -> crate::Result<i64> {
        let now = crate::now().millis();
        let mut new = 0;
        for chunk in tenants.chunks(PENDING_AT_ONCE) {
            let mut sql = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO pending_companies (marketplace_id, instance_id, tenant_id, name,
                    domain, country, contact_name, contact_email, state, suggestions, best_score,
                    first_seen_at, first_run_id) ",
            );
            sql.push_values(chunk, |mut row, t| {
                row.push_bind(marketplace_id)
                    .push_bind(instance_id)
                    .push_bind(t.tenant_id.to_ascii_lowercase())
                    .push_bind(&t.name)
                    .push_bind(&t.domain)
                    .push_bind(&t.country)
                    .push_bind(&t.contact_name)
                    .push_bind(&t.contact_email)
                    .push_bind("pending")
                    .push_bind(sqlx::types::Json(&t.suggestions))
                    .push_bind(t.suggestions.first().map(|s| i32::from(s.score)))
                    .push_bind(now)
                    .push_bind(run_id);
            });
            // What was decided stays, except that a tenant whose company went is waiting again.
            sql.push(
                " ON CONFLICT (marketplace_id, instance_id, tenant_id) DO UPDATE SET
                    name = excluded.name, domain = excluded.domain, country = excluded.country,
                    contact_name = excluded.contact_name, contact_email = excluded.contact_email,
                    suggestions = excluded.suggestions, best_score = excluded.best_score,
                    gone_at = NULL,
                    state = CASE WHEN pending_companies.state IN ('linked', 'created')
                        THEN 'pending' ELSE pending_companies.state END
                 RETURNING first_run_id",
            );
            let firsts: Vec<Option<i64>> = sql.build_query_scalar().fetch_all(&self.pool).await?;
            new += firsts.iter().filter(|f| **f == Some(run_id)).count();
        }
        Ok(i64::try_from(new).unwrap_or(i64::MAX))
    }

    async fn settle_pending(
        &self,
        marketplace_id: i64,
        instance_id: i64,
        snapshot: i64,
    ) -> crate::Result<(i64, i64)> {
        let now = crate::now().millis();
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let linked = sqlx::query(
            "UPDATE pending_companies SET state = 'linked',
                company_id = (SELECT MIN(l.company_id) FROM tenant_links l
                              WHERE l.marketplace_id = pending_companies.marketplace_id
                                AND l.tenant_id = pending_companies.tenant_id),
                decided_by = 'Company Sync', decided_at = $3
             WHERE marketplace_id = $1 AND instance_id = $2
               AND state IN ('pending', 'dismissed')
               AND EXISTS (SELECT 1 FROM tenant_links l
                           WHERE l.marketplace_id = pending_companies.marketplace_id
                             AND l.tenant_id = pending_companies.tenant_id)",
        )
        .bind(marketplace_id)
        .bind(instance_id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let gone = sqlx::query(
            "UPDATE pending_companies SET gone_at = $4
             WHERE marketplace_id = $1 AND instance_id = $2 AND gone_at IS NULL
               AND state IN ('pending', 'dismissed')
               AND NOT EXISTS (SELECT 1 FROM hierarchy_tenants h
                               WHERE h.run_id = $3 AND h.tenant_id = pending_companies.tenant_id)",
        )
        .bind(marketplace_id)
        .bind(instance_id)
        .bind(snapshot)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok((
            i64::try_from(linked).unwrap_or(0),
            i64::try_from(gone).unwrap_or(0),
        ))
    }

    async fn pending_companies(
        &self,
        marketplace_id: i64,
        query: &crate::PendingQuery,
    ) -> crate::Result<Vec<PendingCompany>> {
        let state = query.state.unwrap_or(PendingState::Pending);
        let mut sql = sqlx::QueryBuilder::<Db>::new(format!(
            "SELECT {PENDING_COLUMNS} {PENDING_FROM} WHERE p.marketplace_id = "
        ));
        sql.push_bind(marketplace_id)
            .push(" AND p.state = ")
            .push_bind(state.as_str());
        if state.open() {
            sql.push(format!(" AND {UNLINKED}"));
        }
        if let Some(term) = query
            .search
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let contains = format!("%{}%", like_escape(&term.to_lowercase()));
            let starts = format!("{}%", like_escape(&term.to_lowercase()));
            sql.push(" AND (lower(p.name) LIKE ")
                .push_bind(contains.clone())
                .push(" ESCAPE '\\' OR lower(p.domain) LIKE ")
                .push_bind(contains.clone())
                .push(" ESCAPE '\\' OR lower(p.contact_email) LIKE ")
                .push_bind(contains.clone())
                .push(" ESCAPE '\\' OR lower(p.contact_name) LIKE ")
                .push_bind(contains)
                .push(" ESCAPE '\\' OR p.tenant_id LIKE ")
                .push_bind(starts)
                .push(" ESCAPE '\\')");
        }
        match query.matched {
            Some(true) => sql.push(" AND p.best_score IS NOT NULL"),
            Some(false) => sql.push(" AND p.best_score IS NULL"),
            None => &mut sql,
        };
        if let Some(country) = &query.country {
            sql.push(" AND p.country = ")
                .push_bind(country.to_ascii_uppercase());
        }
        if let Some((name, id)) = &query.after {
            sql.push(" AND (lower(p.name) > ")
                .push_bind(name.clone())
                .push(" OR (lower(p.name) = ")
                .push_bind(name.clone())
                .push(" AND p.id > ")
                .push_bind(*id)
                .push("))");
        }
        sql.push(" ORDER BY lower(p.name), p.id LIMIT ")
            .push_bind(query.limit);
        Ok(sql.build_query_as().fetch_all(&self.pool).await?)
    }

    async fn count_pending(&self, marketplace_id: i64) -> crate::Result<i64> {
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM pending_companies p
             WHERE p.marketplace_id = $1 AND p.state = 'pending' AND {UNLINKED}"
        )))
        .bind(marketplace_id)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn pending_company(
        &self,
        marketplace_id: i64,
        id: i64,
    ) -> crate::Result<Option<PendingCompany>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {PENDING_COLUMNS} {PENDING_FROM} WHERE p.marketplace_id = $1 AND p.id = $2"
        )))
        .bind(marketplace_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn link_pending(
        &self,
        marketplace_id: i64,
        id: i64,
        company_id: i64,
        by: &str,
    ) -> crate::Result<PendingCompany> {
        let now = crate::now().millis();
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        // Only a tenant still open is decided: of two people linking it, the second finds it
        // decided (PostgreSQL re-reads the row once the first commits).
        let decided: Option<(i64, String, String, Option<String>)> = sqlx::query_as(
            "UPDATE pending_companies SET state = 'linked', company_id = $3, decided_by = $4,
                decided_at = $5
             WHERE marketplace_id = $1 AND id = $2 AND state IN ('pending', 'dismissed')
             RETURNING instance_id, tenant_id, name, domain",
        )
        .bind(marketplace_id)
        .bind(id)
        .bind(company_id)
        .bind(by)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((instance_id, tenant_id, tenant_name, domain)) = decided else {
            return Err(StoreError::Conflict {
                key: "decision on this pending company",
            });
        };
        let inserted = sqlx::query(
            "INSERT INTO tenant_links (marketplace_id, instance_id, company_id, tenant_id,
                domain_prefix, reseller_mpn_id, created_at)
             SELECT c.marketplace_id, $3, c.id, $4, $5, NULL, $6 FROM companies c
             WHERE c.marketplace_id = $1 AND c.id = $2",
        )
        .bind(marketplace_id)
        .bind(company_id)
        .bind(instance_id)
        .bind(&tenant_id)
        .bind(domain.as_deref().map(ferry_domain::domain_prefix))
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Err(StoreError::NotFound { what: "company" });
        }
        insert_audit(
            &mut *tx,
            &NewAuditEntry {
                marketplace_id: Some(marketplace_id),
                actor: by.to_owned(),
                action: "company.tenant_linked".into(),
                entity_type: "company".into(),
                entity_id: Some(company_id),
                changes: serde_json::json!({
                    "tenant_id": tenant_id, "tenant_name": tenant_name,
                    "from": "Pending Companies",
                }),
            },
        )
        .await?;
        tx.commit().await?;
        self.pending_company(marketplace_id, id)
            .await?
            .ok_or(StoreError::NotFound {
                what: "pending company",
            })
    }

    async fn dismiss_pending(
        &self,
        marketplace_id: i64,
        ids: &[i64],
        dismissed: bool,
        by: &str,
    ) -> crate::Result<i64> {
        let (from, to) = if dismissed {
            ("pending", "dismissed")
        } else {
            ("dismissed", "pending")
        };
        let mut sql = sqlx::QueryBuilder::<Db>::new("UPDATE pending_companies SET state = ");
        sql.push_bind(to)
            .push(", decided_by = ")
            .push_bind(by)
            .push(", decided_at = ")
            .push_bind(crate::now().millis())
            .push(" WHERE marketplace_id = ")
            .push_bind(marketplace_id)
            .push(" AND state = ")
            .push_bind(from)
            .push(" AND id IN (");
        let mut list = sql.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        sql.push(")");
        let changed = sql.build().execute(&self.pool).await?.rows_affected();
        Ok(i64::try_from(changed).unwrap_or(0))
    }

    async fn pending_for_creation(
        &self,
        marketplace_id: i64,
        ids: &[i64],
    ) -> crate::Result<Vec<PendingCompany>> {
        let mut sql = sqlx::QueryBuilder::<Db>::new(format!(
            "SELECT {PENDING_COLUMNS} {PENDING_FROM} WHERE p.marketplace_id = "
        ));
        sql.push_bind(marketplace_id).push(format!(
            " AND p.state IN ('pending', 'dismissed') AND {UNLINKED} AND p.id IN ("
        ));
        let mut list = sql.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        sql.push(") ORDER BY p.id");
        Ok(sql.build_query_as().fetch_all(&self.pool).await?)
    }

    async fn mark_pending_creating(
        &self,
        marketplace_id: i64,
        instance_id: i64,
        tenant_ids: &[String],
        import_run_id: i64,
        by: &str,
    ) -> crate::Result<()> {
        for chunk in tenant_ids.chunks(PENDING_AT_ONCE) {
            let mut sql = sqlx::QueryBuilder::<Db>::new(
                "UPDATE pending_companies SET state = 'creating', import_run_id = ",
            );
            sql.push_bind(import_run_id)
                .push(", decided_by = ")
                .push_bind(by)
                .push(", decided_at = ")
                .push_bind(crate::now().millis())
                .push(" WHERE marketplace_id = ")
                .push_bind(marketplace_id)
                .push(" AND instance_id = ")
                .push_bind(instance_id)
                .push(" AND state IN ('pending', 'dismissed') AND tenant_id IN (");
            let mut list = sql.separated(", ");
            for id in chunk {
                list.push_bind(id.to_ascii_lowercase());
            }
            sql.push(")");
            sql.build().execute(&self.pool).await?;
        }
        Ok(())
    }
}
