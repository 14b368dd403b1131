//! The hierarchy statements, the same for both backends: compiled once into `crate::sqlite` and
//! once into `crate::postgres` (see `statements.rs`).

use super::{BACKEND, BEGIN_WRITE, Db, SORTED_AT_MOST, This};
use crate::hierarchy::{
    AuditGeneration, CandidateCompany, LinkedCompany, TenantAudit, TenantAuditQuery,
};
use crate::hierarchy::{
    HierarchyChange, HierarchyRun, HierarchyState, NewHierarchyRun, RunScope, RunStart, RunState,
    RunSummary, SnapshotCounts, SnapshotReseller, SnapshotTenant, StoredSubscription, StoredTenant,
    TenantDetails,
};

/// The columns of [`HierarchyRun`]; a mass retrieval's snapshot is its own.
const RUN_COLUMNS: &str = "id, instance_id, scope, tenant, state, job_id, \
    COALESCE(snapshot, id) AS snapshot, started_by, started_at, finished_at, error, lacks, summary";

/// Rows a multi-row insert carries at once, under both backends' limits on parameters.
const ROWS_AT_ONCE: usize = 500;

/// What changed between the snapshot `$2` and the snapshot of run `$1`, recorded for `$1`.
/// Subscriptions are compared for tenants in both; a new or gone tenant says it all.
const CHANGES: &[&str] = &[
    "INSERT INTO hierarchy_changes (run_id, kind, tenant_id, after_value)
     SELECT $1, 'tenant_new', n.tenant_id, n.name FROM hierarchy_tenants n
     WHERE n.run_id = $1 AND NOT EXISTS (SELECT 1 FROM hierarchy_tenants o
        WHERE o.run_id = $2 AND o.tenant_id = n.tenant_id)",
    "INSERT INTO hierarchy_changes (run_id, kind, tenant_id, before_value)
     SELECT $1, 'tenant_gone', o.tenant_id, o.name FROM hierarchy_tenants o
     WHERE o.run_id = $2 AND NOT EXISTS (SELECT 1 FROM hierarchy_tenants n
        WHERE n.run_id = $1 AND n.tenant_id = o.tenant_id)",
    "INSERT INTO hierarchy_changes (run_id, kind, tenant_id, before_value, after_value)
     SELECT $1, 'tenant_renamed', n.tenant_id, o.name, n.name
     FROM hierarchy_tenants n JOIN hierarchy_tenants o
        ON o.run_id = $2 AND o.tenant_id = n.tenant_id
     WHERE n.run_id = $1 AND o.name IS DISTINCT FROM n.name",
    "INSERT INTO hierarchy_changes (run_id, kind, tenant_id, subscription_id, after_value)
     SELECT $1, 'subscription_new', n.tenant_id, n.subscription_id, n.offer_name
     FROM hierarchy_subscriptions n
     WHERE n.run_id = $1
       AND EXISTS (SELECT 1 FROM hierarchy_tenants o WHERE o.run_id = $2 AND o.tenant_id = n.tenant_id)
       AND NOT EXISTS (SELECT 1 FROM hierarchy_subscriptions o WHERE o.run_id = $2
          AND o.tenant_id = n.tenant_id AND o.subscription_id = n.subscription_id)",
    "INSERT INTO hierarchy_changes (run_id, kind, tenant_id, subscription_id, before_value)
     SELECT $1, 'subscription_gone', o.tenant_id, o.subscription_id, o.offer_name
     FROM hierarchy_subscriptions o
     WHERE o.run_id = $2
       AND EXISTS (SELECT 1 FROM hierarchy_tenants n WHERE n.run_id = $1 AND n.tenant_id = o.tenant_id)
       AND NOT EXISTS (SELECT 1 FROM hierarchy_subscriptions n WHERE n.run_id = $1
          AND n.tenant_id = o.tenant_id AND n.subscription_id = o.subscription_id)",
    "INSERT INTO hierarchy_changes (run_id, kind, tenant_id, subscription_id, before_value, after_value)
     SELECT $1, 'quantity_changed', n.tenant_id, n.subscription_id,
        CAST(o.quantity AS TEXT), CAST(n.quantity AS TEXT)
     FROM hierarchy_subscriptions n JOIN hierarchy_subscriptions o ON o.run_id = $2
        AND o.tenant_id = n.tenant_id AND o.subscription_id = n.subscription_id
     WHERE n.run_id = $1 AND o.quantity IS DISTINCT FROM n.quantity",
    "INSERT INTO hierarchy_changes (run_id, kind, tenant_id, subscription_id, before_value, after_value)
     SELECT $1, 'status_changed', n.tenant_id, n.subscription_id, o.status, n.status
     FROM hierarchy_subscriptions n JOIN hierarchy_subscriptions o ON o.run_id = $2
        AND o.tenant_id = n.tenant_id AND o.subscription_id = n.subscription_id
     WHERE n.run_id = $1 AND o.status IS DISTINCT FROM n.status",
    "INSERT INTO hierarchy_changes (run_id, kind, tenant_id, subscription_id, before_value, after_value)
     SELECT $1, 'offer_changed', n.tenant_id, n.subscription_id, o.offer_id, n.offer_id
     FROM hierarchy_subscriptions n JOIN hierarchy_subscriptions o ON o.run_id = $2
        AND o.tenant_id = n.tenant_id AND o.subscription_id = n.subscription_id
     WHERE n.run_id = $1 AND o.offer_id IS DISTINCT FROM n.offer_id",
    "INSERT INTO hierarchy_changes (run_id, kind, tenant_id, subscription_id, before_value, after_value)
     SELECT $1, 'term_changed', n.tenant_id, n.subscription_id, o.term, n.term
     FROM hierarchy_subscriptions n JOIN hierarchy_subscriptions o ON o.run_id = $2
        AND o.tenant_id = n.tenant_id AND o.subscription_id = n.subscription_id
     WHERE n.run_id = $1 AND o.term IS DISTINCT FROM n.term",
];

/// Removes a snapshot's rows (its run and the changes it recorded stay).
const DROP_SNAPSHOT: &[&str] = &[
    "DELETE FROM hierarchy_subscriptions WHERE run_id = $1",
    "DELETE FROM hierarchy_tenants WHERE run_id = $1",
    "DELETE FROM hierarchy_resellers WHERE run_id = $1",
];

#[async_trait::async_trait]
impl crate::HierarchyStore for This {
    async fn start_hierarchy_run(&self, run: &NewHierarchyRun<'_>) -> crate::Result<RunStart> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        if let Some(running) = running_run(&mut tx, run.instance_id).await? {
            return Ok(RunStart::AlreadyRunning(running));
        }
        let current: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT snapshot_run_id FROM partner_center_instances WHERE id = $1",
        )
        .bind(run.instance_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(current) = current else {
            return Err(crate::StoreError::NotFound { what: "instance" });
        };
        let snapshot = match run.scope {
            RunScope::Mass => None,
            RunScope::Tenant => current,
        };
        let inserted: crate::Result<i64> = sqlx::query_scalar(
            "INSERT INTO hierarchy_runs (instance_id, scope, tenant, state, snapshot, started_by,
                started_at)
             VALUES ($1, $2, $3, 'running', $4, $5, $6) RETURNING id",
        )
        .bind(run.instance_id)
        .bind(run.scope.as_str())
        .bind(run.tenant)
        .bind(snapshot)
        .bind(run.started_by)
        .bind(crate::now().millis())
        .fetch_one(&mut *tx)
        .await
        .map_err(Into::into);
        match inserted {
            Ok(id) => {
                let started = run_by_id(&mut tx, id).await?;
                tx.commit().await?;
                Ok(RunStart::Started(started))
            }
            // Another process started one between the check and the insert.
            Err(crate::StoreError::Conflict { .. }) => {
                drop(tx);
                let mut connection = self.pool.acquire().await?;
                match running_run(&mut connection, run.instance_id).await? {
                    Some(running) => Ok(RunStart::AlreadyRunning(running)),
                    None => Err(crate::StoreError::Conflict {
                        key: "running retrieval",
                    }),
                }
            }
            Err(other) => Err(other),
        }
    }

    async fn set_hierarchy_run_job(&self, run_id: i64, job_id: i64) -> crate::Result<()> {
        sqlx::query("UPDATE hierarchy_runs SET job_id = $2 WHERE id = $1")
            .bind(run_id)
            .bind(job_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn hierarchy_run(&self, run_id: i64) -> crate::Result<Option<HierarchyRun>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM hierarchy_runs WHERE id = $1");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn hierarchy_runs(
        &self,
        instance_id: i64,
        limit: i64,
    ) -> crate::Result<Vec<HierarchyRun>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM hierarchy_runs WHERE instance_id = $1
             ORDER BY id DESC LIMIT $2"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(instance_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn hierarchy_state(&self, instance_id: i64) -> crate::Result<HierarchyState> {
        let found: Option<(Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT snapshot_run_id, hierarchy_updated_at FROM partner_center_instances
             WHERE id = $1",
        )
        .bind(instance_id)
        .fetch_optional(&self.pool)
        .await?;
        let (snapshot, last_update) =
            found.ok_or(crate::StoreError::NotFound { what: "instance" })?;
        Ok(HierarchyState {
            snapshot,
            last_update,
        })
    }

    async fn store_resellers(
        &self,
        snapshot: i64,
        resellers: &[SnapshotReseller],
    ) -> crate::Result<()> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        for chunk in resellers.chunks(ROWS_AT_ONCE) {
            let mut sql = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO hierarchy_resellers (run_id, tenant_id, name, mpn_id, location) ",
            );
            sql.push_values(chunk, |mut row, r| {
                row.push_bind(snapshot)
                    .push_bind(r.tenant_id.to_ascii_lowercase())
                    .push_bind(&r.name)
                    .push_bind(&r.mpn_id)
                    .push_bind(&r.location);
            });
            sql.push(
                " ON CONFLICT (run_id, tenant_id) DO UPDATE SET name = excluded.name,
                    mpn_id = excluded.mpn_id, location = excluded.location",
            );
            sql.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn store_tenants(&self, snapshot: i64, tenants: &[SnapshotTenant]) -> crate::Result<()> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        for chunk in tenants.chunks(ROWS_AT_ONCE) {
            let mut sql = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO hierarchy_tenants (run_id, tenant_id, name, domain) ",
            );
            sql.push_values(chunk, |mut row, t| {
                row.push_bind(snapshot)
                    .push_bind(t.tenant_id.to_ascii_lowercase())
                    .push_bind(&t.name)
                    .push_bind(&t.domain);
            });
            sql.push(
                " ON CONFLICT (run_id, tenant_id) DO UPDATE SET name = excluded.name,
                    domain = excluded.domain",
            );
            sql.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn set_tenants_reseller(
        &self,
        snapshot: i64,
        reseller_tenant_id: &str,
        tenant_ids: &[String],
    ) -> crate::Result<()> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        for chunk in tenant_ids.chunks(ROWS_AT_ONCE) {
            let mut sql =
                sqlx::QueryBuilder::<Db>::new("UPDATE hierarchy_tenants SET reseller_tenant_id = ");
            sql.push_bind(reseller_tenant_id.to_ascii_lowercase())
                .push(" WHERE run_id = ")
                .push_bind(snapshot)
                .push(" AND tenant_id IN (");
            let mut ids = sql.separated(", ");
            for id in chunk {
                ids.push_bind(id.to_ascii_lowercase());
            }
            sql.push(")");
            sql.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn tenants_without_details(
        &self,
        snapshot: i64,
        limit: i64,
    ) -> crate::Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT tenant_id FROM hierarchy_tenants
             WHERE run_id = $1 AND details_fetched = FALSE ORDER BY tenant_id LIMIT $2",
        )
        .bind(snapshot)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn store_tenant_details(
        &self,
        snapshot: i64,
        details: &[TenantDetails],
    ) -> crate::Result<()> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        for d in details {
            let tenant_id = d.tenant_id.to_ascii_lowercase();
            sqlx::query(
                "UPDATE hierarchy_tenants SET name = COALESCE($3, name),
                    domain = COALESCE($4, domain),
                    reseller_tenant_id = COALESCE($5, reseller_tenant_id), email = $6,
                    billing = $7, custom_domains = $8, details_fetched = TRUE
                 WHERE run_id = $1 AND tenant_id = $2",
            )
            .bind(snapshot)
            .bind(&tenant_id)
            .bind(&d.name)
            .bind(&d.domain)
            .bind(d.reseller_tenant_id.as_deref().map(str::to_ascii_lowercase))
            .bind(&d.email)
            .bind(d.billing.as_ref().map(sqlx::types::Json))
            .bind(d.custom_domains.as_ref().map(sqlx::types::Json))
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM hierarchy_subscriptions WHERE run_id = $1 AND tenant_id = $2")
                .bind(snapshot)
                .bind(&tenant_id)
                .execute(&mut *tx)
                .await?;
            for chunk in d.subscriptions.chunks(ROWS_AT_ONCE / 10) {
                let mut sql = sqlx::QueryBuilder::<Db>::new(
                    "INSERT INTO hierarchy_subscriptions (run_id, tenant_id, subscription_id,
                        offer_id, offer_name, product_type, quantity, status, billing_cycle, term,
                        auto_renew, start_date, end_date, reseller_mpn_id,
                        parent_subscription_id, cancellation_allowed_until,
                        billing_cycle_end_date) ",
                );
                sql.push_values(chunk, |mut row, s| {
                    row.push_bind(snapshot)
                        .push_bind(&tenant_id)
                        .push_bind(s.subscription_id.to_ascii_lowercase())
                        .push_bind(&s.offer_id)
                        .push_bind(&s.offer_name)
                        .push_bind(&s.product_type)
                        .push_bind(s.quantity)
                        .push_bind(&s.status)
                        .push_bind(&s.billing_cycle)
                        .push_bind(&s.term)
                        .push_bind(s.auto_renew)
                        .push_bind(&s.start_date)
                        .push_bind(&s.end_date)
                        .push_bind(&s.reseller_mpn_id)
                        .push_bind(&s.parent_subscription_id)
                        .push_bind(&s.cancellation_allowed_until)
                        .push_bind(&s.billing_cycle_end_date);
                });
                // A subscription listed twice is one subscription.
                sql.push(" ON CONFLICT (run_id, tenant_id, subscription_id) DO NOTHING");
                sql.build().execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn snapshot_counts(&self, snapshot: i64) -> crate::Result<SnapshotCounts> {
        let mut connection = self.pool.acquire().await?;
        counts(&mut connection, snapshot).await
    }

    async fn complete_hierarchy_run(
        &self,
        run_id: i64,
        lacks: Option<&str>,
    ) -> crate::Result<HierarchyRun> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let run = run_by_id(&mut tx, run_id).await?;
        if run.state != RunState::Running {
            return Err(crate::StoreError::NotFound {
                what: "running retrieval",
            });
        }
        let current: Option<i64> = sqlx::query_scalar(
            "SELECT snapshot_run_id FROM partner_center_instances WHERE id = $1",
        )
        .bind(run.instance_id)
        .fetch_one(&mut *tx)
        .await?;
        let now = crate::now().millis();
        let mut summary = RunSummary::default();
        match run.scope {
            RunScope::Mass => {
                if let Some(previous) = current {
                    for statement in CHANGES {
                        sqlx::query(*statement)
                            .bind(run.id)
                            .bind(previous)
                            .execute(&mut *tx)
                            .await?;
                    }
                    for statement in DROP_SNAPSHOT {
                        sqlx::query(*statement)
                            .bind(previous)
                            .execute(&mut *tx)
                            .await?;
                    }
                    summary.compared = true;
                    let kinds: Vec<(String, i64)> = sqlx::query_as(
                        "SELECT kind, COUNT(*) FROM hierarchy_changes WHERE run_id = $1
                         GROUP BY kind",
                    )
                    .bind(run.id)
                    .fetch_all(&mut *tx)
                    .await?;
                    summary.changes = kinds.into_iter().collect();
                }
                sqlx::query(
                    "UPDATE partner_center_instances SET snapshot_run_id = $2,
                        hierarchy_updated_at = $3 WHERE id = $1",
                )
                .bind(run.instance_id)
                .bind(run.id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            RunScope::Tenant if current.is_none() => {
                sqlx::query(
                    "UPDATE partner_center_instances SET snapshot_run_id = $2 WHERE id = $1",
                )
                .bind(run.instance_id)
                .bind(run.snapshot)
                .execute(&mut *tx)
                .await?;
            }
            RunScope::Tenant => {}
        }
        let counted = counts(&mut tx, run.snapshot).await?;
        summary.resellers = counted.resellers;
        summary.tenants = counted.tenants;
        summary.subscriptions = counted.subscriptions;
        sqlx::query(
            "UPDATE hierarchy_runs SET state = 'completed', finished_at = $2, lacks = $3,
                summary = $4 WHERE id = $1",
        )
        .bind(run.id)
        .bind(now)
        .bind(lacks)
        .bind(sqlx::types::Json(&summary))
        .execute(&mut *tx)
        .await?;
        let done = run_by_id(&mut tx, run.id).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn end_hierarchy_run(
        &self,
        run_id: i64,
        state: RunState,
        error: &str,
    ) -> crate::Result<()> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let ended = sqlx::query(
            "UPDATE hierarchy_runs SET state = $2, finished_at = $3, error = $4
             WHERE id = $1 AND state = 'running'",
        )
        .bind(run_id)
        .bind(state.as_str())
        .bind(crate::now().millis())
        .bind(error)
        .execute(&mut *tx)
        .await?;
        if ended.rows_affected() > 0 {
            // Only a run's own snapshot carries its id: the current one is never it.
            for statement in DROP_SNAPSHOT {
                sqlx::query(*statement)
                    .bind(run_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn hierarchy_changes(
        &self,
        run_id: i64,
        limit: i64,
    ) -> crate::Result<Vec<HierarchyChange>> {
        Ok(sqlx::query_as(
            "SELECT kind, tenant_id, subscription_id, before_value, after_value
             FROM hierarchy_changes WHERE run_id = $1
             ORDER BY tenant_id, kind, subscription_id LIMIT $2",
        )
        .bind(run_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn linked_companies(&self, marketplace_id: i64) -> crate::Result<Vec<LinkedCompany>> {
        let rows: Vec<(String, i64, String, Option<i64>, Option<String>)> = sqlx::query_as(
            "SELECT DISTINCT t.tenant_id, c.id, c.name, s.id, lower(s.vendor_subscription_id)
             FROM tenant_links t JOIN companies c ON c.id = t.company_id
             LEFT JOIN subscriptions s ON s.company_id = c.id
                AND s.status NOT IN ('cancelled', 'failed')
                AND EXISTS (SELECT 1 FROM editions e WHERE e.id = s.edition_id
                    AND e.connector = 'microsoft')
             WHERE t.marketplace_id = $1
             ORDER BY t.tenant_id, c.id",
        )
        .bind(marketplace_id)
        .fetch_all(&self.pool)
        .await?;
        let mut linked: Vec<LinkedCompany> = Vec::new();
        for (tenant_id, company_id, name, subscription, vendor_id) in rows {
            let tenant_id = tenant_id.to_ascii_lowercase();
            let same = linked
                .last()
                .is_some_and(|l| l.tenant_id == tenant_id && l.company_id == company_id);
            if !same {
                linked.push(LinkedCompany {
                    tenant_id,
                    company_id,
                    name,
                    subscriptions: Vec::new(),
                });
            }
            if subscription.is_some()
                && let Some(last) = linked.last_mut()
            {
                last.subscriptions.push(vendor_id);
            }
        }
        Ok(linked)
    }

    async fn unlinked_companies(
        &self,
        marketplace_id: i64,
        after: i64,
        limit: i64,
    ) -> crate::Result<Vec<CandidateCompany>> {
        Ok(sqlx::query_as(
            // `+c.marketplace_id` keeps SQLite on the ids, in order, rather than on an index
            // of the marketplace whose every page it would sort.
            "SELECT c.id, c.name, c.email, c.website, c.country FROM companies c
             WHERE +c.marketplace_id = $1 AND c.id > $2
               AND NOT EXISTS (SELECT 1 FROM tenant_links t WHERE t.company_id = c.id)
             ORDER BY c.id LIMIT $3",
        )
        .bind(marketplace_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn stage_tenant_audits(
        &self,
        generation: &AuditGeneration,
        audits: &[TenantAudit],
    ) -> crate::Result<()> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        for chunk in audits.chunks(ROWS_AT_ONCE / 3) {
            let mut sql = sqlx::QueryBuilder::<Db>::new(format!(
                "INSERT INTO tenant_audits_staged (generation, marketplace_id, instance_id, \
                 {AUDIT_COLUMNS}) "
            ));
            sql.push_values(chunk, |mut row, a| {
                row.push_bind(generation.id)
                    .push_bind(generation.marketplace_id)
                    .push_bind(generation.instance_id)
                    .push_bind(&a.tenant_id)
                    .push_bind(&a.name)
                    .push_bind(&a.domain)
                    .push_bind(&a.reseller_tenant_id)
                    .push_bind(a.tenant_reseller_id)
                    .push_bind(a.status.as_str())
                    .push_bind(a.partner_center_subscriptions)
                    .push_bind(a.marketplace_subscriptions)
                    .push_bind(sqlx::types::Json(&a.related))
                    .push_bind(sqlx::types::Json(&a.missing))
                    .push_bind(sqlx::types::Json(&a.extra))
                    .push_bind(sqlx::types::Json(&a.not_importable))
                    .push_bind(sqlx::types::Json(&a.possible))
                    .push_bind(a.audited_at);
            });
            sql.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn publish_tenant_audits(&self, generation: &AuditGeneration) -> crate::Result<()> {
        let (m, i, g) = (
            generation.marketplace_id,
            generation.instance_id,
            generation.id,
        );
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        sqlx::query("DELETE FROM tenant_audits WHERE marketplace_id = $1 AND instance_id = $2")
            .bind(m)
            .bind(i)
            .execute(&mut *tx)
            .await?;
        // Only this file's column list is formatted in.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO tenant_audits (marketplace_id, instance_id, {AUDIT_COLUMNS})
             SELECT marketplace_id, instance_id, {AUDIT_COLUMNS} FROM tenant_audits_staged
             WHERE marketplace_id = $1 AND instance_id = $2 AND generation = $3
             ORDER BY tenant_id"
        )))
        .bind(m)
        .bind(i)
        .bind(g)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM tenant_audits_staged
             WHERE marketplace_id = $1 AND instance_id = $2 AND generation <= $3",
        )
        .bind(m)
        .bind(i)
        .bind(g)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        // The list's plans rest on the planner's figures for what was just replaced.
        if BACKEND == crate::Backend::Postgres {
            sqlx::query("ANALYZE tenant_audits")
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    async fn tenant_audits(
        &self,
        marketplace_id: i64,
        instance_id: i64,
        query: &TenantAuditQuery,
    ) -> crate::Result<Vec<TenantAudit>> {
        let search = self
            .audit_search(marketplace_id, instance_id, query)
            .await?;
        let head = format!("SELECT {AUDIT_COLUMNS}");
        let mut sql = audit_sql(&head, marketplace_id, instance_id, query, &search);
        if let Some((name, tenant_id)) = &query.after {
            // Spelled out rather than as a row value, so SQLite seeks the index too.
            sql.push(" AND lower(name) >= ")
                .push_bind(name.clone())
                .push(" AND (lower(name) > ")
                .push_bind(name.clone())
                .push(" OR tenant_id > ")
                .push_bind(tenant_id.clone())
                .push(")");
        }
        // Direct customers share one reseller, none: naming it first lets PostgreSQL read
        // their index in order instead of sorting them.
        let order = match query.reseller {
            Some(None) => " ORDER BY reseller_tenant_id, lower(name), tenant_id LIMIT ",
            _ => " ORDER BY lower(name), tenant_id LIMIT ",
        };
        sql.push(order).push_bind(query.limit);
        Ok(sql.build_query_as().fetch_all(&self.pool).await?)
    }

    async fn count_tenant_audits(
        &self,
        marketplace_id: i64,
        instance_id: i64,
        query: &TenantAuditQuery,
        cap: i64,
    ) -> crate::Result<crate::Total> {
        let search = self
            .audit_search(marketplace_id, instance_id, query)
            .await?;
        let found =
            count_audits(&self.pool, marketplace_id, instance_id, query, &search, cap).await?;
        Ok(crate::Total::of(usize::try_from(found).unwrap_or(0), cap))
    }

    async fn reseller_customer_counts(
        &self,
        marketplace_id: i64,
        instance_id: i64,
    ) -> crate::Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT reseller_tenant_id, COUNT(*) FROM tenant_audits
             WHERE marketplace_id = $1 AND instance_id = $2 AND reseller_tenant_id IS NOT NULL
             GROUP BY reseller_tenant_id",
        )
        .bind(marketplace_id)
        .bind(instance_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn snapshot_resellers(&self, snapshot: i64) -> crate::Result<Vec<SnapshotReseller>> {
        Ok(sqlx::query_as(
            "SELECT tenant_id, name, mpn_id, location FROM hierarchy_resellers
             WHERE run_id = $1 ORDER BY lower(name), tenant_id",
        )
        .bind(snapshot)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn snapshot_tenants(
        &self,
        snapshot: i64,
        after: Option<&str>,
        limit: i64,
    ) -> crate::Result<Vec<StoredTenant>> {
        Ok(sqlx::query_as(
            "SELECT tenant_id, name, domain, reseller_tenant_id, details_fetched, email, billing,
                custom_domains
             FROM hierarchy_tenants WHERE run_id = $1 AND tenant_id > $2
             ORDER BY tenant_id LIMIT $3",
        )
        .bind(snapshot)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn snapshot_tenants_of(
        &self,
        snapshot: i64,
        tenant_ids: &[String],
    ) -> crate::Result<Vec<StoredTenant>> {
        let mut rows = Vec::new();
        for chunk in tenant_ids.chunks(ROWS_AT_ONCE) {
            let mut sql = sqlx::QueryBuilder::<Db>::new(
                "SELECT tenant_id, name, domain, reseller_tenant_id, details_fetched, email,
                    billing, custom_domains
                 FROM hierarchy_tenants WHERE run_id = ",
            );
            push_tenant_ids(
                &mut sql,
                snapshot,
                chunk.iter().map(|id| id.to_ascii_lowercase()),
            );
            sql.push(" ORDER BY tenant_id");
            rows.extend(sql.build_query_as().fetch_all(&self.pool).await?);
        }
        Ok(rows)
    }

    async fn snapshot_subscriptions(
        &self,
        snapshot: i64,
        tenant_ids: &[String],
    ) -> crate::Result<Vec<StoredSubscription>> {
        let mut rows = Vec::new();
        for chunk in tenant_ids.chunks(ROWS_AT_ONCE) {
            let ids = chunk.iter().map(|id| id.to_ascii_lowercase());
            rows.extend(match BACKEND {
                // SQLite's driver hands each row over from SQLite's thread with a wake-up: a
                // chunk's subscriptions come back as one JSON array instead.
                crate::Backend::Sqlite => {
                    let fields: Vec<String> = SUBSCRIPTION_COLUMNS
                        .split(", ")
                        .skip(1) // the tenant id, outside the subscription
                        .map(|c| format!("'{c}', {c}"))
                        .collect();
                    let mut sql = sqlx::QueryBuilder::<Db>::new(format!(
                        "SELECT json_group_array(json_object('tenant_id', tenant_id,
                            'subscription', json_object({})) ORDER BY tenant_id, subscription_id)
                         FROM hierarchy_subscriptions WHERE run_id = ",
                        fields.join(", ")
                    ));
                    push_tenant_ids(&mut sql, snapshot, ids);
                    let found: sqlx::types::Json<Vec<StoredSubscription>> =
                        sql.build_query_scalar().fetch_one(&self.pool).await?;
                    found.0
                }
                crate::Backend::Postgres => {
                    let mut sql = sqlx::QueryBuilder::<Db>::new(format!(
                        "SELECT {SUBSCRIPTION_COLUMNS} FROM hierarchy_subscriptions WHERE run_id = "
                    ));
                    push_tenant_ids(&mut sql, snapshot, ids);
                    sql.push(" ORDER BY tenant_id, subscription_id");
                    sql.build_query_as().fetch_all(&self.pool).await?
                }
            });
        }
        Ok(rows)
    }
}

/// `run_id = SNAPSHOT AND tenant_id IN (IDS)`, after `… WHERE run_id = `.
fn push_tenant_ids(
    sql: &mut sqlx::QueryBuilder<Db>,
    snapshot: i64,
    ids: impl Iterator<Item = String>,
) {
    sql.push_bind(snapshot).push(" AND tenant_id IN (");
    let mut list = sql.separated(", ");
    for id in ids {
        list.push_bind(id);
    }
    sql.push(")");
}

/// A connection or a transaction of the backend.
type Connection = <Db as sqlx::Database>::Connection;

/// The columns of [`TenantAudit`].
const AUDIT_COLUMNS: &str = "tenant_id, name, domain, reseller_tenant_id, tenant_reseller_id, status, \
    partner_center_subscriptions, marketplace_subscriptions, related, missing, extra, \
    not_importable, possible, audited_at";

/// The columns of a snapshot's subscription, after its tenant.
const SUBSCRIPTION_COLUMNS: &str = "tenant_id, subscription_id, offer_id, offer_name, \
    product_type, quantity, status, billing_cycle, term, auto_renew, start_date, end_date, \
    reseller_mpn_id, parent_subscription_id, cancellation_allowed_until, billing_cycle_end_date";

/// How a tenant list search is answered.
enum AuditSearch {
    None,
    /// Each row tested in list order: a term of one or two characters, or one so frequent that
    /// the first rows hold a page of it.
    Walk(String),
    /// Through the trigram index: a rarer term.
    Index(String),
    /// The start of a tenant id, through the key.
    TenantId(String),
}

impl This {
    async fn audit_search(
        &self,
        marketplace_id: i64,
        instance_id: i64,
        query: &TenantAuditQuery,
    ) -> crate::Result<AuditSearch> {
        let Some(term) = query
            .search
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_lowercase)
        else {
            return Ok(AuditSearch::None);
        };
        if term.chars().count() < 3 {
            return Ok(AuditSearch::Walk(term));
        }
        // A tenant id, pasted whole or its start: its pieces are too common for a trigram index
        // ("000", "-40"), and the key finds it at once.
        if term.len() >= 8 && term.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Ok(AuditSearch::TenantId(term));
        }
        let indexed = AuditSearch::Index(term);
        let hits = count_audits(
            &self.pool,
            marketplace_id,
            instance_id,
            query,
            &indexed,
            SORTED_AT_MOST,
        )
        .await?;
        Ok(match indexed {
            AuditSearch::Index(term) if hits > SORTED_AT_MOST => AuditSearch::Walk(term),
            other => other,
        })
    }
}

async fn count_audits(
    pool: &sqlx::Pool<Db>,
    marketplace_id: i64,
    instance_id: i64,
    query: &TenantAuditQuery,
    search: &AuditSearch,
    cap: i64,
) -> crate::Result<i64> {
    let head = "SELECT COUNT(*) FROM (SELECT 1";
    let mut sql = audit_sql(head, marketplace_id, instance_id, query, search);
    sql.push(" LIMIT ").push_bind(cap + 1).push(") AS counted");
    Ok(sql.build_query_scalar().fetch_one(pool).await?)
}

/// A tenant list statement after `head`, up to its filters: SQLite reads a search's hits from
/// its FTS5 trigram table first; PostgreSQL's trigram index serves the same `LIKE`.
fn audit_sql(
    head: &str,
    marketplace_id: i64,
    instance_id: i64,
    query: &TenantAuditQuery,
    search: &AuditSearch,
) -> sqlx::QueryBuilder<Db> {
    let mut sql = sqlx::QueryBuilder::<Db>::new(head);
    match (search, BACKEND) {
        (AuditSearch::Index(term), crate::Backend::Sqlite) => {
            // The hits lead (CROSS JOIN keeps them first); a quoted phrase of the trigram
            // index matches any substring.
            sql.push(
                " FROM (SELECT rowid AS hit FROM tenant_audits_search \
                 WHERE tenant_audits_search MATCH ",
            )
            .push_bind(format!("\"{}\"", term.replace('"', "\"\"")))
            .push(") AS hits CROSS JOIN tenant_audits ON tenant_audits.rowid = hits.hit");
        }
        _ => {
            sql.push(" FROM tenant_audits");
        }
    }
    sql.push(" WHERE marketplace_id = ")
        .push_bind(marketplace_id)
        .push(" AND instance_id = ")
        .push_bind(instance_id);
    if let Some(status) = query.status {
        sql.push(" AND status = ").push_bind(status.as_str());
    }
    match &query.reseller {
        Some(None) => {
            sql.push(" AND reseller_tenant_id IS NULL");
        }
        Some(Some(reseller)) => {
            sql.push(" AND reseller_tenant_id = ")
                .push_bind(reseller.to_ascii_lowercase());
        }
        None => {}
    }
    match query.tenant_reseller {
        Some(true) => {
            sql.push(" AND tenant_reseller_id IS NOT NULL");
        }
        Some(false) => {
            sql.push(" AND tenant_reseller_id IS NULL");
        }
        None => {}
    }
    match (search, BACKEND) {
        (AuditSearch::None, _) | (AuditSearch::Index(_), crate::Backend::Sqlite) => {}
        (AuditSearch::TenantId(start), _) => {
            sql.push(" AND tenant_id >= ")
                .push_bind(start.clone())
                .push(" AND tenant_id < ")
                .push_bind(super::prefix_end(start));
        }
        (AuditSearch::Walk(term) | AuditSearch::Index(term), _) => {
            sql.push(" AND lower(name || ' ' || tenant_id || ' ' || coalesce(domain, '')) LIKE ")
                .push_bind(format!("%{}%", super::like_escape(term)))
                .push(" ESCAPE '\\'");
        }
    }
    sql
}

async fn running_run(
    connection: &mut Connection,
    instance_id: i64,
) -> crate::Result<Option<HierarchyRun>> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM hierarchy_runs WHERE instance_id = $1 AND state = 'running'"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(instance_id)
        .fetch_optional(&mut *connection)
        .await?)
}

async fn run_by_id(connection: &mut Connection, run_id: i64) -> crate::Result<HierarchyRun> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM hierarchy_runs WHERE id = $1");
    let found: Option<HierarchyRun> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(run_id)
        .fetch_optional(&mut *connection)
        .await?;
    found.ok_or(crate::StoreError::NotFound { what: "retrieval" })
}

async fn counts(connection: &mut Connection, snapshot: i64) -> crate::Result<SnapshotCounts> {
    let (resellers, tenants, detailed, subscriptions): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT
            (SELECT COUNT(*) FROM hierarchy_resellers WHERE run_id = $1),
            (SELECT COUNT(*) FROM hierarchy_tenants WHERE run_id = $1),
            (SELECT COUNT(*) FROM hierarchy_tenants WHERE run_id = $1 AND details_fetched = TRUE),
            (SELECT COUNT(*) FROM hierarchy_subscriptions WHERE run_id = $1)",
    )
    .bind(snapshot)
    .fetch_one(&mut *connection)
    .await?;
    Ok(SnapshotCounts {
        resellers,
        tenants,
        detailed,
        subscriptions,
    })
}
