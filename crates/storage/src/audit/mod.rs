//! The audit log: who did what to which record; and what datasets changed, which their own
//! tables keep (for undo) and History reads beside the log.

use async_trait::async_trait;
use ferry_domain::Timestamp;
use serde_json::Value;

use crate::Result;

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn record_audit(&self, entry: &NewAuditEntry) -> Result<()>;
    /// The audit lines of one record, oldest first.
    async fn audit_trail(&self, entity_type: &str, entity_id: i64) -> Result<Vec<AuditEntry>>;
    /// What datasets changed in one record (`user` or `company`), oldest first.
    async fn dataset_changes_of(
        &self,
        entity_type: &str,
        entity_id: i64,
    ) -> Result<Vec<DatasetChange>>;
}

/// A record as a dataset changed it: its fields before and, once the range is applied, after.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetChange {
    pub dataset_id: i64,
    pub dataset_name: String,
    pub at: Timestamp,
    pub before: Value,
    pub after: Option<Value>,
}

/// One line of the audit log: who did what to which record.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: i64,
    pub marketplace_id: Option<i64>,
    pub actor: String,
    pub action: String,
    pub entity_type: String,
    pub entity_id: Option<i64>,
    #[sqlx(json)]
    pub changes: Value,
    #[sqlx(try_from = "i64")]
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEntry {
    pub marketplace_id: Option<i64>,
    pub actor: String,
    pub action: String,
    pub entity_type: String,
    pub entity_id: Option<i64>,
    pub changes: Value,
}
