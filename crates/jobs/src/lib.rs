//! Durable background work.
//!
//! A job is a row in the store (see [`ferry_storage::Job`]). A [`Worker`] claims one with a
//! lease, keeps the lease alive with heartbeats while the job (a [`BackgroundJob`]) runs, and
//! finishes it. Jobs record their progress with [`JobContext::checkpoint`], which also saves
//! where to resume from: when a worker dies, its lease lapses, another worker claims the job and
//! the job carries on from the last checkpoint. A [`Scheduler`] queues periodic work as jobs
//! when it is due, by the time of a [`Clock`] that tests can move.
//!
//! Invariants:
//! - A job's step and its checkpoint are written in one transaction, and only while the
//!   worker still holds the lease, so a step is never recorded twice.
//! - Cancellation is cooperative: a job learns of it at its next checkpoint.

mod clock;
mod mail;
mod probe;
mod scheduler;
mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use ferry_domain::{Progress, Timestamp};
use ferry_storage::{
    Checkpoint, Job, Lease, NewAuditEntry, NewJob, NewSchedule, Store, StoreError,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use clock::{Clock, ManualClock, SystemClock};
pub use mail::{DeliverEmail, send_email};
pub use probe::Probe;
pub use scheduler::Scheduler;
pub use worker::{Worker, WorkerConfig};

/// One kind of background work. The struct is the job's payload: it is stored as the job's
/// JSON and read back whole before the job runs, so a job never looks into JSON by key.
#[async_trait]
pub trait BackgroundJob: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The `kind` of this job's rows.
    const KIND: &'static str;
    /// How many times the job is tried before it fails for good.
    const MAX_ATTEMPTS: i32 = 5;
    /// Where a run that stopped carries on from; saved with every checkpoint.
    type Checkpoint: Serialize + DeserializeOwned + Send + Sync + 'static;
    /// What the job needs of the process that runs it (a mail server, the sealer, …), given
    /// once to the worker.
    type Env: Send + Sync + 'static;

    /// The marketplace the job works for; `None`, the default, for the installation's own work.
    fn marketplace_id(&self) -> Option<i64> {
        None
    }

    async fn run(
        &self,
        env: &Self::Env,
        ctx: &JobContext<Self::Checkpoint>,
    ) -> Result<(), JobError>;

    /// The row that queues this job, to run at once.
    fn new_job(&self) -> NewJob {
        NewJob {
            marketplace_id: self.marketplace_id(),
            kind: Self::KIND.into(),
            payload: payload(self),
            max_attempts: Self::MAX_ATTEMPTS,
            run_at: None,
        }
    }

    /// This job every `every_ms`, the first time at `first_run_at`; `scope` tells it apart from
    /// other schedules of its kind.
    fn schedule(&self, scope: &str, every_ms: i64, first_run_at: Timestamp) -> NewSchedule {
        NewSchedule {
            kind: Self::KIND.into(),
            scope: scope.into(),
            marketplace_id: self.marketplace_id(),
            payload: payload(self),
            every_ms,
            max_attempts: Self::MAX_ATTEMPTS,
            first_run_at,
        }
    }
}

fn payload(job: &impl Serialize) -> serde_json::Value {
    serde_json::to_value(job).expect("a job's payload is plain data, which always serialises")
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

/// A job a worker holds, with what it runs with.
struct Claimed {
    store: Arc<dyn Store>,
    job: Job,
    lease: Lease,
    cancel_requested: Arc<AtomicBool>,
}

/// What a running job sees of itself: its row, where it stopped last time, and the lease to
/// checkpoint under.
pub struct JobContext<C> {
    claimed: Claimed,
    resume: Option<C>,
}

impl<C: Serialize> JobContext<C> {
    /// The job's row: its id and attempts.
    pub fn job(&self) -> &Job {
        &self.claimed.job
    }

    /// Where the previous run of this job stopped, if it ran before.
    pub fn resume_from(&self) -> Option<&C> {
        self.resume.as_ref()
    }

    /// The lease this worker holds, for a step that writes its checkpoint with its own data.
    pub fn lease(&self) -> &Lease {
        &self.claimed.lease
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.claimed.store
    }

    pub fn is_cancel_requested(&self) -> bool {
        self.claimed.cancel_requested.load(Ordering::Relaxed)
    }

    /// The stored form of a checkpoint, for a step that writes it in its own transaction.
    pub fn stored(
        &self,
        at: &C,
        progress: Progress,
        audit: Option<NewAuditEntry>,
    ) -> Result<Checkpoint, JobError> {
        let data = serde_json::to_value(at)
            .map_err(|e| JobError::Failed(format!("the checkpoint cannot be stored: {e}")))?;
        Ok(Checkpoint {
            data,
            progress,
            audit,
        })
    }

    /// Records a finished step — where to resume, how far the job has come, and the step's audit
    /// line — in one transaction, then tells the job to stop if it was cancelled.
    pub async fn checkpoint(
        &self,
        at: &C,
        progress: Progress,
        audit: Option<NewAuditEntry>,
    ) -> Result<(), JobError> {
        let checkpoint = self.stored(at, progress, audit)?;
        self.store().checkpoint(self.lease(), &checkpoint).await?;
        if self.is_cancel_requested() {
            return Err(JobError::Cancelled);
        }
        Ok(())
    }
}
