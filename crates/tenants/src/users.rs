//! User Sync (docs/user-sync.md): on the scheduler at the marketplace's User Sync interval, or
//! at once with *Sync now*, the `UserSync` job reads the users of every company linked to a
//! tenant — active ones, and those deleted at the source through the `UserState` filter (U1,
//! every page) — then those of every company linked to a Google Workspace customer
//! (`crate::google`), and writes them into the marketplace (`ferry_storage::UserSyncStore`):
//! created without an e-mail, renamed, suspended when gone, reactivated when they return if
//! User Sync suspended them. An App-only instance cannot list users: the run says so and skips
//! its tenants.

use std::collections::HashMap;

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

/// Companies read from the store at once; of them, read from their source at once; and the
/// most written in one transaction.
const COMPANY_PAGE: i64 = 100;
const AT_ONCE: usize = 8;
const WRITE_AT_ONCE: usize = 25;

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
    /// Adds one page of companies and says where the run stands.
    async fn record(&mut self, ctx: &JobContext<UsersSynced>, page: Page) -> Result<(), JobError> {
        self.companies += page.companies;
        self.counts.add(page.counts);
        for why in page.notes {
            self.note(why);
        }
        self.notes.sort();
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
            let read = |link: TenantCompany| {
                let client = clients.get(&link.instance_id).cloned();
                async move {
                    match client {
                        Some(Ok(client)) => read_tenant(&client, &link).await.map(Some),
                        Some(Err(why)) => Err(why),
                        // An instance this marketplace no longer uses.
                        None => Ok(None),
                    }
                }
            };
            let page = read_and_write(&**store, self.marketplace_id, run_id, page, read).await;
            at.record(ctx, page).await?;
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
            let read = |link| {
                let client = client.clone();
                async move { google::read_customer(&client, &link).await.map(Some) }
            };
            let page = read_and_write(&**store, self.marketplace_id, run_id, page, read).await;
            at.record(ctx, page).await?;
        }
    }
}

/// One company's users from its tenant: every page of the active ones and of those deleted.
async fn read_tenant(client: &Client, link: &TenantCompany) -> Result<Listed, String> {
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
    Ok(Listed {
        company_id: link.company_id,
        source: link.tenant_id.to_ascii_lowercase(),
        users: listed.iter().filter_map(source_user).collect(),
    })
}

/// One company's users as their source listed them, waiting to be written.
pub(crate) struct Listed {
    pub company_id: i64,
    /// Where they come from: the tenant, or the Workspace customer (`google:…`).
    pub source: String,
    pub users: Vec<SourceUser>,
}

/// What one page of companies came to.
#[derive(Default)]
struct Page {
    companies: i64,
    counts: UserSyncCounts,
    notes: Vec<String>,
}

/// Reads a page of companies' users, `AT_ONCE` companies at a time, while what was read is
/// written as it arrives: as many companies per transaction as have arrived since the last
/// one, up to `WRITE_AT_ONCE`. So the reads never wait for the writes, and a slow writer
/// writes bigger transactions rather than fall behind.
async fn read_and_write<L, R, F>(
    store: &dyn Store,
    marketplace_id: i64,
    run_id: i64,
    links: Vec<L>,
    read: R,
) -> Page
where
    R: Fn(L) -> F,
    F: Future<Output = Result<Option<Listed>, String>>,
{
    let companies = i64::try_from(links.len()).unwrap_or(i64::MAX);
    let (sender, mut arrived) = tokio::sync::mpsc::channel::<Listed>(WRITE_AT_ONCE * 2);
    let reading = async move {
        let mut notes = Vec::new();
        let mut read = futures_util::stream::iter(links)
            .map(read)
            .buffer_unordered(AT_ONCE);
        while let Some(result) = read.next().await {
            match result {
                Ok(Some(listed)) => {
                    if sender.send(listed).await.is_err() {
                        break;
                    }
                }
                Ok(None) => {}
                Err(why) => notes.push(why),
            }
        }
        notes
    };
    let writing = async {
        let mut written = Page::default();
        while let Some(first) = arrived.recv().await {
            let mut batch = vec![first];
            while batch.len() < WRITE_AT_ONCE
                && let Ok(next) = arrived.try_recv()
            {
                batch.push(next);
            }
            match write(store, marketplace_id, run_id, &batch).await {
                Ok(counts) => written.counts.add(counts),
                Err(why) => written.notes.push(why),
            }
        }
        written
    };
    let (notes, mut page) = tokio::join!(reading, writing);
    page.companies = companies;
    page.notes.extend(notes);
    page
}

/// Writes some companies' users in one transaction. Another run writing the same new users at
/// the same moment makes the write meet their keys: it is tried again, now seeing them,
/// instead of failing.
async fn write(
    store: &dyn Store,
    marketplace_id: i64,
    run_id: i64,
    batch: &[Listed],
) -> Result<UserSyncCounts, String> {
    let companies: Vec<SourceCompany<'_>> = batch
        .iter()
        .map(|listed| SourceCompany {
            company_id: listed.company_id,
            tenant_id: &listed.source,
            users: &listed.users,
            complete: true,
        })
        .collect();
    let mut tries = 1;
    loop {
        match store
            .apply_source_users(marketplace_id, run_id, &companies)
            .await
        {
            Err(error) if error.is_unique_violation() && tries < 3 => tries += 1,
            written => {
                return written.map_err(|e| {
                    tracing::warn!(error = %e, "synced users not written");
                    format!(
                        "The users of {} companies could not be written.",
                        batch.len()
                    )
                });
            }
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
