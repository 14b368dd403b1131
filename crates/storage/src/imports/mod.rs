//! Import Customers runs (docs/import-customers.md): the tenants a run imports from the
//! instance's snapshot, the companies, contacts, users, links and subscriptions it writes for
//! them, and what became of each — the Import Results.
//!
//! A run takes its tenants when it starts: a tenant waiting in one run is held by it
//! (`import_claims`), so two runs never import the same tenant. Tenants are applied a batch at
//! a time, each batch in one transaction with the tenants' results, so a run that stops is
//! carried on from the first tenant still pending.

use async_trait::async_trait;
use ferry_domain::{Contact, NewCompany, NewUser, OfferId, TenantLink};
use serde::{Deserialize, Serialize};
use time::Date;

use crate::Result;

#[async_trait]
pub trait ImportStore: Send + Sync {
    /// Starts a run of the tenants `selection` picks from the marketplace's audit of the
    /// instance. Tenants another run holds are left out and counted.
    async fn start_import(&self, new: &NewImport<'_>) -> Result<ImportStart>;
    async fn set_import_job(&self, run_id: i64, job_id: i64) -> Result<()>;
    async fn import_run(&self, marketplace_id: i64, run_id: i64) -> Result<Option<ImportRun>>;
    /// The marketplace's runs, newest first.
    async fn import_runs(&self, marketplace_id: i64, limit: i64) -> Result<Vec<ImportRun>>;
    /// The run's next tenants still pending after the tenant id `after`, in tenant id order.
    async fn pending_import_tenants(
        &self,
        run_id: i64,
        after: &str,
        limit: i64,
    ) -> Result<Vec<ImportTenant>>;
    /// Writes what the plans say for their tenants and records their results, in one
    /// transaction; each tenant is then no longer pending nor held.
    async fn apply_import(&self, run: &ImportRun, plans: &[TenantPlan]) -> Result<()>;
    /// The admin users, not invited yet, of the companies the run created for these tenants.
    async fn created_admins(&self, run_id: i64, tenant_ids: &[String]) -> Result<Vec<i64>>;
    /// Takes up again, in the ended run, its tenants with a failed subscription that no other
    /// run holds: they are pending once more and the run running. Answers how many.
    async fn retry_import(&self, run_id: i64) -> Result<i64>;
    /// Ends tenants of the run without importing them, saying why.
    async fn fail_import_tenants(
        &self,
        run_id: i64,
        tenant_ids: &[String],
        why: &str,
    ) -> Result<()>;
    async fn finish_import(
        &self,
        run_id: i64,
        state: ImportState,
        error: Option<&str>,
    ) -> Result<()>;
    /// The run's tenants by tab and status.
    async fn import_counts(&self, run_id: i64) -> Result<Vec<ImportCount>>;
    /// A page of the run's tenants of one tab, in name order after `after` (name, tenant id).
    async fn import_results(
        &self,
        run_id: i64,
        tab: ImportTab,
        after: Option<(String, String)>,
        limit: i64,
    ) -> Result<Vec<ImportTenant>>;
    /// What became of the subscriptions of some tenants of the run.
    async fn import_subscriptions(
        &self,
        run_id: i64,
        tenant_ids: &[String],
    ) -> Result<Vec<ImportSubscription>>;
    /// Where some tenants of the instance stand in the marketplace's newest run of each: the
    /// tenant list's last import result (and no select box while pending).
    async fn last_imports(
        &self,
        marketplace_id: i64,
        instance_id: i64,
        tenant_ids: &[String],
    ) -> Result<Vec<LastImport>>;
    /// The offers no edition of `marketplace_id` maps that failed subscriptions of the run's
    /// tenants imported into it, with how many subscriptions each blocks, most first.
    async fn unmapped_offers(&self, run_id: i64, marketplace_id: i64)
    -> Result<Vec<UnmappedOffer>>;
    /// Brings the planner's figures up to date for the tables an import grows and looks up
    /// as it writes (PostgreSQL; SQLite plans well without them): a first import fills empty
    /// tables faster than the server's own analysis catches up, and stale figures make it
    /// scan them.
    async fn analyze_import_tables(&self) -> Result<()>;
    /// The marketplace's active offer-id mappings: what an offer is matched with.
    async fn offer_mappings(&self, marketplace_id: i64) -> Result<Vec<(OfferId, i64)>>;
}

/// Which tenants a run imports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every tenant the audit finds not imported.
    NotImported,
    /// These tenants (ids in any case).
    Tenants(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct NewImport<'a> {
    pub marketplace_id: i64,
    pub instance_id: i64,
    /// The retrieval whose snapshot is imported.
    pub snapshot: i64,
    pub selection: &'a Selection,
    pub started_by: &'a str,
    pub responsible_user_id: Option<i64>,
    /// Invite the admin users of the companies the run creates.
    pub invite_admins: bool,
}

/// A run as it started: how many tenants it took, and why it did not take others. No run
/// starts when it would take no tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportStart {
    pub run: Option<ImportRun>,
    pub taken: i64,
    /// Selected tenants another run holds.
    pub held: i64,
    /// Selected ids the audited list does not have.
    pub unknown: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportState {
    Running,
    Completed,
    Failed,
}

impl ImportState {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportState::Running => "running",
            ImportState::Completed => "completed",
            ImportState::Failed => "failed",
        }
    }
}

impl TryFrom<String> for ImportState {
    type Error = ferry_domain::ParseError;

    fn try_from(value: String) -> std::result::Result<Self, Self::Error> {
        match value.as_str() {
            "running" => Ok(ImportState::Running),
            "completed" => Ok(ImportState::Completed),
            "failed" => Ok(ImportState::Failed),
            _ => Err(ferry_domain::ParseError::new("import state", &value)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ImportRun {
    pub id: i64,
    pub marketplace_id: i64,
    pub instance_id: i64,
    pub snapshot: i64,
    #[sqlx(try_from = "String")]
    pub state: ImportState,
    pub job_id: Option<i64>,
    pub started_by: String,
    pub responsible_user_id: Option<i64>,
    pub invite_admins: bool,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
}

/// The three tabs of Import Results: direct customers, end customers of indirect resellers,
/// and end customers of the marketplace's tenant resellers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ImportTab {
    Direct,
    Indirect,
    TenantReseller,
}

impl ImportTab {
    pub const ALL: [ImportTab; 3] = [
        ImportTab::Direct,
        ImportTab::Indirect,
        ImportTab::TenantReseller,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ImportTab::Direct => "direct",
            ImportTab::Indirect => "indirect",
            ImportTab::TenantReseller => "tenant-reseller",
        }
    }
}

impl TryFrom<String> for ImportTab {
    type Error = ferry_domain::ParseError;

    fn try_from(value: String) -> std::result::Result<Self, Self::Error> {
        ImportTab::ALL
            .into_iter()
            .find(|t| t.as_str() == value)
            .ok_or_else(|| ferry_domain::ParseError::new("import tab", &value))
    }
}

/// Where a tenant of a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TenantOutcome {
    Pending,
    Completed,
    /// Its company is there, but a subscription failed.
    CompletedWithErrors,
    Failed,
}

impl TenantOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantOutcome::Pending => "pending",
            TenantOutcome::Completed => "completed",
            TenantOutcome::CompletedWithErrors => "completed-with-errors",
            TenantOutcome::Failed => "failed",
        }
    }
}

impl TryFrom<String> for TenantOutcome {
    type Error = ferry_domain::ParseError;

    fn try_from(value: String) -> std::result::Result<Self, Self::Error> {
        [
            TenantOutcome::Pending,
            TenantOutcome::Completed,
            TenantOutcome::CompletedWithErrors,
            TenantOutcome::Failed,
        ]
        .into_iter()
        .find(|t| t.as_str() == value)
        .ok_or_else(|| ferry_domain::ParseError::new("tenant outcome", &value))
    }
}

/// A tenant of a run.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ImportTenant {
    pub tenant_id: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub tab: ImportTab,
    pub target_marketplace_id: i64,
    #[sqlx(try_from = "String")]
    pub status: TenantOutcome,
    pub company_id: Option<i64>,
    pub company_created: Option<bool>,
    #[sqlx(json)]
    pub notes: Vec<String>,
}

/// An offer no edition maps, and how many subscriptions of a run it kept out.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UnmappedOffer {
    pub offer_id: String,
    pub offer_name: Option<String>,
    pub subscriptions: i64,
}

/// A tenant's newest import in a marketplace.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LastImport {
    pub tenant_id: String,
    pub run_id: i64,
    #[sqlx(try_from = "String")]
    pub status: TenantOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ImportCount {
    #[sqlx(try_from = "String")]
    pub tab: ImportTab,
    #[sqlx(try_from = "String")]
    pub status: TenantOutcome,
    pub tenants: i64,
}

/// What an import does for one tenant, decided from the snapshot before anything is written.
#[derive(Debug, Clone)]
pub struct TenantPlan {
    pub tenant_id: String,
    /// The marketplace the tenant is imported into (the run's, or a tenant reseller's).
    pub target_marketplace_id: i64,
    /// The company to create when none of the target marketplace is linked to the tenant.
    pub company: NewCompany,
    /// The bill-to person: the company's primary and bill-to contact (`kind` aside), and
    /// its admin user.
    pub contact: Option<Contact>,
    pub admin: Option<NewUser>,
    pub link: TenantLink,
    /// The indirect reseller whose reseller company the company is associated with.
    pub reseller: Option<ResellerPlan>,
    /// What the results say of the tenant beside its subscriptions.
    pub notes: Vec<String>,
    pub subscriptions: Vec<SubscriptionPlan>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResellerPlan {
    pub mpn_id: String,
    /// Partner Center's name of the reseller, for a reseller company the run creates.
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct SubscriptionPlan {
    pub subscription_id: String,
    pub offer_id: Option<String>,
    pub offer_name: Option<String>,
    pub decision: Decision,
}

/// What becomes of a Partner Center subscription.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Imported, unless the marketplace already has it.
    Import(ImportedSubscription),
    /// Not imported, and rightly so (`NOT_ACTIVE`).
    Skip { code: &'static str, reason: String },
    /// Not imported, and something must be done (`OFFER_NOT_MAPPED`, …).
    Fail { code: &'static str, reason: String },
}

/// A subscription as the import writes it; the company and purchaser are the tenant's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedSubscription {
    pub edition_id: i64,
    pub units: i64,
    pub start_date: Option<Date>,
    pub billing_start_date: Option<Date>,
    pub end_date: Option<Date>,
    pub billing_cycle: Option<String>,
    pub term: Option<String>,
    pub auto_renew: bool,
    pub status: ferry_domain::SubscriptionStatus,
    pub custom_attributes: std::collections::BTreeMap<String, String>,
}

/// What became of one subscription.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ImportSubscription {
    pub tenant_id: String,
    pub subscription_id: String,
    pub offer_id: Option<String>,
    pub offer_name: Option<String>,
    /// imported, skipped or failed.
    pub outcome: String,
    pub code: Option<String>,
    pub reason: Option<String>,
    pub marketplace_subscription_id: Option<i64>,
    pub start_date: Option<Date>,
    pub billing_start_date: Option<Date>,
}
