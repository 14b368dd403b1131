//! The schedules statements, the same for both backends: compiled once into `crate::sqlite` and
//! once into `crate::postgres` (see `statements.rs`).

use super::{BEGIN_WRITE, This};
use crate::schedules::next_slot;

/// Due schedules handled per transaction; the rest wait for the next tick.
const DUE_PER_TICK: i64 = 100;

#[async_trait::async_trait]
impl crate::ScheduleStore for This {
    async fn set_schedule(&self, schedule: &crate::NewSchedule) -> crate::Result<()> {
        sqlx::query(
            "INSERT INTO schedules (kind, scope, marketplace_id, payload, every_ms, max_attempts,
                next_run_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (kind, scope) DO UPDATE SET marketplace_id = excluded.marketplace_id,
                payload = excluded.payload, every_ms = excluded.every_ms,
                max_attempts = excluded.max_attempts",
        )
        .bind(&schedule.kind)
        .bind(&schedule.scope)
        .bind(schedule.marketplace_id)
        .bind(sqlx::types::Json(&schedule.payload))
        .bind(schedule.every_ms)
        .bind(schedule.max_attempts)
        .bind(schedule.first_run_at.millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn remove_schedule(&self, kind: &str, scope: &str) -> crate::Result<()> {
        sqlx::query("DELETE FROM schedules WHERE kind = $1 AND scope = $2")
            .bind(kind)
            .bind(scope)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn schedules(&self) -> crate::Result<Vec<crate::Schedule>> {
        Ok(sqlx::query_as(
            "SELECT kind, scope, marketplace_id, payload, every_ms, max_attempts, next_run_at,
                last_job_id
             FROM schedules ORDER BY kind, scope",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn queue_due_runs(&self, now: ferry_domain::Timestamp) -> crate::Result<Vec<i64>> {
        let now = now.millis();
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        // A schedule whose last run is still queued or running is not due: runs never pile up.
        let due: Vec<crate::Schedule> = sqlx::query_as(concat!(
            "SELECT kind, scope, marketplace_id, payload, every_ms, max_attempts, next_run_at,
                last_job_id
             FROM schedules s
             WHERE next_run_at <= $1
               AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = s.last_job_id
                               AND j.state IN ('queued', 'running'))
             ORDER BY next_run_at LIMIT $2 ",
            skip_locked!()
        ))
        .bind(now)
        .bind(DUE_PER_TICK)
        .fetch_all(&mut *tx)
        .await?;
        let mut queued = Vec::with_capacity(due.len());
        for schedule in due {
            let due_at = schedule.next_run_at.millis();
            // The job's run_at is the slot it stands for, so each slot is visible once.
            let run = crate::NewJob {
                marketplace_id: schedule.marketplace_id,
                kind: schedule.kind.clone(),
                payload: schedule.payload.clone(),
                max_attempts: schedule.max_attempts,
                run_at: Some(schedule.next_run_at),
            };
            let job_id = super::insert_job(&mut *tx, &run).await?;
            sqlx::query(
                "UPDATE schedules SET next_run_at = $3, last_job_id = $4
                 WHERE kind = $1 AND scope = $2",
            )
            .bind(&schedule.kind)
            .bind(&schedule.scope)
            .bind(next_slot(due_at, schedule.every_ms, now))
            .bind(job_id)
            .execute(&mut *tx)
            .await?;
            queued.push(job_id);
        }
        tx.commit().await?;
        Ok(queued)
    }

    async fn run_schedule_now(
        &self,
        kind: &str,
        scope: &str,
    ) -> crate::Result<Option<crate::RunNow>> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        // The row is locked as the scheduler locks it, so the two never queue a run each.
        let schedule: Option<crate::Schedule> = sqlx::query_as(concat!(
            "SELECT kind, scope, marketplace_id, payload, every_ms, max_attempts, next_run_at,
                last_job_id
             FROM schedules WHERE kind = $1 AND scope = $2 ",
            for_update!()
        ))
        .bind(kind)
        .bind(scope)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(schedule) = schedule else {
            return Ok(None);
        };
        let running: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM jobs WHERE id = $1 AND state IN ('queued', 'running')",
        )
        .bind(schedule.last_job_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(job_id) = running {
            return Ok(Some(crate::RunNow {
                job_id,
                joined: true,
            }));
        }
        let run = crate::NewJob {
            marketplace_id: schedule.marketplace_id,
            kind: schedule.kind.clone(),
            payload: schedule.payload.clone(),
            max_attempts: schedule.max_attempts,
            run_at: None,
        };
        let job_id = super::insert_job(&mut *tx, &run).await?;
        sqlx::query("UPDATE schedules SET last_job_id = $3 WHERE kind = $1 AND scope = $2")
            .bind(kind)
            .bind(scope)
            .bind(job_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(crate::RunNow {
            job_id,
            joined: false,
        }))
    }
}
