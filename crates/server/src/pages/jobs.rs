//! The jobs page: every background job of the marketplace with its progress; the table
//! alone is fetched again while jobs run.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use ferry_domain::{JobState, Permission};
use ferry_storage::Job;

use super::page;
use crate::AppState;
use crate::error::PageError;
use crate::web::{Chrome, Scope, or_dash, when};

struct JobView {
    id: i64,
    kind: String,
    state: &'static str,
    progress: String,
    percent: i64,
    message: String,
    attempts: i32,
    created: String,
}

#[derive(Template)]
#[template(path = "job_rows.html")]
struct JobRows {
    jobs: Vec<JobView>,
    all_finished: bool,
}

#[derive(Template)]
#[template(path = "jobs.html")]
struct JobsPage {
    chrome: Chrome,
    base: String,
    rows: String,
}

fn job_view(job: Job) -> JobView {
    let percent = match (job.progress_total, job.state) {
        (_, JobState::Succeeded) => 100,
        (Some(total), _) if total > 0 => (job.progress_done * 100 / total).clamp(0, 100),
        _ => 0,
    };
    let progress = match job.progress_total {
        Some(total) => format!("{} / {total}", job.progress_done),
        None => job.progress_done.to_string(),
    };
    let message = match (&job.last_error, job.state) {
        (Some(error), JobState::Failed | JobState::Queued) => error.clone(),
        _ => or_dash(job.progress_message.as_deref()),
    };
    JobView {
        id: job.id,
        kind: job.kind,
        state: job.state.as_str(),
        progress,
        percent,
        message,
        attempts: job.attempts,
        created: when(job.created_at),
    }
}

async fn rows(state: &AppState, scope: &Scope) -> Result<JobRows, PageError> {
    scope.require(Permission::ReadJobs)?;
    let jobs = state.store.jobs(Some(scope.id()), 100).await?;
    let all_finished = jobs.iter().all(|j| j.state.is_finished());
    Ok(JobRows {
        jobs: jobs.into_iter().map(job_view).collect(),
        all_finished,
    })
}

pub async fn jobs(State(state): State<AppState>, scope: Scope) -> Result<Response, PageError> {
    let rows = rows(&state, &scope).await?.render()?;
    page(&JobsPage {
        chrome: scope.chrome("Jobs"),
        base: scope.base(),
        rows,
    })
}

/// The table of the jobs page alone, which the page fetches again while jobs run.
pub async fn job_rows(State(state): State<AppState>, scope: Scope) -> Result<Response, PageError> {
    page(&rows(&state, &scope).await?)
}
