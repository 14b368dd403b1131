//! Where the bytes of uploaded files are kept. The database always holds each file's record
//! (`dataset_files`); its bytes are either chunks beside it in the database (the default: one
//! thing to back up) or one object in a directory or an S3-compatible bucket, written and read
//! as a stream through `object_store`, never whole in memory.
//!
//! A record names its object before the first byte is written, and a record goes before its
//! object: so an object no record names was left behind — by a crash, or a store that did not
//! answer a delete — and [`Files::sweep`] removes it.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig, WriteMultipart,
};

use crate::{Result, StoreError};

/// Where uploaded files go: the `files` setting (docs/operations.md).
#[derive(Debug, Clone, Default)]
pub enum FileStorage {
    /// In the database, in chunks.
    #[default]
    Database,
    /// One file per upload under a directory of this machine (or a shared mount).
    Directory(PathBuf),
    /// One object per upload in an S3-compatible bucket.
    S3(S3Bucket),
}

/// An S3-compatible bucket. What is not set here comes from the standard `AWS_*` variables.
#[derive(Clone, Default)]
pub struct S3Bucket {
    pub bucket: String,
    pub region: Option<String>,
    /// The server's address, for a store other than Amazon's (`http://` allowed).
    pub endpoint: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

impl std::fmt::Debug for S3Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Bucket")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "(hidden)"),
            )
            .finish()
    }
}

/// The bytes of one stored file, in order, as they are read.
pub type FileBytes = BoxStream<'static, Result<Bytes>>;

/// Where the bytes of a file being stored go. Dropped without `finish`, what was written is
/// not a file: call `abort` to remove it at once.
#[async_trait::async_trait]
pub trait FileWriter: Send {
    /// Appends the next bytes of the file.
    async fn write(&mut self, bytes: Bytes) -> Result<()>;
    /// Makes the file whole and readable; on a failure, gives it up as `abort` does.
    async fn finish(self: Box<Self>) -> Result<()>;
    /// Gives up the file: nothing of it remains readable.
    async fn abort(self: Box<Self>);
}

/// Parts an object upload keeps in flight at once (each `object_store`'s 5 MiB).
const PARTS_IN_FLIGHT: usize = 2;
/// Where every dataset file's object lives, under `{dataset id}/`.
const DATASETS: &str = "datasets";

/// The store's side of [`FileStorage`].
#[derive(Clone)]
pub(crate) enum Files {
    Database,
    Objects(Arc<dyn ObjectStore>),
}

impl Files {
    pub(crate) fn open(storage: &FileStorage) -> Result<Files> {
        let objects: Arc<dyn ObjectStore> = match storage {
            FileStorage::Database => return Ok(Files::Database),
            FileStorage::Directory(dir) => {
                private_dir(dir).map_err(|e| {
                    StoreError::Files(format!("cannot create {}: {e}", dir.display()))
                })?;
                Arc::new(LocalFileSystem::new_with_prefix(dir).map_err(files_error)?)
            }
            FileStorage::S3(s3) => {
                let mut builder = AmazonS3Builder::from_env()
                    .with_bucket_name(&s3.bucket)
                    // A store that fails keeps a request a few seconds, not the default minutes.
                    .with_retry(RetryConfig {
                        max_retries: 3,
                        retry_timeout: Duration::from_secs(30),
                        backoff: BackoffConfig::default(),
                    })
                    .with_client_options(
                        ClientOptions::new().with_connect_timeout(Duration::from_secs(10)),
                    );
                if let Some(region) = &s3.region {
                    builder = builder.with_region(region);
                }
                if let Some(endpoint) = &s3.endpoint {
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"));
                }
                if let Some(id) = &s3.access_key_id {
                    builder = builder.with_access_key_id(id);
                }
                if let Some(secret) = &s3.secret_access_key {
                    builder = builder.with_secret_access_key(secret);
                }
                Arc::new(builder.build().map_err(files_error)?)
            }
        };
        Ok(Files::Objects(objects))
    }

    /// The name of a new object for a dataset's file, or `None` when files are kept in the
    /// database. Each upload gets its own, so a replacement never writes over the file it
    /// replaces.
    pub(crate) fn new_key(&self, dataset_id: i64, data_type: &str) -> Option<String> {
        let Files::Objects(_) = self else {
            return None;
        };
        let nonce: u64 = rand::random();
        Some(format!(
            "{DATASETS}/{dataset_id}/{data_type}-{nonce:016x}.csv"
        ))
    }

    /// Starts writing the object `key`.
    pub(crate) async fn writer(&self, key: &str) -> Result<Box<dyn FileWriter>> {
        let Files::Objects(objects) = self else {
            return Err(StoreError::Files("files are kept in the database".into()));
        };
        let upload = objects
            .put_multipart(&ObjectPath::from(key))
            .await
            .map_err(files_error)?;
        Ok(Box::new(ObjectWriter(WriteMultipart::new(upload))))
    }

    /// Reads the object `key` as it arrives.
    pub(crate) async fn reader(&self, key: &str) -> Result<FileBytes> {
        let Files::Objects(objects) = self else {
            return Err(StoreError::Files(
                "this file was stored in a directory or bucket, but `files` is now `database`: \
                 set it as it was when the file was uploaded"
                    .into(),
            ));
        };
        let found = objects
            .get(&ObjectPath::from(key))
            .await
            .map_err(files_error)?;
        Ok(found.into_stream().map_err(files_error).boxed())
    }

    /// Deletes objects whose records are gone. A failure is logged, not returned: the records
    /// are already deleted, and `sweep` removes the objects later.
    pub(crate) async fn delete(&self, keys: impl IntoIterator<Item = String>) {
        let Files::Objects(objects) = self else {
            return;
        };
        for key in keys {
            if let Err(error) = objects.delete(&ObjectPath::from(key.as_str())).await {
                tracing::warn!(%key, %error, "a deleted dataset's file stays in the file store until the next sweep");
            }
        }
    }

    /// Deletes every dataset object that no record names. `named` reads the names the records
    /// hold; it is called after the objects are listed, so an object written meanwhile is named.
    pub(crate) async fn sweep<F>(&self, named: F) -> Result<u64>
    where
        F: AsyncFnOnce() -> Result<HashSet<String>>,
    {
        let Files::Objects(objects) = self else {
            return Ok(0);
        };
        let listed: Vec<ObjectPath> = objects
            .list(Some(&ObjectPath::from(DATASETS)))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(files_error)?;
        let named = named().await?;
        let mut deleted = 0;
        for location in listed {
            if !named.contains(location.as_ref()) {
                objects.delete(&location).await.map_err(files_error)?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

struct ObjectWriter(WriteMultipart);

#[async_trait::async_trait]
impl FileWriter for ObjectWriter {
    async fn write(&mut self, bytes: Bytes) -> Result<()> {
        // Waiting here keeps at most a few parts in memory, however fast the upload comes.
        self.0
            .wait_for_capacity(PARTS_IN_FLIGHT)
            .await
            .map_err(files_error)?;
        self.0.put(bytes);
        Ok(())
    }

    async fn finish(self: Box<Self>) -> Result<()> {
        // `object_store` aborts the upload itself when it cannot complete it.
        self.0.finish().await.map_err(files_error)?;
        Ok(())
    }

    async fn abort(self: Box<Self>) {
        if let Err(error) = self.0.abort().await {
            tracing::warn!(%error, "an unfinished upload stays in the file store (its parts are not a readable file)");
        }
    }
}

fn files_error(error: object_store::Error) -> StoreError {
    StoreError::Files(error.to_string())
}

/// Creates the files directory readable by its owner only: it holds customers' data.
fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}
