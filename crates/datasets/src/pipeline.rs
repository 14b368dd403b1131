//! The life of a dataset as background jobs (docs/datasets.md): validation reads every file,
//! checks each row and stages it, runs the set-level checks and computes the plan; activation
//! applies the staged rows type by type in ranges of lines, each range with its checkpoint, so
//! a worker that dies is followed by another that carries on where it stopped.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_domain::{DatasetKind, DatasetState, Progress};
use ferry_integrations::webhook::WebhookClient;
use ferry_jobs::{JobContext, JobError, JobHandler};
use ferry_storage::seal::Sealer;
use ferry_storage::{
    Checkpoint, Dataset, DatasetFile, DatasetFinding, NewJob, PlanLine, ProvisioningTarget,
    StageRow, StagedRows, Store, datasets::staging_table,
};
use serde_json::json;
use tokio::sync::mpsc;

use crate::columns::DataType;
use crate::microsoft::{self, TenantLookup};
use crate::orders::{ORDER_TYPES, OrderSplit, SHARED_TYPES};
use crate::read::{CsvFile, FileError, TextEncoding};
use crate::rows::{Finding, Layout, Severity, StagedRow};

/// Rows staged per write.
const BATCH_ROWS: usize = 5_000;
/// Lines applied per transaction (and checkpoint) during activation.
const ACTIVATION_LINES: i64 = 100_000;

/// Validates a dataset, then activates it unless it waits for review.
/// Payload: `{"dataset_id": N}`.
#[derive(Default)]
pub struct ValidateDataset {
    /// How Partner Center is asked about Microsoft records, for marketplaces that check them.
    pub microsoft: Option<Arc<dyn TenantLookup>>,
}

impl ValidateDataset {
    pub const KIND: &'static str = "dataset.validate";
}

/// Activates a validated dataset. Payload: `{"dataset_id": N}`.
pub struct ActivateDataset;

impl ActivateDataset {
    pub const KIND: &'static str = "dataset.activate";
}

/// Sends the subscriptions an activation created to their edition's connector (docs/datasets.md):
/// each becomes active when the vendor takes it, failed otherwise, with the vendor's reason on
/// the subscription and in the report. Payload: `{"dataset_id": N}`.
pub struct ProvisionDataset {
    /// Opens the products' webhook secrets.
    pub sealer: Sealer,
    pub webhook: WebhookClient,
}

impl ProvisionDataset {
    pub const KIND: &'static str = "dataset.provision";
}

/// Subscriptions provisioned per checkpoint, and at once.
const PROVISION_PAGE: i64 = 64;
const PROVISION_AT_ONCE: usize = 8;

#[async_trait]
impl JobHandler for ProvisionDataset {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    async fn run(&self, ctx: &JobContext) -> Result<(), JobError> {
        let dataset = dataset_of(ctx).await?;
        let store = ctx.store();
        let mut after = ctx
            .resume_from()
            .and_then(|c| c["after"].as_i64())
            .unwrap_or(0);
        let mut done = 0;
        loop {
            let page = store
                .pending_provisioning(dataset.id, dataset.marketplace_id, after, PROVISION_PAGE)
                .await?;
            let Some(last) = page.last().map(|t| t.subscription_id) else {
                break;
            };
            for batch in page.chunks(PROVISION_AT_ONCE) {
                let answers = batch.iter().map(|target| self.provision(&dataset, target));
                for (target, answer) in batch
                    .iter()
                    .zip(futures_util::future::join_all(answers).await)
                {
                    store
                        .set_provisioned(
                            target.subscription_id,
                            answer.as_ref().err().map(String::as_str),
                        )
                        .await?;
                    if let Err(reason) = answer {
                        let finding = DatasetFinding {
                            data_type: DataType::CompanyEntitlements.part().to_owned(),
                            line: target.line.unwrap_or(0),
                            external_id: target.external_id.clone(),
                            severity: "error".to_owned(),
                            code: "PROVISIONING_FAILED".to_owned(),
                            column_name: None,
                            message: reason,
                            value: None,
                        };
                        store.add_findings(dataset.id, &[finding]).await?;
                    }
                }
            }
            after = last;
            done += page.len() as i64;
            let progress = Progress {
                done,
                total: None,
                message: Some(format!("{done} subscriptions sent to their connectors")),
            };
            ctx.checkpoint(json!({ "after": after }), progress, None)
                .await?;
        }
        finish(store, &dataset).await
    }
}

impl ProvisionDataset {
    /// Sends one subscription to its product's webhook; `Err` says why it is not provisioned.
    async fn provision(
        &self,
        dataset: &Dataset,
        target: &ProvisioningTarget,
    ) -> Result<(), String> {
        let url = target
            .webhook_url
            .as_deref()
            .ok_or("the product has no webhook URL to provision through")?;
        let secret = match &target.webhook_secret_encrypted {
            Some(sealed) => self.sealer.open(sealed).map_err(
                |_| "the product's webhook secret cannot be opened with this installation's key",
            )?,
            None => return Err("the product has no webhook secret to sign events with".into()),
        };
        let event_id = format!("ferry-subscription-{}", target.subscription_id);
        let body = json!({
            "type": "SUBSCRIPTION_ORDER",
            "id": event_id,
            "dataset": { "id": dataset.id, "name": dataset.name },
            "subscription": {
                "id": target.subscription_id,
                "external_id": target.external_id,
                "units": target.units,
                "edition": { "code": target.edition_code, "name": target.edition_name },
            },
            "company": { "external_id": target.company_external_id, "name": target.company_name },
            "user": { "external_id": target.user_external_id, "email": target.user_email },
        });
        let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        self.webhook.deliver(url, &secret, &event_id, &body).await
    }
}

/// The job that validates (and, without review, activates) a dataset.
pub fn validation_job(dataset: &Dataset) -> NewJob {
    dataset_job(ValidateDataset::KIND, dataset)
}

/// The job that sends a dataset's new subscriptions to their connectors.
pub fn provisioning_job(dataset: &Dataset) -> NewJob {
    dataset_job(ProvisionDataset::KIND, dataset)
}

/// The job that activates a validated dataset.
pub fn activation_job(dataset: &Dataset) -> NewJob {
    dataset_job(ActivateDataset::KIND, dataset)
}

fn dataset_job(kind: &str, dataset: &Dataset) -> NewJob {
    NewJob {
        marketplace_id: Some(dataset.marketplace_id),
        kind: kind.to_owned(),
        payload: json!({ "dataset_id": dataset.id }),
        max_attempts: 5,
        run_at: None,
    }
}

#[async_trait]
impl JobHandler for ValidateDataset {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    async fn run(&self, ctx: &JobContext) -> Result<(), JobError> {
        let dataset = dataset_of(ctx).await?;
        let outcome = validate(ctx, &dataset, self.microsoft.as_deref()).await;
        settle(ctx, &dataset, outcome, DatasetState::UploadFailed).await
    }
}

/// When a job gives up for good, the dataset says so, instead of staying in progress (and, in
/// validation, blocking the marketplace's next dataset).
async fn settle(
    ctx: &JobContext,
    dataset: &Dataset,
    outcome: Result<(), JobError>,
    failed: DatasetState,
) -> Result<(), JobError> {
    let last_attempt = ctx.job().attempts >= ctx.job().max_attempts;
    // A validation job that went on to activate fails as an activation does.
    let current = ctx
        .store()
        .dataset(dataset.marketplace_id, dataset.id)
        .await?;
    let failed = match current.map(|d| d.state) {
        Some(DatasetState::Activating) => DatasetState::Validated,
        _ => failed,
    };
    let reason = match &outcome {
        Err(JobError::Failed(reason)) => Some(reason.clone()),
        Err(JobError::Retry(reason)) if last_attempt => Some(reason.clone()),
        _ => None,
    };
    if let Some(reason) = reason {
        ctx.store()
            .set_dataset_state(dataset.marketplace_id, dataset.id, failed, Some(&reason))
            .await?;
    }
    outcome
}

async fn validate(
    ctx: &JobContext,
    dataset: &Dataset,
    microsoft: Option<&dyn TenantLookup>,
) -> Result<(), JobError> {
    // A worker that died while activating is followed by one that carries on activating:
    // validation is done, and staging again would lose what was decided.
    if ctx.resume_from().is_some_and(|c| c.get("type").is_some()) {
        return activate(ctx, dataset, None).await;
    }
    let store = ctx.store();
    store
        .set_dataset_state(
            dataset.marketplace_id,
            dataset.id,
            DatasetState::Validating,
            None,
        )
        .await?;
    let tables: Vec<&str> = DataType::ALL
        .iter()
        .filter_map(|t| staging_table(t.part()))
        .collect();
    // A validation that starts again starts from nothing.
    store.clear_staging(dataset.id, &tables).await?;
    let files = ordered(store.dataset_files(dataset.id).await?);
    let total = files.len() as i64 + 2;
    for (done, (data_type, file)) in files.iter().enumerate() {
        progress(
            ctx,
            done as i64,
            total,
            format!("reading {}", data_type.label()),
        )
        .await?;
        match stage_file(store, dataset, *data_type, file).await? {
            Ok(rows) => {
                store
                    .set_rows_read(dataset.id, data_type.part(), rows)
                    .await?
            }
            Err(error) => {
                let finding = file_finding(*data_type, &error);
                store.add_findings(dataset.id, &[finding]).await?;
                let reason = format!("{}: {error}", data_type.label());
                store
                    .set_dataset_state(
                        dataset.marketplace_id,
                        dataset.id,
                        DatasetState::UploadFailed,
                        Some(&reason),
                    )
                    .await?;
                return Ok(());
            }
        }
    }
    progress(
        ctx,
        total - 2,
        total,
        "checking references and rules".into(),
    )
    .await?;
    if dataset.kind == DatasetKind::Orders {
        // Orders of one company or user repeat its record: it is staged once.
        let shared: Vec<&str> = SHARED_TYPES
            .iter()
            .filter_map(|t| staging_table(t.part()))
            .collect();
        store.merge_repeated_rows(dataset.id, &shared).await?;
    }
    if let Some(reseller) = dataset.created_by_company {
        store
            .check_reseller_scope(dataset.id, dataset.marketplace_id, reseller)
            .await?;
    }
    if store
        .marketplace_settings(dataset.marketplace_id)
        .await?
        .microsoft_validation
    {
        progress(
            ctx,
            total - 2,
            total,
            "checking Microsoft records with Partner Center".into(),
        )
        .await?;
        microsoft::check(&**store, microsoft, dataset.id, dataset.marketplace_id).await?;
    }
    store
        .check_staged(dataset.id, dataset.marketplace_id)
        .await?;
    progress(ctx, total - 1, total, "planning".into()).await?;
    let plan = store
        .plan_staged(dataset.id, dataset.marketplace_id, !dataset.review)
        .await?;
    let stored = serde_json::to_string(&plan).map_err(|e| JobError::Failed(e.to_string()))?;
    store
        .set_dataset_plan(dataset.marketplace_id, dataset.id, &stored)
        .await?;
    store
        .set_dataset_state(
            dataset.marketplace_id,
            dataset.id,
            DatasetState::Validated,
            None,
        )
        .await?;
    if dataset.review {
        return Ok(());
    }
    activate(ctx, dataset, Some(plan)).await
}

#[async_trait]
impl JobHandler for ActivateDataset {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    async fn run(&self, ctx: &JobContext) -> Result<(), JobError> {
        let dataset = dataset_of(ctx).await?;
        // A failed activation leaves the dataset validated, to be activated again; what was
        // applied stays, and the next run carries on from it.
        let outcome = activate(ctx, &dataset, None).await;
        settle(ctx, &dataset, outcome, DatasetState::Validated).await
    }
}

/// Applies every staged row, type by type, from where a previous run stopped. Each row's
/// outcome is decided first, for all rows at once, unless a `plan` that kept its decisions
/// comes with the call or a previous run decided them; types with nothing to create or update
/// are passed over.
async fn activate(
    ctx: &JobContext,
    dataset: &Dataset,
    plan: Option<Vec<PlanLine>>,
) -> Result<(), JobError> {
    let store = ctx.store();
    store
        .set_dataset_state(
            dataset.marketplace_id,
            dataset.id,
            DatasetState::Activating,
            None,
        )
        .await?;
    let resume = ctx.resume_from().cloned().unwrap_or_default();
    let plan = match plan {
        // Only rows still undecided are decided: a run that stopped keeps its decisions.
        None if resume.get("type").is_none() => Some(
            store
                .plan_staged(dataset.id, dataset.marketplace_id, true)
                .await?,
        ),
        plan => plan,
    };
    let (mut position, mut next_line) = (
        resume["type"].as_u64().unwrap_or(0) as usize,
        resume["line"].as_i64(),
    );
    let types: Vec<DataType> = DataType::ALL.to_vec();
    while let Some(data_type) = types.get(position) {
        let nothing_to_apply = plan
            .iter()
            .flatten()
            .find(|line| line.data_type == data_type.part())
            .is_some_and(|line| line.created + line.updated == 0);
        if nothing_to_apply {
            position += 1;
            next_line = None;
            continue;
        }
        if let Some((first, last)) = store.staged_lines(dataset.id, data_type.part()).await? {
            let mut from = next_line.unwrap_or(first).max(first);
            while from <= last {
                let to = (from + ACTIVATION_LINES - 1).min(last);
                let checkpoint = Checkpoint {
                    data: json!({ "type": position, "line": to + 1 }),
                    progress: Progress {
                        done: position as i64,
                        total: Some(types.len() as i64),
                        message: Some(format!(
                            "applying {}: line {to} of {last}",
                            data_type.label()
                        )),
                    },
                    audit: None,
                };
                store
                    .activate_lines(
                        ctx.lease(),
                        &checkpoint,
                        dataset.id,
                        dataset.marketplace_id,
                        data_type.part(),
                        from,
                        to,
                    )
                    .await?;
                if from == first {
                    // The tables written were empty or much smaller: the planner judges the
                    // next ranges' joins by what they hold now.
                    store.refresh_statistics(data_type.part()).await?;
                }
                if ctx.is_cancel_requested() {
                    store
                        .set_dataset_state(
                            dataset.marketplace_id,
                            dataset.id,
                            DatasetState::Cancelled,
                            None,
                        )
                        .await?;
                    return Err(JobError::Cancelled);
                }
                from = to + 1;
            }
        }
        store.refresh_statistics(data_type.part()).await?;
        position += 1;
        next_line = None;
    }
    if let Some(reseller) = dataset.created_by_company {
        // The companies a reseller brings in are its customers.
        store
            .associate_with_reseller(dataset.id, dataset.marketplace_id, reseller)
            .await?;
    }
    if dataset.provision {
        // The subscriptions go to their connectors next; the dataset stays Activating.
        let job = store.enqueue_job(&provisioning_job(dataset)).await?;
        store
            .set_dataset_job(dataset.marketplace_id, dataset.id, job)
            .await?;
        return Ok(());
    }
    finish(store, dataset).await
}

/// Activated, or Activated with Errors when any row or subscription did not make it.
async fn finish(store: &Arc<dyn Store>, dataset: &Dataset) -> Result<(), JobError> {
    let state = if store.dataset_has_errors(dataset.id).await? {
        DatasetState::ActivatedWithErrors
    } else {
        DatasetState::Activated
    };
    store
        .set_dataset_state(dataset.marketplace_id, dataset.id, state, None)
        .await?;
    Ok(())
}

async fn dataset_of(ctx: &JobContext) -> Result<Dataset, JobError> {
    let id = ctx.payload()["dataset_id"]
        .as_i64()
        .ok_or_else(|| JobError::Failed("the job needs a payload with \"dataset_id\"".into()))?;
    let marketplace = ctx
        .job()
        .marketplace_id
        .ok_or_else(|| JobError::Failed("a dataset job belongs to a marketplace".into()))?;
    ctx.store()
        .dataset(marketplace, id)
        .await?
        .ok_or_else(|| JobError::Failed(format!("dataset {id} no longer exists")))
}

async fn progress(
    ctx: &JobContext,
    done: i64,
    total: i64,
    message: String,
) -> Result<(), JobError> {
    let progress = Progress {
        done,
        total: Some(total),
        message: Some(message),
    };
    ctx.checkpoint(json!({}), progress, None).await
}

/// The files of a dataset in the order their types are applied.
fn ordered(files: Vec<DatasetFile>) -> Vec<(DataType, DatasetFile)> {
    let mut typed: Vec<(DataType, DatasetFile)> = files
        .into_iter()
        .filter_map(|f| DataType::from_part(&f.data_type).map(|t| (t, f)))
        .collect();
    typed.sort_by_key(|(t, _)| DataType::ALL.iter().position(|x| x == t));
    typed
}

/// What a batch of parsed rows brings to the store: rows of one type, or of several when
/// orders are split.
struct Batch {
    rows: Vec<(DataType, StageRow)>,
    findings: Vec<DatasetFinding>,
}

/// Reads a stored file chunk by chunk, checks its rows on a blocking thread and stages them in
/// batches: memory holds a few chunks and batches, whatever the file's size. The outer error is
/// the store's; the inner one says why the file could not be read.
async fn stage_file(
    store: &Arc<dyn Store>,
    dataset: &Dataset,
    data_type: DataType,
    file: &DatasetFile,
) -> Result<Result<i64, FileError>, JobError> {
    let (dataset_id, marketplace_id) = (dataset.id, dataset.marketplace_id);
    let encoding = TextEncoding::from_name(&file.encoding)
        .ok_or_else(|| JobError::Failed(format!("unknown encoding {:?}", file.encoding)))?;
    let (chunk_tx, chunk_rx) = mpsc::channel::<Vec<u8>>(4);
    let (batch_tx, mut batch_rx) = mpsc::channel::<Batch>(2);
    let feeder = {
        let (store, part) = (store.clone(), data_type.part());
        tokio::spawn(async move {
            let mut seq = 0;
            while let Some(chunk) = store.dataset_chunk(dataset_id, part, seq).await? {
                if chunk_tx.send(chunk).await.is_err() {
                    break; // The parser stopped early: the file failed.
                }
                seq += 1;
            }
            Ok::<(), ferry_storage::StoreError>(())
        })
    };
    let parser = tokio::task::spawn_blocking(move || {
        parse(ChunkReader::new(chunk_rx), encoding, data_type, batch_tx)
    });
    while let Some(batch) = batch_rx.recv().await {
        let mut left = batch.rows;
        for staged_type in staged_types(data_type) {
            let (these, rest): (Vec<_>, Vec<_>) =
                left.into_iter().partition(|(t, _)| *t == staged_type);
            left = rest;
            let rows: Vec<StageRow> = these.into_iter().map(|(_, row)| row).collect();
            if rows.is_empty() {
                continue;
            }
            let columns: Vec<String> = staged_type.columns().iter().map(|c| c.field()).collect();
            let table = staging_table(staged_type.part()).ok_or_else(|| {
                JobError::Failed(format!("no staging table for {}", staged_type.label()))
            })?;
            let staged = StagedRows {
                marketplace_id,
                table,
                columns: &columns,
                rows: &rows,
            };
            store.stage_rows(dataset_id, &staged).await?;
        }
        if !batch.findings.is_empty() {
            store.add_findings(dataset_id, &batch.findings).await?;
        }
    }
    let outcome = parser
        .await
        .map_err(|e| JobError::Failed(format!("reading the file stopped: {e}")))?;
    feeder
        .await
        .map_err(|e| JobError::Failed(format!("reading the file stopped: {e}")))??;
    Ok(outcome)
}

/// Parses a file and sends its checked rows and findings in batches; returns the rows read.
fn parse(
    reader: ChunkReader,
    encoding: TextEncoding,
    data_type: DataType,
    batches: mpsc::Sender<Batch>,
) -> Result<i64, FileError> {
    let mut file = CsvFile::open(reader, encoding)?;
    let (layout, warnings) = Layout::new(data_type, &file.header)?;
    let mut batch = Batch {
        rows: Vec::with_capacity(BATCH_ROWS),
        findings: warnings.iter().map(stored).collect(),
    };
    if encoding == TextEncoding::Windows1252 {
        batch.findings.push(stored(&Finding {
            data_type,
            line: 1,
            external_id: None,
            severity: Severity::Warning,
            code: "ENCODING_GUESSED".to_owned(),
            column: None,
            message: "the file is not UTF-8; it was read as Windows-1252".to_owned(),
            value: None,
        }));
    }
    let orders = (data_type == DataType::Orders).then(OrderSplit::default);
    let mut rows = 0;
    while let Some(row) = file.next_row()? {
        rows += 1;
        match layout.check(&row) {
            Ok(checked) => match &orders {
                Some(orders) => batch.rows.extend(
                    orders
                        .split(&checked)
                        .into_iter()
                        .map(|(t, record)| (t, stage_row(record))),
                ),
                None => batch.rows.push((data_type, stage_row(checked))),
            },
            Err(findings) => batch.findings.extend(findings.iter().map(stored)),
        }
        if batch.rows.len() >= BATCH_ROWS || batch.findings.len() >= BATCH_ROWS {
            let full = std::mem::replace(
                &mut batch,
                Batch {
                    rows: Vec::with_capacity(BATCH_ROWS),
                    findings: Vec::new(),
                },
            );
            if batches.blocking_send(full).is_err() {
                break;
            }
        }
    }
    let _ = batches.blocking_send(batch);
    Ok(rows)
}

/// The types a file's rows are staged as.
fn staged_types(data_type: DataType) -> Vec<DataType> {
    match data_type {
        DataType::Orders => ORDER_TYPES.to_vec(),
        other => vec![other],
    }
}

fn stage_row(row: StagedRow) -> StageRow {
    StageRow {
        line: row.line as i64,
        values: row.values,
        custom: row.custom,
        hash: row.hash,
    }
}

/// The type a file's findings are filed under. An order's own findings go with its
/// subscription, which carries the order's id, so the report lists them in its place.
fn findings_type(data_type: DataType) -> DataType {
    match data_type {
        DataType::Orders => DataType::CompanyEntitlements,
        other => other,
    }
}

fn stored(finding: &Finding) -> DatasetFinding {
    DatasetFinding {
        data_type: findings_type(finding.data_type).part().to_owned(),
        line: finding.line as i64,
        external_id: finding.external_id.clone(),
        severity: match finding.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
        .to_owned(),
        code: finding.code.clone(),
        column_name: finding.column.clone(),
        message: finding.message.clone(),
        value: finding.value.clone(),
    }
}

fn file_finding(data_type: DataType, error: &FileError) -> DatasetFinding {
    let code = match error {
        FileError::MissingColumn { column, .. } => format!("MISSING_FIELD_{column}"),
        FileError::DuplicateColumn { .. } => "DUPLICATE_COLUMN".to_owned(),
        _ => "FILE_UNREADABLE".to_owned(),
    };
    DatasetFinding {
        data_type: findings_type(data_type).part().to_owned(),
        line: error.line() as i64,
        external_id: None,
        severity: "error".to_owned(),
        code,
        column_name: match error {
            FileError::MissingColumn { column, .. } | FileError::DuplicateColumn { column, .. } => {
                Some(column.clone())
            }
            _ => None,
        },
        message: error.to_string(),
        value: None,
    }
}

/// A `Read` over chunks arriving on a channel, for the blocking parser.
struct ChunkReader {
    chunks: mpsc::Receiver<Vec<u8>>,
    current: Vec<u8>,
    at: usize,
}

impl ChunkReader {
    fn new(chunks: mpsc::Receiver<Vec<u8>>) -> Self {
        ChunkReader {
            chunks,
            current: Vec::new(),
            at: 0,
        }
    }
}

impl std::io::Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.current.len() {
            match self.chunks.blocking_recv() {
                Some(chunk) => {
                    self.current = chunk;
                    self.at = 0;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
