//! Datasets over the API (docs/datasets.md): multipart upload, state with plan and counts, the
//! report, activate, deny, delete (with undo), and the templates.

use axum::Json;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferry_datasets::{DataType, template};
use ferry_domain::{Permission, Role};
use ferry_storage::{Dataset, DatasetRef, PlanLine};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::jobs::ProgressOut;
use super::{Accepted, ApiResult, ApiScope, ErrorEnvelope};
use crate::AppState;
use crate::error::ApiError;
use crate::shared::datasets::{self, Creator, DatasetError};

/// What an upload sends: the settings, and one file per data type.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DatasetUpload {
    name: String,
    /// Send each activated subscription to its edition's connector.
    provision: Option<bool>,
    /// Stop at `validated` with a plan, and wait for activate or deny.
    review: Option<bool>,
    #[serde(flatten)]
    files: DatasetFiles,
}

/// A dataset's files: one per data type, or one `orders` file alone for an order dataset.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DatasetFiles {
    #[schema(value_type = Option<String>, format = Binary)]
    users: Option<Vec<u8>>,
    #[schema(value_type = Option<String>, format = Binary)]
    companies: Option<Vec<u8>>,
    #[schema(value_type = Option<String>, format = Binary)]
    memberships: Option<Vec<u8>>,
    #[schema(value_type = Option<String>, format = Binary)]
    reseller_associations: Option<Vec<u8>>,
    #[schema(value_type = Option<String>, format = Binary)]
    company_entitlements: Option<Vec<u8>>,
    #[schema(value_type = Option<String>, format = Binary)]
    user_entitlements: Option<Vec<u8>>,
    #[schema(value_type = Option<String>, format = Binary)]
    microsoft_customers: Option<Vec<u8>>,
    #[schema(value_type = Option<String>, format = Binary)]
    microsoft_subscriptions: Option<Vec<u8>>,
    /// An order dataset's Bulk Data file: sent alone, it makes an order dataset.
    #[schema(value_type = Option<String>, format = Binary)]
    orders: Option<Vec<u8>>,
}

#[derive(Serialize, ToSchema)]
pub struct DatasetCreated {
    dataset_id: i64,
    /// Follow validation (and activation) at `GET /api/v1/jobs/{job_id}`.
    job_id: i64,
}

/// The answer to files received: accepted, validation follows.
fn validating(dataset_id: i64, job_id: i64) -> (StatusCode, Json<DatasetCreated>) {
    (
        StatusCode::ACCEPTED,
        Json(DatasetCreated { dataset_id, job_id }),
    )
}

#[derive(Serialize, ToSchema)]
pub struct FileOut {
    data_type: String,
    file_name: String,
    bytes: i64,
    /// Rows read, once validation has read the file.
    rows: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct CountsOut {
    data_type: String,
    created: i64,
    updated: i64,
    unchanged: i64,
    skipped: i64,
}

impl From<PlanLine> for CountsOut {
    fn from(p: PlanLine) -> Self {
        CountsOut {
            data_type: p.data_type,
            created: p.created,
            updated: p.updated,
            unchanged: p.unchanged,
            skipped: p.skipped,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DatasetOut {
    id: i64,
    name: String,
    /// migration or orders.
    kind: String,
    /// created, validating, validated, activating, activated, activated_with_errors,
    /// upload_failed, denied or cancelled.
    state: String,
    /// The state as the pages show it.
    state_label: String,
    provision: bool,
    review: bool,
    creator: String,
    job_id: Option<i64>,
    /// Why the upload or a step failed.
    failure: Option<String>,
    /// Rows read in all files, once validation has read them.
    rows: Option<i64>,
    /// Rows with errors, skipped, once validation has planned.
    errors: Option<i64>,
    /// While the dataset is validated or activated.
    progress: Option<ProgressOut>,
    files: Vec<FileOut>,
    /// What activation will do (or did), per data type, once validated.
    plan: Vec<CountsOut>,
    /// What activation did, per data type, once activated.
    outcome: Vec<CountsOut>,
    /// Where the report is, once the dataset has left `created`.
    report_url: Option<String>,
    created_at: String,
    updated_at: String,
}

async fn dataset_out(state: &AppState, dataset: Dataset) -> Result<DatasetOut, ApiError> {
    let figures = datasets::figures(state, &dataset).await?;
    let files = state.store.dataset_files(dataset.id).await?;
    let activated = matches!(
        dataset.state,
        ferry_domain::DatasetState::Activated | ferry_domain::DatasetState::ActivatedWithErrors
    );
    let outcome = if activated {
        state.store.staged_outcomes(dataset.id).await?
    } else {
        Vec::new()
    };
    let plan: Vec<PlanLine> = dataset
        .plan
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_default();
    Ok(DatasetOut {
        id: dataset.id,
        name: dataset.name,
        kind: dataset.kind.as_str().into(),
        state: dataset.state.as_str().into(),
        state_label: dataset.state.label().into(),
        provision: dataset.provision,
        review: dataset.review,
        creator: dataset.creator,
        job_id: dataset.job_id,
        failure: dataset.failure,
        rows: figures.rows,
        errors: figures.errors,
        progress: figures.progress.map(ProgressOut::from),
        files: files
            .into_iter()
            .map(|f| FileOut {
                data_type: f.data_type,
                file_name: f.file_name,
                bytes: f.bytes,
                rows: f.rows_read,
            })
            .collect(),
        plan: plan.into_iter().map(CountsOut::from).collect(),
        outcome: outcome.into_iter().map(CountsOut::from).collect(),
        report_url: dataset
            .state
            .has_report()
            .then(|| format!("/api/v1/datasets/{}/report", dataset.id)),
        created_at: dataset.created_at.to_rfc3339(),
        updated_at: dataset.updated_at.to_rfc3339(),
    })
}

impl From<DatasetError> for ApiError {
    fn from(error: DatasetError) -> Self {
        match error {
            DatasetError::Busy(_) | DatasetError::State { .. } => {
                ApiError::Conflict(error.to_string())
            }
            DatasetError::Invalid(message) => ApiError::Invalid(message),
            DatasetError::Store(e) => e.into(),
        }
    }
}

/// Datasets through the API belong to staff roles: a reseller's token is not tied to the
/// reseller company whose datasets it would see.
fn require(scope: &ApiScope) -> Result<(), ApiError> {
    scope.require(Permission::ManageDatasets)?;
    if scope.role == Role::Reseller {
        return Err(ApiError::Forbidden);
    }
    Ok(())
}

async fn find(state: &AppState, scope: &ApiScope, id: i64) -> Result<Dataset, ApiError> {
    require(scope)?;
    state
        .store
        .dataset(DatasetRef {
            marketplace_id: scope.id(),
            dataset_id: id,
        })
        .await?
        .ok_or(ApiError::NotFound("dataset"))
}

/// Uploads a dataset; validation starts at once (and activation after it, unless `review`).
#[utoipa::path(post, path = "/api/v1/datasets", tag = "datasets",
    request_body(content = DatasetUpload, content_type = "multipart/form-data"),
    responses(
        (status = 202, description = "Accepted: follow the job", body = DatasetCreated),
        (status = 403, description = "The token's role does not allow this", body = ErrorEnvelope),
        (status = 409, description = "Another dataset is being validated", body = ErrorEnvelope),
        (status = 422, description = "No file, an unknown part, or no name", body = ErrorEnvelope)))]
pub async fn create_dataset(
    State(state): State<AppState>,
    scope: ApiScope,
    multipart: Multipart,
) -> Result<(StatusCode, Json<DatasetCreated>), ApiError> {
    require(&scope)?;
    let creator = Creator {
        user_id: None,
        company_id: None,
        label: scope.actor(),
    };
    let (dataset, job_id) = datasets::receive(&state, scope.id(), creator, multipart).await?;
    Ok(validating(dataset.id, job_id))
}

/// The marketplace's datasets, newest first.
#[utoipa::path(get, path = "/api/v1/datasets", tag = "datasets",
    responses((status = 200, description = "OK", body = Vec<DatasetOut>), (status = 403, description = "The token's role does not allow this", body = ErrorEnvelope)))]
pub async fn list_datasets(
    State(state): State<AppState>,
    scope: ApiScope,
) -> ApiResult<Vec<DatasetOut>> {
    require(&scope)?;
    let mut out = Vec::new();
    for dataset in state.store.datasets(scope.id(), None).await? {
        out.push(dataset_out(&state, dataset).await?);
    }
    Ok(Json(out))
}

/// One dataset: its state, files, plan and counts.
#[utoipa::path(get, path = "/api/v1/datasets/{id}", tag = "datasets", params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = DatasetOut), (status = 404, description = "Not found in this marketplace", body = ErrorEnvelope)))]
pub async fn get_dataset(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
) -> ApiResult<DatasetOut> {
    let dataset = find(&state, &scope, id).await?;
    Ok(Json(dataset_out(&state, dataset).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteParams {
    /// Also remove what the dataset created and restore what it updated.
    undo: Option<bool>,
}

/// Deletes a dataset, its files and report. With `?undo=true` a job first removes what the
/// dataset created and restores what it updated (unless changed since), then deletes it:
/// follow it at `GET /api/v1/jobs/{job_id}`; its progress message says what it removed,
/// restored and kept.
#[utoipa::path(delete, path = "/api/v1/datasets/{id}", tag = "datasets", params(("id" = i64, Path), DeleteParams),
    responses((status = 204, description = "Deleted"), (status = 202, description = "Accepted: the undo runs as a job", body = Accepted), (status = 404, description = "Not found in this marketplace", body = ErrorEnvelope), (status = 409, description = "Validation or activation is running", body = ErrorEnvelope)))]
pub async fn delete_dataset(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
    Query(params): Query<DeleteParams>,
) -> Result<Response, ApiError> {
    let dataset = find(&state, &scope, id).await?;
    if params.undo.unwrap_or(false) {
        let job_id = datasets::undo(&state, &dataset, &scope.actor()).await?;
        return Ok((StatusCode::ACCEPTED, Json(Accepted { job_id })).into_response());
    }
    datasets::delete(&state, &dataset).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Serialize, ToSchema)]
pub struct ActivationStarted {
    job_id: i64,
}

/// Activates a validated dataset.
#[utoipa::path(post, path = "/api/v1/datasets/{id}/activate", tag = "datasets", params(("id" = i64, Path)),
    responses((status = 202, description = "Accepted: follow the job", body = ActivationStarted), (status = 404, description = "Not found in this marketplace", body = ErrorEnvelope), (status = 409, description = "The dataset is not validated", body = ErrorEnvelope)))]
pub async fn activate_dataset(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<ActivationStarted>), ApiError> {
    let dataset = find(&state, &scope, id).await?;
    let job_id = datasets::activate(&state, &dataset).await?;
    Ok((StatusCode::ACCEPTED, Json(ActivationStarted { job_id })))
}

/// Replaces or adds files before activation (one part per data type, as for an upload); the
/// dataset is validated again. If any file fails to arrive, the dataset keeps its files.
#[utoipa::path(post, path = "/api/v1/datasets/{id}/files", tag = "datasets", params(("id" = i64, Path)),
    request_body(content = DatasetFiles, content_type = "multipart/form-data"),
    responses(
        (status = 202, description = "Accepted: follow the job", body = DatasetCreated),
        (status = 404, description = "Not found in this marketplace", body = ErrorEnvelope),
        (status = 409, description = "Not between validation and activation, or another dataset is being validated", body = ErrorEnvelope),
        (status = 422, description = "No file, an unknown part, or a type sent twice", body = ErrorEnvelope)))]
pub async fn replace_dataset_files(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
    multipart: Multipart,
) -> Result<(StatusCode, Json<DatasetCreated>), ApiError> {
    let dataset = find(&state, &scope, id).await?;
    let job_id = datasets::replace_files(&state, &dataset, multipart).await?;
    Ok(validating(dataset.id, job_id))
}

/// Refuses a validated dataset.
#[utoipa::path(post, path = "/api/v1/datasets/{id}/deny", tag = "datasets", params(("id" = i64, Path)),
    responses((status = 200, description = "Denied", body = DatasetOut), (status = 404, description = "Not found in this marketplace", body = ErrorEnvelope), (status = 409, description = "The dataset is not validated", body = ErrorEnvelope)))]
pub async fn deny_dataset(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
) -> ApiResult<DatasetOut> {
    let dataset = find(&state, &scope, id).await?;
    datasets::deny(&state, &dataset).await?;
    let dataset = find(&state, &scope, id).await?;
    Ok(Json(dataset_out(&state, dataset).await?))
}

/// The report: one CSV line per finding and per applied record.
#[utoipa::path(get, path = "/api/v1/datasets/{id}/report", tag = "datasets", params(("id" = i64, Path)),
    responses((status = 200, description = "The report", content_type = "text/csv"), (status = 404, description = "Not found, or no report yet", body = ErrorEnvelope)))]
pub async fn get_report(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let dataset = find(&state, &scope, id).await?;
    if !dataset.state.has_report() {
        return Err(ApiError::NotFound("report (validation has not started)"));
    }
    Ok(datasets::report_response(&state, &dataset).await?)
}

/// A data type's template: its header and an example row. `type` is the lower-case data type.
#[utoipa::path(get, path = "/api/v1/dataset-templates/{type}", tag = "datasets", params(("type" = String, Path)),
    responses((status = 200, description = "The template", content_type = "text/csv"), (status = 404, description = "No such data type", body = ErrorEnvelope)))]
pub async fn get_template(
    scope: ApiScope,
    Path(data_type): Path<String>,
) -> Result<Response, ApiError> {
    require(&scope)?;
    let data_type = DataType::from_part(&data_type).ok_or(ApiError::NotFound("data type"))?;
    Ok(datasets::csv_download(
        &format!("{}.csv", data_type.part()),
        template(data_type),
    ))
}
