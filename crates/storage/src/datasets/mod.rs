//! Datasets: the dataset records and their files in chunks ([`DatasetStore`]), the staging
//! tables rows are loaded into, checked and applied from ([`StagingStore`]), the report
//! ([`ReportStore`]) and the subscriptions waiting for their vendor ([`ProvisioningStore`]).
//! Their statements are `sql.rs`, `staging_sql.rs`, `report_sql.rs` and
//! `provisioning_sql.rs`, written once for both backends (see `statements.rs`); `rules.rs`,
//! `apply.rs` and `undo.rs` build the set-level statements they run.

pub(crate) mod apply;
pub(crate) mod rules;
pub(crate) mod undo;

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use ferry_domain::{DatasetKind, DatasetState, Timestamp};
use serde::{Deserialize, Serialize};

use crate::Result;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Dataset {
    pub id: i64,
    pub marketplace_id: i64,
    #[sqlx(try_from = "String")]
    pub kind: DatasetKind,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub state: DatasetState,
    pub provision: bool,
    pub review: bool,
    pub created_by_user: Option<i64>,
    pub created_by_company: Option<i64>,
    /// Who created it, as the pages show it (an e-mail address or an API token's name).
    pub creator: String,
    pub job_id: Option<i64>,
    /// The plan of a validated dataset, as JSON.
    pub plan: Option<String>,
    /// Why the upload or a step failed.
    pub failure: Option<String>,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewDataset {
    pub marketplace_id: i64,
    pub kind: DatasetKind,
    pub name: String,
    pub provision: bool,
    pub review: bool,
    pub created_by_user: Option<i64>,
    pub created_by_company: Option<i64>,
    pub creator: String,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DatasetFile {
    pub dataset_id: i64,
    pub data_type: String,
    pub file_name: String,
    pub encoding: String,
    pub bytes: i64,
    pub rows_read: Option<i64>,
}

/// An error or warning about a row or a file, as stored and reported.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DatasetFinding {
    pub data_type: String,
    pub line: i64,
    pub external_id: Option<String>,
    pub severity: String,
    pub code: String,
    pub column_name: Option<String>,
    pub message: String,
    pub value: Option<String>,
}

/// Rows for one staging table: `columns` name the table's value columns.
#[derive(Debug, Clone)]
pub struct StagedRows<'a> {
    pub marketplace_id: i64,
    pub table: &'a str,
    pub columns: &'a [String],
    pub rows: &'a [StageRow],
}

/// One row to stage: its line, one value per column, its custom attributes (JSON), and the
/// fingerprint of all that (see `check_staged`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageRow {
    pub line: i64,
    pub values: Vec<Option<String>>,
    pub custom: Option<String>,
    pub hash: String,
}

/// What activation would do, or did, with the rows of one data type.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlanLine {
    pub data_type: String,
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub skipped: i64,
}

/// One line of a dataset's report.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReportLine {
    pub line: i64,
    pub external_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub outcome: ferry_domain::ReportOutcome,
    pub code: Option<String>,
    pub column_name: Option<String>,
    pub message: Option<String>,
    pub value: Option<String>,
}

/// A staged Microsoft customer or subscription, with what Partner Center is asked to confirm.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StagedMicrosoftRecord {
    pub line: i64,
    pub tenant_id: String,
    /// For a Microsoft subscription: its id.
    pub subscription_id: Option<String>,
    pub domain: Option<String>,
    pub country: Option<String>,
    pub offer_id: Option<String>,
    /// For a Microsoft subscription: the units of the subscription it stands for, in the
    /// dataset or else in the marketplace.
    pub units: Option<i64>,
}

/// A subscription a dataset created that waits for its vendor's connector (docs/datasets.md).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ProvisioningTarget {
    pub subscription_id: i64,
    pub external_id: Option<String>,
    /// The line of its row in the company entitlements file.
    pub line: Option<i64>,
    pub company_external_id: Option<String>,
    pub company_name: String,
    pub user_external_id: Option<String>,
    pub user_email: Option<String>,
    pub edition_code: String,
    pub edition_name: String,
    pub units: i64,
    pub webhook_url: Option<String>,
    pub webhook_secret_encrypted: Option<Vec<u8>>,
}

/// The name a file that is to replace the dataset's file of `data_type` is stored under while
/// it arrives (see `replace_dataset_files`); `dataset_files` does not list it.
pub fn replacement_name(data_type: &str) -> String {
    format!("{data_type}.replacement")
}

/// The staging table of a data type (`users` → `stage_users`), for the types there are.
pub fn staging_table(data_type: &str) -> Option<&'static str> {
    rules::ALL
        .iter()
        .find(|r| r.data_type == data_type)
        .map(|r| r.table)
}

/// One transaction of an activation: lines `lines` of `data_type`, applied under `lease` with
/// the job's `checkpoint`.
pub struct ActivationStep<'a> {
    pub lease: &'a crate::Lease,
    pub checkpoint: &'a crate::Checkpoint,
    pub dataset: DatasetRef,
    pub data_type: &'a str,
    pub lines: RangeInclusive<i64>,
}

/// What an operator may change of a dataset: named fields, so the two choices cannot be
/// swapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetEdit<'a> {
    pub name: &'a str,
    pub provision: bool,
    pub review: bool,
}

/// A dataset named with its marketplace. Storage takes the two together wherever it needs
/// both, so they cannot be swapped; it is also the payload of the dataset jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DatasetRef {
    pub marketplace_id: i64,
    pub dataset_id: i64,
}

impl Dataset {
    /// This dataset named with its marketplace.
    pub fn key(&self) -> DatasetRef {
        DatasetRef {
            marketplace_id: self.marketplace_id,
            dataset_id: self.id,
        }
    }
}

#[async_trait::async_trait]
pub trait DatasetStore: Send + Sync {
    /// Creates a dataset in `Created`. Fails with a conflict on `dataset in validation` while
    /// another dataset of the marketplace waits for or runs validation.
    async fn create_dataset(&self, new: &NewDataset) -> Result<Dataset>;
    async fn dataset(&self, dataset: DatasetRef) -> Result<Option<Dataset>>;
    /// Newest first; only those created by members of `company` when it is given.
    async fn datasets(&self, marketplace_id: i64, company: Option<i64>) -> Result<Vec<Dataset>>;
    /// The dataset waiting for or running validation, if any.
    async fn dataset_in_validation(&self, marketplace_id: i64) -> Result<Option<Dataset>>;
    async fn set_dataset_state(
        &self,
        dataset: DatasetRef,
        state: DatasetState,
        failure: Option<&str>,
    ) -> Result<()>;
    async fn set_dataset_plan(&self, dataset: DatasetRef, plan: &str) -> Result<()>;
    async fn set_dataset_job(&self, dataset: DatasetRef, job_id: i64) -> Result<()>;
    /// Sets the name, provisioning and review of a dataset.
    async fn edit_dataset(&self, dataset: DatasetRef, edit: &DatasetEdit<'_>) -> Result<()>;
    /// Undoes what a dataset's activation did (see `undo.rs`), records what that removed,
    /// restored and kept in the audit trail (by `actor`), and deletes the dataset, in one
    /// transaction. `None` when the dataset is gone, already undone.
    async fn undo_dataset(&self, dataset: DatasetRef, actor: &str) -> Result<Option<UndoOutcome>>;
    /// Removes the dataset, its files, findings and staged rows.
    async fn delete_dataset(&self, dataset: DatasetRef) -> Result<()>;

    /// Starts a file (replacing one of the same type): its bytes go to the writer returned, to
    /// the database or the file store (`files.rs`).
    async fn add_dataset_file(
        &self,
        dataset_id: i64,
        data_type: &str,
        file_name: &str,
    ) -> Result<Box<dyn crate::FileWriter>>;
    /// Puts each file stored under a temporary name in place of the dataset's file of its type
    /// (`(temporary, data_type)` pairs), and sends the dataset back to `Created`, to be
    /// validated again, without the findings of the files it had — all in one transaction. Refused with `Conflict` while another dataset
    /// of the marketplace waits for or runs validation, and with `NotFound` unless the dataset
    /// is between validation and activation.
    async fn replace_dataset_files(
        &self,
        dataset_id: i64,
        files: &[(String, String)],
    ) -> Result<()>;
    /// Removes one stored file and its bytes.
    async fn remove_dataset_file(&self, dataset_id: i64, data_type: &str) -> Result<()>;
    /// Records what storing the file found: its encoding and size.
    async fn finish_dataset_file(
        &self,
        dataset_id: i64,
        data_type: &str,
        encoding: &str,
        bytes: i64,
    ) -> Result<()>;
    async fn set_rows_read(&self, dataset_id: i64, data_type: &str, rows: i64) -> Result<()>;
    async fn dataset_files(&self, dataset_id: i64) -> Result<Vec<DatasetFile>>;
    /// The bytes of a stored file, read as they are consumed.
    async fn read_dataset_file(&self, dataset_id: i64, data_type: &str)
    -> Result<crate::FileBytes>;
    /// Deletes what the file store holds of files no dataset has any more (left by a crash or
    /// a delete the store did not answer); returns how many objects went.
    async fn sweep_files(&self) -> Result<u64>;
}

/// What undoing a dataset did, per kind of record ("companies", "memberships", …): how many it
/// removed, gave their former values back, and kept because someone changed them since or
/// something the dataset did not create uses them. Kinds with none are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UndoOutcome {
    pub removed: BTreeMap<String, i64>,
    pub restored: BTreeMap<String, i64>,
    pub kept: BTreeMap<String, i64>,
}

/// Staging: rows loaded into one table per data type, checked as a set, planned and applied.
#[async_trait::async_trait]
pub trait StagingStore: Send + Sync {
    /// Loads checked rows into a staging table, and marks those whose record was last written
    /// by the very same row (same fingerprint) unchanged.
    async fn stage_rows(&self, dataset_id: i64, rows: &StagedRows<'_>) -> Result<()>;
    /// Empties the staging tables and findings of a dataset, before it is validated again.
    async fn clear_staging(&self, dataset_id: i64) -> Result<()>;
    /// Makes the room of deleted datasets' staged rows reusable, where the backend needs
    /// telling: PostgreSQL vacuums every staging table, which takes a while (a job's work).
    async fn reclaim_staging(&self) -> Result<()>;
    async fn add_findings(&self, dataset_id: i64, findings: &[DatasetFinding]) -> Result<()>;
    /// Keeps one row of each set of a dataset's staged rows with the same fingerprint, the
    /// first: rows that repeat one record (orders of one company) become that record.
    async fn merge_repeated_rows(&self, dataset_id: i64, tables: &[&str]) -> Result<()>;
    /// For a reseller's dataset, before `check_staged`: a finding for every row that touches a
    /// company, user or subscription that is not the reseller's or its customers', and those
    /// rows rejected.
    async fn check_reseller_scope(
        &self,
        dataset: DatasetRef,
        reseller_company_id: i64,
    ) -> Result<()>;
    /// Makes the companies a reseller's dataset brought in, and that have no reseller yet, the
    /// reseller's customers (undone with the dataset). Doing it again adds nothing.
    async fn associate_with_reseller(
        &self,
        dataset: DatasetRef,
        reseller_company_id: i64,
    ) -> Result<()>;
    /// The staged rows of `microsoft_customers` or `microsoft_subscriptions` not rejected, after
    /// `after_line`, at most `limit`, in line order.
    async fn staged_microsoft_records(
        &self,
        dataset_id: i64,
        data_type: &str,
        after_line: i64,
        limit: i64,
    ) -> Result<Vec<StagedMicrosoftRecord>>;
    /// The set-level checks: a finding for every row a rule refuses, and those rows rejected.
    /// Rows found unchanged when staged (see `stage_rows`) are only checked for duplicates.
    async fn check_staged(&self, dataset: DatasetRef) -> Result<()>;
    /// For an order dataset, after `check_staged`: an order with an error anywhere is refused
    /// whole (its subscription, seat, and the records no other order needs).
    async fn refuse_incomplete_orders(&self, dataset: DatasetRef) -> Result<()>;
    /// What activation would do, per data type. With `keep`, the decisions stay for an
    /// activation that follows at once; otherwise they are rolled back (the plan writes nothing).
    async fn plan_staged(&self, dataset: DatasetRef, keep: bool) -> Result<Vec<PlanLine>>;
    /// What activation did, per data type.
    async fn staged_outcomes(&self, dataset_id: i64) -> Result<Vec<PlanLine>>;
    /// Refreshes the planner's statistics of the tables a data type's activation wrote, so the
    /// next type's joins are planned from what they hold now.
    async fn refresh_statistics(&self, data_type: &str) -> Result<()>;
    /// The first and last staged line of a data type, if it has rows.
    async fn staged_lines(&self, dataset_id: i64, data_type: &str) -> Result<Option<(i64, i64)>>;
    /// Applies a range of lines of a data type, as `plan_staged` decided them, and records the
    /// job's checkpoint, in one transaction, only while the worker holds the job's lease.
    async fn activate_lines(&self, step: &ActivationStep<'_>) -> Result<()>;
}

/// Provisioning: the subscriptions a dataset created that wait for their vendor.
#[async_trait::async_trait]
pub trait ProvisioningStore: Send + Sync {
    /// Subscriptions of a dataset waiting for their connector, by id after `after`.
    async fn pending_provisioning(
        &self,
        dataset: DatasetRef,
        after: i64,
        limit: i64,
    ) -> Result<Vec<ProvisioningTarget>>;
    /// What the vendor answered: the subscription becomes active, or failed with the reason.
    async fn set_provisioned(&self, subscription_id: i64, error: Option<&str>) -> Result<()>;
}

/// The report: findings and outcomes, line by line.
#[async_trait::async_trait]
pub trait ReportStore: Send + Sync {
    /// The last line of a data type the report has something to say about.
    async fn report_last_line(&self, dataset_id: i64, data_type: &str) -> Result<Option<i64>>;
    /// The report's lines of a data type for lines `from..=to`: findings and outcomes.
    async fn report_lines(
        &self,
        dataset_id: i64,
        data_type: &str,
        lines: RangeInclusive<i64>,
    ) -> Result<Vec<ReportLine>>;
    /// Whether any finding of the dataset is an error.
    async fn dataset_has_errors(&self, dataset_id: i64) -> Result<bool>;
    /// Findings in report order (file, line), `limit` from `offset`.
    async fn dataset_findings(
        &self,
        dataset_id: i64,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<DatasetFinding>>;
}

/// Every staging table.
pub(crate) fn staging_tables() -> Vec<&'static str> {
    rules::ALL.iter().map(|r| r.table).collect()
}

/// Table and column names are spliced into SQL, so only plain lower-case identifiers pass.
pub(crate) fn identifier(name: &str) -> Result<&str> {
    let plain = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_';
    if name.as_bytes().first().is_some_and(u8::is_ascii_lowercase) && name.bytes().all(plain) {
        Ok(name)
    } else {
        Err(crate::StoreError::Identifier(name.to_owned()))
    }
}

/// A staged tenant's domain as tenant links keep it: the prefix of its `onmicrosoft.com`
/// domain, in lower case (`Contoso.onmicrosoft.com` → `contoso`).
const DOMAIN_PREFIX: &str = "lower(CASE WHEN lower(s.domain) LIKE '%.onmicrosoft.com' \
    THEN substr(s.domain, 1, length(s.domain) - 16) ELSE s.domain END)";

/// Fills a statement's dialect placeholders (see `apply.rs`).
pub(crate) fn dialect(sql: &str, dialect: &Dialect) -> String {
    let mut sql = sql
        .replace("{distinct}", dialect.distinct)
        .replace("{domain_prefix}", DOMAIN_PREFIX)
        .replace("{json_type}", dialect.json_type)
        .replace("{date_type}", dialect.date_type)
        .replace("{bool_type}", dialect.bool_type)
        .replace("{json_object}", dialect.json_object);
    while let Some(start) = sql.find("{get:") {
        let Some(end) = sql[start..].find('}').map(|e| start + e) else {
            break;
        };
        let key = sql[start + 5..end].to_owned();
        sql.replace_range(start..=end, &dialect.json_get.replace("KEY", &key));
    }
    sql
}

/// How a backend spells what activation needs (see `apply.rs`).
pub(crate) struct Dialect {
    pub distinct: &'static str,
    pub json_type: &'static str,
    pub date_type: &'static str,
    pub bool_type: &'static str,
    pub json_object: &'static str,
    /// Reads key `KEY` of the JSON text `d.before`, as text.
    pub json_get: &'static str,
    /// Refreshes the planner's statistics of a table just filled (PostgreSQL plans joins from
    /// them); empty where the planner does without.
    pub analyze: &'static str,
    /// Makes the room of deleted rows reusable; empty where the backend does it by itself.
    pub vacuum: &'static str,
    /// Run before the set-level checks and after them, where memory needs it: SQLite sorts
    /// (grouping addresses, ranking duplicates) in as much memory as its page cache holds
    /// before spilling to a temporary file, so the checks run with a small cache.
    pub checks_begin: &'static str,
    pub checks_end: &'static str,
}

macro_rules! dataset_columns {
    () => {
        "id, marketplace_id, kind, name, state, provision, review, created_by_user,
         created_by_company, creator, job_id, plan, failure, created_at, updated_at"
    };
}

pub(crate) use dataset_columns;

/// The columns a staging insert fills, in order, checked to be plain names.
pub(crate) fn staging_columns(staged: &StagedRows<'_>) -> Result<String> {
    let mut columns = String::from("dataset_id, line, custom, row_hash");
    for column in staged.columns {
        columns.push_str(", ");
        columns.push_str(identifier(column)?);
    }
    Ok(columns)
}

/// The outcome of a row `s` as it is staged: unchanged when its record was last written by the
/// very same row (see `apply::UNCHANGED`), otherwise not decided yet.
pub(crate) fn staged_outcome(table: &str, marketplace_id: i64) -> String {
    match apply::UNCHANGED.iter().find(|(t, _)| *t == table) {
        // The marketplace is an integer: written into the statement, it is safe.
        Some((_, condition)) => format!(
            "CASE WHEN {} THEN 'unchanged' END",
            condition.replace("$2", &marketplace_id.to_string())
        ),
        None => "NULL".to_owned(),
    }
}
