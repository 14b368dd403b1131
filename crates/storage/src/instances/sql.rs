//! The instances statements, the same for both backends: compiled once into `crate::sqlite` and
//! once into `crate::postgres` (see `statements.rs`).

use super::found;
use super::{Query, This};
use crate::instances::instance_columns;

#[async_trait::async_trait]
impl crate::InstanceStore for This {
    async fn create_instance(
        &self,
        marketplace_id: i64,
        i: &crate::NewInstance,
    ) -> crate::Result<i64> {
        let insert = sqlx::query(
            "INSERT INTO partner_center_instances (marketplace_id, name, model,
                partner_tenant_id, application_id, secret_encrypted,
                refresh_token_encrypted, mpn_id, api_base_url, login_base_url, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(marketplace_id);
        let row = bind_instance(insert, i)
            .bind(crate::now().millis())
            .fetch_one(&self.pool)
            .await?;
        Ok(sqlx::Row::try_get(&row, 0)?)
    }

    async fn instances(&self, marketplace_id: i64) -> crate::Result<Vec<crate::InstanceSummary>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            instance_columns!(),
            " FROM partner_center_instances
             WHERE marketplace_id = $1 ORDER BY name"
        ))
        .bind(marketplace_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn instance(
        &self,
        marketplace_id: i64,
        id: i64,
    ) -> crate::Result<Option<crate::InstanceRecord>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            instance_columns!(),
            ", secret_encrypted, refresh_token_encrypted
             FROM partner_center_instances WHERE marketplace_id = $1 AND id = $2"
        ))
        .bind(marketplace_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn update_instance(
        &self,
        marketplace_id: i64,
        id: i64,
        i: &crate::NewInstance,
    ) -> crate::Result<()> {
        self.write_instance(bind_instance(
            about_instance(
                "UPDATE partner_center_instances SET name = $3, model = $4,
                    partner_tenant_id = $5, application_id = $6,
                    secret_encrypted = COALESCE($7, secret_encrypted),
                    refresh_token_encrypted = COALESCE($8, refresh_token_encrypted),
                    mpn_id = $9, api_base_url = $10, login_base_url = $11,
                    auth_state = 'unchecked', auth_reason = NULL
                 WHERE marketplace_id = $1 AND id = $2",
                marketplace_id,
                id,
            ),
            i,
        ))
        .await
    }

    async fn delete_instance(&self, marketplace_id: i64, id: i64) -> crate::Result<()> {
        let linked: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM tenant_links WHERE instance_id = $1")
                .bind(id)
                .fetch_one(&self.pool)
                .await?;
        if linked > 0 {
            return Err(crate::StoreError::Conflict {
                key: "Partner Center instance with linked companies",
            });
        }
        self.write_instance(about_instance(
            "DELETE FROM partner_center_instances WHERE marketplace_id = $1 AND id = $2",
            marketplace_id,
            id,
        ))
        .await
    }

    async fn store_refresh_token(
        &self,
        marketplace_id: i64,
        id: i64,
        sealed: &[u8],
    ) -> crate::Result<()> {
        self.write_instance(
            about_instance(
                "UPDATE partner_center_instances SET refresh_token_encrypted = $3
                 WHERE id = $2 AND marketplace_id = $1",
                marketplace_id,
                id,
            )
            .bind(sealed),
        )
        .await
    }

    async fn set_instance_auth(
        &self,
        marketplace_id: i64,
        id: i64,
        state: ferry_domain::InstanceAuth,
        reason: Option<&str>,
    ) -> crate::Result<()> {
        about_instance(
            "UPDATE partner_center_instances SET auth_state = $3, auth_reason = $4,
                checked_at = $5
             WHERE id = $2 AND marketplace_id = $1",
            marketplace_id,
            id,
        )
        .bind(state.as_str())
        .bind(reason)
        .bind(crate::now().millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// Binds an instance's fields, `name` to `login_base_url`, in the order both the insert and
/// the update name them.
fn bind_instance<'q>(query: Query<'q>, i: &crate::NewInstance) -> Query<'q> {
    query
        .bind(&i.name)
        .bind(&i.model)
        .bind(&i.partner_tenant_id)
        .bind(&i.application_id)
        .bind(&i.secret_encrypted)
        .bind(&i.refresh_token_encrypted)
        .bind(&i.mpn_id)
        .bind(&i.api_base_url)
        .bind(&i.login_base_url)
}

/// A statement about one instance: `$1` is its marketplace, `$2` the instance.
fn about_instance(sql: &'static str, marketplace_id: i64, id: i64) -> Query<'static> {
    sqlx::query(sql).bind(marketplace_id).bind(id)
}

impl This {
    /// Writes one instance; Not Found when the marketplace has no such instance.
    async fn write_instance(&self, statement: Query<'_>) -> crate::Result<()> {
        let done = statement.execute(&self.pool).await?;
        found(done.rows_affected(), "Partner Center instance")
    }
}
