//! The Google Workspace statements, the same for both backends (see `statements.rs`).

use ferry_domain::GoogleCustomer;

use super::{BEGIN_WRITE, This, insert_audit};
use crate::google::customer_of;
use crate::{GoogleCompany, GoogleConnection, NewAuditEntry, NewGoogleConnection};

#[async_trait::async_trait]
impl crate::GoogleStore for This {
    async fn google_connection(
        &self,
        marketplace_id: i64,
    ) -> crate::Result<Option<GoogleConnection>> {
        Ok(sqlx::query_as(
            "SELECT marketplace_id, client_email, admin_email, key_encrypted, api_url, token_url,
                    updated_at, updated_by, checked_at, check_error
             FROM google_connections WHERE marketplace_id = $1",
        )
        .bind(marketplace_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn set_google_connection(
        &self,
        marketplace_id: i64,
        connection: &NewGoogleConnection,
        by: &str,
    ) -> crate::Result<()> {
        sqlx::query(
            "INSERT INTO google_connections (marketplace_id, client_email, admin_email,
                 key_encrypted, api_url, token_url, updated_at, updated_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (marketplace_id) DO UPDATE SET client_email = excluded.client_email,
                 admin_email = excluded.admin_email, key_encrypted = excluded.key_encrypted,
                 api_url = excluded.api_url, token_url = excluded.token_url,
                 updated_at = excluded.updated_at, updated_by = excluded.updated_by,
                 checked_at = NULL, check_error = NULL",
        )
        .bind(marketplace_id)
        .bind(&connection.client_email)
        .bind(&connection.admin_email)
        .bind(&connection.key_encrypted)
        .bind(&connection.api_url)
        .bind(&connection.token_url)
        .bind(crate::now().millis())
        .bind(by)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_google_check(
        &self,
        marketplace_id: i64,
        at: i64,
        error: Option<&str>,
    ) -> crate::Result<()> {
        sqlx::query(
            "UPDATE google_connections SET checked_at = $2, check_error = $3
             WHERE marketplace_id = $1",
        )
        .bind(marketplace_id)
        .bind(at)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_company_google(
        &self,
        marketplace_id: i64,
        company_id: i64,
        customer: Option<&GoogleCustomer>,
        by: &str,
    ) -> crate::Result<bool> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let known: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM companies WHERE marketplace_id = $1 AND id = $2")
                .bind(marketplace_id)
                .bind(company_id)
                .fetch_optional(&mut *tx)
                .await?;
        if known.is_none() {
            return Ok(false);
        }
        let (id, domain) = match customer {
            Some(GoogleCustomer::Id(id)) => (Some(id.as_str()), None),
            Some(GoogleCustomer::Domain(domain)) => (None, Some(domain.as_str())),
            None => (None, None),
        };
        if customer.is_some() {
            sqlx::query(
                "INSERT INTO company_google (company_id, marketplace_id, customer_id, domain)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (company_id) DO UPDATE
                 SET customer_id = excluded.customer_id, domain = excluded.domain",
            )
            .bind(company_id)
            .bind(marketplace_id)
            .bind(id)
            .bind(domain)
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query("DELETE FROM company_google WHERE company_id = $1")
                .bind(company_id)
                .execute(&mut *tx)
                .await?;
        }
        insert_audit(
            &mut *tx,
            &NewAuditEntry {
                marketplace_id: Some(marketplace_id),
                actor: by.to_owned(),
                action: "company.google_linked".into(),
                entity_type: "company".into(),
                entity_id: Some(company_id),
                changes: serde_json::json!({ "google_customer_id": id, "google_domain": domain }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn company_google(
        &self,
        marketplace_id: i64,
        company_id: i64,
    ) -> crate::Result<Option<GoogleCustomer>> {
        let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT customer_id, domain FROM company_google
             WHERE marketplace_id = $1 AND company_id = $2",
        )
        .bind(marketplace_id)
        .bind(company_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|(id, domain)| customer_of(id, domain)))
    }

    async fn google_companies(
        &self,
        marketplace_id: i64,
        after: i64,
        limit: i64,
    ) -> crate::Result<Vec<GoogleCompany>> {
        let rows: Vec<(i64, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT company_id, customer_id, domain FROM company_google
             WHERE marketplace_id = $1 AND company_id > $2 ORDER BY company_id LIMIT $3",
        )
        .bind(marketplace_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(company_id, id, domain)| {
                Some(GoogleCompany {
                    company_id,
                    customer: customer_of(id, domain)?,
                })
            })
            .collect())
    }
}
