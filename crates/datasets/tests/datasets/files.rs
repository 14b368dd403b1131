//! Dataset files kept outside the database — in a directory, or in a bucket of a real
//! S3-compatible server (moto's, started for each test) — on each backend: streamed in as
//! several parts, read back by validation, replaced and deleted with their datasets, and swept
//! away when left behind.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ferry_datasets::{DataType, FileUpload, delete_dataset};
use ferry_domain::{DatasetKind, DatasetState};
use ferry_storage::testing::S3Server;
use ferry_storage::{Dataset, FileStorage, NewDataset, Store};

/// Users in a file larger than one part of an object upload (5 MiB).
const USERS: usize = 30_000;

/// The store, the file storage it was opened with and what must outlive the test.
struct Files {
    store: Arc<dyn Store>,
    /// The bucket's server, or the directory's temporary parent.
    _server: Option<S3Server>,
    _dir: Option<tempfile::TempDir>,
    place: Place,
}

enum Place {
    Bucket { endpoint: String, bucket: String },
    Directory(PathBuf),
}

impl Files {
    async fn in_a_bucket(url: &str) -> Files {
        let server = S3Server::start().await;
        let store = open(url, &server.storage(&server.endpoint)).await;
        Files {
            store,
            place: Place::Bucket {
                endpoint: server.endpoint.clone(),
                bucket: server.bucket.clone(),
            },
            _server: Some(server),
            _dir: None,
        }
    }

    async fn in_a_directory(url: &str) -> Files {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let files = dir.path().join("files");
        let store = open(url, &FileStorage::Directory(files.clone())).await;
        Files {
            store,
            place: Place::Directory(files),
            _server: None,
            _dir: Some(dir),
        }
    }

    /// The names of the stored objects.
    async fn objects(&self) -> Vec<String> {
        match &self.place {
            Place::Bucket { .. } => {
                let server = self._server.as_ref().expect("the server");
                let mut names = server.objects().await;
                assert!(
                    server.unfinished_uploads().await.is_empty(),
                    "an upload was left unfinished"
                );
                names.sort();
                names
            }
            Place::Directory(dir) => {
                let mut names = Vec::new();
                walk(dir, dir, &mut names);
                names.sort();
                names
            }
        }
    }

    /// Puts an object there behind Ferry's back, as a crash between writing a file and
    /// recording it would leave.
    async fn leave_behind(&self, name: &str) {
        match &self.place {
            Place::Bucket { endpoint, bucket } => {
                reqwest::Client::new()
                    .put(format!("{endpoint}/{bucket}/{name}"))
                    .body("EXTERNAL_ID\n")
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .expect("put an object");
            }
            Place::Directory(dir) => {
                let path = dir.join(name);
                std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
                std::fs::write(path, "EXTERNAL_ID\n").expect("write");
            }
        }
    }
}

fn walk(root: &Path, dir: &Path, names: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, names);
        } else {
            let name = path.strip_prefix(root).expect("under the root");
            names.push(name.to_string_lossy().into_owned());
        }
    }
}

async fn open(url: &str, files: &FileStorage) -> Arc<dyn Store> {
    let store = ferry_storage::connect_with_files(url, files)
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    store
}

mod bucket {
    use super::*;

    ferry_storage::on_both_backends!(Files::in_a_bucket => files_live_and_die_with_their_datasets);
}

mod directory {
    use super::*;

    ferry_storage::on_both_backends!(Files::in_a_directory => files_live_and_die_with_their_datasets);
}

async fn files_live_and_die_with_their_datasets(files: Files) {
    let store = &files.store;
    let market = crate::pipeline::marketplace(store).await;
    let dataset = store
        .create_dataset(&NewDataset {
            marketplace_id: market,
            kind: DatasetKind::Migration,
            name: "Spring".to_owned(),
            provision: false,
            review: true,
            created_by_user: None,
            created_by_company: None,
            creator: "ops@north.example".to_owned(),
        })
        .await
        .expect("dataset");

    // Stored as it arrives, in pieces smaller than a part.
    let users = users_file();
    assert!(users.len() > 5 * 1024 * 1024, "{} bytes", users.len());
    let mut upload = FileUpload::start(store.clone(), dataset.id, DataType::Users, "users.csv")
        .await
        .expect("start");
    for piece in users.as_bytes().chunks(64 * 1024) {
        upload.write(piece).await.expect("write");
    }
    assert_eq!(upload.finish().await.expect("finish"), users.len() as u64);
    store_file(
        store,
        &dataset,
        DataType::Companies,
        "EXTERNAL_ID,NAME,COUNTRY\nc-1,Northwind,US\n",
    )
    .await;
    let first = files.objects().await;
    assert_eq!(first.len(), 2, "{first:?}");
    let prefix = format!("datasets/{}/", dataset.id);
    assert!(first.iter().all(|o| o.starts_with(&prefix)), "{first:?}");

    // Validation reads every row back.
    validate(store, &dataset).await;
    let read = rows_read(store, &dataset).await;
    assert_eq!(
        read,
        vec![
            ("companies".to_owned(), 1),
            ("users".to_owned(), USERS as i64)
        ]
    );

    // A replacement takes the place of its file's object, which goes.
    let mut replacement =
        FileUpload::start_replacement(store.clone(), dataset.id, DataType::Companies, "fixed.csv")
            .await
            .expect("start");
    replacement
        .write(b"EXTERNAL_ID,NAME,COUNTRY\nc-1,Northwind,US\nc-2,Contoso,DE\n")
        .await
        .expect("write");
    replacement.finish().await.expect("finish");
    store
        .replace_dataset_files(
            dataset.id,
            &[(
                ferry_storage::datasets::replacement_name("companies"),
                "companies".to_owned(),
            )],
        )
        .await
        .expect("replace");
    let second = files.objects().await;
    assert_eq!(second.len(), 2, "{second:?}");
    let users_object = first.iter().find(|o| o.contains("/users-")).expect("users");
    assert!(second.contains(users_object), "{second:?}");
    assert!(
        !second.contains(
            first
                .iter()
                .find(|o| o.contains("/companies-"))
                .expect("companies")
        )
    );
    validate(store, &dataset).await;
    let read = rows_read(store, &dataset).await;
    assert_eq!(
        read,
        vec![
            ("companies".to_owned(), 2),
            ("users".to_owned(), USERS as i64)
        ]
    );

    // Deleted with its dataset; what a crash left behind goes with the next sweep.
    files
        .leave_behind("datasets/999/users-0123456789abcdef.csv")
        .await;
    delete_dataset(store.as_ref(), dataset.key())
        .await
        .expect("delete");
    crate::pipeline::work(store).await;
    assert_eq!(files.objects().await, Vec::<String>::new());
}

fn users_file() -> String {
    let mut text = String::from("EXTERNAL_ID,EMAIL_ADDRESS,FIRST_NAME,LAST_NAME\n");
    let padding = "x".repeat(150);
    for n in 0..USERS {
        text.push_str(&format!(
            "u-{n},user{n}@north.example,First{n},Last{padding}\n"
        ));
    }
    text
}

async fn store_file(store: &Arc<dyn Store>, dataset: &Dataset, data_type: DataType, text: &str) {
    let mut upload = FileUpload::start(store.clone(), dataset.id, data_type, data_type.part())
        .await
        .expect("start");
    upload.write(text.as_bytes()).await.expect("write");
    upload.finish().await.expect("finish");
}

async fn validate(store: &Arc<dyn Store>, dataset: &Dataset) {
    crate::pipeline::run_validation(store, dataset).await;
    let validated = store
        .dataset(dataset.key())
        .await
        .expect("read")
        .expect("dataset");
    assert_eq!(
        validated.state,
        DatasetState::Validated,
        "{:?}",
        validated.failure
    );
}

async fn rows_read(store: &Arc<dyn Store>, dataset: &Dataset) -> Vec<(String, i64)> {
    store
        .dataset_files(dataset.id)
        .await
        .expect("files")
        .into_iter()
        .map(|f| (f.data_type, f.rows_read.unwrap_or(-1)))
        .collect()
}
