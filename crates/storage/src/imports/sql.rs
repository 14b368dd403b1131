//! The import statements, the same for both backends: compiled once into `crate::sqlite` and
//! once into `crate::postgres` (see `statements.rs`).

use std::collections::{BTreeSet, HashMap};

use super::companies::{CompanyRow, insert_company, insert_company_rows};
use super::{BACKEND, BEGIN_WRITE, Db, This, found, inserted_ids};
use crate::imports::{
    Decision, ImportCount, ImportRun, ImportStart, ImportState, ImportSubscription, ImportTab,
    ImportTenant, ImportedSubscription, LastImport, NewImport, ResellerPlan, Selection,
    SubscriptionPlan, TenantOutcome, TenantPlan, UnmappedOffer,
};

/// The columns of [`ImportRun`].
const RUN_COLUMNS: &str = "id, marketplace_id, instance_id, snapshot, state, job_id, started_by, \
    responsible_user_id, invite_admins, started_at, finished_at, error";

/// The columns of [`ImportTenant`].
const TENANT_COLUMNS: &str = "tenant_id, name, tab, target_marketplace_id, status, company_id, \
    company_created, notes";

/// Ids bound in one statement.
const IDS_AT_ONCE: usize = 500;
/// Values bound in one statement: rows at once are this divided by their columns.
const ROWS_AT_ONCE: usize = 3_000;

type Connection = <Db as sqlx::Database>::Connection;

#[async_trait::async_trait]
impl crate::ImportStore for This {
    async fn start_import(&self, new: &NewImport<'_>) -> crate::Result<ImportStart> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let run: ImportRun = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO import_runs (marketplace_id, instance_id, snapshot, state, started_by,
                responsible_user_id, invite_admins, started_at)
             VALUES ($1, $2, $3, 'running', $4, $5, $6, $7) RETURNING {RUN_COLUMNS}"
        )))
        .bind(new.marketplace_id)
        .bind(new.instance_id)
        .bind(new.snapshot)
        .bind(new.started_by)
        .bind(new.responsible_user_id)
        .bind(new.invite_admins)
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
        after: &str,
        limit: i64,
    ) -> crate::Result<Vec<ImportTenant>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TENANT_COLUMNS} FROM import_tenants
             WHERE run_id = $1 AND status = 'pending' AND tenant_id > $2
             ORDER BY tenant_id LIMIT $3"
        )))
        .bind(run_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn apply_import(&self, run: &ImportRun, plans: &[TenantPlan]) -> crate::Result<()> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        apply_batch(&mut tx, run, plans).await?;
        settle_pending_companies(&mut tx, run.id).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn created_admins(&self, run_id: i64, tenant_ids: &[String]) -> crate::Result<Vec<i64>> {
        let mut admins = Vec::new();
        for chunk in tenant_ids.chunks(IDS_AT_ONCE) {
            let mut sql = sqlx::QueryBuilder::<Db>::new(
                "SELECT DISTINCT m.user_id FROM import_tenants t
                 JOIN memberships m ON m.company_id = t.company_id AND m.company_admin
                 JOIN users u ON u.id = m.user_id AND u.status = 'created'
                 WHERE t.company_created AND t.run_id = ",
            );
            sql.push_bind(run_id).push(" AND t.tenant_id IN (");
            let mut list = sql.separated(", ");
            for id in chunk {
                list.push_bind(id.clone());
            }
            sql.push(") ORDER BY m.user_id");
            admins.extend(
                sql.build_query_scalar::<i64>()
                    .fetch_all(&self.pool)
                    .await?,
            );
        }
        Ok(admins)
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
        settle_pending_companies(&mut tx, run_id).await?;
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

    async fn unmapped_offers(
        &self,
        run_id: i64,
        marketplace_id: i64,
    ) -> crate::Result<Vec<UnmappedOffer>> {
        Ok(sqlx::query_as(
            "SELECT s.offer_id, MAX(s.offer_name) AS offer_name, COUNT(*) AS subscriptions
             FROM import_subscriptions s JOIN import_tenants t
                ON t.run_id = s.run_id AND t.tenant_id = s.tenant_id
             WHERE s.run_id = $1 AND s.outcome = 'failed' AND s.code = 'OFFER_NOT_MAPPED'
               AND s.offer_id IS NOT NULL AND t.target_marketplace_id = $2
             GROUP BY s.offer_id ORDER BY COUNT(*) DESC, s.offer_id",
        )
        .bind(run_id)
        .bind(marketplace_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn analyze_import_tables(&self) -> crate::Result<()> {
        if BACKEND == crate::Backend::Postgres {
            sqlx::query(
                "ANALYZE companies, users, memberships, tenant_links, subscriptions,
                    import_tenants, import_claims",
            )
            .execute(&self.pool)
            .await?;
        }
        Ok(())
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

/// Writes a batch of plans: the tenants' companies (unless one is linked already) with their
/// contacts, admin users, links and resellers, then the subscriptions they lack, and the
/// results of all — a handful of statements for the whole batch, one per company created.
async fn apply_batch(
    tx: &mut Connection,
    run: &ImportRun,
    plans: &[TenantPlan],
) -> crate::Result<()> {
    let ids: Vec<String> = plans
        .iter()
        .map(|p| p.tenant_id.to_ascii_lowercase())
        .collect();
    // Only tenants still waiting in this run: a batch applied already is not applied again.
    let mut earlier: HashMap<String, Vec<String>> = HashMap::new();
    for chunk in ids.chunks(IDS_AT_ONCE) {
        let mut sql = sqlx::QueryBuilder::<Db>::new(
            "SELECT tenant_id, notes FROM import_tenants WHERE status = 'pending' AND run_id = ",
        );
        sql.push_bind(run.id).push(" AND tenant_id IN (");
        push_ids(&mut sql, chunk);
        let rows: Vec<(String, sqlx::types::Json<Vec<String>>)> =
            sql.build_query_as().fetch_all(&mut *tx).await?;
        earlier.extend(rows.into_iter().map(|(t, n)| (t, n.0)));
    }
    let plans: Vec<(&TenantPlan, String)> = plans
        .iter()
        .zip(ids)
        .filter(|(_, id)| earlier.contains_key(id))
        .collect();
    if plans.is_empty() {
        return Ok(());
    }
    let now = crate::now().millis();
    let linked = linked_companies(tx, &plans).await?;
    let linked: Vec<Option<i64>> = plans
        .iter()
        .map(|(plan, id)| {
            linked
                .get(&(plan.target_marketplace_id, id.clone()))
                .copied()
        })
        .collect();
    // The responsible user is one of the run's marketplace.
    let new: Vec<CompanyRow> = plans
        .iter()
        .zip(&linked)
        .filter(|(_, company)| company.is_none())
        .map(|((plan, _), _)| CompanyRow {
            marketplace_id: plan.target_marketplace_id,
            company: &plan.company,
            responsible_user_id: run
                .responsible_user_id
                .filter(|_| plan.target_marketplace_id == run.marketplace_id),
        })
        .collect();
    let mut new_ids = insert_company_rows(tx, &new, now).await?.into_iter();
    let mut done: Vec<Done> = Vec::with_capacity(plans.len());
    for ((plan, tenant_id), company) in plans.iter().zip(linked) {
        let (company_id, created, notes) = match company {
            Some(company) => {
                let notes = match earlier.remove(tenant_id) {
                    Some(notes) if !notes.is_empty() => notes,
                    _ => vec![
                        "The company was linked to the tenant already: only the \
                         subscriptions it lacked were added."
                            .to_owned(),
                    ],
                };
                (company, false, notes)
            }
            None => {
                let company = new_ids.next().expect("an id for each company written");
                (company, true, plan.notes.clone())
            }
        };
        done.push(Done {
            plan,
            tenant_id: tenant_id.clone(),
            company_id,
            created,
            notes,
            admin: None,
            failed: false,
        });
    }
    let created: Vec<&mut Done> = done.iter_mut().filter(|d| d.created).collect();
    complete_companies(tx, run, created, now).await?;
    admins_of_linked(tx, &mut done).await?;
    subscriptions(tx, run, &mut done, now).await?;

    // Each tenant's standing, and the run lets it go.
    for chunk in done.chunks(ROWS_AT_ONCE / 6) {
        let mut sql = sqlx::QueryBuilder::<Db>::new(
            "UPDATE import_tenants SET status = v.column2, company_id = v.column3,
                company_created = COALESCE(import_tenants.company_created, v.column4),
                notes = v.column5, finished_at = v.column6
             FROM (",
        );
        sql.push_values(chunk, |mut row, d| {
            let status = if d.failed {
                TenantOutcome::CompletedWithErrors
            } else {
                TenantOutcome::Completed
            };
            row.push_bind(d.tenant_id.clone())
                .push_bind(status.as_str())
                .push_bind(d.company_id)
                .push_bind(d.created)
                .push_bind(sqlx::types::Json(d.notes.clone()))
                .push_bind(now);
        });
        sql.push(") AS v WHERE import_tenants.run_id = ")
            .push_bind(run.id)
            .push(" AND import_tenants.tenant_id = v.column1");
        sql.build().execute(&mut *tx).await?;
        let mut sql = sqlx::QueryBuilder::<Db>::new("DELETE FROM import_claims WHERE run_id = ");
        sql.push_bind(run.id).push(" AND tenant_id IN (");
        let ids: Vec<String> = chunk.iter().map(|d| d.tenant_id.clone()).collect();
        push_ids(&mut sql, &ids);
        sql.build().execute(&mut *tx).await?;
    }
    Ok(())
}

/// One tenant of a batch as it is applied.
struct Done<'a> {
    plan: &'a TenantPlan,
    tenant_id: String,
    company_id: i64,
    created: bool,
    notes: Vec<String>,
    /// The company's admin user: the purchaser of its subscriptions.
    admin: Option<i64>,
    /// Whether a subscription failed.
    failed: bool,
}

/// The batch's target marketplaces, as a list for `IN (…)`: their keys lead the indexes.
fn targets(ids: impl Iterator<Item = i64>) -> String {
    let ids: BTreeSet<i64> = ids.collect();
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn push_ids(sql: &mut sqlx::QueryBuilder<Db>, ids: &[String]) {
    let mut list = sql.separated(", ");
    for id in ids {
        list.push_bind(id.clone());
    }
    list.push_unseparated(")");
}

/// The company each tenant of the batch has in its target marketplace already, by (target,
/// tenant), whichever instance links it.
async fn linked_companies(
    tx: &mut Connection,
    plans: &[(&TenantPlan, String)],
) -> crate::Result<HashMap<(i64, String), i64>> {
    let mut linked = HashMap::new();
    let ids: Vec<String> = plans.iter().map(|(_, id)| id.clone()).collect();
    let targets = targets(plans.iter().map(|(p, _)| p.target_marketplace_id));
    for chunk in ids.chunks(IDS_AT_ONCE) {
        let mut sql = sqlx::QueryBuilder::<Db>::new(format!(
            "SELECT marketplace_id, tenant_id, MIN(company_id) FROM tenant_links
             WHERE marketplace_id IN ({targets}) AND tenant_id IN ("
        ));
        push_ids(&mut sql, chunk);
        sql.push(" GROUP BY marketplace_id, tenant_id");
        let rows: Vec<(i64, String, i64)> = sql.build_query_as().fetch_all(&mut *tx).await?;
        linked.extend(rows.into_iter().map(|(m, t, c)| ((m, t), c)));
    }
    Ok(linked)
}

/// What a new company has beside itself: its contacts, admin user, tenant link and reseller
/// association.
async fn complete_companies(
    tx: &mut Connection,
    run: &ImportRun,
    mut created: Vec<&mut Done<'_>>,
    now: i64,
) -> crate::Result<()> {
    if created.is_empty() {
        return Ok(());
    }
    let contacts: Vec<(i64, &ferry_domain::Contact, &str)> = created
        .iter()
        .filter_map(|d| d.plan.contact.as_ref().map(|c| (d.company_id, c)))
        .flat_map(|(company, c)| [(company, c, "primary"), (company, c, "bill_to")])
        .collect();
    for chunk in contacts.chunks(ROWS_AT_ONCE / 6) {
        let mut sql = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO contacts (company_id, kind, first_name, last_name, email, phone) ",
        );
        sql.push_values(chunk, |mut row, (company, c, kind)| {
            row.push_bind(*company)
                .push_bind(*kind)
                .push_bind(c.first_name.clone())
                .push_bind(c.last_name.clone())
                .push_bind(c.email.as_ref().map(|e| e.as_str().to_owned()))
                .push_bind(c.phone.clone());
        });
        sql.build().execute(&mut *tx).await?;
    }
    admins(tx, &mut created, now).await?;
    for chunk in created.chunks(ROWS_AT_ONCE / 7) {
        let mut sql = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO tenant_links (marketplace_id, instance_id, company_id, tenant_id,
                domain_prefix, reseller_mpn_id, created_at) ",
        );
        sql.push_values(chunk, |mut row, d| {
            let link = &d.plan.link;
            row.push_bind(d.plan.target_marketplace_id)
                .push_bind(link.instance_id)
                .push_bind(d.company_id)
                .push_bind(d.tenant_id.clone())
                .push_bind(
                    link.domain_prefix
                        .as_deref()
                        .map(ferry_domain::domain_prefix),
                )
                .push_bind(link.reseller_mpn_id.clone())
                .push_bind(now);
        });
        sql.build().execute(&mut *tx).await?;
    }
    associate_resellers(tx, run, &mut created).await?;
    Ok(())
}

/// The bill-to people made the new companies' admin users — unless their e-mail is another
/// user's of the marketplace, which the tenant's notes then say.
async fn admins(tx: &mut Connection, created: &mut [&mut Done<'_>], now: i64) -> crate::Result<()> {
    let mut taken: std::collections::HashSet<(i64, String)> = std::collections::HashSet::new();
    let wanted: Vec<(i64, String)> = created
        .iter()
        .filter_map(|d| {
            let user = d.plan.admin.as_ref()?;
            Some((d.plan.target_marketplace_id, user.email.as_str().to_owned()))
        })
        .collect();
    let targets = targets(created.iter().map(|d| d.plan.target_marketplace_id));
    for chunk in wanted.chunks(IDS_AT_ONCE) {
        let mut sql = sqlx::QueryBuilder::<Db>::new(format!(
            "SELECT marketplace_id, email FROM users
             WHERE marketplace_id IN ({targets}) AND email IN ("
        ));
        let emails: Vec<String> = chunk.iter().map(|(_, e)| e.clone()).collect();
        push_ids(&mut sql, &emails);
        let rows: Vec<(i64, String)> = sql.build_query_as().fetch_all(&mut *tx).await?;
        taken.extend(rows);
    }
    let mut new: Vec<&mut Done<'_>> = Vec::new();
    for d in created.iter_mut() {
        let Some(user) = &d.plan.admin else { continue };
        let key = (d.plan.target_marketplace_id, user.email.as_str().to_owned());
        if taken.insert(key) {
            new.push(d);
        } else {
            d.notes.push(format!(
                "No admin user: {} belongs to another user of the marketplace.",
                user.email
            ));
        }
    }
    for chunk in new.chunks_mut(ROWS_AT_ONCE / 14) {
        let mut sql = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO users (marketplace_id, external_id, email, first_name, last_name,
                locale, phone, allow_login, status, custom_attributes, origin_kind, origin_ref,
                created_at, updated_at) ",
        );
        let users = chunk
            .iter()
            .filter_map(|d| Some((d.plan.target_marketplace_id, d.plan.admin.as_ref()?)));
        sql.push_values(users, |mut row, (target, u)| {
            row.push_bind(target)
                .push_bind(u.external_id.clone())
                .push_bind(u.email.as_str().to_owned())
                .push_bind(u.first_name.clone())
                .push_bind(u.last_name.clone())
                .push_bind(u.locale.clone())
                .push_bind(u.phone.clone())
                .push_bind(u.allow_login)
                .push_bind(u.status.as_str())
                .push_bind(sqlx::types::Json(u.custom_attributes.clone()))
                .push_bind(u.origin.kind())
                .push_bind(u.origin.reference())
                .push_bind(now)
                .push_bind(now);
        });
        // Every one of `new` has an admin user.
        for (d, id) in chunk.iter_mut().zip(inserted_ids(sql, tx).await?) {
            d.admin = Some(id);
        }
        let members: Vec<(i64, i64)> = chunk
            .iter()
            .filter_map(|d| Some((d.admin?, d.company_id)))
            .collect();
        if members.is_empty() {
            continue;
        }
        let mut sql = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO memberships (user_id, company_id, company_admin) ",
        );
        sql.push_values(members, |mut row, (user, company)| {
            row.push_bind(user).push_bind(company).push_bind(true);
        });
        sql.build().execute(&mut *tx).await?;
    }
    Ok(())
}

/// The admin users of the companies that were linked already: the purchasers of what they gain.
async fn admins_of_linked(tx: &mut Connection, done: &mut [Done<'_>]) -> crate::Result<()> {
    let companies: Vec<String> = done
        .iter()
        .filter(|d| !d.created)
        .map(|d| d.company_id.to_string())
        .collect();
    if companies.is_empty() {
        return Ok(());
    }
    let rows: Vec<(i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT company_id, MIN(user_id) FROM memberships
         WHERE company_admin AND company_id IN ({}) GROUP BY company_id",
        companies.join(", ")
    )))
    .fetch_all(&mut *tx)
    .await?;
    let admins: HashMap<i64, i64> = rows.into_iter().collect();
    for d in done.iter_mut().filter(|d| !d.created) {
        d.admin = admins.get(&d.company_id).copied();
    }
    Ok(())
}

/// One subscription's result, as it is recorded.
struct Outcome<'a> {
    tenant_id: &'a str,
    marketplace_id: i64,
    plan: &'a SubscriptionPlan,
    outcome: &'static str,
    code: Option<&'static str>,
    reason: Option<String>,
    id: Option<i64>,
    dates: (Option<time::Date>, Option<time::Date>),
}

/// The batch's subscriptions: those its marketplaces have already said so, the others written,
/// each one's result recorded — a retry rewrites only results that had failed.
async fn subscriptions(
    tx: &mut Connection,
    run: &ImportRun,
    done: &mut [Done<'_>],
    now: i64,
) -> crate::Result<()> {
    let targets = targets(done.iter().map(|d| d.plan.target_marketplace_id));
    let wanted: Vec<String> = done
        .iter()
        .flat_map(|d| &d.plan.subscriptions)
        .filter(|s| matches!(s.decision, Decision::Import(_)))
        .map(|s| s.subscription_id.to_ascii_lowercase())
        .collect();
    let mut present: HashMap<(i64, String), i64> = HashMap::new();
    for chunk in wanted.chunks(IDS_AT_ONCE) {
        let mut sql = sqlx::QueryBuilder::<Db>::new(format!(
            "SELECT marketplace_id, lower(vendor_subscription_id), id FROM subscriptions
             WHERE marketplace_id IN ({targets}) AND lower(vendor_subscription_id) IN ("
        ));
        push_ids(&mut sql, chunk);
        let rows: Vec<(i64, String, i64)> = sql.build_query_as().fetch_all(&mut *tx).await?;
        present.extend(rows.into_iter().map(|(m, s, id)| ((m, s), id)));
    }
    for d in done.iter_mut() {
        d.failed = d
            .plan
            .subscriptions
            .iter()
            .any(|s| matches!(s.decision, Decision::Fail { .. }));
    }
    let done: &[Done<'_>] = done;
    let mut outcomes: Vec<Outcome<'_>> = Vec::new();
    let mut writes: Vec<(&Done<'_>, &SubscriptionPlan, &ImportedSubscription)> = Vec::new();
    for d in done {
        for s in &d.plan.subscriptions {
            let key = (
                d.plan.target_marketplace_id,
                s.subscription_id.to_ascii_lowercase(),
            );
            let (outcome, code, reason, id) = match &s.decision {
                Decision::Import(new) => match present.get(&key) {
                    Some(&id) => (
                        "skipped",
                        "ALREADY_PRESENT",
                        "already present".to_owned(),
                        Some(id),
                    ),
                    None => {
                        writes.push((d, s, new));
                        continue;
                    }
                },
                Decision::Skip { code, reason } => ("skipped", *code, reason.clone(), None),
                Decision::Fail { code, reason } => ("failed", *code, reason.clone(), None),
            };
            outcomes.push(Outcome {
                tenant_id: &d.tenant_id,
                marketplace_id: d.plan.target_marketplace_id,
                plan: s,
                outcome,
                code: Some(code),
                reason: Some(reason),
                id,
                dates: (None, None),
            });
        }
    }
    for chunk in writes.chunks(ROWS_AT_ONCE / 16) {
        let mut sql = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO subscriptions (marketplace_id, company_id, edition_id, purchased_by,
                units, start_date, billing_start_date, end_date, billing_cycle, term,
                auto_renew, status, vendor_subscription_id, custom_attributes, origin_kind,
                origin_ref, created_at, updated_at) ",
        );
        sql.push_values(chunk, |mut row, (d, s, new)| {
            row.push_bind(d.plan.target_marketplace_id)
                .push_bind(d.company_id)
                .push_bind(new.edition_id)
                .push_bind(d.admin)
                .push_bind(new.units)
                .push_bind(new.start_date)
                .push_bind(new.billing_start_date)
                .push_bind(new.end_date)
                .push_bind(new.billing_cycle.clone())
                .push_bind(new.term.clone())
                .push_bind(new.auto_renew)
                .push_bind(new.status.as_str())
                .push_bind(s.subscription_id.to_ascii_lowercase())
                .push_bind(sqlx::types::Json(new.custom_attributes.clone()))
                .push_bind("import")
                .push_bind(run.id)
                .push_bind(now)
                .push_bind(now);
        });
        sql.build().execute(&mut *tx).await?;
        for (d, s, new) in chunk {
            outcomes.push(Outcome {
                tenant_id: &d.tenant_id,
                marketplace_id: d.plan.target_marketplace_id,
                plan: s,
                outcome: "imported",
                code: None,
                reason: None,
                id: None,
                dates: (new.start_date, new.billing_start_date),
            });
        }
    }
    for chunk in outcomes.chunks(ROWS_AT_ONCE / 12) {
        let mut sql = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO import_subscriptions (run_id, tenant_id, subscription_id, offer_id,
                offer_name, outcome, code, reason, marketplace_subscription_id, start_date,
                billing_start_date)
             SELECT column1, column2, column3, column4, column5, column6, column7, column8,
                CASE WHEN column6 = 'imported' THEN (
                    SELECT MIN(s.id) FROM subscriptions s
                    WHERE s.marketplace_id = v.column12
                      AND lower(s.vendor_subscription_id) = v.column3
                ) ELSE column9 END,
                column10, column11
             FROM (",
        );
        sql.push_values(chunk, |mut row, o| {
            row.push_bind(run.id)
                .push_bind(o.tenant_id.to_owned())
                .push_bind(o.plan.subscription_id.to_ascii_lowercase())
                .push_bind(o.plan.offer_id.clone())
                .push_bind(o.plan.offer_name.clone())
                .push_bind(o.outcome)
                .push_bind(o.code)
                .push_bind(o.reason.clone())
                .push_bind(o.id)
                .push_bind(o.dates.0)
                .push_bind(o.dates.1)
                .push_bind(o.marketplace_id);
        });
        // A subscription just imported is found by its vendor id, one per marketplace; a
        // retry rewrites only what had failed.
        sql.push(
            ") AS v WHERE TRUE
             ON CONFLICT (run_id, tenant_id, subscription_id) DO UPDATE SET
                outcome = excluded.outcome, code = excluded.code, reason = excluded.reason,
                marketplace_subscription_id = excluded.marketplace_subscription_id,
                start_date = excluded.start_date, billing_start_date = excluded.billing_start_date
             WHERE import_subscriptions.outcome = 'failed'",
        );
        sql.build().execute(&mut *tx).await?;
    }
    Ok(())
}

/// Associates the new end customers of indirect resellers with the target marketplace's
/// reseller company of the reseller's MPN id — created from the reseller's Partner Center name
/// when there is none, which the notes of the tenant that brought it say.
async fn associate_resellers(
    tx: &mut Connection,
    run: &ImportRun,
    created: &mut [&mut Done<'_>],
) -> crate::Result<()> {
    let wanted: BTreeSet<(i64, String)> = created
        .iter()
        .filter_map(|d| {
            Some((
                d.plan.target_marketplace_id,
                d.plan.reseller.as_ref()?.mpn_id.clone(),
            ))
        })
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let mpn_ids: Vec<String> = wanted.iter().map(|(_, mpn)| mpn.clone()).collect();
    let targets = targets(wanted.iter().map(|(target, _)| *target));
    let mut resellers: HashMap<(i64, String), i64> = HashMap::new();
    for chunk in mpn_ids.chunks(IDS_AT_ONCE) {
        let mut sql = sqlx::QueryBuilder::<Db>::new(format!(
            "SELECT marketplace_id, mpn_id, id FROM companies
             WHERE marketplace_id IN ({targets}) AND mpn_id IN ("
        ));
        push_ids(&mut sql, chunk);
        let rows: Vec<(i64, String, i64)> = sql.build_query_as().fetch_all(&mut *tx).await?;
        resellers.extend(rows.into_iter().map(|(m, mpn, id)| ((m, mpn), id)));
    }
    let mut associations: Vec<(i64, i64)> = Vec::new();
    for d in created.iter_mut() {
        let Some(reseller) = &d.plan.reseller else {
            continue;
        };
        let key = (d.plan.target_marketplace_id, reseller.mpn_id.clone());
        let company = match resellers.get(&key) {
            Some(&company) => company,
            None => {
                let company = create_reseller(tx, run, key.0, reseller).await?;
                d.notes.push(format!(
                    "Created the reseller company {} (MPN id {}).",
                    reseller.name, reseller.mpn_id
                ));
                resellers.insert(key, company);
                company
            }
        };
        associations.push((d.company_id, company));
    }
    for chunk in associations.chunks(ROWS_AT_ONCE / 2) {
        let mut sql = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO reseller_associations (company_id, reseller_company_id) ",
        );
        sql.push_values(chunk, |mut row, (company, reseller)| {
            row.push_bind(*company).push_bind(*reseller);
        });
        sql.build().execute(&mut *tx).await?;
    }
    Ok(())
}

/// A reseller company of the target marketplace, from the reseller's Partner Center name and
/// MPN id.
async fn create_reseller(
    tx: &mut Connection,
    run: &ImportRun,
    target: i64,
    reseller: &ResellerPlan,
) -> crate::Result<i64> {
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
    Ok(id)
}

/// The pending companies the run was creating, settled as its tenants end: created (or linked,
/// when the mapping found the company already there), or waiting again when the tenant failed.
async fn settle_pending_companies(
    tx: &mut sqlx::Transaction<'_, Db>,
    run_id: i64,
) -> crate::Result<()> {
    sqlx::query(
        "UPDATE pending_companies SET
            state = CASE
                WHEN (SELECT t.company_id FROM import_tenants t WHERE t.run_id = $1
                      AND t.tenant_id = pending_companies.tenant_id) IS NULL THEN 'pending'
                WHEN (SELECT t.company_created FROM import_tenants t WHERE t.run_id = $1
                      AND t.tenant_id = pending_companies.tenant_id) THEN 'created'
                ELSE 'linked' END,
            company_id = (SELECT t.company_id FROM import_tenants t WHERE t.run_id = $1
                          AND t.tenant_id = pending_companies.tenant_id),
            decided_at = $2
         WHERE import_run_id = $1 AND state = 'creating'
           AND NOT EXISTS (SELECT 1 FROM import_tenants t WHERE t.run_id = $1
                           AND t.tenant_id = pending_companies.tenant_id
                           AND t.status = 'pending')",
    )
    .bind(run_id)
    .bind(crate::now().millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
