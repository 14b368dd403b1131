//! The jobs statements, the same for both backends: compiled once into `crate::sqlite` and
//! once into `crate::postgres` (see `statements.rs`).

use super::write_checkpoint;
use super::{BEGIN_WRITE, This};
use crate::jobs::job_columns;

#[async_trait::async_trait]
impl crate::JobStore for This {
    async fn jobs(
        &self,
        marketplace_id: Option<i64>,
        limit: i64,
    ) -> crate::Result<Vec<crate::Job>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs
             WHERE $1 IS NULL OR marketplace_id = $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(marketplace_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn enqueue_job(&self, job: &crate::NewJob) -> crate::Result<i64> {
        super::insert_job(&self.pool, job).await
    }

    async fn job(&self, id: i64) -> crate::Result<Option<crate::Job>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn claim_job(&self, owner: &str, lease_ms: i64) -> crate::Result<Option<crate::Job>> {
        let now = crate::now().millis();
        Ok(sqlx::query_as(concat!(
            "UPDATE jobs SET state = 'running', lease_owner = $1,
                lease_expires_at = $2 + $3, attempts = attempts + 1,
                started_at = COALESCE(started_at, $2)
             WHERE id = (
                SELECT id FROM jobs
                WHERE (state = 'queued' AND run_at <= $2)
                   OR (state = 'running' AND lease_expires_at < $2)
                ORDER BY id LIMIT 1 ",
            skip_locked!(),
            ")
             RETURNING ",
            job_columns!()
        ))
        .bind(owner)
        .bind(now)
        .bind(lease_ms)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn heartbeat(
        &self,
        lease: &crate::Lease,
        lease_ms: i64,
    ) -> crate::Result<crate::LeaseStatus> {
        let cancel_requested: Option<bool> = sqlx::query_scalar(
            "UPDATE jobs SET lease_expires_at = $3
             WHERE id = $1 AND lease_owner = $2 AND state = 'running'
             RETURNING cancel_requested",
        )
        .bind(lease.job_id)
        .bind(&lease.owner)
        .bind(crate::now().millis() + lease_ms)
        .fetch_optional(&self.pool)
        .await?;
        cancel_requested
            .map(|cancel_requested| crate::LeaseStatus { cancel_requested })
            .ok_or(crate::StoreError::LeaseLost {
                job_id: lease.job_id,
            })
    }

    async fn checkpoint(
        &self,
        lease: &crate::Lease,
        checkpoint: &crate::Checkpoint,
    ) -> crate::Result<()> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        write_checkpoint(&mut tx, lease, checkpoint).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn finish_job(
        &self,
        lease: &crate::Lease,
        outcome: &crate::JobOutcome,
    ) -> crate::Result<()> {
        use crate::JobOutcome;
        let now = crate::now().millis();
        let (state, error, run_at, finished_at) = match outcome {
            JobOutcome::Succeeded => ("succeeded", None, None, Some(now)),
            JobOutcome::Failed { error } => ("failed", Some(error), None, Some(now)),
            JobOutcome::Retry { error, run_at } => {
                ("queued", Some(error), Some(run_at.millis()), None)
            }
            JobOutcome::Cancelled => ("cancelled", None, None, Some(now)),
            JobOutcome::Interrupted => ("queued", None, Some(now), None),
        };
        let uncounted = i32::from(matches!(outcome, JobOutcome::Interrupted));
        let done = sqlx::query(
            "UPDATE jobs SET state = $3, last_error = COALESCE($4, last_error),
                run_at = COALESCE($5, run_at), finished_at = $6, lease_expires_at = NULL,
                attempts = attempts - $7
             WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
        )
        .bind(lease.job_id)
        .bind(&lease.owner)
        .bind(state)
        .bind(error)
        .bind(run_at)
        .bind(finished_at)
        .bind(uncounted)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(crate::StoreError::LeaseLost {
                job_id: lease.job_id,
            });
        }
        Ok(())
    }

    async fn cancel_job(&self, id: i64) -> crate::Result<Option<ferry_domain::JobState>> {
        sqlx::query(
            "UPDATE jobs SET cancel_requested = TRUE,
                finished_at = CASE WHEN state = 'queued' THEN $2 ELSE finished_at END,
                state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END
             WHERE id = $1 AND state IN ('queued', 'running')",
        )
        .bind(id)
        .bind(crate::now().millis())
        .execute(&self.pool)
        .await?;
        Ok(crate::JobStore::job(self, id).await?.map(|job| job.state))
    }

    async fn queue_gauges(
        &self,
        now: ferry_domain::Timestamp,
    ) -> crate::Result<crate::QueueGauges> {
        let jobs: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT kind, state, COUNT(*) FROM jobs WHERE state IN ('queued', 'running')
             GROUP BY kind, state ORDER BY kind, state",
        )
        .fetch_all(&self.pool)
        .await?;
        let oldest: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(run_at) FROM jobs WHERE state = 'queued' AND run_at <= $1",
        )
        .bind(now.millis())
        .fetch_one(&self.pool)
        .await?;
        // A due run whose last job still runs is not late: it waits for that job by design.
        let overdue: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(s.next_run_at) FROM schedules s LEFT JOIN jobs j ON j.id = s.last_job_id
             WHERE s.next_run_at <= $1 AND (j.id IS NULL OR j.state NOT IN ('queued', 'running'))",
        )
        .bind(now.millis())
        .fetch_one(&self.pool)
        .await?;
        Ok(crate::QueueGauges {
            jobs,
            oldest_queued_ms: oldest.map(|at| now.millis() - at),
            most_overdue_schedule_ms: overdue.map(|at| now.millis() - at),
        })
    }
}
