//! The datasets statements for staging, checking, planning and activation, the same for both backends: compiled once into
//! `crate::sqlite` and once into `crate::postgres` (see `statements.rs`).

use super::write_checkpoint;
use super::{BEGIN_WRITE, DIALECT, Db, This};

/// Lines whose outcome one statement of the plan decides: SQLite keeps the ids of the rows an
/// UPDATE changes in memory (about 24 bytes each) until it has found them all.
const PLAN_LINES: i64 = 500_000;

#[async_trait::async_trait]
impl crate::datasets::StagingStore for This {
    async fn stage_rows(
        &self,
        dataset_id: i64,
        staged: &crate::datasets::StagedRows<'_>,
    ) -> crate::Result<()> {
        // The fastest way in differs per backend; each marks the rows whose record was
        // last written by the very same row unchanged as they go in, which costs far
        // less than a pass over the staged table later.
        let mut tx = self.bulk.begin_with(BEGIN_WRITE).await?;
        Self::stage_rows_fast(&mut tx, dataset_id, staged).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn clear_staging(&self, dataset_id: i64) -> crate::Result<()> {
        let mut tx = self.bulk.begin_with(BEGIN_WRITE).await?;
        let mut removed = 0;
        for table in crate::datasets::staging_tables() {
            let table = crate::datasets::identifier(table)?;
            // `identifier` admitted only a plain name.
            let sql = format!("DELETE FROM {table} WHERE dataset_id = $1");
            removed += sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(dataset_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        sqlx::query("DELETE FROM dataset_findings WHERE dataset_id = $1")
            .bind(dataset_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        if removed > 0 {
            self.reclaim_staging().await?;
        }
        Ok(())
    }

    async fn reclaim_staging(&self) -> crate::Result<()> {
        // Where the backend needs telling (PostgreSQL: autovacuum is off on staging tables, see
        // migration 0007).
        let dialect = DIALECT;
        if dialect.vacuum.is_empty() {
            return Ok(());
        }
        self.each_table(dialect.vacuum, &crate::datasets::staging_tables())
            .await
    }

    async fn add_findings(
        &self,
        dataset_id: i64,
        findings: &[crate::datasets::DatasetFinding],
    ) -> crate::Result<()> {
        let mut tx = self.bulk.begin_with(BEGIN_WRITE).await?;
        for chunk in findings.chunks(2_000) {
            let mut sql = sqlx::QueryBuilder::new(
                "INSERT INTO dataset_findings (dataset_id, data_type, line, external_id,
                    severity, code, column_name, message, value) ",
            );
            sql.push_values(chunk, |mut row, f| {
                row.push_bind(dataset_id)
                    .push_bind(f.data_type.clone())
                    .push_bind(f.line)
                    .push_bind(f.external_id.clone())
                    .push_bind(f.severity.clone())
                    .push_bind(f.code.clone())
                    .push_bind(f.column_name.clone())
                    .push_bind(f.message.clone())
                    .push_bind(f.value.clone());
            });
            sql.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn merge_repeated_rows(&self, dataset_id: i64, tables: &[&str]) -> crate::Result<()> {
        let mut tx = self.bulk.begin_with(BEGIN_WRITE).await?;
        for table in tables {
            let table = crate::datasets::identifier(table)?;
            // `identifier` admitted only a plain name.
            let sql = format!(
                "DELETE FROM {table} WHERE dataset_id = $1 AND line NOT IN
                    (SELECT MIN(line) FROM {table} WHERE dataset_id = $1 GROUP BY row_hash)"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(dataset_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn check_reseller_scope(
        &self,
        dataset: crate::DatasetRef,
        reseller_company_id: i64,
    ) -> crate::Result<()> {
        let (marketplace_id, dataset_id) = (dataset.marketplace_id, dataset.dataset_id);
        self.run_rules(
            dataset_id,
            crate::datasets::rules::RESELLER_SCOPE,
            &[marketplace_id, reseller_company_id],
        )
        .await
    }

    async fn associate_with_reseller(
        &self,
        dataset: crate::DatasetRef,
        reseller_company_id: i64,
    ) -> crate::Result<()> {
        let (marketplace_id, dataset_id) = (dataset.marketplace_id, dataset.dataset_id);
        sqlx::query(
            "INSERT INTO reseller_associations (company_id, reseller_company_id, origin_ref)
             SELECT c.id, $3, $1 FROM stage_companies s
             JOIN companies c ON c.marketplace_id = $2 AND c.external_id = s.external_id
             WHERE s.dataset_id = $1 AND NOT s.rejected AND c.id <> $3
               AND NOT EXISTS (SELECT 1 FROM reseller_associations ra WHERE ra.company_id = c.id)",
        )
        .bind(dataset_id)
        .bind(marketplace_id)
        .bind(reseller_company_id)
        .execute(&self.bulk)
        .await?;
        Ok(())
    }

    async fn staged_microsoft_records(
        &self,
        dataset_id: i64,
        data_type: &str,
        after_line: i64,
        limit: i64,
    ) -> crate::Result<Vec<crate::datasets::StagedMicrosoftRecord>> {
        let sql = match data_type {
            "microsoft_customers" => {
                "SELECT line, tenant_id, CAST(NULL AS TEXT) AS subscription_id, domain, country,
                        CAST(NULL AS TEXT) AS offer_id, CAST(NULL AS BIGINT) AS units
                 FROM stage_microsoft_customers
                 WHERE dataset_id = $1 AND NOT rejected AND line > $2 ORDER BY line LIMIT $3"
            }
            "microsoft_subscriptions" => {
                "SELECT s.line, s.tenant_id, s.subscription_id, CAST(NULL AS TEXT) AS domain,
                        CAST(NULL AS TEXT) AS country, s.offer_id,
                        COALESCE(
                            (SELECT CAST(e.units AS BIGINT) FROM stage_company_entitlements e
                             WHERE e.dataset_id = $1 AND NOT e.rejected
                               AND e.external_id = s.company_entitlement_external_id
                             ORDER BY e.line LIMIT 1),
                            (SELECT x.units FROM subscriptions x JOIN datasets d ON d.id = $1
                             WHERE x.marketplace_id = d.marketplace_id
                               AND x.external_id = s.company_entitlement_external_id)) AS units
                 FROM stage_microsoft_subscriptions s
                 WHERE s.dataset_id = $1 AND NOT s.rejected AND s.line > $2
                 ORDER BY s.line LIMIT $3"
            }
            other => return Err(crate::StoreError::Identifier(other.to_owned())),
        };
        Ok(sqlx::query_as(sql)
            .bind(dataset_id)
            .bind(after_line)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn check_staged(&self, dataset: crate::DatasetRef) -> crate::Result<()> {
        let (marketplace_id, dataset_id) = (dataset.marketplace_id, dataset.dataset_id);
        let dialect = DIALECT;
        if !dialect.analyze.is_empty() {
            self.each_table(dialect.analyze, &crate::datasets::staging_tables())
                .await?;
        }
        self.run_rules(dataset_id, crate::datasets::rules::ALL, &[marketplace_id])
            .await
    }

    async fn refuse_incomplete_orders(&self, dataset: crate::DatasetRef) -> crate::Result<()> {
        let (marketplace_id, dataset_id) = (dataset.marketplace_id, dataset.dataset_id);
        self.run_rules(
            dataset_id,
            crate::datasets::rules::WHOLE_ORDERS,
            &[marketplace_id],
        )
        .await
    }

    async fn plan_staged(
        &self,
        dataset: crate::DatasetRef,
        keep: bool,
    ) -> crate::Result<Vec<crate::datasets::PlanLine>> {
        let (marketplace_id, dataset_id) = (dataset.marketplace_id, dataset.dataset_id);
        // Decide every row's outcome as activation would, and count; a range of lines at a
        // time, so memory does not grow with the file.
        let mut tx = self.bulk.begin_with(BEGIN_WRITE).await?;
        for apply in crate::datasets::apply::ALL {
            let table = crate::datasets::staging_table(apply.data_type)
                .ok_or_else(|| crate::StoreError::Identifier(apply.data_type.to_owned()))?;
            let sql = format!("SELECT MIN(line), MAX(line) FROM {table} WHERE dataset_id = $1");
            let (first, last): (Option<i64>, Option<i64>) =
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(dataset_id)
                    .fetch_one(&mut *tx)
                    .await?;
            let Some((mut from, last)) = first.zip(last) else {
                continue;
            };
            let sql = crate::datasets::dialect(apply.decide(), &DIALECT);
            while from <= last {
                let to = from.saturating_add(PLAN_LINES - 1).min(last);
                sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(dataset_id)
                    .bind(marketplace_id)
                    .bind(from)
                    .bind(to)
                    .bind(crate::now().millis())
                    .execute(&mut *tx)
                    .await?;
                from = to + 1;
            }
        }
        let plan = outcomes(&mut *tx, dataset_id).await?;
        if keep {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Ok(plan)
    }

    async fn staged_outcomes(
        &self,
        dataset_id: i64,
    ) -> crate::Result<Vec<crate::datasets::PlanLine>> {
        outcomes(&self.pool, dataset_id).await
    }

    async fn refresh_statistics(&self, data_type: &str) -> crate::Result<()> {
        let dialect = DIALECT;
        if dialect.analyze.is_empty() {
            return Ok(());
        }
        let tables: &[&str] = match data_type {
            "users" => &["users"],
            "companies" => &["companies"],
            "memberships" => &["memberships"],
            "reseller_associations" => &["reseller_associations"],
            "company_entitlements" => &["subscriptions"],
            "user_entitlements" => &["seat_assignments"],
            "microsoft_customers" => &["tenant_links"],
            _ => &[],
        };
        self.each_table(dialect.analyze, tables).await
    }

    async fn staged_lines(
        &self,
        dataset_id: i64,
        data_type: &str,
    ) -> crate::Result<Option<(i64, i64)>> {
        let Some(table) = crate::datasets::staging_table(data_type) else {
            return Err(crate::StoreError::Identifier(data_type.to_owned()));
        };
        let sql = format!("SELECT MIN(line), MAX(line) FROM {table} WHERE dataset_id = $1");
        let (first, last): (Option<i64>, Option<i64>) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(dataset_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(first.zip(last))
    }

    async fn activate_lines(
        &self,
        step: &crate::datasets::ActivationStep<'_>,
    ) -> crate::Result<()> {
        let data_type = step.data_type;
        let Some(apply) = crate::datasets::apply::ALL
            .iter()
            .find(|a| a.data_type == data_type)
        else {
            return Err(crate::StoreError::Identifier(data_type.to_owned()));
        };
        let now = crate::now().millis();
        let mut tx = self.bulk.begin_with(BEGIN_WRITE).await?;
        for statement in apply.apply() {
            let sql = crate::datasets::dialect(statement, &DIALECT);
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(step.dataset.dataset_id)
                .bind(step.dataset.marketplace_id)
                .bind(step.lines.start())
                .bind(step.lines.end())
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        write_checkpoint(&mut tx, step.lease, step.checkpoint).await?;
        tx.commit().await?;
        Ok(())
    }
}

impl This {
    /// Runs `command` (a maintenance statement: `ANALYZE`, `VACUUM`) on each table.
    async fn each_table(&self, command: &str, tables: &[&str]) -> crate::Result<()> {
        for table in tables {
            let table = crate::datasets::identifier(table)?;
            let sql = format!("{command} {table}");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&self.bulk)
                .await?;
        }
        Ok(())
    }

    /// Records the findings of every rule of `types`, type by type, and rejects the
    /// rows with errors before the next type is checked. `params` are bound after the
    /// dataset (`$2`, `$3`…).
    async fn run_rules(
        &self,
        dataset_id: i64,
        types: &[crate::datasets::rules::TypeRules],
        params: &[i64],
    ) -> crate::Result<()> {
        let dialect = DIALECT;
        let mut conn = self.bulk.acquire().await?;
        if !dialect.checks_begin.is_empty() {
            sqlx::query(dialect.checks_begin)
                .execute(&mut *conn)
                .await?;
        }
        let checked: crate::Result<()> = async {
            for rules in types {
                let mut tx = sqlx::Connection::begin_with(&mut *conn, BEGIN_WRITE).await?;
                for rule in rules.rules {
                    let sql = crate::datasets::rules::finding_statement(rules, rule);
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(dataset_id);
                    for param in params {
                        query = query.bind(*param);
                    }
                    query.execute(&mut *tx).await?;
                }
                let sql = crate::datasets::rules::reject_statement(rules);
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(dataset_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
            Ok(())
        }
        .await;
        if !dialect.checks_end.is_empty() {
            sqlx::query(dialect.checks_end).execute(&mut *conn).await?;
        }
        checked
    }
}

/// Counts each type's rows by outcome. A row with an error is skipped, whether it was staged and
/// then rejected or refused as it was read (a bad e-mail, a date): so the counts of a type add up
/// to the rows read of it.
async fn outcomes<'e, E>(
    executor: E,
    dataset_id: i64,
) -> crate::Result<Vec<crate::datasets::PlanLine>>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    let mut sql = String::new();
    for (i, rules) in crate::datasets::rules::ALL.iter().enumerate() {
        if i > 0 {
            sql.push_str(" UNION ALL ");
        }
        sql.push_str(&format!(
            "SELECT {i} AS position, '{data_type}' AS data_type,
                COALESCE(SUM(CASE WHEN outcome = 'created' THEN 1 ELSE 0 END), 0) AS created,
                COALESCE(SUM(CASE WHEN outcome = 'updated' THEN 1 ELSE 0 END), 0) AS updated,
                COALESCE(SUM(CASE WHEN outcome = 'unchanged' THEN 1 ELSE 0 END), 0) AS unchanged,
                (SELECT COUNT(DISTINCT f.line) FROM dataset_findings f
                 WHERE f.dataset_id = $1 AND f.data_type = '{data_type}'
                   AND f.severity = 'error') AS skipped,
                COUNT(*) AS total
             FROM {table} WHERE dataset_id = $1",
            data_type = rules.data_type,
            table = rules.table,
        ));
    }
    sql.push_str(" ORDER BY position");
    let rows: Vec<(i32, String, i64, i64, i64, i64, i64)> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(dataset_id)
            .fetch_all(executor)
            .await?;
    Ok(rows
        .into_iter()
        .filter(|row| row.6 > 0 || row.5 > 0)
        .map(
            |(_, data_type, created, updated, unchanged, skipped, _)| crate::datasets::PlanLine {
                data_type,
                created,
                updated,
                unchanged,
                skipped,
            },
        )
        .collect())
}
