//! Google Workspace (docs/user-sync.md): a marketplace's Google connection — a service
//! account's key, sealed by the caller, the admin it acts as, and what its last check found —
//! and which Workspace customer each company is, for User Sync from Google Workspace.

use async_trait::async_trait;
use ferry_domain::GoogleCustomer;

use crate::Result;

#[async_trait]
pub trait GoogleStore: Send + Sync {
    async fn google_connection(&self, marketplace_id: i64) -> Result<Option<GoogleConnection>>;
    /// Saves the connection, unchecked, in place of the one before.
    async fn set_google_connection(
        &self,
        marketplace_id: i64,
        connection: &NewGoogleConnection,
        by: &str,
    ) -> Result<()>;
    /// Records a check of the connection: `error` says why it failed, none that it worked.
    async fn set_google_check(
        &self,
        marketplace_id: i64,
        at: i64,
        error: Option<&str>,
    ) -> Result<()>;
    /// Links a company of the marketplace to its Workspace customer (none: unlinks), in its
    /// History. Answers whether the company is the marketplace's.
    async fn set_company_google(
        &self,
        marketplace_id: i64,
        company_id: i64,
        customer: Option<&GoogleCustomer>,
        by: &str,
    ) -> Result<bool>;
    async fn company_google(
        &self,
        marketplace_id: i64,
        company_id: i64,
    ) -> Result<Option<GoogleCustomer>>;
    /// The marketplace's companies linked to a Workspace customer, after company `after`.
    async fn google_companies(
        &self,
        marketplace_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<GoogleCompany>>;
}

#[derive(Debug, Clone)]
pub struct NewGoogleConnection {
    pub client_email: String,
    pub admin_email: String,
    /// The key file, sealed.
    pub key_encrypted: Vec<u8>,
    pub api_url: String,
    pub token_url: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GoogleConnection {
    pub marketplace_id: i64,
    pub client_email: String,
    pub admin_email: String,
    pub key_encrypted: Vec<u8>,
    pub api_url: String,
    pub token_url: String,
    pub updated_at: i64,
    pub updated_by: String,
    pub checked_at: Option<i64>,
    pub check_error: Option<String>,
}

/// A company and its Workspace customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleCompany {
    pub company_id: i64,
    pub customer: GoogleCustomer,
}

/// The two columns a link is kept in.
pub(crate) fn customer_of(id: Option<String>, domain: Option<String>) -> Option<GoogleCustomer> {
    match (id, domain) {
        (Some(id), _) => Some(GoogleCustomer::Id(id)),
        (None, Some(domain)) => Some(GoogleCustomer::Domain(domain)),
        (None, None) => None,
    }
}
