//! Schedules: periodic work, one row per (kind, scope) with the time its next run is due.
//!
//! A scheduler (in every `ferry serve` and `ferry worker`) calls
//! [`ScheduleStore::queue_due_runs`] with the time of its clock. Each due run becomes a job in the
//! same transaction that moves the schedule on, with the row claimed as jobs are, so any number
//! of schedulers queue each due run exactly once. Runs never pile up: while the last run's job is
//! queued or running, the schedule waits; and a schedule that fell behind (nobody ran for an
//! hour) queues one run, not one per missed interval.

use async_trait::async_trait;
use ferry_domain::Timestamp;
use serde_json::Value;

use crate::Result;

#[async_trait]
pub trait ScheduleStore: Send + Sync {
    /// Creates the schedule of (kind, scope), or changes its payload and interval; a schedule
    /// that exists keeps its next run time.
    async fn set_schedule(&self, schedule: &NewSchedule) -> Result<()>;
    async fn remove_schedule(&self, kind: &str, scope: &str) -> Result<()>;
    async fn schedules(&self) -> Result<Vec<Schedule>>;
    /// Queues a job for every schedule due at `now` whose last run has finished, and moves each
    /// one on to its first run time after `now`. Returns the jobs queued.
    async fn queue_due_runs(&self, now: Timestamp) -> Result<Vec<i64>>;
    /// Runs the schedule of (kind, scope) now, keeping its rhythm: answers its last run's job
    /// when that is still queued or running (joined), else a job queued now. `None` when there
    /// is no such schedule.
    async fn run_schedule_now(&self, kind: &str, scope: &str) -> Result<Option<RunNow>>;
}

/// A schedule run at once: its job, and whether it was already queued or running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunNow {
    pub job_id: i64,
    pub joined: bool,
}

/// Periodic work to set up: a job of `kind` with `payload` every `every_ms`, the first run at
/// `first_run_at`.
#[derive(Debug, Clone)]
pub struct NewSchedule {
    pub kind: String,
    /// What this schedule is for among those of its kind: a marketplace's slug, say.
    pub scope: String,
    pub marketplace_id: Option<i64>,
    pub payload: Value,
    pub every_ms: i64,
    pub max_attempts: i32,
    pub first_run_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Schedule {
    pub kind: String,
    pub scope: String,
    pub marketplace_id: Option<i64>,
    #[sqlx(json)]
    pub payload: Value,
    pub every_ms: i64,
    pub max_attempts: i32,
    #[sqlx(try_from = "i64")]
    pub next_run_at: Timestamp,
    pub last_job_id: Option<i64>,
}

/// The first run time after `now` of a schedule due at `due` every `every_ms`: the next slot
/// of the same rhythm, however many were missed.
pub(crate) fn next_slot(due: i64, every_ms: i64, now: i64) -> i64 {
    if now < due {
        return due;
    }
    due + ((now - due) / every_ms + 1) * every_ms
}

#[cfg(test)]
mod tests {
    use super::next_slot;

    #[test]
    fn the_next_slot_keeps_the_rhythm_and_skips_what_was_missed() {
        assert_eq!(next_slot(1_000, 100, 1_000), 1_100);
        assert_eq!(next_slot(1_000, 100, 1_099), 1_100);
        assert_eq!(next_slot(1_000, 100, 1_100), 1_200);
        assert_eq!(next_slot(1_000, 100, 5_050), 5_100);
        assert_eq!(next_slot(1_000, 100, 900), 1_000);
    }
}
