//! Validation: every file read, each row checked and staged, the set-level checks, the plan;
//! then activation, unless the dataset waits for review.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_domain::{DatasetKind, DatasetState};
use ferry_jobs::{BackgroundJob, JobContext, JobError};
use ferry_storage::{Dataset, DatasetRef, datasets::staging_table};
use serde::{Deserialize, Serialize};

use super::activate::activate;
use super::{Applied, load, progress, settle};
use crate::microsoft::{self, TenantLookup};
use crate::orders::SHARED_TYPES;
use crate::stage::{file_finding, ordered, stage_file};

/// Validates a dataset, then activates it unless it waits for review.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ValidateDataset(pub DatasetRef);

#[async_trait]
impl BackgroundJob for ValidateDataset {
    const KIND: &'static str = "dataset.validate";
    type Checkpoint = Applied;
    /// How Partner Center is asked about Microsoft records, for marketplaces that check them.
    type Env = Option<Arc<dyn TenantLookup>>;

    fn marketplace_id(&self) -> Option<i64> {
        Some(self.0.marketplace_id)
    }

    async fn run(
        &self,
        microsoft: &Option<Arc<dyn TenantLookup>>,
        ctx: &JobContext<Applied>,
    ) -> Result<(), JobError> {
        let dataset = load(ctx.store(), self.0).await?;
        let outcome = validate(ctx, &dataset, microsoft.as_deref()).await;
        settle(ctx, &dataset, outcome, DatasetState::UploadFailed).await
    }
}

async fn validate(
    ctx: &JobContext<Applied>,
    dataset: &Dataset,
    microsoft: Option<&dyn TenantLookup>,
) -> Result<(), JobError> {
    // A worker that died while activating is followed by one that carries on activating:
    // validation is done, and staging again would lose what was decided.
    if ctx.resume_from().is_some_and(|at| at.position.is_some()) {
        return activate(ctx, dataset, None).await;
    }
    let store = ctx.store();
    store
        .set_dataset_state(dataset.key(), DatasetState::Validating, None)
        .await?;
    // A validation that starts again starts from nothing.
    store.clear_staging(dataset.id).await?;
    let files = ordered(store.dataset_files(dataset.id).await?);
    let total = files.len() as i64 + 2;
    for (done, (data_type, file)) in files.iter().enumerate() {
        progress(
            ctx,
            done as i64,
            total,
            format!("reading {}", data_type.label()),
        )
        .await?;
        match stage_file(store, dataset, *data_type, file).await? {
            Ok(rows) => {
                store
                    .set_rows_read(dataset.id, data_type.part(), rows)
                    .await?
            }
            Err(error) => {
                let finding = file_finding(*data_type, &error);
                store.add_findings(dataset.id, &[finding]).await?;
                let reason = format!("{}: {error}", data_type.label());
                store
                    .set_dataset_state(dataset.key(), DatasetState::UploadFailed, Some(&reason))
                    .await?;
                return Ok(());
            }
        }
    }
    progress(
        ctx,
        total - 2,
        total,
        "checking references and rules".into(),
    )
    .await?;
    if dataset.kind == DatasetKind::Orders {
        // Orders of one company or user repeat its record: it is staged once.
        let shared: Vec<&str> = SHARED_TYPES
            .iter()
            .filter_map(|t| staging_table(t.part()))
            .collect();
        store.merge_repeated_rows(dataset.id, &shared).await?;
    }
    if let Some(reseller) = dataset.created_by_company {
        store.check_reseller_scope(dataset.key(), reseller).await?;
    }
    if store
        .marketplace_settings(dataset.marketplace_id)
        .await?
        .microsoft_validation
    {
        progress(
            ctx,
            total - 2,
            total,
            "checking Microsoft records with Partner Center".into(),
        )
        .await?;
        microsoft::check(&**store, microsoft, dataset.id, dataset.marketplace_id).await?;
    }
    store.check_staged(dataset.key()).await?;
    if dataset.kind == DatasetKind::Orders {
        store.refuse_incomplete_orders(dataset.key()).await?;
    }
    progress(ctx, total - 1, total, "planning".into()).await?;
    let plan = store.plan_staged(dataset.key(), !dataset.review).await?;
    let stored = serde_json::to_string(&plan).map_err(|e| JobError::Failed(e.to_string()))?;
    store.set_dataset_plan(dataset.key(), &stored).await?;
    store
        .set_dataset_state(dataset.key(), DatasetState::Validated, None)
        .await?;
    if dataset.review {
        return Ok(());
    }
    activate(ctx, dataset, Some(plan)).await
}
