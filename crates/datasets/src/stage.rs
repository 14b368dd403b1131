//! Staging: a stored file read chunk by chunk, each row checked on a blocking thread and
//! written to its staging table in batches, with the findings of the rows that fail.

use std::sync::Arc;

use ferry_jobs::JobError;
use ferry_storage::{
    Dataset, DatasetFile, DatasetFinding, StageRow, StagedRows, Store, datasets::staging_table,
};
use futures_util::TryStreamExt;
use tokio::sync::mpsc;

use crate::columns::DataType;
use crate::orders::{ORDER_TYPES, OrderSplit};
use crate::read::{CsvFile, FileError, TextEncoding};
use crate::rows::{Finding, Layout, Severity, StagedRow};

/// Rows staged per write.
const BATCH_ROWS: usize = 5_000;

/// The files of a dataset in the order their types are applied.
pub(crate) fn ordered(files: Vec<DatasetFile>) -> Vec<(DataType, DatasetFile)> {
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
pub(crate) async fn stage_file(
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
            let mut bytes = store.read_dataset_file(dataset_id, part).await?;
            while let Some(chunk) = bytes.try_next().await? {
                if chunk_tx.send(chunk.into()).await.is_err() {
                    break; // The parser stopped early: the file failed.
                }
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
    let mut rows: i64 = 0;
    while let Some(row) = file.next_row()? {
        rows += 1;
        match layout.check(&row) {
            Ok(checked) => {
                checked.warnings.iter().for_each(count_finding);
                batch.findings.extend(checked.warnings.iter().map(stored));
                match &orders {
                    Some(orders) => batch.rows.extend(
                        orders
                            .split(&checked)
                            .into_iter()
                            .map(|(t, record)| (t, stage_row(record))),
                    ),
                    None => batch.rows.push((data_type, stage_row(checked))),
                }
            }
            Err(findings) => {
                findings.iter().for_each(count_finding);
                batch.findings.extend(findings.iter().map(stored));
            }
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
    metrics::counter!("ferry_dataset_rows_total").increment(rows.unsigned_abs());
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

pub(crate) fn file_finding(data_type: DataType, error: &FileError) -> DatasetFinding {
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

/// Findings by code, for operators (docs/operations.md).
fn count_finding(finding: &Finding) {
    metrics::counter!("ferry_dataset_findings_total", "code" => finding.code.clone()).increment(1);
}
