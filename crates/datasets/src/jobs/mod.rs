//! The life of a dataset as background jobs (docs/datasets.md), one file per job: validation
//! reads every file, checks each row and stages it, runs the set-level checks and computes the
//! plan; activation applies the staged rows type by type in ranges of lines, each range with its
//! checkpoint, so a worker that dies is followed by another that carries on where it stopped;
//! provisioning sends the new subscriptions to their connectors; undo takes back what an
//! activation did; after a dataset is deleted, the room of its staged rows is reclaimed.

mod activate;
mod provision;
mod reclaim;
mod undo;
mod validate;

use std::sync::Arc;

use ferry_domain::{DatasetState, Progress};
use ferry_jobs::{JobContext, JobError};
use ferry_storage::{Dataset, DatasetRef, Store};
use serde::{Deserialize, Serialize};

pub use activate::ActivateDataset;
pub use provision::{Connectors, ProvisionDataset};
pub use reclaim::{ReclaimStaging, delete_dataset};
pub use undo::UndoDataset;
pub use validate::ValidateDataset;

/// The dataset a job works on, which may have been deleted since the job was queued.
async fn load(store: &Arc<dyn Store>, dataset: DatasetRef) -> Result<Dataset, JobError> {
    store
        .dataset(dataset)
        .await?
        .ok_or_else(|| JobError::Failed(format!("dataset {} no longer exists", dataset.dataset_id)))
}

/// Where an activation stopped: the type being applied (its place in `DataType::ALL`) and the
/// next line. Empty while validating, so a validation job that died after it went on to
/// activate is known by it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Applied {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    position: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    line: Option<i64>,
}

/// When a job gives up for good, the dataset says so, instead of staying in progress (and, in
/// validation, blocking the marketplace's next dataset).
async fn settle(
    ctx: &JobContext<Applied>,
    dataset: &Dataset,
    outcome: Result<(), JobError>,
    failed: DatasetState,
) -> Result<(), JobError> {
    let last_attempt = ctx.job().attempts >= ctx.job().max_attempts;
    // A validation job that went on to activate fails as an activation does.
    let current = ctx.store().dataset(dataset.key()).await?;
    let failed = match current.map(|d| d.state) {
        Some(DatasetState::Activating) => DatasetState::Validated,
        _ => failed,
    };
    let reason = match &outcome {
        Err(JobError::Failed(reason)) => Some(reason.clone()),
        Err(JobError::Retry(reason)) if last_attempt => Some(reason.clone()),
        _ => None,
    };
    if let Some(reason) = reason {
        ctx.store()
            .set_dataset_state(dataset.key(), failed, Some(&reason))
            .await?;
    }
    outcome
}

/// Activated, or Activated with Errors when any row or subscription did not make it.
async fn finish(store: &Arc<dyn Store>, dataset: &Dataset) -> Result<(), JobError> {
    let state = if store.dataset_has_errors(dataset.id).await? {
        DatasetState::ActivatedWithErrors
    } else {
        DatasetState::Activated
    };
    store.set_dataset_state(dataset.key(), state, None).await?;
    Ok(())
}

/// Reports how far validation has come; there is nothing to resume from yet.
async fn progress(
    ctx: &JobContext<Applied>,
    done: i64,
    total: i64,
    message: String,
) -> Result<(), JobError> {
    let progress = Progress {
        done,
        total: Some(total),
        message: Some(message),
    };
    ctx.checkpoint(&Applied::default(), progress, None).await
}
