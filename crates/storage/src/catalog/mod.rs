//! The catalog: products, editions and the Microsoft offer ids they map to.

use async_trait::async_trait;
use ferry_domain::{NewEdition, NewProduct, OfferId};

use crate::Result;

#[async_trait]
pub trait CatalogStore: Send + Sync {
    async fn create_product(&self, marketplace_id: i64, product: &NewProduct) -> Result<i64>;
    /// Creates an edition with its offer-id mappings, all or nothing.
    async fn create_edition(&self, marketplace_id: i64, edition: &NewEdition) -> Result<i64>;
    /// Replaces an edition's offer-id mappings, all or nothing. An offer another active edition
    /// maps already is a conflict.
    async fn set_edition_offers(
        &self,
        marketplace_id: i64,
        edition_id: i64,
        offers: &[OfferId],
    ) -> Result<()>;
    /// The active edition an offer id maps to.
    async fn edition_for_offer(&self, marketplace_id: i64, offer: &OfferId) -> Result<Option<i64>>;
    /// The catalog: products with their editions and offer ids.
    async fn products(&self, marketplace_id: i64) -> Result<Vec<Product>>;
    /// Sets where a product's webhook events go and the sealed secret that signs them (without
    /// a secret the current one stays; without an address both are removed).
    async fn set_product_webhook(
        &self,
        marketplace_id: i64,
        product_id: i64,
        url: Option<&str>,
        secret_sealed: Option<&[u8]>,
    ) -> Result<()>;
}

/// A product of the catalog with its editions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub vendor: String,
    pub editions: Vec<Edition>,
    /// Where its provisioning events go (docs/datasets.md), and whether a signing secret is set.
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
