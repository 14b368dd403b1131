//! E-mail leaves through the outbox: every message is stored first, then a job delivers it by
//! SMTP when a server is configured. Without one, messages stay in the outbox for a Marketplace
//! Manager to read.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_integrations::mail::SmtpMailer;
use ferry_storage::{NewEmail, Store, StoreError};
use serde::{Deserialize, Serialize};

use crate::{BackgroundJob, JobContext, JobError};

/// Stores a message in the outbox with the job that delivers it. Returns `None` when a message
/// with the same `once_key` was stored before: it is not sent again.
pub async fn send_email(store: &dyn Store, email: &NewEmail) -> Result<Option<i64>, StoreError> {
    let marketplace_id = email.marketplace_id;
    let delivery = move |email_id| {
        DeliverEmail {
            email_id,
            marketplace_id,
        }
        .new_job()
    };
    store.queue_email(email, &delivery).await
}

/// Delivers one outbox message.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeliverEmail {
    pub email_id: i64,
    #[serde(default)]
    pub marketplace_id: Option<i64>,
}

#[async_trait]
impl BackgroundJob for DeliverEmail {
    const KIND: &'static str = "deliver_email";
    const MAX_ATTEMPTS: i32 = 6;
    type Checkpoint = ();
    /// `None` when no SMTP server is configured: the message stays in the outbox.
    type Env = Option<Arc<SmtpMailer>>;

    fn marketplace_id(&self) -> Option<i64> {
        self.marketplace_id
    }

    async fn run(
        &self,
        mailer: &Option<Arc<SmtpMailer>>,
        ctx: &JobContext<()>,
    ) -> Result<(), JobError> {
        let Some(mailer) = mailer else {
            return Ok(());
        };
        let id = self.email_id;
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
                metrics::counter!("ferry_emails_total", "outcome" => "sent").increment(1);
                store.mark_email_sent(id).await?;
                Ok(())
            }
            Err(error) => {
                metrics::counter!("ferry_emails_total", "outcome" => "failed").increment(1);
                // Kept on the message, so the Outbox page says why it is still there.
                store.mark_email_failed(id, &error.to_string()).await?;
                Err(JobError::Retry(error.to_string()))
            }
        }
    }
}
