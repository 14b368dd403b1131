//! Checking one row on its own (the syntax level of docs/datasets.md): keys present, required
//! values given, e-mail addresses, countries, dates, booleans and numbers well formed. Values
//! are normalised on the way, so later levels compare like with like.

use std::collections::BTreeMap;

use ferry_domain::{CountryCode, Email};
use serde::Serialize;

use crate::columns::{DataType, Format, Need};
use crate::read::{FileError, Header, RawRow, is_control};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

/// Something found about a row or a file: what the report lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub data_type: DataType,
    pub line: u64,
    pub external_id: Option<String>,
    pub severity: Severity,
    pub code: String,
    pub column: Option<String>,
    pub message: String,
    pub value: Option<String>,
}

/// A row that passed the syntax level: one normalised value per column of its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedRow {
    pub line: u64,
    pub values: Vec<Option<String>>,
    /// Custom attributes as a JSON object, when the file has `CUSTOM:` columns.
    pub custom: Option<String>,
    /// A fingerprint of the row's values: equal rows have equal fingerprints.
    pub hash: String,
    /// What the row holds that is worth a warning (cells that look like formulas).
    pub warnings: Vec<Finding>,
}

/// The fingerprint of a row: SHA-256 over its values (each marked present or absent, so no two
/// different rows can run together) and custom attributes, the first 16 bytes in hex.
pub(crate) fn fingerprint(values: &[Option<String>], custom: Option<&str>) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for value in values.iter().map(Option::as_deref).chain([custom]) {
        match value {
            Some(v) => {
                hasher.update([1]);
                hasher.update((v.len() as u64).to_le_bytes());
                hasher.update(v.as_bytes());
            }
            None => hasher.update([0]),
        }
    }
    hasher.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where each column of a data type is in a file.
#[derive(Debug, Clone)]
pub struct Layout {
    pub data_type: DataType,
    positions: Vec<Option<usize>>,
    custom: Vec<(usize, String)>,
    width: usize,
}

impl Layout {
    /// Matches a file's header to the columns of its type. A missing required column fails the
    /// file; an unknown one is a warning.
    pub fn new(data_type: DataType, header: &Header) -> Result<(Layout, Vec<Finding>), FileError> {
        let columns = data_type.columns();
        let positions: Vec<Option<usize>> = columns
            .iter()
            .map(|c| header.names.iter().position(|n| n == c.name))
            .collect();
        for (column, position) in columns.iter().zip(&positions) {
            let missing = match column.need {
                Need::Required => position.is_none(),
                Need::OneOf(group) => columns
                    .iter()
                    .zip(&positions)
                    .all(|(c, p)| c.need != Need::OneOf(group) || p.is_none()),
                Need::Optional | Need::WithBilling => false,
            };
            if missing {
                return Err(FileError::MissingColumn {
                    line: header.line,
                    column: column.name.to_owned(),
                });
            }
        }
        let mut custom = Vec::new();
        let mut warnings = Vec::new();
        for (i, name) in header.names.iter().enumerate() {
            if let Some(attribute) = name.strip_prefix("CUSTOM:") {
                custom.push((i, attribute.to_owned()));
            } else if !columns.iter().any(|c| c.name == name) {
                warnings.push(Finding {
                    data_type,
                    line: header.line,
                    external_id: None,
                    severity: Severity::Warning,
                    code: "UNKNOWN_COLUMN".to_owned(),
                    column: Some(name.clone()),
                    message: format!(
                        "the column {name} is not one of {}'s; it is ignored",
                        data_type.label()
                    ),
                    value: None,
                });
            }
        }
        Ok((
            Layout {
                data_type,
                positions,
                custom,
                width: header.names.len(),
            },
            warnings,
        ))
    }

    /// The row's cells Ferry reads — its type's columns and the custom attributes — with their
    /// column names.
    fn cells<'r>(&'r self, row: &'r RawRow) -> impl Iterator<Item = (String, &'r str)> + 'r {
        let columns = self.data_type.columns();
        columns
            .iter()
            .zip(&self.positions)
            .filter_map(|(c, p)| Some((c.name.to_owned(), (*p)?)))
            .chain(
                self.custom
                    .iter()
                    .map(|(p, name)| (format!("CUSTOM:{name}"), *p)),
            )
            .filter_map(|(column, p)| Some((column, row.fields.get(p)?.as_str())))
    }

    /// Warnings about a row's text cells that a spreadsheet would run as a formula (`=1+1`,
    /// `@SUM(…)`, `+cmd|…`). They are data and stored as given; every CSV Ferry writes
    /// neutralises them. A signed number or phone number (`+43 1 234`, `-5`) is not one.
    fn formula_warnings(&self, row: &RawRow, external_id: Option<&str>) -> Vec<Finding> {
        let columns = self.data_type.columns();
        let text = |name: &str| {
            columns
                .iter()
                .find(|c| c.name == name)
                .is_none_or(|c| c.format == crate::columns::Format::Text)
        };
        self.cells(row)
            .filter(|(column, _)| text(column))
            .filter_map(|(column, value)| {
                let value = value.trim_start_matches([' ']);
                formula_like(value).then(|| Finding {
                    data_type: self.data_type,
                    line: row.line,
                    external_id: external_id.map(str::to_owned),
                    severity: Severity::Warning,
                    code: "FORMULA_LIKE_VALUE".to_owned(),
                    message: format!(
                        "{column} starts with '{}', which a spreadsheet would run as a formula: \
                         it is kept as text, and neutralised in every CSV Ferry writes",
                        value.chars().next().unwrap_or(' ').escape_default()
                    ),
                    column: Some(column),
                    value: Some(value.to_owned()),
                })
            })
            .collect()
    }

    /// Checks one row. A row with errors is not staged; its findings say why.
    pub fn check(&self, row: &RawRow) -> Result<StagedRow, Vec<Finding>> {
        let columns = self.data_type.columns();
        let cell = |i: usize| -> Option<&str> {
            self.positions[i]
                .and_then(|p| row.fields.get(p))
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
        };
        let key: Vec<&str> = self
            .data_type
            .key()
            .iter()
            .filter_map(|name| columns.iter().position(|c| c.name == *name).and_then(cell))
            .collect();
        let external_id = (!key.is_empty()).then(|| key.join("/"));
        let warnings = self.formula_warnings(row, external_id.as_deref());
        let finding =
            |code: String, column: Option<&str>, message: String, value: Option<&str>| Finding {
                data_type: self.data_type,
                line: row.line,
                external_id: external_id.clone(),
                severity: Severity::Error,
                code,
                column: column.map(str::to_owned),
                message,
                value: value.map(str::to_owned),
            };
        if row.fields.len() != self.width {
            return Err(vec![finding(
                "ROW_COLUMN_COUNT".to_owned(),
                None,
                format!(
                    "the row has {} fields where the header has {}",
                    row.fields.len(),
                    self.width
                ),
                None,
            )]);
        }
        let controls: Vec<Finding> = self
            .cells(row)
            .filter_map(|(column, value)| {
                let at = value
                    .chars()
                    .position(|c| u8::try_from(c).is_ok_and(is_control))?;
                let shown: String = value
                    .chars()
                    .map(|c| match u8::try_from(c) {
                        Ok(b) if is_control(b) => format!("\\u{{{b:04X}}}"),
                        _ => c.to_string(),
                    })
                    .collect();
                Some(finding(
                    "CONTROL_CHARACTER".to_owned(),
                    Some(&column),
                    format!(
                        "{column} holds a control character (character {} of the value), which \
                         no text may: remove it from the cell",
                        at + 1
                    ),
                    Some(&shown),
                ))
            })
            .collect();
        if !controls.is_empty() {
            return Err(controls);
        }
        if key.len() < self.data_type.key().len() {
            return Err(vec![finding(
                "ROW_UNIDENTIFIABLE".to_owned(),
                None,
                format!("the row has no {}", self.data_type.key().join(" + ")),
                None,
            )]);
        }
        let billing = columns
            .iter()
            .enumerate()
            .any(|(i, c)| is_billing_address(c.name) && cell(i).is_some());
        let mut errors = Vec::new();
        let mut values = Vec::with_capacity(columns.len());
        for (i, column) in columns.iter().enumerate() {
            let given = cell(i);
            let value = given.or(column.default);
            let required = match column.need {
                Need::Required => true,
                Need::WithBilling => billing,
                Need::OneOf(group)
                    if i == columns
                        .iter()
                        .position(|c| c.need == Need::OneOf(group))
                        .unwrap_or(i) =>
                {
                    columns
                        .iter()
                        .enumerate()
                        .all(|(j, c)| c.need != Need::OneOf(group) || cell(j).is_none())
                }
                Need::OneOf(_) | Need::Optional => false,
            };
            let Some(value) = value else {
                if required {
                    let message = match column.need {
                        Need::OneOf(_) => {
                            "one of EDITION_PRICING_UUID, CHANNEL_SKU or EDITION_CODE is required"
                                .to_owned()
                        }
                        Need::WithBilling => {
                            format!("{} is required when billing columns are given", column.name)
                        }
                        _ => format!("{} is required", column.name),
                    };
                    errors.push(finding(
                        format!("MISSING_FIELD_{}", column.name),
                        Some(column.name),
                        message,
                        None,
                    ));
                }
                values.push(None);
                continue;
            };
            match normalise(column.format, value) {
                Ok(normal) => values.push(Some(normal)),
                Err(expected) => {
                    errors.push(finding(
                        format!("INVALID_{}", column.name),
                        Some(column.name),
                        format!("{} must be {expected}", column.name),
                        Some(value),
                    ));
                    values.push(None);
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let custom = (!self.custom.is_empty()).then(|| {
            let attributes: BTreeMap<&str, &str> = self
                .custom
                .iter()
                .filter_map(|(p, name)| {
                    let value = row.fields.get(*p)?.trim();
                    (!value.is_empty()).then_some((name.as_str(), value))
                })
                .collect();
            serde_json::to_string(&attributes).unwrap_or_else(|_| "{}".to_owned())
        });
        Ok(StagedRow {
            line: row.line,
            hash: fingerprint(&values, custom.as_deref()),
            values,
            custom,
            warnings,
        })
    }
}

/// Whether a column is part of a company's billing address, in a companies file or an order.
fn is_billing_address(name: &str) -> bool {
    let name = name.strip_prefix("COMPANY_").unwrap_or(name);
    name.starts_with("BILLING_") && DataType::Companies.columns().iter().any(|c| c.name == name)
}

/// A value in its stored form, or what was expected instead.
pub(crate) fn normalise(format: Format, value: &str) -> Result<String, &'static str> {
    match format {
        Format::Text => Ok(value.to_owned()),
        Format::Email => Email::parse(value)
            .map(|e| e.as_str().to_owned())
            .map_err(|_| "an e-mail address"),
        Format::Country => CountryCode::parse(value)
            .map(|c| c.as_str().to_owned())
            .map_err(|_| "a two-letter country code (ISO 3166-1)"),
        Format::Bool => match value.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok("1".to_owned()),
            "false" | "0" | "no" => Ok("0".to_owned()),
            _ => Err("TRUE or FALSE"),
        },
        Format::Integer => value
            .parse::<u32>()
            .map(|n| n.to_string())
            .map_err(|_| "a whole number, 0 or more"),
        Format::Date => parse_date(value).ok_or("an ISO 8601 date such as 2017-03-21"),
    }
}

/// ISO 8601 dates with or without a time and offset, single-digit months and days allowed;
/// anything else (such as `01/03/2016`) is refused rather than guessed.
fn parse_date(value: &str) -> Option<String> {
    let (date, rest) = match value.find(['T', 't', ' ']) {
        Some(at) => (&value[..at], Some(&value[at + 1..])),
        None => (value, None),
    };
    let mut parts = date.split('-');
    let year: i32 = parts.next().filter(|y| y.len() == 4)?.parse().ok()?;
    let month: u8 = parts
        .next()
        .filter(|m| (1..=2).contains(&m.len()))?
        .parse()
        .ok()?;
    let day: u8 = parts
        .next()
        .filter(|d| (1..=2).contains(&d.len()))?
        .parse()
        .ok()?;
    if parts.next().is_some() {
        return None;
    }
    let date =
        time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()?;
    if let Some(rest) = rest {
        let time_ok = rest
            .trim_end_matches(['Z', 'z'])
            .split(['+', '-'])
            .all(|part| {
                part.split(':').all(|n| {
                    n.split('.')
                        .all(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                })
            });
        if !time_ok {
            return None;
        }
    }
    Some(format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    ))
}

/// Whether a spreadsheet would take the cell for a formula.
fn formula_like(value: &str) -> bool {
    let mut chars = value.chars();
    match chars.next() {
        Some('=' | '@' | '\t' | '\r') => true,
        Some('+' | '-') => !chars.all(|c| c.is_ascii_digit() || " .-()/".contains(c)),
        _ => false,
    }
}
