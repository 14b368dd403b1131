//! What the store hands back: rows as the rest of Ferry sees them.

use std::collections::BTreeMap;

use ferry_domain::{
    CompanyStatus, ContactKind, Email, JobState, MarketplaceKind, Origin, Progress, Role,
    SubscriptionStatus, Timestamp, UserStatus,
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

/// What a marketplace's operators have chosen, stored as one JSON object.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct MarketplaceSettings {
    /// Datasets' Microsoft records are checked against Partner Center while they are validated
    /// (PRODUCT.md §4.4), through the marketplace's instances.
    pub microsoft_validation: bool,
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
    pub street1: Option<String>,
    pub street2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub country: Option<String>,
    pub billing_street1: Option<String>,
    pub billing_street2: Option<String>,
    pub billing_city: Option<String>,
    pub billing_state: Option<String>,
    pub billing_zip: Option<String>,
    pub billing_country: Option<String>,
    pub phone: Option<String>,
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

/// Which companies to list: a page of at most `limit`, after the `after` key of the previous
/// page, in name order.
#[derive(Debug, Clone, Default)]
pub struct CompanyQuery {
    /// Matches the start of the name, or the whole external id or e-mail address.
    pub search: Option<String>,
    pub status: Option<CompanyStatus>,
    pub origin_kind: Option<String>,
    pub after: Option<CompanyKey>,
    pub limit: i64,
}

/// Where a page of companies ends: the sort key of its last row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanyKey {
    pub name: String,
    pub id: i64,
}

impl Company {
    pub fn key(&self) -> CompanyKey {
        CompanyKey {
            name: self.name.to_lowercase(),
            id: self.id,
        }
    }
}

/// A company's contact as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ContactRow {
    #[sqlx(try_from = "String")]
    pub kind: ContactKind,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// A user's membership in a company, seen from either side.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Membership {
    pub user_id: i64,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    #[sqlx(try_from = "String")]
    pub user_status: UserStatus,
    pub company_id: i64,
    pub company_name: String,
    pub company_admin: bool,
    pub billing_admin: bool,
    pub sales_support: bool,
    pub restricted_sales_support: bool,
}

/// A subscription with the names a person reads.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SubscriptionRow {
    pub id: i64,
    pub external_id: Option<String>,
    pub product_name: String,
    pub edition_name: String,
    pub units: i64,
    #[sqlx(try_from = "String")]
    pub status: SubscriptionStatus,
    pub start_date: Option<time::Date>,
    pub billing_start_date: Option<time::Date>,
    pub end_date: Option<time::Date>,
    pub billing_cycle: Option<String>,
    pub term: Option<String>,
    pub vendor_subscription_id: Option<String>,
    pub origin_kind: String,
    /// Why the vendor's connector did not take the subscription.
    pub provisioning_error: Option<String>,
}

/// A company's link to a Microsoft tenant, with the instance's name.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TenantLinkRow {
    pub instance_id: i64,
    pub instance_name: String,
    pub tenant_id: String,
    pub domain_prefix: Option<String>,
    pub reseller_mpn_id: Option<String>,
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
    pub locale: Option<String>,
    pub phone: Option<String>,
    pub allow_login: bool,
    #[sqlx(try_from = "String")]
    pub status: UserStatus,
    /// Whether the user has chosen a password (by invitation or reset).
    pub has_password: bool,
    #[sqlx(json)]
    pub custom_attributes: BTreeMap<String, String>,
    pub origin_kind: String,
    pub origin_ref: Option<i64>,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
}

impl User {
    /// "First Last", or the e-mail address when the user has no name.
    pub fn display_name(&self) -> String {
        let name = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if name.trim().is_empty() {
            self.email.to_string()
        } else {
            name
        }
    }
}

/// Which users to list: a page in e-mail order after `after`.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// Matches part of the e-mail address or name, or the whole external id.
    pub search: Option<String>,
    pub status: Option<UserStatus>,
    pub after: Option<String>,
    pub limit: i64,
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

/// Someone who can sign in with a password.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub subject: Subject,
    pub password_hash: String,
}

/// Who a sign-in or an API token acts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    PlatformAdmin { id: i64 },
    User { id: i64, marketplace_id: i64 },
}

/// A signed-in person as requests see them: loaded afresh for every request, so a suspension
/// or a role change takes effect at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub subject: Subject,
    pub email: String,
    pub display_name: String,
    pub roles: Vec<Role>,
}

impl Account {
    /// The marketplace the account belongs to; `None` for a platform admin.
    pub fn marketplace_id(&self) -> Option<i64> {
        match self.subject {
            Subject::PlatformAdmin { .. } => None,
            Subject::User { marketplace_id, .. } => Some(marketplace_id),
        }
    }
}

/// A stored API token (its secret is never stored).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApiToken {
    pub id: i64,
    pub marketplace_id: i64,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// What a one-time link sent by e-mail is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    Invitation,
    PasswordReset,
}

impl LinkPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Invitation => "invitation",
            LinkPurpose::PasswordReset => "password_reset",
        }
    }
}

/// An e-mail about to be sent (or kept in the outbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEmail {
    pub marketplace_id: Option<i64>,
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxEmail {
    pub id: i64,
    pub marketplace_id: Option<i64>,
    pub to_address: String,
    pub subject: String,
    pub body: String,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    pub sent_at: Option<i64>,
    pub last_error: Option<String>,
}

/// A product of the catalog with its editions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub vendor: String,
    pub editions: Vec<Edition>,
    /// Where its provisioning events go (PRODUCT.md §9), and whether a signing secret is set.
    pub webhook_url: Option<String>,
    pub webhook_signed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Edition {
    pub id: i64,
    pub product_id: i64,
    pub code: String,
    pub name: String,
    pub pricing_plan_id: String,
    pub channel_sku: Option<String>,
    pub pricing_unit: String,
    pub included_units: i64,
    pub connector: String,
    pub active: bool,
    /// The Microsoft offer ids it maps to, comma-separated.
    #[sqlx(default)]
    pub offer_ids: Option<String>,
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
    /// unchecked, authenticated, expired (needs consent again) or failing.
    pub auth_state: String,
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
