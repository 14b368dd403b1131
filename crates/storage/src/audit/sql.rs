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
}
