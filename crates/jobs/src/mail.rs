//! E-mail leaves through the outbox: every message is stored first, then a job delivers it by
//! SMTP when a server is configured. Without one, messages stay in the outbox for a Marketplace
//! Manager to read.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_integrations::mail::SmtpMailer;
use ferry_storage::{NewEmail, NewJob, Store, StoreError};
use serde_json::json;

use crate::{JobContext, JobError, JobHandler};

/// Stores a message in the outbox and queues its delivery.
pub async fn send_email(store: &dyn Store, email: &NewEmail) -> Result<i64, StoreError> {
    let id = store.queue_email(email).await?;
    store
        .enqueue_job(&NewJob {
            marketplace_id: email.marketplace_id,
            kind: DeliverEmail::KIND.into(),
            payload: json!({ "email_id": id }),
            max_attempts: 6,
            run_at: None,
        })
        .await?;
    Ok(id)
}

/// Delivers one outbox message. Payload: `{"email_id": N}`.
pub struct DeliverEmail {
    /// `None` when no SMTP server is configured: the message stays in the outbox.
    pub mailer: Option<Arc<SmtpMailer>>,
}

impl DeliverEmail {
    pub const KIND: &'static str = "deliver_email";
}

#[async_trait]
impl JobHandler for DeliverEmail {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    async fn run(&self, ctx: &JobContext) -> Result<(), JobError> {
        let Some(mailer) = &self.mailer else {
            return Ok(());
        };
        let id = ctx.payload()["email_id"]
            .as_i64()
            .ok_or_else(|| JobError::Failed("the payload has no email_id".into()))?;
        let store = ctx.store();
        let Some(email) = store.email(id).await? else {
            return Err(JobError::Failed(format!(
                "e-mail {id} is no longer in the outbox"
            )));
        };
        if email.sent_at.is_some() {
            return Ok(());
        }
        match mailer
            .send(&email.to_address, &email.subject, &email.body)
            .await
        {
            Ok(()) => {
                store.mark_email_sent(id).await?;
                Ok(())
            }
            Err(error) => {
                // Kept on the message, so the Outbox page says why it is still there.
                store.mark_email_failed(id, &error.to_string()).await?;
                Err(JobError::Retry(error.to_string()))
            }
        }
    }
}
