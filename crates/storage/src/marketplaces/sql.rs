//! The marketplaces statements, the same for both backends: compiled once into `crate::sqlite` and
//! once into `crate::postgres` (see `statements.rs`).

use super::This;
use super::found;

/// The marketplace whose `key` is `$1`.
macro_rules! marketplace_by {
    ($key:literal) => {
        concat!(
            "SELECT id, slug, name, kind, parent_id, reseller_mpn_id, created_at FROM marketplaces WHERE ",
            $key,
            " = $1"
        )
    };
}

#[async_trait::async_trait]
impl crate::MarketplaceStore for This {
    async fn create_marketplace(
        &self,
        new: &crate::NewMarketplace,
    ) -> crate::Result<crate::Marketplace> {
        Ok(sqlx::query_as(
            "INSERT INTO marketplaces (slug, name, kind, parent_id, created_at)
             VALUES ($1, $2, $3, $4, $5)
             RETURNING id, slug, name, kind, parent_id, reseller_mpn_id, created_at",
        )
        .bind(new.slug.as_str())
        .bind(&new.name)
        .bind(new.kind.as_str())
        .bind(new.parent_id)
        .bind(crate::now().millis())
        .fetch_one(&self.pool)
        .await?)
    }

    async fn marketplace_by_slug(&self, slug: &str) -> crate::Result<Option<crate::Marketplace>> {
        Ok(sqlx::query_as(marketplace_by!("slug"))
            .bind(slug)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn marketplace(&self, id: i64) -> crate::Result<Option<crate::Marketplace>> {
        Ok(sqlx::query_as(marketplace_by!("id"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn marketplace_settings(&self, id: i64) -> crate::Result<crate::MarketplaceSettings> {
        let settings: Option<(sqlx::types::Json<crate::MarketplaceSettings>,)> =
            sqlx::query_as("SELECT settings FROM marketplaces WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        settings.map(|(s,)| s.0).ok_or(crate::StoreError::NotFound {
            what: "marketplace",
        })
    }

    async fn set_marketplace_settings(
        &self,
        id: i64,
        settings: &crate::MarketplaceSettings,
    ) -> crate::Result<()> {
        let done = sqlx::query("UPDATE marketplaces SET settings = $2 WHERE id = $1")
            .bind(id)
            .bind(sqlx::types::Json(settings))
            .execute(&self.pool)
            .await?;
        found(done.rows_affected(), "marketplace")
    }

    async fn set_reseller_mpn_id(
        &self,
        parent_id: i64,
        child_id: i64,
        mpn_id: Option<&str>,
    ) -> crate::Result<()> {
        let done = sqlx::query(
            "UPDATE marketplaces SET reseller_mpn_id = $3
             WHERE id = $2 AND parent_id = $1 AND kind = 'simple_tenant'",
        )
        .bind(parent_id)
        .bind(child_id)
        .bind(mpn_id)
        .execute(&self.pool)
        .await?;
        found(done.rows_affected(), "simple tenant of this marketplace")
    }

    async fn marketplaces(&self) -> crate::Result<Vec<crate::Marketplace>> {
        Ok(sqlx::query_as(
            "SELECT id, slug, name, kind, parent_id, reseller_mpn_id, created_at
             FROM marketplaces ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
