//! The import statements, the same for both backends: compiled once into `crate::sqlite` and
//! once into `crate::postgres` (see `statements.rs`).

use super::companies::insert_company;
use super::{BEGIN_WRITE, Db, This, found, insert_user};
use crate::imports::{
    Decision, ImportCount, ImportRun, ImportStart, ImportState, ImportSubscription, ImportTab,
    ImportTenant, LastImport, NewImport, Selection, TenantOutcome, TenantPlan, UnmappedOffer,
};

/// The columns of [`ImportRun`].
const RUN_COLUMNS: &str = "id, marketplace_id, instance_id, snapshot, state, job_id, started_by, \
    responsible_user_id, started_at, finished_at, error";

/// The columns of [`ImportTenant`].
const TENANT_COLUMNS: &str = "tenant_id, name, tab, target_marketplace_id, status, company_id, \
    company_created, notes";

/// Ids bound in one statement.
const IDS_AT_ONCE: usize = 500;

type Connection = <Db as sqlx::Database>::Connection;

#[async_trait::async_trait]
impl crate::ImportStore for This {
    async fn start_import(&self, new: &NewImport<'_>) -> crate::Result<ImportStart> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let run: ImportRun = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO import_runs (marketplace_id, instance_id, snapshot, state, started_by,
                responsible_user_id, started_at)
             VALUES ($1, $2, $3, 'running', $4, $5, $6) RETURNING {RUN_COLUMNS}"
        )))
        .bind(new.marketplace_id)
        .bind(new.instance_id)
        .bind(new.snapshot)
        .bind(new.started_by)
        .bind(new.responsible_user_id)
        .bind(crate::now().millis())
        .fetch_one(&mut *tx)
        .await?;
        // The tenants are claimed for the run; those another run holds keep their claim.
        let claim = "INSERT INTO import_claims (marketplace_id, instance_id, tenant_id, run_id)
             SELECT COALESCE(a.tenant_reseller_id, $1), $2, a.tenant_id, $3 FROM tenant_audits a
             WHERE a.marketplace_id = $1 AND a.instance_id = $2 AND ";
        let mut unknown = Vec::new();
        let found = match new.selection {
            Selection::NotImported => {
                // Not imported when audited, nor linked since (by an earlier run).
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "{claim} a.status = 'not-imported' AND NOT EXISTS (SELECT 1 FROM tenant_links l
                        WHERE l.marketplace_id = COALESCE(a.tenant_reseller_id, $1)
                          AND l.tenant_id = a.tenant_id)
                     ON CONFLICT DO NOTHING"
                )))
                .bind(new.marketplace_id)
                .bind(new.instance_id)
                .bind(run.id)
                .execute(&mut *tx)
                .await?;
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM tenant_audits a
                     WHERE a.marketplace_id = $1 AND a.instance_id = $2
                       AND a.status = 'not-imported' AND NOT EXISTS (SELECT 1 FROM tenant_links l
                        WHERE l.marketplace_id = COALESCE(a.tenant_reseller_id, $1)
                          AND l.tenant_id = a.tenant_id)",
                )
                .bind(new.marketplace_id)
                .bind(new.instance_id)
                .fetch_one(&mut *tx)
                .await?
            }
            Selection::Tenants(ids) => {
                let mut ids: Vec<String> = ids.iter().map(|i| i.trim().to_lowercase()).collect();
                ids.sort();
                ids.dedup();
                let mut found = 0;
                for chunk in ids.chunks(IDS_AT_ONCE) {
                    let mut sql = sqlx::QueryBuilder::<Db>::new(
                        "INSERT INTO import_claims (marketplace_id, instance_id, tenant_id, run_id)
                         SELECT COALESCE(a.tenant_reseller_id, ",
                    );
                    sql.push_bind(new.marketplace_id)
                        .push("), ")
                        .push_bind(new.instance_id)
                        .push(", a.tenant_id, ")
                        .push_bind(run.id)
                        .push(" FROM tenant_audits a WHERE a.marketplace_id = ")
                        .push_bind(new.marketplace_id)
                        .push(" AND a.instance_id = ")
                        .push_bind(new.instance_id)
                        .push(" AND a.tenant_id IN (");
                    let mut list = sql.separated(", ");
                    for id in chunk {
                        list.push_bind(id.clone());
                    }
                    sql.push(") ON CONFLICT DO NOTHING");
                    sql.build().execute(&mut *tx).await?;
                    let known: Vec<String> =
                        audited_ids(&mut tx, new.marketplace_id, new.instance_id, chunk).await?;
                    found += i64::try_from(known.len()).unwrap_or(0);
                    unknown.extend(chunk.iter().filter(|id| !known.contains(id)).cloned());
                }
                found
            }
        };
        let taken = sqlx::query(
            "INSERT INTO import_tenants (run_id, tenant_id, name, tab, target_marketplace_id,
                status)
             SELECT c.run_id, a.tenant_id, a.name,
                CASE WHEN a.tenant_reseller_id IS NOT NULL THEN 'tenant-reseller'
                     WHEN a.reseller_tenant_id IS NOT NULL THEN 'indirect'
                     ELSE 'direct' END,
                c.marketplace_id, 'pending'
             FROM import_claims c JOIN tenant_audits a ON a.marketplace_id = $1
                AND a.instance_id = $2 AND a.tenant_id = c.tenant_id
             WHERE c.run_id = $3",
        )
        .bind(new.marketplace_id)
        .bind(new.instance_id)
        .bind(run.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let taken = i64::try_from(taken).unwrap_or(0);
        let run = if taken == 0 {
            tx.rollback().await?;
            None
        } else {
            tx.commit().await?;
            Some(run)
        };
        Ok(ImportStart {
            run,
            taken,
            held: found - taken,
            unknown,
        })
    }

    async fn set_import_job(&self, run_id: i64, job_id: i64) -> crate::Result<()> {
        let done = sqlx::query("UPDATE import_runs SET job_id = $2 WHERE id = $1")
            .bind(run_id)
            .bind(job_id)
            .execute(&self.pool)
            .await?;
        found(done.rows_affected(), "import run")
    }

    async fn import_run(
        &self,
        marketplace_id: i64,
        run_id: i64,
    ) -> crate::Result<Option<ImportRun>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM import_runs WHERE marketplace_id = $1 AND id = $2"
        )))
        .bind(marketplace_id)
        .bind(run_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn import_runs(&self, marketplace_id: i64, limit: i64) -> crate::Result<Vec<ImportRun>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM import_runs WHERE marketplace_id = $1
             ORDER BY id DESC LIMIT $2"
        )))
        .bind(marketplace_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn pending_import_tenants(
        &self,
        run_id: i64,
        limit: i64,
    ) -> crate::Result<Vec<ImportTenant>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TENANT_COLUMNS} FROM import_tenants
             WHERE run_id = $1 AND status = 'pending' ORDER BY tenant_id LIMIT $2"
        )))
        .bind(run_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn apply_import(&self, run: &ImportRun, plans: &[TenantPlan]) -> crate::Result<()> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        for plan in plans {
            apply_tenant(&mut tx, run, plan).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn retry_import(&self, run_id: i64) -> crate::Result<i64> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        sqlx::query(
            "INSERT INTO import_claims (marketplace_id, instance_id, tenant_id, run_id)
             SELECT t.target_marketplace_id, r.instance_id, t.tenant_id, r.id
             FROM import_tenants t JOIN import_runs r ON r.id = t.run_id
             WHERE t.run_id = $1 AND t.status = 'completed-with-errors' AND r.state <> 'running'
             ON CONFLICT DO NOTHING",
        )
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
        let taken = sqlx::query(
            "UPDATE import_tenants SET status = 'pending', finished_at = NULL
             WHERE run_id = $1 AND tenant_id IN
                (SELECT tenant_id FROM import_claims WHERE run_id = $1)",
        )
        .bind(run_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if taken > 0 {
            sqlx::query(
                "UPDATE import_runs SET state = 'running', finished_at = NULL, error = NULL
                 WHERE id = $1",
            )
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(i64::try_from(taken).unwrap_or(0))
    }

    async fn fail_import_tenants(
        &self,
        run_id: i64,
        tenant_ids: &[String],
        why: &str,
    ) -> crate::Result<()> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        for tenant_id in tenant_ids {
            sqlx::query(
                "UPDATE import_tenants SET status = 'failed', notes = $3, finished_at = $4
                 WHERE run_id = $1 AND tenant_id = $2 AND status = 'pending'",
            )
            .bind(run_id)
            .bind(tenant_id)
            .bind(sqlx::types::Json([why]))
            .bind(crate::now().millis())
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM import_claims WHERE run_id = $1 AND tenant_id = $2")
                .bind(run_id)
                .bind(tenant_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn pending_count(&self, run_id: i64) -> crate::Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM import_tenants WHERE run_id = $1 AND status = 'pending'",
        )
        .bind(run_id)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn finish_import(
        &self,
        run_id: i64,
        state: ImportState,
        error: Option<&str>,
    ) -> crate::Result<()> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let now = crate::now().millis();
        let done = sqlx::query(
            "UPDATE import_runs SET state = $2, error = $3, finished_at = $4 WHERE id = $1",
        )
        .bind(run_id)
        .bind(state.as_str())
        .bind(error)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        found(done.rows_affected(), "import run")?;
        // A run that ends with tenants still waiting lets them go, saying why.
        sqlx::query(
            "UPDATE import_tenants SET status = 'failed', finished_at = $2,
                notes = $3
             WHERE run_id = $1 AND status = 'pending'",
        )
        .bind(run_id)
        .bind(now)
        .bind(sqlx::types::Json([format!(
            "Not imported: the run stopped ({}).",
            error.unwrap_or("no reason given")
        )]))
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM import_claims WHERE run_id = $1")
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn import_counts(&self, run_id: i64) -> crate::Result<Vec<ImportCount>> {
        Ok(sqlx::query_as(
            "SELECT tab, status, COUNT(*) AS tenants FROM import_tenants WHERE run_id = $1
             GROUP BY tab, status ORDER BY tab, status",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn import_results(
        &self,
        run_id: i64,
        tab: ImportTab,
        after: Option<(String, String)>,
        limit: i64,
    ) -> crate::Result<Vec<ImportTenant>> {
        let (name, tenant) = after.unwrap_or_default();
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TENANT_COLUMNS} FROM import_tenants
             WHERE run_id = $1 AND tab = $2
               AND (lower(name) > $3 OR (lower(name) = $3 AND tenant_id > $4))
             ORDER BY lower(name), tenant_id LIMIT $5"
        )))
        .bind(run_id)
        .bind(tab.as_str())
        .bind(name)
        .bind(tenant)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn import_subscriptions(
        &self,
        run_id: i64,
        tenant_ids: &[String],
    ) -> crate::Result<Vec<ImportSubscription>> {
        let mut rows = Vec::new();
        for chunk in tenant_ids.chunks(IDS_AT_ONCE) {
            let mut sql = sqlx::QueryBuilder::<Db>::new(
                "SELECT tenant_id, subscription_id, offer_id, offer_name, outcome, code, reason,
                    marketplace_subscription_id, start_date, billing_start_date
                 FROM import_subscriptions WHERE run_id = ",
            );
            sql.push_bind(run_id).push(" AND tenant_id IN (");
            let mut list = sql.separated(", ");
            for id in chunk {
                list.push_bind(id.clone());
            }
            sql.push(") ORDER BY tenant_id, subscription_id");
            rows.extend(sql.build_query_as().fetch_all(&self.pool).await?);
        }
        Ok(rows)
    }

    async fn last_imports(
        &self,
        marketplace_id: i64,
        instance_id: i64,
        tenant_ids: &[String],
    ) -> crate::Result<Vec<LastImport>> {
        if tenant_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = sqlx::QueryBuilder::<Db>::new(
            "SELECT t.tenant_id, t.run_id, t.status FROM import_tenants t
             JOIN import_runs r ON r.id = t.run_id
             WHERE r.marketplace_id = ",
        );
        sql.push_bind(marketplace_id)
            .push(" AND r.instance_id = ")
            .push_bind(instance_id)
            .push(" AND t.tenant_id IN (");
        let mut list = sql.separated(", ");
        for id in tenant_ids.iter().take(IDS_AT_ONCE) {
            list.push_bind(id.to_ascii_lowercase());
        }
        sql.push(") ORDER BY t.tenant_id, t.run_id DESC");
        let mut rows: Vec<LastImport> = sql.build_query_as().fetch_all(&self.pool).await?;
        rows.dedup_by(|later, newest| later.tenant_id == newest.tenant_id);
        Ok(rows)
    }

    async fn unmapped_offers(&self, run_id: i64) -> crate::Result<Vec<UnmappedOffer>> {
        Ok(sqlx::query_as(
            "SELECT offer_id, MAX(offer_name) AS offer_name, COUNT(*) AS subscriptions
             FROM import_subscriptions
             WHERE run_id = $1 AND outcome = 'failed' AND code = 'OFFER_NOT_MAPPED'
               AND offer_id IS NOT NULL
             GROUP BY offer_id ORDER BY COUNT(*) DESC, offer_id",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn offer_mappings(
        &self,
        marketplace_id: i64,
    ) -> crate::Result<Vec<(ferry_domain::OfferId, i64)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT o.offer_id, o.edition_id FROM edition_offers o
             JOIN editions e ON e.id = o.edition_id
             WHERE o.marketplace_id = $1 AND o.active AND e.active",
        )
        .bind(marketplace_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(offer, edition)| {
                Some((ferry_domain::OfferId::parse(&offer).ok()?, edition))
            })
            .collect())
    }
}

/// Which of `ids` the marketplace's audit of the instance lists.
async fn audited_ids(
    tx: &mut Connection,
    marketplace_id: i64,
    instance_id: i64,
    ids: &[String],
) -> crate::Result<Vec<String>> {
    let mut sql = sqlx::QueryBuilder::<Db>::new(
        "SELECT tenant_id FROM tenant_audits WHERE marketplace_id = ",
    );
    sql.push_bind(marketplace_id)
        .push(" AND instance_id = ")
        .push_bind(instance_id)
        .push(" AND tenant_id IN (");
    let mut list = sql.separated(", ");
    for id in ids {
        list.push_bind(id.clone());
    }
    sql.push(")");
    Ok(sql.build_query_scalar().fetch_all(&mut *tx).await?)
}

/// Writes one tenant's plan: its company (unless one is linked already) with its contact,
/// admin user, link and reseller, then the subscriptions it lacks, and the results of both.
async fn apply_tenant(
    tx: &mut Connection,
    run: &ImportRun,
    plan: &TenantPlan,
) -> crate::Result<()> {
    let target = plan.target_marketplace_id;
    let tenant_id = plan.tenant_id.to_ascii_lowercase();
    let pending: Option<(sqlx::types::Json<Vec<String>>,)> = sqlx::query_as(
        "SELECT notes FROM import_tenants
         WHERE run_id = $1 AND tenant_id = $2 AND status = 'pending'",
    )
    .bind(run.id)
    .bind(&tenant_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((sqlx::types::Json(earlier),)) = pending else {
        return Ok(());
    };
    let linked: Option<i64> = sqlx::query_scalar(
        "SELECT company_id FROM tenant_links WHERE marketplace_id = $1 AND tenant_id = $2
         ORDER BY company_id LIMIT 1",
    )
    .bind(target)
    .bind(&tenant_id)
    .fetch_optional(&mut *tx)
    .await?;
    let created = linked.is_none();
    // A retry keeps what the first pass said of the company.
    let mut notes = match (created, earlier.is_empty()) {
        (true, _) => plan.notes.clone(),
        (false, true) => vec![
            "The company was linked to the tenant already: only the subscriptions it lacked \
             were added."
                .to_owned(),
        ],
        (false, false) => earlier,
    };
    let (company_id, admin) = match linked {
        Some(company) => {
            let admin: Option<i64> = sqlx::query_scalar(
                "SELECT user_id FROM memberships WHERE company_id = $1 AND company_admin
                 ORDER BY user_id LIMIT 1",
            )
            .bind(company)
            .fetch_optional(&mut *tx)
            .await?;
            (company, admin)
        }
        None => create_company(tx, run, plan, &mut notes).await?,
    };
    let mut failed = false;
    let now = crate::now().millis();
    for s in &plan.subscriptions {
        let subscription_id = s.subscription_id.to_ascii_lowercase();
        let (outcome, code, reason, id, dates) = match &s.decision {
            Decision::Import(new) => {
                let present: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM subscriptions
                     WHERE marketplace_id = $1 AND lower(vendor_subscription_id) = $2",
                )
                .bind(target)
                .bind(&subscription_id)
                .fetch_optional(&mut *tx)
                .await?;
                match present {
                    Some(id) => (
                        "skipped",
                        Some("ALREADY_PRESENT"),
                        Some("already present".to_owned()),
                        Some(id),
                        (None, None),
                    ),
                    None => {
                        let id: i64 = sqlx::query_scalar(
                            "INSERT INTO subscriptions (marketplace_id, company_id, edition_id,
                                purchased_by, units, start_date, billing_start_date, end_date,
                                billing_cycle, term, auto_renew, status, vendor_subscription_id,
                                custom_attributes, origin_kind, origin_ref, created_at,
                                updated_at)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                                $14, 'import', $15, $16, $16)
                             RETURNING id",
                        )
                        .bind(target)
                        .bind(company_id)
                        .bind(new.edition_id)
                        .bind(admin)
                        .bind(new.units)
                        .bind(new.start_date)
                        .bind(new.billing_start_date)
                        .bind(new.end_date)
                        .bind(&new.billing_cycle)
                        .bind(&new.term)
                        .bind(new.auto_renew)
                        .bind(new.status.as_str())
                        .bind(&subscription_id)
                        .bind(sqlx::types::Json(&new.custom_attributes))
                        .bind(run.id)
                        .bind(now)
                        .fetch_one(&mut *tx)
                        .await?;
                        (
                            "imported",
                            None,
                            None,
                            Some(id),
                            (new.start_date, new.billing_start_date),
                        )
                    }
                }
            }
            Decision::Skip { code, reason } => (
                "skipped",
                Some(*code),
                Some(reason.clone()),
                None,
                (None, None),
            ),
            Decision::Fail { code, reason } => {
                failed = true;
                (
                    "failed",
                    Some(*code),
                    Some(reason.clone()),
                    None,
                    (None, None),
                )
            }
        };
        // A retry rewrites only what had failed.
        sqlx::query(
            "INSERT INTO import_subscriptions (run_id, tenant_id, subscription_id, offer_id,
                offer_name, outcome, code, reason, marketplace_subscription_id, start_date,
                billing_start_date)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (run_id, tenant_id, subscription_id) DO UPDATE SET
                outcome = excluded.outcome, code = excluded.code, reason = excluded.reason,
                marketplace_subscription_id = excluded.marketplace_subscription_id,
                start_date = excluded.start_date, billing_start_date = excluded.billing_start_date
             WHERE import_subscriptions.outcome = 'failed'",
        )
        .bind(run.id)
        .bind(&tenant_id)
        .bind(&subscription_id)
        .bind(&s.offer_id)
        .bind(&s.offer_name)
        .bind(outcome)
        .bind(code)
        .bind(reason)
        .bind(id)
        .bind(dates.0)
        .bind(dates.1)
        .execute(&mut *tx)
        .await?;
    }
    let status = if failed {
        TenantOutcome::CompletedWithErrors
    } else {
        TenantOutcome::Completed
    };
    sqlx::query(
        "UPDATE import_tenants SET status = $3, company_id = $4,
            company_created = COALESCE(company_created, $5), notes = $6, finished_at = $7
         WHERE run_id = $1 AND tenant_id = $2",
    )
    .bind(run.id)
    .bind(&tenant_id)
    .bind(status.as_str())
    .bind(company_id)
    .bind(created)
    .bind(sqlx::types::Json(&notes))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM import_claims WHERE run_id = $1 AND tenant_id = $2")
        .bind(run.id)
        .bind(&tenant_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Creates the tenant's company with its contact, admin user, tenant link and reseller
/// association; answers the company and its admin user.
async fn create_company(
    tx: &mut Connection,
    run: &ImportRun,
    plan: &TenantPlan,
    notes: &mut Vec<String>,
) -> crate::Result<(i64, Option<i64>)> {
    let target = plan.target_marketplace_id;
    let company = insert_company(&mut *tx, target, &plan.company).await?;
    // The responsible user is one of the run's marketplace.
    if target == run.marketplace_id && run.responsible_user_id.is_some() {
        sqlx::query("UPDATE companies SET responsible_user_id = $2 WHERE id = $1")
            .bind(company)
            .bind(run.responsible_user_id)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(contact) = &plan.contact {
        for kind in ["primary", "bill_to"] {
            sqlx::query(
                "INSERT INTO contacts (company_id, kind, first_name, last_name, email, phone)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(company)
            .bind(kind)
            .bind(&contact.first_name)
            .bind(&contact.last_name)
            .bind(contact.email.as_ref().map(|e| e.as_str()))
            .bind(&contact.phone)
            .execute(&mut *tx)
            .await?;
        }
    }
    let mut admin = None;
    if let Some(user) = &plan.admin {
        let taken: Option<i64> =
            sqlx::query_scalar("SELECT id FROM users WHERE marketplace_id = $1 AND email = $2")
                .bind(target)
                .bind(user.email.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        match taken {
            Some(_) => notes.push(format!(
                "No admin user: {} belongs to another user of the marketplace.",
                user.email
            )),
            None => {
                let id = insert_user(&mut *tx, target, user, None).await?;
                sqlx::query(
                    "INSERT INTO memberships (user_id, company_id, company_admin) VALUES ($1, $2, $3)",
                )
                .bind(id)
                .bind(company)
                .bind(true)
                .execute(&mut *tx)
                .await?;
                admin = Some(id);
            }
        }
    }
    let link = &plan.link;
    sqlx::query(
        "INSERT INTO tenant_links (marketplace_id, instance_id, company_id, tenant_id,
            domain_prefix, reseller_mpn_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(target)
    .bind(link.instance_id)
    .bind(company)
    .bind(link.tenant_id.to_ascii_lowercase())
    .bind(
        link.domain_prefix
            .as_deref()
            .map(ferry_domain::domain_prefix),
    )
    .bind(&link.reseller_mpn_id)
    .bind(crate::now().millis())
    .execute(&mut *tx)
    .await?;
    if let Some(reseller) = &plan.reseller {
        let existing: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM companies WHERE marketplace_id = $1 AND mpn_id = $2",
        )
        .bind(target)
        .bind(&reseller.mpn_id)
        .fetch_optional(&mut *tx)
        .await?;
        let reseller_company = match existing {
            Some(id) => id,
            None => {
                let new = ferry_domain::NewCompany {
                    status: ferry_domain::CompanyStatus::Active,
                    ..ferry_domain::NewCompany::named(
                        reseller.name.clone(),
                        ferry_domain::Origin::Import(run.id),
                    )
                };
                let id = insert_company(&mut *tx, target, &new).await?;
                sqlx::query("UPDATE companies SET mpn_id = $2 WHERE id = $1")
                    .bind(id)
                    .bind(&reseller.mpn_id)
                    .execute(&mut *tx)
                    .await?;
                notes.push(format!(
                    "Created the reseller company {} (MPN id {}).",
                    reseller.name, reseller.mpn_id
                ));
                id
            }
        };
        sqlx::query(
            "INSERT INTO reseller_associations (company_id, reseller_company_id) VALUES ($1, $2)",
        )
        .bind(company)
        .bind(reseller_company)
        .execute(&mut *tx)
        .await?;
    }
    Ok((company, admin))
}
