//! Reading and checking dataset files: every form docs/datasets.md allows, every way a file can
//! be unreadable, and every syntax-level error code; the pipeline on each backend; files kept in
//! a directory or a bucket (`datasets/files.rs`).

#[path = "datasets/files.rs"]
mod files;

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
    assert_eq!(
        read(&png).expect_err("unreadable").to_string(),
        "this looks like a PNG image: upload the data as CSV instead"
    );
    let workbook = b"PK\x03\x04\x14\0\x06\0[Content_Types].xml";
    let said = read(workbook).expect_err("unreadable").to_string();
    assert!(said.contains("an Excel workbook (.xlsx)") && said.contains("save it as CSV"));
    let legacy = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\0\0\0\0";
    assert!(
        read(legacy)
            .expect_err("unreadable")
            .to_string()
            .contains("(.xls)")
    );
    // Binary all through, of no known kind.
    let noise: Vec<u8> = (0..2_000u32).map(|n| (n * 7 % 32) as u8).collect();
    assert!(matches!(
        read(&noise).expect_err("unreadable"),
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

#[test]
fn a_stray_control_character_is_its_rows_finding() {
    let text = "EXTERNAL_ID,EMAIL_ADDRESS,FIRST_NAME\nu-1,a@example.com,Ann\nu-2,b@example.com,Bo\0b\n\
                u-3,c@example.com,Cy\n";
    let (staged, codes) = check(DataType::Users, text).expect("the file is read");
    assert_eq!(staged.len(), 2, "the other rows are staged");
    assert_eq!(codes, vec![(3, "CONTROL_CHARACTER".to_owned())]);
    let mut file = CsvFile::open(
        std::io::Cursor::new(text.as_bytes().to_vec()),
        TextEncoding::Utf8,
    )
    .expect("file");
    let (layout, _) = Layout::new(DataType::Users, &file.header).expect("layout");
    file.next_row().expect("row");
    let row = file.next_row().expect("row").expect("the second row");
    let findings = layout.check(&row).expect_err("refused");
    assert_eq!(findings[0].column.as_deref(), Some("FIRST_NAME"));
    assert_eq!(findings[0].value.as_deref(), Some("Bo\\u{0000}b"));
    assert!(
        findings[0].message.contains("character 3 of the value"),
        "{findings:?}"
    );
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
            Ok(row) => {
                codes.extend(row.warnings.iter().map(|f| (f.line, f.code.clone())));
                staged.push(row);
            }
            Err(findings) => codes.extend(findings.into_iter().map(|f| (f.line, f.code))),
        }
    }
    Ok((staged, codes))
}

#[test]
fn cells_that_look_like_formulas_are_kept_with_a_warning() {
    let text = "EXTERNAL_ID,EMAIL_ADDRESS,FIRST_NAME,LAST_NAME,PHONE,CUSTOM:Tier\n\
        u-1,a@x.example,=1+1,Smith,+43 1 234,Gold\n\
        u-2,b@x.example,Ann,-2+3,-42,@SUM(A1)\n\
        u-3,c@x.example,Bo,Lee,+cmd|calc,\n\
        u-4,d@x.example,Cy,Ray,(0)1 234,-\n";
    let (staged, codes) = check(DataType::Users, text).expect("readable");
    assert_eq!(staged.len(), 4, "the values are data, kept as given");
    assert_eq!(staged[0].values[2].as_deref(), Some("=1+1"));
    let formula = |line: u64| {
        codes
            .iter()
            .filter(|(l, c)| *l == line && c == "FORMULA_LIKE_VALUE")
            .count()
    };
    assert_eq!(
        (formula(2), formula(3), formula(4), formula(5)),
        (1, 2, 1, 0),
        "=1+1; -2+3 and @SUM; +cmd|calc; a phone number or a lone dash is no formula: {codes:?}"
    );
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
    for data_type in DataType::uploaded() {
        let (staged, codes) = check(data_type, &template(data_type)).expect("readable");
        assert_eq!((staged.len(), codes), (1, vec![]), "{}", data_type.label());
    }
}

/// The pipeline, on each backend: upload, validate, plan, activate, report, re-run.
mod pipeline {
    use std::sync::Arc;

    use ferry_datasets::{
        ActivateDataset, Connectors, DataType, FileUpload, ProvisionDataset, ReclaimStaging,
        Report, ValidateDataset, delete_dataset,
    };
    use ferry_domain::{
        CompanyId, CompanyRoles, Connector, DatasetKind, DatasetState, Email, JobState,
        MarketplaceKind, NewCompany, NewEdition, NewProduct, NewUser, Origin, PricingUnit, Slug,
        UserId, UserStatus,
    };
    use ferry_jobs::{BackgroundJob, Worker, WorkerConfig};
    use ferry_storage::{
        Dataset, NewAuditEntry, NewDataset, NewMarketplace, PlanLine, Store, UndoOutcome,
    };

    ferry_storage::on_both_backends!(open =>
        a_dataset_with_errors_activates_the_rest_and_reports_every_line,
        a_reviewed_dataset_waits_with_its_plan_and_writes_nothing_until_activated,
        undo_removes_what_a_dataset_created_and_restores_what_it_updated,
        every_error_code_has_a_row_that_triggers_it,
        a_record_changed_by_hand_is_updated_again_by_a_rerun,
        provisioning_sends_signed_events_and_records_what_vendors_answer,
        an_order_dataset_splits_orders_and_shares_repeated_records,
        a_resellers_orders_touch_only_its_customers,
        deleting_a_dataset_leaves_reclaiming_its_staged_rows_to_a_job,
        a_file_of_one_row_repeated_validates_while_others_write,
    );

    async fn open(url: &str) -> Arc<dyn Store> {
        let store = ferry_storage::connect(url).await.expect("connect");
        store.migrate().await.expect("migrate");
        store
    }

    /// A marketplace with one edition (code E1, 2 included units) and one existing user.
    pub(crate) async fn marketplace(store: &Arc<dyn Store>) -> i64 {
        let market = store
            .create_marketplace(&NewMarketplace {
                slug: Slug::parse("north").expect("slug"),
                name: "North".to_owned(),
                kind: MarketplaceKind::Distributor,
                parent_id: None,
            })
            .await
            .expect("marketplace");
        let product = store
            .create_product(
                market.id,
                &NewProduct {
                    name: "Mail".to_owned(),
                    vendor: "Contoso".to_owned(),
                },
            )
            .await
            .expect("product");
        store
            .create_edition(
                market.id,
                &NewEdition {
                    product_id: product,
                    code: "E1".to_owned(),
                    name: "Business".to_owned(),
                    pricing_plan_id: "pp-1".to_owned(),
                    channel_sku: None,
                    pricing_unit: PricingUnit::User,
                    included_units: 2,
                    billing_cycles: vec!["MONTHLY".to_owned()],
                    terms: vec!["P1Y".to_owned()],
                    connector: Connector::None,
                    offer_ids: vec![],
                    active: true,
                },
            )
            .await
            .expect("edition");
        store
            .create_user(
                market.id,
                &NewUser {
                    external_id: Some("old-1".to_owned()),
                    email: Email::parse("taken@north.example").expect("email"),
                    first_name: None,
                    last_name: None,
                    locale: None,
                    phone: None,
                    allow_login: true,
                    status: UserStatus::Active,
                    custom_attributes: Default::default(),
                    origin: Origin::Manual,
                },
            )
            .await
            .expect("user");
        market.id
    }

    const USERS: &str = "EXTERNAL_ID,EMAIL_ADDRESS,FIRST_NAME\n\
        u-1,dana@north.example,Dana\n\
        u-2,eli@north.example,Eli\n\
        u-2,eli2@north.example,Eli\n\
        u-3,taken@north.example,Fay\n";
    const COMPANIES: &str = "EXTERNAL_ID,NAME,COUNTRY,CUSTOM:Tier\n\
        c-1,Northwind,US,Gold\n\
        c-2,Contoso,DE,\n";
    const MEMBERSHIPS: &str = "USER_EXTERNAL_ID,COMPANY_EXTERNAL_ID,SYS_ADMIN\n\
        u-1,c-1,TRUE\n\
        u-2,c-2,FALSE\n\
        u-3,c-1,FALSE\n\
        u-9,c-1,FALSE\n";
    const ENTITLEMENTS: &str = "EXTERNAL_ID,COMPANY_EXTERNAL_ID,PURCHASED_BY_EXTERNAL_ID,EDITION_CODE,UNITS\n\
        s-1,c-1,u-1,E1,5\n\
        s-2,c-1,u-2,E1,5\n\
        s-3,c-2,u-2,E1,1\n\
        s-4,c-2,u-2,NOPE,5\n";
    const SEATS: &str = "USER_EXTERNAL_ID,COMPANY_ENTITLEMENT_EXTERNAL_ID\n\
        u-1,s-1\n\
        u-1,s-3\n";

    async fn upload(store: &Arc<dyn Store>, market: i64, review: bool) -> Dataset {
        let files = [
            (DataType::Users, USERS),
            (DataType::Companies, COMPANIES),
            (DataType::Memberships, MEMBERSHIPS),
            (DataType::CompanyEntitlements, ENTITLEMENTS),
            (DataType::UserEntitlements, SEATS),
        ];
        upload_files(store, market, review, &files).await
    }

    async fn upload_files(
        store: &Arc<dyn Store>,
        market: i64,
        review: bool,
        files: &[(DataType, &str)],
    ) -> Dataset {
        let kind = if files.iter().any(|(t, _)| *t == DataType::Orders) {
            DatasetKind::Orders
        } else {
            DatasetKind::Migration
        };
        let dataset = store
            .create_dataset(&NewDataset {
                marketplace_id: market,
                kind,
                name: "Spring".to_owned(),
                provision: false,
                review,
                created_by_user: None,
                created_by_company: None,
                creator: "ops@north.example".to_owned(),
            })
            .await
            .expect("dataset");
        for &(data_type, text) in files {
            let name = format!("{}.csv", data_type.part());
            let mut file = FileUpload::start(store.clone(), dataset.id, data_type, &name)
                .await
                .expect("start");
            // In small pieces, as a network upload arrives.
            for piece in text.as_bytes().chunks(7) {
                file.write(piece).await.expect("write");
            }
            file.finish().await.expect("finish");
        }
        dataset
    }

    /// For every data type of a migration dataset: to create + to update + unchanged + skipped
    /// for errors = the rows read of its file, whatever the errors were.
    async fn assert_plan_adds_up(store: &Arc<dyn Store>, dataset: &Dataset) {
        let files = store.dataset_files(dataset.id).await.expect("files");
        let validated = store
            .dataset(dataset.key())
            .await
            .expect("read")
            .expect("dataset");
        let plan: Vec<PlanLine> =
            serde_json::from_str(validated.plan.as_deref().expect("a plan")).expect("json");
        for file in files {
            let read = file.rows_read.expect("rows read");
            let counted = plan
                .iter()
                .find(|p| p.data_type == file.data_type)
                .map_or(0, |p| p.created + p.updated + p.unchanged + p.skipped);
            assert_eq!(counted, read, "{}: {plan:?}", file.data_type);
        }
    }

    /// Queues the dataset's validation and runs it, with activation unless it waits for review.
    pub(crate) async fn run_validation(store: &Arc<dyn Store>, dataset: &Dataset) {
        store
            .enqueue_job(&ValidateDataset(dataset.key()).new_job())
            .await
            .expect("enqueue");
        work(store).await;
    }

    /// Runs queued jobs until none is left.
    pub(crate) async fn work(store: &Arc<dyn Store>) {
        let worker = Worker::new("test".to_owned(), store.clone(), WorkerConfig::default())
            .with_job::<ValidateDataset>(None)
            .with_job::<ActivateDataset>(())
            .with_job::<ReclaimStaging>(());
        while worker.run_next().await.expect("run") {}
        for job in store.jobs(None, 100).await.expect("jobs") {
            assert!(
                job.last_error.is_none(),
                "job {} failed: {:?}",
                job.kind,
                job.last_error
            );
        }
    }

    fn plan(created: i64, updated: i64, unchanged: i64, skipped: i64, data_type: &str) -> PlanLine {
        PlanLine {
            data_type: data_type.to_owned(),
            created,
            updated,
            unchanged,
            skipped,
        }
    }

    async fn report(store: &Arc<dyn Store>, dataset: i64) -> Vec<String> {
        let mut lines = Vec::new();
        for data_type in DataType::ALL {
            let rows = store
                .report_lines(dataset, data_type.part(), 0..=i64::MAX)
                .await
                .expect("report");
            lines.extend(rows.into_iter().map(|r| {
                format!(
                    "{} {} {} {}",
                    data_type.part(),
                    r.line,
                    r.outcome,
                    r.code.unwrap_or_default()
                )
            }));
        }
        lines
    }

    /// Asserts that each `expected` line is among the report's `lines` (see `report`).
    fn assert_reported(lines: &[String], expected: &[&str]) {
        for expected in expected {
            assert!(
                lines.iter().any(|l| l == expected),
                "{expected:?} in {lines:#?}"
            );
        }
    }

    async fn a_dataset_with_errors_activates_the_rest_and_reports_every_line(
        store: Arc<dyn Store>,
    ) {
        let market = marketplace(&store).await;
        let dataset = upload(&store, market, false).await;
        run_validation(&store, &dataset).await;
        assert_plan_adds_up(&store, &dataset).await;
        let done = store
            .dataset(dataset.key())
            .await
            .expect("read")
            .expect("dataset");
        assert_eq!(done.state, DatasetState::ActivatedWithErrors, "{done:?}");
        assert_eq!(
            store.staged_outcomes(dataset.id).await.expect("outcomes"),
            vec![
                plan(2, 0, 0, 2, "users"),
                plan(2, 0, 0, 0, "companies"),
                plan(2, 0, 0, 2, "memberships"),
                plan(1, 0, 0, 3, "company_entitlements"),
                plan(1, 0, 0, 1, "user_entitlements"),
            ]
        );
        let csv = Report::new(store.clone(), &done)
            .await
            .expect("report")
            .collect()
            .await
            .expect("report");
        assert!(
            csv.starts_with("FILE,LINE,EXTERNAL_ID,OUTCOME,CODE,COLUMN,MESSAGE,VALUE\n"),
            "{csv}"
        );
        assert!(
            csv.contains("users.csv,4,u-2,ERROR,DUPLICATE_RECORD,EXTERNAL_ID,"),
            "{csv}"
        );
        assert!(csv.contains("companies.csv,2,c-1,CREATED,,,,\n"), "{csv}");
        let lines = report(&store, dataset.id).await;
        assert_reported(
            &lines,
            &[
                "users 2 CREATED ",
                "users 4 ERROR DUPLICATE_RECORD",
                "users 5 ERROR EMAIL_ALREADY_USED",
                "memberships 4 ERROR USER_MISSING",
                "memberships 5 ERROR USER_MISSING",
                "company_entitlements 3 ERROR OWNER_NOT_MEMBER_OF_COMPANY",
                "company_entitlements 4 ERROR UNITS_LESS_THAN_INCLUDED",
                "company_entitlements 5 ERROR EDITION_PRICING_INVALID",
                "user_entitlements 3 ERROR COMPANY_ENTITLEMENT_MISSING",
                "user_entitlements 2 CREATED ",
            ],
        );
        // A reference to a record of the dataset that was rejected says so, and where; one to
        // a record that is nowhere says that.
        let findings = store
            .dataset_findings(dataset.id, 0, 1_000)
            .await
            .expect("findings");
        let message = |line: i64, code: &str| {
            findings
                .iter()
                .find(|f| f.data_type == "memberships" && f.line == line && f.code == code)
                .map(|f| f.message.clone())
                .unwrap_or_default()
        };
        assert_eq!(
            message(4, "USER_MISSING"),
            "u-3 was rejected, users.csv line 5"
        );
        assert_eq!(
            message(5, "USER_MISSING"),
            "no user with this external id in the dataset or the marketplace"
        );
        let company = store
            .company_by_external_id(market, "c-1")
            .await
            .expect("read")
            .expect("c-1 created");
        assert_eq!(
            company.custom_attributes.get("Tier").map(String::as_str),
            Some("Gold")
        );
        assert_eq!(company.origin_kind, "dataset");
        let user = store
            .user_by_email(market, &Email::parse("dana@north.example").expect("email"))
            .await
            .expect("read")
            .expect("u-1");
        assert_eq!(
            user.status,
            UserStatus::Created,
            "migrated users are not invited"
        );

        // The same data again: nothing to create or change.
        let again = upload(&store, market, false).await;
        run_validation(&store, &again).await;
        let outcomes = store.staged_outcomes(again.id).await.expect("outcomes");
        assert!(
            outcomes.iter().all(|p| p.created == 0 && p.updated == 0),
            "{outcomes:?}"
        );
        assert_eq!(store.count_companies(market).await.expect("count"), 2);
        assert_eq!(store.count_users(market).await.expect("count"), 3);
    }

    const ORDERS: &str = "ORDER_EXTERNAL_ID,COMPANY_EXTERNAL_ID,COMPANY_NAME,COMPANY_COUNTRY,USER_EXTERNAL_ID,USER_EMAIL_ADDRESS,USER_FIRST_NAME,EDITION_CODE,UNITS,CUSTOM:crm\n\
        o-1,c-1,Northwind,US,u-1,dana@north.example,Dana,E1,5,A-1\n\
        o-2,c-1,Northwind,US,u-1,dana@north.example,Dana,E1,3,A-2\n\
        o-3,c-1,Northwind Ltd,US,u-2,eli@north.example,Eli,E1,4,A-3\n\
        o-4,c-2,Contoso,DE,u-3,taken@north.example,Fay,E1,4,\n\
        o-5,c-2,Contoso,DE,u-4,gil@north.example,Gil,NOPE,4,\n\
        ,c-3,Fabrikam,FR,u-5,hal@north.example,Hal,E1,4,\n\
        o-7,c-3,Fabrikam,XX,u-5,hal@north.example,Hal,E1,4,\n";

    /// Each order is a user, a company, a membership, a subscription and a seat; a company or
    /// user on several orders is one record, and one given with other values is reported.
    async fn an_order_dataset_splits_orders_and_shares_repeated_records(store: Arc<dyn Store>) {
        let market = marketplace(&store).await;
        let dataset = upload_files(&store, market, false, &[(DataType::Orders, ORDERS)]).await;
        run_validation(&store, &dataset).await;
        let done = store
            .dataset(dataset.key())
            .await
            .expect("read")
            .expect("dataset");
        assert_eq!(done.state, DatasetState::ActivatedWithErrors, "{done:?}");
        assert_eq!(
            store.staged_outcomes(dataset.id).await.expect("outcomes"),
            vec![
                plan(1, 0, 0, 3, "users"),
                plan(1, 0, 0, 2, "companies"),
                plan(1, 0, 0, 3, "memberships"),
                plan(2, 0, 0, 5, "company_entitlements"),
                plan(2, 0, 0, 3, "user_entitlements"),
            ]
        );
        // Orders 1 and 2 go through; every other order has an error somewhere, and none of it
        // is applied (o-3's user, subscription and seat; o-4's company).
        let lines = report(&store, dataset.id).await;
        assert_reported(
            &lines,
            &[
                "users 2 CREATED ",
                "users 4 ERROR ORDER_INCOMPLETE",
                "users 5 ERROR EMAIL_ALREADY_USED",
                "companies 2 CREATED ",
                "companies 4 ERROR DUPLICATE_RECORD",
                "companies 5 ERROR ORDER_INCOMPLETE",
                "memberships 5 ERROR USER_MISSING",
                "company_entitlements 3 CREATED ",
                "company_entitlements 4 ERROR ORDER_INCOMPLETE",
                "company_entitlements 6 ERROR EDITION_PRICING_INVALID",
                "company_entitlements 7 ERROR ROW_UNIDENTIFIABLE",
                "company_entitlements 8 ERROR INVALID_COMPANY_COUNTRY",
                "user_entitlements 3 CREATED ",
                "user_entitlements 4 ERROR ORDER_INCOMPLETE",
            ],
        );
        let csv = Report::new(store.clone(), &done)
            .await
            .expect("report")
            .collect()
            .await
            .expect("report");
        for expected in [
            "orders.csv,2,c-1,CREATED,,,company,\n",
            "orders.csv,3,o-2,CREATED,,,subscription,\n",
            "orders.csv,4,c-1,ERROR,DUPLICATE_RECORD,EXTERNAL_ID,",
            "orders.csv,8,o-7,ERROR,INVALID_COMPANY_COUNTRY,COMPANY_COUNTRY,",
        ] {
            assert!(csv.contains(expected), "{expected:?} in {csv}");
        }
        assert_eq!(store.count_companies(market).await.expect("count"), 1);
        assert_eq!(store.count_users(market).await.expect("count"), 2);

        // The same orders again: nothing to create or change.
        let again = upload_files(&store, market, false, &[(DataType::Orders, ORDERS)]).await;
        run_validation(&store, &again).await;
        let outcomes = store.staged_outcomes(again.id).await.expect("outcomes");
        assert!(
            outcomes.iter().all(|p| p.created == 0 && p.updated == 0),
            "{outcomes:?}"
        );
    }

    /// An order dataset uploaded by a reseller, as its company's.
    async fn reseller_orders(
        store: &Arc<dyn Store>,
        market: i64,
        reseller: i64,
        orders: &str,
    ) -> Dataset {
        let dataset = store
            .create_dataset(&NewDataset {
                marketplace_id: market,
                kind: DatasetKind::Orders,
                name: "CRM".to_owned(),
                provision: false,
                review: false,
                created_by_user: None,
                created_by_company: Some(reseller),
                creator: "sales@reseller.example".to_owned(),
            })
            .await
            .expect("dataset");
        let mut file = FileUpload::start(store.clone(), dataset.id, DataType::Orders, "crm.csv")
            .await
            .expect("start");
        file.write(orders.as_bytes()).await.expect("write");
        file.finish().await.expect("finish");
        run_validation(store, &dataset).await;
        dataset
    }

    /// A reseller's orders create and update its customers only: a company, user or
    /// subscription of anyone else's is refused, and the companies it brings in become its
    /// customers — which another reseller then cannot touch.
    async fn a_resellers_orders_touch_only_its_customers(store: Arc<dyn Store>) {
        let market = marketplace(&store).await;
        let company = |external_id: &str, name: &str| {
            let mut company = NewCompany::named(name, Origin::Manual);
            company.external_id = Some(external_id.to_owned());
            company
        };
        let reseller = store
            .create_company(market, &company("r-1", "Reseller One"))
            .await
            .expect("reseller");
        let other_reseller = store
            .create_company(market, &company("r-2", "Reseller Two"))
            .await
            .expect("reseller");
        let customer = store
            .create_company(market, &company("c-10", "Customer"))
            .await
            .expect("customer");
        store
            .set_reseller(market, customer, reseller)
            .await
            .expect("association");
        let stranger = store
            .create_company(market, &company("x-1", "Stranger"))
            .await
            .expect("stranger");
        let stranger_user = store
            .create_user(
                market,
                &NewUser {
                    external_id: Some("xu-1".to_owned()),
                    email: Email::parse("xu@stranger.example").expect("email"),
                    first_name: None,
                    last_name: None,
                    locale: None,
                    phone: None,
                    allow_login: true,
                    status: UserStatus::Active,
                    custom_attributes: Default::default(),
                    origin: Origin::Manual,
                },
            )
            .await
            .expect("user");
        store
            .set_membership(
                market,
                UserId(stranger_user),
                CompanyId(stranger),
                CompanyRoles::default(),
            )
            .await
            .expect("membership");

        let orders = "ORDER_EXTERNAL_ID,COMPANY_EXTERNAL_ID,COMPANY_NAME,USER_EXTERNAL_ID,USER_EMAIL_ADDRESS,EDITION_CODE,UNITS\n\
            o-1,n-1,New One,nu-1,nu1@new.example,E1,5\n\
            o-2,x-1,Stranger Renamed,nu-2,nu2@new.example,E1,5\n\
            o-3,c-10,Customer,nu-3,nu3@new.example,E1,5\n\
            o-4,n-2,New Two,xu-1,xu@stranger.example,E1,5\n";
        let dataset = reseller_orders(&store, market, reseller, orders).await;
        let lines = report(&store, dataset.id).await;
        assert_reported(
            &lines,
            &[
                "companies 2 CREATED ",
                "companies 3 ERROR NOT_RESELLER_CUSTOMER",
                "company_entitlements 3 ERROR NOT_RESELLER_CUSTOMER",
                "memberships 3 ERROR NOT_RESELLER_CUSTOMER",
                "company_entitlements 4 CREATED ",
                "users 5 ERROR NOT_RESELLER_CUSTOMER",
                "company_entitlements 5 ERROR NOT_RESELLER_CUSTOMER",
            ],
        );
        // A refused order creates nothing: not o-2's new user, not o-4's new company.
        assert!(
            store
                .user_by_email(market, &Email::parse("nu2@new.example").expect("email"))
                .await
                .expect("read")
                .is_none(),
            "a refused order reserves no e-mail address"
        );
        assert!(
            store
                .company_by_external_id(market, "n-2")
                .await
                .expect("read")
                .is_none()
        );
        let stranger = store
            .company_by_external_id(market, "x-1")
            .await
            .expect("read")
            .expect("x-1");
        assert_eq!(
            stranger.name, "Stranger",
            "another's customer is left alone"
        );

        // n-1 is now the reseller's customer: its next order goes through, another reseller's
        // does not.
        let renamed = "ORDER_EXTERNAL_ID,COMPANY_EXTERNAL_ID,COMPANY_NAME,USER_EXTERNAL_ID,USER_EMAIL_ADDRESS,EDITION_CODE,UNITS\n\
            o-5,n-1,New One Ltd,nu-1,nu1@new.example,E1,5\n";
        let again = reseller_orders(&store, market, reseller, renamed).await;
        let done = store
            .dataset(again.key())
            .await
            .expect("read")
            .expect("dataset");
        assert_eq!(
            done.state,
            DatasetState::Activated,
            "{:?}",
            report(&store, again.id).await
        );
        let other = reseller_orders(&store, market, other_reseller, renamed).await;
        let taken = renamed.replace("New One Ltd", "Taken Over");
        reseller_orders(&store, market, other_reseller, &taken).await;
        assert!(
            report(&store, other.id)
                .await
                .contains(&"companies 2 ERROR NOT_RESELLER_CUSTOMER".to_owned()),
            "{:?}",
            report(&store, other.id).await
        );
        let n1 = store
            .company_by_external_id(market, "n-1")
            .await
            .expect("read")
            .expect("n-1");
        assert_eq!(n1.name, "New One Ltd");
    }

    async fn a_reviewed_dataset_waits_with_its_plan_and_writes_nothing_until_activated(
        store: Arc<dyn Store>,
    ) {
        let market = marketplace(&store).await;
        let dataset = upload(&store, market, true).await;
        run_validation(&store, &dataset).await;
        let validated = store
            .dataset(dataset.key())
            .await
            .expect("read")
            .expect("dataset");
        assert_eq!(validated.state, DatasetState::Validated);
        let planned: Vec<PlanLine> =
            serde_json::from_str(validated.plan.as_deref().expect("a plan")).expect("json");
        assert_eq!(planned[0], plan(2, 0, 0, 2, "users"));
        assert_eq!(
            store.count_companies(market).await.expect("count"),
            0,
            "the plan wrote nothing"
        );
        assert_eq!(store.count_users(market).await.expect("count"), 1);
        assert!(
            store
                .staged_outcomes(dataset.id)
                .await
                .expect("outcomes")
                .iter()
                .all(|p| p.created == 0)
        );

        store
            .enqueue_job(&ActivateDataset(validated.key()).new_job())
            .await
            .expect("enqueue");
        work(&store).await;
        let activated = store
            .dataset(dataset.key())
            .await
            .expect("read")
            .expect("dataset");
        assert_eq!(activated.state, DatasetState::ActivatedWithErrors);
        assert_eq!(store.count_companies(market).await.expect("count"), 2);
        assert_eq!(store.count_users(market).await.expect("count"), 3);
    }

    /// 60,000 copies of one row: the duplicate checks stay linear in rows, and writes by others
    /// are answered while the file is validated (one writer on SQLite).
    async fn a_file_of_one_row_repeated_validates_while_others_write(store: Arc<dyn Store>) {
        const ROWS: usize = 60_000;
        let market = marketplace(&store).await;
        let mut users = String::from("EXTERNAL_ID,EMAIL_ADDRESS,FIRST_NAME\n");
        users.push_str(&"u-1,same@north.example,Same\n".repeat(ROWS));
        let dataset = upload_files(&store, market, true, &[]).await;
        let mut file = FileUpload::start(store.clone(), dataset.id, DataType::Users, "users.csv")
            .await
            .expect("start");
        for piece in users.as_bytes().chunks(64 * 1024) {
            file.write(piece).await.expect("write");
        }
        file.finish().await.expect("finish");

        let validation = {
            let (store, dataset) = (store.clone(), dataset.clone());
            tokio::spawn(async move { run_validation(&store, &dataset).await })
        };
        let started = std::time::Instant::now();
        let mut writes = 0;
        while !validation.is_finished() {
            let before = std::time::Instant::now();
            let email = Email::parse(&format!("w{writes}@north.example")).expect("email");
            store
                .create_user(market, &NewUser::with_email(email, Origin::Manual))
                .await
                .expect("a write during validation");
            assert!(
                before.elapsed() < std::time::Duration::from_secs(10),
                "a write waited {:?} for the validation",
                before.elapsed()
            );
            writes += 1;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            assert!(
                started.elapsed() < std::time::Duration::from_secs(120),
                "validation of {ROWS} repeated rows still running after two minutes"
            );
        }
        validation.await.expect("validation");
        let dataset = store
            .dataset(dataset.key())
            .await
            .expect("dataset")
            .expect("exists");
        assert_eq!(dataset.state, DatasetState::Validated);
        let findings = store
            .dataset_findings(dataset.id, 0, 2 * ROWS as i64)
            .await
            .expect("findings");
        let duplicates = findings
            .iter()
            .filter(|f| f.code == "DUPLICATE_RECORD")
            .count();
        assert_eq!(duplicates, ROWS - 1, "every line but the first");
        assert!(writes > 0);
    }

    async fn deleting_a_dataset_leaves_reclaiming_its_staged_rows_to_a_job(store: Arc<dyn Store>) {
        let market = marketplace(&store).await;
        let dataset = upload(&store, market, false).await;
        run_validation(&store, &dataset).await;

        delete_dataset(store.as_ref(), dataset.key())
            .await
            .expect("delete");
        assert_eq!(store.dataset(dataset.key()).await.expect("read"), None);
        let reclaim = || async {
            let jobs = store.jobs(None, 100).await.expect("jobs");
            let mut reclaims = jobs.into_iter().filter(|j| j.kind == ReclaimStaging::KIND);
            let job = reclaims.next().expect("a reclaim job");
            assert!(reclaims.next().is_none(), "one reclaim per deletion");
            job.state
        };
        assert_eq!(reclaim().await, JobState::Queued, "not done in the request");
        work(&store).await;
        assert_eq!(reclaim().await, JobState::Succeeded);
    }

    async fn undo_removes_what_a_dataset_created_and_restores_what_it_updated(
        store: Arc<dyn Store>,
    ) {
        let market = marketplace(&store).await;
        let users = "EXTERNAL_ID,EMAIL_ADDRESS,FIRST_NAME\n\
            old-1,taken@north.example,Olga\n\
            u-1,dana@north.example,Dana\n";
        let companies = "EXTERNAL_ID,NAME\nc-1,Northwind\n";
        let memberships = "USER_EXTERNAL_ID,COMPANY_EXTERNAL_ID\nold-1,c-1\n";
        let files = [
            (DataType::Users, users),
            (DataType::Companies, companies),
            (DataType::Memberships, memberships),
        ];
        let dataset = upload_files(&store, market, false, &files).await;
        run_validation(&store, &dataset).await;
        assert_eq!(
            store.staged_outcomes(dataset.id).await.expect("outcomes")[0],
            plan(1, 1, 0, 0, "users")
        );
        let taken = Email::parse("taken@north.example").expect("email");
        let old = store
            .user_by_email(market, &taken)
            .await
            .expect("read")
            .expect("old-1");
        assert_eq!(old.first_name.as_deref(), Some("Olga"));

        // Someone changes a created user by hand: the undo keeps it.
        let dana = store
            .user_by_email(market, &Email::parse("dana@north.example").expect("email"))
            .await
            .expect("read")
            .expect("u-1");
        let edited = NewUser {
            first_name: Some("Dana J.".into()),
            ..NewUser::with_email(dana.email.clone(), Origin::Manual)
        };
        let audit = NewAuditEntry {
            marketplace_id: Some(market),
            actor: "test".into(),
            action: "user.updated".into(),
            entity_type: "user".into(),
            entity_id: Some(dana.id),
            changes: serde_json::json!({}),
        };
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        store
            .update_user(market, dana.id, &edited, &audit)
            .await
            .expect("edit");

        let outcome = store
            .undo_dataset(dataset.key(), "user:1")
            .await
            .expect("undo")
            .expect("the dataset was there");
        let counts = |pairs: &[(&str, i64)]| {
            pairs
                .iter()
                .map(|(k, n)| ((*k).to_owned(), *n))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        assert_eq!(
            outcome,
            UndoOutcome {
                removed: counts(&[("companies", 1), ("memberships", 1)]),
                restored: counts(&[("users", 1)]),
                kept: counts(&[("users", 1)]),
            }
        );
        let trace = store
            .audit_trail("dataset", dataset.id)
            .await
            .expect("audit");
        assert_eq!(
            trace.last().map(|e| e.action.as_str()),
            Some("dataset.undone")
        );
        assert_eq!(trace.last().map(|e| e.actor.as_str()), Some("user:1"));
        assert!(
            store.dataset(dataset.key()).await.expect("read").is_none(),
            "the undo deleted the dataset"
        );
        assert_eq!(
            store
                .undo_dataset(dataset.key(), "user:1")
                .await
                .expect("again"),
            None,
            "undone once"
        );
        let old = store
            .user_by_email(market, &taken)
            .await
            .expect("read")
            .expect("old-1 stays");
        assert_eq!(old.first_name, None, "the update is undone");
        assert_eq!(
            store.count_users(market).await.expect("count"),
            2,
            "the created user changed since stays"
        );
        assert_eq!(store.count_companies(market).await.expect("count"), 0);
        assert!(
            store
                .memberships_of_user(market, old.id)
                .await
                .expect("memberships")
                .is_empty()
        );
    }

    async fn every_error_code_has_a_row_that_triggers_it(store: Arc<dyn Store>) {
        let market = marketplace(&store).await;
        // A Windows-1252 byte (é) makes the users file a guessed encoding.
        let mut users = b"EXTERNAL_ID,EMAIL_ADDRESS,IS_ALLOW_LOGIN_USER,SHOE_SIZE\n\
              u-1,ren\xe9@north.example,TRUE,42\n"
            .to_vec();
        users.extend_from_slice(
            b"u-1,again@north.example,TRUE,\n\
              ,nokey@north.example,TRUE,\n\
              u-3,,TRUE,\n\
              u-4,not-an-address,TRUE,\n\
              u-5,fay@north.example,maybe,\n\
              u-6,taken@north.example,TRUE,\n\
              u-7,short@north.example\n\
              u-8,ding\x07@north.example,TRUE,\n",
        );
        let files: Vec<(DataType, Vec<u8>)> = vec![
            (DataType::Users, users),
            (
                DataType::Companies,
                b"EXTERNAL_ID,NAME,COUNTRY,BILLING_CITY\n\
                  c-1,Northwind,US,\n\
                  c-2,Contoso,USA,\n\
                  c-3,Fabrikam,DE,Berlin\n\
                  c-4,Tailspin,FR,\n"
                    .to_vec(),
            ),
            (
                DataType::Memberships,
                b"USER_EXTERNAL_ID,COMPANY_EXTERNAL_ID,SYS_ADMIN\n\
                  u-1,c-1,TRUE\n\
                  u-9,c-1,FALSE\n\
                  u-1,c-9,FALSE\n"
                    .to_vec(),
            ),
            (
                DataType::ResellerAssociations,
                b"COMPANY_EXTERNAL_ID,RESELLER_COMPANY_EXTERNAL_ID\n\
                  c-1,c-1\n\
                  c-4,c-9\n"
                    .to_vec(),
            ),
            (
                DataType::CompanyEntitlements,
                b"EXTERNAL_ID,COMPANY_EXTERNAL_ID,PURCHASED_BY_EXTERNAL_ID,EDITION_CODE,UNITS,START_DATE\n\
                  s-1,c-1,u-1,E1,5,2017-3-21T00:00:00+00:00\n\
                  s-2,c-4,u-1,E1,5,\n\
                  s-3,c-1,u-1,E1,1,\n\
                  s-4,c-1,u-1,NOPE,5,\n\
                  s-5,c-1,u-1,E1,-1,\n\
                  s-6,c-1,u-1,E1,5,01/03/2016\n\
                  s-7,c-1,u-1,,5,\n"
                    .to_vec(),
            ),
            (
                DataType::UserEntitlements,
                b"USER_EXTERNAL_ID,COMPANY_ENTITLEMENT_EXTERNAL_ID\nu-1,s-9\n".to_vec(),
            ),
            (
                DataType::MicrosoftCustomers,
                b"TENANT_ID,COMPANY_EXTERNAL_ID\nt-1,c-1\nt-2,c-9\n".to_vec(),
            ),
            (
                DataType::MicrosoftSubscriptions,
                b"SUBSCRIPTION_ID,TENANT_ID,COMPANY_ENTITLEMENT_EXTERNAL_ID,OFFER_ID\n\
                  ms-1,t-9,s-1,NO-SUCH-OFFER\n"
                    .to_vec(),
            ),
        ];
        let dataset = store
            .create_dataset(&NewDataset {
                marketplace_id: market,
                kind: DatasetKind::Migration,
                name: "Every code".to_owned(),
                provision: false,
                review: true,
                created_by_user: None,
                created_by_company: None,
                creator: "test".to_owned(),
            })
            .await
            .expect("dataset");
        for (data_type, bytes) in &files {
            let mut file =
                FileUpload::start(store.clone(), dataset.id, *data_type, data_type.part())
                    .await
                    .expect("start");
            file.write(bytes).await.expect("write");
            file.finish().await.expect("finish");
        }
        run_validation(&store, &dataset).await;
        assert_plan_adds_up(&store, &dataset).await;
        let findings = store
            .dataset_findings(dataset.id, 0, 1_000)
            .await
            .expect("findings");
        let found: std::collections::BTreeSet<String> =
            findings.iter().map(|f| f.code.clone()).collect();
        let expected: std::collections::BTreeSet<String> = [
            "ENCODING_GUESSED",
            "UNKNOWN_COLUMN",
            "DUPLICATE_RECORD",
            "ROW_UNIDENTIFIABLE",
            "MISSING_FIELD_EMAIL_ADDRESS",
            "INVALID_EMAIL_ADDRESS",
            "INVALID_IS_ALLOW_LOGIN_USER",
            "EMAIL_ALREADY_USED",
            "ROW_COLUMN_COUNT",
            "CONTROL_CHARACTER",
            "INVALID_COUNTRY",
            "MISSING_FIELD_CREATED_BY_EXTERNAL_ID",
            "USER_MISSING",
            "COMPANY_MISSING",
            "INVALID_RESELLER_COMPANY_EXTERNAL_ID",
            "OWNER_NOT_MEMBER_OF_COMPANY",
            "UNITS_LESS_THAN_INCLUDED",
            "EDITION_PRICING_INVALID",
            "INVALID_UNITS",
            "INVALID_START_DATE",
            "MISSING_FIELD_EDITION_PRICING_UUID",
            "COMPANY_ENTITLEMENT_MISSING",
            "INSTANCE_MISSING",
            "MICROSOFT_CUSTOMER_MISSING",
            "INVALID_OFFER_ID",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        assert_eq!(found, expected, "{findings:#?}");
        // Each finding names its file's line, column and value where it has them.
        let email = findings
            .iter()
            .find(|f| f.code == "INVALID_EMAIL_ADDRESS")
            .expect("finding");
        assert_eq!(
            (
                email.line,
                email.column_name.as_deref(),
                email.value.as_deref()
            ),
            (6, Some("EMAIL_ADDRESS"), Some("not-an-address"))
        );
        let guessed = findings
            .iter()
            .find(|f| f.code == "ENCODING_GUESSED")
            .expect("finding");
        assert_eq!(guessed.severity, "warning");
        let user = store
            .user_by_email(market, &Email::parse("rené@north.example").expect("email"))
            .await
            .expect("read");
        assert!(user.is_none(), "nothing is written before activation");
    }

    async fn a_record_changed_by_hand_is_updated_again_by_a_rerun(store: Arc<dyn Store>) {
        let market = marketplace(&store).await;
        let files = [(
            DataType::Companies,
            "EXTERNAL_ID,NAME,CITY\nc-1,Northwind,Seattle\n",
        )];
        let first = upload_files(&store, market, false, &files).await;
        run_validation(&store, &first).await;
        let company = store
            .company_by_external_id(market, "c-1")
            .await
            .expect("read")
            .expect("c-1");
        let edit = ferry_domain::NewCompany {
            address: ferry_domain::Address {
                city: Some("Tacoma".to_owned()),
                ..Default::default()
            },
            external_id: Some("c-1".to_owned()),
            status: company.status,
            ..ferry_domain::NewCompany::named("Northwind", Origin::Manual)
        };
        let audit = ferry_storage::NewAuditEntry {
            marketplace_id: Some(market),
            actor: "test".to_owned(),
            action: "company.update".to_owned(),
            entity_type: "company".to_owned(),
            entity_id: Some(company.id),
            changes: serde_json::json!({}),
        };
        store
            .update_company(market, company.id, &edit, &audit)
            .await
            .expect("edit by hand");

        let again = upload_files(&store, market, false, &files).await;
        run_validation(&store, &again).await;
        assert_eq!(
            store.staged_outcomes(again.id).await.expect("outcomes"),
            vec![plan(0, 1, 0, 0, "companies")],
            "the file's values win over the edit made since"
        );
        let company = store
            .company_by_external_id(market, "c-1")
            .await
            .expect("read")
            .expect("c-1");
        assert_eq!(company.city.as_deref(), Some("Seattle"));

        let third = upload_files(&store, market, false, &files).await;
        run_validation(&store, &third).await;
        assert_eq!(
            store.staged_outcomes(third.id).await.expect("outcomes"),
            vec![plan(0, 0, 1, 0, "companies")]
        );
    }

    /// What the test vendor received: (event id, signature as sent, body).
    type Received = Arc<std::sync::Mutex<Vec<(String, String, serde_json::Value)>>>;

    /// A vendor's webhook: takes `s-ok`, refuses `s-flaky` once, always refuses `s-bad`.
    async fn vendor() -> (String, Received) {
        use axum::http::{HeaderMap, StatusCode};
        let received: Received = Arc::default();
        let log = received.clone();
        let app = axum::Router::new().route(
            "/events",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let log = log.clone();
                async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned()
                    };
                    let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
                    let expected = format!(
                        "sha256={}",
                        ferry_integrations::webhook::signature("vendor-key", &body)
                    );
                    let mut log = log.lock().expect("log");
                    let external = json["subscription"]["external_id"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned();
                    let tries = log
                        .iter()
                        .filter(|(_, _, b)| b["subscription"]["external_id"] == external.as_str())
                        .count();
                    log.push((
                        header("x-ferry-event"),
                        (header("x-ferry-signature") == expected).to_string(),
                        json,
                    ));
                    match (external.as_str(), tries) {
                        ("s-bad", _) => (
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "quota exceeded for this tenant".to_owned(),
                        ),
                        ("s-flaky", 0) => (StatusCode::SERVICE_UNAVAILABLE, String::new()),
                        _ => (StatusCode::OK, "{}".to_owned()),
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/events", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, received)
    }

    async fn provisioning_sends_signed_events_and_records_what_vendors_answer(
        store: Arc<dyn Store>,
    ) {
        let market = marketplace(&store).await;
        let sealer = ferry_storage::seal::Sealer::from_hex(&"7a".repeat(32)).expect("key");
        let product = store
            .create_product(
                market,
                &NewProduct {
                    name: "Backup".to_owned(),
                    vendor: "Fabrikam".to_owned(),
                },
            )
            .await
            .expect("product");
        store
            .create_edition(
                market,
                &NewEdition {
                    product_id: product,
                    code: "W1".to_owned(),
                    name: "Backup Pro".to_owned(),
                    pricing_plan_id: "pp-w1".to_owned(),
                    channel_sku: None,
                    pricing_unit: PricingUnit::User,
                    included_units: 1,
                    billing_cycles: vec![],
                    terms: vec![],
                    connector: Connector::Webhook,
                    offer_ids: vec![],
                    active: true,
                },
            )
            .await
            .expect("edition");
        let (url, received) = vendor().await;
        store
            .set_product_webhook(
                market,
                product,
                Some(&url),
                Some(&sealer.seal("vendor-key")),
            )
            .await
            .expect("webhook");
        let files = [
            (
                DataType::Users,
                "EXTERNAL_ID,EMAIL_ADDRESS\nu-1,dana@north.example\n",
            ),
            (DataType::Companies, "EXTERNAL_ID,NAME\nc-1,Northwind\n"),
            (
                DataType::Memberships,
                "USER_EXTERNAL_ID,COMPANY_EXTERNAL_ID\nu-1,c-1\n",
            ),
            (
                DataType::CompanyEntitlements,
                "EXTERNAL_ID,COMPANY_EXTERNAL_ID,PURCHASED_BY_EXTERNAL_ID,EDITION_CODE,UNITS\n\
                 s-ok,c-1,u-1,W1,5\ns-flaky,c-1,u-1,W1,5\ns-bad,c-1,u-1,W1,5\ns-none,c-1,u-1,E1,5\n",
            ),
        ];
        let dataset = upload_files(&store, market, true, &files).await;
        store
            .edit_dataset(
                dataset.key(),
                &ferry_storage::DatasetEdit {
                    name: "Provisioned",
                    provision: true,
                    review: false,
                },
            )
            .await
            .expect("provisioning on");
        let dataset = store
            .dataset(dataset.key())
            .await
            .expect("read")
            .expect("dataset");
        store
            .enqueue_job(&ValidateDataset(dataset.key()).new_job())
            .await
            .expect("enqueue");
        let worker = Worker::new("test".to_owned(), store.clone(), WorkerConfig::default())
            .with_job::<ValidateDataset>(None)
            .with_job::<ActivateDataset>(())
            .with_job::<ProvisionDataset>(Connectors {
                sealer,
                webhook: ferry_integrations::webhook::WebhookClient::new(
                    std::time::Duration::from_millis(5),
                )
                .expect("client"),
            });
        while worker.run_next().await.expect("run") {}

        let done = store
            .dataset(dataset.key())
            .await
            .expect("read")
            .expect("dataset");
        assert_eq!(done.state, DatasetState::ActivatedWithErrors, "{done:?}");
        let company = store
            .company_by_external_id(market, "c-1")
            .await
            .expect("read")
            .expect("c-1");
        let subscriptions = store
            .subscriptions_of_company(market, company.id)
            .await
            .expect("subscriptions");
        let state = |external: &str| {
            let s = subscriptions
                .iter()
                .find(|s| s.external_id.as_deref() == Some(external))
                .expect("subscription");
            (s.status.as_str().to_owned(), s.provisioning_error.clone())
        };
        assert_eq!(state("s-ok"), ("active".to_owned(), None));
        assert_eq!(
            state("s-flaky"),
            ("active".to_owned(), None),
            "taken on the second try"
        );
        let (status, error) = state("s-bad");
        assert_eq!(status, "failed");
        assert!(
            error
                .as_deref()
                .unwrap_or_default()
                .contains("quota exceeded for this tenant"),
            "{error:?}"
        );
        assert_eq!(
            state("s-none"),
            ("active".to_owned(), None),
            "an edition without a connector is only recorded"
        );

        let received = received.lock().expect("log").clone();
        assert!(
            received.iter().all(|(_, signed, _)| signed == "true"),
            "every event is signed"
        );
        assert_eq!(
            received.len(),
            1 + 2 + ferry_integrations::webhook::ATTEMPTS as usize,
            "{received:#?}"
        );
        let flaky: Vec<&String> = received
            .iter()
            .filter(|(_, _, b)| b["subscription"]["external_id"] == "s-flaky")
            .map(|(id, _, _)| id)
            .collect();
        assert_eq!(flaky.len(), 2);
        assert_eq!(flaky[0], flaky[1], "a retry carries the same event id");
        assert_eq!(received[0].2["user"]["email"], "dana@north.example");

        let csv = Report::new(store.clone(), &done)
            .await
            .expect("report")
            .collect()
            .await
            .expect("report");
        assert!(
            csv.contains(",s-bad,ERROR,PROVISIONING_FAILED,,the vendor answered 422"),
            "{csv}"
        );
        let user = store
            .user_by_email(market, &Email::parse("dana@north.example").expect("email"))
            .await
            .expect("read")
            .expect("u-1");
        assert!(
            !store
                .memberships_of_user(market, user.id)
                .await
                .expect("memberships")
                .is_empty()
        );
    }
}

#[test]
fn report_cells_never_run_as_formulas() {
    use ferry_datasets::report::neutralise;
    for cell in ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
        assert_eq!(neutralise(cell), format!("'{cell}"));
    }
    assert_eq!(neutralise("Northwind"), "Northwind");
    assert_eq!(neutralise(""), "");
    // What a spreadsheet of another locale would split off runs no formula either.
    for cell in ["u2;=1+1;", "a,+1", "a|@x", "a\t-2"] {
        assert_eq!(neutralise(cell), format!("'{cell}"));
    }
    assert_eq!(neutralise("Smith; Jones"), "Smith; Jones");
}
