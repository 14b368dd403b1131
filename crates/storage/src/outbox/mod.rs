//! The outbox: every e-mail Ferry sends, stored before it is delivered.

use async_trait::async_trait;
use ferry_domain::Timestamp;

use crate::{NewJob, Result};

#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Stores a message and, in the same transaction, the job that delivers it (`delivery` is
    /// given the message's id), so no message is stored without its delivery. Returns `None`,
    /// storing nothing, when a message with the same `once_key` is already stored.
    async fn queue_email(
        &self,
        email: &NewEmail,
        delivery: &(dyn Fn(i64) -> NewJob + Send + Sync),
    ) -> Result<Option<i64>>;
    /// E-mail not (yet) sent, newest first; `None` for every marketplace's.
    async fn outbox(&self, marketplace_id: Option<i64>, limit: i64) -> Result<Vec<OutboxEmail>>;
    async fn email(&self, id: i64) -> Result<Option<OutboxEmail>>;
    async fn mark_email_sent(&self, id: i64) -> Result<()>;
    async fn mark_email_failed(&self, id: i64, error: &str) -> Result<()>;
}

/// An e-mail about to be sent (or kept in the outbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEmail {
    pub marketplace_id: Option<i64>,
    pub to: String,
    pub subject: String,
    pub body: String,
    /// For a message that must be sent once only, whatever happens to the work that writes it.
    pub once_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxEmail {
    pub id: i64,
    pub marketplace_id: Option<i64>,
    pub to_address: String,
    pub subject: String,
    pub body: String,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    pub sent_at: Option<i64>,
    pub last_error: Option<String>,
}
