//! Storage of datasets (PRODUCT.md §4): the dataset rows, their files in chunks, findings, and
//! the staging tables rows are loaded into. Written once for both backends by
//! [`impl_dataset_store!`], as `shared.rs` does for the rest.

pub(crate) mod apply;
pub(crate) mod rules;
pub(crate) mod undo;

use ferry_domain::{DatasetKind, DatasetState, Timestamp};

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
    /// CREATED, UPDATED, UNCHANGED, SKIPPED, ERROR or WARNING.
    pub outcome: String,
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

/// A subscription a dataset created that waits for its vendor's connector (PRODUCT.md §9).
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

#[async_trait::async_trait]
pub trait DatasetStore: Send + Sync {
    /// Creates a dataset in `Created`. Fails with a conflict on `dataset in validation` while
    /// another dataset of the marketplace waits for or runs validation.
    async fn create_dataset(&self, new: &NewDataset) -> Result<Dataset>;
    async fn dataset(&self, marketplace_id: i64, id: i64) -> Result<Option<Dataset>>;
    /// Newest first; only those created by members of `company` when it is given.
    async fn datasets(&self, marketplace_id: i64, company: Option<i64>) -> Result<Vec<Dataset>>;
    /// The dataset waiting for or running validation, if any.
    async fn dataset_in_validation(&self, marketplace_id: i64) -> Result<Option<Dataset>>;
    async fn set_dataset_state(
        &self,
        id: i64,
        state: DatasetState,
        failure: Option<&str>,
    ) -> Result<()>;
    async fn set_dataset_plan(&self, id: i64, plan: &str) -> Result<()>;
    async fn set_dataset_job(&self, id: i64, job_id: i64) -> Result<()>;
    /// Sets the name, provisioning and review of a dataset.
    async fn edit_dataset(&self, id: i64, name: &str, provision: bool, review: bool) -> Result<()>;
    /// Undoes what a dataset's activation did (see `undo.rs`); its records stay otherwise.
    async fn undo_dataset(&self, marketplace_id: i64, id: i64) -> Result<()>;
    /// Removes the dataset, its files, findings and staged rows.
    async fn delete_dataset(&self, marketplace_id: i64, id: i64) -> Result<()>;

    /// Starts a file (replacing one of the same type) before its chunks are appended.
    async fn add_dataset_file(
        &self,
        dataset_id: i64,
        data_type: &str,
        file_name: &str,
    ) -> Result<()>;
    /// Puts each file stored under a temporary name in place of the dataset's file of its type
    /// (`(temporary, data_type)` pairs), and sends the dataset back to `Created`, to be
    /// validated again — all in one transaction. Refused with `Conflict` while another dataset
    /// of the marketplace waits for or runs validation, and with `NotFound` unless the dataset
    /// is between validation and activation.
    async fn replace_dataset_files(
        &self,
        dataset_id: i64,
        files: &[(String, String)],
    ) -> Result<()>;
    /// Removes one stored file and its chunks.
    async fn remove_dataset_file(&self, dataset_id: i64, data_type: &str) -> Result<()>;
    async fn append_dataset_chunk(
        &self,
        dataset_id: i64,
        data_type: &str,
        seq: i64,
        data: &[u8],
    ) -> Result<()>;
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
    async fn dataset_chunk(
        &self,
        dataset_id: i64,
        data_type: &str,
        seq: i64,
    ) -> Result<Option<Vec<u8>>>;

    /// Loads checked rows into a staging table, and marks those whose record was last written
    /// by the very same row (same fingerprint) unchanged.
    async fn stage_rows(&self, dataset_id: i64, rows: &StagedRows<'_>) -> Result<()>;
    /// Empties the staging tables and findings of a dataset, before it is validated again.
    async fn clear_staging(&self, dataset_id: i64, tables: &[&str]) -> Result<()>;
    async fn add_findings(&self, dataset_id: i64, findings: &[DatasetFinding]) -> Result<()>;
    /// Keeps one row of each set of a dataset's staged rows with the same fingerprint, the
    /// first: rows that repeat one record (orders of one company) become that record.
    async fn merge_repeated_rows(&self, dataset_id: i64, tables: &[&str]) -> Result<()>;
    /// For a reseller's dataset, before `check_staged`: a finding for every row that touches a
    /// company, user or subscription that is not the reseller's or its customers', and those
    /// rows rejected.
    async fn check_reseller_scope(
        &self,
        dataset_id: i64,
        marketplace_id: i64,
        reseller_company_id: i64,
    ) -> Result<()>;
    /// Makes the companies a reseller's dataset brought in, and that have no reseller yet, the
    /// reseller's customers (undone with the dataset). Doing it again adds nothing.
    async fn associate_with_reseller(
        &self,
        dataset_id: i64,
        marketplace_id: i64,
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
    async fn check_staged(&self, dataset_id: i64, marketplace_id: i64) -> Result<()>;
    /// What activation would do, per data type. With `keep`, the decisions stay for an
    /// activation that follows at once; otherwise they are rolled back (the plan writes nothing).
    async fn plan_staged(
        &self,
        dataset_id: i64,
        marketplace_id: i64,
        keep: bool,
    ) -> Result<Vec<PlanLine>>;
    /// What activation did, per data type.
    async fn staged_outcomes(&self, dataset_id: i64) -> Result<Vec<PlanLine>>;
    /// Refreshes the planner's statistics of the tables a data type's activation wrote, so the
    /// next type's joins are planned from what they hold now.
    async fn refresh_statistics(&self, data_type: &str) -> Result<()>;
    /// Sets where a product's webhook events go and the sealed secret that signs them (without
    /// a secret the current one stays; without an address both are removed).
    async fn set_product_webhook(
        &self,
        marketplace_id: i64,
        product_id: i64,
        url: Option<&str>,
        secret_sealed: Option<&[u8]>,
    ) -> Result<()>;
    /// Subscriptions of a dataset waiting for their connector, by id after `after`.
    async fn pending_provisioning(
        &self,
        dataset_id: i64,
        marketplace_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<ProvisioningTarget>>;
    /// What the vendor answered: the subscription becomes active, or failed with the reason.
    async fn set_provisioned(&self, subscription_id: i64, error: Option<&str>) -> Result<()>;
    /// The first and last staged line of a data type, if it has rows.
    async fn staged_lines(&self, dataset_id: i64, data_type: &str) -> Result<Option<(i64, i64)>>;
    /// Applies lines `from..=to` of a data type, as `plan_staged` decided them, and records the
    /// job's checkpoint, in one transaction, only while the worker holds the job's lease.
    #[allow(clippy::too_many_arguments)]
    async fn activate_lines(
        &self,
        lease: &crate::Lease,
        checkpoint: &crate::Checkpoint,
        dataset_id: i64,
        marketplace_id: i64,
        data_type: &str,
        from: i64,
        to: i64,
    ) -> Result<()>;
    /// The last line of a data type the report has something to say about.
    async fn report_last_line(&self, dataset_id: i64, data_type: &str) -> Result<Option<i64>>;
    /// The report's lines of a data type for lines `from..=to`: findings and outcomes.
    async fn report_lines(
        &self,
        dataset_id: i64,
        data_type: &str,
        from: i64,
        to: i64,
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

/// Table and column names are spliced into SQL, so only plain lower-case identifiers pass.
pub(crate) fn identifier(name: &str) -> Result<&str> {
    let plain = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_';
    if name.as_bytes().first().is_some_and(u8::is_ascii_lowercase) && name.bytes().all(plain) {
        Ok(name)
    } else {
        Err(crate::StoreError::Identifier(name.to_owned()))
    }
}

/// Fills a statement's dialect placeholders (see `apply.rs`).
pub(crate) fn dialect(sql: &str, dialect: &Dialect) -> String {
    let mut sql = sql
        .replace("{distinct}", dialect.distinct)
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
}

macro_rules! impl_dataset_store {
    (
        store: $store:ty,
        begin_write: $begin_write:literal,
        dialect: $dialect:expr $(,)?
    ) => {
        impl $store {
            /// Makes the room of removed staged rows reusable, where the backend needs telling
            /// (PostgreSQL: autovacuum is off on staging tables, see migration 0007).
            async fn reclaim_staging(&self, tables: &[&str]) -> $crate::Result<()> {
                let dialect = $dialect;
                if dialect.vacuum.is_empty() {
                    return Ok(());
                }
                for table in tables {
                    let table = $crate::datasets::identifier(table)?;
                    let sql = format!("{} {table}", dialect.vacuum);
                    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&self.pool).await?;
                }
                Ok(())
            }

            /// Records the findings of every rule of `types`, type by type, and rejects the
            /// rows with errors before the next type is checked. `params` are bound after the
            /// dataset (`$2`, `$3`…).
            async fn run_rules(
                &self,
                dataset_id: i64,
                types: &[$crate::datasets::rules::TypeRules],
                params: &[i64],
            ) -> $crate::Result<()> {
                for rules in types {
                    let mut tx = self.pool.begin_with($begin_write).await?;
                    for rule in rules.rules {
                        let sql = $crate::datasets::rules::finding_statement(rules, rule);
                        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(dataset_id);
                        for param in params {
                            query = query.bind(*param);
                        }
                        query.execute(&mut *tx).await?;
                    }
                    let sql = $crate::datasets::rules::reject_statement(rules);
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(dataset_id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::datasets::DatasetStore for $store {
            async fn create_dataset(
                &self,
                new: &$crate::datasets::NewDataset,
            ) -> $crate::Result<$crate::datasets::Dataset> {
                let now = $crate::now().millis();
                Ok(sqlx::query_as(concat!(
                    "INSERT INTO datasets (marketplace_id, kind, name, state, provision, review,
                        created_by_user, created_by_company, creator, created_at, updated_at)
                     VALUES ($1, $2, $3, 'created', $4, $5, $6, $7, $8, $9, $9)
                     RETURNING ",
                    dataset_columns!()
                ))
                .bind(new.marketplace_id)
                .bind(new.kind.as_str())
                .bind(&new.name)
                .bind(new.provision)
                .bind(new.review)
                .bind(new.created_by_user)
                .bind(new.created_by_company)
                .bind(&new.creator)
                .bind(now)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn dataset(
                &self,
                marketplace_id: i64,
                id: i64,
            ) -> $crate::Result<Option<$crate::datasets::Dataset>> {
                Ok(sqlx::query_as(concat!(
                    "SELECT ",
                    dataset_columns!(),
                    " FROM datasets WHERE marketplace_id = $1 AND id = $2"
                ))
                .bind(marketplace_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn datasets(
                &self,
                marketplace_id: i64,
                company: Option<i64>,
            ) -> $crate::Result<Vec<$crate::datasets::Dataset>> {
                Ok(sqlx::query_as(concat!(
                    "SELECT ",
                    dataset_columns!(),
                    " FROM datasets WHERE marketplace_id = $1
                      AND ($2 IS NULL OR created_by_company = $2) ORDER BY id DESC"
                ))
                .bind(marketplace_id)
                .bind(company)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn dataset_in_validation(
                &self,
                marketplace_id: i64,
            ) -> $crate::Result<Option<$crate::datasets::Dataset>> {
                Ok(sqlx::query_as(concat!(
                    "SELECT ",
                    dataset_columns!(),
                    " FROM datasets WHERE marketplace_id = $1
                      AND state IN ('created', 'validating')"
                ))
                .bind(marketplace_id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn set_dataset_state(
                &self,
                id: i64,
                state: ferry_domain::DatasetState,
                failure: Option<&str>,
            ) -> $crate::Result<()> {
                let now = $crate::now().millis();
                sqlx::query(
                    "UPDATE datasets SET state = $2, failure = $3, updated_at = $4,
                        activated_at = CASE WHEN $2 IN ('activated', 'activated_with_errors')
                                            THEN $4 ELSE activated_at END
                     WHERE id = $1",
                )
                .bind(id)
                .bind(state.as_str())
                .bind(failure)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn set_dataset_plan(&self, id: i64, plan: &str) -> $crate::Result<()> {
                sqlx::query("UPDATE datasets SET plan = $2 WHERE id = $1")
                    .bind(id)
                    .bind(plan)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn set_dataset_job(&self, id: i64, job_id: i64) -> $crate::Result<()> {
                sqlx::query("UPDATE datasets SET job_id = $2 WHERE id = $1")
                    .bind(id)
                    .bind(job_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn edit_dataset(
                &self,
                id: i64,
                name: &str,
                provision: bool,
                review: bool,
            ) -> $crate::Result<()> {
                sqlx::query(
                    "UPDATE datasets SET name = $2, provision = $3, review = $4, updated_at = $5
                     WHERE id = $1",
                )
                .bind(id)
                .bind(name)
                .bind(provision)
                .bind(review)
                .bind($crate::now().millis())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn undo_dataset(&self, marketplace_id: i64, id: i64) -> $crate::Result<()> {
                let activated: Option<(Option<i64>,)> = sqlx::query_as(
                    "SELECT activated_at FROM datasets WHERE marketplace_id = $1 AND id = $2",
                )
                .bind(marketplace_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                let Some((Some(activated_at),)) = activated else {
                    return Ok(()); // Never activated: nothing to undo.
                };
                let mut tx = self.pool.begin_with($begin_write).await?;
                for statement in $crate::datasets::undo::STATEMENTS {
                    let sql = $crate::datasets::dialect(statement, &$dialect);
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(id)
                        .bind(marketplace_id)
                        .bind(activated_at)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn delete_dataset(&self, marketplace_id: i64, id: i64) -> $crate::Result<()> {
                // Staging tables, findings, files and chunks go with it (ON DELETE CASCADE).
                let deleted = sqlx::query("DELETE FROM datasets WHERE marketplace_id = $1 AND id = $2")
                    .bind(marketplace_id)
                    .bind(id)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                if deleted > 0 {
                    let tables: Vec<&str> =
                        $crate::datasets::rules::ALL.iter().map(|r| r.table).collect();
                    self.reclaim_staging(&tables).await?;
                }
                Ok(())
            }

            async fn replace_dataset_files(
                &self,
                dataset_id: i64,
                files: &[(String, String)],
            ) -> $crate::Result<()> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let remove = "DELETE FROM dataset_files WHERE dataset_id = $1 AND data_type = $2";
                for (temporary, data_type) in files {
                    sqlx::query(remove)
                        .bind(dataset_id)
                        .bind(data_type)
                        .execute(&mut *tx)
                        .await?;
                    // The chunks move to a file row of the type before the temporary row goes.
                    for sql in [
                        "INSERT INTO dataset_files (dataset_id, data_type, file_name, encoding, bytes)
                         SELECT dataset_id, $2, file_name, encoding, bytes FROM dataset_files
                         WHERE dataset_id = $1 AND data_type = $3",
                        "UPDATE dataset_file_chunks SET data_type = $2 WHERE dataset_id = $1 AND data_type = $3",
                    ] {
                        sqlx::query(sql)
                            .bind(dataset_id)
                            .bind(data_type)
                            .bind(temporary)
                            .execute(&mut *tx)
                            .await?;
                    }
                    sqlx::query(remove)
                        .bind(dataset_id)
                        .bind(temporary)
                        .execute(&mut *tx)
                        .await?;
                }
                // Only a dataset between validation and activation takes new files
                // (`DatasetState::takes_files`).
                let sent_back = sqlx::query(
                    "UPDATE datasets SET state = 'created', plan = NULL, failure = NULL, updated_at = $2
                     WHERE id = $1 AND state IN ('validated', 'upload_failed', 'cancelled')",
                )
                .bind(dataset_id)
                .bind($crate::now().millis())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if sent_back == 0 {
                    return Err($crate::StoreError::NotFound {
                        what: "dataset between validation and activation",
                    });
                }
                tx.commit().await?;
                Ok(())
            }

            async fn remove_dataset_file(&self, dataset_id: i64, data_type: &str) -> $crate::Result<()> {
                sqlx::query("DELETE FROM dataset_files WHERE dataset_id = $1 AND data_type = $2")
                    .bind(dataset_id)
                    .bind(data_type)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn add_dataset_file(
                &self,
                dataset_id: i64,
                data_type: &str,
                file_name: &str,
            ) -> $crate::Result<()> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                sqlx::query("DELETE FROM dataset_files WHERE dataset_id = $1 AND data_type = $2")
                    .bind(dataset_id)
                    .bind(data_type)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO dataset_files (dataset_id, data_type, file_name, encoding, bytes)
                     VALUES ($1, $2, $3, 'utf8', 0)",
                )
                .bind(dataset_id)
                .bind(data_type)
                .bind(file_name)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn append_dataset_chunk(
                &self,
                dataset_id: i64,
                data_type: &str,
                seq: i64,
                data: &[u8],
            ) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO dataset_file_chunks (dataset_id, data_type, seq, data)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(dataset_id)
                .bind(data_type)
                .bind(seq)
                .bind(data)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn finish_dataset_file(
                &self,
                dataset_id: i64,
                data_type: &str,
                encoding: &str,
                bytes: i64,
            ) -> $crate::Result<()> {
                sqlx::query(
                    "UPDATE dataset_files SET encoding = $3, bytes = $4
                     WHERE dataset_id = $1 AND data_type = $2",
                )
                .bind(dataset_id)
                .bind(data_type)
                .bind(encoding)
                .bind(bytes)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn set_rows_read(
                &self,
                dataset_id: i64,
                data_type: &str,
                rows: i64,
            ) -> $crate::Result<()> {
                sqlx::query(
                    "UPDATE dataset_files SET rows_read = $3 WHERE dataset_id = $1 AND data_type = $2",
                )
                .bind(dataset_id)
                .bind(data_type)
                .bind(rows)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn dataset_files(
                &self,
                dataset_id: i64,
            ) -> $crate::Result<Vec<$crate::datasets::DatasetFile>> {
                Ok(sqlx::query_as(
                    "SELECT dataset_id, data_type, file_name, encoding, bytes, rows_read
                     FROM dataset_files WHERE dataset_id = $1 AND data_type NOT LIKE '%.replacement'
                     ORDER BY data_type",
                )
                .bind(dataset_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn dataset_chunk(
                &self,
                dataset_id: i64,
                data_type: &str,
                seq: i64,
            ) -> $crate::Result<Option<Vec<u8>>> {
                let row: Option<(Vec<u8>,)> = sqlx::query_as(
                    "SELECT data FROM dataset_file_chunks
                     WHERE dataset_id = $1 AND data_type = $2 AND seq = $3",
                )
                .bind(dataset_id)
                .bind(data_type)
                .bind(seq)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(data,)| data))
            }

            async fn stage_rows(
                &self,
                dataset_id: i64,
                staged: &$crate::datasets::StagedRows<'_>,
            ) -> $crate::Result<()> {
                // The fastest way in differs per backend; each marks the rows whose record was
                // last written by the very same row unchanged as they go in, which costs far
                // less than a pass over the staged table later.
                let mut tx = self.pool.begin_with($begin_write).await?;
                Self::stage_rows_fast(&mut *tx, dataset_id, staged).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn clear_staging(&self, dataset_id: i64, tables: &[&str]) -> $crate::Result<()> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let mut removed = 0;
                for table in tables {
                    let table = $crate::datasets::identifier(table)?;
                    // `identifier` admitted only a plain name.
                    let sql = format!("DELETE FROM {table} WHERE dataset_id = $1");
                    removed += sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(dataset_id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                sqlx::query("DELETE FROM dataset_findings WHERE dataset_id = $1")
                    .bind(dataset_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                if removed > 0 {
                    self.reclaim_staging(tables).await?;
                }
                Ok(())
            }

            async fn merge_repeated_rows(&self, dataset_id: i64, tables: &[&str]) -> $crate::Result<()> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                for table in tables {
                    let table = $crate::datasets::identifier(table)?;
                    // `identifier` admitted only a plain name.
                    let sql = format!(
                        "DELETE FROM {table} WHERE dataset_id = $1 AND line NOT IN
                            (SELECT MIN(line) FROM {table} WHERE dataset_id = $1 GROUP BY row_hash)"
                    );
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(dataset_id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn add_findings(
                &self,
                dataset_id: i64,
                findings: &[$crate::datasets::DatasetFinding],
            ) -> $crate::Result<()> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                for chunk in findings.chunks(2_000) {
                    let mut sql = sqlx::QueryBuilder::new(
                        "INSERT INTO dataset_findings (dataset_id, data_type, line, external_id,
                            severity, code, column_name, message, value) ",
                    );
                    sql.push_values(chunk, |mut row, f| {
                        row.push_bind(dataset_id)
                            .push_bind(f.data_type.clone())
                            .push_bind(f.line)
                            .push_bind(f.external_id.clone())
                            .push_bind(f.severity.clone())
                            .push_bind(f.code.clone())
                            .push_bind(f.column_name.clone())
                            .push_bind(f.message.clone())
                            .push_bind(f.value.clone());
                    });
                    sql.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn check_reseller_scope(
                &self,
                dataset_id: i64,
                marketplace_id: i64,
                reseller_company_id: i64,
            ) -> $crate::Result<()> {
                self.run_rules(
                    dataset_id,
                    $crate::datasets::rules::RESELLER_SCOPE,
                    &[marketplace_id, reseller_company_id],
                )
                .await
            }

            async fn associate_with_reseller(
                &self,
                dataset_id: i64,
                marketplace_id: i64,
                reseller_company_id: i64,
            ) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO reseller_associations (company_id, reseller_company_id, origin_ref)
                     SELECT c.id, $3, $1 FROM stage_companies s
                     JOIN companies c ON c.marketplace_id = $2 AND c.external_id = s.external_id
                     WHERE s.dataset_id = $1 AND NOT s.rejected AND c.id <> $3
                       AND NOT EXISTS (SELECT 1 FROM reseller_associations ra WHERE ra.company_id = c.id)",
                )
                .bind(dataset_id)
                .bind(marketplace_id)
                .bind(reseller_company_id)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn staged_microsoft_records(
                &self,
                dataset_id: i64,
                data_type: &str,
                after_line: i64,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::datasets::StagedMicrosoftRecord>> {
                let sql = match data_type {
                    "microsoft_customers" => {
                        "SELECT line, tenant_id, CAST(NULL AS TEXT) AS subscription_id, domain, country,
                                CAST(NULL AS TEXT) AS offer_id, CAST(NULL AS BIGINT) AS units
                         FROM stage_microsoft_customers
                         WHERE dataset_id = $1 AND NOT rejected AND line > $2 ORDER BY line LIMIT $3"
                    }
                    "microsoft_subscriptions" => {
                        "SELECT s.line, s.tenant_id, s.subscription_id, CAST(NULL AS TEXT) AS domain,
                                CAST(NULL AS TEXT) AS country, s.offer_id,
                                COALESCE(
                                    (SELECT CAST(e.units AS BIGINT) FROM stage_company_entitlements e
                                     WHERE e.dataset_id = $1 AND NOT e.rejected
                                       AND e.external_id = s.company_entitlement_external_id
                                     ORDER BY e.line LIMIT 1),
                                    (SELECT x.units FROM subscriptions x JOIN datasets d ON d.id = $1
                                     WHERE x.marketplace_id = d.marketplace_id
                                       AND x.external_id = s.company_entitlement_external_id)) AS units
                         FROM stage_microsoft_subscriptions s
                         WHERE s.dataset_id = $1 AND NOT s.rejected AND s.line > $2
                         ORDER BY s.line LIMIT $3"
                    }
                    other => return Err($crate::StoreError::Identifier(other.to_owned())),
                };
                Ok(sqlx::query_as(sql)
                    .bind(dataset_id)
                    .bind(after_line)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn check_staged(&self, dataset_id: i64, marketplace_id: i64) -> $crate::Result<()> {
                let dialect = $dialect;
                if !dialect.analyze.is_empty() {
                    for rules in $crate::datasets::rules::ALL {
                        let sql = format!("{} {}", dialect.analyze, rules.table);
                        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&self.pool).await?;
                    }
                }
                self.run_rules(dataset_id, $crate::datasets::rules::ALL, &[marketplace_id])
                    .await
            }

            async fn plan_staged(
                &self,
                dataset_id: i64,
                marketplace_id: i64,
                keep: bool,
            ) -> $crate::Result<Vec<$crate::datasets::PlanLine>> {
                // Decide every row's outcome as activation would, and count.
                let mut tx = self.pool.begin_with($begin_write).await?;
                for apply in $crate::datasets::apply::ALL {
                    let sql = $crate::datasets::dialect(apply.decide(), &$dialect);
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(dataset_id)
                        .bind(marketplace_id)
                        .bind(i64::MIN)
                        .bind(i64::MAX)
                        .bind($crate::now().millis())
                        .execute(&mut *tx)
                        .await?;
                }
                let plan = outcomes(&mut *tx, dataset_id).await?;
                if keep {
                    tx.commit().await?;
                } else {
                    tx.rollback().await?;
                }
                Ok(plan)
            }

            async fn staged_outcomes(
                &self,
                dataset_id: i64,
            ) -> $crate::Result<Vec<$crate::datasets::PlanLine>> {
                outcomes(&self.pool, dataset_id).await
            }

            async fn set_product_webhook(
                &self,
                marketplace_id: i64,
                product_id: i64,
                url: Option<&str>,
                secret_sealed: Option<&[u8]>,
            ) -> $crate::Result<()> {
                let done = sqlx::query(
                    "UPDATE products SET webhook_url = $3,
                        webhook_secret_encrypted = CASE WHEN $3 IS NULL THEN NULL
                                                        ELSE COALESCE($4, webhook_secret_encrypted) END
                     WHERE marketplace_id = $1 AND id = $2",
                )
                .bind(marketplace_id)
                .bind(product_id)
                .bind(url)
                .bind(secret_sealed)
                .execute(&self.pool)
                .await?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound { what: "product" });
                }
                Ok(())
            }

            async fn pending_provisioning(
                &self,
                dataset_id: i64,
                marketplace_id: i64,
                after: i64,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::datasets::ProvisioningTarget>> {
                Ok(sqlx::query_as(
                    "SELECT e.id AS subscription_id, e.external_id,
                        (SELECT MIN(s.line) FROM stage_company_entitlements s
                         WHERE s.dataset_id = $1 AND s.external_id = e.external_id) AS line,
                        c.external_id AS company_external_id, c.name AS company_name,
                        u.external_id AS user_external_id, u.email AS user_email,
                        ed.code AS edition_code, ed.name AS edition_name, e.units,
                        p.webhook_url, p.webhook_secret_encrypted
                     FROM subscriptions e
                     JOIN companies c ON c.id = e.company_id
                     JOIN editions ed ON ed.id = e.edition_id
                     JOIN products p ON p.id = ed.product_id
                     LEFT JOIN users u ON u.id = e.purchased_by
                     WHERE e.marketplace_id = $2 AND e.origin_kind = 'dataset' AND e.origin_ref = $1
                       AND e.status = 'pending' AND e.id > $3
                     ORDER BY e.id LIMIT $4",
                )
                .bind(dataset_id)
                .bind(marketplace_id)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn set_provisioned(
                &self,
                subscription_id: i64,
                error: Option<&str>,
            ) -> $crate::Result<()> {
                sqlx::query(
                    "UPDATE subscriptions SET provisioning_error = $2,
                        status = CASE WHEN $2 IS NULL THEN 'active' ELSE 'failed' END,
                        updated_at = $3
                     WHERE id = $1 AND status = 'pending'",
                )
                .bind(subscription_id)
                .bind(error)
                .bind($crate::now().millis())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn refresh_statistics(&self, data_type: &str) -> $crate::Result<()> {
                let dialect = $dialect;
                if dialect.analyze.is_empty() {
                    return Ok(());
                }
                let tables: &[&str] = match data_type {
                    "users" => &["users"],
                    "companies" => &["companies"],
                    "memberships" => &["memberships"],
                    "reseller_associations" => &["reseller_associations"],
                    "company_entitlements" => &["subscriptions"],
                    "user_entitlements" => &["seat_assignments"],
                    "microsoft_customers" => &["tenant_links"],
                    _ => &[],
                };
                for table in tables {
                    let sql = format!("{} {table}", dialect.analyze);
                    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&self.pool).await?;
                }
                Ok(())
            }

            async fn staged_lines(
                &self,
                dataset_id: i64,
                data_type: &str,
            ) -> $crate::Result<Option<(i64, i64)>> {
                let Some(table) = $crate::datasets::staging_table(data_type) else {
                    return Err($crate::StoreError::Identifier(data_type.to_owned()));
                };
                let sql = format!("SELECT MIN(line), MAX(line) FROM {table} WHERE dataset_id = $1");
                let (first, last): (Option<i64>, Option<i64>) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(dataset_id)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(first.zip(last))
            }

            async fn activate_lines(
                &self,
                lease: &$crate::Lease,
                checkpoint: &$crate::Checkpoint,
                dataset_id: i64,
                marketplace_id: i64,
                data_type: &str,
                from: i64,
                to: i64,
            ) -> $crate::Result<()> {
                let Some(apply) = $crate::datasets::apply::ALL.iter().find(|a| a.data_type == data_type) else {
                    return Err($crate::StoreError::Identifier(data_type.to_owned()));
                };
                let now = $crate::now().millis();
                let mut tx = self.pool.begin_with($begin_write).await?;
                for statement in apply.apply() {
                    let sql = $crate::datasets::dialect(statement, &$dialect);
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(dataset_id)
                        .bind(marketplace_id)
                        .bind(from)
                        .bind(to)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
                write_checkpoint(&mut tx, lease, checkpoint).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn report_last_line(
                &self,
                dataset_id: i64,
                data_type: &str,
            ) -> $crate::Result<Option<i64>> {
                let Some(table) = $crate::datasets::staging_table(data_type) else {
                    return Err($crate::StoreError::Identifier(data_type.to_owned()));
                };
                let sql = format!(
                    "SELECT MAX(line) FROM (
                        SELECT MAX(line) AS line FROM dataset_findings WHERE dataset_id = $1 AND data_type = $2
                        UNION ALL SELECT MAX(line) FROM {table} WHERE dataset_id = $1) lines"
                );
                let (last,): (Option<i64>,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(dataset_id)
                    .bind(data_type)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(last)
            }

            async fn report_lines(
                &self,
                dataset_id: i64,
                data_type: &str,
                from: i64,
                to: i64,
            ) -> $crate::Result<Vec<$crate::datasets::ReportLine>> {
                let Some(rules) = $crate::datasets::rules::ALL.iter().find(|r| r.data_type == data_type) else {
                    return Err($crate::StoreError::Identifier(data_type.to_owned()));
                };
                let sql = format!(
                    "SELECT line, external_id, outcome, code, column_name, message, value FROM (
                        SELECT line, external_id, upper(severity) AS outcome, code, column_name,
                               message, value, 0 AS rank
                        FROM dataset_findings
                        WHERE dataset_id = $1 AND data_type = '{data_type}' AND line BETWEEN $2 AND $3
                        UNION ALL
                        SELECT s.line, {key}, upper(s.outcome), NULL, NULL, NULL, NULL, 1
                        FROM {table} s
                        WHERE s.dataset_id = $1 AND s.line BETWEEN $2 AND $3 AND s.outcome IS NOT NULL
                     ) lines ORDER BY line, rank, code",
                    data_type = rules.data_type,
                    key = rules.key,
                    table = rules.table,
                );
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(dataset_id)
                    .bind(from)
                    .bind(to)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn dataset_has_errors(&self, dataset_id: i64) -> $crate::Result<bool> {
                let (found,): (bool,) = sqlx::query_as(
                    "SELECT EXISTS (SELECT 1 FROM dataset_findings
                                    WHERE dataset_id = $1 AND severity = 'error')",
                )
                .bind(dataset_id)
                .fetch_one(&self.pool)
                .await?;
                Ok(found)
            }

            async fn dataset_findings(
                &self,
                dataset_id: i64,
                offset: i64,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::datasets::DatasetFinding>> {
                Ok(sqlx::query_as(
                    "SELECT data_type, line, external_id, severity, code, column_name, message, value
                     FROM dataset_findings WHERE dataset_id = $1
                     ORDER BY data_type, line, code LIMIT $2 OFFSET $3",
                )
                .bind(dataset_id)
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?)
            }
        }

        /// Counts each type's rows by outcome; rejected rows are skipped.
        async fn outcomes<'e, E>(
            executor: E,
            dataset_id: i64,
        ) -> $crate::Result<Vec<$crate::datasets::PlanLine>>
        where
            E: sqlx::Executor<'e, Database = <$store as $crate::shared::HasDatabase>::Database>,
        {
            let mut sql = String::new();
            for (i, rules) in $crate::datasets::rules::ALL.iter().enumerate() {
                if i > 0 {
                    sql.push_str(" UNION ALL ");
                }
                sql.push_str(&format!(
                    "SELECT {i} AS position, '{data_type}' AS data_type,
                        COALESCE(SUM(CASE WHEN outcome = 'created' THEN 1 ELSE 0 END), 0) AS created,
                        COALESCE(SUM(CASE WHEN outcome = 'updated' THEN 1 ELSE 0 END), 0) AS updated,
                        COALESCE(SUM(CASE WHEN outcome = 'unchanged' THEN 1 ELSE 0 END), 0) AS unchanged,
                        COALESCE(SUM(CASE WHEN rejected THEN 1 ELSE 0 END), 0) AS skipped,
                        COUNT(*) AS total
                     FROM {table} WHERE dataset_id = $1",
                    data_type = rules.data_type,
                    table = rules.table,
                ));
            }
            sql.push_str(" ORDER BY position");
            let rows: Vec<(i32, String, i64, i64, i64, i64, i64)> =
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(dataset_id)
                    .fetch_all(executor)
                    .await?;
            Ok(rows
                .into_iter()
                .filter(|row| row.6 > 0)
                .map(|(_, data_type, created, updated, unchanged, skipped, _)| {
                    $crate::datasets::PlanLine { data_type, created, updated, unchanged, skipped }
                })
                .collect())
        }
    };
}

macro_rules! dataset_columns {
    () => {
        "id, marketplace_id, kind, name, state, provision, review, created_by_user,
         created_by_company, creator, job_id, plan, failure, created_at, updated_at"
    };
}

pub(crate) use {dataset_columns, impl_dataset_store};

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
