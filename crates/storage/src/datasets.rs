//! Storage of datasets (PRODUCT.md §4): the dataset rows, their files in chunks, findings, and
//! the staging tables rows are loaded into. Written once for both backends by
//! [`impl_dataset_store!`], as `shared.rs` does for the rest.

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
    pub table: &'a str,
    pub columns: &'a [String],
    pub rows: &'a [StageRow],
}

/// One row to stage: its line, one value per column, and its custom attributes (JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageRow {
    pub line: i64,
    pub values: Vec<Option<String>>,
    pub custom: Option<String>,
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
    async fn rename_dataset(&self, id: i64, name: &str) -> Result<()>;
    /// Removes the dataset, its files, findings and staged rows.
    async fn delete_dataset(&self, marketplace_id: i64, id: i64) -> Result<()>;

    /// Starts a file (replacing one of the same type) before its chunks are appended.
    async fn add_dataset_file(
        &self,
        dataset_id: i64,
        data_type: &str,
        file_name: &str,
    ) -> Result<()>;
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

    /// Loads checked rows into a staging table.
    async fn stage_rows(&self, dataset_id: i64, rows: &StagedRows<'_>) -> Result<()>;
    /// Empties the staging tables and findings of a dataset, before it is validated again.
    async fn clear_staging(&self, dataset_id: i64, tables: &[&str]) -> Result<()>;
    async fn add_findings(&self, dataset_id: i64, findings: &[DatasetFinding]) -> Result<()>;
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
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        Ok(name)
    } else {
        Err(crate::StoreError::Identifier(name.to_owned()))
    }
}

macro_rules! impl_dataset_store {
    (store: $store:ty, begin_write: $begin_write:literal $(,)?) => {
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

            async fn rename_dataset(&self, id: i64, name: &str) -> $crate::Result<()> {
                sqlx::query("UPDATE datasets SET name = $2, updated_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(name)
                    .bind($crate::now().millis())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn delete_dataset(&self, marketplace_id: i64, id: i64) -> $crate::Result<()> {
                // Staging tables, findings, files and chunks go with it (ON DELETE CASCADE).
                sqlx::query("DELETE FROM datasets WHERE marketplace_id = $1 AND id = $2")
                    .bind(marketplace_id)
                    .bind(id)
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
                     FROM dataset_files WHERE dataset_id = $1 ORDER BY data_type",
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
                let table = $crate::datasets::identifier(staged.table)?;
                let mut head = format!("INSERT INTO {table} (dataset_id, line, custom");
                for column in staged.columns {
                    head.push_str(", ");
                    head.push_str($crate::datasets::identifier(column)?);
                }
                head.push_str(") ");
                // Stay under SQLite's 32,766 parameters a statement.
                let per_statement = (30_000 / (staged.columns.len() + 3)).max(1);
                let mut tx = self.pool.begin_with($begin_write).await?;
                for chunk in staged.rows.chunks(per_statement) {
                    let mut sql = sqlx::QueryBuilder::new(head.as_str());
                    sql.push_values(chunk, |mut row, staged| {
                        row.push_bind(dataset_id)
                            .push_bind(staged.line)
                            .push_bind(staged.custom.clone());
                        for value in &staged.values {
                            row.push_bind(value.clone());
                        }
                    });
                    sql.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn clear_staging(&self, dataset_id: i64, tables: &[&str]) -> $crate::Result<()> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                for table in tables {
                    let table = $crate::datasets::identifier(table)?;
                    // `identifier` admitted only a plain name.
                    let sql = format!("DELETE FROM {table} WHERE dataset_id = $1");
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(dataset_id)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("DELETE FROM dataset_findings WHERE dataset_id = $1")
                    .bind(dataset_id)
                    .execute(&mut *tx)
                    .await?;
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
    };
}

macro_rules! dataset_columns {
    () => {
        "id, marketplace_id, kind, name, state, provision, review, created_by_user,
         created_by_company, creator, job_id, plan, failure, created_at, updated_at"
    };
}

pub(crate) use {dataset_columns, impl_dataset_store};
