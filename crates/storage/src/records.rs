//! What the store hands back: rows as the rest of Ferry sees them.

use std::collections::BTreeMap;

use ferry_domain::{
    CompanyStatus, Email, JobState, MarketplaceKind, Origin, Progress, Role, Timestamp, UserStatus,
};
use serde_json::Value;

use crate::{Result, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Marketplace {
    pub id: i64,
    pub slug: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub kind: MarketplaceKind,
    pub parent_id: Option<i64>,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
}

/// A marketplace about to be created. A distributor has no parent; tenants have one.
#[derive(Debug, Clone)]
pub struct NewMarketplace {
    pub slug: ferry_domain::Slug,
    pub name: String,
    pub kind: MarketplaceKind,
    pub parent_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Company {
    pub id: i64,
    pub marketplace_id: i64,
    pub external_id: Option<String>,
    pub name: String,
    pub city: Option<String>,
    pub country: Option<String>,
    pub email: Option<String>,
    pub website: Option<String>,
    pub allow_login: bool,
    #[sqlx(try_from = "String")]
    pub status: CompanyStatus,
    #[sqlx(json)]
    pub custom_attributes: BTreeMap<String, String>,
    pub origin_kind: String,
    pub origin_ref: Option<i64>,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub marketplace_id: i64,
    pub external_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub email: Email,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub allow_login: bool,
    #[sqlx(try_from = "String")]
    pub status: UserStatus,
    pub origin_kind: String,
    pub origin_ref: Option<i64>,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
}

/// Rebuilds a stored origin, for both companies and users.
pub(crate) fn origin(kind: &str, reference: Option<i64>) -> Result<Origin> {
    Origin::from_parts(kind, reference).map_err(|e| StoreError::Corrupt {
        what: "origin",
        value: e.value,
    })
}

impl Company {
    pub fn origin(&self) -> Result<Origin> {
        origin(&self.origin_kind, self.origin_ref)
    }
}

impl User {
    pub fn origin(&self) -> Result<Origin> {
        origin(&self.origin_kind, self.origin_ref)
    }
}

/// Someone who can sign in with a password, and the roles that lets them use.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub subject: Subject,
    pub password_hash: String,
    pub roles: Vec<Role>,
}

/// Who a sign-in or an API token acts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    PlatformAdmin { id: i64 },
    User { id: i64, marketplace_id: i64 },
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

/// Work to be done in the background.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub marketplace_id: Option<i64>,
    pub kind: String,
    pub payload: Value,
    pub max_attempts: i32,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Job {
    pub id: i64,
    pub marketplace_id: Option<i64>,
    pub kind: String,
    #[sqlx(json)]
    pub payload: Value,
    #[sqlx(try_from = "String")]
    pub state: JobState,
    pub progress_done: i64,
    pub progress_total: Option<i64>,
    pub progress_message: Option<String>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    #[sqlx(json(nullable))]
    pub checkpoint: Option<Value>,
    pub cancel_requested: bool,
    pub last_error: Option<String>,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

impl Job {
    pub fn progress(&self) -> Progress {
        Progress {
            done: self.progress_done,
            total: self.progress_total,
            message: self.progress_message.clone(),
        }
    }
}

/// Proof that a worker holds a job: every write about the job names it, and is refused once
/// another worker has taken the job over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub job_id: i64,
    pub owner: String,
}

/// What a worker records after finishing a step, in one transaction: where to resume from, how
/// far it has come, and optionally an audit line for the step's effect.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub data: Value,
    pub progress: Progress,
    pub audit: Option<NewAuditEntry>,
}

/// How a job run ended.
#[derive(Debug, Clone)]
pub enum JobOutcome {
    Succeeded,
    /// Failed for good.
    Failed {
        error: String,
    },
    /// Failed this time; queue it again at `run_at` (the checkpoint is kept).
    Retry {
        error: String,
        run_at: Timestamp,
    },
    Cancelled,
}

/// What a heartbeat learns about the job it keeps alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseStatus {
    pub cancel_requested: bool,
}
