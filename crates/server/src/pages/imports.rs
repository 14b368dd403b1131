//! Import Results (docs/import-customers.md): the history of the marketplace's import runs,
//! and one run by tab — Direct, Indirect, Tenant Reseller — with each tenant's standing, its
//! company and what became of each subscription, followed live while it runs; its CSV; a
//! retry of what failed. Also where an import is started from the tenant list.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use ferry_domain::{OfferId, Permission, Timestamp};
use ferry_storage::{
    ImportCount, ImportRun, ImportState, ImportTab, Selection, TenantOutcome, UnmappedOffer,
};
use ferry_tenants::{ImportRefused, instances};
use serde::Deserialize;

use super::history::actor_name;
use super::import_customers::refused;
use super::{NoticeQuery, page};
use crate::AppState;
use crate::error::PageError;
use crate::shared::imports::results_csv;
use crate::web::{Scope, url_encode, when};

/// Tenants a page of results shows.
const RESULTS_PAGE: i64 = 50;

/// Starts an import of the tenants ticked on the tenant list, or of every tenant not imported.
pub async fn start(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let instance = instances::find(state.store.as_ref(), &scope.marketplace, id)
        .await?
        .ok_or(PageError::NotFound)?;
    let all = fields.iter().any(|(k, v)| k == "all" && v == "1");
    let tenants: Vec<String> = fields
        .into_iter()
        .filter(|(k, _)| k == "tenant")
        .map(|(_, v)| v)
        .collect();
    let selection = match (all, tenants.is_empty()) {
        (true, _) => Selection::NotImported,
        (false, false) => Selection::Tenants(tenants),
        (false, true) => {
            let why = "Tick the tenants to import, or import every tenant not imported.";
            return refused(&state, &scope, id, String::new(), why).await;
        }
    };
    // The person who runs it is the companies' responsible user.
    let responsible = scope.principal.user_id();
    let started = ferry_tenants::start_import(
        &*state.store,
        scope.id(),
        &instance,
        &selection,
        &scope.actor(),
        responsible,
        false,
    )
    .await;
    match started {
        Ok(started) => Ok(scope.see_other(&format!("imports/{}", started.run.id), "importing")),
        Err(ImportRefused::Store(error)) => Err(error.into()),
        Err(why) => refused(&state, &scope, id, String::new(), &why.to_string()).await,
    }
}

struct RunRow {
    id: i64,
    state: &'static str,
    started: String,
    by: String,
    finished: String,
    /// "12 completed, 3 with errors, …".
    outcome: String,
}

#[derive(Template)]
#[template(path = "imports.html")]
struct HistoryPage {
    chrome: crate::web::Chrome,
    base: String,
    runs: Vec<RunRow>,
}

/// The marketplace's import runs, newest first.
pub async fn history(
    State(state): State<AppState>,
    scope: Scope,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let tokens = state.store.api_tokens(scope.id()).await?;
    let mut runs = Vec::new();
    for run in state.store.import_runs(scope.id(), 100).await? {
        let counts = state.store.import_counts(run.id).await?;
        runs.push(RunRow {
            id: run.id,
            state: run.state.as_str(),
            started: when(Timestamp(run.started_at)),
            by: actor_name(&state, &scope, &run.started_by, &tokens).await?,
            finished: run
                .finished_at
                .map_or_else(|| "—".to_owned(), |at| when(Timestamp(at))),
            outcome: outcome(&counts, None),
        });
    }
    page(&HistoryPage {
        chrome: scope
            .chrome("Import Customers")
            .notice(query.notice.as_deref()),
        base: scope.base(),
        runs,
    })
}

/// "12 completed, 3 completed with errors" for the tenants of `tab` (every tab: `None`).
fn outcome(counts: &[ImportCount], tab: Option<ImportTab>) -> String {
    let mut by: BTreeMap<&'static str, i64> = BTreeMap::new();
    for c in counts.iter().filter(|c| tab.is_none_or(|t| t == c.tab)) {
        *by.entry(outcome_label(c.status)).or_default() += c.tenants;
    }
    if by.is_empty() {
        return "no tenants".to_owned();
    }
    by.iter()
        .map(|(label, n)| format!("{n} {}", label.to_lowercase()))
        .collect::<Vec<_>>()
        .join(", ")
}

struct TabLink {
    label: &'static str,
    href: String,
    tenants: i64,
    current: bool,
}

struct ResultRow {
    name: String,
    tenant_id: String,
    status: &'static str,
    status_label: &'static str,
    /// The company: name or id, its page (none in a tenant reseller's marketplace), and whether
    /// the run created it.
    company: Option<(String, Option<String>, bool)>,
    /// Each subscription: offer, outcome, what it says.
    subscriptions: Vec<(String, &'static str, String)>,
    notes: Vec<String>,
}

#[derive(Template)]
#[template(path = "import_results.html")]
struct ResultsPage {
    chrome: crate::web::Chrome,
    base: String,
    run_id: i64,
    state: &'static str,
    instance: String,
    started: String,
    by: String,
    finished: String,
    error: Option<String>,
    running: bool,
    progress: String,
    tabs: Vec<TabLink>,
    tab: &'static str,
    summary: String,
    /// Offers no edition maps: offer id, name, the subscriptions each blocks.
    unmapped: Vec<UnmappedOffer>,
    /// The marketplace's active editions to map them to: id, "Product — Edition".
    editions: Vec<(i64, String)>,
    can_map: bool,
    retryable: bool,
    rows: Vec<ResultRow>,
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "import_progress.html")]
struct ProgressFragment {
    running: bool,
    message: String,
    percent: i64,
}

#[derive(Debug, Default, Deserialize)]
pub struct ResultsQuery {
    notice: Option<String>,
    #[serde(default)]
    tab: String,
    after_name: Option<String>,
    after_tenant: Option<String>,
}

/// One run, one tab at a time.
pub async fn results(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
    Query(query): Query<ResultsQuery>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let run = found(&state, &scope, id).await?;
    let base = scope.base();
    let counts = state.store.import_counts(run.id).await?;
    let tab = ImportTab::try_from(query.tab.clone()).unwrap_or(ImportTab::Direct);
    let tabs = ImportTab::ALL
        .iter()
        .map(|t| TabLink {
            label: tab_label(*t),
            href: format!("{base}/imports/{id}?tab={}", t.as_str()),
            tenants: counts
                .iter()
                .filter(|c| c.tab == *t)
                .map(|c| c.tenants)
                .sum(),
            current: *t == tab,
        })
        .collect();
    let after = query.after_name.clone().zip(query.after_tenant.clone());
    let mut tenants = state
        .store
        .import_results(run.id, tab, after, RESULTS_PAGE + 1)
        .await?;
    let more = tenants.len() > usize::try_from(RESULTS_PAGE).unwrap_or(0);
    tenants.truncate(usize::try_from(RESULTS_PAGE).unwrap_or(0));
    let next = more.then(|| tenants.last()).flatten().map(|t| {
        format!(
            "{base}/imports/{id}?tab={}&after_name={}&after_tenant={}",
            tab.as_str(),
            url_encode(&t.name.to_lowercase()),
            url_encode(&t.tenant_id)
        )
    });
    let ids: Vec<String> = tenants.iter().map(|t| t.tenant_id.clone()).collect();
    let mut subscriptions: HashMap<String, Vec<(String, &'static str, String)>> = HashMap::new();
    for s in state.store.import_subscriptions(run.id, &ids).await? {
        let offer = s
            .offer_name
            .clone()
            .or(s.offer_id.clone())
            .unwrap_or_else(|| s.subscription_id.clone());
        let said = match (s.outcome.as_str(), &s.billing_start_date) {
            ("imported", Some(billing)) => format!(
                "since {}, billed here from {billing}",
                s.start_date.map(|d| d.to_string()).unwrap_or_default()
            ),
            ("imported", None) => "imported".to_owned(),
            _ => s.reason.clone().unwrap_or_default(),
        };
        let outcome = match s.outcome.as_str() {
            "imported" => "imported",
            "skipped" => "skipped",
            _ => "failed",
        };
        subscriptions
            .entry(s.tenant_id)
            .or_default()
            .push((offer, outcome, said));
    }
    let names: HashMap<i64, String> = company_names(&state, &scope, &tenants).await?;
    // A tenant reseller's customers went into its marketplace: only its name is said.
    let tenant_resellers: HashMap<i64, String> = state
        .store
        .marketplaces()
        .await?
        .into_iter()
        .filter(|m| m.parent_id == Some(scope.id()))
        .map(|m| (m.id, m.name))
        .collect();
    let rows = tenants
        .into_iter()
        .map(|t| {
            let here = t.target_marketplace_id == scope.id();
            ResultRow {
                company: t.company_id.map(|c| {
                    let name = match (here, names.get(&c)) {
                        (true, Some(name)) => name.clone(),
                        (true, None) => format!("company {c}"),
                        (false, _) => format!(
                            "in {}",
                            tenant_resellers
                                .get(&t.target_marketplace_id)
                                .map_or("the tenant reseller's marketplace", String::as_str)
                        ),
                    };
                    let href = here.then(|| format!("{base}/companies/{c}"));
                    (name, href, t.company_created == Some(true))
                }),
                subscriptions: subscriptions.remove(&t.tenant_id).unwrap_or_default(),
                status: t.status.as_str(),
                status_label: outcome_label(t.status),
                notes: t.notes,
                name: t.name,
                tenant_id: t.tenant_id,
            }
        })
        .collect();
    // Offers are mapped in this marketplace's catalog; a tenant reseller maps its own.
    let unmapped = state.store.unmapped_offers(run.id, scope.id()).await?;
    let can_map = scope.principal.allows(Permission::WriteCatalog);
    let editions = if unmapped.is_empty() || !can_map {
        Vec::new()
    } else {
        state
            .store
            .products(scope.id())
            .await?
            .into_iter()
            .flat_map(|p| {
                p.editions
                    .into_iter()
                    .filter(|e| e.active)
                    .map(move |e| (e.id, format!("{} — {}", p.name, e.name)))
            })
            .collect()
    };
    let instance = instances::find(state.store.as_ref(), &scope.marketplace, run.instance_id)
        .await?
        .map_or_else(
            || format!("instance {}", run.instance_id),
            |v| v.record.summary.name,
        );
    let running = run.state == ImportState::Running;
    let tokens = state.store.api_tokens(scope.id()).await?;
    let by = actor_name(&state, &scope, &run.started_by, &tokens).await?;
    page(&ResultsPage {
        chrome: scope
            .chrome("Import Customers")
            .notice(query.notice.as_deref()),
        run_id: run.id,
        state: run.state.as_str(),
        instance,
        started: when(Timestamp(run.started_at)),
        by,
        finished: run
            .finished_at
            .map_or_else(|| "—".to_owned(), |at| when(Timestamp(at))),
        error: run.error.clone(),
        running,
        progress: progress_of(&state, &run).await?.render()?,
        tabs,
        tab: tab_label(tab),
        summary: outcome(&counts, Some(tab)),
        retryable: !running
            && counts
                .iter()
                .any(|c| c.status == TenantOutcome::CompletedWithErrors),
        unmapped,
        editions,
        can_map,
        rows,
        next,
        base,
    })
}

/// A tenant's standing in an import run, in words.
pub(super) fn outcome_label(status: TenantOutcome) -> &'static str {
    match status {
        TenantOutcome::Pending => "Importing",
        TenantOutcome::Completed => "Completed",
        TenantOutcome::CompletedWithErrors => "Completed with errors",
        TenantOutcome::Failed => "Failed",
    }
}

fn tab_label(tab: ImportTab) -> &'static str {
    match tab {
        ImportTab::Direct => "Direct",
        ImportTab::Indirect => "Indirect",
        ImportTab::TenantReseller => "Tenant Reseller",
    }
}

/// The names of the companies of this marketplace the tenants went to.
async fn company_names(
    state: &AppState,
    scope: &Scope,
    tenants: &[ferry_storage::ImportTenant],
) -> Result<HashMap<i64, String>, PageError> {
    let mut names = HashMap::new();
    for t in tenants
        .iter()
        .filter(|t| t.target_marketplace_id == scope.id())
    {
        if let Some(id) = t.company_id
            && let Some(company) = state.store.company(scope.id(), id).await?
        {
            names.insert(id, company.name);
        }
    }
    Ok(names)
}

/// The running import's progress, which the page fetches again until it ends.
pub async fn progress(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let run = found(&state, &scope, id).await?;
    page(&progress_of(&state, &run).await?)
}

async fn progress_of(state: &AppState, run: &ImportRun) -> Result<ProgressFragment, PageError> {
    let (message, percent) = super::jobs::progress_of(state, run.job_id).await?;
    Ok(ProgressFragment {
        running: run.state == ImportState::Running,
        message,
        percent,
    })
}

/// The run's results as CSV, every tab.
pub async fn csv(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let run = found(&state, &scope, id).await?;
    Ok(results_csv(&state, &run, &ImportTab::ALL)
        .await?
        .into_response())
}

#[derive(Deserialize)]
pub struct MapForm {
    offer_id: String,
    edition: i64,
}

/// Maps an offer the run could not place to an edition of the catalog, in place: the edition
/// keeps its offers and gains this one.
pub async fn map_offer(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
    Form(form): Form<MapForm>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManagePartnerCenter)?;
    scope.require(Permission::WriteCatalog)?;
    found(&state, &scope, id).await?;
    let offer = OfferId::parse(&form.offer_id).map_err(|_| PageError::NotFound)?;
    let edition = state
        .store
        .products(scope.id())
        .await?
        .into_iter()
        .flat_map(|p| p.editions)
        .find(|e| e.id == form.edition)
        .ok_or(PageError::NotFound)?;
    let mut offers = crate::shared::catalog::offers(&[edition.offer_ids.unwrap_or_default()])
        .map_err(|_| PageError::NotFound)?;
    offers.push(offer);
    match state
        .store
        .set_edition_offers(scope.id(), edition.id, &offers)
        .await
    {
        Ok(()) => Ok(scope.see_other(&format!("imports/{id}"), "mapped")),
        Err(ferry_storage::StoreError::Conflict { .. }) => {
            Ok(scope.see_other(&format!("imports/{id}"), "already-mapped"))
        }
        Err(error) => Err(error.into()),
    }
}

/// Imports again what failed in the run.
pub async fn retry(
    State(state): State<AppState>,
    scope: Scope,
    Path((_, id)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let run = found(&state, &scope, id).await?;
    match ferry_tenants::import::retry(&*state.store, &run).await {
        Ok(_) => Ok(scope.see_other(&format!("imports/{id}"), "retrying")),
        Err(ImportRefused::Store(error)) => Err(error.into()),
        Err(_) => Ok(scope.see_other(&format!("imports/{id}"), "nothing-to-retry")),
    }
}

async fn found(state: &AppState, scope: &Scope, id: i64) -> Result<ImportRun, PageError> {
    state
        .store
        .import_run(scope.id(), id)
        .await?
        .ok_or(PageError::NotFound)
}
