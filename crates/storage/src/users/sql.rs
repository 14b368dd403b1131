//! The users statements, the same for both backends: compiled once into `crate::sqlite` and
//! once into `crate::postgres` (see `statements.rs`).

use super::{BEGIN_WRITE, This};
use super::{found, insert_audit, insert_user, like_escape};
use crate::users::membership_columns;
use crate::users::user_columns;

#[async_trait::async_trait]
impl crate::UserStore for This {
    async fn create_user(
        &self,
        marketplace_id: i64,
        user: &ferry_domain::NewUser,
    ) -> crate::Result<i64> {
        insert_user(&self.pool, marketplace_id, user, None).await
    }

    async fn user_by_email(
        &self,
        marketplace_id: i64,
        email: &ferry_domain::Email,
    ) -> crate::Result<Option<crate::User>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users
             WHERE marketplace_id = $1 AND email = $2"
        ))
        .bind(marketplace_id)
        .bind(email.as_str())
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn count_users(&self, marketplace_id: i64) -> crate::Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE marketplace_id = $1")
                .bind(marketplace_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn set_membership(
        &self,
        marketplace_id: i64,
        user: ferry_domain::UserId,
        company: ferry_domain::CompanyId,
        roles: ferry_domain::CompanyRoles,
    ) -> crate::Result<()> {
        let done = sqlx::query(
            "INSERT INTO memberships (user_id, company_id, company_admin, billing_admin,
                sales_support, restricted_sales_support)
             SELECT u.id, c.id, $4, $5, $6, $7
             FROM users u JOIN companies c ON c.marketplace_id = u.marketplace_id
             WHERE u.marketplace_id = $1 AND u.id = $2 AND c.id = $3
             ON CONFLICT (user_id, company_id) DO UPDATE SET
                import_hash = NULL,
                company_admin = excluded.company_admin,
                billing_admin = excluded.billing_admin,
                sales_support = excluded.sales_support,
                restricted_sales_support = excluded.restricted_sales_support",
        )
        .bind(marketplace_id)
        .bind(user.0)
        .bind(company.0)
        .bind(roles.company_admin)
        .bind(roles.billing_admin)
        .bind(roles.sales_support)
        .bind(roles.restricted_sales_support)
        .execute(&self.pool)
        .await?;
        found(done.rows_affected(), "user or company")
    }

    async fn memberships_of_company(
        &self,
        marketplace_id: i64,
        company_id: i64,
    ) -> crate::Result<Vec<crate::Membership>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            membership_columns!(),
            " WHERE c.marketplace_id = $1 AND c.id = $2
             ORDER BY u.email"
        ))
        .bind(marketplace_id)
        .bind(company_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn memberships_of_user(
        &self,
        marketplace_id: i64,
        user_id: i64,
    ) -> crate::Result<Vec<crate::Membership>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            membership_columns!(),
            " WHERE u.marketplace_id = $1 AND u.id = $2
             ORDER BY lower(c.name)"
        ))
        .bind(marketplace_id)
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn users(
        &self,
        marketplace_id: i64,
        query: &crate::UserQuery,
    ) -> crate::Result<Vec<crate::User>> {
        let mut sql = sqlx::QueryBuilder::new(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE marketplace_id = "
        ));
        sql.push_bind(marketplace_id);
        if let Some(search) = query
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let pattern = format!("%{}%", like_escape(&search.to_lowercase()));
            sql.push(" AND (email LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR lower(coalesce(first_name, '') || ' ' || coalesce(last_name, '')) LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\' OR external_id = ")
                .push_bind(search.to_owned())
                .push(")");
        }
        if let Some(status) = query.status {
            sql.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(after) = &query.after {
            sql.push(" AND email > ").push_bind(after.clone());
        }
        sql.push(" ORDER BY email LIMIT ").push_bind(query.limit);
        Ok(sql.build_query_as().fetch_all(&self.pool).await?)
    }

    async fn user(&self, marketplace_id: i64, id: i64) -> crate::Result<Option<crate::User>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE marketplace_id = $1 AND id = $2"
        ))
        .bind(marketplace_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn update_user(
        &self,
        marketplace_id: i64,
        id: i64,
        u: &ferry_domain::NewUser,
        audit: &crate::NewAuditEntry,
    ) -> crate::Result<()> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let update = sqlx::query(
            "UPDATE users SET external_id = $3, email = $4, first_name = $5, last_name = $6,
                locale = $7, phone = $8, allow_login = $9, custom_attributes = $10,
                import_hash = NULL, updated_at = $11
             WHERE marketplace_id = $1 AND id = $2",
        )
        .bind(marketplace_id)
        .bind(id);
        let done = super::bind_user_profile(update, u)
            .bind(sqlx::types::Json(&u.custom_attributes))
            .bind(crate::now().millis())
            .execute(&mut *tx)
            .await?;
        found(done.rows_affected(), "user")?;
        insert_audit(&mut *tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_user_status(
        &self,
        marketplace_id: i64,
        id: i64,
        status: ferry_domain::UserStatus,
    ) -> crate::Result<()> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let done = sqlx::query(
            "UPDATE users SET status = $3, updated_at = $4 WHERE marketplace_id = $1 AND id = $2",
        )
        .bind(marketplace_id)
        .bind(id)
        .bind(status.as_str())
        .bind(crate::now().millis())
        .execute(&mut *tx)
        .await?;
        found(done.rows_affected(), "user")?;
        if status == ferry_domain::UserStatus::Suspended {
            sqlx::query("DELETE FROM sessions WHERE subject_kind = 'user' AND subject_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
