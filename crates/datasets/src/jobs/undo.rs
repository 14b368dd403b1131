//! Undoing a dataset: what it created is removed and what it updated gets its former values
//! back, unless someone changed it since; the dataset is then deleted. The job says what it
//! removed, restored and kept, and so does the audit trail.

use async_trait::async_trait;
use ferry_domain::Progress;
use ferry_jobs::{BackgroundJob, JobContext, JobError};
use ferry_storage::{DatasetRef, UndoOutcome};
use serde::{Deserialize, Serialize};

use super::ReclaimStaging;

/// Undoes a dataset's activation and deletes the dataset (docs/datasets.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UndoDataset {
    pub dataset: DatasetRef,
    /// The dataset's name, for the jobs list once it is gone.
    pub name: String,
    /// Who asked, for the audit trail.
    pub actor: String,
}

#[async_trait]
impl BackgroundJob for UndoDataset {
    const KIND: &'static str = "dataset.undo";
    type Checkpoint = ();
    type Env = ();

    fn marketplace_id(&self) -> Option<i64> {
        Some(self.dataset.marketplace_id)
    }

    async fn run(&self, _: &(), ctx: &JobContext<()>) -> Result<(), JobError> {
        let store = ctx.store();
        // One transaction undoes, records the trace and deletes: a run after a worker died
        // finds the dataset gone.
        let summary = match store.undo_dataset(self.dataset, &self.actor).await? {
            Some(outcome) => summary(&outcome),
            None => "Already undone".to_owned(),
        };
        store.enqueue_job(&ReclaimStaging {}.new_job()).await?;
        let progress = Progress {
            done: 1,
            total: Some(1),
            message: Some(summary),
        };
        ctx.checkpoint(&(), progress, None).await
    }
}

/// "Removed 2 companies and 1 membership; restored 1 company; kept 1 user, changed since or in
/// use."
pub fn summary(outcome: &UndoOutcome) -> String {
    let list = |counts: &std::collections::BTreeMap<String, i64>| {
        let items: Vec<String> = counts
            .iter()
            .map(|(kind, n)| match n {
                1 => format!("1 {}", singular(kind)),
                n => format!("{n} {kind}"),
            })
            .collect();
        match items.split_last() {
            None => None,
            Some((last, [])) => Some(last.clone()),
            Some((last, rest)) => Some(format!("{} and {last}", rest.join(", "))),
        }
    };
    let parts: Vec<String> = [
        list(&outcome.removed).map(|l| format!("removed {l}")),
        list(&outcome.restored).map(|l| format!("restored {l}")),
        list(&outcome.kept).map(|l| format!("kept {l}, changed since or in use")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        return "Nothing to undo".to_owned();
    }
    let sentence = parts.join("; ");
    let mut chars = sentence.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// "companies" → "company", "tenant links" → "tenant link".
fn singular(kind: &str) -> String {
    match kind.strip_suffix("ies") {
        Some(stem) => format!("{stem}y"),
        None => kind.strip_suffix('s').unwrap_or(kind).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_reads_as_a_sentence() {
        let counts =
            |pairs: &[(&str, i64)]| pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect();
        let outcome = UndoOutcome {
            removed: counts(&[("companies", 2), ("memberships", 1)]),
            restored: counts(&[("companies", 1)]),
            kept: counts(&[("users", 1)]),
        };
        assert_eq!(
            summary(&outcome),
            "Removed 2 companies and 1 membership; restored 1 company; kept 1 user, changed \
             since or in use"
        );
        assert_eq!(summary(&UndoOutcome::default()), "Nothing to undo");
    }
}
