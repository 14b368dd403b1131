use std::time::Duration;

use async_trait::async_trait;
use ferry_domain::Progress;
use ferry_storage::NewAuditEntry;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{BackgroundJob, JobContext, JobError};

/// A job that walks through a number of steps, writing one audit line per step.
///
/// Operators enqueue it with `ferry admin probe` to see that workers run, report progress and
/// carry a job over when one of them dies; the tests use it for the same.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Probe {
    pub steps: u32,
    /// The pause before each step.
    #[serde(default)]
    pub step_ms: u64,
}

/// The next step to take.
#[derive(Debug, Serialize, Deserialize)]
pub struct NextStep {
    next: u32,
}

#[async_trait]
impl BackgroundJob for Probe {
    const KIND: &'static str = "probe";
    type Checkpoint = NextStep;
    type Env = ();

    async fn run(&self, _: &(), ctx: &JobContext<NextStep>) -> Result<(), JobError> {
        let first = ctx.resume_from().map_or(0, |at| at.next);
        for step in first..self.steps {
            tokio::time::sleep(Duration::from_millis(self.step_ms)).await;
            let audit = NewAuditEntry {
                marketplace_id: ctx.job().marketplace_id,
                actor: format!("job:{}", ctx.job().id),
                action: "probe.step".into(),
                entity_type: "job".into(),
                entity_id: Some(ctx.job().id),
                changes: json!({ "step": step, "worker": ctx.lease().owner }),
            };
            let progress = Progress {
                done: i64::from(step + 1),
                total: Some(i64::from(self.steps)),
                message: Some(format!("step {} of {}", step + 1, self.steps)),
            };
            ctx.checkpoint(&NextStep { next: step + 1 }, progress, Some(audit))
                .await?;
        }
        Ok(())
    }
}
