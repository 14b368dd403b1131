//! User Sync (docs/user-sync.md): the users of a company's tenant, as its directory lists them,
//! written into the marketplace — created (never e-mailed), renamed, suspended when gone or
//! inactive at the source and reactivated when they return (only if User Sync suspended them) —
//! keyed by their source id per tenant, so a changed e-mail updates the same user. An e-mail
//! another user of the marketplace has is a conflict, recorded with both sides, never merged.

use async_trait::async_trait;
use ferry_domain::Email;

use crate::Result;

/// How long after a migrated user's creation a registration reminder goes out.
pub const REMIND_AFTER_MS: i64 = 2 * 24 * 3600 * 1000;

#[async_trait]
pub trait UserSyncStore: Send + Sync {
    /// The run of job `job_id`, started now or by an earlier attempt of the same job.
    async fn start_user_sync_run(&self, marketplace_id: i64, job_id: i64) -> Result<UserSyncRun>;
    /// Writes some companies' users from their sources, in one transaction, and adds what
    /// changed to the run's figures. Writing the same users again changes nothing.
    async fn apply_source_users(
        &self,
        marketplace_id: i64,
        run_id: i64,
        companies: &[SourceCompany<'_>],
    ) -> Result<UserSyncCounts>;
    async fn finish_user_sync_run(
        &self,
        run_id: i64,
        notes: &[String],
        error: Option<&str>,
    ) -> Result<()>;
    /// The marketplace's runs, newest first.
    async fn user_sync_runs(&self, marketplace_id: i64, limit: i64) -> Result<Vec<UserSyncRun>>;
    async fn user_sync_run_of_job(
        &self,
        marketplace_id: i64,
        job_id: i64,
    ) -> Result<Option<UserSyncRun>>;
    async fn user_sync_conflicts(&self, run_id: i64) -> Result<Vec<UserSyncConflict>>;
    /// Users due a registration reminder at `now`, after user `after`, in id order: created
    /// by a migration (dataset, import, sync), able to sign in, not registered, never reminded,
    /// in a marketplace with reminders on, two days after they were created or after reminders
    /// were turned on, whichever is later. Answers (marketplace id, user id).
    async fn due_reminders(&self, now: i64, after: i64, limit: i64) -> Result<Vec<(i64, i64)>>;
    async fn mark_reminded(&self, user_id: i64, at: i64) -> Result<()>;
    /// The marketplace's companies linked to a tenant, after company `after`, in id order.
    async fn tenant_companies(
        &self,
        marketplace_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<TenantCompany>>;
}

/// A company linked to a tenant through an instance.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TenantCompany {
    pub company_id: i64,
    pub instance_id: i64,
    pub tenant_id: String,
}

/// One user as its directory lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceUser {
    /// The directory's id of the user (an Entra object id), lower-case.
    pub source_id: String,
    pub email: Email,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Inactive: deleted (or suspended) at the source.
    pub active: bool,
}

/// A company's users from its tenant.
#[derive(Debug, Clone)]
pub struct SourceCompany<'a> {
    pub company_id: i64,
    pub tenant_id: &'a str,
    pub users: &'a [SourceUser],
    /// The source listed every user it has: a synced user it lacks is gone there.
    pub complete: bool,
}

/// What a run (or one company of it) changed.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow, serde::Serialize, serde::Deserialize,
)]
pub struct UserSyncCounts {
    pub created: i64,
    pub updated: i64,
    pub suspended: i64,
    pub reactivated: i64,
    pub conflicts: i64,
}

impl UserSyncCounts {
    pub fn add(&mut self, other: UserSyncCounts) {
        self.created += other.created;
        self.updated += other.updated;
        self.suspended += other.suspended;
        self.reactivated += other.reactivated;
        self.conflicts += other.conflicts;
    }
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserSyncRun {
    pub id: i64,
    pub marketplace_id: i64,
    pub job_id: i64,
    pub state: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub companies: i64,
    #[sqlx(flatten)]
    pub counts: UserSyncCounts,
    #[sqlx(json)]
    pub notes: Vec<String>,
    pub error: Option<String>,
}

/// A source user whose e-mail another user of the marketplace already has.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserSyncConflict {
    pub tenant_id: String,
    pub source_id: String,
    pub email: String,
    pub source_name: Option<String>,
    pub company_id: i64,
    pub existing_user_id: i64,
}
