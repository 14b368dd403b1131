use thiserror::Error;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum StoreError {
    /// A natural key that must be unique already exists.
    #[error("duplicate {key}: another record already has this {key}")]
    Conflict { key: &'static str },
    /// A record that the operation needs does not exist (in this marketplace).
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// The worker no longer holds the job's lease: another worker took the job over, or it was
    /// finished. The caller must stop working on it.
    #[error("job {job_id} is no longer leased to this worker")]
    LeaseLost { job_id: i64 },
    /// A stored value that does not parse; the database was changed behind Ferry's back.
    #[error("stored {what} is invalid: '{value}'")]
    Corrupt { what: &'static str, value: String },
    /// A table or column name that is not a plain identifier (a programming error).
    #[error("not a table or column name: {0:?}")]
    Identifier(String),
    #[error("unsupported database URL: it must start with sqlite:// or postgres://")]
    UnsupportedUrl,
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// The directory or bucket uploaded files are kept in failed (`files.rs`).
    #[error("the file store failed: {0}")]
    Files(String),
}

impl StoreError {
    /// Whether a unique key refused the write: what another writer at the same time causes.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Conflict { .. } => true,
            StoreError::Database(sqlx::Error::Database(db)) => db.is_unique_violation(),
            _ => false,
        }
    }
}

impl From<ferry_domain::ParseError> for StoreError {
    fn from(error: ferry_domain::ParseError) -> Self {
        StoreError::Corrupt {
            what: error.what,
            value: error.value,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &error
            && db.is_unique_violation()
            && let Some(key) = unique_key(db.constraint(), db.message())
        {
            return StoreError::Conflict { key };
        }
        if let sqlx::Error::ColumnDecode { source, .. } = &error
            && let Some(parse) = source.downcast_ref::<ferry_domain::ParseError>()
        {
            return StoreError::Corrupt {
                what: parse.what,
                value: parse.value.clone(),
            };
        }
        StoreError::Database(error)
    }
}

/// Every natural key the schema keeps unique, by the name PostgreSQL reports (the constraint or
/// index name) and by what SQLite reports (`table.column, table.column`), with the words an
/// operator understands.
const UNIQUE_KEYS: &[(&str, &str, &str)] = &[
    (
        "hierarchy_runs_running",
        "hierarchy_runs.instance_id",
        "running retrieval",
    ),
    (
        "uq_marketplaces_slug",
        "marketplaces.slug",
        "marketplace slug",
    ),
    (
        "marketplaces_reseller_mpn_id",
        "marketplaces.parent_id, marketplaces.reseller_mpn_id",
        "tenant reseller MPN id (another tenant of this marketplace has it)",
    ),
    (
        "uq_platform_admins_email",
        "platform_admins.email",
        "platform admin email",
    ),
    (
        "uq_companies_external_id",
        "companies.marketplace_id, companies.external_id",
        "company external id",
    ),
    (
        "uq_contacts_kind",
        "contacts.company_id, contacts.kind",
        "company contact",
    ),
    (
        "uq_users_external_id",
        "users.marketplace_id, users.external_id",
        "user external id",
    ),
    (
        "uq_users_email",
        "users.marketplace_id, users.email",
        "user email",
    ),
    (
        "user_roles_pkey",
        "user_roles.user_id, user_roles.role",
        "user role",
    ),
    (
        "memberships_pkey",
        "memberships.user_id, memberships.company_id",
        "membership",
    ),
    (
        "reseller_associations_pkey",
        "reseller_associations.company_id",
        "reseller association",
    ),
    (
        "uq_products_name",
        "products.marketplace_id, products.name",
        "product name",
    ),
    (
        "uq_editions_code",
        "editions.product_id, editions.code",
        "edition code",
    ),
    (
        "uq_editions_pricing_plan_id",
        "editions.marketplace_id, editions.pricing_plan_id",
        "edition pricing plan id",
    ),
    (
        "uq_editions_channel_sku",
        "editions.marketplace_id, editions.channel_sku",
        "edition channel SKU",
    ),
    (
        "edition_offers_pkey",
        "edition_offers.edition_id, edition_offers.offer_id",
        "edition offer id",
    ),
    (
        "uq_edition_offers_offer_id",
        "edition_offers.marketplace_id, edition_offers.offer_id",
        "offer id mapping (an offer id maps to one active edition)",
    ),
    (
        "uq_subscriptions_external_id",
        "subscriptions.marketplace_id, subscriptions.external_id",
        "subscription external id",
    ),
    (
        "uq_subscriptions_vendor_subscription_id",
        "subscriptions.marketplace_id, subscriptions.vendor_subscription_id",
        "vendor subscription id",
    ),
    (
        "seat_assignments_pkey",
        "seat_assignments.subscription_id, seat_assignments.user_id",
        "seat assignment",
    ),
    (
        "uq_partner_center_instances_name",
        "partner_center_instances.marketplace_id, partner_center_instances.name",
        "Partner Center instance name",
    ),
    (
        "uq_tenant_links_tenant",
        "tenant_links.marketplace_id, tenant_links.instance_id, tenant_links.tenant_id",
        "Microsoft tenant link (a tenant maps to one company per instance)",
    ),
    (
        "uq_tenant_links_company",
        "tenant_links.instance_id, tenant_links.company_id",
        "company tenant link (a company links to one tenant per instance)",
    ),
    (
        "uq_datasets_validating",
        "datasets.marketplace_id",
        "dataset in validation",
    ),
    (
        "uq_api_tokens_token_hash",
        "api_tokens.token_hash",
        "API token",
    ),
];

fn unique_key(constraint: Option<&str>, message: &str) -> Option<&'static str> {
    const SQLITE_PREFIX: &str = "UNIQUE constraint failed: ";
    let sqlite_columns = message.strip_prefix(SQLITE_PREFIX);
    UNIQUE_KEYS
        .iter()
        .find(|(name, columns, _)| constraint == Some(*name) || sqlite_columns == Some(*columns))
        .map(|(_, _, key)| *key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keys_from_either_backend() {
        assert_eq!(
            unique_key(Some("uq_users_email"), "duplicate key value"),
            Some("user email")
        );
        assert_eq!(
            unique_key(
                None,
                "UNIQUE constraint failed: users.marketplace_id, users.email"
            ),
            Some("user email")
        );
        assert_eq!(unique_key(None, "something else"), None);
    }
}
