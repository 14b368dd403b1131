//! The outbox statements, the same for both backends: compiled once into `crate::sqlite` and
//! once into `crate::postgres` (see `statements.rs`).

use super::This;

#[async_trait::async_trait]
impl crate::OutboxStore for This {
    async fn queue_email(
        &self,
        email: &crate::NewEmail,
        delivery: &(dyn Fn(i64) -> crate::NewJob + Send + Sync),
    ) -> crate::Result<Option<i64>> {
        let mut tx = self.pool.begin().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO outbox (marketplace_id, to_address, subject, body, created_at, once_key)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (once_key) DO NOTHING RETURNING id",
        )
        .bind(email.marketplace_id)
        .bind(&email.to)
        .bind(&email.subject)
        .bind(&email.body)
        .bind(crate::now().millis())
        .bind(&email.once_key)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(id) = id {
            super::insert_job(&mut *tx, &delivery(id)).await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    async fn outbox(
        &self,
        marketplace_id: Option<i64>,
        limit: i64,
    ) -> crate::Result<Vec<crate::OutboxEmail>> {
        Ok(sqlx::query_as(
            "SELECT id, marketplace_id, to_address, subject, body, created_at, sent_at,
                last_error
             FROM outbox
             WHERE sent_at IS NULL AND ($1 IS NULL OR marketplace_id = $1)
             ORDER BY id DESC LIMIT $2",
        )
        .bind(marketplace_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn email(&self, id: i64) -> crate::Result<Option<crate::OutboxEmail>> {
        Ok(sqlx::query_as(
            "SELECT id, marketplace_id, to_address, subject, body, created_at, sent_at,
                last_error
             FROM outbox WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn mark_email_sent(&self, id: i64) -> crate::Result<()> {
        sqlx::query("UPDATE outbox SET sent_at = $2, last_error = NULL WHERE id = $1")
            .bind(id)
            .bind(crate::now().millis())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn mark_email_failed(&self, id: i64, error: &str) -> crate::Result<()> {
        sqlx::query("UPDATE outbox SET last_error = $2 WHERE id = $1")
            .bind(id)
            .bind(error)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
