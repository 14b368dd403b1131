//! The datasets statements for report and findings, the same for both backends: compiled once into
//! `crate::sqlite` and once into `crate::postgres` (see `statements.rs`).

use super::This;

#[async_trait::async_trait]
impl crate::datasets::ReportStore for This {
    async fn report_last_line(
        &self,
        dataset_id: i64,
        data_type: &str,
    ) -> crate::Result<Option<i64>> {
        let Some(table) = crate::datasets::staging_table(data_type) else {
            return Err(crate::StoreError::Identifier(data_type.to_owned()));
        };
        let sql = format!(
            "SELECT MAX(line) FROM (
                SELECT MAX(line) AS line FROM dataset_findings WHERE dataset_id = $1 AND data_type = $2
                UNION ALL SELECT MAX(line) FROM {table} WHERE dataset_id = $1) lines"
        );
        let (last,): (Option<i64>,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(dataset_id)
            .bind(data_type)
            .fetch_one(&self.pool)
            .await?;
        Ok(last)
    }

    async fn report_lines(
        &self,
        dataset_id: i64,
        data_type: &str,
        lines: std::ops::RangeInclusive<i64>,
    ) -> crate::Result<Vec<crate::datasets::ReportLine>> {
        let Some(rules) = crate::datasets::rules::ALL
            .iter()
            .find(|r| r.data_type == data_type)
        else {
            return Err(crate::StoreError::Identifier(data_type.to_owned()));
        };
        let sql = format!(
            "SELECT line, external_id, outcome, code, column_name, message, value FROM (
                SELECT line, external_id, upper(severity) AS outcome, code, column_name,
                       message, value, 0 AS rank
                FROM dataset_findings
                WHERE dataset_id = $1 AND data_type = '{data_type}' AND line BETWEEN $2 AND $3
                UNION ALL
                SELECT s.line, {key}, upper(s.outcome), NULL, NULL, NULL, NULL, 1
                FROM {table} s
                WHERE s.dataset_id = $1 AND s.line BETWEEN $2 AND $3 AND s.outcome IS NOT NULL
             ) lines ORDER BY line, rank, code",
            data_type = rules.data_type,
            key = rules.key,
            table = rules.table,
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(dataset_id)
            .bind(lines.start())
            .bind(lines.end())
            .fetch_all(&self.pool)
            .await?)
    }

    async fn dataset_has_errors(&self, dataset_id: i64) -> crate::Result<bool> {
        let (found,): (bool,) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM dataset_findings
                            WHERE dataset_id = $1 AND severity = 'error')",
        )
        .bind(dataset_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(found)
    }

    async fn dataset_findings(
        &self,
        dataset_id: i64,
        offset: i64,
        limit: i64,
    ) -> crate::Result<Vec<crate::datasets::DatasetFinding>> {
        Ok(sqlx::query_as(
            "SELECT data_type, line, external_id, severity, code, column_name, message, value
             FROM dataset_findings WHERE dataset_id = $1
             ORDER BY data_type, line, code LIMIT $2 OFFSET $3",
        )
        .bind(dataset_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?)
    }
}
