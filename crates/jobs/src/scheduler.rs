//! Periodic work: turns the store's due schedules into jobs (see
//! [`ferry_storage::ScheduleStore`]). Every `ferry serve` and `ferry worker` runs one; the store
//! makes sure that however many run, each due run is queued once.

use std::sync::Arc;
use std::time::Duration;

use ferry_storage::{Store, StoreError};
use tokio::sync::watch;

use crate::Clock;

pub struct Scheduler {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// How often the scheduler looks for due runs: the most a run can start late.
    tick: Duration,
}

impl Scheduler {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, tick: Duration) -> Self {
        Scheduler { store, clock, tick }
    }

    /// Queues the runs due now. Returns the jobs queued.
    pub async fn tick(&self) -> Result<Vec<i64>, StoreError> {
        self.store.queue_due_runs(self.clock.now()).await
    }

    /// Ticks until `shutdown` turns true.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            match self.tick().await {
                Ok(queued) if !queued.is_empty() => {
                    tracing::debug!(jobs = ?queued, "scheduled runs queued");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "could not queue scheduled runs"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.tick) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use ferry_domain::Timestamp;
    use ferry_storage::NewSchedule;
    use ferry_storage::testing::TestDatabase;
    use serde_json::json;

    use super::Scheduler;
    use crate::ManualClock;

    #[tokio::test]
    async fn the_scheduler_queues_by_the_time_of_its_clock() {
        let database = TestDatabase::sqlite();
        let store = ferry_storage::connect(database.url())
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        let start = Timestamp(1_000_000);
        store
            .set_schedule(&NewSchedule {
                kind: "probe".into(),
                scope: "clock".into(),
                marketplace_id: None,
                payload: json!({ "steps": 0 }),
                every_ms: 60_000,
                max_attempts: 1,
                first_run_at: Timestamp(start.millis() + 60_000),
            })
            .await
            .expect("schedule");
        let clock = ManualClock::at(start);
        let scheduler = Scheduler::new(store.clone(), Arc::new(clock.clone()), Duration::ZERO);
        assert!(
            scheduler.tick().await.expect("tick").is_empty(),
            "not due yet"
        );
        clock.advance(59_999);
        assert!(
            scheduler.tick().await.expect("tick").is_empty(),
            "still not due"
        );
        clock.advance(1);
        let queued = scheduler.tick().await.expect("tick");
        assert_eq!(queued.len(), 1, "due once the clock reaches it");
        let job = store.job(queued[0]).await.expect("job").expect("queued");
        assert_eq!(job.run_at, Timestamp(start.millis() + 60_000));
    }
}
