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
