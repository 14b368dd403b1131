//! E-mailed one-time links: invitations (activate an account) and password resets.

use async_trait::async_trait;
use ferry_domain::{Timestamp, UserStatus};
use ferry_jobs::{BackgroundJob, JobContext, JobError};
use ferry_storage::{LinkPurpose, Marketplace, NewEmail, Store, StoreError, User};
use serde::{Deserialize, Serialize};

use crate::credentials::{random_secret, secret_hash};

const INVITATION_LIFETIME_MS: i64 = 7 * 24 * 60 * 60 * 1000;
const RESET_LIFETIME_MS: i64 = 2 * 60 * 60 * 1000;

#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    #[error("{0} is a managed user: managed users cannot sign in and get no e-mail")]
    ManagedUser(String),
    #[error("{0} is suspended; reactivate the user first")]
    Suspended(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Sends a user an invitation to choose a password, and marks them invited. With a `once_key`,
/// a second call with the same key sends nothing (see `NewEmail::once_key`).
pub async fn invite_user(
    store: &dyn Store,
    public_url: &str,
    marketplace: &Marketplace,
    user: &User,
    once_key: Option<String>,
) -> Result<(), InviteError> {
    let greeting = format!("{} has an account for you.", marketplace.name);
    let subject = format!("Your account at {}", marketplace.name);
    send_activation(
        store,
        public_url,
        marketplace,
        user,
        once_key,
        subject,
        greeting,
    )
    .await
}

/// The registration reminder: the invitation again, saying it is a reminder.
pub(crate) async fn remind_user(
    store: &dyn Store,
    public_url: &str,
    marketplace: &Marketplace,
    user: &User,
    once_key: String,
) -> Result<(), InviteError> {
    let greeting = format!(
        "{} created an account for you a few days ago, and it is waiting.",
        marketplace.name
    );
    let subject = format!("Reminder: your account at {}", marketplace.name);
    send_activation(
        store,
        public_url,
        marketplace,
        user,
        Some(once_key),
        subject,
        greeting,
    )
    .await
}

/// An e-mail with a link to choose a password, which activates the account; a user just
/// created becomes invited.
async fn send_activation(
    store: &dyn Store,
    public_url: &str,
    marketplace: &Marketplace,
    user: &User,
    once_key: Option<String>,
    subject: String,
    greeting: String,
) -> Result<(), InviteError> {
    if !user.allow_login {
        return Err(InviteError::ManagedUser(user.email.to_string()));
    }
    if user.status == UserStatus::Suspended {
        return Err(InviteError::Suspended(user.email.to_string()));
    }
    let name = user.display_name();
    email_link(
        store,
        user,
        LinkPurpose::Invitation,
        ferry_storage::now(),
        |token| NewEmail {
            marketplace_id: Some(marketplace.id),
            to: user.email.to_string(),
            subject,
            body: format!(
                "Hello {name},\n\n{greeting} Choose your password to sign in (the link works for 7 \
             days):\n\n{public_url}/invitations/{token}\n\nIf you did not expect this e-mail, you \
             can ignore it.\n",
            ),
            once_key,
        },
    )
    .await?;
    if user.status == UserStatus::Created {
        store
            .set_user_status(marketplace.id, user.id, UserStatus::Invited)
            .await?;
    }
    Ok(())
}

/// Sends a user a link to choose a new password.
pub async fn send_password_reset(
    store: &dyn Store,
    public_url: &str,
    marketplace: &Marketplace,
    user: &User,
    now: Timestamp,
) -> Result<(), StoreError> {
    let name = user.display_name();
    email_link(store, user, LinkPurpose::PasswordReset, now, |token| NewEmail {
        marketplace_id: Some(marketplace.id),
        to: user.email.to_string(),
        subject: format!("Reset your password at {}", marketplace.name),
        body: format!(
            "Hello {name},\n\nSomeone asked to reset the password of your account at {marketplace}. \
             Choose a new one here (the link works for 2 hours):\n\n{public_url}/reset-password/{token}\n\n\
             If it was not you, ignore this e-mail: your password stays as it is.\n",
            marketplace = marketplace.name,
        ),
        once_key: None,
    })
    .await
}

/// Stores a one-time link for `user` and e-mails it; `write` writes the message around the
/// link's token.
async fn email_link(
    store: &dyn Store,
    user: &User,
    purpose: LinkPurpose,
    now: Timestamp,
    write: impl FnOnce(&str) -> NewEmail,
) -> Result<(), StoreError> {
    let lifetime = match purpose {
        LinkPurpose::Invitation => INVITATION_LIFETIME_MS,
        LinkPurpose::PasswordReset => RESET_LIFETIME_MS,
    };
    let token = random_secret();
    store
        .create_user_link(
            &secret_hash(&token),
            user.id,
            purpose,
            now.plus_millis(lifetime),
        )
        .await?;
    // A message not stored because its key was (a job run again) leaves this link unsent and
    // unused: only its hash is kept, and it expires.
    ferry_jobs::send_email(store, &write(&token)).await?;
    Ok(())
}

/// The key of the invitation a bulk-invitation job sends a user.
pub fn invitation_key(job_id: i64, user_id: i64) -> String {
    format!("{}:{job_id}:{user_id}", InviteUsers::KIND)
}

/// Invites many users in the background. Managed and suspended users, and users no longer in
/// the marketplace, are passed over and counted in the final message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InviteUsers {
    pub marketplace_id: i64,
    pub user_ids: Vec<i64>,
}

/// How far the job has come through its list.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Invited {
    next: usize,
    passed_over: i64,
}

#[async_trait]
impl BackgroundJob for InviteUsers {
    const KIND: &'static str = "invite_users";
    type Checkpoint = Invited;
    /// The public URL the invitation links start with.
    type Env = String;

    fn marketplace_id(&self) -> Option<i64> {
        Some(self.marketplace_id)
    }

    async fn run(&self, public_url: &String, ctx: &JobContext<Invited>) -> Result<(), JobError> {
        let store = ctx.store().as_ref();
        let marketplace = store
            .marketplace(self.marketplace_id)
            .await?
            .ok_or_else(|| JobError::Failed("the marketplace no longer exists".into()))?;
        let Invited {
            next: first,
            mut passed_over,
        } = ctx.resume_from().copied().unwrap_or_default();
        let total = i64::try_from(self.user_ids.len()).unwrap_or(i64::MAX);
        for (index, id) in self.user_ids.iter().enumerate().skip(first) {
            match store.user(self.marketplace_id, *id).await? {
                // Signed up already: the invitation was accepted.
                Some(user) if user.status == UserStatus::Active => passed_over += 1,
                // Keyed by job and user: a run that follows one that died before its checkpoint
                // does not invite the same user twice.
                Some(user) => match invite_user(
                    store,
                    public_url,
                    &marketplace,
                    &user,
                    Some(invitation_key(ctx.job().id, *id)),
                )
                .await
                {
                    Ok(()) => {}
                    Err(InviteError::Store(e)) => return Err(e.into()),
                    Err(_) => passed_over += 1,
                },
                None => passed_over += 1,
            }
            let done = i64::try_from(index + 1).unwrap_or(i64::MAX);
            let progress = ferry_domain::Progress {
                done,
                total: Some(total),
                message: Some(format!(
                    "{} invited, {passed_over} passed over",
                    done - passed_over
                )),
            };
            let at = Invited {
                next: index + 1,
                passed_over,
            };
            ctx.checkpoint(&at, progress, None).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ferry_domain::{Email, MarketplaceKind, NewUser, Origin, Slug};
    use ferry_jobs::{BackgroundJob, DeliverEmail, Worker, WorkerConfig};
    use ferry_storage::{NewMarketplace, Store};

    use super::{InviteUsers, invitation_key, invite_user};

    const PUBLIC_URL: &str = "https://ferry.example";

    async fn open(url: &str) -> Arc<dyn Store> {
        let store = ferry_storage::connect(url).await.expect("connect");
        store.migrate().await.expect("migrate");
        store
    }

    ferry_storage::on_both_backends!(open =>
        a_job_run_again_after_dying_before_its_checkpoint_invites_each_user_once,
    );

    async fn a_job_run_again_after_dying_before_its_checkpoint_invites_each_user_once(
        store: Arc<dyn Store>,
    ) {
        let marketplace = store
            .create_marketplace(&NewMarketplace {
                slug: Slug::parse("acme").expect("slug"),
                name: "Acme".into(),
                kind: MarketplaceKind::Distributor,
                parent_id: None,
            })
            .await
            .expect("marketplace");
        let mut user_ids = Vec::new();
        for email in ["ann@acme.test", "bob@acme.test"] {
            let new = NewUser::with_email(Email::parse(email).expect("email"), Origin::Manual);
            user_ids.push(store.create_user(marketplace.id, &new).await.expect("user"));
        }
        let job = InviteUsers {
            marketplace_id: marketplace.id,
            user_ids: user_ids.clone(),
        };
        let job_id = store.enqueue_job(&job.new_job()).await.expect("enqueue");
        // A first run invited Ann and died before its checkpoint recorded it.
        let ann = store
            .user(marketplace.id, user_ids[0])
            .await
            .expect("read")
            .expect("ann");
        invite_user(
            store.as_ref(),
            PUBLIC_URL,
            &marketplace,
            &ann,
            Some(invitation_key(job_id, ann.id)),
        )
        .await
        .expect("first run");

        // The next run starts from the job's last checkpoint: none.
        let worker = Worker::new("test".into(), store.clone(), WorkerConfig::default())
            .with_job::<InviteUsers>(PUBLIC_URL.to_owned());
        assert!(worker.run_next().await.expect("run"));

        let outbox = store
            .outbox(Some(marketplace.id), 100)
            .await
            .expect("outbox");
        let mut recipients: Vec<&str> = outbox.iter().map(|e| e.to_address.as_str()).collect();
        recipients.sort_unstable();
        assert_eq!(recipients, ["ann@acme.test", "bob@acme.test"]);
        let deliveries = store
            .jobs(Some(marketplace.id), 100)
            .await
            .expect("jobs")
            .into_iter()
            .filter(|job| job.kind == DeliverEmail::KIND)
            .count();
        assert_eq!(deliveries, 2, "each message has its delivery, once");
    }
}
