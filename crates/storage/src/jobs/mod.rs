//! Jobs: durable background work, claimed with a lease, checkpointed and resumed.

use async_trait::async_trait;
use ferry_domain::{JobState, Progress, Timestamp};
use serde_json::Value;

use crate::{NewAuditEntry, Result};

#[async_trait]
pub trait JobStore: Send + Sync {
    async fn enqueue_job(&self, job: &NewJob) -> Result<i64>;
    async fn job(&self, id: i64) -> Result<Option<Job>>;
    /// The newest jobs of a marketplace (`None`: of every marketplace and none).
    async fn jobs(&self, marketplace_id: Option<i64>, limit: i64) -> Result<Vec<Job>>;
    /// Takes the oldest job that is due, or whose worker's lease has lapsed, and leases it to
    /// `owner` for `lease_ms`. Two workers never receive the same job while a lease holds.
    async fn claim_job(&self, owner: &str, lease_ms: i64) -> Result<Option<Job>>;
    /// Extends the lease; fails with [`StoreError::LeaseLost`] when the job is no longer ours.
    async fn heartbeat(&self, lease: &Lease, lease_ms: i64) -> Result<LeaseStatus>;
    /// Records progress and where to resume from, with the step's audit line, atomically.
    async fn checkpoint(&self, lease: &Lease, checkpoint: &Checkpoint) -> Result<()>;
    async fn finish_job(&self, lease: &Lease, outcome: &JobOutcome) -> Result<()>;
    /// Cancels a queued job at once, or asks a running one to stop. Returns the job's state
    /// afterwards, or `None` when there is no such job.
    async fn cancel_job(&self, id: i64) -> Result<Option<JobState>>;
    /// What the queue looks like at `now`, for operators' gauges.
    async fn queue_gauges(&self, now: Timestamp) -> Result<QueueGauges>;
}

/// The queue at one moment: jobs waiting or running by kind, the oldest waiting one, and the
/// longest a due scheduled run has waited to be queued (none of either: nothing waits).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueGauges {
    /// (kind, state, count) of queued and running jobs.
    pub jobs: Vec<(String, String, i64)>,
    pub oldest_queued_ms: Option<i64>,
    pub most_overdue_schedule_ms: Option<i64>,
}

/// Work to be done in the background.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub marketplace_id: Option<i64>,
    pub kind: String,
    pub payload: Value,
    pub max_attempts: i32,
    /// When the job may start; `None` for at once.
    pub run_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Job {
    pub id: i64,
    pub marketplace_id: Option<i64>,
    pub kind: String,
    #[sqlx(json)]
    pub payload: Value,
    #[sqlx(try_from = "String")]
    pub state: JobState,
    pub progress_done: i64,
    pub progress_total: Option<i64>,
    pub progress_message: Option<String>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    #[sqlx(json(nullable))]
    pub checkpoint: Option<Value>,
    pub cancel_requested: bool,
    pub last_error: Option<String>,
    /// When the job may start (for a scheduled run, the time it was due).
    #[sqlx(try_from = "i64")]
    pub run_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

impl Job {
    pub fn progress(&self) -> Progress {
        Progress {
            done: self.progress_done,
            total: self.progress_total,
            message: self.progress_message.clone(),
        }
    }
}

/// Proof that a worker holds a job: every write about the job names it, and is refused once
/// another worker has taken the job over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub job_id: i64,
    pub owner: String,
}

/// What a worker records after finishing a step, in one transaction: where to resume from, how
/// far it has come, and optionally an audit line for the step's effect.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub data: Value,
    pub progress: Progress,
    pub audit: Option<NewAuditEntry>,
}

/// How a job run ended.
#[derive(Debug, Clone)]
pub enum JobOutcome {
    Succeeded,
    /// Failed for good.
    Failed {
        error: String,
    },
    /// Failed this time; queue it again at `run_at` (the checkpoint is kept).
    Retry {
        error: String,
        run_at: Timestamp,
    },
    Cancelled,
    /// Stopped with its process: queued again at once, from its checkpoint, and the attempt is
    /// not counted.
    Interrupted,
}

/// What a heartbeat learns about the job it keeps alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseStatus {
    pub cancel_requested: bool,
}

/// The columns of [`crate::Job`], in one place for every statement that returns a job.
macro_rules! job_columns {
    () => {
        "id, marketplace_id, kind, payload, state, progress_done, progress_total,
         progress_message, attempts, max_attempts, lease_owner, lease_expires_at, checkpoint,
         cancel_requested, last_error, run_at, created_at, started_at, finished_at"
    };
}

pub(crate) use job_columns;
