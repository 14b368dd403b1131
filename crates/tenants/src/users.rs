//! User Sync (docs/user-sync.md): on the scheduler at the marketplace's User Sync interval, or
//! at once with *Sync now*, the `UserSync` job reads the users of every company linked to a
//! tenant — active ones, and those deleted at the source through the `UserState` filter (U1,
//! every page) — then those of every company linked to a Google Workspace customer
//! (`crate::google`), and writes them into the marketplace (`ferry_storage::UserSyncStore`):
//! created without an e-mail, renamed, suspended when gone, reactivated when they return if
//! User Sync suspended them. An App-only instance cannot list users: the run says so and skips
//! its tenants.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use ferry_domain::{Email, Progress};
use ferry_integrations::partner_center::model::{User, UserState};
use ferry_integrations::partner_center::{Client, PcError};
use ferry_jobs::{BackgroundJob, JobContext, JobError};
use ferry_storage::{RunNow, SourceCompany, SourceUser, Store, TenantCompany, UserSyncCounts};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::google;
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

/// Where a run carries on: after this company of Partner Center's, then of Google's, with
/// what it could not do so far.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct UsersSynced {
    pub after_company: i64,
    pub partner_center_done: bool,
    pub after_google_company: i64,
    pub companies: i64,
    pub notes: Vec<String>,
    pub counts: UserSyncCounts,
}

impl UsersSynced {
    /// Adds one page of companies' results and says where the run stands.
    async fn record(
        &mut self,
        ctx: &JobContext<UsersSynced>,
        results: Vec<Result<UserSyncCounts, String>>,
    ) -> Result<(), JobError> {
        let mut notes: BTreeSet<String> = std::mem::take(&mut self.notes).into_iter().collect();
        for result in results {
            self.companies += 1;
            match result {
                Ok(counts) => self.counts.add(counts),
                Err(why) => {
                    notes.insert(why);
                }
            }
        }
        self.notes = notes.into_iter().collect();
        let c = self.counts;
        let progress = Progress {
            done: self.companies,
            total: None,
            message: Some(format!(
                "{} companies: {} created, {} updated, {} suspended, {} conflicts",
                self.companies, c.created, c.updated, c.suspended, c.conflicts
            )),
        };
        ctx.checkpoint(self, progress, None).await?;
        Ok(())
    }

    fn note(&mut self, why: String) {
        if !self.notes.contains(&why) {
            self.notes.push(why);
        }
    }
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
        if !settings.user_sync() {
            return Ok(());
        }
        let run = store
            .start_user_sync_run(self.marketplace_id, ctx.job().id)
            .await?;
        let mut at = ctx.resume_from().cloned().unwrap_or_default();
        if settings.user_sync_partner_center && !at.partner_center_done {
            self.sync_partner_center(env, ctx, &marketplace, run.id, &mut at)
                .await?;
        }
        at.partner_center_done = true;
        if settings.user_sync_google {
            self.sync_google(env, ctx, run.id, &mut at).await?;
        }
        Ok(store.finish_user_sync_run(run.id, &at.notes, None).await?)
    }
}

impl UserSync {
    async fn sync_partner_center(
        &self,
        env: &HierarchyEnv,
        ctx: &JobContext<UsersSynced>,
        marketplace: &ferry_storage::Marketplace,
        run_id: i64,
        at: &mut UsersSynced,
    ) -> Result<(), JobError> {
        let store = ctx.store();
        // The instances' clients; an App-only one cannot list users.
        let mut clients: HashMap<i64, Result<std::sync::Arc<Client>, String>> = HashMap::new();
        for instance in visible(&**store, marketplace).await? {
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
        loop {
            let page = store
                .tenant_companies(self.marketplace_id, at.after_company, COMPANY_PAGE)
                .await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            at.after_company = last.company_id;
            let results = futures_util::stream::iter(page)
                .map(|link| {
                    let client = clients.get(&link.instance_id).cloned();
                    let store = store.clone();
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
            at.record(ctx, results).await?;
        }
    }

    async fn sync_google(
        &self,
        env: &HierarchyEnv,
        ctx: &JobContext<UsersSynced>,
        run_id: i64,
        at: &mut UsersSynced,
    ) -> Result<(), JobError> {
        let store = ctx.store();
        let Some(connection) = store.google_connection(self.marketplace_id).await? else {
            at.note(
                "User Sync from Google Workspace is on, but the marketplace has no Google \
                 connection: connect one in Sync Settings."
                    .into(),
            );
            return Ok(());
        };
        let client = match env.google.get(&env.sealer, &connection) {
            Ok(client) => client,
            Err(why) => {
                at.note(format!("The Google connection cannot be used: {why}"));
                return Ok(());
            }
        };
        loop {
            let page = store
                .google_companies(self.marketplace_id, at.after_google_company, COMPANY_PAGE)
                .await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            at.after_google_company = last.company_id;
            let results = futures_util::stream::iter(page)
                .map(|link| {
                    let (store, client) = (store.clone(), client.clone());
                    let m = self.marketplace_id;
                    async move { google::sync_company(&*store, m, run_id, &client, &link).await }
                })
                .buffer_unordered(AT_ONCE)
                .collect()
                .await;
            at.record(ctx, results).await?;
        }
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
    let company = SourceCompany {
        company_id: link.company_id,
        tenant_id: &link.tenant_id,
        users: &users,
        complete: true,
    };
    apply(store, marketplace_id, run_id, &company).await
}

/// Writes one company's users. Another run writing the same new users at the same moment
/// makes the write meet their keys: it is tried again, now seeing them, instead of failing.
pub(crate) async fn apply(
    store: &dyn Store,
    marketplace_id: i64,
    run_id: i64,
    company: &SourceCompany<'_>,
) -> Result<UserSyncCounts, String> {
    let mut tries = 1;
    loop {
        match store
            .apply_source_users(marketplace_id, run_id, company)
            .await
        {
            Err(error) if error.is_unique_violation() && tries < 3 => tries += 1,
            written => return written.map_err(|e| e.to_string()),
        }
    }
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
