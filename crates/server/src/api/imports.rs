//! Import Customers runs over the API: start one for selected tenants (or every tenant not
//! imported), read the history, one run's results by tab, its CSV, and retry what failed.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use ferry_domain::Permission;
use ferry_storage::{ImportCount, ImportRun, ImportTab, ImportTenant, Selection};
use ferry_tenants::ImportRefused;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::instances::visible_one;
use super::{
    ApiResult, ApiScope, ErrorEnvelope, PageParams, name_cursor, next_name_cursor, rfc3339,
};
use crate::AppState;
use crate::error::ApiError;
use crate::shared::imports::results_csv;

#[derive(Debug, Deserialize, ToSchema)]
pub struct ImportIn {
    instance_id: i64,
    /// The tenants to import (tenant ids of the instance's list).
    #[serde(default)]
    tenant_ids: Option<Vec<String>>,
    /// Every tenant the list shows not imported.
    #[serde(default)]
    all: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ImportStarted {
    import_id: i64,
    /// Follow it at `GET /api/v1/jobs/{job_id}`.
    job_id: Option<i64>,
    /// Tenants the run imports.
    tenants: i64,
    /// Selected tenants another run is importing, left out.
    held: i64,
}

/// Imports tenants of an instance's list — the ones named, or every one not imported — as a
/// background job reading the stored list (Get Hierarchy first).
#[utoipa::path(post, path = "/api/v1/imports", tag = "import-customers", request_body = ImportIn,
    responses((status = 202, description = "Accepted: follow the job", body = ImportStarted),
              (status = 404, description = "No such instance in this marketplace", body = ErrorEnvelope),
              (status = 409, description = "Nothing to import: not retrieved yet, or every selected tenant is in another run", body = ErrorEnvelope),
              (status = 422, description = "Neither or both of tenant_ids and all, or tenants the list does not have", body = ErrorEnvelope)))]
pub async fn start_import(
    State(state): State<AppState>,
    scope: ApiScope,
    Json(input): Json<ImportIn>,
) -> Result<(StatusCode, Json<ImportStarted>), ApiError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let instance = visible_one(&state, &scope, input.instance_id).await?;
    let selection = match (input.tenant_ids, input.all) {
        (Some(ids), false) if !ids.is_empty() => Selection::Tenants(ids),
        (None, true) => Selection::NotImported,
        _ => {
            return Err(ApiError::Invalid(
                "Give tenant_ids (at least one) or \"all\": true, not both.".into(),
            ));
        }
    };
    let started = ferry_tenants::start_import(
        &*state.store,
        scope.id(),
        &instance,
        &selection,
        &scope.actor(),
        None,
        false,
    )
    .await;
    match started {
        Ok(start) => Ok((
            StatusCode::ACCEPTED,
            Json(ImportStarted {
                import_id: start.run.id,
                job_id: start.run.job_id,
                tenants: start.taken,
                held: start.held,
            }),
        )),
        Err(ImportRefused::Store(error)) => Err(error.into()),
        Err(refused @ ImportRefused::Unknown(_)) => Err(ApiError::Invalid(refused.to_string())),
        Err(refused) => Err(ApiError::Conflict(refused.to_string())),
    }
}

#[derive(Serialize, ToSchema)]
pub struct ImportOut {
    id: i64,
    instance_id: i64,
    /// running, completed or failed.
    state: String,
    job_id: Option<i64>,
    started_by: String,
    started_at: String,
    finished_at: Option<String>,
    error: Option<String>,
    /// Tenants by tab (direct, indirect, tenant-reseller) and status.
    tabs: BTreeMap<String, TabCounts>,
}

/// A tab's tenants by status.
#[derive(Serialize, ToSchema, Default)]
pub struct TabCounts {
    pending: i64,
    completed: i64,
    completed_with_errors: i64,
    failed: i64,
}

pub fn import_out(run: ImportRun, counts: &[ImportCount]) -> ImportOut {
    let mut tabs: BTreeMap<String, TabCounts> = ImportTab::ALL
        .iter()
        .map(|t| (t.as_str().to_owned(), TabCounts::default()))
        .collect();
    for c in counts {
        let tab = tabs.entry(c.tab.as_str().to_owned()).or_default();
        let slot = match c.status {
            ferry_storage::TenantOutcome::Pending => &mut tab.pending,
            ferry_storage::TenantOutcome::Completed => &mut tab.completed,
            ferry_storage::TenantOutcome::CompletedWithErrors => &mut tab.completed_with_errors,
            ferry_storage::TenantOutcome::Failed => &mut tab.failed,
        };
        *slot += c.tenants;
    }
    ImportOut {
        id: run.id,
        instance_id: run.instance_id,
        state: run.state.as_str().to_owned(),
        job_id: run.job_id,
        started_by: run.started_by,
        started_at: rfc3339(run.started_at),
        finished_at: run.finished_at.map(rfc3339),
        error: run.error,
        tabs,
    }
}

/// The marketplace's import runs, newest first (50 at most).
#[utoipa::path(get, path = "/api/v1/imports", tag = "import-customers",
    responses((status = 200, description = "OK", body = [ImportOut])))]
pub async fn list_imports(
    State(state): State<AppState>,
    scope: ApiScope,
) -> ApiResult<Vec<ImportOut>> {
    scope.require(Permission::ManagePartnerCenter)?;
    let mut out = Vec::new();
    for run in state.store.import_runs(scope.id(), 50).await? {
        let counts = state.store.import_counts(run.id).await?;
        out.push(import_out(run, &counts));
    }
    Ok(Json(out))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResultsFilter {
    /// direct (the default), indirect or tenant-reseller.
    tab: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ImportResults {
    import: ImportOut,
    /// The tab's tenants in name order.
    tenants: Vec<TenantResult>,
    /// Pass as `after` for the next page; none on the last.
    next: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TenantResult {
    tenant_id: String,
    name: String,
    /// pending, completed, completed-with-errors or failed.
    status: String,
    /// The company the tenant is (created by the run or linked before); none for a tenant
    /// reseller's customer, whose company is in the tenant reseller's marketplace.
    company_id: Option<i64>,
    company_created: Option<bool>,
    /// The marketplace it went into: this one, or a tenant reseller's.
    marketplace_id: i64,
    notes: Vec<String>,
    subscriptions: Vec<SubscriptionResult>,
}

#[derive(Serialize, ToSchema)]
pub struct SubscriptionResult {
    subscription_id: String,
    offer_id: Option<String>,
    offer_name: Option<String>,
    /// imported, skipped or failed.
    outcome: String,
    /// ALREADY_PRESENT, NOT_ACTIVE, AZURE_PLAN_REQUIRES_AZURE_MIGRATION, OFFER_NOT_MAPPED or
    /// OFFER_AMBIGUOUS.
    code: Option<String>,
    reason: Option<String>,
    /// The marketplace's subscription.
    marketplace_subscription_id: Option<i64>,
    /// Its entitlement date, kept from Partner Center, and when billing starts here.
    start_date: Option<String>,
    billing_start_date: Option<String>,
}

/// One run: its counts, and a tab's tenants with what became of each subscription.
#[utoipa::path(get, path = "/api/v1/imports/{id}", tag = "import-customers", params(("id" = i64, Path), ResultsFilter, PageParams),
    responses((status = 200, description = "OK", body = ImportResults), (status = 404, description = "Not found in this marketplace", body = ErrorEnvelope),
              (status = 422, description = "A tab or cursor that is not one", body = ErrorEnvelope)))]
pub async fn get_import(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
    Query(filter): Query<ResultsFilter>,
    Query(page): Query<PageParams>,
) -> ApiResult<ImportResults> {
    scope.require(Permission::ManagePartnerCenter)?;
    let run = found_run(&state, &scope, id).await?;
    let tab = tab_of(filter.tab.as_deref().unwrap_or("direct"))?;
    let after = name_cursor(page.after.as_deref())?;
    let limit = page.limit();
    let tenants = state
        .store
        .import_results(run.id, tab, after, limit)
        .await?;
    let next = next_name_cursor(
        i64::try_from(tenants.len()).unwrap_or(0) == limit,
        tenants
            .last()
            .map(|t| (t.tenant_id.as_str(), t.name.as_str())),
    );
    let results = with_subscriptions(&state, &run, tenants).await?;
    let counts = state.store.import_counts(run.id).await?;
    Ok(Json(ImportResults {
        import: import_out(run, &counts),
        tenants: results,
        next,
    }))
}

/// Each tenant with what became of its subscriptions.
async fn with_subscriptions(
    state: &AppState,
    run: &ImportRun,
    tenants: Vec<ImportTenant>,
) -> Result<Vec<TenantResult>, ApiError> {
    let run_id = run.id;
    let ids: Vec<String> = tenants.iter().map(|t| t.tenant_id.clone()).collect();
    let mut subscriptions: BTreeMap<String, Vec<SubscriptionResult>> = BTreeMap::new();
    for s in state.store.import_subscriptions(run_id, &ids).await? {
        subscriptions
            .entry(s.tenant_id)
            .or_default()
            .push(SubscriptionResult {
                subscription_id: s.subscription_id,
                offer_id: s.offer_id,
                offer_name: s.offer_name,
                outcome: s.outcome,
                code: s.code,
                reason: s.reason,
                marketplace_subscription_id: s.marketplace_subscription_id,
                start_date: s.start_date.map(|d| d.to_string()),
                billing_start_date: s.billing_start_date.map(|d| d.to_string()),
            });
    }
    Ok(tenants
        .into_iter()
        .map(|t| TenantResult {
            subscriptions: subscriptions.remove(&t.tenant_id).unwrap_or_default(),
            tenant_id: t.tenant_id,
            name: t.name,
            status: t.status.as_str().to_owned(),
            company_id: t
                .company_id
                .filter(|_| t.target_marketplace_id == run.marketplace_id),
            company_created: t.company_created,
            marketplace_id: t.target_marketplace_id,
            notes: t.notes,
        })
        .collect())
}

fn tab_of(tab: &str) -> Result<ImportTab, ApiError> {
    ImportTab::try_from(tab.to_owned()).map_err(|_| {
        ApiError::Invalid(format!(
            "tab '{tab}' is not one of direct, indirect, tenant-reseller"
        ))
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CsvFilter {
    /// Only this tab (direct, indirect or tenant-reseller); every tab without it.
    tab: Option<String>,
}

/// The run's results as CSV: one line per subscription (and one for a tenant without any),
/// cells that look like formulas neutralised.
#[utoipa::path(get, path = "/api/v1/imports/{id}/results.csv", tag = "import-customers", params(("id" = i64, Path), CsvFilter),
    responses((status = 200, description = "The results as CSV", content_type = "text/csv"),
              (status = 404, description = "Not found in this marketplace", body = ErrorEnvelope)))]
pub async fn get_results_csv(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
    Query(filter): Query<CsvFilter>,
) -> Result<impl IntoResponse, ApiError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let run = found_run(&state, &scope, id).await?;
    let tabs = match filter.tab.as_deref() {
        Some(tab) => vec![tab_of(tab)?],
        None => ImportTab::ALL.to_vec(),
    };
    Ok(results_csv(&state, &run, &tabs).await?)
}

/// Imports again the subscriptions of the run that failed (an offer mapped since, for
/// instance); the companies stay, only what failed is done again.
#[utoipa::path(post, path = "/api/v1/imports/{id}/retry", tag = "import-customers", params(("id" = i64, Path)),
    responses((status = 202, description = "Accepted: follow the job", body = ImportStarted),
              (status = 404, description = "Not found in this marketplace", body = ErrorEnvelope),
              (status = 409, description = "Nothing failed, or the run is still running", body = ErrorEnvelope)))]
pub async fn retry_import(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<ImportStarted>), ApiError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let run = found_run(&state, &scope, id).await?;
    match ferry_tenants::import::retry(&*state.store, &run).await {
        Ok((run, tenants)) => Ok((
            StatusCode::ACCEPTED,
            Json(ImportStarted {
                import_id: run.id,
                job_id: run.job_id,
                tenants,
                held: 0,
            }),
        )),
        Err(ImportRefused::Store(error)) => Err(error.into()),
        Err(refused) => Err(ApiError::Conflict(refused.to_string())),
    }
}

async fn found_run(state: &AppState, scope: &ApiScope, id: i64) -> Result<ImportRun, ApiError> {
    state
        .store
        .import_run(scope.id(), id)
        .await?
        .ok_or(ApiError::NotFound("import"))
}
