//! The access statements, the same for both backends: compiled once into `crate::sqlite` and
//! once into `crate::postgres` (see `statements.rs`).

use super::{BEGIN_WRITE, Db, This};
use super::{found, insert_user};
use crate::users::user_columns;

#[async_trait::async_trait]
impl crate::AccessStore for This {
    async fn create_platform_admin(
        &self,
        email: &ferry_domain::Email,
        password_hash: &str,
    ) -> crate::Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO platform_admins (email, password_hash, created_at)
             VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(email.as_str())
        .bind(password_hash)
        .bind(crate::now().millis())
        .fetch_one(&self.pool)
        .await?)
    }

    async fn set_password(
        &self,
        marketplace_id: i64,
        user_id: i64,
        password_hash: Option<&str>,
    ) -> crate::Result<()> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let done = sqlx::query(
            "UPDATE users SET password_hash = $3, updated_at = $4
             WHERE id = $2 AND marketplace_id = $1",
        )
        .bind(marketplace_id)
        .bind(user_id)
        .bind(password_hash)
        .bind(crate::now().millis())
        .execute(&mut *tx)
        .await?;
        found(done.rows_affected(), "user")?;
        end_open_links(&mut tx, user_id).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn grant_role(
        &self,
        marketplace_id: i64,
        user_id: i64,
        role: ferry_domain::Role,
    ) -> crate::Result<()> {
        let done = sqlx::query(
            "INSERT INTO user_roles (user_id, role)
             SELECT id, $3 FROM users WHERE id = $2 AND marketplace_id = $1
             ON CONFLICT (user_id, role) DO NOTHING",
        )
        .bind(marketplace_id)
        .bind(user_id)
        .bind(role.as_str())
        .execute(&self.pool)
        .await?;
        // An existing grant counts as done; only a missing user is an error.
        if done.rows_affected() == 0 {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT id FROM users WHERE id = $2 AND marketplace_id = $1")
                    .bind(marketplace_id)
                    .bind(user_id)
                    .fetch_optional(&self.pool)
                    .await?;
            exists
                .map(|_| ())
                .ok_or(crate::StoreError::NotFound { what: "user" })
        } else {
            Ok(())
        }
    }

    async fn create_api_token(
        &self,
        marketplace_id: i64,
        name: &str,
        role: ferry_domain::Role,
        token_hash: &[u8],
    ) -> crate::Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO api_tokens (marketplace_id, name, role, token_hash, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(marketplace_id)
        .bind(name)
        .bind(role.as_str())
        .bind(token_hash)
        .bind(crate::now().millis())
        .fetch_one(&self.pool)
        .await?)
    }

    async fn staff_roles(
        &self,
        marketplace_id: i64,
    ) -> crate::Result<Vec<(i64, ferry_domain::Role)>> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT r.user_id, r.role FROM user_roles r JOIN users u ON u.id = r.user_id
             WHERE u.marketplace_id = $1",
        )
        .bind(marketplace_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, role)| Ok((id, role.parse()?)))
            .collect()
    }

    async fn create_staff(
        &self,
        marketplace_id: i64,
        user: &ferry_domain::NewUser,
        password_hash: &str,
        role: ferry_domain::Role,
    ) -> crate::Result<i64> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let id = insert_user(&mut *tx, marketplace_id, user, Some(password_hash)).await?;
        sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
            .bind(id)
            .bind(role.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn credentials_by_email(
        &self,
        email: &ferry_domain::Email,
    ) -> crate::Result<Vec<crate::Credentials>> {
        let rows: Vec<(Option<i64>, i64, String)> = sqlx::query_as(
            "SELECT NULL, id, password_hash FROM platform_admins WHERE email = $1
             UNION ALL
             SELECT marketplace_id, id, password_hash FROM users
             WHERE email = $1 AND password_hash IS NOT NULL AND allow_login
               AND status = 'active'",
        )
        .bind(email.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(marketplace_id, id, password_hash)| crate::Credentials {
                subject: match marketplace_id {
                    None => crate::Subject::PlatformAdmin { id },
                    Some(marketplace_id) => crate::Subject::User { id, marketplace_id },
                },
                password_hash,
            })
            .collect())
    }

    async fn account(&self, subject: crate::Subject) -> crate::Result<Option<crate::Account>> {
        match subject {
            crate::Subject::PlatformAdmin { id } => {
                let email: Option<String> =
                    sqlx::query_scalar("SELECT email FROM platform_admins WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(email.map(|email| crate::Account {
                    subject,
                    display_name: email.clone(),
                    email,
                    roles: vec![ferry_domain::Role::PlatformAdmin],
                }))
            }
            crate::Subject::User { id, marketplace_id } => {
                let Some(user) = crate::UserStore::user(self, marketplace_id, id).await? else {
                    return Ok(None);
                };
                if user.status != ferry_domain::UserStatus::Active || !user.allow_login {
                    return Ok(None);
                }
                let roles: Vec<String> = sqlx::query_scalar(
                    "SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
                let roles = roles
                    .iter()
                    .map(|r| r.parse())
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Some(crate::Account {
                    subject,
                    display_name: user.display_name(),
                    email: user.email.to_string(),
                    roles,
                }))
            }
        }
    }

    async fn create_session(
        &self,
        id_hash: &[u8],
        subject: crate::Subject,
        expires_at: ferry_domain::Timestamp,
    ) -> crate::Result<()> {
        let (kind, id) = subject_parts(subject);
        sqlx::query(
            "INSERT INTO sessions (id_hash, subject_kind, subject_id, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_hash)
        .bind(kind)
        .bind(id)
        .bind(crate::now().millis())
        .bind(expires_at.millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session_subject(
        &self,
        id_hash: &[u8],
        now: ferry_domain::Timestamp,
    ) -> crate::Result<Option<crate::Subject>> {
        let row: Option<(String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT s.subject_kind, s.subject_id, u.marketplace_id
             FROM sessions s
             LEFT JOIN users u ON s.subject_kind = 'user' AND u.id = s.subject_id
             WHERE s.id_hash = $1 AND s.expires_at > $2",
        )
        .bind(id_hash)
        .bind(now.millis())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(
            |(kind, id, marketplace_id)| match (kind.as_str(), marketplace_id) {
                ("platform_admin", _) => Some(crate::Subject::PlatformAdmin { id }),
                ("user", Some(marketplace_id)) => Some(crate::Subject::User { id, marketplace_id }),
                _ => None,
            },
        ))
    }

    async fn delete_session(&self, id_hash: &[u8]) -> crate::Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn claim_sign_in_attempt(
        &self,
        account: &str,
        throttle: &ferry_domain::SignInThrottle,
        now: ferry_domain::Timestamp,
    ) -> crate::Result<ferry_domain::SignInAttempt> {
        // A failure older than the window starts a new count; the attempt that reaches the
        // limit is still checked, and locks the account for those after it.
        let counted: Option<i32> = sqlx::query_scalar(
            "INSERT INTO sign_in_failures AS f (account, failures, first_failure, locked_until)
             VALUES ($1, 1, $2, CASE WHEN 1 >= $3 THEN $2 + $5 END)
             ON CONFLICT (account) DO UPDATE SET
                failures = CASE WHEN f.first_failure <= $2 - $4 THEN 1 ELSE f.failures + 1 END,
                first_failure = CASE WHEN f.first_failure <= $2 - $4 THEN $2
                                     ELSE f.first_failure END,
                locked_until = CASE
                    WHEN (CASE WHEN f.first_failure <= $2 - $4 THEN 1 ELSE f.failures + 1 END) >= $3
                    THEN $2 + $5 END
             WHERE f.locked_until IS NULL OR f.locked_until <= $2
             RETURNING failures",
        )
        .bind(account)
        .bind(now.millis())
        .bind(throttle.max_failures)
        .bind(throttle.window_ms)
        .bind(throttle.lock_ms)
        .fetch_optional(&self.pool)
        .await?;
        if counted.is_some() {
            return Ok(ferry_domain::SignInAttempt::Allowed);
        }
        let until: i64 =
            sqlx::query_scalar("SELECT locked_until FROM sign_in_failures WHERE account = $1")
                .bind(account)
                .fetch_one(&self.pool)
                .await?;
        Ok(ferry_domain::SignInAttempt::LockedUntil(
            ferry_domain::Timestamp(until),
        ))
    }

    async fn clear_sign_in_failures(&self, account: &str) -> crate::Result<()> {
        sqlx::query("DELETE FROM sign_in_failures WHERE account = $1")
            .bind(account)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn create_user_link(
        &self,
        token_hash: &[u8],
        user_id: i64,
        purpose: crate::LinkPurpose,
        expires_at: ferry_domain::Timestamp,
    ) -> crate::Result<()> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        // The newest link of a purpose is the one that works: a reset requested again, or an
        // invitation sent again, ends the one before.
        sqlx::query(
            "DELETE FROM user_links WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
        )
        .bind(user_id)
        .bind(purpose.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO user_links (token_hash, user_id, purpose, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(purpose.as_str())
        .bind(crate::now().millis())
        .bind(expires_at.millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn link_user(
        &self,
        token_hash: &[u8],
        purpose: crate::LinkPurpose,
        now: ferry_domain::Timestamp,
    ) -> crate::Result<Option<crate::User>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = (
                SELECT user_id FROM user_links
                WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL
                  AND expires_at > $3)"
        ))
        .bind(token_hash)
        .bind(purpose.as_str())
        .bind(now.millis())
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn redeem_link(
        &self,
        token_hash: &[u8],
        purpose: crate::LinkPurpose,
        password_hash: &str,
        now: ferry_domain::Timestamp,
    ) -> crate::Result<Option<crate::User>> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let user_id: Option<i64> = sqlx::query_scalar(
            "UPDATE user_links SET used_at = $3
             WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
             RETURNING user_id",
        )
        .bind(token_hash)
        .bind(purpose.as_str())
        .bind(now.millis())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(user_id) = user_id else {
            return Ok(None);
        };
        sqlx::query(
            "UPDATE users SET password_hash = $2, status = 'active', updated_at = $3
             WHERE id = $1 AND status <> 'suspended'",
        )
        .bind(user_id)
        .bind(password_hash)
        .bind(now.millis())
        .execute(&mut *tx)
        .await?;
        // A company becomes active when its first user activates.
        sqlx::query(
            "UPDATE companies SET status = 'active', updated_at = $2
             WHERE status = 'pending'
               AND id IN (SELECT company_id FROM memberships WHERE user_id = $1)",
        )
        .bind(user_id)
        .bind(now.millis())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sessions WHERE subject_kind = 'user' AND subject_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        end_open_links(&mut tx, user_id).await?;
        let user = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1"
        ))
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(user))
    }

    async fn api_token(&self, token_hash: &[u8]) -> crate::Result<Option<crate::ApiToken>> {
        Ok(sqlx::query_as(
            "UPDATE api_tokens SET last_used_at = $2
             WHERE token_hash = $1 AND revoked_at IS NULL
             RETURNING id, marketplace_id, name, role, created_at, last_used_at, revoked_at",
        )
        .bind(token_hash)
        .bind(crate::now().millis())
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn api_tokens(&self, marketplace_id: i64) -> crate::Result<Vec<crate::ApiToken>> {
        Ok(sqlx::query_as(
            "SELECT id, marketplace_id, name, role, created_at, last_used_at, revoked_at
             FROM api_tokens WHERE marketplace_id = $1 ORDER BY id DESC",
        )
        .bind(marketplace_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn revoke_api_token(&self, marketplace_id: i64, id: i64) -> crate::Result<()> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $3)
             WHERE marketplace_id = $1 AND id = $2",
        )
        .bind(marketplace_id)
        .bind(id)
        .bind(crate::now().millis())
        .execute(&self.pool)
        .await?;
        found(done.rows_affected(), "API token")
    }
}

fn subject_parts(subject: crate::Subject) -> (&'static str, i64) {
    match subject {
        crate::Subject::PlatformAdmin { id } => ("platform_admin", id),
        crate::Subject::User { id, .. } => ("user", id),
    }
}

/// Ends a user's links not yet used, once their password is set or changed: an older reset or
/// invitation link must not set it again.
async fn end_open_links(tx: &mut sqlx::Transaction<'_, Db>, user_id: i64) -> crate::Result<()> {
    sqlx::query("DELETE FROM user_links WHERE user_id = $1 AND used_at IS NULL")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
