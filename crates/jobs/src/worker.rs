use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use ferry_domain::Timestamp;
use ferry_storage::{Job, JobOutcome, Lease, Store, StoreError};
use serde::Deserialize;
use tokio::sync::watch;

use crate::{BackgroundJob, Claimed, JobContext, JobError};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// How long a claim holds without a heartbeat; a dead worker's job waits this long.
    pub lease: Duration,
    /// How long an idle worker waits before looking for work again.
    pub poll_interval: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(500),
        }
    }
}

/// Claims jobs one at a time and runs each as the [`BackgroundJob`] registered for its kind.
pub struct Worker {
    id: String,
    store: Arc<dyn Store>,
    kinds: HashMap<&'static str, Arc<dyn Runner>>,
    config: WorkerConfig,
}

impl Worker {
    /// A worker named `id`, which must be unique among the workers sharing the database.
    pub fn new(id: String, store: Arc<dyn Store>, config: WorkerConfig) -> Self {
        Worker {
            id,
            store,
            kinds: HashMap::new(),
            config,
        }
    }

    /// Runs jobs of `J`'s kind, giving them `env`.
    pub fn with_job<J: BackgroundJob>(mut self, env: J::Env) -> Self {
        self.kinds.insert(J::KIND, Arc::new(Typed::<J> { env }));
        self
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Runs jobs until `shutdown` turns true. The job in hand, if any, is stopped and queued
    /// again at once: it resumes from its last checkpoint, here or in another process.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(worker = %self.id, "worker started");
        while !*shutdown.borrow() {
            let idle = match self.claim_and_run(Some(&mut shutdown)).await {
                Ok(ran) => !ran,
                Err(error) => {
                    tracing::warn!(worker = %self.id, %error, "could not claim a job");
                    true
                }
            };
            if idle {
                tokio::select! {
                    _ = tokio::time::sleep(self.config.poll_interval) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
        tracing::info!(worker = %self.id, "worker stopped");
    }

    /// Claims and runs one job to its end. Returns whether there was one.
    pub async fn run_next(&self) -> Result<bool, StoreError> {
        self.claim_and_run(None).await
    }

    async fn claim_and_run(
        &self,
        shutdown: Option<&mut watch::Receiver<bool>>,
    ) -> Result<bool, StoreError> {
        let lease_ms = millis(self.config.lease);
        let Some(job) = self.store.claim_job(&self.id, lease_ms).await? else {
            return Ok(false);
        };
        let lease = Lease {
            job_id: job.id,
            owner: self.id.clone(),
        };
        let span =
            tracing::info_span!("job", id = job.id, kind = %job.kind, attempt = job.attempts);
        let _entered = span.enter();
        let kind = job.kind.clone();
        let started = std::time::Instant::now();
        let outcome = self.run_claimed(job, &lease, shutdown).await;
        match self.store.finish_job(&lease, &outcome).await {
            Ok(()) => {
                log_outcome(&outcome);
                count_outcome(&kind, &outcome, started.elapsed());
            }
            Err(StoreError::LeaseLost { .. }) => {
                tracing::warn!("the job was taken over by another worker before it finished");
            }
            Err(error) => return Err(error),
        }
        Ok(true)
    }

    async fn run_claimed(
        &self,
        job: Job,
        lease: &Lease,
        shutdown: Option<&mut watch::Receiver<bool>>,
    ) -> JobOutcome {
        if job.attempts > job.max_attempts {
            return JobOutcome::Failed {
                error: format!("gave up after {} attempts", job.max_attempts),
            };
        }
        let Some(runner) = self.kinds.get(job.kind.as_str()).cloned() else {
            return JobOutcome::Failed {
                error: format!("this worker does not run jobs of kind '{}'", job.kind),
            };
        };
        let attempts = job.attempts;
        let cancel_requested = Arc::new(AtomicBool::new(job.cancel_requested));
        let heartbeat = self.keep_alive(lease.clone(), cancel_requested.clone());
        let claimed = Claimed {
            store: self.store.clone(),
            job,
            lease: lease.clone(),
            cancel_requested,
        };
        // A panicking job must not take the worker down: run it as its own task.
        let mut run = tokio::spawn(async move { runner.run(claimed).await });
        let result = tokio::select! {
            result = &mut run => result,
            () = heartbeat => {
                run.abort();
                return JobOutcome::Failed { error: "lease lost".into() };
            }
            () = stopping(shutdown) => {
                // What the job wrote is in its transactions; the step in hand rolls back.
                run.abort();
                return JobOutcome::Interrupted;
            }
        };
        match result {
            Ok(Ok(())) => JobOutcome::Succeeded,
            Ok(Err(JobError::Cancelled)) => JobOutcome::Cancelled,
            Ok(Err(JobError::Failed(error))) => JobOutcome::Failed { error },
            Ok(Err(JobError::LeaseLost)) => JobOutcome::Failed {
                error: "lease lost".into(),
            },
            Ok(Err(JobError::Retry(error))) => retry(error, attempts),
            Err(panic) => retry(format!("the job panicked: {panic}"), attempts),
        }
    }

    /// Extends the lease every third of its length, and notes a cancel request. Returns only
    /// when the lease is lost, which ends the run.
    async fn keep_alive(&self, lease: Lease, cancel_requested: Arc<AtomicBool>) {
        let lease_ms = millis(self.config.lease);
        let mut interval = tokio::time::interval(self.config.lease / 3);
        interval.tick().await;
        loop {
            interval.tick().await;
            match self.store.heartbeat(&lease, lease_ms).await {
                Ok(status) => {
                    if status.cancel_requested {
                        cancel_requested.store(true, Ordering::Relaxed);
                    }
                }
                Err(StoreError::LeaseLost { .. }) => return,
                // A missed beat is not fatal while the lease still runs; the next may succeed.
                Err(error) => tracing::warn!(%error, "heartbeat failed"),
            }
        }
    }
}

/// A registered kind of job, whatever its payload type.
#[async_trait]
trait Runner: Send + Sync {
    async fn run(&self, claimed: Claimed) -> Result<(), JobError>;
}

struct Typed<J: BackgroundJob> {
    env: J::Env,
}

#[async_trait]
impl<J: BackgroundJob> Runner for Typed<J> {
    /// Reads the payload and the checkpoint as `J`'s types, then runs the job. A row that does
    /// not fit them fails at once: a retry would read the same row.
    async fn run(&self, claimed: Claimed) -> Result<(), JobError> {
        let misfit = |what: &str, e: serde_json::Error| {
            JobError::Failed(format!("the {what} does not fit a {} job: {e}", J::KIND))
        };
        let job = &claimed.job;
        let payload = J::deserialize(&job.payload).map_err(|e| misfit("payload", e))?;
        let resume = job
            .checkpoint
            .as_ref()
            .map(J::Checkpoint::deserialize)
            .transpose()
            .map_err(|e| misfit("checkpoint", e))?;
        let ctx = JobContext { claimed, resume };
        payload.run(&self.env, &ctx).await
    }
}

/// Queues the job again after an exponential backoff (2 s, 4 s, 8 s … at most 5 minutes).
/// Completes once `shutdown` turns true; never without one.
async fn stopping(shutdown: Option<&mut watch::Receiver<bool>>) {
    match shutdown {
        Some(shutdown) => {
            let _ = shutdown.wait_for(|stop| *stop).await;
        }
        None => std::future::pending().await,
    }
}

fn retry(error: String, attempts: i32) -> JobOutcome {
    let delay_ms = 1_000_i64 << attempts.clamp(1, 8);
    JobOutcome::Retry {
        error,
        run_at: Timestamp(ferry_storage::now().millis() + delay_ms.min(300_000)),
    }
}

/// Jobs finished by kind and outcome, and how long their attempts took (docs/operations.md).
fn count_outcome(kind: &str, outcome: &JobOutcome, took: Duration) {
    let outcome = match outcome {
        JobOutcome::Succeeded => "succeeded",
        JobOutcome::Cancelled => "cancelled",
        JobOutcome::Failed { .. } => "failed",
        JobOutcome::Retry { .. } => "retried",
        JobOutcome::Interrupted => "interrupted",
    };
    let labels = [("kind", kind.to_owned()), ("outcome", outcome.to_owned())];
    metrics::counter!("ferry_jobs_finished_total", &labels).increment(1);
    metrics::histogram!("ferry_job_duration_seconds", "kind" => kind.to_owned())
        .record(took.as_secs_f64());
}

fn log_outcome(outcome: &JobOutcome) {
    match outcome {
        JobOutcome::Succeeded => tracing::info!("job succeeded"),
        JobOutcome::Cancelled => tracing::info!("job cancelled"),
        JobOutcome::Failed { error } => tracing::warn!(%error, "job failed"),
        JobOutcome::Retry { error, .. } => tracing::warn!(%error, "job will be retried"),
        JobOutcome::Interrupted => tracing::info!("job stopped with the process; queued again"),
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use ferry_domain::JobState;
    use ferry_storage::NewJob;
    use ferry_storage::testing::TestDatabase;
    use serde_json::json;

    use super::{Worker, WorkerConfig};
    use crate::{BackgroundJob, Probe};

    #[tokio::test]
    async fn a_payload_that_does_not_fit_its_job_fails_at_once_and_says_why() {
        let database = TestDatabase::sqlite();
        let store = ferry_storage::connect(database.url())
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        let id = store
            .enqueue_job(&NewJob {
                marketplace_id: None,
                kind: Probe::KIND.into(),
                payload: json!({ "steps": -1 }),
                max_attempts: 5,
                run_at: None,
            })
            .await
            .expect("enqueue");
        let worker = Worker::new("test".into(), store.clone(), WorkerConfig::default())
            .with_job::<Probe>(());
        assert!(worker.run_next().await.expect("run"));
        let job = store.job(id).await.expect("read").expect("job");
        assert_eq!(
            job.state,
            JobState::Failed,
            "not retried: the row will not change"
        );
        let error = job.last_error.expect("an error");
        assert!(
            error.starts_with("the payload does not fit a probe job"),
            "{error}"
        );
    }
}
