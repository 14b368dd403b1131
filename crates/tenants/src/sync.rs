//! Company Sync (docs/company-sync.md): on the scheduler at the marketplace's interval, or at
//! once with *Sync now*, the `CompanySync` job refreshes each followed instance's snapshot (a
//! Get Hierarchy retrieval, run inside the job, which audits it) and copies the tenants no
//! company of the marketplace is linked to into Pending Companies, each with the companies it
//! looks like (the audit's possible matches). With *Create companies automatically* it starts
//! an import of the new ones at once. Creating and linking by hand start here too.
//!
//! Each marketplace has one schedule while Company Sync is on, none while it is off: a sync
//! never runs with it off, and *Sync now* joins a sync already queued or running. User Sync
//! (`crate::users`) has its own schedule, kept here with the settings.

use std::collections::HashMap;

use async_trait::async_trait;
use ferry_domain::PendingState;
use ferry_domain::{Progress, TenantStatus};
use ferry_jobs::{BackgroundJob, JobContext, JobError};
use ferry_storage::{
    NewHierarchyRun, NewPending, PendingCompany, PendingQuery, RunNow, RunStart, Selection, Store,
    StoreError, StoredTenant, SyncFound, SyncRun, SyncSettings, TenantAudit, TenantAuditQuery,
};
use serde::{Deserialize, Serialize};

use crate::Visible;
use crate::hierarchy::{HierarchyEnv, Reached, Steps, retrieve};
use crate::import::{ImportRefused, Started, start_import};
use crate::instances::{find, visible};
use crate::users::UserSync;

/// Tenants read and queued together.
const PAGE: i64 = 1_000;
/// Who the queue's own decisions are recorded as.
pub const ACTOR: &str = "Company Sync";

/// Why a sync, or a decision on a pending company, cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum SyncRefused {
    #[error("Company Sync is off: turn it on in Sync Settings first.")]
    Off,
    #[error("User Sync is off: turn it on in Sync Settings first.")]
    UsersOff,
    #[error("The marketplace has no Partner Center instance to follow.")]
    NoInstance,
    #[error("The instance is not one this marketplace may use.")]
    UnknownInstance,
    #[error("The interval must be 5 to 10,080 minutes (a week).")]
    Interval,
    #[error("Nothing selected is waiting to be created.")]
    NothingToCreate,
    #[error(transparent)]
    Import(#[from] ImportRefused),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The schedule of a marketplace's sync.
fn scope(marketplace_id: i64) -> String {
    marketplace_id.to_string()
}

/// Saves the settings and puts the marketplace's schedules (Company Sync, User Sync) in step
/// with them: on at their interval, or gone.
pub async fn save_settings(
    store: &dyn Store,
    marketplace: &ferry_storage::Marketplace,
    settings: &SyncSettings,
    by: &str,
) -> Result<(), SyncRefused> {
    if ![settings.interval_minutes, settings.user_interval_minutes]
        .iter()
        .all(|m| (5..=10_080).contains(m))
    {
        return Err(SyncRefused::Interval);
    }
    if let Some(id) = settings.instance_id
        && find(store, marketplace, id).await?.is_none()
    {
        return Err(SyncRefused::UnknownInstance);
    }
    store
        .set_sync_settings(marketplace.id, settings, by)
        .await?;
    let m = marketplace.id;
    let company_sync = CompanySync { marketplace_id: m };
    keep_schedule(
        store,
        m,
        &company_sync,
        settings.company_sync,
        settings.interval_minutes,
    )
    .await?;
    let user_sync = UserSync { marketplace_id: m };
    keep_schedule(
        store,
        m,
        &user_sync,
        settings.user_sync(),
        settings.user_interval_minutes,
    )
    .await?;
    Ok(())
}

/// The marketplace's schedule of `job`: every `minutes` while `on` (its first run one interval
/// from now), none otherwise.
async fn keep_schedule<J: BackgroundJob>(
    store: &dyn Store,
    marketplace_id: i64,
    job: &J,
    on: bool,
    minutes: i32,
) -> Result<(), StoreError> {
    let scope = scope(marketplace_id);
    if !on {
        return store.remove_schedule(J::KIND, &scope).await;
    }
    let every_ms = i64::from(minutes) * 60_000;
    let first_run_at = ferry_domain::Timestamp(ferry_storage::now().millis() + every_ms);
    store
        .set_schedule(&job.schedule(&scope, every_ms, first_run_at))
        .await
}

/// Runs the marketplace's sync now, or joins the one queued or running.
pub async fn sync_now(store: &dyn Store, marketplace_id: i64) -> Result<RunNow, SyncRefused> {
    if !store.sync_settings(marketplace_id).await?.company_sync {
        return Err(SyncRefused::Off);
    }
    store
        .run_schedule_now(CompanySync::KIND, &scope(marketplace_id))
        .await?
        .ok_or(SyncRefused::Off)
}

/// Creates the companies of the selected waiting tenants with the import's mapping (an import
/// run per instance, inviting their admins when the settings say so). Answers the runs.
pub async fn create_pending(
    store: &dyn Store,
    marketplace: &ferry_storage::Marketplace,
    ids: &[i64],
    actor: &str,
    responsible_user_id: Option<i64>,
) -> Result<Vec<Started>, SyncRefused> {
    let settings = store.sync_settings(marketplace.id).await?;
    let waiting = store.pending_for_creation(marketplace.id, ids).await?;
    create(
        store,
        marketplace,
        &settings,
        waiting,
        actor,
        responsible_user_id,
    )
    .await
}

async fn create(
    store: &dyn Store,
    marketplace: &ferry_storage::Marketplace,
    settings: &SyncSettings,
    waiting: Vec<PendingCompany>,
    actor: &str,
    responsible_user_id: Option<i64>,
) -> Result<Vec<Started>, SyncRefused> {
    let mut by_instance: HashMap<i64, Vec<String>> = HashMap::new();
    for pending in waiting {
        by_instance
            .entry(pending.instance_id)
            .or_default()
            .push(pending.tenant_id);
    }
    if by_instance.is_empty() {
        return Err(SyncRefused::NothingToCreate);
    }
    let mut runs = Vec::new();
    for (instance_id, tenants) in by_instance {
        let instance = find(store, marketplace, instance_id)
            .await?
            .ok_or(SyncRefused::UnknownInstance)?;
        let started = start_import(
            store,
            marketplace.id,
            &instance,
            &Selection::Tenants(tenants.clone()),
            actor,
            responsible_user_id,
            settings.company_sync && settings.invite_admins,
        )
        .await?;
        store
            .mark_pending_creating(marketplace.id, instance_id, &tenants, started.run.id, actor)
            .await?;
        runs.push(started);
    }
    Ok(runs)
}

/// The job of one sync of a marketplace.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompanySync {
    pub marketplace_id: i64,
}

/// How far a sync has come: which followed instance, and that instance's retrieval.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Synced {
    /// The instances done, in the order `followed` gives them.
    pub instances_done: usize,
    /// The retrieval of the instance in hand, once started.
    pub retrieval: Option<i64>,
    pub reached: Reached,
}

#[async_trait]
impl BackgroundJob for CompanySync {
    const KIND: &'static str = "sync.companies";
    type Checkpoint = Synced;
    type Env = HierarchyEnv;

    fn marketplace_id(&self) -> Option<i64> {
        Some(self.marketplace_id)
    }

    async fn run(&self, env: &HierarchyEnv, ctx: &JobContext<Synced>) -> Result<(), JobError> {
        let store = ctx.store();
        let settings = store.sync_settings(self.marketplace_id).await?;
        let Some(marketplace) = store.marketplace(self.marketplace_id).await? else {
            return Ok(());
        };
        // Turned off since it was queued: nothing is synced.
        if !settings.company_sync {
            return Ok(());
        }
        let run = store
            .start_sync_run(self.marketplace_id, ctx.job().id, ACTOR)
            .await?;
        let outcome = self.sync(env, ctx, &marketplace, &settings, &run).await;
        match outcome {
            Ok(()) => Ok(store.finish_sync_run(run.id, None).await?),
            Err(JobError::Failed(why)) => {
                store.finish_sync_run(run.id, Some(&why)).await?;
                Err(JobError::Failed(why))
            }
            Err(other) => Err(other),
        }
    }
}

impl CompanySync {
    async fn sync(
        &self,
        env: &HierarchyEnv,
        ctx: &JobContext<Synced>,
        marketplace: &ferry_storage::Marketplace,
        settings: &SyncSettings,
        run: &SyncRun,
    ) -> Result<(), JobError> {
        let store = &**ctx.store();
        let followed = followed(store, marketplace, settings).await?;
        if followed.is_empty() {
            return Err(JobError::Failed(SyncRefused::NoInstance.to_string()));
        }
        let mut at = ctx.resume_from().copied().unwrap_or_default();
        for (n, instance) in followed.iter().enumerate().skip(at.instances_done) {
            let summary = &instance.record.summary;
            let retrieval = match at.retrieval {
                Some(id) => Some(id),
                None => match store
                    .start_hierarchy_run(&NewHierarchyRun {
                        instance_id: summary.id,
                        scope: ferry_storage::RunScope::Mass,
                        tenant: None,
                        started_by: ACTOR,
                    })
                    .await?
                {
                    RunStart::Started(started) => Some(started.id),
                    // Another retrieval of the instance is under way: this sync works from the
                    // last snapshot, and that retrieval's own audit refreshes what follows.
                    RunStart::AlreadyRunning(_) => None,
                },
            };
            if let Some(retrieval) = retrieval {
                if at.retrieval.is_none() {
                    // Remembered before it is carried out: another attempt carries on with it.
                    at.retrieval = Some(retrieval);
                    let progress = Progress {
                        done: 0,
                        total: None,
                        message: Some(format!("{}: reading Partner Center", summary.name)),
                    };
                    ctx.checkpoint(&at, progress, None).await?;
                }
                let steps = SyncSteps { ctx, at };
                retrieve(&steps, env, retrieval, summary.marketplace_id, summary.id).await?;
            }
            let found = fill_queue(store, marketplace, settings, run, instance).await?;
            store.count_sync_run(run.id, &found).await?;
            at = Synced {
                instances_done: n + 1,
                retrieval: None,
                reached: Reached::Start,
            };
            let progress = Progress {
                done: i64::try_from(n + 1).unwrap_or(0),
                total: Some(i64::try_from(followed.len()).unwrap_or(0)),
                message: Some(format!(
                    "{}: {} tenants, {} created, {} found linked, {} gone",
                    summary.name, found.tenants, found.created, found.linked, found.gone
                )),
            };
            ctx.checkpoint(&at, progress, None).await?;
        }
        Ok(())
    }
}

/// The instances the sync follows: the one chosen, or every one the marketplace may use.
async fn followed(
    store: &dyn Store,
    marketplace: &ferry_storage::Marketplace,
    settings: &SyncSettings,
) -> Result<Vec<Visible>, StoreError> {
    let all = visible(store, marketplace).await?;
    Ok(match settings.instance_id {
        Some(id) => all
            .into_iter()
            .filter(|v| v.record.summary.id == id)
            .collect(),
        None => all,
    })
}

/// The retrieval's steps, kept in the sync's own checkpoint.
struct SyncSteps<'a> {
    ctx: &'a JobContext<Synced>,
    at: Synced,
}

#[async_trait]
impl Steps for SyncSteps<'_> {
    fn store(&self) -> &std::sync::Arc<dyn Store> {
        self.ctx.store()
    }

    fn job(&self) -> &ferry_storage::Job {
        self.ctx.job()
    }

    fn reached(&self) -> Reached {
        self.at.reached
    }

    async fn step(&self, reached: Reached, progress: Progress) -> Result<(), JobError> {
        let at = Synced { reached, ..self.at };
        self.ctx.checkpoint(&at, progress, None).await
    }
}

/// Copies the instance's tenants not imported (as its current audit says) into the
/// marketplace's queue, settles it, and creates the new ones' companies when the settings say
/// so.
pub async fn fill_queue(
    store: &dyn Store,
    marketplace: &ferry_storage::Marketplace,
    settings: &SyncSettings,
    run: &SyncRun,
    instance: &Visible,
) -> Result<SyncFound, JobError> {
    let instance_id = instance.record.summary.id;
    let Some(snapshot) = store.hierarchy_state(instance_id).await?.snapshot else {
        return Ok(SyncFound::default());
    };
    let mut found = SyncFound::default();
    let mut query = TenantAuditQuery {
        status: Some(TenantStatus::NotImported),
        // A tenant reseller's end customers are its own marketplace's to sync.
        tenant_reseller: Some(false),
        limit: PAGE,
        ..TenantAuditQuery::default()
    };
    loop {
        let audits = store
            .tenant_audits(marketplace.id, instance_id, &query)
            .await?;
        let Some(last) = audits.last() else { break };
        query.after = Some((last.name.to_lowercase(), last.tenant_id.clone()));
        let ids: Vec<String> = audits.iter().map(|a| a.tenant_id.clone()).collect();
        let tenants: HashMap<String, StoredTenant> = store
            .snapshot_tenants_of(snapshot, &ids)
            .await?
            .into_iter()
            .map(|t| (t.tenant_id.to_ascii_lowercase(), t))
            .collect();
        let rows: Vec<NewPending> = audits
            .into_iter()
            .map(|audit| {
                let tenant = tenants.get(&audit.tenant_id.to_ascii_lowercase());
                pending_of(audit, tenant)
            })
            .collect();
        found.tenants += i64::try_from(rows.len()).unwrap_or(0);
        found.new_pending += store
            .queue_pending(marketplace.id, instance_id, run.id, &rows)
            .await?;
        if i64::try_from(rows.len()).unwrap_or(0) < PAGE {
            break;
        }
    }
    let (linked, gone) = store
        .settle_pending(marketplace.id, instance_id, snapshot)
        .await?;
    found.linked = linked;
    found.gone = gone;
    if settings.create_automatically {
        let waiting = waiting_on(store, marketplace.id, instance_id).await?;
        if !waiting.is_empty() {
            match create(store, marketplace, settings, waiting, ACTOR, None).await {
                Ok(runs) => found.created += runs.iter().map(|r| r.taken).sum::<i64>(),
                Err(SyncRefused::Import(ImportRefused::AllHeld)) => {}
                Err(SyncRefused::Store(error)) => return Err(error.into()),
                Err(other) => return Err(JobError::Failed(other.to_string())),
            }
        }
    }
    Ok(found)
}

/// The instance's tenants waiting in the queue and still in Partner Center's list (dismissed
/// ones left out).
async fn waiting_on(
    store: &dyn Store,
    marketplace_id: i64,
    instance_id: i64,
) -> Result<Vec<PendingCompany>, StoreError> {
    let mut query = PendingQuery {
        state: Some(PendingState::Pending),
        limit: PAGE,
        ..PendingQuery::default()
    };
    let mut waiting = Vec::new();
    loop {
        let page = store.pending_companies(marketplace_id, &query).await?;
        let Some(last) = page.last() else { break };
        query.after = Some((last.name.to_lowercase(), last.id));
        let full = i64::try_from(page.len()).unwrap_or(0) == PAGE;
        // A tenant Partner Center no longer lists cannot be imported.
        waiting.extend(
            page.into_iter()
                .filter(|p| p.instance_id == instance_id && p.gone_at.is_none()),
        );
        if !full {
            break;
        }
    }
    Ok(waiting)
}

/// A tenant as the queue shows it: the audit's name, domain and possible matches, the country
/// and primary contact of its billing profile.
fn pending_of(audit: TenantAudit, tenant: Option<&StoredTenant>) -> NewPending {
    let billing = tenant.and_then(|t| t.billing.as_ref());
    let text = |key: &str| {
        billing
            .and_then(|b| b[key].as_str())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let contact_name = match (text("first_name"), text("last_name")) {
        (Some(first), Some(last)) => Some(format!("{first} {last}")),
        (first, last) => first.or(last),
    };
    NewPending {
        tenant_id: audit.tenant_id,
        name: audit.name,
        domain: audit.domain,
        country: text("country").map(|c| c.to_ascii_uppercase()),
        contact_name,
        contact_email: text("email").or_else(|| tenant.and_then(|t| t.email.clone())),
        suggestions: audit.possible,
    }
}
