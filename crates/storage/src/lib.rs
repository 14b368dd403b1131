//! The only place in Ferry with SQL.
//!
//! [`Store`] is the one interface the rest of Ferry talks to. It has two implementations —
//! [`sqlite::SqliteStore`] (the embedded default, WAL mode) and [`postgres::PgStore`] — each with
//! its own migrations under `migrations/<backend>/`. The statements both backends share are
//! written once, in `shared.rs`, and stamped out for each; what differs (how a writer takes its
//! lock, how jobs are claimed) is passed in as the dialect.
//!
//! Invariants:
//! - Every read and write of marketplace data names its marketplace, and a record of another
//!   marketplace behaves as if it did not exist.
//! - Natural keys are unique in the database itself; a violation comes back as
//!   [`StoreError::Conflict`] naming the key.
//! - Job writes are fenced by the [`Lease`]: a worker that lost its job can no longer touch it.

mod error;
mod records;
mod shared;

pub mod postgres;
pub mod sqlite;
pub mod testing;

use std::sync::Arc;

use async_trait::async_trait;
use ferry_domain::{
    CompanyRoles, Contact, Email, JobState, NewCompany, NewEdition, NewProduct, NewSubscription,
    NewUser, OfferId, Role, TenantLink, Timestamp,
};

pub use error::{Result, StoreError};
pub use records::{
    AuditEntry, Checkpoint, Company, Credentials, Job, JobOutcome, Lease, LeaseStatus, Marketplace,
    NewAuditEntry, NewInstance, NewJob, NewMarketplace, Subject, User,
};

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

/// Opens the database a URL names — `sqlite://PATH` or `postgres://…` — without migrating it.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(postgres::PgStore::connect(url).await?))
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

/// Everything Ferry keeps, behind one interface for both backends.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;

    // --- Schema -------------------------------------------------------------------------

    /// Applies the migrations not yet applied and returns how many there were.
    async fn migrate(&self) -> Result<usize>;
    /// How many migrations this build knows that the database has not applied. Fails when the
    /// database cannot be reached, or when an applied migration differs from this build's.
    async fn pending_migrations(&self) -> Result<usize>;

    // --- Marketplaces and sign-in -------------------------------------------------------

    async fn create_marketplace(&self, new: &NewMarketplace) -> Result<Marketplace>;
    async fn marketplace_by_slug(&self, slug: &str) -> Result<Option<Marketplace>>;
    async fn marketplace(&self, id: i64) -> Result<Option<Marketplace>>;
    async fn marketplaces(&self) -> Result<Vec<Marketplace>>;
    async fn create_platform_admin(&self, email: &Email, password_hash: &str) -> Result<i64>;
    /// Replaces a user's password hash (`None` removes the password).
    async fn set_password(
        &self,
        marketplace_id: i64,
        user_id: i64,
        password_hash: Option<&str>,
    ) -> Result<()>;
    /// Grants a marketplace-wide staff role to a user of that marketplace.
    async fn grant_role(&self, marketplace_id: i64, user_id: i64, role: Role) -> Result<()>;
    /// Stores an API token by the hash of its secret; the secret itself is never stored.
    async fn create_api_token(
        &self,
        marketplace_id: i64,
        name: &str,
        role: Role,
        token_hash: &[u8],
    ) -> Result<i64>;

    // --- Companies and users ------------------------------------------------------------

    async fn create_company(&self, marketplace_id: i64, company: &NewCompany) -> Result<i64>;
    async fn company(&self, marketplace_id: i64, id: i64) -> Result<Option<Company>>;
    async fn company_by_external_id(
        &self,
        marketplace_id: i64,
        external_id: &str,
    ) -> Result<Option<Company>>;
    async fn count_companies(&self, marketplace_id: i64) -> Result<i64>;
    /// Sets a company's primary or bill-to contact, replacing the one it had.
    async fn set_contact(
        &self,
        marketplace_id: i64,
        company_id: i64,
        contact: &Contact,
    ) -> Result<()>;
    async fn create_user(&self, marketplace_id: i64, user: &NewUser) -> Result<i64>;
    /// Creates a user who signs in with a password and holds a staff role, all or nothing.
    async fn create_staff(
        &self,
        marketplace_id: i64,
        user: &NewUser,
        password_hash: &str,
        role: Role,
    ) -> Result<i64>;
    async fn user_by_email(&self, marketplace_id: i64, email: &Email) -> Result<Option<User>>;
    async fn count_users(&self, marketplace_id: i64) -> Result<i64>;
    /// Makes a user a member of a company with the given roles (or changes the roles).
    async fn set_membership(
        &self,
        marketplace_id: i64,
        user_id: i64,
        company_id: i64,
        roles: CompanyRoles,
    ) -> Result<()>;
    /// Records which reseller company manages a customer company.
    async fn set_reseller(
        &self,
        marketplace_id: i64,
        company_id: i64,
        reseller_company_id: i64,
    ) -> Result<()>;

    // --- Catalog and subscriptions ------------------------------------------------------

    async fn create_product(&self, marketplace_id: i64, product: &NewProduct) -> Result<i64>;
    /// Creates an edition with its offer-id mappings, all or nothing.
    async fn create_edition(&self, marketplace_id: i64, edition: &NewEdition) -> Result<i64>;
    /// The active edition an offer id maps to.
    async fn edition_for_offer(&self, marketplace_id: i64, offer: &OfferId) -> Result<Option<i64>>;
    async fn create_subscription(
        &self,
        marketplace_id: i64,
        subscription: &NewSubscription,
    ) -> Result<i64>;
    async fn assign_seat(
        &self,
        marketplace_id: i64,
        subscription_id: i64,
        user_id: i64,
    ) -> Result<()>;

    // --- Partner Center -----------------------------------------------------------------

    async fn create_instance(&self, marketplace_id: i64, instance: &NewInstance) -> Result<i64>;
    /// Links a company to a Microsoft tenant as seen through one instance.
    async fn link_tenant(
        &self,
        marketplace_id: i64,
        company_id: i64,
        link: &TenantLink,
    ) -> Result<()>;

    // --- Audit log ----------------------------------------------------------------------

    async fn record_audit(&self, entry: &NewAuditEntry) -> Result<()>;
    /// The audit lines of one record, oldest first.
    async fn audit_trail(&self, entity_type: &str, entity_id: i64) -> Result<Vec<AuditEntry>>;

    // --- Jobs ---------------------------------------------------------------------------

    async fn enqueue_job(&self, job: &NewJob) -> Result<i64>;
    async fn job(&self, id: i64) -> Result<Option<Job>>;
    /// Takes the oldest job that is due, or whose worker's lease has lapsed, and leases it to
    /// `owner` for `lease_ms`. Two workers never receive the same job while a lease holds.
    async fn claim_job(&self, owner: &str, lease_ms: i64) -> Result<Option<Job>>;
    /// Extends the lease; fails with [`StoreError::LeaseLost`] when the job is no longer ours.
    async fn heartbeat(&self, lease: &Lease, lease_ms: i64) -> Result<LeaseStatus>;
    /// Records progress and where to resume from, with the step's audit line, atomically.
    async fn checkpoint(&self, lease: &Lease, checkpoint: &Checkpoint) -> Result<()>;
    async fn finish_job(&self, lease: &Lease, outcome: &JobOutcome) -> Result<()>;
    /// Cancels a queued job at once, or asks a running one to stop. Returns the job's state
    /// afterwards, or `None` when there is no such job.
    async fn cancel_job(&self, id: i64) -> Result<Option<JobState>>;
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
