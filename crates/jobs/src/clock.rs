//! Where schedulers read the time: the system's in production, one a test moves by hand.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use ferry_domain::Timestamp;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        ferry_storage::now()
    }
}

/// A clock that stands still until it is moved; clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn at(time: Timestamp) -> Self {
        ManualClock(Arc::new(AtomicI64::new(time.millis())))
    }

    pub fn advance(&self, millis: i64) {
        self.0.fetch_add(millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}
