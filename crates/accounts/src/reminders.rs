//! Registration reminders (docs/user-sync.md): with the marketplace's setting on, a user a
//! migration created (dataset, import, sync) who has not registered gets one activation e-mail
//! two days after they were created — or after the setting was turned on, whichever is later,
//! so turning it on does not remind everyone at once. Once, whatever the number of processes
//! and restarts: the e-mail is keyed by user (`reminder:{user}`) and the user marked reminded.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use async_trait::async_trait;
use ferry_domain::{Progress, Timestamp};
use ferry_jobs::{BackgroundJob, JobContext, JobError};
use ferry_storage::{Marketplace, Store, StoreError};
use serde::{Deserialize, Serialize};

use crate::invitations::{InviteError, remind_user};

/// Users reminded per page.
const PAGE: i64 = 200;

/// Sends every registration reminder due at `now`; answers how many went out.
pub async fn send_due_reminders(
    store: &dyn Store,
    public_url: &str,
    now: Timestamp,
) -> Result<i64, StoreError> {
    let mut marketplaces: HashMap<i64, Option<Marketplace>> = HashMap::new();
    let (mut after, mut sent) = (0, 0);
    loop {
        let due = store.due_reminders(now.millis(), after, PAGE).await?;
        let Some(&(_, last)) = due.last() else {
            return Ok(sent);
        };
        after = last;
        for (marketplace_id, user_id) in due {
            if let Entry::Vacant(slot) = marketplaces.entry(marketplace_id) {
                slot.insert(store.marketplace(marketplace_id).await?);
            }
            let (Some(Some(marketplace)), Some(user)) = (
                marketplaces.get(&marketplace_id),
                store.user(marketplace_id, user_id).await?,
            ) else {
                continue;
            };
            let key = format!("reminder:{user_id}");
            match remind_user(store, public_url, marketplace, &user, key).await {
                Ok(()) => sent += 1,
                Err(InviteError::Store(error)) => return Err(error),
                // Suspended or managed meanwhile: nothing to remind.
                Err(_) => {}
            }
            store.mark_reminded(user_id, now.millis()).await?;
        }
    }
}

/// The periodic job that sends the reminders due.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SendReminders {}

#[async_trait]
impl BackgroundJob for SendReminders {
    const KIND: &'static str = "reminders.send";
    type Checkpoint = ();
    /// The public URL the activation links start with.
    type Env = String;

    async fn run(&self, public_url: &String, ctx: &JobContext<()>) -> Result<(), JobError> {
        let sent = send_due_reminders(&**ctx.store(), public_url, ferry_storage::now()).await?;
        let progress = Progress {
            done: sent,
            total: Some(sent),
            message: Some(format!("{sent} registration reminders sent")),
        };
        ctx.checkpoint(&(), progress, None).await
    }
}
