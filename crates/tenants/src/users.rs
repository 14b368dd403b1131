//! User Sync from Partner Center (docs/user-sync.md): on the scheduler at the marketplace's
//! User Sync interval, or at once with *Sync now*, the `UserSync` job reads the users of every
//! company linked to a tenant — active ones, and those deleted at the source through the
//! `UserState` filter (U1, every page) — and writes them into the marketplace
//! (`ferry_storage::UserSyncStore`): created without an e-mail, renamed, suspended when gone,
//! reactivated when they return if User Sync suspended them. An App-only instance cannot list
//! users: the run says so and skips its tenants.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use ferry_domain::{Email, Progress};
use ferry_integrations::partner_center::model::{User, UserState};
use ferry_integrations::partner_center::{Client, PcError};
use ferry_jobs::{BackgroundJob, JobContext, JobError};
use ferry_storage::{RunNow, SourceCompany, SourceUser, Store, TenantCompany, UserSyncCounts};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::hierarchy::HierarchyEnv;
use crate::instances::visible;
use crate::sync::SyncRefused;

/// Companies read at once, and synced at once among them.
const COMPANY_PAGE: i64 = 100;
const AT_ONCE: usize = 8;

/// The job of one User Sync of a marketplace.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserSync {
    pub marketplace_id: i64,
}

/// Where a run carries on: after this company, with what it could not do so far.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UsersSynced {
    pub after_company: i64,
    pub companies: i64,
    pub notes: Vec<String>,
}

/// Runs the marketplace's User Sync now, or joins the one queued or running.
pub async fn sync_users_now(store: &dyn Store, marketplace_id: i64) -> Result<RunNow, SyncRefused> {
    if !store.sync_settings(marketplace_id).await?.user_sync() {
        return Err(SyncRefused::UsersOff);
    }
    store
        .run_schedule_now(UserSync::KIND, &marketplace_id.to_string())
        .await?
        .ok_or(SyncRefused::UsersOff)
}

#[async_trait]
impl BackgroundJob for UserSync {
    const KIND: &'static str = "sync.users";
    type Checkpoint = UsersSynced;
    type Env = HierarchyEnv;

    fn marketplace_id(&self) -> Option<i64> {
        Some(self.marketplace_id)
    }

    async fn run(&self, env: &HierarchyEnv, ctx: &JobContext<UsersSynced>) -> Result<(), JobError> {
        let store = ctx.store();
        let settings = store.sync_settings(self.marketplace_id).await?;
        let Some(marketplace) = store.marketplace(self.marketplace_id).await? else {
            return Ok(());
        };
        if !settings.user_sync_partner_center {
            return Ok(());
        }
        let run = store
            .start_user_sync_run(self.marketplace_id, ctx.job().id)
            .await?;
        // The instances' clients; an App-only one cannot list users.
        let mut clients: HashMap<i64, Result<std::sync::Arc<Client>, String>> = HashMap::new();
        for instance in visible(&**store, &marketplace).await? {
            let summary = &instance.record.summary;
            let client = if summary.has_refresh_token {
                env.clients
                    .get(store, &env.sealer, &instance.record)
                    .map_err(|e| format!("{}: {e}", summary.name))
            } else {
                Err(format!(
                    "{}: the instance uses the App-only model, and Partner Center lists users \
                     only to App+User; its companies' users were not synced.",
                    summary.name
                ))
            };
            clients.insert(summary.id, client);
        }
        let mut at = ctx.resume_from().cloned().unwrap_or_default();
        let mut notes: BTreeSet<String> = at.notes.iter().cloned().collect();
        let mut total = UserSyncCounts::default();
        loop {
            let page = store
                .tenant_companies(self.marketplace_id, at.after_company, COMPANY_PAGE)
                .await?;
            let Some(last) = page.last() else { break };
            at.after_company = last.company_id;
            let results: Vec<Result<UserSyncCounts, String>> = futures_util::stream::iter(page)
                .map(|link| {
                    let client = clients.get(&link.instance_id).cloned();
                    let store = store.clone();
                    let run_id = run.id;
                    let m = self.marketplace_id;
                    async move {
                        match client {
                            Some(Ok(client)) => {
                                sync_company(&*store, m, run_id, &client, &link).await
                            }
                            Some(Err(why)) => Err(why),
                            // An instance this marketplace no longer uses.
                            None => Ok(UserSyncCounts::default()),
                        }
                    }
                })
                .buffer_unordered(AT_ONCE)
                .collect()
                .await;
            for result in results {
                at.companies += 1;
                match result {
                    Ok(counts) => total.add(counts),
                    Err(why) => {
                        notes.insert(why);
                    }
                }
            }
            at.notes = notes.iter().cloned().collect();
            let progress = Progress {
                done: at.companies,
                total: None,
                message: Some(format!(
                    "{} companies: {} created, {} updated, {} suspended, {} conflicts",
                    at.companies, total.created, total.updated, total.suspended, total.conflicts
                )),
            };
            ctx.checkpoint(&at, progress, None).await?;
        }
        Ok(store.finish_user_sync_run(run.id, &at.notes, None).await?)
    }
}

/// One company's users from its tenant: every page of the active ones and of those deleted.
async fn sync_company(
    store: &dyn Store,
    marketplace_id: i64,
    run_id: i64,
    client: &Client,
    link: &TenantCompany,
) -> Result<UserSyncCounts, String> {
    let fetched = async {
        let mut users = Vec::new();
        for mut pages in [
            client.users(&link.tenant_id),
            client.inactive_users(&link.tenant_id),
        ] {
            while let Some(page) = pages.next_page().await? {
                users.extend(page);
            }
        }
        Ok::<_, PcError>(users)
    }
    .await;
    let listed = match fetched {
        Ok(users) => users,
        Err(error) if error.is_not_found() => {
            return Err(format!(
                "Tenant {} is not in Partner Center's list: its company's users were not synced.",
                link.tenant_id
            ));
        }
        Err(error) => {
            tracing::warn!(%error, tenant = %link.tenant_id, "users not read");
            return Err(format!(
                "The users of tenant {} could not be read from Partner Center.",
                link.tenant_id
            ));
        }
    };
    let users: Vec<SourceUser> = listed.iter().filter_map(source_user).collect();
    store
        .apply_source_users(
            marketplace_id,
            run_id,
            &SourceCompany {
                company_id: link.company_id,
                tenant_id: &link.tenant_id,
                users: &users,
                complete: true,
            },
        )
        .await
        .map_err(|e| e.to_string())
}

/// A Partner Center user as User Sync writes them; one without a usable sign-in name is left
/// out.
fn source_user(user: &User) -> Option<SourceUser> {
    let email = Email::parse(user.user_principal_name.as_deref()?).ok()?;
    Some(SourceUser {
        source_id: user.id.to_ascii_lowercase(),
        email,
        first_name: user.first_name.clone().filter(|n| !n.trim().is_empty()),
        last_name: user.last_name.clone().filter(|n| !n.trim().is_empty()),
        active: !matches!(user.state, Some(UserState::Inactive))
            && user.soft_deletion_time.is_none(),
    })
}
