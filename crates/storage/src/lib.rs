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

pub mod datasets;
mod error;
mod records;
mod shared;

pub mod postgres;
pub mod seal;
pub mod sqlite;
pub mod testing;

use std::sync::Arc;

use async_trait::async_trait;
use ferry_domain::{
    CompanyRoles, Contact, Email, JobState, NewCompany, NewEdition, NewProduct, NewSubscription,
    NewUser, OfferId, Role, SignInFailures, TenantLink, Timestamp, UserStatus,
};

pub use datasets::{
    Dataset, DatasetFile, DatasetFinding, DatasetStore, NewDataset, PlanLine, ProvisioningTarget,
    ReportLine, StageRow, StagedMicrosoftRecord, StagedRows,
};
pub use error::{Result, StoreError};
pub use records::{
    Account, ApiToken, AuditEntry, Checkpoint, Company, CompanyKey, CompanyQuery, ContactRow,
    Credentials, Edition, InstanceRecord, InstanceSummary, Job, JobOutcome, Lease, LeaseStatus,
    LinkPurpose, Marketplace, MarketplaceSettings, Membership, NewAuditEntry, NewEmail,
    NewInstance, NewJob, NewMarketplace, OutboxEmail, Product, Subject, SubscriptionRow,
    TenantLinkRow, User, UserQuery,
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
pub trait Store: DatasetStore + Send + Sync + 'static {
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
    async fn marketplace_settings(&self, id: i64) -> Result<MarketplaceSettings>;
    async fn set_marketplace_settings(&self, id: i64, settings: &MarketplaceSettings)
    -> Result<()>;
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

    // --- Sign-in ------------------------------------------------------------------------

    /// Everyone who may sign in with this e-mail address: a platform admin, and active users
    /// with a password and login allowed, in any marketplace.
    async fn credentials_by_email(&self, email: &Email) -> Result<Vec<Credentials>>;
    /// The account behind a subject, or `None` when it no longer may sign in.
    async fn account(&self, subject: Subject) -> Result<Option<Account>>;
    async fn create_session(
        &self,
        id_hash: &[u8],
        subject: Subject,
        expires_at: Timestamp,
    ) -> Result<()>;
    /// The subject of a session that has not expired at `now`.
    async fn session_subject(&self, id_hash: &[u8], now: Timestamp) -> Result<Option<Subject>>;
    async fn delete_session(&self, id_hash: &[u8]) -> Result<()>;
    async fn sign_in_failures(&self, account: &str) -> Result<Option<SignInFailures>>;
    /// Records the failures of an account (`None` forgets them).
    async fn set_sign_in_failures(
        &self,
        account: &str,
        state: Option<&SignInFailures>,
    ) -> Result<()>;
    /// Stores a one-time link (by the hash of its token) for a user.
    async fn create_user_link(
        &self,
        token_hash: &[u8],
        user_id: i64,
        purpose: LinkPurpose,
        expires_at: Timestamp,
    ) -> Result<()>;
    /// The user a valid, unused link is for.
    async fn link_user(
        &self,
        token_hash: &[u8],
        purpose: LinkPurpose,
        now: Timestamp,
    ) -> Result<Option<User>>;
    /// Uses a link: sets the user's password and activates the user, and the user's companies
    /// that were waiting for their first active user; signs the user out everywhere else. All
    /// or nothing; `None` when the link is invalid, used or expired.
    async fn redeem_link(
        &self,
        token_hash: &[u8],
        purpose: LinkPurpose,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<Option<User>>;
    /// An API token that is not revoked, by the hash of its secret; notes its use.
    async fn api_token(&self, token_hash: &[u8]) -> Result<Option<ApiToken>>;
    async fn api_tokens(&self, marketplace_id: i64) -> Result<Vec<ApiToken>>;
    async fn revoke_api_token(&self, marketplace_id: i64, id: i64) -> Result<()>;

    // --- Companies and users ------------------------------------------------------------

    /// A page of companies in name order (see [`CompanyQuery`]).
    async fn companies(&self, marketplace_id: i64, query: &CompanyQuery) -> Result<Vec<Company>>;
    /// Replaces a company's editable fields and records the audit line, atomically.
    async fn update_company(
        &self,
        marketplace_id: i64,
        id: i64,
        company: &NewCompany,
        audit: &NewAuditEntry,
    ) -> Result<()>;
    async fn contacts(&self, marketplace_id: i64, company_id: i64) -> Result<Vec<ContactRow>>;
    async fn memberships_of_company(
        &self,
        marketplace_id: i64,
        company_id: i64,
    ) -> Result<Vec<Membership>>;
    async fn memberships_of_user(
        &self,
        marketplace_id: i64,
        user_id: i64,
    ) -> Result<Vec<Membership>>;
    async fn subscriptions_of_company(
        &self,
        marketplace_id: i64,
        company_id: i64,
    ) -> Result<Vec<SubscriptionRow>>;
    async fn tenant_links(
        &self,
        marketplace_id: i64,
        company_id: i64,
    ) -> Result<Vec<TenantLinkRow>>;
    /// A page of users in e-mail order (see [`UserQuery`]).
    async fn users(&self, marketplace_id: i64, query: &UserQuery) -> Result<Vec<User>>;
    async fn user(&self, marketplace_id: i64, id: i64) -> Result<Option<User>>;
    /// Replaces a user's profile (not status or password) and records the audit line.
    async fn update_user(
        &self,
        marketplace_id: i64,
        id: i64,
        user: &NewUser,
        audit: &NewAuditEntry,
    ) -> Result<()>;
    /// Changes a user's status; suspending one also ends their sessions.
    async fn set_user_status(&self, marketplace_id: i64, id: i64, status: UserStatus)
    -> Result<()>;

    async fn create_company(&self, marketplace_id: i64, company: &NewCompany) -> Result<i64>;
    /// Creates many companies in one transaction, with multi-row inserts: all or nothing.
    async fn insert_companies(&self, marketplace_id: i64, companies: &[NewCompany]) -> Result<u64>;
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

    /// The catalog: products with their editions and offer ids.
    async fn products(&self, marketplace_id: i64) -> Result<Vec<Product>>;

    // --- Partner Center -----------------------------------------------------------------

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
    async fn store_refresh_token(&self, id: i64, sealed: &[u8]) -> Result<()>;
    /// Records what a connection check found.
    async fn set_instance_auth(&self, id: i64, state: &str, reason: Option<&str>) -> Result<()>;
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

    // --- E-mail -------------------------------------------------------------------------

    async fn queue_email(&self, email: &NewEmail) -> Result<i64>;
    /// E-mail not (yet) sent, newest first; `None` for every marketplace's.
    async fn outbox(&self, marketplace_id: Option<i64>, limit: i64) -> Result<Vec<OutboxEmail>>;
    async fn email(&self, id: i64) -> Result<Option<OutboxEmail>>;
    async fn mark_email_sent(&self, id: i64) -> Result<()>;
    async fn mark_email_failed(&self, id: i64, error: &str) -> Result<()>;

    // --- Jobs ---------------------------------------------------------------------------

    async fn enqueue_job(&self, job: &NewJob) -> Result<i64>;
    async fn job(&self, id: i64) -> Result<Option<Job>>;
    /// The newest jobs of a marketplace (`None`: of every marketplace and none).
    async fn jobs(&self, marketplace_id: Option<i64>, limit: i64) -> Result<Vec<Job>>;
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
