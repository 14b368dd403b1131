//! The datasets statements for dataset records and files, the same for both backends: compiled once into
//! `crate::sqlite` and once into `crate::postgres` (see `statements.rs`).

use super::{BEGIN_WRITE, DIALECT, Db, This, insert_audit};
use crate::datasets::dataset_columns;

#[async_trait::async_trait]
impl crate::datasets::DatasetStore for This {
    async fn create_dataset(
        &self,
        new: &crate::datasets::NewDataset,
    ) -> crate::Result<crate::datasets::Dataset> {
        let now = crate::now().millis();
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
        dataset: crate::DatasetRef,
    ) -> crate::Result<Option<crate::datasets::Dataset>> {
        let (marketplace_id, id) = (dataset.marketplace_id, dataset.dataset_id);
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
    ) -> crate::Result<Vec<crate::datasets::Dataset>> {
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
    ) -> crate::Result<Option<crate::datasets::Dataset>> {
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
        dataset: crate::DatasetRef,
        state: ferry_domain::DatasetState,
        failure: Option<&str>,
    ) -> crate::Result<()> {
        let (marketplace_id, id) = (dataset.marketplace_id, dataset.dataset_id);
        let now = crate::now().millis();
        sqlx::query(
            "UPDATE datasets SET state = $3, failure = $4, updated_at = $5,
                activated_at = CASE WHEN $3 IN ('activated', 'activated_with_errors')
                                    THEN $5 ELSE activated_at END
             WHERE id = $2 AND marketplace_id = $1",
        )
        .bind(marketplace_id)
        .bind(id)
        .bind(state.as_str())
        .bind(failure)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_dataset_plan(&self, dataset: crate::DatasetRef, plan: &str) -> crate::Result<()> {
        let (marketplace_id, id) = (dataset.marketplace_id, dataset.dataset_id);
        sqlx::query("UPDATE datasets SET plan = $3 WHERE id = $2 AND marketplace_id = $1")
            .bind(marketplace_id)
            .bind(id)
            .bind(plan)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_dataset_job(&self, dataset: crate::DatasetRef, job_id: i64) -> crate::Result<()> {
        let (marketplace_id, id) = (dataset.marketplace_id, dataset.dataset_id);
        sqlx::query("UPDATE datasets SET job_id = $3 WHERE id = $2 AND marketplace_id = $1")
            .bind(marketplace_id)
            .bind(id)
            .bind(job_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn edit_dataset(
        &self,
        dataset: crate::DatasetRef,
        edit: &crate::datasets::DatasetEdit<'_>,
    ) -> crate::Result<()> {
        let (marketplace_id, id) = (dataset.marketplace_id, dataset.dataset_id);
        sqlx::query(
            "UPDATE datasets SET name = $3, provision = $4, review = $5, updated_at = $6
             WHERE id = $2 AND marketplace_id = $1",
        )
        .bind(marketplace_id)
        .bind(id)
        .bind(edit.name)
        .bind(edit.provision)
        .bind(edit.review)
        .bind(crate::now().millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn undo_dataset(
        &self,
        dataset: crate::DatasetRef,
        actor: &str,
    ) -> crate::Result<Option<crate::UndoOutcome>> {
        use crate::datasets::undo::{Effect, KEPT, STATEMENTS};
        let (marketplace_id, id) = (dataset.marketplace_id, dataset.dataset_id);
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let activated: Option<(Option<i64>,)> = sqlx::query_as(
            "SELECT activated_at FROM datasets WHERE marketplace_id = $1 AND id = $2",
        )
        .bind(marketplace_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((activated_at,)) = activated else {
            return Ok(None);
        };
        let mut outcome = crate::UndoOutcome::default();
        // Never activated: nothing to undo, only the dataset to delete.
        if let Some(activated_at) = activated_at {
            for (effect, kind, statement) in STATEMENTS {
                let sql = crate::datasets::dialect(statement, &DIALECT);
                let done = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .bind(marketplace_id)
                    .bind(activated_at)
                    .execute(&mut *tx)
                    .await?;
                let count = i64::try_from(done.rows_affected()).unwrap_or(i64::MAX);
                let counts = match effect {
                    Effect::Removed => &mut outcome.removed,
                    Effect::Restored => &mut outcome.restored,
                };
                if count > 0 {
                    *counts.entry((*kind).to_owned()).or_default() += count;
                }
            }
            for (kind, query) in KEPT {
                let count: i64 = sqlx::query_scalar(*query)
                    .bind(id)
                    .bind(marketplace_id)
                    .bind(activated_at)
                    .fetch_one(&mut *tx)
                    .await?;
                if count > 0 {
                    outcome.kept.insert((*kind).to_owned(), count);
                }
            }
        }
        let trace = crate::NewAuditEntry {
            marketplace_id: Some(marketplace_id),
            actor: actor.to_owned(),
            action: "dataset.undone".into(),
            entity_type: "dataset".into(),
            entity_id: Some(id),
            changes: serde_json::to_value(&outcome).unwrap_or_default(),
        };
        insert_audit(&mut *tx, &trace).await?;
        let objects = dataset_objects(&mut tx, marketplace_id, id).await?;
        // Staging tables, findings, files and chunks go with it (ON DELETE CASCADE).
        sqlx::query("DELETE FROM datasets WHERE marketplace_id = $1 AND id = $2")
            .bind(marketplace_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.files.delete(objects).await;
        Ok(Some(outcome))
    }

    async fn delete_dataset(&self, dataset: crate::DatasetRef) -> crate::Result<()> {
        let (marketplace_id, id) = (dataset.marketplace_id, dataset.dataset_id);
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let objects = dataset_objects(&mut tx, marketplace_id, id).await?;
        // Staging tables, findings, files and chunks go with it (ON DELETE CASCADE); the room
        // of its staged rows is reclaimed later (`reclaim_staging`).
        sqlx::query("DELETE FROM datasets WHERE marketplace_id = $1 AND id = $2")
            .bind(marketplace_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.files.delete(objects).await;
        Ok(())
    }

    async fn add_dataset_file(
        &self,
        dataset_id: i64,
        data_type: &str,
        file_name: &str,
    ) -> crate::Result<Box<dyn crate::FileWriter>> {
        let object_key = self.files.new_key(dataset_id, data_type);
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let replaced = delete_file(&mut tx, dataset_id, data_type).await?;
        // The record names its object before the object exists (see `files.rs`).
        sqlx::query(
            "INSERT INTO dataset_files (dataset_id, data_type, file_name, encoding, bytes, object_key)
             VALUES ($1, $2, $3, 'utf8', 0, $4)",
        )
        .bind(dataset_id)
        .bind(data_type)
        .bind(file_name)
        .bind(&object_key)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.files.delete(replaced).await;
        Ok(match object_key {
            Some(key) => self.files.writer(&key).await?,
            None => Box::new(ChunkWriter {
                pool: self.pool.clone(),
                dataset_id,
                data_type: data_type.to_owned(),
                seq: 0,
            }),
        })
    }

    async fn replace_dataset_files(
        &self,
        dataset_id: i64,
        files: &[(String, String)],
    ) -> crate::Result<()> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let mut replaced = Vec::new();
        for (temporary, data_type) in files {
            replaced.extend(delete_file(&mut tx, dataset_id, data_type).await?);
            // The chunks or the object move to a file row of the type before the temporary row
            // goes.
            for sql in [
                "INSERT INTO dataset_files (dataset_id, data_type, file_name, encoding, bytes, object_key)
                 SELECT dataset_id, $2, file_name, encoding, bytes, object_key FROM dataset_files
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
            // Its object now belongs to the row of its type.
            delete_file(&mut tx, dataset_id, temporary).await?;
        }
        // Only a dataset between validation and activation takes new files
        // (`DatasetState::takes_files`).
        let sent_back = sqlx::query(
            "UPDATE datasets SET state = 'created', plan = NULL, failure = NULL, updated_at = $2
             WHERE id = $1 AND state IN ('validated', 'upload_failed', 'cancelled')",
        )
        .bind(dataset_id)
        .bind(crate::now().millis())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if sent_back == 0 {
            return Err(crate::StoreError::NotFound {
                what: "dataset between validation and activation",
            });
        }
        // What validation found in the files before is not what it will find now.
        sqlx::query("DELETE FROM dataset_findings WHERE dataset_id = $1")
            .bind(dataset_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.files.delete(replaced).await;
        Ok(())
    }

    async fn remove_dataset_file(&self, dataset_id: i64, data_type: &str) -> crate::Result<()> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let objects = delete_file(&mut tx, dataset_id, data_type).await?;
        tx.commit().await?;
        self.files.delete(objects).await;
        Ok(())
    }

    async fn finish_dataset_file(
        &self,
        dataset_id: i64,
        data_type: &str,
        encoding: &str,
        bytes: i64,
    ) -> crate::Result<()> {
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
    ) -> crate::Result<()> {
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
    ) -> crate::Result<Vec<crate::datasets::DatasetFile>> {
        Ok(sqlx::query_as(
            "SELECT dataset_id, data_type, file_name, encoding, bytes, rows_read
             FROM dataset_files WHERE dataset_id = $1 AND data_type NOT LIKE '%.replacement'
             ORDER BY data_type",
        )
        .bind(dataset_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn read_dataset_file(
        &self,
        dataset_id: i64,
        data_type: &str,
    ) -> crate::Result<crate::FileBytes> {
        let object: Option<(Option<String>,)> = sqlx::query_as(
            "SELECT object_key FROM dataset_files WHERE dataset_id = $1 AND data_type = $2",
        )
        .bind(dataset_id)
        .bind(data_type)
        .fetch_optional(&self.pool)
        .await?;
        match object {
            None => Err(crate::StoreError::NotFound {
                what: "dataset file",
            }),
            Some((Some(key),)) => self.files.reader(&key).await,
            Some((None,)) => {
                // One chunk read at a time, as the reader asks for it.
                let (pool, data_type) = (self.pool.clone(), data_type.to_owned());
                let chunks = futures_util::stream::try_unfold(0_i64, move |seq| {
                    let (pool, data_type) = (pool.clone(), data_type.clone());
                    async move {
                        let chunk: Option<(Vec<u8>,)> = sqlx::query_as(
                            "SELECT data FROM dataset_file_chunks
                             WHERE dataset_id = $1 AND data_type = $2 AND seq = $3",
                        )
                        .bind(dataset_id)
                        .bind(&data_type)
                        .bind(seq)
                        .fetch_optional(&pool)
                        .await?;
                        Ok(chunk.map(|(data,)| (bytes::Bytes::from(data), seq + 1)))
                    }
                });
                Ok(Box::pin(chunks))
            }
        }
    }

    async fn sweep_files(&self) -> crate::Result<u64> {
        self.files
            .sweep(async || {
                let named: Vec<(String,)> = sqlx::query_as(
                    "SELECT object_key FROM dataset_files WHERE object_key IS NOT NULL",
                )
                .fetch_all(&self.pool)
                .await?;
                Ok(named.into_iter().map(|(key,)| key).collect())
            })
            .await
    }
}

/// The objects of a dataset's files, read before the records go.
async fn dataset_objects(
    tx: &mut sqlx::Transaction<'_, Db>,
    marketplace_id: i64,
    dataset_id: i64,
) -> crate::Result<Vec<String>> {
    let keys: Vec<(String,)> = sqlx::query_as(
        "SELECT f.object_key FROM dataset_files f JOIN datasets d ON d.id = f.dataset_id
         WHERE d.marketplace_id = $1 AND d.id = $2 AND f.object_key IS NOT NULL",
    )
    .bind(marketplace_id)
    .bind(dataset_id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(keys.into_iter().map(|(key,)| key).collect())
}

/// Deletes one file's record (its chunks go with it) and returns its object, if it has one,
/// for the caller to delete once the transaction commits.
async fn delete_file(
    tx: &mut sqlx::Transaction<'_, Db>,
    dataset_id: i64,
    data_type: &str,
) -> crate::Result<Option<String>> {
    let deleted: Option<(Option<String>,)> = sqlx::query_as(
        "DELETE FROM dataset_files WHERE dataset_id = $1 AND data_type = $2 RETURNING object_key",
    )
    .bind(dataset_id)
    .bind(data_type)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(deleted.and_then(|(key,)| key))
}

/// A file kept in the database: each write one chunk row, in order.
struct ChunkWriter {
    pool: sqlx::Pool<Db>,
    dataset_id: i64,
    data_type: String,
    seq: i64,
}

#[async_trait::async_trait]
impl crate::FileWriter for ChunkWriter {
    async fn write(&mut self, bytes: bytes::Bytes) -> crate::Result<()> {
        sqlx::query(
            "INSERT INTO dataset_file_chunks (dataset_id, data_type, seq, data)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(self.dataset_id)
        .bind(&self.data_type)
        .bind(self.seq)
        .bind(bytes.as_ref())
        .execute(&self.pool)
        .await?;
        self.seq += 1;
        Ok(())
    }

    async fn finish(self: Box<Self>) -> crate::Result<()> {
        Ok(())
    }

    async fn abort(self: Box<Self>) {
        // The chunks go with their file record, which the caller removes.
    }
}
