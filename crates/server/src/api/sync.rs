//! Company Sync over the API: the settings, *Sync now* and the runs, and Pending Companies —
//! the queue, one tenant's details, create (one or many), link, dismiss and restore.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use ferry_domain::PendingState;
use ferry_domain::Permission;
use ferry_storage::{PendingCompany, PendingQuery, SyncRun, SyncSettings};
use ferry_tenants::sync::{SyncRefused, create_pending, save_settings, sync_now};
use ferry_tenants::users::sync_users_now;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, ApiScope, ErrorEnvelope, PageParams, rfc3339, search_term};
use crate::AppState;
use crate::error::ApiError;
use crate::shared::sync::{SettingsChange, is_invalid, link_refusal};

fn refused(refusal: SyncRefused) -> ApiError {
    match refusal {
        SyncRefused::Store(error) => error.into(),
        other if is_invalid(&other) => ApiError::Invalid(other.to_string()),
        other => ApiError::Conflict(other.to_string()),
    }
}

#[derive(Serialize, ToSchema)]
pub struct SettingsOut {
    company_sync: bool,
    create_automatically: bool,
    invite_admins: bool,
    sales_support_pending: bool,
    customer_support_pending: bool,
    /// The instance followed; null: every instance the marketplace may use.
    instance_id: Option<i64>,
    interval_minutes: i32,
    user_sync_partner_center: bool,
    user_sync_google: bool,
    user_interval_minutes: i32,
    registration_reminders: bool,
}

impl From<SyncSettings> for SettingsOut {
    fn from(s: SyncSettings) -> Self {
        SettingsOut {
            company_sync: s.company_sync,
            create_automatically: s.create_automatically,
            invite_admins: s.invite_admins,
            sales_support_pending: s.sales_support_pending,
            customer_support_pending: s.customer_support_pending,
            instance_id: s.instance_id,
            interval_minutes: s.interval_minutes,
            user_sync_partner_center: s.user_sync_partner_center,
            user_sync_google: s.user_sync_google,
            user_interval_minutes: s.user_interval_minutes,
            registration_reminders: s.reminders_since.is_some(),
        }
    }
}

/// What to change; what is left out stays as it is.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsIn {
    company_sync: Option<bool>,
    create_automatically: Option<bool>,
    invite_admins: Option<bool>,
    sales_support_pending: Option<bool>,
    customer_support_pending: Option<bool>,
    /// 5 to 10,080.
    interval_minutes: Option<i32>,
    /// An instance the marketplace may use.
    instance_id: Option<i64>,
    /// Follow every instance the marketplace may use (instead of `instance_id`).
    all_instances: Option<bool>,
    /// User Sync of the users of companies linked to a tenant, from Partner Center.
    user_sync_partner_center: Option<bool>,
    /// User Sync from Google Workspace.
    user_sync_google: Option<bool>,
    /// Minutes between User Syncs (5 to 10,080).
    user_interval_minutes: Option<i32>,
    /// One activation e-mail to migrated users who have not registered, two days on.
    registration_reminders: Option<bool>,
}

/// The marketplace's Company Sync settings. With Company Sync off, the others have no effect.
#[utoipa::path(get, path = "/api/v1/sync/settings", tag = "company-sync",
    responses((status = 200, description = "The settings", body = SettingsOut)))]
pub async fn get_settings(
    State(state): State<AppState>,
    scope: ApiScope,
) -> ApiResult<SettingsOut> {
    scope.require(Permission::ManagePartnerCenter)?;
    Ok(Json(state.store.sync_settings(scope.id()).await?.into()))
}

/// Changes the settings given; the others stay as they are.
#[utoipa::path(put, path = "/api/v1/sync/settings", tag = "company-sync", request_body = SettingsIn,
    responses((status = 204, description = "Saved"),
              (status = 422, description = "An interval out of range, or an instance this marketplace may not use", body = ErrorEnvelope)))]
pub async fn put_settings(
    State(state): State<AppState>,
    scope: ApiScope,
    Json(input): Json<SettingsIn>,
) -> Result<StatusCode, ApiError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let instance_id = match (input.instance_id, input.all_instances) {
        (Some(_), Some(true)) => {
            return Err(ApiError::Invalid(
                "Give instance_id or \"all_instances\": true, not both.".into(),
            ));
        }
        (Some(id), _) => Some(Some(id)),
        (None, Some(true)) => Some(None),
        (None, _) => None,
    };
    let change = SettingsChange {
        company_sync: input.company_sync,
        create_automatically: input.create_automatically,
        invite_admins: input.invite_admins,
        sales_support_pending: input.sales_support_pending,
        customer_support_pending: input.customer_support_pending,
        interval_minutes: input.interval_minutes,
        instance_id,
        user_sync_partner_center: input.user_sync_partner_center,
        user_sync_google: input.user_sync_google,
        user_interval_minutes: input.user_interval_minutes,
        registration_reminders: input.registration_reminders,
    };
    let settings = change.over(state.store.sync_settings(scope.id()).await?);
    save_settings(&*state.store, &scope.marketplace, &settings, &scope.actor())
        .await
        .map_err(refused)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct SyncStarted {
    /// Follow it at `GET /api/v1/jobs/{job_id}`.
    job_id: i64,
    /// A sync was already queued or running: this is it.
    joined: bool,
}

/// Runs a sync now: refreshes the followed instances and fills Pending Companies. A sync
/// already queued or running is joined, never refused.
#[utoipa::path(post, path = "/api/v1/sync/runs", tag = "company-sync",
    responses((status = 202, description = "Accepted: follow the job", body = SyncStarted),
              (status = 409, description = "Company Sync is off", body = ErrorEnvelope)))]
pub async fn start_sync(
    State(state): State<AppState>,
    scope: ApiScope,
) -> Result<(StatusCode, Json<SyncStarted>), ApiError> {
    scope.require_pending(&state).await?;
    started(sync_now(&*state.store, scope.id()).await)
}

/// A sync asked for: 202 with its job, started now or joined.
fn started(
    run: Result<ferry_storage::RunNow, SyncRefused>,
) -> Result<(StatusCode, Json<SyncStarted>), ApiError> {
    let run = run.map_err(refused)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(SyncStarted {
            job_id: run.job_id,
            joined: run.joined,
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct SyncRunOut {
    id: i64,
    job_id: i64,
    /// running, completed or failed.
    state: String,
    started_at: String,
    finished_at: Option<String>,
    /// Tenants read from Partner Center and found not imported.
    tenants: i64,
    /// Tenants that joined the queue.
    new_pending: i64,
    /// Companies created at once (Create companies automatically).
    created: i64,
    /// Waiting tenants found linked since.
    linked: i64,
    /// Waiting tenants Partner Center no longer lists.
    gone: i64,
    error: Option<String>,
}

pub fn run_out(run: SyncRun) -> SyncRunOut {
    SyncRunOut {
        id: run.id,
        job_id: run.job_id,
        state: run.state,
        started_at: rfc3339(run.started_at),
        finished_at: run.finished_at.map(rfc3339),
        tenants: run.found.tenants,
        new_pending: run.found.new_pending,
        created: run.found.created,
        linked: run.found.linked,
        gone: run.found.gone,
        error: run.error,
    }
}

/// The marketplace's sync runs, newest first.
#[utoipa::path(get, path = "/api/v1/sync/runs", tag = "company-sync", params(PageParams),
    responses((status = 200, description = "The runs, newest first", body = Vec<SyncRunOut>)))]
pub async fn list_runs(
    State(state): State<AppState>,
    scope: ApiScope,
    Query(paging): Query<PageParams>,
) -> ApiResult<Vec<SyncRunOut>> {
    scope.require_pending(&state).await?;
    let runs = state.store.sync_runs(scope.id(), paging.limit()).await?;
    Ok(Json(runs.into_iter().map(run_out).collect()))
}

#[derive(Serialize, ToSchema)]
pub struct SuggestionOut {
    company_id: i64,
    company_name: String,
    /// 0 to 100; suggested from 50.
    score: u8,
    /// Why, in words: "custom domain fabrikam.de = website fabrikam.de", "name 0.92 after
    /// removing 'GmbH'".
    reasons: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PendingOut {
    id: i64,
    instance_id: i64,
    tenant_id: String,
    name: String,
    domain: Option<String>,
    country: Option<String>,
    contact_name: Option<String>,
    contact_email: Option<String>,
    first_seen: String,
    /// pending, dismissed, creating, created or linked.
    state: String,
    /// When Partner Center stopped listing the tenant.
    gone_since: Option<String>,
    /// Whether one or more companies look like this tenant.
    #[serde(rename = "match")]
    matched: bool,
    best_score: Option<i32>,
    /// Best first.
    suggestions: Vec<SuggestionOut>,
    /// The company it was linked to or created as.
    company_id: Option<i64>,
    company_name: Option<String>,
    /// The import creating (or that created) its company.
    import_id: Option<i64>,
    decided_by: Option<String>,
}

fn pending_out(p: PendingCompany) -> PendingOut {
    PendingOut {
        matched: p.matched(),
        id: p.id,
        instance_id: p.instance_id,
        tenant_id: p.tenant_id,
        name: p.name,
        domain: p.domain,
        country: p.country,
        contact_name: p.contact_name,
        contact_email: p.contact_email,
        first_seen: rfc3339(p.first_seen_at),
        state: p.state.as_str().to_owned(),
        gone_since: p.gone_at.map(rfc3339),
        best_score: p.best_score,
        suggestions: p
            .suggestions
            .into_iter()
            .map(|s| SuggestionOut {
                company_id: s.id,
                company_name: s.name,
                score: s.score,
                reasons: s.reasons,
            })
            .collect(),
        company_id: p.company_id,
        company_name: p.company_name,
        import_id: p.import_run_id,
        decided_by: p.decided_by,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PendingParams {
    /// Any part of the name, domain or contact, or the start of the tenant id.
    q: Option<String>,
    /// pending (the default), dismissed, creating, created or linked.
    state: Option<String>,
    /// true: only tenants with a suggestion; false: only those without.
    #[serde(rename = "match")]
    matched: Option<bool>,
    /// ISO country code.
    country: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PendingPage {
    items: Vec<PendingOut>,
    /// Pass as `after` for the next page; absent on the last.
    next: Option<String>,
}

fn state_named(text: &str) -> Result<PendingState, ApiError> {
    Ok(text.parse()?)
}

/// Pending Companies: tenants of the followed instances no company of the marketplace is
/// linked to, in name order.
#[utoipa::path(get, path = "/api/v1/sync/pending", tag = "company-sync",
    params(PendingParams, PageParams),
    responses((status = 200, description = "A page of the queue", body = PendingPage),
              (status = 422, description = "A filter or cursor that is not valid", body = ErrorEnvelope)))]
pub async fn list_pending(
    State(state): State<AppState>,
    scope: ApiScope,
    Query(filters): Query<PendingParams>,
    Query(paging): Query<PageParams>,
) -> ApiResult<PendingPage> {
    scope.require_pending(&state).await?;
    let after = paging
        .after
        .as_deref()
        .map(|cursor| {
            cursor
                .rsplit_once('|')
                .and_then(|(name, id)| Some((name.to_owned(), id.parse().ok()?)))
                .ok_or_else(|| {
                    ApiError::Invalid(format!("'{cursor}' is not a cursor from this list"))
                })
        })
        .transpose()?;
    let query = PendingQuery {
        search: search_term(filters.q)?,
        state: filters.state.as_deref().map(state_named).transpose()?,
        matched: filters.matched,
        country: filters.country,
        after,
        limit: paging.limit(),
    };
    let rows = state.store.pending_companies(scope.id(), &query).await?;
    let next = (i64::try_from(rows.len()).unwrap_or(0) == query.limit)
        .then(|| {
            rows.last()
                .map(|p| format!("{}|{}", p.name.to_lowercase(), p.id))
        })
        .flatten();
    Ok(Json(PendingPage {
        items: rows.into_iter().map(pending_out).collect(),
        next,
    }))
}

async fn load(state: &AppState, scope: &ApiScope, id: i64) -> Result<PendingCompany, ApiError> {
    state
        .store
        .pending_company(scope.id(), id)
        .await?
        .ok_or(ApiError::NotFound("pending company"))
}

/// One waiting tenant: its Partner Center data and every suggestion with its score and reasons.
#[utoipa::path(get, path = "/api/v1/sync/pending/{id}", tag = "company-sync", params(("id" = i64, Path, description = "The pending company")),
    responses((status = 200, description = "The pending company", body = PendingOut), (status = 404, description = "The answer", body = ErrorEnvelope)))]
pub async fn get_pending(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
) -> ApiResult<PendingOut> {
    scope.require_pending(&state).await?;
    Ok(Json(pending_out(load(&state, &scope, id).await?)))
}

#[derive(Serialize, ToSchema)]
pub struct CreationStarted {
    /// The imports creating the companies (one per instance); follow their jobs.
    imports: Vec<ImportStartedOut>,
}

#[derive(Serialize, ToSchema)]
pub struct ImportStartedOut {
    import_id: i64,
    job_id: Option<i64>,
    tenants: i64,
}

async fn create(
    state: &AppState,
    scope: &ApiScope,
    ids: &[i64],
) -> Result<(StatusCode, Json<CreationStarted>), ApiError> {
    scope.require_pending(state).await?;
    let runs = create_pending(&*state.store, &scope.marketplace, ids, &scope.actor(), None)
        .await
        .map_err(refused)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(CreationStarted {
            imports: runs
                .into_iter()
                .map(|r| ImportStartedOut {
                    import_id: r.run.id,
                    job_id: r.run.job_id,
                    tenants: r.taken,
                })
                .collect(),
        }),
    ))
}

/// Creates the tenant's company with the import's mapping (and invites its admin when the
/// settings say so), as a background import.
#[utoipa::path(post, path = "/api/v1/sync/pending/{id}/create", tag = "company-sync", params(("id" = i64, Path, description = "The pending company")),
    responses((status = 202, description = "Accepted: follow the imports' jobs", body = CreationStarted),
              (status = 409, description = "Already decided, or the tenant list has no such tenant now", body = ErrorEnvelope)))]
pub async fn create_one(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<CreationStarted>), ApiError> {
    scope.require_pending(&state).await?;
    load(&state, &scope, id).await?;
    create(&state, &scope, &[id]).await
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct IdsIn {
    ids: Vec<i64>,
}

/// Creates the companies of several waiting tenants.
#[utoipa::path(post, path = "/api/v1/sync/pending/create", tag = "company-sync", request_body = IdsIn,
    responses((status = 202, description = "Accepted: follow the imports' jobs", body = CreationStarted),
              (status = 404, description = "An id that is not a pending company of this marketplace", body = ErrorEnvelope),
              (status = 409, description = "None of them is waiting", body = ErrorEnvelope)))]
pub async fn create_many(
    State(state): State<AppState>,
    scope: ApiScope,
    Json(input): Json<IdsIn>,
) -> Result<(StatusCode, Json<CreationStarted>), ApiError> {
    if input.ids.is_empty() || input.ids.len() > 1_000 {
        return Err(ApiError::Invalid("Give 1 to 1,000 ids.".into()));
    }
    scope.require_pending(&state).await?;
    for id in &input.ids {
        load(&state, &scope, *id).await?;
    }
    create(&state, &scope, &input.ids).await
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LinkIn {
    company_id: i64,
}

/// Links the tenant to a company of the marketplace (a suggested one or any other). Of two
/// people linking one tenant, the second is refused and told who was first.
#[utoipa::path(post, path = "/api/v1/sync/pending/{id}/link", tag = "company-sync", params(("id" = i64, Path, description = "The pending company")), request_body = LinkIn,
    responses((status = 200, description = "The pending company", body = PendingOut),
              (status = 404, description = "No such pending company or company", body = ErrorEnvelope),
              (status = 409, description = "Already decided, or the company is linked to another tenant of the instance", body = ErrorEnvelope)))]
pub async fn link(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
    Json(input): Json<LinkIn>,
) -> ApiResult<PendingOut> {
    scope.require_pending(&state).await?;
    load(&state, &scope, id).await?;
    match state
        .store
        .link_pending(scope.id(), id, input.company_id, &scope.actor())
        .await
    {
        Ok(linked) => Ok(Json(pending_out(linked))),
        Err(error) => Err(ApiError::Conflict(
            link_refusal(&*state.store, scope.id(), id, error).await?,
        )),
    }
}

/// Dismisses the tenant: it leaves the queue until restored.
#[utoipa::path(post, path = "/api/v1/sync/pending/{id}/dismiss", tag = "company-sync", params(("id" = i64, Path, description = "The pending company")),
    responses((status = 200, description = "The pending company", body = PendingOut), (status = 404, description = "The answer", body = ErrorEnvelope)))]
pub async fn dismiss(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
) -> ApiResult<PendingOut> {
    decide(&state, &scope, id, true).await
}

/// Brings a dismissed tenant back into the queue.
#[utoipa::path(post, path = "/api/v1/sync/pending/{id}/restore", tag = "company-sync", params(("id" = i64, Path, description = "The pending company")),
    responses((status = 200, description = "The pending company", body = PendingOut), (status = 404, description = "The answer", body = ErrorEnvelope)))]
pub async fn restore(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
) -> ApiResult<PendingOut> {
    decide(&state, &scope, id, false).await
}

async fn decide(
    state: &AppState,
    scope: &ApiScope,
    id: i64,
    dismissed: bool,
) -> ApiResult<PendingOut> {
    scope.require_pending(state).await?;
    load(state, scope, id).await?;
    state
        .store
        .dismiss_pending(scope.id(), &[id], dismissed, &scope.actor())
        .await?;
    Ok(Json(pending_out(load(state, scope, id).await?)))
}

/// Runs User Sync now: the users of every company linked to a tenant, from Partner Center. A
/// User Sync already queued or running is joined.
#[utoipa::path(post, path = "/api/v1/sync/users", tag = "user-sync",
    responses((status = 202, description = "Accepted: follow the job", body = SyncStarted),
              (status = 409, description = "User Sync is off", body = ErrorEnvelope)))]
pub async fn start_user_sync(
    State(state): State<AppState>,
    scope: ApiScope,
) -> Result<(StatusCode, Json<SyncStarted>), ApiError> {
    scope.require(Permission::ManagePartnerCenter)?;
    started(sync_users_now(&*state.store, scope.id()).await)
}

#[derive(Serialize, ToSchema)]
pub struct UserSyncRunOut {
    id: i64,
    job_id: i64,
    /// running, completed or failed.
    state: String,
    started_at: String,
    finished_at: Option<String>,
    /// Companies whose users were read.
    companies: i64,
    created: i64,
    updated: i64,
    suspended: i64,
    reactivated: i64,
    conflicts: i64,
    /// What it could not do (an App-only instance cannot list users, …).
    notes: Vec<String>,
    error: Option<String>,
}

/// The marketplace's User Sync runs, newest first.
#[utoipa::path(get, path = "/api/v1/sync/users", tag = "user-sync", params(PageParams),
    responses((status = 200, description = "The runs, newest first", body = Vec<UserSyncRunOut>)))]
pub async fn list_user_syncs(
    State(state): State<AppState>,
    scope: ApiScope,
    Query(paging): Query<PageParams>,
) -> ApiResult<Vec<UserSyncRunOut>> {
    scope.require(Permission::ManagePartnerCenter)?;
    let runs = state
        .store
        .user_sync_runs(scope.id(), paging.limit())
        .await?;
    Ok(Json(
        runs.into_iter()
            .map(|r| UserSyncRunOut {
                id: r.id,
                job_id: r.job_id,
                state: r.state,
                started_at: rfc3339(r.started_at),
                finished_at: r.finished_at.map(rfc3339),
                companies: r.companies,
                created: r.counts.created,
                updated: r.counts.updated,
                suspended: r.counts.suspended,
                reactivated: r.counts.reactivated,
                conflicts: r.counts.conflicts,
                notes: r.notes,
                error: r.error,
            })
            .collect(),
    ))
}
