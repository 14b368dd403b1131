use std::time::Duration;

use async_trait::async_trait;
use ferry_domain::Progress;
use ferry_storage::NewAuditEntry;
use serde_json::json;

use crate::{JobContext, JobError, JobHandler};

/// A job that walks through a number of steps, writing one audit line per step.
///
/// Operators enqueue it with `ferry admin probe` to see that workers run, report progress and
/// carry a job over when one of them dies; the tests use it for the same.
/// Payload: `{"steps": N, "step_ms": M}`.
pub struct Probe;

impl Probe {
    pub const KIND: &'static str = "probe";
}

#[async_trait]
impl JobHandler for Probe {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    async fn run(&self, ctx: &JobContext) -> Result<(), JobError> {
        let number = |key: &str| ctx.payload().get(key).and_then(serde_json::Value::as_i64);
        let steps = number("steps").filter(|n| *n >= 0).ok_or_else(|| {
            JobError::Failed("the probe needs a payload with \"steps\": N".into())
        })?;
        let pause = Duration::from_millis(number("step_ms").unwrap_or(0).max(0).unsigned_abs());
        let first = ctx
            .resume_from()
            .and_then(|c| c.get("next"))
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0);
        for step in first..steps {
            tokio::time::sleep(pause).await;
            let audit = NewAuditEntry {
                marketplace_id: ctx.job().marketplace_id,
                actor: format!("job:{}", ctx.job().id),
                action: "probe.step".into(),
                entity_type: "job".into(),
                entity_id: Some(ctx.job().id),
                changes: json!({ "step": step, "worker": ctx.lease.owner }),
            };
            let progress = Progress {
                done: step + 1,
                total: Some(steps),
                message: Some(format!("step {} of {steps}", step + 1)),
            };
            ctx.checkpoint(json!({ "next": step + 1 }), progress, Some(audit))
                .await?;
        }
        Ok(())
    }
}
