//! Get Hierarchy's snapshots: each retrieval of a Partner Center instance's resellers, tenants
//! and subscriptions (a *run*), and what it stored.
//!
//! A mass retrieval writes a snapshot of its own (keyed by its run) and, only when it
//! completes, becomes the instance's current snapshot: what changed since the one before is
//! recorded, the old snapshot's rows go, and Last Update moves. A run that fails leaves the
//! current snapshot as it was. A single-tenant retrieval refreshes one tenant of the current
//! snapshot and leaves Last Update alone. One retrieval of an instance runs at a time.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Result;

#[async_trait]
pub trait HierarchyStore: Send + Sync {
    /// Starts a retrieval of an instance, or says which one is already running.
    async fn start_hierarchy_run(&self, run: &NewHierarchyRun<'_>) -> Result<RunStart>;
    async fn set_hierarchy_run_job(&self, run_id: i64, job_id: i64) -> Result<()>;
    async fn hierarchy_run(&self, run_id: i64) -> Result<Option<HierarchyRun>>;
    /// An instance's retrievals, newest first.
    async fn hierarchy_runs(&self, instance_id: i64, limit: i64) -> Result<Vec<HierarchyRun>>;
    /// The instance's current snapshot and Last Update (when its last mass retrieval
    /// completed).
    async fn hierarchy_state(&self, instance_id: i64) -> Result<HierarchyState>;

    /// Adds or refreshes resellers of a snapshot.
    async fn store_resellers(&self, snapshot: i64, resellers: &[SnapshotReseller]) -> Result<()>;
    /// Adds tenants to a snapshot, or refreshes their name and domain; their details wait.
    async fn store_tenants(&self, snapshot: i64, tenants: &[SnapshotTenant]) -> Result<()>;
    /// Records that these tenants belong to an indirect reseller.
    async fn set_tenants_reseller(
        &self,
        snapshot: i64,
        reseller_tenant_id: &str,
        tenant_ids: &[String],
    ) -> Result<()>;
    /// Tenants of a snapshot whose details are not stored yet, by tenant id.
    async fn tenants_without_details(&self, snapshot: i64, limit: i64) -> Result<Vec<String>>;
    /// Stores tenants' billing profiles, domains and subscriptions (replacing those they had)
    /// and marks them done, in one transaction.
    async fn store_tenant_details(&self, snapshot: i64, details: &[TenantDetails]) -> Result<()>;
    async fn snapshot_counts(&self, snapshot: i64) -> Result<SnapshotCounts>;
    /// Ends a run that read everything. A mass run records what changed since the current
    /// snapshot and takes its place (the old rows go, Last Update moves); a single-tenant run
    /// leaves the snapshot as it refreshed it. One transaction.
    async fn complete_hierarchy_run(
        &self,
        run_id: i64,
        lacks: Option<&str>,
    ) -> Result<HierarchyRun>;
    /// Ends a run that did not complete (`Failed` or `Cancelled`) with the reason. A mass run's
    /// own snapshot goes; the current one stays.
    async fn end_hierarchy_run(&self, run_id: i64, state: RunState, error: &str) -> Result<()>;
    /// What a mass retrieval found changed, in tenant order.
    async fn hierarchy_changes(&self, run_id: i64, limit: i64) -> Result<Vec<HierarchyChange>>;

    async fn snapshot_resellers(&self, snapshot: i64) -> Result<Vec<SnapshotReseller>>;
    /// A page of a snapshot's tenants in tenant id order, after `after`.
    async fn snapshot_tenants(
        &self,
        snapshot: i64,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredTenant>>;
    /// Some tenants of a snapshot, by id (in any case).
    async fn snapshot_tenants_of(
        &self,
        snapshot: i64,
        tenant_ids: &[String],
    ) -> Result<Vec<StoredTenant>>;
    /// The subscriptions of some tenants of a snapshot, by tenant and subscription id.
    async fn snapshot_subscriptions(
        &self,
        snapshot: i64,
        tenant_ids: &[String],
    ) -> Result<Vec<StoredSubscription>>;

    /// What the audit compares a snapshot with, for one marketplace: every company linked to
    /// a tenant (through any instance), with the Microsoft subscriptions it holds.
    async fn linked_companies(&self, marketplace_id: i64) -> Result<Vec<LinkedCompany>>;
    /// Companies of the marketplace linked to no tenant, by id after `after`: the candidates
    /// of possible matches.
    async fn unlinked_companies(
        &self,
        marketplace_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<CandidateCompany>>;
    /// Writes a page of a new audit of an instance for the marketplace, out of sight until
    /// [`publish_tenant_audits`](Self::publish_tenant_audits) publishes its `generation`.
    async fn stage_tenant_audits(
        &self,
        generation: &AuditGeneration,
        audits: &[TenantAudit],
    ) -> Result<()>;
    /// Puts the staged audit in place of the one before, in one transaction, and forgets
    /// what older audits left staged.
    async fn publish_tenant_audits(&self, generation: &AuditGeneration) -> Result<()>;
    /// A page of the audited tenant list (see [`TenantAuditQuery`]).
    async fn tenant_audits(
        &self,
        marketplace_id: i64,
        instance_id: i64,
        query: &TenantAuditQuery,
    ) -> Result<Vec<TenantAudit>>;
    /// How many audited tenants the query's filters match, counted up to `cap`.
    async fn count_tenant_audits(
        &self,
        marketplace_id: i64,
        instance_id: i64,
        query: &TenantAuditQuery,
        cap: i64,
    ) -> Result<crate::Total>;
    /// Each reseller's number of audited end customers.
    async fn reseller_customer_counts(
        &self,
        marketplace_id: i64,
        instance_id: i64,
    ) -> Result<Vec<(String, i64)>>;
}

/// A company linked to a tenant, and the Microsoft subscriptions it holds (their Partner
/// Center ids, lower-case; none for a subscription without one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedCompany {
    pub tenant_id: String,
    pub company_id: i64,
    pub name: String,
    pub subscriptions: Vec<Option<String>>,
}

/// What possible matches compare of a company.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CandidateCompany {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    pub website: Option<String>,
    pub country: Option<String>,
}

/// A company as the tenant list names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanyRef {
    pub id: i64,
    pub name: String,
}

/// A Partner Center subscription the import does not bring in, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotImportable {
    pub subscription_id: String,
    pub offer_name: Option<String>,
    /// `azure-plan` or `ended` (with the status).
    pub why: String,
}

/// A company that looks like the tenant, how much and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PossibleMatch {
    pub id: i64,
    pub name: String,
    pub score: u8,
    pub reasons: Vec<String>,
}

/// One audit of an instance's snapshot for a marketplace, while it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditGeneration {
    pub marketplace_id: i64,
    pub instance_id: i64,
    /// When the audit began, in microseconds: later audits publish over earlier ones.
    pub id: i64,
}

impl AuditGeneration {
    pub fn new(marketplace_id: i64, instance_id: i64) -> Self {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        AuditGeneration {
            marketplace_id,
            instance_id,
            id: micros,
        }
    }
}

/// One tenant of the audited list.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TenantAudit {
    pub tenant_id: String,
    pub name: String,
    pub domain: Option<String>,
    pub reseller_tenant_id: Option<String>,
    /// The tenant reseller (a simple tenant marketplace) that holds the tenant: its end
    /// customers are imported into that marketplace, and the audit compares them with it.
    pub tenant_reseller_id: Option<i64>,
    #[sqlx(try_from = "String")]
    pub status: ferry_domain::TenantStatus,
    pub partner_center_subscriptions: i64,
    pub marketplace_subscriptions: i64,
    #[sqlx(json)]
    pub related: Vec<CompanyRef>,
    /// Importable Partner Center subscriptions the Related Accounts do not have (none listed
    /// for a tenant not imported, which lacks them all).
    #[sqlx(json)]
    pub missing: Vec<String>,
    /// Marketplace subscriptions Partner Center does not have (importable).
    #[sqlx(json)]
    pub extra: Vec<String>,
    #[sqlx(json)]
    pub not_importable: Vec<NotImportable>,
    #[sqlx(json)]
    pub possible: Vec<PossibleMatch>,
    pub audited_at: i64,
}

/// Which audited tenants to list: filtered, a page of at most `limit` in name order after
/// `after` (the name key and tenant id of the page before's last row).
#[derive(Debug, Clone, Default)]
pub struct TenantAuditQuery {
    /// Any part of the name or domain, or the start of the tenant id.
    pub search: Option<String>,
    pub status: Option<ferry_domain::TenantStatus>,
    /// `Some(None)`: direct customers only; `Some(Some(id))`: one reseller's.
    pub reseller: Option<Option<String>>,
    /// `Some(true)`: the tenant resellers' end customers only; `Some(false)`: the others.
    pub tenant_reseller: Option<bool>,
    pub after: Option<(String, String)>,
    pub limit: i64,
}

/// A tenant as a snapshot holds it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StoredTenant {
    pub tenant_id: String,
    pub name: String,
    pub domain: Option<String>,
    pub reseller_tenant_id: Option<String>,
    pub details_fetched: bool,
    pub email: Option<String>,
    #[sqlx(json(nullable))]
    pub billing: Option<Value>,
    #[sqlx(json(nullable))]
    pub custom_domains: Option<Vec<String>>,
}

/// A subscription as a snapshot holds it, with its tenant.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
pub struct StoredSubscription {
    pub tenant_id: String,
    #[sqlx(flatten)]
    pub subscription: SnapshotSubscription,
}

/// What a retrieval covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunScope {
    /// Every reseller, tenant and subscription of the instance.
    Mass,
    /// One tenant, by tenant id or primary domain.
    Tenant,
}

impl RunScope {
    pub fn as_str(self) -> &'static str {
        match self {
            RunScope::Mass => "mass",
            RunScope::Tenant => "tenant",
        }
    }
}

impl TryFrom<String> for RunScope {
    type Error = ferry_domain::ParseError;

    fn try_from(value: String) -> std::result::Result<Self, Self::Error> {
        match value.as_str() {
            "mass" => Ok(RunScope::Mass),
            "tenant" => Ok(RunScope::Tenant),
            _ => Err(ferry_domain::ParseError::new("retrieval scope", &value)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Completed => "completed",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
        }
    }
}

impl TryFrom<String> for RunState {
    type Error = ferry_domain::ParseError;

    fn try_from(value: String) -> std::result::Result<Self, Self::Error> {
        match value.as_str() {
            "running" => Ok(RunState::Running),
            "completed" => Ok(RunState::Completed),
            "failed" => Ok(RunState::Failed),
            "cancelled" => Ok(RunState::Cancelled),
            _ => Err(ferry_domain::ParseError::new("retrieval state", &value)),
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewHierarchyRun<'a> {
    pub instance_id: i64,
    pub scope: RunScope,
    /// The tenant id or primary domain of a single-tenant retrieval.
    pub tenant: Option<&'a str>,
    pub started_by: &'a str,
}

/// What asking for a retrieval did.
#[derive(Debug, Clone)]
pub enum RunStart {
    Started(HierarchyRun),
    /// Another retrieval of the instance is running; this is it.
    AlreadyRunning(HierarchyRun),
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct HierarchyRun {
    pub id: i64,
    pub instance_id: i64,
    #[sqlx(try_from = "String")]
    pub scope: RunScope,
    pub tenant: Option<String>,
    #[sqlx(try_from = "String")]
    pub state: RunState,
    pub job_id: Option<i64>,
    /// The snapshot the run writes into: its own for a mass retrieval; the instance's current
    /// one (or its own, when there is none yet) for a single tenant.
    pub snapshot: i64,
    pub started_by: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
    /// What the retrieval could not read, in words (an App-only instance reads no resellers).
    pub lacks: Option<String>,
    #[sqlx(json(nullable))]
    pub summary: Option<RunSummary>,
}

/// The counts of a completed run's snapshot, and of what changed since the one before.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    pub resellers: i64,
    pub tenants: i64,
    pub subscriptions: i64,
    /// Per kind of change (`tenant_new`, `quantity_changed`, …); none for a first retrieval.
    pub changes: std::collections::BTreeMap<String, i64>,
    /// Whether there was a snapshot to compare with.
    pub compared: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HierarchyState {
    pub snapshot: Option<i64>,
    pub last_update: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SnapshotReseller {
    pub tenant_id: String,
    pub name: Option<String>,
    pub mpn_id: Option<String>,
    pub location: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotTenant {
    pub tenant_id: String,
    pub name: String,
    pub domain: Option<String>,
}

/// What a tenant's own calls tell: its reseller, billing profile, domains, subscriptions.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantDetails {
    pub tenant_id: String,
    pub name: Option<String>,
    pub domain: Option<String>,
    /// `associatedPartnerId`: the indirect reseller's tenant id, when Partner Center says.
    pub reseller_tenant_id: Option<String>,
    pub email: Option<String>,
    /// The billing profile as read; none without access to it.
    pub billing: Option<Value>,
    pub custom_domains: Option<Vec<String>>,
    pub subscriptions: Vec<SnapshotSubscription>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
pub struct SnapshotSubscription {
    pub subscription_id: String,
    pub offer_id: Option<String>,
    pub offer_name: Option<String>,
    pub product_type: Option<String>,
    pub quantity: Option<i64>,
    pub status: Option<String>,
    pub billing_cycle: Option<String>,
    pub term: Option<String>,
    /// SQLite's JSON writes it 1 or 0.
    #[serde(deserialize_with = "flag")]
    pub auto_renew: Option<bool>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    /// The reseller of record's MPN id (`partnerId`), none for direct sales.
    pub reseller_mpn_id: Option<String>,
    pub parent_subscription_id: Option<String>,
    /// New commerce: when the cancellation window closes.
    pub cancellation_allowed_until: Option<String>,
    /// New commerce: the last day of the billing period Partner Center has invoiced.
    pub billing_cycle_end_date: Option<String>,
}

/// A boolean written as `true`/`false` or as 1/0.
fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Int(i64),
    }
    Ok(
        match <Option<Flag> as serde::Deserialize>::deserialize(d)? {
            Some(Flag::Bool(b)) => Some(b),
            Some(Flag::Int(i)) => Some(i != 0),
            None => None,
        },
    )
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotCounts {
    pub resellers: i64,
    pub tenants: i64,
    /// Tenants whose details are stored.
    pub detailed: i64,
    pub subscriptions: i64,
}

/// One thing a mass retrieval found changed since the snapshot before it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct HierarchyChange {
    /// `tenant_new`, `tenant_gone`, `tenant_renamed`, `subscription_new`, `subscription_gone`,
    /// `quantity_changed`, `status_changed`, `offer_changed` or `term_changed`.
    pub kind: String,
    pub tenant_id: String,
    pub subscription_id: Option<String>,
    pub before_value: Option<String>,
    pub after_value: Option<String>,
}
