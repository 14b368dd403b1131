//! Reading and checking dataset files: every form PRODUCT.md §4.3 allows, every way a file can
//! be unreadable, and every syntax-level error code.

use ferry_datasets::{
    CsvFile, DataType, EncodingSniffer, FileError, Layout, Severity, StagedRow, TextEncoding,
    template,
};

fn sniff(bytes: &[u8]) -> TextEncoding {
    let mut sniffer = EncodingSniffer::default();
    // Fed in small pieces, as an upload arrives, so sequences split across chunks are seen.
    for chunk in bytes.chunks(3) {
        sniffer.feed(chunk);
    }
    sniffer.finish()
}

type Rows = Vec<(u64, Vec<String>)>;
/// (line, code) of every finding.
type Codes = Vec<(u64, String)>;

/// Reads a whole file: header names, then (line, fields) of every row.
fn read(bytes: &[u8]) -> Result<(Vec<String>, Rows), FileError> {
    let mut file = CsvFile::open(std::io::Cursor::new(bytes.to_vec()), sniff(bytes))?;
    let mut rows = Vec::new();
    while let Some(row) = file.next_row()? {
        rows.push((row.line, row.fields));
    }
    Ok((file.header.names.clone(), rows))
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

fn utf16(text: &str, little_endian: bool) -> Vec<u8> {
    let mut out = if little_endian {
        vec![0xFF, 0xFE]
    } else {
        vec![0xFE, 0xFF]
    };
    for unit in text.encode_utf16() {
        let bytes = if little_endian {
            unit.to_le_bytes()
        } else {
            unit.to_be_bytes()
        };
        out.extend_from_slice(&bytes);
    }
    out
}

#[test]
fn every_encoding_reads_the_same_text() {
    let text = "EXTERNAL_ID,NAME\nc-1,Zürich Bäckerei\n";
    let expected = (
        strings(&["EXTERNAL_ID", "NAME"]),
        vec![(2, strings(&["c-1", "Zürich Bäckerei"]))],
    );
    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend_from_slice(text.as_bytes());
    let windows_1252: Vec<u8> = text
        .chars()
        .map(|c| match c {
            'ü' => 0xFC,
            'ä' => 0xE4,
            c => c as u8,
        })
        .collect();
    for (name, bytes, encoding) in [
        ("UTF-8", text.as_bytes().to_vec(), TextEncoding::Utf8),
        ("UTF-8 with BOM", bom, TextEncoding::Utf8),
        ("UTF-16 LE", utf16(text, true), TextEncoding::Utf16Le),
        ("UTF-16 BE", utf16(text, false), TextEncoding::Utf16Be),
        ("Windows-1252", windows_1252, TextEncoding::Windows1252),
    ] {
        assert_eq!(sniff(&bytes), encoding, "{name}");
        assert_eq!(
            read(&bytes).expect(name),
            expected,
            "{name}: the BOM is never glued to a header"
        );
    }
}

#[test]
fn delimiters_line_endings_and_quotes() {
    let expected_rows = vec![
        (2, strings(&["c-1", "Contoso, Ltd"])),
        (3, strings(&["c-2", "The \"Best\" Shop"])),
        (4, strings(&["c-3", "Two\nlines"])),
        (6, strings(&["c-4", "Plain"])),
    ];
    for delimiter in [",", ";", "\t", "|"] {
        for ending in ["\n", "\r\n", "\r"] {
            let lines = [
                format!("EXTERNAL_ID{delimiter}NAME"),
                format!("c-1{delimiter}\"Contoso, Ltd\""),
                format!("c-2{delimiter}\"The \"\"Best\"\" Shop\""),
                format!("c-3{delimiter}\"Two{ending}lines\""),
                format!("c-4{delimiter}Plain"),
            ];
            let text = lines.join(ending) + ending;
            let (names, rows) = read(text.as_bytes()).expect("read");
            assert_eq!(
                names,
                strings(&["EXTERNAL_ID", "NAME"]),
                "{delimiter:?} {ending:?}"
            );
            let rows: Vec<_> = rows
                .into_iter()
                .map(|(line, fields)| {
                    (
                        line,
                        fields
                            .into_iter()
                            .map(|f| f.replace(ending, "\n"))
                            .collect::<Vec<_>>(),
                    )
                })
                .collect();
            assert_eq!(rows, expected_rows, "{delimiter:?} {ending:?}");
        }
    }
}

#[test]
fn an_excel_sep_line_blank_lines_and_stray_spaces_in_headers() {
    let text =
        "sep=;\r\nEXTERNAL_ID; first_ name ;Custom:Tier\r\n\r\nu-1;Dana;Gold\r\n;;\r\nu-2;Eli;\r\n";
    let (names, rows) = read(text.as_bytes()).expect("read");
    assert_eq!(
        names,
        strings(&["EXTERNAL_ID", "FIRST_NAME", "CUSTOM:Tier"])
    );
    assert_eq!(
        rows,
        vec![
            (4, strings(&["u-1", "Dana", "Gold"])),
            (6, strings(&["u-2", "Eli", ""]))
        ],
        "line numbers count the sep= line and the skipped blank lines"
    );
}

#[test]
fn files_that_cannot_be_read_name_the_line() {
    assert_eq!(read(b"").expect_err("unreadable"), FileError::Empty);
    assert_eq!(read(b"\n\n").expect_err("unreadable"), FileError::Empty);
    assert_eq!(
        read(b"EXTERNAL_ID,NAME\nc-1,ok\nc-2,\"never closed\nc-3,x\n").expect_err("unreadable"),
        FileError::UnterminatedQuote { line: 3 }
    );
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend_from_slice(&[0; 32]);
    assert!(matches!(
        read(&png).expect_err("unreadable"),
        FileError::Binary { .. }
    ));
    assert_eq!(
        read(b"EXTERNAL_ID,NAME,external_id\nc-1,a,b\n").expect_err("unreadable"),
        FileError::DuplicateColumn {
            line: 1,
            column: "EXTERNAL_ID".to_owned()
        }
    );
    let (names, rows) = read(b"EXTERNAL_ID,NAME\n").expect("a header alone is readable");
    assert_eq!((names.len(), rows.len()), (2, 0));
}

fn check(data_type: DataType, text: &str) -> Result<(Vec<StagedRow>, Codes), FileError> {
    let mut file = CsvFile::open(
        std::io::Cursor::new(text.as_bytes().to_vec()),
        TextEncoding::Utf8,
    )?;
    let (layout, warnings) = Layout::new(data_type, &file.header)?;
    let mut staged = Vec::new();
    let mut codes: Vec<(u64, String)> = warnings
        .into_iter()
        .map(|w| {
            assert_eq!(w.severity, Severity::Warning);
            (w.line, w.code)
        })
        .collect();
    while let Some(row) = file.next_row()? {
        match layout.check(&row) {
            Ok(row) => staged.push(row),
            Err(findings) => codes.extend(findings.into_iter().map(|f| (f.line, f.code))),
        }
    }
    Ok((staged, codes))
}

#[test]
fn syntax_errors_carry_their_codes() {
    let text = "EXTERNAL_ID,EMAIL_ADDRESS,IS_ALLOW_LOGIN_USER,SHOE_SIZE\n\
                u-1,dana@example.com,yes,42\n\
                ,eli@example.com,,\n\
                u-3,,,\n\
                u-4,not-an-address,,\n\
                u-5,fay@example.com,maybe,\n\
                u-6,gil@example.com\n";
    let (staged, codes) = check(DataType::Users, text).expect("readable");
    assert_eq!(staged.len(), 1);
    assert_eq!(staged[0].values[0].as_deref(), Some("u-1"));
    assert_eq!(
        staged[0].values[6].as_deref(),
        Some("1"),
        "booleans are normalised"
    );
    assert_eq!(
        codes,
        vec![
            (1, "UNKNOWN_COLUMN".to_owned()),
            (3, "ROW_UNIDENTIFIABLE".to_owned()),
            (4, "MISSING_FIELD_EMAIL_ADDRESS".to_owned()),
            (5, "INVALID_EMAIL_ADDRESS".to_owned()),
            (6, "INVALID_IS_ALLOW_LOGIN_USER".to_owned()),
            (7, "ROW_COLUMN_COUNT".to_owned()),
        ]
    );
    assert_eq!(
        check(DataType::Users, "EXTERNAL_ID,FIRST_NAME\nu-1,Dana\n").expect_err("unreadable"),
        FileError::MissingColumn {
            line: 1,
            column: "EMAIL_ADDRESS".to_owned()
        }
    );
}

#[test]
fn dates_countries_numbers_and_the_edition_columns() {
    let text = "EXTERNAL_ID,COMPANY_EXTERNAL_ID,PURCHASED_BY_EXTERNAL_ID,EDITION_CODE,UNITS,START_DATE,END_DATE\n\
                s-1,c-1,u-1,E1,5,2017-3-21T00:00:00+00:00,2018-03-20\n\
                s-2,c-1,u-1,E1,5,01/03/2016,\n\
                s-3,c-1,u-1,E1,-2,,\n\
                s-4,c-1,u-1,,5,,\n\
                s-5,c-1,u-1,E1,5,2017-02-30,\n";
    let (staged, codes) = check(DataType::CompanyEntitlements, text).expect("readable");
    assert_eq!(staged.len(), 1);
    let start = DataType::CompanyEntitlements
        .columns()
        .iter()
        .position(|c| c.name == "START_DATE")
        .expect("column");
    assert_eq!(staged[0].values[start].as_deref(), Some("2017-03-21"));
    assert_eq!(
        codes,
        vec![
            (3, "INVALID_START_DATE".to_owned()),
            (4, "INVALID_UNITS".to_owned()),
            (5, "MISSING_FIELD_EDITION_PRICING_UUID".to_owned()),
            (6, "INVALID_START_DATE".to_owned()),
        ]
    );
    let companies =
        "EXTERNAL_ID,NAME,COUNTRY,BILLING_CITY\nc-1,A,us,\nc-2,B,USA,\nc-3,C,DE,Berlin\n";
    let (staged, codes) = check(DataType::Companies, companies).expect("readable");
    assert_eq!(staged.len(), 1);
    assert_eq!(staged[0].values[7].as_deref(), Some("US"));
    assert_eq!(
        codes,
        vec![
            (3, "INVALID_COUNTRY".to_owned()),
            (4, "MISSING_FIELD_CREATED_BY_EXTERNAL_ID".to_owned())
        ]
    );
}

#[test]
fn every_template_reads_back_without_a_finding() {
    for data_type in DataType::ALL {
        let (staged, codes) = check(data_type, &template(data_type)).expect("readable");
        assert_eq!((staged.len(), codes), (1, vec![]), "{}", data_type.label());
    }
}
