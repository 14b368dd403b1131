//! The catalog statements, the same for both backends: compiled once into `crate::sqlite` and
//! once into `crate::postgres` (see `statements.rs`).

use super::{BEGIN_WRITE, This};

#[async_trait::async_trait]
impl crate::CatalogStore for This {
    async fn create_product(
        &self,
        marketplace_id: i64,
        product: &ferry_domain::NewProduct,
    ) -> crate::Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO products (marketplace_id, name, vendor) VALUES ($1, $2, $3)
             RETURNING id",
        )
        .bind(marketplace_id)
        .bind(&product.name)
        .bind(&product.vendor)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn create_edition(
        &self,
        marketplace_id: i64,
        e: &ferry_domain::NewEdition,
    ) -> crate::Result<i64> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO editions (marketplace_id, product_id, code, name,
                pricing_plan_id, channel_sku, pricing_unit, included_units,
                billing_cycles, terms, connector, active)
             SELECT marketplace_id, id, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12
             FROM products WHERE marketplace_id = $1 AND id = $2
             RETURNING id",
        )
        .bind(marketplace_id)
        .bind(e.product_id)
        .bind(&e.code)
        .bind(&e.name)
        .bind(&e.pricing_plan_id)
        .bind(&e.channel_sku)
        .bind(e.pricing_unit.as_str())
        .bind(e.included_units)
        .bind(sqlx::types::Json(&e.billing_cycles))
        .bind(sqlx::types::Json(&e.terms))
        .bind(e.connector.as_str())
        .bind(e.active)
        .fetch_optional(&mut *tx)
        .await?;
        let id = id.ok_or(crate::StoreError::NotFound { what: "product" })?;
        for offer in &e.offer_ids {
            sqlx::query(
                "INSERT INTO edition_offers (marketplace_id, edition_id, offer_id, active)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(marketplace_id)
            .bind(id)
            .bind(offer.as_str())
            .bind(e.active)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    async fn set_edition_offers(
        &self,
        marketplace_id: i64,
        edition_id: i64,
        offers: &[ferry_domain::OfferId],
    ) -> crate::Result<()> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let active: Option<bool> =
            sqlx::query_scalar("SELECT active FROM editions WHERE marketplace_id = $1 AND id = $2")
                .bind(marketplace_id)
                .bind(edition_id)
                .fetch_optional(&mut *tx)
                .await?;
        let active = active.ok_or(crate::StoreError::NotFound { what: "edition" })?;
        sqlx::query("DELETE FROM edition_offers WHERE marketplace_id = $1 AND edition_id = $2")
            .bind(marketplace_id)
            .bind(edition_id)
            .execute(&mut *tx)
            .await?;
        let mut offers: Vec<&str> = offers.iter().map(ferry_domain::OfferId::as_str).collect();
        offers.sort_unstable();
        offers.dedup();
        for offer in offers {
            sqlx::query(
                "INSERT INTO edition_offers (marketplace_id, edition_id, offer_id, active)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(marketplace_id)
            .bind(edition_id)
            .bind(offer)
            .bind(active)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn edition_for_offer(
        &self,
        marketplace_id: i64,
        offer: &ferry_domain::OfferId,
    ) -> crate::Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT edition_id FROM edition_offers
             WHERE marketplace_id = $1 AND offer_id = $2 AND active",
        )
        .bind(marketplace_id)
        .bind(offer.as_str())
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn products(&self, marketplace_id: i64) -> crate::Result<Vec<crate::Product>> {
        let products: Vec<(i64, String, String, Option<String>, bool)> = sqlx::query_as(
            "SELECT id, name, vendor, webhook_url, webhook_secret_encrypted IS NOT NULL
             FROM products WHERE marketplace_id = $1 ORDER BY name",
        )
        .bind(marketplace_id)
        .fetch_all(&self.pool)
        .await?;
        let editions: Vec<crate::Edition> = sqlx::query_as(
            "SELECT id, product_id, code, name, pricing_plan_id, channel_sku, pricing_unit,
                included_units, connector, active
             FROM editions WHERE marketplace_id = $1 ORDER BY name",
        )
        .bind(marketplace_id)
        .fetch_all(&self.pool)
        .await?;
        let offers: Vec<(i64, String)> = sqlx::query_as(
            "SELECT edition_id, offer_id FROM edition_offers
             WHERE marketplace_id = $1 ORDER BY offer_id",
        )
        .bind(marketplace_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(products
            .into_iter()
            .map(
                |(id, name, vendor, webhook_url, webhook_signed)| crate::Product {
                    id,
                    name,
                    vendor,
                    webhook_url,
                    webhook_signed,
                    editions: editions
                        .iter()
                        .filter(|e| e.product_id == id)
                        .map(|e| {
                            let ids: Vec<&str> = offers
                                .iter()
                                .filter(|(edition, _)| *edition == e.id)
                                .map(|(_, offer)| offer.as_str())
                                .collect();
                            crate::Edition {
                                offer_ids: (!ids.is_empty()).then(|| ids.join(", ")),
                                ..e.clone()
                            }
                        })
                        .collect(),
                },
            )
            .collect())
    }

    async fn set_product_webhook(
        &self,
        marketplace_id: i64,
        product_id: i64,
        url: Option<&str>,
        secret_sealed: Option<&[u8]>,
    ) -> crate::Result<()> {
        let done = sqlx::query(
            "UPDATE products SET webhook_url = $3,
                webhook_secret_encrypted = CASE WHEN $3 IS NULL THEN NULL
                                                ELSE COALESCE($4, webhook_secret_encrypted) END
             WHERE marketplace_id = $1 AND id = $2",
        )
        .bind(marketplace_id)
        .bind(product_id)
        .bind(url)
        .bind(secret_sealed)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(crate::StoreError::NotFound { what: "product" });
        }
        Ok(())
    }
}
