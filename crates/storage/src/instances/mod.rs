//! Partner Center instances: connection settings, sealed secrets and what the last check found.

use async_trait::async_trait;
use ferry_domain::InstanceAuth;

use crate::Result;

#[async_trait]
pub trait InstanceStore: Send + Sync {
    async fn create_instance(&self, marketplace_id: i64, instance: &NewInstance) -> Result<i64>;
    /// The marketplace's own instances (not inherited ones).
    async fn instances(&self, marketplace_id: i64) -> Result<Vec<InstanceSummary>>;
    /// One instance of a marketplace, with its sealed secrets.
    async fn instance(&self, marketplace_id: i64, id: i64) -> Result<Option<InstanceRecord>>;
    /// Changes an instance; a secret or refresh token left `None` stays as it is.
    async fn update_instance(
        &self,
        marketplace_id: i64,
        id: i64,
        instance: &NewInstance,
    ) -> Result<()>;
    async fn delete_instance(&self, marketplace_id: i64, id: i64) -> Result<()>;
    /// Stores a rotated refresh token (sealed).
    async fn store_refresh_token(&self, marketplace_id: i64, id: i64, sealed: &[u8]) -> Result<()>;
    /// Records what a connection check found.
    async fn set_instance_auth(
        &self,
        marketplace_id: i64,
        id: i64,
        state: InstanceAuth,
        reason: Option<&str>,
    ) -> Result<()>;
}

/// A Partner Center connection about to be created; secrets arrive already encrypted.
#[derive(Clone)]
pub struct NewInstance {
    pub name: String,
    pub model: String,
    pub partner_tenant_id: String,
    pub application_id: String,
    pub secret_encrypted: Option<Vec<u8>>,
    pub refresh_token_encrypted: Option<Vec<u8>>,
    pub mpn_id: Option<String>,
    pub api_base_url: String,
    pub login_base_url: String,
}

/// A Partner Center connection as lists show it (never its secrets).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InstanceSummary {
    pub id: i64,
    pub marketplace_id: i64,
    pub name: String,
    pub model: String,
    pub partner_tenant_id: String,
    pub application_id: String,
    pub mpn_id: Option<String>,
    pub api_base_url: String,
    pub login_base_url: String,
    pub has_refresh_token: bool,
    #[sqlx(try_from = "String")]
    pub auth_state: InstanceAuth,
    pub auth_reason: Option<String>,
    pub checked_at: Option<i64>,
}

/// A Partner Center connection with its sealed secrets, for making a client.
#[derive(Clone, sqlx::FromRow)]
pub struct InstanceRecord {
    #[sqlx(flatten)]
    pub summary: InstanceSummary,
    pub secret_encrypted: Option<Vec<u8>>,
    pub refresh_token_encrypted: Option<Vec<u8>>,
}

impl std::fmt::Debug for InstanceRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceRecord")
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for NewInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewInstance")
            .field("name", &self.name)
            .field("model", &self.model)
            .field("partner_tenant_id", &self.partner_tenant_id)
            .field("application_id", &self.application_id)
            .finish_non_exhaustive()
    }
}

/// The columns of [`crate::InstanceSummary`].
macro_rules! instance_columns {
    () => {
        "id, marketplace_id, name, model, partner_tenant_id, application_id, mpn_id,
         api_base_url, login_base_url,
         (refresh_token_encrypted IS NOT NULL) AS has_refresh_token,
         auth_state, auth_reason, checked_at"
    };
}

pub(crate) use instance_columns;
