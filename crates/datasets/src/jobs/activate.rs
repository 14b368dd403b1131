//! Activation: the staged rows applied type by type, in ranges of lines, each range in one
//! transaction with its checkpoint.

use async_trait::async_trait;
use ferry_domain::{DatasetState, Progress};
use ferry_jobs::{BackgroundJob, JobContext, JobError};
use ferry_storage::{ActivationStep, Dataset, DatasetRef, PlanLine};
use serde::{Deserialize, Serialize};

use super::{Applied, ProvisionDataset, finish, load, settle};
use crate::columns::DataType;

/// Lines applied per transaction (and checkpoint).
const ACTIVATION_LINES: i64 = 100_000;

/// Activates a validated dataset.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ActivateDataset(pub DatasetRef);

#[async_trait]
impl BackgroundJob for ActivateDataset {
    const KIND: &'static str = "dataset.activate";
    type Checkpoint = Applied;
    type Env = ();

    fn marketplace_id(&self) -> Option<i64> {
        Some(self.0.marketplace_id)
    }

    async fn run(&self, _: &(), ctx: &JobContext<Applied>) -> Result<(), JobError> {
        let dataset = load(ctx.store(), self.0).await?;
        // A failed activation leaves the dataset validated, to be activated again; what was
        // applied stays, and the next run carries on from it.
        let outcome = activate(ctx, &dataset, None).await;
        settle(ctx, &dataset, outcome, DatasetState::Validated).await
    }
}

/// Applies every staged row, type by type, from where a previous run stopped. Each row's
/// outcome is decided first, for all rows at once, unless a `plan` that kept its decisions
/// comes with the call or a previous run decided them; types with nothing to create or update
/// are passed over.
pub(super) async fn activate(
    ctx: &JobContext<Applied>,
    dataset: &Dataset,
    plan: Option<Vec<PlanLine>>,
) -> Result<(), JobError> {
    let store = ctx.store();
    store
        .set_dataset_state(dataset.key(), DatasetState::Activating, None)
        .await?;
    let resume = ctx.resume_from();
    let plan = match plan {
        // Only rows still undecided are decided: a run that stopped keeps its decisions.
        None if resume.is_none_or(|at| at.position.is_none()) => {
            Some(store.plan_staged(dataset.key(), true).await?)
        }
        plan => plan,
    };
    let (mut position, mut next_line) = (
        resume.and_then(|at| at.position).unwrap_or(0),
        resume.and_then(|at| at.line),
    );
    let types: Vec<DataType> = DataType::ALL.to_vec();
    while let Some(data_type) = types.get(position) {
        let nothing_to_apply = plan
            .iter()
            .flatten()
            .find(|line| line.data_type == data_type.part())
            .is_some_and(|line| line.created + line.updated == 0);
        if nothing_to_apply {
            position += 1;
            next_line = None;
            continue;
        }
        if let Some((first, last)) = store.staged_lines(dataset.id, data_type.part()).await? {
            let mut from = next_line.unwrap_or(first).max(first);
            while from <= last {
                let to = (from + ACTIVATION_LINES - 1).min(last);
                let at = Applied {
                    position: Some(position),
                    line: Some(to + 1),
                };
                let progress = Progress {
                    done: position as i64,
                    total: Some(types.len() as i64),
                    message: Some(format!(
                        "applying {}: line {to} of {last}",
                        data_type.label()
                    )),
                };
                let checkpoint = ctx.stored(&at, progress, None)?;
                store
                    .activate_lines(&ActivationStep {
                        lease: ctx.lease(),
                        checkpoint: &checkpoint,
                        dataset: dataset.key(),
                        data_type: data_type.part(),
                        lines: from..=to,
                    })
                    .await?;
                if from == first {
                    // The tables written were empty or much smaller: the planner judges the
                    // next ranges' joins by what they hold now.
                    store.refresh_statistics(data_type.part()).await?;
                }
                if ctx.is_cancel_requested() {
                    store
                        .set_dataset_state(dataset.key(), DatasetState::Cancelled, None)
                        .await?;
                    return Err(JobError::Cancelled);
                }
                from = to + 1;
            }
        }
        store.refresh_statistics(data_type.part()).await?;
        position += 1;
        next_line = None;
    }
    if let Some(reseller) = dataset.created_by_company {
        // The companies a reseller brings in are its customers.
        store
            .associate_with_reseller(dataset.key(), reseller)
            .await?;
    }
    if dataset.provision {
        // The subscriptions go to their connectors next; the dataset stays Activating.
        let job = store
            .enqueue_job(&ProvisionDataset(dataset.key()).new_job())
            .await?;
        store.set_dataset_job(dataset.key(), job).await?;
        return Ok(());
    }
    finish(store, dataset).await
}
