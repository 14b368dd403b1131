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
