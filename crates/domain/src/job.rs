use crate::text_enum;

text_enum! {
    /// A background job's place in its life: queued → running → succeeded / failed / cancelled.
    JobState, "job state" {
        Queued = "queued",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        Cancelled = "cancelled",
    }
}

impl JobState {
    /// Whether the job will never run again.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

/// How far a job has come, for progress bars and live pages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub done: i64,
    /// Unknown until the job has counted its work.
    pub total: Option<i64>,
    pub message: Option<String>,
}

impl Progress {
    /// How far, from 0 to 100; 0 while the work is not counted.
    pub fn percent(&self) -> i64 {
        match self.total {
            Some(total) if total > 0 => (self.done * 100 / total).clamp(0, 100),
            _ => 0,
        }
    }
}

impl std::fmt::Display for Progress {
    /// "planning · 4 / 5", or "4 / 5" without a message, or "4" before the work is counted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(message) = &self.message {
            write!(f, "{message} · ")?;
        }
        match self.total {
            Some(total) => write!(f, "{} / {total}", self.done),
            None => write!(f, "{}", self.done),
        }
    }
}
