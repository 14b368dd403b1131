//! Subscriptions of companies to editions, and their seats.

use async_trait::async_trait;
use ferry_domain::{NewSubscription, SubscriptionId, SubscriptionStatus, UserId};

use crate::Result;

#[async_trait]
pub trait SubscriptionStore: Send + Sync {
    async fn create_subscription(
        &self,
        marketplace_id: i64,
        subscription: &NewSubscription,
    ) -> Result<i64>;
    async fn assign_seat(
        &self,
        marketplace_id: i64,
        subscription: SubscriptionId,
        user: UserId,
    ) -> Result<()>;
    async fn subscriptions_of_company(
        &self,
        marketplace_id: i64,
        company_id: i64,
    ) -> Result<Vec<SubscriptionRow>>;
}

/// A subscription with the names a person reads.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SubscriptionRow {
    pub id: i64,
    pub external_id: Option<String>,
    pub product_name: String,
    pub edition_name: String,
    pub units: i64,
    #[sqlx(try_from = "String")]
    pub status: SubscriptionStatus,
    pub start_date: Option<time::Date>,
    pub billing_start_date: Option<time::Date>,
    pub end_date: Option<time::Date>,
    pub billing_cycle: Option<String>,
    pub term: Option<String>,
    pub vendor_subscription_id: Option<String>,
    pub origin_kind: String,
    /// Why the vendor's connector did not take the subscription.
    pub provisioning_error: Option<String>,
}
