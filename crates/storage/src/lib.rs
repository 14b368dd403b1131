//! The only place in Ferry with SQL.
//!
//! [`Store`] is the one interface the rest of Ferry talks to: the composition of one small
//! interface per area (marketplaces, access, companies, users, catalog, subscriptions,
//! instances, hierarchy snapshots, audit, outbox, jobs, schedules, datasets), each in its own
//! folder with its row types and its SQL (`<area>/sql.rs`). It has two implementations — [`sqlite::SqliteStore`] (the embedded
//! default, WAL mode) and [`postgres::PgStore`] — each with its own migrations under
//! `migrations/<backend>/`. The statements both backends share are written once and compiled
//! into each (`statements.rs`); what differs (how a writer takes its lock, how jobs are
//! claimed, the spelling of a few types) is named by each backend's module. The bytes of
//! uploaded files are kept in the database or, as configured, in a directory or an
//! S3-compatible bucket ([`files`]).
//!
//! Invariants:
//! - Every read and write of marketplace data names its marketplace, and a record of another
//!   marketplace behaves as if it did not exist.
//! - Natural keys are unique in the database itself; a violation comes back as
//!   [`StoreError::Conflict`] naming the key.
//! - Job writes are fenced by the [`Lease`]: a worker that lost its job can no longer touch it.

pub mod access;
pub mod audit;
pub mod catalog;
pub mod companies;
pub mod datasets;
mod error;
pub mod files;
pub mod google;
pub mod hierarchy;
pub mod imports;
pub mod instances;
pub mod jobs;
pub mod marketplaces;
pub mod outbox;
pub mod schedules;
pub mod subscriptions;
pub mod sync;
pub mod users;

pub mod postgres;
pub mod seal;
pub mod sqlite;
pub mod testing;

use std::sync::Arc;

use async_trait::async_trait;

pub use access::{AccessStore, Account, ApiToken, Credentials, LinkPurpose, Subject};
pub use audit::{AuditEntry, AuditStore, DatasetChange, NewAuditEntry};
pub use catalog::{CatalogStore, Edition, Product};
pub use companies::{Company, CompanyKey, CompanyQuery, CompanyStore, ContactRow, TenantLinkRow};
pub use datasets::{
    ActivationStep, Dataset, DatasetEdit, DatasetFile, DatasetFinding, DatasetRef, DatasetStore,
    NewDataset, PlanLine, ProvisioningStore, ProvisioningTarget, ReportLine, ReportStore, StageRow,
    StagedMicrosoftRecord, StagedRows, StagingStore, UndoOutcome,
};
pub use error::{Result, StoreError};
use ferry_domain::Timestamp;
pub use files::{FileBytes, FileStorage, FileWriter, S3Bucket};
pub use google::{GoogleCompany, GoogleConnection, GoogleStore, NewGoogleConnection};
pub use hierarchy::{
    AuditGeneration, CandidateCompany, CompanyRef, HierarchyChange, HierarchyRun, HierarchyState,
    HierarchyStore, LinkedCompany, NewHierarchyRun, NotImportable, PossibleMatch, RunScope,
    RunStart, RunState, RunSummary, SnapshotCounts, SnapshotReseller, SnapshotSubscription,
    SnapshotTenant, StoredSubscription, StoredTenant, TenantAudit, TenantAuditQuery, TenantDetails,
};
pub use imports::{
    Decision, ImportCount, ImportRun, ImportStart, ImportState, ImportStore, ImportSubscription,
    ImportTab, ImportTenant, ImportedSubscription, LastImport, NewImport, ResellerPlan, Selection,
    SubscriptionPlan, TenantOutcome, TenantPlan, UnmappedOffer,
};
pub use instances::{InstanceRecord, InstanceStore, InstanceSummary, NewInstance};
pub use jobs::{Checkpoint, Job, JobOutcome, JobStore, Lease, LeaseStatus, NewJob, QueueGauges};
pub use marketplaces::{Marketplace, MarketplaceSettings, MarketplaceStore, NewMarketplace};
pub use outbox::{NewEmail, OutboxEmail, OutboxStore};
pub use schedules::{NewSchedule, RunNow, Schedule, ScheduleStore};
pub use subscriptions::{SubscriptionRow, SubscriptionStore};
pub use sync::users::{
    SourceCompany, SourceUser, TenantCompany, UserSyncConflict, UserSyncCounts, UserSyncRun,
    UserSyncStore,
};
pub use sync::{
    NewPending, PendingCompany, PendingQuery, SyncFound, SyncRun, SyncSettings, SyncStore,
};
pub use users::{Membership, User, UserQuery, UserStore};

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// How many records a list holds, counted up to a cap so a large list costs no more than a
/// small one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Total {
    Exactly(i64),
    MoreThan(i64),
}

impl Total {
    /// The total of `found` records counted with at most `cap + 1` read.
    pub fn of(found: usize, cap: i64) -> Total {
        let found = i64::try_from(found).unwrap_or(i64::MAX);
        if found > cap {
            Total::MoreThan(cap)
        } else {
            Total::Exactly(found)
        }
    }
}

/// Opens the database a URL names — `sqlite://PATH` or `postgres://…` — without migrating it,
/// keeping uploaded files in it.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    connect_with_files(url, &FileStorage::Database).await
}

/// Opens the database a URL names, keeping uploaded files where `files` says.
pub async fn connect_with_files(url: &str, files: &FileStorage) -> Result<Arc<dyn Store>> {
    let files = files::Files::open(files)?;
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url, files).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(postgres::PgStore::connect(url, files).await?))
    } else {
        Err(StoreError::UnsupportedUrl)
    }
}

/// The current time, read here rather than in the domain, which takes time as an argument.
pub fn now() -> Timestamp {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Timestamp(millis)
}

/// Everything Ferry keeps, behind one interface for both backends: the composition of the
/// areas' interfaces, so the rest of Ferry holds one `Arc<dyn Store>`.
#[async_trait]
pub trait Store:
    MarketplaceStore
    + AccessStore
    + CompanyStore
    + UserStore
    + CatalogStore
    + SubscriptionStore
    + InstanceStore
    + HierarchyStore
    + ImportStore
    + SyncStore
    + UserSyncStore
    + GoogleStore
    + AuditStore
    + OutboxStore
    + JobStore
    + ScheduleStore
    + DatasetStore
    + StagingStore
    + ReportStore
    + ProvisioningStore
    + Send
    + Sync
    + 'static
{
    fn backend(&self) -> Backend;
    /// Closes every connection, waiting for those in use: the database is free for another
    /// program once it returns.
    async fn close(&self);
    /// Applies the migrations not yet applied and returns how many there were.
    async fn migrate(&self) -> Result<usize>;
    /// How many migrations this build knows that the database has not applied. Fails when the
    /// database cannot be reached, or when an applied migration differs from this build's.
    async fn pending_migrations(&self) -> Result<usize>;
    /// Takes the write lock and lets it go: waits while another holds it (SQLite has one
    /// writer), so a caller with a deadline learns whether writes are answered now.
    async fn take_write_lock(&self) -> Result<()>;
}

#[cfg(test)]
mod tests {
    /// Applied migrations are never edited: each one's checksum is recorded in
    /// `migrations/CHECKSUMS` when it is added, and must stay what it was.
    #[test]
    fn migrations_are_never_edited() {
        let recorded = include_str!("../migrations/CHECKSUMS");
        let mut known = Vec::new();
        for (backend, migrator) in [
            ("postgres", &crate::postgres::MIGRATOR),
            ("sqlite", &crate::sqlite::MIGRATOR),
        ] {
            for migration in migrator.iter() {
                let hex: String = migration
                    .checksum
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                let line = format!("{backend} {} {hex}", migration.version);
                assert!(
                    recorded.lines().any(|l| l == line),
                    "{backend} migration {} ({}) is new or was edited. A released migration \
                     must never change: write a new one instead. For a new migration, add this \
                     line to migrations/CHECKSUMS:\n{line}",
                    migration.version,
                    migration.description,
                );
                known.push(line);
            }
        }
        for line in recorded
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            assert!(known.iter().any(|k| k == line), "migration removed: {line}");
        }
    }
}
