//! Get Hierarchy (docs/import-customers.md): an instance's indirect resellers, customer tenants
//! and their subscriptions, read from Partner Center into a snapshot (`ferry_storage::hierarchy`)
//! by a background job, following the specification's Tier-2 algorithm (§4.7): the resellers
//! (R1), every customer (C1), each reseller's customers (R3, so a customer with no
//! subscription is still under its reseller), then each customer in full (C2: billing profile,
//! domains, its reseller) with its subscriptions (S1), each carrying its reseller of record.
//!
//! The stored rows are the checkpoint: a worker that dies is followed by one that lists the
//! customers again if it had not finished that, and fetches only the tenants whose details are
//! not stored yet.

use async_trait::async_trait;
use ferry_domain::Progress;
use ferry_integrations::partner_center::model::{Customer, PartnerRelationship, Subscription};
use ferry_integrations::partner_center::{Client, CustomerFilter, PcError};
use ferry_jobs::{BackgroundJob, JobContext, JobError};
use ferry_storage::seal::Sealer;
use ferry_storage::{
    HierarchyRun, NewHierarchyRun, RunScope, RunStart, RunState, SnapshotReseller,
    SnapshotSubscription, SnapshotTenant, Store, StoreError, TenantDetails,
};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::audit_everywhere;
use crate::{Clients, Visible};

/// Tenants whose details are fetched and stored together, and fetched at once.
const DETAILS_BATCH: i64 = 256;
const DETAILS_AT_ONCE: usize = 32;

/// What an App-only instance cannot read, said on the page and in the run.
pub const APP_ONLY_LACKS: &str = "Indirect resellers and which reseller each customer belongs \
    to: the instance uses the App-only model, and Partner Center gives them only to App+User.";

/// What a retrieval asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Mass,
    /// One tenant by its tenant id (a GUID).
    TenantId(String),
    /// One tenant by its primary (`onmicrosoft.com`) domain.
    Domain(String),
}

/// Starts a retrieval of `instance` for `marketplace_id` (who asked: `actor`) and queues its
/// job; says which retrieval runs when one already does.
pub async fn get_hierarchy(
    store: &dyn Store,
    marketplace_id: i64,
    instance: &Visible,
    scope: &Scope,
    actor: &str,
) -> Result<RunStart, StoreError> {
    let (run_scope, tenant) = match scope {
        Scope::Mass => (RunScope::Mass, None),
        Scope::TenantId(id) => (RunScope::Tenant, Some(id.to_ascii_lowercase())),
        Scope::Domain(domain) => (RunScope::Tenant, Some(domain.to_ascii_lowercase())),
    };
    let summary = &instance.record.summary;
    let start = store
        .start_hierarchy_run(&NewHierarchyRun {
            instance_id: summary.id,
            scope: run_scope,
            tenant: tenant.as_deref(),
            started_by: actor,
        })
        .await?;
    let RunStart::Started(mut run) = start else {
        return Ok(start);
    };
    let job = GetHierarchy {
        run_id: run.id,
        marketplace_id,
        owner_id: summary.marketplace_id,
        instance_id: summary.id,
    };
    let job_id = store.enqueue_job(&job.new_job()).await?;
    store.set_hierarchy_run_job(run.id, job_id).await?;
    run.job_id = Some(job_id);
    Ok(RunStart::Started(run))
}

/// The sentence for a tenant Partner Center does not know, as the tools operators know say it.
pub fn unknown_tenant(asked: &str) -> String {
    format!("The Microsoft Tenant with ID '{asked}' does not exist.")
}

/// The job of one retrieval.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetHierarchy {
    pub run_id: i64,
    /// The marketplace that asked (its jobs list shows the retrieval).
    pub marketplace_id: i64,
    /// The marketplace that owns the instance (a country tenant uses its parent's).
    pub owner_id: i64,
    pub instance_id: i64,
}

/// How far a mass retrieval has come; the details carry on from the stored rows.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Reached {
    #[default]
    Start,
    CustomersListed,
    ResellersRead,
}

/// What the job reaches Partner Center with.
pub struct HierarchyEnv {
    pub sealer: Sealer,
    pub clients: Clients,
    /// User Sync's Google clients.
    pub google: crate::google::GoogleClients,
}

/// Why a retrieval stopped.
enum Stop {
    Job(JobError),
    Partner(PcError),
    /// The tenant asked for does not exist: the sentence to show.
    Unknown(String),
}

impl From<PcError> for Stop {
    fn from(error: PcError) -> Self {
        Stop::Partner(error)
    }
}

impl From<StoreError> for Stop {
    fn from(error: StoreError) -> Self {
        Stop::Job(error.into())
    }
}

impl From<JobError> for Stop {
    fn from(error: JobError) -> Self {
        Stop::Job(error)
    }
}

#[async_trait]
impl BackgroundJob for GetHierarchy {
    const KIND: &'static str = "hierarchy.get";
    type Checkpoint = Reached;
    type Env = HierarchyEnv;

    fn marketplace_id(&self) -> Option<i64> {
        Some(self.marketplace_id)
    }

    async fn run(&self, env: &HierarchyEnv, ctx: &JobContext<Reached>) -> Result<(), JobError> {
        retrieve(ctx, env, self.run_id, self.owner_id, self.instance_id).await
    }
}

/// What a retrieval needs of the job that runs it: the Get Hierarchy job itself, or a Company
/// Sync that refreshes the snapshot first. Each keeps the retrieval's step in its own
/// checkpoint.
#[async_trait]
pub(crate) trait Steps: Sync {
    fn store(&self) -> &std::sync::Arc<dyn Store>;
    fn job(&self) -> &ferry_storage::Job;
    /// How far an earlier attempt came.
    fn reached(&self) -> Reached;
    async fn step(&self, reached: Reached, progress: Progress) -> Result<(), JobError>;
}

#[async_trait]
impl Steps for JobContext<Reached> {
    fn store(&self) -> &std::sync::Arc<dyn Store> {
        JobContext::store(self)
    }

    fn job(&self) -> &ferry_storage::Job {
        JobContext::job(self)
    }

    fn reached(&self) -> Reached {
        self.resume_from().copied().unwrap_or_default()
    }

    async fn step(&self, reached: Reached, progress: Progress) -> Result<(), JobError> {
        self.checkpoint(&reached, progress, None).await
    }
}

/// Carries out the retrieval `run_id` of an instance of `owner_id`, then audits its snapshot
/// for every marketplace using the instance.
pub(crate) async fn retrieve(
    ctx: &dyn Steps,
    env: &HierarchyEnv,
    run_id: i64,
    owner_id: i64,
    instance_id: i64,
) -> Result<(), JobError> {
    let store = ctx.store();
    let Some(run) = store.hierarchy_run(run_id).await? else {
        return Ok(());
    };
    match run.state {
        RunState::Running => {}
        // Completed before its audit was stored: only the audit is left to do.
        RunState::Completed => {
            return Ok(audit_everywhere(&**store, owner_id, instance_id).await?);
        }
        RunState::Failed | RunState::Cancelled => return Ok(()),
    }
    let Some(record) = store.instance(owner_id, instance_id).await? else {
        return end(ctx, &run, RunState::Failed, "The instance was deleted.").await;
    };
    let app_only = !record.summary.has_refresh_token;
    let outcome = match env.clients.get(store, &env.sealer, &record) {
        Ok(client) => match run.scope {
            RunScope::Mass => mass(ctx, &client, &run, app_only).await,
            RunScope::Tenant => single(ctx, &client, &run, app_only).await,
        },
        Err(error) => Err(Stop::Partner(error)),
    };
    let why = match outcome {
        Ok(()) => {
            let lacks = app_only.then_some(APP_ONLY_LACKS);
            let done = store.complete_hierarchy_run(run.id, lacks).await?;
            let auditing = phase("comparing with the marketplace".into(), 0, None);
            ctx.step(Reached::ResellersRead, auditing).await?;
            audit_everywhere(&**store, owner_id, instance_id).await?;
            let summary = done.summary.unwrap_or_default();
            let progress = Progress {
                done: summary.tenants,
                total: Some(summary.tenants),
                message: Some(format!(
                    "{} resellers, {} tenants, {} subscriptions",
                    summary.resellers, summary.tenants, summary.subscriptions
                )),
            };
            return ctx.step(Reached::ResellersRead, progress).await;
        }
        Err(Stop::Job(JobError::Cancelled)) => {
            return end(ctx, &run, RunState::Cancelled, "Cancelled.").await;
        }
        Err(Stop::Job(JobError::LeaseLost)) => return Err(JobError::LeaseLost),
        Err(Stop::Unknown(sentence)) => {
            return end(ctx, &run, RunState::Failed, &sentence).await;
        }
        Err(Stop::Partner(error @ (PcError::NeedsConsent(_) | PcError::Configuration(_)))) => {
            return end(ctx, &run, RunState::Failed, &failure(&error)).await;
        }
        Err(Stop::Partner(PcError::Api { status, .. })) if matches!(status, 401 | 403) => {
            let reason = format!(
                "Partner Center refused the instance ({status}): check its roles and consent."
            );
            return end(ctx, &run, RunState::Failed, &reason).await;
        }
        Err(Stop::Partner(error)) => failure(&error),
        Err(Stop::Job(error)) => error.to_string(),
    };
    // Worth another try, unless this was the last one.
    if ctx.job().attempts >= ctx.job().max_attempts {
        return end(ctx, &run, RunState::Failed, &why).await;
    }
    Err(JobError::Retry(why))
}

/// Ends the run that did not complete, and the job with it.
async fn end(
    ctx: &dyn Steps,
    run: &HierarchyRun,
    state: RunState,
    why: &str,
) -> Result<(), JobError> {
    ctx.store().end_hierarchy_run(run.id, state, why).await?;
    match state {
        RunState::Cancelled => Err(JobError::Cancelled),
        _ => Err(JobError::Failed(why.to_owned())),
    }
}

/// A failure in Ferry's words: what a service answered is logged, not shown.
fn failure(error: &PcError) -> String {
    tracing::warn!(%error, "Get Hierarchy stopped");
    match error {
        PcError::NeedsConsent(_) => {
            "Partner Center needs a new consent: a partner user must sign in again to the \
             instance's application (its refresh token expired or was revoked)."
                .into()
        }
        PcError::Api { status, .. } => format!("Partner Center answered {status}."),
        PcError::Decode(_) => "Partner Center's answer could not be read.".into(),
        other => other.to_string(),
    }
}

async fn mass(
    ctx: &dyn Steps,
    client: &Client,
    run: &HierarchyRun,
    app_only: bool,
) -> Result<(), Stop> {
    let store = ctx.store();
    let snapshot = run.snapshot;
    let reached = ctx.reached();
    if reached < Reached::CustomersListed {
        let mut pages = client.customers(None);
        let (mut page, mut listed) = (0, 0);
        while let Some(customers) = pages.next_page().await? {
            page += 1;
            listed += customers.len();
            let tenants: Vec<SnapshotTenant> = customers.iter().map(tenant_of).collect();
            store.store_tenants(snapshot, &tenants).await?;
            let progress = phase(format!("customers: page {page}, {listed} tenants"), 0, None);
            ctx.step(Reached::Start, progress).await?;
        }
        ctx.step(
            Reached::CustomersListed,
            phase("customers listed".into(), 0, None),
        )
        .await?;
    }
    if reached < Reached::ResellersRead && !app_only {
        let resellers = client.resellers().await?;
        let rows: Vec<SnapshotReseller> = resellers.iter().map(reseller_of).collect();
        store.store_resellers(snapshot, &rows).await?;
        for (n, reseller) in resellers.iter().enumerate() {
            let mut pages = client.customers_of_reseller(&reseller.id);
            while let Some(customers) = pages.next_page().await? {
                let ids: Vec<String> = customers.into_iter().map(|c| c.id).collect();
                store
                    .set_tenants_reseller(snapshot, &reseller.id, &ids)
                    .await?;
            }
            let message = format!("resellers: {} of {}", n + 1, resellers.len());
            let progress = phase(message, 0, None);
            ctx.step(Reached::CustomersListed, progress).await?;
        }
        ctx.step(
            Reached::ResellersRead,
            phase("resellers read".into(), 0, None),
        )
        .await?;
    }
    let counts = store.snapshot_counts(snapshot).await?;
    let mut done = counts.detailed;
    loop {
        let batch = store
            .tenants_without_details(snapshot, DETAILS_BATCH)
            .await?;
        if batch.is_empty() {
            return Ok(());
        }
        let details = fetch_details(client, &batch).await?;
        store.store_tenant_details(snapshot, &details).await?;
        done += i64::try_from(details.len()).unwrap_or(0);
        let message = format!(
            "billing profiles and subscriptions: {done} of {} tenants",
            counts.tenants
        );
        let progress = phase(message, done, Some(counts.tenants));
        ctx.step(Reached::ResellersRead, progress).await?;
    }
}

async fn single(
    ctx: &dyn Steps,
    client: &Client,
    run: &HierarchyRun,
    app_only: bool,
) -> Result<(), Stop> {
    let store = ctx.store();
    let asked = run.tenant.clone().unwrap_or_default();
    let tenant_id = if ferry_domain::is_guid(&asked) {
        asked.clone()
    } else {
        // A primary domain: the customer list filtered by its start, then the exact one.
        let mut pages = client.customers(Some(CustomerFilter::Domain(asked.clone())));
        let mut found = None;
        while let Some(customers) = pages.next_page().await? {
            found = found.or_else(|| {
                customers.into_iter().find(|c| {
                    c.company_profile
                        .as_ref()
                        .and_then(|p| p.domain.as_deref())
                        .is_some_and(|d| d.eq_ignore_ascii_case(&asked))
                })
            });
        }
        found
            .ok_or_else(|| Stop::Unknown(unknown_tenant(&asked)))?
            .id
    };
    let customer = match client.customer(&tenant_id).await {
        Err(error) if error.is_not_found() => return Err(Stop::Unknown(unknown_tenant(&asked))),
        other => other?,
    };
    if !app_only {
        let resellers: Vec<SnapshotReseller> =
            client.resellers().await?.iter().map(reseller_of).collect();
        store.store_resellers(run.snapshot, &resellers).await?;
    }
    store
        .store_tenants(run.snapshot, &[tenant_of(&customer)])
        .await?;
    let subscriptions = client.subscriptions(&tenant_id).await?;
    let details = details_of(customer, subscriptions);
    store.store_tenant_details(run.snapshot, &[details]).await?;
    Ok(())
}

/// Each tenant in full with its subscriptions, `DETAILS_AT_ONCE` at a time. A tenant gone
/// since it was listed is stored without details.
async fn fetch_details(client: &Client, batch: &[String]) -> Result<Vec<TenantDetails>, Stop> {
    let fetched: Vec<Result<TenantDetails, PcError>> = futures_util::stream::iter(batch.to_vec())
        .map(|id: String| async move {
            let customer = match client.customer(&id).await {
                Err(error) if error.is_not_found() => return Ok(gone(&id)),
                other => other?,
            };
            let subscriptions = match client.subscriptions(&id).await {
                Err(error) if error.is_not_found() => Vec::new(),
                other => other?,
            };
            Ok(details_of(customer, subscriptions))
        })
        .buffer_unordered(DETAILS_AT_ONCE)
        .collect()
        .await;
    Ok(fetched.into_iter().collect::<Result<_, _>>()?)
}

fn gone(id: &str) -> TenantDetails {
    TenantDetails {
        tenant_id: id.to_owned(),
        name: None,
        domain: None,
        reseller_tenant_id: None,
        email: None,
        billing: None,
        custom_domains: None,
        subscriptions: Vec::new(),
    }
}

fn reseller_of(r: &PartnerRelationship) -> SnapshotReseller {
    SnapshotReseller {
        tenant_id: r.id.clone(),
        name: r.name.clone(),
        mpn_id: r.mpn_id.clone(),
        location: r.location.clone(),
    }
}

fn tenant_of(customer: &Customer) -> SnapshotTenant {
    let profile = customer.company_profile.clone().unwrap_or_default();
    SnapshotTenant {
        tenant_id: customer.id.clone(),
        name: profile.company_name.unwrap_or_else(|| customer.id.clone()),
        domain: profile.domain,
    }
}

fn details_of(customer: Customer, subscriptions: Vec<Subscription>) -> TenantDetails {
    let profile = customer.company_profile.unwrap_or_default();
    // What the import maps onto a company and its contact (docs/import-customers.md).
    let billing = customer.billing_profile.map(|b| {
        let address = b.default_address.unwrap_or_default();
        json!({
            "first_name": b.first_name, "last_name": b.last_name, "email": b.email,
            "company_name": b.company_name, "culture": b.culture,
            "phone": address.phone_number, "address_line1": address.address_line1,
            "address_line2": address.address_line2, "city": address.city,
            "state": address.state.or(address.region), "postal_code": address.postal_code,
            "country": address.country,
        })
    });
    TenantDetails {
        tenant_id: customer.id,
        name: profile.company_name,
        domain: profile.domain,
        reseller_tenant_id: customer.associated_partner_id,
        email: profile.email,
        billing,
        custom_domains: customer.custom_domains,
        subscriptions: subscriptions.into_iter().map(subscription_of).collect(),
    }
}

fn subscription_of(s: Subscription) -> SnapshotSubscription {
    SnapshotSubscription {
        subscription_id: s.id,
        offer_id: s.offer_id,
        offer_name: s.offer_name,
        product_type: s.product_type.and_then(|t| t.id),
        quantity: s.quantity,
        status: s.status.map(|x| x.as_str().to_ascii_lowercase()),
        billing_cycle: s.billing_cycle.map(|x| x.as_str().to_ascii_lowercase()),
        term: s.term_duration,
        auto_renew: s.auto_renew_enabled,
        start_date: s.effective_start_date.map(|t| t.text),
        end_date: s.commitment_end_date.map(|t| t.text),
        reseller_mpn_id: s.partner_id.filter(|p| !p.is_empty()),
        parent_subscription_id: s.parent_subscription_id,
        cancellation_allowed_until: s.cancellation_allowed_until_date.map(|t| t.text),
        billing_cycle_end_date: s.billing_cycle_end_date.map(|t| t.text),
    }
}

fn phase(message: String, done: i64, total: Option<i64>) -> Progress {
    Progress {
        done,
        total,
        message: Some(message),
    }
}
