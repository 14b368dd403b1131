//! Marketplaces: the hierarchy of distributor and tenants, and each one's settings.

use async_trait::async_trait;
use ferry_domain::{MarketplaceKind, Timestamp};

use crate::Result;

#[async_trait]
pub trait MarketplaceStore: Send + Sync {
    async fn create_marketplace(&self, new: &NewMarketplace) -> Result<Marketplace>;
    async fn marketplace_by_slug(&self, slug: &str) -> Result<Option<Marketplace>>;
    async fn marketplace(&self, id: i64) -> Result<Option<Marketplace>>;
    async fn marketplaces(&self) -> Result<Vec<Marketplace>>;
    async fn marketplace_settings(&self, id: i64) -> Result<MarketplaceSettings>;
    async fn set_marketplace_settings(&self, id: i64, settings: &MarketplaceSettings)
    -> Result<()>;
    /// Sets or clears the reseller MPN id of the simple tenant `child_id` of `parent_id`,
    /// making it a tenant reseller. Another child of the parent already holding the MPN id is
    /// a conflict; a marketplace that is not a simple tenant of the parent, not found.
    async fn set_reseller_mpn_id(
        &self,
        parent_id: i64,
        child_id: i64,
        mpn_id: Option<&str>,
    ) -> Result<()>;
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Marketplace {
    pub id: i64,
    pub slug: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub kind: MarketplaceKind,
    pub parent_id: Option<i64>,
    /// A simple tenant's indirect reseller MPN id, set by its parent: it is then a tenant
    /// reseller, and the parent's end customers of that reseller are its own.
    pub reseller_mpn_id: Option<String>,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
}

/// What a marketplace's operators have chosen, stored as one JSON object.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct MarketplaceSettings {
    /// Datasets' Microsoft records are checked against Partner Center while they are validated
    /// (docs/datasets.md), through the marketplace's instances.
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
