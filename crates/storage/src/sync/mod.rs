//! Company Sync (docs/company-sync.md): each marketplace's sync settings, its sync runs, and
//! Pending Companies — the tenants of the instances it follows that no company of the
//! marketplace is linked to, each with the companies it looks like.
//!
//! A sync copies the audit's *not imported* tenants into the queue (new ones counted, the
//! others refreshed), then settles it: a tenant linked since leaves the queue as linked, one
//! Partner Center no longer lists is marked gone. Linking takes the tenant link's unique keys
//! and the pending row's state in one transaction, so two people linking one tenant give one
//! link and one refusal.

use async_trait::async_trait;
use ferry_domain::PendingState;
use serde::{Deserialize, Serialize};

use crate::{PossibleMatch, Result};

pub mod users;

#[async_trait]
pub trait SyncStore: Send + Sync {
    /// The marketplace's settings; everything off until they are first saved.
    async fn sync_settings(&self, marketplace_id: i64) -> Result<SyncSettings>;
    /// Saves the settings; an instance that is not the marketplace's to use is the caller's
    /// to refuse.
    async fn set_sync_settings(
        &self,
        marketplace_id: i64,
        settings: &SyncSettings,
        by: &str,
    ) -> Result<()>;

    /// The run of job `job_id`, started now or by an earlier attempt of the same job.
    async fn start_sync_run(
        &self,
        marketplace_id: i64,
        job_id: i64,
        started_by: &str,
    ) -> Result<SyncRun>;
    /// Adds to a running run's figures.
    async fn count_sync_run(&self, run_id: i64, found: &SyncFound) -> Result<()>;
    async fn finish_sync_run(&self, run_id: i64, error: Option<&str>) -> Result<()>;
    /// The marketplace's runs, newest first.
    async fn sync_runs(&self, marketplace_id: i64, limit: i64) -> Result<Vec<SyncRun>>;
    async fn sync_run_of_job(&self, marketplace_id: i64, job_id: i64) -> Result<Option<SyncRun>>;

    /// Writes the tenants into the marketplace's queue for the instance: new ones pending
    /// (first seen by `run_id`), known ones refreshed and no longer gone, whatever was decided
    /// of them kept. Answers how many were new.
    async fn queue_pending(
        &self,
        marketplace_id: i64,
        instance_id: i64,
        run_id: i64,
        tenants: &[NewPending],
    ) -> Result<i64>;
    /// Settles the queue of the instance against its snapshot: tenants linked since are
    /// linked; tenants the snapshot lacks are gone. Answers (linked, newly gone).
    async fn settle_pending(
        &self,
        marketplace_id: i64,
        instance_id: i64,
        snapshot: i64,
    ) -> Result<(i64, i64)>;
    /// A page of the queue.
    async fn pending_companies(
        &self,
        marketplace_id: i64,
        query: &PendingQuery,
    ) -> Result<Vec<PendingCompany>>;
    async fn count_pending(&self, marketplace_id: i64) -> Result<i64>;
    async fn pending_company(&self, marketplace_id: i64, id: i64)
    -> Result<Option<PendingCompany>>;
    /// Links the waiting tenant to the company: its tenant link and its state, recorded in
    /// the company's History. A tenant decided meanwhile is a conflict.
    async fn link_pending(
        &self,
        marketplace_id: i64,
        id: i64,
        company_id: i64,
        by: &str,
    ) -> Result<PendingCompany>;
    /// Dismisses waiting tenants (or, with `dismissed` false, brings dismissed ones back).
    /// Answers how many changed.
    async fn dismiss_pending(
        &self,
        marketplace_id: i64,
        ids: &[i64],
        dismissed: bool,
        by: &str,
    ) -> Result<i64>;
    /// Of the selected tenants, those a creation may take: open and linked to no company.
    async fn pending_for_creation(
        &self,
        marketplace_id: i64,
        ids: &[i64],
    ) -> Result<Vec<PendingCompany>>;
    /// Marks open tenants of the instance as being created by the import run, which settles
    /// them as it writes them (`ImportStore::apply_import`).
    async fn mark_pending_creating(
        &self,
        marketplace_id: i64,
        instance_id: i64,
        tenant_ids: &[String],
        import_run_id: i64,
        by: &str,
    ) -> Result<()>;
}

/// What the marketplace's operators chose (docs/company-sync.md).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SyncSettings {
    pub company_sync: bool,
    pub create_automatically: bool,
    pub invite_admins: bool,
    pub sales_support_pending: bool,
    pub customer_support_pending: bool,
    /// The instance followed; none: every instance the marketplace may use.
    pub instance_id: Option<i64>,
    pub interval_minutes: i32,
    /// User Sync: the users of companies linked to a tenant, from Partner Center.
    pub user_sync_partner_center: bool,
    /// User Sync from the Google Workspace customers companies are linked to.
    pub user_sync_google: bool,
    pub user_interval_minutes: i32,
    /// Registration reminders: on since then (milliseconds), or off.
    pub reminders_since: Option<i64>,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            company_sync: false,
            create_automatically: false,
            invite_admins: false,
            sales_support_pending: false,
            customer_support_pending: false,
            instance_id: None,
            interval_minutes: 60,
            user_sync_partner_center: false,
            user_sync_google: false,
            user_interval_minutes: 60,
            reminders_since: None,
        }
    }
}

impl SyncSettings {
    /// Whether User Sync has any source to follow.
    pub fn user_sync(&self) -> bool {
        self.user_sync_partner_center || self.user_sync_google
    }

    /// Who besides Marketplace Managers may work the queue: nobody while Company Sync is off.
    pub fn pending_open_to(&self) -> ferry_domain::PendingOpenTo {
        ferry_domain::PendingOpenTo {
            sales_support: self.company_sync && self.sales_support_pending,
            customer_support: self.company_sync && self.customer_support_pending,
        }
    }
}

/// The figures of a sync run, or what one step of it adds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct SyncFound {
    /// Tenants read from Partner Center.
    pub tenants: i64,
    /// Tenants that joined the queue.
    pub new_pending: i64,
    /// Companies created for tenants at once (Create companies automatically).
    pub created: i64,
    /// Waiting tenants found linked to a company since.
    pub linked: i64,
    /// Waiting tenants Partner Center no longer lists.
    pub gone: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SyncRun {
    pub id: i64,
    pub marketplace_id: i64,
    pub job_id: i64,
    pub state: String,
    pub started_by: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    #[sqlx(flatten)]
    pub found: SyncFound,
    pub error: Option<String>,
}

/// A tenant about to be queued (or refreshed in the queue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPending {
    pub tenant_id: String,
    pub name: String,
    pub domain: Option<String>,
    pub country: Option<String>,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    /// Best first.
    pub suggestions: Vec<PossibleMatch>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PendingCompany {
    pub id: i64,
    pub instance_id: i64,
    pub tenant_id: String,
    pub name: String,
    pub domain: Option<String>,
    pub country: Option<String>,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    #[sqlx(try_from = "String")]
    pub state: PendingState,
    #[sqlx(json)]
    pub suggestions: Vec<PossibleMatch>,
    pub best_score: Option<i32>,
    pub first_seen_at: i64,
    pub gone_at: Option<i64>,
    pub company_id: Option<i64>,
    pub company_name: Option<String>,
    pub import_run_id: Option<i64>,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
}

impl PendingCompany {
    /// Whether the match indicator shows: some company looks like the tenant.
    pub fn matched(&self) -> bool {
        self.best_score.is_some()
    }
}

/// Which waiting tenants to list: a page of at most `limit` in name order after `after` (the
/// lower-case name and id of the page before's last row).
#[derive(Debug, Clone, Default)]
pub struct PendingQuery {
    /// Any part of the name, domain or contact, or the start of the tenant id.
    pub search: Option<String>,
    /// Pending when none.
    pub state: Option<PendingState>,
    /// Only those with (or without) a suggestion.
    pub matched: Option<bool>,
    pub country: Option<String>,
    pub after: Option<(String, i64)>,
    pub limit: i64,
}
