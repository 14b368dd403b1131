//! The datasets statements for provisioning, the same for both backends: compiled once into
//! `crate::sqlite` and once into `crate::postgres` (see `statements.rs`).

use super::This;

#[async_trait::async_trait]
impl crate::datasets::ProvisioningStore for This {
    async fn pending_provisioning(
        &self,
        dataset: crate::DatasetRef,
        after: i64,
        limit: i64,
    ) -> crate::Result<Vec<crate::datasets::ProvisioningTarget>> {
        let (marketplace_id, dataset_id) = (dataset.marketplace_id, dataset.dataset_id);
        Ok(sqlx::query_as(
            "SELECT e.id AS subscription_id, e.external_id,
                (SELECT MIN(s.line) FROM stage_company_entitlements s
                 WHERE s.dataset_id = $1 AND s.external_id = e.external_id) AS line,
                c.external_id AS company_external_id, c.name AS company_name,
                u.external_id AS user_external_id, u.email AS user_email,
                ed.code AS edition_code, ed.name AS edition_name, e.units,
                p.webhook_url, p.webhook_secret_encrypted
             FROM subscriptions e
             JOIN companies c ON c.id = e.company_id
             JOIN editions ed ON ed.id = e.edition_id
             JOIN products p ON p.id = ed.product_id
             LEFT JOIN users u ON u.id = e.purchased_by
             WHERE e.marketplace_id = $2 AND e.origin_kind = 'dataset' AND e.origin_ref = $1
               AND e.status = 'pending' AND e.id > $3
             ORDER BY e.id LIMIT $4",
        )
        .bind(dataset_id)
        .bind(marketplace_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn set_provisioned(
        &self,
        subscription_id: i64,
        error: Option<&str>,
    ) -> crate::Result<()> {
        sqlx::query(
            "UPDATE subscriptions SET provisioning_error = $2,
                status = CASE WHEN $2 IS NULL THEN 'active' ELSE 'failed' END,
                updated_at = $3
             WHERE id = $1 AND status = 'pending'",
        )
        .bind(subscription_id)
        .bind(error)
        .bind(crate::now().millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
