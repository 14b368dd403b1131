//! A dataset's report (docs/datasets.md): one CSV line per finding and per applied record, file
//! by file in activation order, produced a page at a time so a report of millions of lines
//! streams. Cells a spreadsheet would run as a formula are neutralised.

use std::sync::Arc;

use ferry_storage::{Dataset, Store, StoreError};

use crate::columns::DataType;
use crate::orders::{ORDER_TYPES, record_name};

/// Lines of a file read from the store at a time.
const PAGE_LINES: i64 = 10_000;

pub const HEADER: [&str; 8] = [
    "FILE",
    "LINE",
    "EXTERNAL_ID",
    "OUTCOME",
    "CODE",
    "COLUMN",
    "MESSAGE",
    "VALUE",
];

/// The report's download name: `{BatchName}_{JobNumber}.csv`, with only safe characters.
pub fn file_name(dataset: &Dataset) -> String {
    let name: String = dataset
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = name.trim_matches('.');
    let name = if name.is_empty() { "dataset" } else { name };
    format!("{name}_{}.csv", dataset.job_id.unwrap_or(dataset.id))
}

/// The field delimiters of common spreadsheet locales: a spreadsheet may split an unquoted
/// cell at any of them.
const DELIMITERS: [char; 4] = [',', ';', '\t', '|'];

/// A cell as a spreadsheet may show it: one that starts with `=`, `+`, `-`, `@`, a tab or a
/// carriage return, or holds a piece that does after a delimiter of any common locale
/// (`u2;=1+1`), is prefixed with `'`, so it is text and never a formula.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    let formula = |piece: &str| piece.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if formula(cell) || cell.split(DELIMITERS).skip(1).any(formula) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// Appends one CSV record, every cell neutralised: a cell is quoted when it holds a quote, a
/// line break or the delimiter of any common locale, so that no spreadsheet splits it.
pub fn write_record<'a>(out: &mut Vec<u8>, cells: impl IntoIterator<Item = &'a str>) {
    for (n, cell) in cells.into_iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        let cell = neutralise(cell);
        if cell.contains(['"', '\n', '\r']) || cell.contains(DELIMITERS) {
            out.push(b'"');
            out.extend_from_slice(cell.replace('"', "\"\"").as_bytes());
            out.push(b'"');
        } else {
            out.extend_from_slice(cell.as_bytes());
        }
    }
    out.push(b'\n');
}

/// The report being produced, page by page.
pub struct Report {
    store: Arc<dyn Store>,
    dataset_id: i64,
    /// The files to report on, in order, with their names: (type, file name). An order
    /// dataset's file is reported once for each type its orders are split into.
    files: Vec<(DataType, String)>,
    /// Whether applied records say what they are: in an order dataset, one line of the file
    /// stands for several records.
    name_records: bool,
    position: usize,
    next_line: i64,
    header_written: bool,
}

impl Report {
    pub async fn new(store: Arc<dyn Store>, dataset: &Dataset) -> Result<Self, StoreError> {
        let stored = store.dataset_files(dataset.id).await?;
        let orders = stored
            .iter()
            .find(|f| f.data_type == DataType::Orders.part());
        let files = match orders {
            Some(file) => ORDER_TYPES
                .into_iter()
                .map(|t| (t, file.file_name.clone()))
                .collect(),
            None => DataType::ALL
                .into_iter()
                .filter_map(|t| {
                    stored
                        .iter()
                        .find(|f| f.data_type == t.part())
                        .map(|f| (t, f.file_name.clone()))
                })
                .collect(),
        };
        Ok(Report {
            store,
            dataset_id: dataset.id,
            files,
            name_records: orders.is_some(),
            position: 0,
            next_line: 0,
            header_written: false,
        })
    }

    /// The next piece of the CSV, or `None` when it is complete.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        let mut out = Vec::new();
        if !self.header_written {
            self.header_written = true;
            write_record(&mut out, HEADER);
        }
        while let Some((data_type, file_name)) = self.files.get(self.position) {
            let last = self
                .store
                .report_last_line(self.dataset_id, data_type.part())
                .await?
                .unwrap_or(-1);
            if self.next_line > last {
                self.position += 1;
                self.next_line = 0;
                continue;
            }
            let to = self.next_line + PAGE_LINES - 1;
            let lines = self
                .store
                .report_lines(self.dataset_id, data_type.part(), self.next_line..=to)
                .await?;
            self.next_line = to + 1;
            if lines.is_empty() {
                continue;
            }
            for line in lines {
                let number = line.line.to_string();
                let message = match (&line.message, &line.code) {
                    (Some(message), _) => message.as_str(),
                    (None, None) if self.name_records => record_name(*data_type),
                    (None, _) => "",
                };
                let cells = [
                    file_name.as_str(),
                    number.as_str(),
                    line.external_id.as_deref().unwrap_or(""),
                    line.outcome.as_str(),
                    line.code.as_deref().unwrap_or(""),
                    line.column_name.as_deref().unwrap_or(""),
                    message,
                    line.value.as_deref().unwrap_or(""),
                ];
                write_record(&mut out, cells);
            }
            break;
        }
        let bytes = out;
        Ok((!bytes.is_empty()).then_some(bytes))
    }

    /// The whole report in memory, for tests and small datasets.
    pub async fn collect(mut self) -> Result<String, StoreError> {
        let mut all = Vec::new();
        while let Some(chunk) = self.next_chunk().await? {
            all.extend_from_slice(&chunk);
        }
        Ok(String::from_utf8_lossy(&all).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::write_record;

    #[test]
    fn cells_with_a_delimiter_of_any_locale_are_quoted() {
        let mut out = Vec::new();
        write_record(&mut out, ["u1", "u2;=1+1;", "a|b", "say \"hi\"", "x\ty"]);
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "u1,\"'u2;=1+1;\",\"a|b\",\"say \"\"hi\"\"\",\"x\ty\"\n"
        );
    }
}
