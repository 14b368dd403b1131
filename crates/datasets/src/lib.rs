//! Datasets: bulk CSV migration (docs/datasets.md). This crate holds what is decided without a
//! database — the columns of each data type, reading files, checking each row — and the jobs
//! that stage rows, validate them against the marketplace, plan, activate and provision.

pub mod columns;
pub mod jobs;
pub mod microsoft;
pub mod orders;
pub mod read;
pub mod report;
pub mod rows;
mod stage;
pub mod upload;

pub use columns::{Column, DataType, Format, Need, template, template_guide};
pub use ferry_storage::DatasetRef;
pub use jobs::{
    ActivateDataset, Connectors, ProvisionDataset, ReclaimStaging, UndoDataset, ValidateDataset,
    delete_dataset,
};
pub use microsoft::{SubscriptionFacts, TenantFacts, TenantLookup};
pub use orders::OrderSplit;
pub use read::{CsvFile, EncodingSniffer, FileError, Header, RawRow, TextEncoding};
pub use report::Report;
pub use rows::{Finding, Layout, Severity, StagedRow};
pub use upload::{FileUpload, MAX_FILE_BYTES, UploadError};
