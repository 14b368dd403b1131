//! Storing an uploaded file: its bytes go to the store in chunks as they arrive — to the
//! database or the file store — while its encoding is found, so no upload is ever held whole
//! in memory.

use std::sync::Arc;

use ferry_storage::{FileWriter, Store, StoreError};

use crate::columns::DataType;
use crate::read::EncodingSniffer;

/// Bytes per stored chunk (in the database, a row each).
const CHUNK_BYTES: usize = 1024 * 1024;
/// The largest file accepted (docs/datasets.md).
pub const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{file} is larger than the 2 GiB a dataset file may be")]
    TooLarge { file: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A file being stored.
pub struct FileUpload {
    store: Arc<dyn Store>,
    dataset_id: i64,
    /// The name the file is stored under: its data type, or a temporary name for a replacement.
    stored_as: String,
    file_name: String,
    writer: Box<dyn FileWriter>,
    buffer: Vec<u8>,
    sniffer: EncodingSniffer,
}

impl FileUpload {
    /// Starts storing a file of `data_type`, replacing one the dataset already has.
    pub async fn start(
        store: Arc<dyn Store>,
        dataset_id: i64,
        data_type: DataType,
        file_name: &str,
    ) -> Result<Self, UploadError> {
        Self::start_as(store, dataset_id, data_type.part().to_owned(), file_name).await
    }

    /// Starts storing a file that is to replace the dataset's file of `data_type` once every
    /// file of the edit has arrived (see `Store::replace_dataset_files`): until then the
    /// current file stays as it is.
    pub async fn start_replacement(
        store: Arc<dyn Store>,
        dataset_id: i64,
        data_type: DataType,
        file_name: &str,
    ) -> Result<Self, UploadError> {
        Self::start_as(
            store,
            dataset_id,
            ferry_storage::datasets::replacement_name(data_type.part()),
            file_name,
        )
        .await
    }

    async fn start_as(
        store: Arc<dyn Store>,
        dataset_id: i64,
        stored_as: String,
        file_name: &str,
    ) -> Result<Self, UploadError> {
        let writer = store
            .add_dataset_file(dataset_id, &stored_as, file_name)
            .await?;
        Ok(FileUpload {
            store,
            dataset_id,
            stored_as,
            file_name: file_name.to_owned(),
            writer,
            buffer: Vec::with_capacity(CHUNK_BYTES),
            sniffer: EncodingSniffer::default(),
        })
    }

    pub async fn write(&mut self, mut bytes: &[u8]) -> Result<(), UploadError> {
        self.sniffer.feed(bytes);
        if self.sniffer.bytes() > MAX_FILE_BYTES {
            return Err(UploadError::TooLarge {
                file: self.file_name.clone(),
            });
        }
        while !bytes.is_empty() {
            let take = (CHUNK_BYTES - self.buffer.len()).min(bytes.len());
            self.buffer.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.buffer.len() == CHUNK_BYTES {
                self.flush().await?;
            }
        }
        Ok(())
    }

    /// Stores the last chunk and what was found about the file; returns its size in bytes.
    pub async fn finish(mut self) -> Result<u64, UploadError> {
        if !self.buffer.is_empty()
            && let Err(error) = self.flush().await
        {
            self.writer.abort().await;
            return Err(error);
        }
        // A writer that cannot finish gives the file up itself.
        self.writer.finish().await?;
        let bytes = self.sniffer.bytes();
        let encoding = self.sniffer.finish().as_str();
        self.store
            .finish_dataset_file(self.dataset_id, &self.stored_as, encoding, bytes as i64)
            .await?;
        Ok(bytes)
    }

    /// Gives the file up after a failure: what was written of it goes, though its record
    /// stays until the caller removes it with its dataset or edit.
    pub async fn abort(self) {
        self.writer.abort().await;
    }

    async fn flush(&mut self) -> Result<(), UploadError> {
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK_BYTES));
        self.writer.write(chunk.into()).await?;
        Ok(())
    }
}
