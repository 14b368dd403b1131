use crate::text_enum;

text_enum! {
    /// What a dataset's report says of a line: what activation did with its record, or the
    /// severity of a finding about it.
    ReportOutcome, "report outcome" {
        Created = "CREATED",
        Updated = "UPDATED",
        Unchanged = "UNCHANGED",
        Error = "ERROR",
        Warning = "WARNING",
    }
}

text_enum! {
    /// Where a dataset is in its life (docs/datasets.md).
    DatasetState, "dataset state" {
        Created = "created",
        Validating = "validating",
        Validated = "validated",
        Activating = "activating",
        Activated = "activated",
        ActivatedWithErrors = "activated_with_errors",
        UploadFailed = "upload_failed",
        Denied = "denied",
        Cancelled = "cancelled",
    }
}

impl DatasetState {
    /// The words the pages and the CLI show.
    pub fn label(self) -> &'static str {
        match self {
            // A created dataset's validation is queued: to the person it is already under way.
            DatasetState::Created => "Validating",
            DatasetState::Validating => "Validating",
            DatasetState::Validated => "Validated",
            DatasetState::Activating => "Activating",
            DatasetState::Activated => "Activated",
            DatasetState::ActivatedWithErrors => "Activated with Errors",
            DatasetState::UploadFailed => "Upload Failed",
            DatasetState::Denied => "Denied",
            DatasetState::Cancelled => "Cancelled",
        }
    }

    /// Whether files may be replaced or added: validation has finished, activation has not
    /// begun.
    pub fn takes_files(self) -> bool {
        matches!(
            self,
            DatasetState::Validated | DatasetState::UploadFailed | DatasetState::Cancelled
        )
    }

    /// Whether files, provisioning and review may still change (before activation).
    pub fn editable(self) -> bool {
        matches!(
            self,
            DatasetState::Created
                | DatasetState::Validated
                | DatasetState::UploadFailed
                | DatasetState::Cancelled
        )
    }

    /// Whether the dataset has its report (it has left `Created`).
    pub fn has_report(self) -> bool {
        self != DatasetState::Created
    }
}

text_enum! {
    /// A migration dataset (files per data type) or an order dataset (one Bulk Data file).
    DatasetKind, "dataset kind" {
        Migration = "migration",
        Orders = "orders",
    }
}
