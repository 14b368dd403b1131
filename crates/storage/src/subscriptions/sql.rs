//! The subscriptions statements, the same for both backends: compiled once into `crate::sqlite` and
//! once into `crate::postgres` (see `statements.rs`).

use super::This;
use super::found;

#[async_trait::async_trait]
impl crate::SubscriptionStore for This {
    async fn create_subscription(
        &self,
        marketplace_id: i64,
        s: &ferry_domain::NewSubscription,
    ) -> crate::Result<i64> {
        // Company, edition and purchaser must all belong to this marketplace.
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO subscriptions (marketplace_id, external_id, company_id,
                edition_id, purchased_by, units, start_date, billing_start_date, end_date,
                billing_cycle, term, auto_renew, status, vendor_subscription_id,
                custom_attributes, origin_kind, origin_ref, created_at, updated_at)
             SELECT c.marketplace_id, $2, c.id, e.id, $5, $6, $7, $8, $9, $10, $11, $12,
                $13, $14, $15, $16, $17, $18, $18
             FROM companies c JOIN editions e ON e.marketplace_id = c.marketplace_id
             WHERE c.marketplace_id = $1 AND c.id = $3 AND e.id = $4
               AND ($5 IS NULL OR EXISTS (
                    SELECT 1 FROM users u WHERE u.id = $5 AND u.marketplace_id = $1))
             RETURNING id",
        )
        .bind(marketplace_id)
        .bind(&s.external_id)
        .bind(s.company_id)
        .bind(s.edition_id)
        .bind(s.purchased_by)
        .bind(s.units)
        .bind(s.start_date)
        .bind(s.billing_start_date)
        .bind(s.end_date)
        .bind(&s.billing_cycle)
        .bind(&s.term)
        .bind(s.auto_renew)
        .bind(s.status.as_str())
        .bind(&s.vendor_subscription_id)
        .bind(sqlx::types::Json(&s.custom_attributes))
        .bind(s.origin.kind())
        .bind(s.origin.reference())
        .bind(crate::now().millis())
        .fetch_optional(&self.pool)
        .await?;
        id.ok_or(crate::StoreError::NotFound {
            what: "company, edition or purchaser",
        })
    }

    async fn assign_seat(
        &self,
        marketplace_id: i64,
        subscription: ferry_domain::SubscriptionId,
        user: ferry_domain::UserId,
    ) -> crate::Result<()> {
        let done = sqlx::query(
            "INSERT INTO seat_assignments (subscription_id, user_id)
             SELECT s.id, u.id
             FROM subscriptions s JOIN users u ON u.marketplace_id = s.marketplace_id
             WHERE s.marketplace_id = $1 AND s.id = $2 AND u.id = $3",
        )
        .bind(marketplace_id)
        .bind(subscription.0)
        .bind(user.0)
        .execute(&self.pool)
        .await?;
        found(done.rows_affected(), "subscription or user")
    }

    async fn subscriptions_of_company(
        &self,
        marketplace_id: i64,
        company_id: i64,
    ) -> crate::Result<Vec<crate::SubscriptionRow>> {
        Ok(sqlx::query_as(
            "SELECT s.id, s.external_id, p.name AS product_name, e.name AS edition_name,
                s.units, s.status, s.start_date, s.billing_start_date, s.end_date,
                s.billing_cycle, s.term, s.vendor_subscription_id, s.origin_kind,
                s.provisioning_error
             FROM subscriptions s
             JOIN editions e ON e.id = s.edition_id
             JOIN products p ON p.id = e.product_id
             WHERE s.marketplace_id = $1 AND s.company_id = $2 ORDER BY s.id",
        )
        .bind(marketplace_id)
        .bind(company_id)
        .fetch_all(&self.pool)
        .await?)
    }
}
