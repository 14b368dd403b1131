//! Datasets: bulk CSV migration (docs/datasets.md). This crate holds what is decided without a
//! database — the columns of each data type, reading files, checking each row — and the
//! pipeline that stages rows, validates them against the marketplace, plans and activates.

pub mod columns;
pub mod microsoft;
pub mod orders;
pub mod pipeline;
pub mod read;
pub mod report;
pub mod rows;
pub mod upload;

pub use columns::{Column, DataType, Format, Need, template, template_guide};
pub use microsoft::{SubscriptionFacts, TenantFacts, TenantLookup};
pub use orders::OrderSplit;
pub use pipeline::{
    ActivateDataset, ProvisionDataset, ValidateDataset, activation_job, provisioning_job,
    validation_job,
};
pub use read::{CsvFile, EncodingSniffer, FileError, Header, RawRow, TextEncoding};
pub use report::Report;
pub use rows::{Finding, Layout, Severity, StagedRow};
pub use upload::{FileUpload, MAX_FILE_BYTES, UploadError};
