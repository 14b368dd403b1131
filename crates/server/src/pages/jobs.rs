//! The jobs page: every background job of the marketplace with its progress; the table
//! alone is fetched again while jobs run.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use std::collections::HashMap;

use ferry_accounts::InviteUsers;
use ferry_datasets::{
    ActivateDataset, ProvisionDataset, ReclaimStaging, UndoDataset, ValidateDataset,
};
use ferry_domain::{JobState, Permission};
use ferry_jobs::{BackgroundJob, DeliverEmail, Probe};
use ferry_storage::{DatasetRef, Job};
use ferry_tenants::GetHierarchy;

use super::{NoticeQuery, page};
use crate::AppState;
use crate::error::PageError;
use crate::web::{Chrome, Scope, or_dash, when};

struct JobView {
    id: i64,
    /// What the job does, in words ("Validate dataset “Q4 migration”").
    what: String,
    /// What it works on, when that has a page.
    link: Option<String>,
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

/// The names of what jobs work on, by id.
struct Names {
    datasets: HashMap<i64, String>,
    instances: HashMap<i64, String>,
}

/// What a job does and what it works on, from its kind and payload.
fn describe(job: &Job, base: &str, names: &Names) -> (String, Option<String>) {
    let datasets = &names.datasets;
    let dataset = |what: &str| {
        // A dataset job's payload is its dataset.
        let id = serde_json::from_value::<DatasetRef>(job.payload.clone()).map(|d| d.dataset_id);
        match id {
            Ok(id) => match datasets.get(&id) {
                Some(name) => (
                    format!("{what} dataset “{name}”"),
                    Some(format!("{base}/datasets/{id}")),
                ),
                None => (format!("{what} dataset #{id}, since deleted"), None),
            },
            Err(_) => (format!("{what} a dataset"), None),
        }
    };
    match job.kind.as_str() {
        ValidateDataset::KIND => dataset("Validate"),
        ActivateDataset::KIND => dataset("Activate"),
        ProvisionDataset::KIND => dataset("Provision the subscriptions of"),
        ReclaimStaging::KIND => ("Free the space of deleted datasets".into(), None),
        UndoDataset::KIND => {
            // The dataset is deleted by the undo: its name travels with the job.
            let name = serde_json::from_value::<UndoDataset>(job.payload.clone()).map_or_else(
                |_| "a dataset".to_owned(),
                |u| format!("dataset “{}”", u.name),
            );
            (format!("Undo {name}"), None)
        }
        InviteUsers::KIND => {
            let users = serde_json::from_value::<InviteUsers>(job.payload.clone())
                .map_or(0, |i| i.user_ids.len());
            (
                format!("Invite {users} user{}", if users == 1 { "" } else { "s" }),
                Some(format!("{base}/users")),
            )
        }
        DeliverEmail::KIND => ("Send an e-mail".into(), Some(format!("{base}/outbox"))),
        GetHierarchy::KIND => {
            let instance = serde_json::from_value::<GetHierarchy>(job.payload.clone())
                .ok()
                .and_then(|g| names.instances.get(&g.instance_id).cloned());
            match instance {
                Some(name) => (format!("Get Hierarchy of “{name}”"), None),
                None => ("Get Hierarchy".into(), None),
            }
        }
        Probe::KIND => ("Probe the workers".into(), None),
        other => (other.to_owned(), None),
    }
}

fn job_view(job: Job, base: &str, names: &Names) -> JobView {
    let percent = match job.state {
        JobState::Succeeded => 100,
        _ => job.progress().percent(),
    };
    // A finished job's progress is its whole work, not the step it was at when last reported.
    let progress = match (job.progress_total, job.state) {
        (Some(total), JobState::Succeeded) => format!("{total} / {total}"),
        (None, JobState::Succeeded) => "done".to_owned(),
        (Some(total), _) => format!("{} / {total}", job.progress_done),
        (None, _) => job.progress_done.to_string(),
    };
    let message = match (&job.last_error, job.state) {
        (Some(error), JobState::Failed | JobState::Queued) => error.clone(),
        // An undo's last word is what it removed, restored and kept.
        (_, JobState::Succeeded) if job.kind == UndoDataset::KIND => {
            or_dash(job.progress_message.as_deref())
        }
        (_, JobState::Succeeded) => "Finished".to_owned(),
        (_, JobState::Cancelled) => "Cancelled".to_owned(),
        _ => or_dash(job.progress_message.as_deref()),
    };
    let (what, link) = describe(&job, base, names);
    JobView {
        id: job.id,
        what,
        link,
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
    let names = Names {
        datasets: state
            .store
            .datasets(scope.id(), None)
            .await?
            .into_iter()
            .map(|d| (d.id, d.name))
            .collect(),
        instances: ferry_tenants::instances::visible(state.store.as_ref(), &scope.marketplace)
            .await?
            .into_iter()
            .map(|v| (v.record.summary.id, v.record.summary.name))
            .collect(),
    };
    let base = scope.base();
    Ok(JobRows {
        jobs: jobs
            .into_iter()
            .map(|job| job_view(job, &base, &names))
            .collect(),
        all_finished,
    })
}

pub async fn jobs(
    State(state): State<AppState>,
    scope: Scope,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let rows = rows(&state, &scope).await?.render()?;
    page(&JobsPage {
        chrome: scope.chrome("Jobs").notice(query.notice.as_deref()),
        base: scope.base(),
        rows,
    })
}

/// The table of the jobs page alone, which the page fetches again while jobs run.
pub async fn job_rows(State(state): State<AppState>, scope: Scope) -> Result<Response, PageError> {
    page(&rows(&state, &scope).await?)
}

/// What the job `job` says of its progress — its message and percentage — for a page that
/// follows it; "waiting for a worker" before one takes it.
pub(super) async fn progress_of(
    state: &AppState,
    job: Option<i64>,
) -> Result<(String, i64), PageError> {
    let job = match job {
        Some(job) => state.store.job(job).await?,
        None => None,
    };
    Ok(match job {
        Some(job) => {
            let progress = job.progress();
            (progress.to_string(), progress.percent())
        }
        None => ("waiting for a worker".to_owned(), 0),
    })
}
