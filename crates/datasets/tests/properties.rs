//! Properties of reading a dataset's files (docs/datasets.md), over generated input: any bytes
//! give rows or a clear file error, never a panic, and checking those rows never panics; any
//! CSV the `csv` crate writes — any delimiter, quoting, line ending and encoding — reads back
//! to the same rows; a row's fingerprint does not depend on the file's encoding.
//!
//! `scripts/test` runs them with a fixed seed and a bounded number of cases
//! (`PROPTEST_RNG_SEED`, `PROPTEST_CASES`); docs/datasets.md says how to run them longer.

use encoding_rs::WINDOWS_1252;
use ferry_datasets::{CsvFile, DataType, EncodingSniffer, FileError, Layout};
use proptest::prelude::*;

type Rows = Vec<Vec<String>>;

/// Reads a file as an upload is read: its encoding found from its bytes, then every row.
fn read_all(bytes: &[u8]) -> Result<(Vec<String>, Rows), FileError> {
    let mut sniffer = EncodingSniffer::default();
    for chunk in bytes.chunks(7) {
        sniffer.feed(chunk);
    }
    let mut file = CsvFile::open(std::io::Cursor::new(bytes.to_vec()), sniffer.finish())?;
    let mut rows = Vec::new();
    while let Some(row) = file.next_row()? {
        rows.push(row.fields);
    }
    Ok((file.header.names.clone(), rows))
}

/// Text as a file in one of the encodings Ferry reads; none when the text cannot be written in
/// it, or when Windows-1252 bytes happen to be UTF-8 too (the guess reads them as UTF-8).
fn encoded(text: &str, encoding: u8) -> Option<Vec<u8>> {
    let bom = |mark: &[u8], body: Vec<u8>| [mark.to_vec(), body].concat();
    match encoding {
        0 => Some(text.as_bytes().to_vec()),
        1 => Some(bom(b"\xEF\xBB\xBF", text.as_bytes().to_vec())),
        2 => Some(bom(b"\xFF\xFE", utf16(text, true))),
        3 => Some(bom(b"\xFE\xFF", utf16(text, false))),
        _ => {
            let (bytes, _, unmappable) = WINDOWS_1252.encode(text);
            (!unmappable && std::str::from_utf8(&bytes).is_err()).then(|| bytes.into_owned())
        }
    }
}

fn utf16(text: &str, little_endian: bool) -> Vec<u8> {
    text.encode_utf16()
        .flat_map(|unit| {
            if little_endian {
                unit.to_le_bytes()
            } else {
                unit.to_be_bytes()
            }
        })
        .collect()
}

/// A cell: any text but the control characters (a control character is its row's finding,
/// tested on its own), with the delimiters, quotes and line breaks a CSV writer must quote.
fn cell() -> impl Strategy<Value = String> {
    "[^\\x00-\\x08\\x0B\\x0E-\\x1F\\x7F]{0,12}"
}

/// Rows of three cells, none blank (a blank row is skipped by design).
fn rows() -> impl Strategy<Value = Rows> {
    proptest::collection::vec(proptest::collection::vec(cell(), 3), 0..12).prop_map(|rows| {
        rows.into_iter()
            .filter(|row| row.iter().any(|c| !c.trim().is_empty()))
            .collect()
    })
}

fn write_csv(rows: &Rows, delimiter: u8, quoting: u8, crlf: bool) -> String {
    let style = match quoting {
        0 => csv::QuoteStyle::Necessary,
        1 => csv::QuoteStyle::Always,
        _ => csv::QuoteStyle::NonNumeric,
    };
    let terminator = if crlf {
        csv::Terminator::CRLF
    } else {
        csv::Terminator::Any(b'\n')
    };
    let mut writer = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .quote_style(style)
        .terminator(terminator)
        .from_writer(Vec::new());
    writer.write_record(["A", "B", "C"]).expect("header");
    for row in rows {
        writer.write_record(row).expect("row");
    }
    String::from_utf8(writer.into_inner().expect("written")).expect("utf-8")
}

proptest! {
    #[test]
    fn any_bytes_give_rows_or_a_file_error(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok((_, rows)) = read_all(&bytes) {
            prop_assert!(rows.iter().all(|r| r.iter().any(|c| !c.trim().is_empty())));
        }
    }

    #[test]
    fn any_rows_after_a_header_are_checked_without_a_panic(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        data_type in prop::sample::select(DataType::ALL.to_vec()),
    ) {
        let columns: Vec<&str> = data_type.columns().iter().map(|c| c.name).collect();
        let bytes = [format!("{}\n", columns.join(",")).into_bytes(), body].concat();
        let Ok(mut file) = CsvFile::open(std::io::Cursor::new(bytes), ferry_datasets::TextEncoding::Utf8) else {
            return Ok(());
        };
        let (layout, _) = Layout::new(data_type, &file.header).expect("every column is there");
        while let Ok(Some(row)) = file.next_row() {
            let _ = layout.check(&row);
        }
    }

    #[test]
    fn what_the_csv_crate_writes_reads_back(
        rows in rows(),
        delimiter in prop::sample::select(vec![b',', b';', b'\t', b'|']),
        quoting in 0..3u8,
        crlf in any::<bool>(),
        encoding in 0..5u8,
    ) {
        let text = write_csv(&rows, delimiter, quoting, crlf);
        let Some(bytes) = encoded(&text, encoding) else {
            return Ok(());
        };
        let (header, read) = read_all(&bytes).expect("a written file reads");
        prop_assert_eq!(header, vec!["A".to_owned(), "B".to_owned(), "C".to_owned()]);
        prop_assert_eq!(read, rows);
    }

    #[test]
    fn a_rows_fingerprint_does_not_depend_on_the_encoding(
        names in proptest::collection::vec("[A-Za-zÀ-ÿ' -]{1,12}", 1..8),
        encoding in 1..5u8,
    ) {
        let mut text = "EXTERNAL_ID,EMAIL_ADDRESS,FIRST_NAME\n".to_owned();
        for (n, name) in names.iter().enumerate() {
            text.push_str(&format!("u-{n},user{n}@example.com,\"{name}\"\n"));
        }
        let fingerprints = |bytes: &[u8]| {
            let mut sniffer = EncodingSniffer::default();
            sniffer.feed(bytes);
            let mut file = CsvFile::open(std::io::Cursor::new(bytes.to_vec()), sniffer.finish())
                .expect("a file");
            let (layout, _) = Layout::new(DataType::Users, &file.header).expect("layout");
            let mut hashes = Vec::new();
            while let Some(row) = file.next_row().expect("a row") {
                hashes.push(layout.check(&row).map(|staged| staged.hash).ok());
            }
            hashes
        };
        let Some(other) = encoded(&text, encoding) else {
            return Ok(());
        };
        prop_assert_eq!(fingerprints(text.as_bytes()), fingerprints(&other));
    }
}
