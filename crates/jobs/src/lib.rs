//! Durable background work.
//!
//! A job is a row in the store (see [`ferry_storage::Job`]). A [`Worker`] claims one with a
//! lease, keeps the lease alive with heartbeats while the job's [`JobHandler`] runs, and
//! finishes it. Handlers record their progress with [`JobContext::checkpoint`], which also saves
//! where to resume from: when a worker dies, its lease lapses, another worker claims the job and
//! the handler carries on from the last checkpoint. A [`Scheduler`] queues periodic work as jobs
//! when it is due, by the time of a [`Clock`] that tests can move.
//!
//! Invariants:
//! - A handler's step and its checkpoint are written in one transaction, and only while the
//!   worker still holds the lease, so a step is never recorded twice.
//! - Cancellation is cooperative: a handler learns of it at its next checkpoint.

mod clock;
mod mail;
mod probe;
mod scheduler;
mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use ferry_domain::Progress;
use ferry_storage::{Checkpoint, Job, Lease, NewAuditEntry, Store, StoreError};
use serde_json::Value;

pub use clock::{Clock, ManualClock, SystemClock};
pub use mail::{DeliverEmail, send_email};
pub use probe::Probe;
pub use scheduler::Scheduler;
pub use worker::{Worker, WorkerConfig};

/// The work behind one kind of job.
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// The `kind` of the jobs this handler runs.
    fn kind(&self) -> &'static str;
    async fn run(&self, ctx: &JobContext) -> Result<(), JobError>;
}

/// Why a job run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Someone asked for the job to stop.
    #[error("cancelled")]
    Cancelled,
    /// Another worker has taken the job over; this one must stop without writing.
    #[error("the job's lease was lost to another worker")]
    LeaseLost,
    /// The job cannot succeed (bad payload, missing record): not retried.
    #[error("{0}")]
    Failed(String),
    /// The job may succeed later (a network error, a busy database): retried with backoff.
    #[error("{0}")]
    Retry(String),
}

impl From<StoreError> for JobError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::LeaseLost { .. } => JobError::LeaseLost,
            StoreError::Database(_) => JobError::Retry(error.to_string()),
            other => JobError::Failed(other.to_string()),
        }
    }
}

/// What a running handler sees of its job.
pub struct JobContext {
    store: Arc<dyn Store>,
    job: Job,
    lease: Lease,
    cancel_requested: Arc<AtomicBool>,
}

impl JobContext {
    pub fn job(&self) -> &Job {
        &self.job
    }

    pub fn payload(&self) -> &Value {
        &self.job.payload
    }

    /// Where the previous run of this job stopped, if it ran before.
    pub fn resume_from(&self) -> Option<&Value> {
        self.job.checkpoint.as_ref()
    }

    /// The lease this worker holds, for a step that writes its checkpoint with its own data.
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn is_cancel_requested(&self) -> bool {
        self.cancel_requested.load(Ordering::Relaxed)
    }

    /// Records a finished step — where to resume, how far the job has come, and the step's audit
    /// line — in one transaction, then tells the handler to stop if it was cancelled.
    pub async fn checkpoint(
        &self,
        data: Value,
        progress: Progress,
        audit: Option<NewAuditEntry>,
    ) -> Result<(), JobError> {
        let checkpoint = Checkpoint {
            data,
            progress,
            audit,
        };
        self.store.checkpoint(&self.lease, &checkpoint).await?;
        if self.is_cancel_requested() {
            return Err(JobError::Cancelled);
        }
        Ok(())
    }
}
