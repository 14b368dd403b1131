//! Deleting a dataset, and reclaiming afterwards the room its staged rows took and what the
//! file store still holds of its files.

use async_trait::async_trait;
use ferry_jobs::{BackgroundJob, JobContext, JobError};
use ferry_storage::{DatasetRef, Store, StoreError};
use serde::{Deserialize, Serialize};

/// Deletes a dataset with its files, findings and staged rows, and queues the reclaiming of
/// their room, which on PostgreSQL takes too long for a request.
pub async fn delete_dataset(store: &dyn Store, dataset: DatasetRef) -> Result<(), StoreError> {
    store.delete_dataset(dataset).await?;
    store.enqueue_job(&ReclaimStaging {}.new_job()).await?;
    Ok(())
}

/// Makes the room of deleted staged rows reusable (see `StagingStore::reclaim_staging`), and
/// deletes the objects of files no dataset has (`DatasetStore::sweep_files`). It is the
/// installation's work, of no marketplace: every marketplace shares the staging tables and the
/// file store.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ReclaimStaging {}

#[async_trait]
impl BackgroundJob for ReclaimStaging {
    const KIND: &'static str = "dataset.reclaim_staging";
    type Checkpoint = ();
    type Env = ();

    async fn run(&self, _: &(), ctx: &JobContext<()>) -> Result<(), JobError> {
        ctx.store().reclaim_staging().await?;
        let swept = ctx.store().sweep_files().await?;
        if swept > 0 {
            tracing::info!(swept, "files no dataset has deleted from the file store");
        }
        Ok(())
    }
}
