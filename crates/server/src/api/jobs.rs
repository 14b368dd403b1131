//! Background jobs of the token's marketplace.

use axum::Json;
use axum::extract::{Path, State};
use ferry_domain::Permission;
use ferry_storage::Job;
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiResult, ApiScope, rfc3339};
use crate::AppState;
use crate::error::ApiError;

/// How far a piece of work has come: a job's, or a dataset's while it is worked on.
#[derive(Serialize, ToSchema)]
pub struct ProgressOut {
    done: i64,
    /// Unknown until the work is counted.
    total: Option<i64>,
    message: Option<String>,
}

impl From<ferry_domain::Progress> for ProgressOut {
    fn from(p: ferry_domain::Progress) -> Self {
        ProgressOut {
            done: p.done,
            total: p.total,
            message: p.message,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct JobOut {
    id: i64,
    kind: String,
    /// queued, running, succeeded, failed or cancelled.
    state: String,
    progress: ProgressOut,
    attempts: i32,
    last_error: Option<String>,
    created_at: String,
    started_at: Option<String>,
    finished_at: Option<String>,
}

impl From<Job> for JobOut {
    fn from(job: Job) -> Self {
        let progress = job.progress().into();
        JobOut {
            id: job.id,
            kind: job.kind,
            state: job.state.as_str().into(),
            progress,
            attempts: job.attempts,
            last_error: job.last_error,
            created_at: job.created_at.to_rfc3339(),
            started_at: job.started_at.map(rfc3339),
            finished_at: job.finished_at.map(rfc3339),
        }
    }
}

/// The newest jobs, newest first.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs",
    responses((status = 200, description = "OK", body = Vec<JobOut>), (status = 403, description = "The token's role does not allow this", body = super::ErrorEnvelope)))]
pub async fn list_jobs(State(state): State<AppState>, scope: ApiScope) -> ApiResult<Vec<JobOut>> {
    scope.require(Permission::ReadJobs)?;
    let jobs = state.store.jobs(Some(scope.id()), 100).await?;
    Ok(Json(jobs.into_iter().map(JobOut::from).collect()))
}

/// One job, with its progress: poll it after a `202 Accepted`.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", params(("id" = i64, Path)),
    responses((status = 200, description = "OK", body = JobOut), (status = 403, description = "The token's role does not allow this", body = super::ErrorEnvelope),
              (status = 404, description = "Not found in this marketplace", body = super::ErrorEnvelope)))]
pub async fn get_job(
    State(state): State<AppState>,
    scope: ApiScope,
    Path(id): Path<i64>,
) -> ApiResult<JobOut> {
    // Every role that can start a job through the API may read jobs.
    scope.require(Permission::ReadJobs)?;
    let job = state
        .store
        .job(id)
        .await?
        .filter(|job| job.marketplace_id == Some(scope.id()))
        .ok_or(ApiError::NotFound("job"))?;
    Ok(Json(job.into()))
}
