//! Datasets over HTTP, shared by the API and the pages (docs/datasets.md): receiving an upload
//! file by file into the store, and the actions on a dataset with the states they need.

use axum::body::Body;
use axum::extract::Multipart;
use axum::extract::multipart::Field;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use ferry_datasets::{
    ActivateDataset, DataType, FileUpload, Report, UndoDataset, UploadError, ValidateDataset,
};
use ferry_domain::{DatasetKind, DatasetState, MAX_TEXT_CHARS, text_problem};
use ferry_jobs::BackgroundJob;
use ferry_storage::datasets::replacement_name;
use ferry_storage::{Dataset, DatasetEdit, NewDataset, StoreError};

use crate::AppState;

/// Who uploads a dataset.
pub struct Creator {
    pub user_id: Option<i64>,
    /// The reseller company whose members see the dataset. A reseller uploads order datasets
    /// only, and they touch only its company and its customers.
    pub company_id: Option<i64>,
    /// How the pages show them: an e-mail address or an API token.
    pub label: String,
}

/// Why a dataset could not be created or changed.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// Another dataset of the marketplace waits for or runs validation.
    #[error(
        "the dataset \"{}\" (id {}) is being validated; a new one can be uploaded when it has finished",
        .0.name,
        .0.id
    )]
    Busy(Box<Dataset>),
    /// The dataset is not in a state that allows this.
    #[error("the dataset is {}: {}", .state.label(), .why)]
    State {
        state: DatasetState,
        why: &'static str,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for DatasetError {
    fn from(error: StoreError) -> Self {
        DatasetError::Store(error)
    }
}

impl From<UploadError> for DatasetError {
    fn from(error: UploadError) -> Self {
        match error {
            UploadError::TooLarge { .. } => DatasetError::Invalid(error.to_string()),
            UploadError::Store(e) => DatasetError::Store(e),
        }
    }
}

/// The settings sent with an upload.
#[derive(Default)]
struct Settings {
    name: Option<String>,
    provision: bool,
    review: bool,
}

/// Receives a multipart upload: `name`, `provision`, `review` and one file part per data type
/// (named by the type in lower case). Files go to the store as they arrive. On any failure the
/// dataset is removed, so nothing half-uploaded remains. Returns the dataset and its job.
pub async fn receive(
    state: &AppState,
    marketplace_id: i64,
    creator: Creator,
    mut multipart: Multipart,
) -> Result<(Dataset, i64), DatasetError> {
    let mut settings = Settings::default();
    let mut dataset: Option<Dataset> = None;
    let outcome: Result<usize, DatasetError> = async {
        let mut files: Vec<DataType> = Vec::new();
        while let Some(field) = next_field(&mut multipart).await? {
            let part = field.name().unwrap_or_default().to_owned();
            match part.as_str() {
                "name" => settings.name = Some(text(field).await?),
                "provision" => settings.provision = flag(&text(field).await?),
                "review" => settings.review = flag(&text(field).await?),
                "csrf" => {}
                // A file input left empty in a browser form.
                _ if field.file_name() == Some("") => {}
                _ => {
                    let (data_type, file_name) = file_part(&field)?;
                    let kind = kind_of(data_type);
                    if creator.company_id.is_some() && kind != DatasetKind::Orders {
                        return Err(DatasetError::Invalid(
                            "a reseller uploads order datasets: one `orders` file".into(),
                        ));
                    }
                    let dataset = match &dataset {
                        Some(dataset) if dataset.kind != kind => return Err(mixed_kinds()),
                        Some(dataset) => dataset,
                        None => dataset.insert(
                            create(state, marketplace_id, &creator, &settings, kind).await?,
                        ),
                    };
                    if kind == DatasetKind::Orders && !files.is_empty() {
                        return Err(mixed_kinds());
                    }
                    if files.contains(&data_type) {
                        return Err(two_files(data_type));
                    }
                    let id = dataset.id;
                    let upload =
                        FileUpload::start(state.store.clone(), id, data_type, &file_name).await?;
                    store_part(field, upload).await?;
                    files.push(data_type);
                }
            }
        }
        Ok(files.len())
    }
    .await;
    let files = match outcome {
        Ok(files) => files,
        Err(error) => {
            if let Some(dataset) = &dataset {
                state.store.delete_dataset(dataset.key()).await?;
            }
            return Err(error);
        }
    };
    let Some(mut dataset) = dataset.filter(|_| files > 0) else {
        return Err(DatasetError::Invalid(
            "a dataset needs at least one file, in a part named by its data type".into(),
        ));
    };
    let name = settings.name.clone().unwrap_or_default();
    if name.trim().is_empty() {
        state.store.delete_dataset(dataset.key()).await?;
        return Err(DatasetError::Invalid("the dataset needs a name".into()));
    }
    if name != dataset.name
        || settings.provision != dataset.provision
        || settings.review != dataset.review
    {
        state
            .store
            .edit_dataset(
                dataset.key(),
                &DatasetEdit {
                    name: name.trim(),
                    provision: settings.provision,
                    review: settings.review,
                },
            )
            .await?;
        dataset.name = name.trim().to_owned();
        dataset.provision = settings.provision;
        dataset.review = settings.review;
    }
    let job_id = state
        .store
        .enqueue_job(&ValidateDataset(dataset.key()).new_job())
        .await?;
    state.store.set_dataset_job(dataset.key(), job_id).await?;
    dataset.job_id = Some(job_id);
    Ok((dataset, job_id))
}

fn two_files(data_type: DataType) -> DatasetError {
    DatasetError::Invalid(format!(
        "two files were sent for {}; send one",
        data_type.label()
    ))
}

/// An order dataset is its `orders` file; every other part makes a migration dataset.
fn kind_of(data_type: DataType) -> DatasetKind {
    match data_type {
        DataType::Orders => DatasetKind::Orders,
        _ => DatasetKind::Migration,
    }
}

fn mixed_kinds() -> DatasetError {
    DatasetError::Invalid(
        "an order dataset is one `orders` file alone; send the other types' files as a migration dataset"
            .into(),
    )
}

async fn create(
    state: &AppState,
    marketplace_id: i64,
    creator: &Creator,
    settings: &Settings,
    kind: DatasetKind,
) -> Result<Dataset, DatasetError> {
    let new = NewDataset {
        marketplace_id,
        kind,
        name: settings
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "Dataset".to_owned()),
        provision: settings.provision,
        review: settings.review,
        created_by_user: creator.user_id,
        created_by_company: creator.company_id,
        creator: creator.label.clone(),
    };
    match state.store.create_dataset(&new).await {
        Err(StoreError::Conflict { .. }) => Err(busy(state, marketplace_id).await),
        other => Ok(other?),
    }
}

/// Why a dataset cannot go to validation now: another of the marketplace is validating.
async fn busy(state: &AppState, marketplace_id: i64) -> DatasetError {
    match state.store.dataset_in_validation(marketplace_id).await {
        Ok(Some(dataset)) => DatasetError::Busy(Box::new(dataset)),
        Ok(None) => DatasetError::Invalid("another dataset is being validated; try again".into()),
        Err(error) => DatasetError::Store(error),
    }
}

/// Receives files that replace or join a dataset's files before activation (Edit, see
/// docs/datasets.md): one file part per data type, named as for an upload. Each is stored aside and put in
/// place only once all have arrived; then the dataset is validated again. On any failure the
/// dataset keeps its files as they were. Returns the validation job.
pub async fn replace_files(
    state: &AppState,
    dataset: &Dataset,
    mut multipart: Multipart,
) -> Result<i64, DatasetError> {
    if !dataset.state.takes_files() {
        return Err(DatasetError::State {
            state: dataset.state,
            why: "files can be replaced once validation has finished and before activation",
        });
    }
    // (temporary name, data type) of each file stored so far.
    let mut stored: Vec<(String, String)> = Vec::new();
    let outcome: Result<(), DatasetError> = async {
        while let Some(field) = next_field(&mut multipart).await? {
            let part = field.name().unwrap_or_default().to_owned();
            if part == "csrf" || field.file_name() == Some("") {
                continue;
            }
            let (data_type, file_name) = file_part(&field)?;
            if kind_of(data_type) != dataset.kind {
                return Err(mixed_kinds());
            }
            if stored.iter().any(|(_, t)| t == data_type.part()) {
                return Err(two_files(data_type));
            }
            let upload = FileUpload::start_replacement(
                state.store.clone(),
                dataset.id,
                data_type,
                &file_name,
            )
            .await?;
            stored.push((replacement_name(&part), part));
            store_part(field, upload).await?;
        }
        if stored.is_empty() {
            return Err(DatasetError::Invalid(
                "choose at least one file, in a part named by its data type".into(),
            ));
        }
        match state.store.replace_dataset_files(dataset.id, &stored).await {
            Err(StoreError::Conflict { .. }) => Err(busy(state, dataset.marketplace_id).await),
            Err(StoreError::NotFound { .. }) => Err(DatasetError::Invalid(
                "the dataset was activated or deleted while the files arrived".into(),
            )),
            other => Ok(other?),
        }
    }
    .await;
    if let Err(error) = outcome {
        for (temporary, _) in &stored {
            state
                .store
                .remove_dataset_file(dataset.id, temporary)
                .await?;
        }
        return Err(error);
    }
    let job_id = state
        .store
        .enqueue_job(&ValidateDataset(dataset.key()).new_job())
        .await?;
    state.store.set_dataset_job(dataset.key(), job_id).await?;
    Ok(job_id)
}

/// The data type a file part is named by, and the file's name.
fn file_part(field: &Field<'_>) -> Result<(DataType, String), DatasetError> {
    let part = field.name().unwrap_or_default();
    let data_type = DataType::from_part(part).ok_or_else(|| {
        DatasetError::Invalid(format!(
            "`{part}` is not a data type; file parts are named {}",
            DataType::uploaded()
                .map(DataType::part)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let file_name = field
        .file_name()
        .filter(|n| !n.is_empty())
        .unwrap_or(data_type.part())
        .to_owned();
    Ok((data_type, file_name))
}

/// Streams a file part into the store as it arrives; on a failure, nothing of it stays
/// readable.
async fn store_part(mut field: Field<'_>, mut upload: FileUpload) -> Result<(), DatasetError> {
    let received: Result<(), DatasetError> = async {
        while let Some(bytes) = field
            .chunk()
            .await
            .map_err(|e| DatasetError::Invalid(format!("the upload broke off: {e}")))?
        {
            upload.write(&bytes).await?;
        }
        Ok(())
    }
    .await;
    match received {
        Ok(()) => {
            upload.finish().await?;
            Ok(())
        }
        Err(error) => {
            upload.abort().await;
            Err(error)
        }
    }
}

async fn next_field<'a>(multipart: &'a mut Multipart) -> Result<Option<Field<'a>>, DatasetError> {
    multipart.next_field().await.map_err(|e| {
        DatasetError::Invalid(format!("the upload is not a valid multipart form: {e}"))
    })
}

/// A text part of the upload form, read no further than a text field may be long.
async fn text(mut field: Field<'_>) -> Result<String, DatasetError> {
    const MAX_BYTES: usize = 4 * MAX_TEXT_CHARS;
    let name = field.name().unwrap_or_default().to_owned();
    let unreadable = |e: axum::extract::multipart::MultipartError| {
        DatasetError::Invalid(format!("the `{name}` field could not be read: {e}"))
    };
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
        if bytes.len() + chunk.len() > MAX_BYTES {
            return Err(too_long(&name));
        }
        bytes.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| DatasetError::Invalid(format!("the `{name}` field is not UTF-8 text")))?;
    match text_problem(&text) {
        Some(problem) => Err(DatasetError::Invalid(format!(
            "the `{name}` field {problem}"
        ))),
        None => Ok(text),
    }
}

fn too_long(name: &str) -> DatasetError {
    DatasetError::Invalid(format!(
        "the `{name}` field is longer than {MAX_TEXT_CHARS} characters"
    ))
}

fn flag(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "on" | "yes"
    )
}

/// What the list of datasets and the API tell of one: rows read, rows with errors (once
/// planned), and the progress of its work while it runs.
pub struct Figures {
    pub rows: Option<i64>,
    pub errors: Option<i64>,
    pub progress: Option<ferry_domain::Progress>,
}

pub async fn figures(state: &AppState, dataset: &Dataset) -> Result<Figures, StoreError> {
    let files = state.store.dataset_files(dataset.id).await?;
    let rows = files.iter().map(|f| f.rows_read).sum();
    let errors = dataset
        .plan
        .as_deref()
        .and_then(|p| serde_json::from_str::<Vec<ferry_storage::PlanLine>>(p).ok())
        .map(|plan| plan.iter().map(|p| p.skipped).sum());
    let working = matches!(
        dataset.state,
        DatasetState::Created | DatasetState::Validating | DatasetState::Activating
    );
    let progress = match dataset.job_id.filter(|_| working) {
        Some(job) => state.store.job(job).await?.map(|job| job.progress()),
        None => None,
    };
    Ok(Figures {
        rows,
        errors,
        progress,
    })
}

/// Starts the activation of a validated dataset; returns its job.
pub async fn activate(state: &AppState, dataset: &Dataset) -> Result<i64, DatasetError> {
    if dataset.state != DatasetState::Validated {
        return Err(DatasetError::State {
            state: dataset.state,
            why: "only a validated dataset can be activated",
        });
    }
    let job_id = state
        .store
        .enqueue_job(&ActivateDataset(dataset.key()).new_job())
        .await?;
    state.store.set_dataset_job(dataset.key(), job_id).await?;
    state
        .store
        .set_dataset_state(dataset.key(), DatasetState::Activating, None)
        .await?;
    Ok(job_id)
}

/// Refuses a validated dataset: it will not be activated.
pub async fn deny(state: &AppState, dataset: &Dataset) -> Result<(), DatasetError> {
    if dataset.state != DatasetState::Validated {
        return Err(DatasetError::State {
            state: dataset.state,
            why: "only a validated dataset can be denied",
        });
    }
    state
        .store
        .set_dataset_state(dataset.key(), DatasetState::Denied, None)
        .await?;
    Ok(())
}

/// Deletes a dataset, its files and report; what its activation did stays.
pub async fn delete(state: &AppState, dataset: &Dataset) -> Result<(), DatasetError> {
    settled(dataset)?;
    ferry_datasets::delete_dataset(state.store.as_ref(), dataset.key()).await?;
    Ok(())
}

/// Queues the undo of a dataset (`UndoDataset`): what it created and nobody changed since is
/// removed, what it updated gets its former values back, and the dataset is deleted. Returns
/// the job, whose line says what the undo removed, restored and kept.
pub async fn undo(state: &AppState, dataset: &Dataset, actor: &str) -> Result<i64, DatasetError> {
    settled(dataset)?;
    let job = UndoDataset {
        dataset: dataset.key(),
        name: dataset.name.clone(),
        actor: actor.to_owned(),
    };
    Ok(state.store.enqueue_job(&job.new_job()).await?)
}

/// Deleting or undoing waits until validation and activation have finished.
fn settled(dataset: &Dataset) -> Result<(), DatasetError> {
    if matches!(
        dataset.state,
        DatasetState::Validating | DatasetState::Activating
    ) {
        return Err(DatasetError::State {
            state: dataset.state,
            why: "wait until it has finished",
        });
    }
    Ok(())
}

/// A dataset's report as a CSV download, streamed a page at a time.
pub async fn report_response(state: &AppState, dataset: &Dataset) -> Result<Response, StoreError> {
    let report = Report::new(state.store.clone(), dataset).await?;
    let stream = futures_util::stream::unfold(Some(report), |report| async move {
        let mut report = report?;
        match report.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok::<_, std::io::Error>(chunk), Some(report))),
            Ok(None) => None,
            Err(error) => {
                tracing::error!(%error, "the report stopped");
                Some((Err(std::io::Error::other(error.to_string())), None))
            }
        }
    });
    let name = ferry_datasets::report::file_name(dataset);
    Ok(csv_download(&name, Body::from_stream(stream)))
}

/// A CSV file to download under `name` (made of safe characters by the caller).
pub fn csv_download(name: &str, body: impl Into<Body>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body.into(),
    )
        .into_response()
}
