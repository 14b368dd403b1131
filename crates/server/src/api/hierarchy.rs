//! Get Hierarchy over the API: ask for a retrieval of an instance's tenants, and read the
//! instance's retrievals and what the newest one found changed.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use ferry_domain::Permission;
use ferry_storage::{HierarchyChange, HierarchyRun};
use serde::Serialize;
use utoipa::ToSchema;

use super::instances::visible_one;
use super::{ApiResult, ApiScope, ErrorEnvelope, rfc3339};
use crate::AppState;
use crate::error::ApiError;
use crate::shared::hierarchy::{Asked, HierarchyIn, ask};

/// How many changes the answer carries.
const CHANGES_SHOWN: i64 = 500;

#[derive(Serialize, ToSchema)]
pub struct RetrievalStarted {
    /// Follow it at `GET /api/v1/jobs/{job_id}`.
    job_id: Option<i64>,
    run_id: i64,
}

/// Retrieves the instance's resellers, tenants and subscriptions from Partner Center (all of
/// them, or one tenant by `tenant_id` or `domain`) into its snapshot, as a background job.
#[utoipa::path(post, path = "/api/v1/instances/{id}/hierarchy", tag = "import-customers", params(("id" = i64, Path)), request_body = HierarchyIn,
    responses((status = 202, description = "Accepted: follow the job", body = RetrievalStarted),
              (status = 404, description = "Not found in this marketplace", body = ErrorEnvelope),
              (status = 409, description = "A retrieval of this instance is already running; the message names it", body = ErrorEnvelope),
              (status = 422, description = "The tenant id or domain is not one", body = ErrorEnvelope)))]
pub async fn start_hierarchy(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
    Json(input): Json<HierarchyIn>,
) -> Result<(StatusCode, Json<RetrievalStarted>), ApiError> {
    scope.require(Permission::ManagePartnerCenter)?;
    let instance = visible_one(&state, &scope, id).await?;
    let asked = input.scope().map_err(ApiError::Invalid)?;
    match ask(&state, scope.id(), &instance, &asked, &scope.actor()).await? {
        Asked::Started(run) => Ok((
            StatusCode::ACCEPTED,
            Json(RetrievalStarted {
                job_id: run.job_id,
                run_id: run.id,
            }),
        )),
        Asked::Running(sentence) => Err(ApiError::Conflict(sentence)),
    }
}

#[derive(Serialize, ToSchema)]
pub struct HierarchyOut {
    instance_id: i64,
    /// When the last retrieval of every tenant completed; none if never.
    last_update: Option<String>,
    /// The newest retrievals first (ten at most).
    runs: Vec<RunOut>,
    /// What the newest completed retrieval of every tenant found changed since the one before
    /// (the first 500, in tenant order).
    changes: Vec<ChangeOut>,
}

#[derive(Serialize, ToSchema)]
pub struct RunOut {
    id: i64,
    /// mass (every tenant) or tenant (one).
    scope: String,
    /// The tenant id or domain a single-tenant retrieval asked for.
    tenant: Option<String>,
    /// running, completed, failed or cancelled.
    state: String,
    job_id: Option<i64>,
    started_by: String,
    started_at: String,
    finished_at: Option<String>,
    /// Why it failed.
    error: Option<String>,
    /// What it could not read (an App-only instance reads no resellers).
    lacks: Option<String>,
    summary: Option<SummaryOut>,
}

#[derive(Serialize, ToSchema)]
pub struct SummaryOut {
    resellers: i64,
    tenants: i64,
    subscriptions: i64,
    /// Whether there was an earlier snapshot to compare with.
    compared: bool,
    /// Changes per kind: tenant_new, tenant_gone, tenant_renamed, subscription_new,
    /// subscription_gone, quantity_changed, status_changed, offer_changed, term_changed.
    changes: BTreeMap<String, i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ChangeOut {
    kind: String,
    tenant_id: String,
    subscription_id: Option<String>,
    before: Option<String>,
    after: Option<String>,
}

impl From<HierarchyRun> for RunOut {
    fn from(run: HierarchyRun) -> Self {
        RunOut {
            id: run.id,
            scope: run.scope.as_str().to_owned(),
            tenant: run.tenant,
            state: run.state.as_str().to_owned(),
            job_id: run.job_id,
            started_by: run.started_by,
            started_at: rfc3339(run.started_at),
            finished_at: run.finished_at.map(rfc3339),
            error: run.error,
            lacks: run.lacks,
            summary: run.summary.map(|s| SummaryOut {
                resellers: s.resellers,
                tenants: s.tenants,
                subscriptions: s.subscriptions,
                compared: s.compared,
                changes: s.changes,
            }),
        }
    }
}

impl From<HierarchyChange> for ChangeOut {
    fn from(c: HierarchyChange) -> Self {
        ChangeOut {
            kind: c.kind,
            tenant_id: c.tenant_id,
            subscription_id: c.subscription_id,
            before: c.before_value,
            after: c.after_value,
        }
    }
}

/// The instance's Last Update, its recent retrievals, and what the newest complete one changed.
#[utoipa::path(get, path = "/api/v1/instances/{id}/hierarchy", tag = "import-customers", params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = HierarchyOut), (status = 404, description = "Not found in this marketplace", body = ErrorEnvelope)))]
pub async fn get_hierarchy(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
) -> ApiResult<HierarchyOut> {
    scope.require(Permission::ManagePartnerCenter)?;
    visible_one(&state, &scope, id).await?;
    let hierarchy = state.store.hierarchy_state(id).await?;
    let runs = state.store.hierarchy_runs(id, 10).await?;
    let latest_mass = runs.iter().find(|r| {
        r.scope == ferry_storage::RunScope::Mass && r.state == ferry_storage::RunState::Completed
    });
    let changes = match latest_mass {
        Some(run) => state.store.hierarchy_changes(run.id, CHANGES_SHOWN).await?,
        None => Vec::new(),
    };
    Ok(Json(HierarchyOut {
        instance_id: id,
        last_update: hierarchy.last_update.map(rfc3339),
        runs: runs.into_iter().map(RunOut::from).collect(),
        changes: changes.into_iter().map(ChangeOut::from).collect(),
    }))
}
