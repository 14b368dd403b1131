//! The audit statements, the same for both backends: compiled once into `crate::sqlite` and
//! once into `crate::postgres` (see `statements.rs`).

use super::This;
use super::insert_audit;

#[async_trait::async_trait]
impl crate::AuditStore for This {
    async fn record_audit(&self, entry: &crate::NewAuditEntry) -> crate::Result<()> {
        insert_audit(&self.pool, entry).await
    }

    async fn audit_trail(
        &self,
        entity_type: &str,
        entity_id: i64,
    ) -> crate::Result<Vec<crate::AuditEntry>> {
        Ok(sqlx::query_as(
            "SELECT id, marketplace_id, actor, action, entity_type, entity_id, changes, at
             FROM audit_log WHERE entity_type = $1 AND entity_id = $2 ORDER BY id",
        )
        .bind(entity_type)
        .bind(entity_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn dataset_changes_of(
        &self,
        entity_type: &str,
        entity_id: i64,
    ) -> crate::Result<Vec<crate::DatasetChange>> {
        let rows: Vec<(i64, String, i64, String, Option<String>)> = sqlx::query_as(
            "SELECT d.id, d.name, COALESCE(d.activated_at, d.updated_at), c.before, c.after_values
             FROM dataset_changes c JOIN datasets d ON d.id = c.dataset_id
             WHERE c.entity_type = $1 AND c.entity_id = $2 ORDER BY 3",
        )
        .bind(entity_type)
        .bind(entity_id)
        .fetch_all(&self.pool)
        .await?;
        let json = |text: &str| serde_json::from_str(text).unwrap_or(serde_json::Value::Null);
        Ok(rows
            .into_iter()
            .map(
                |(dataset_id, dataset_name, at, before, after)| crate::DatasetChange {
                    dataset_id,
                    dataset_name,
                    at: ferry_domain::Timestamp(at),
                    before: json(&before),
                    after: after.as_deref().map(json),
                },
            )
            .collect())
    }
}
