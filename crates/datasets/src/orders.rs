//! Order datasets (docs/datasets.md): one Bulk Data file in which each row is an order — the
//! company, the ordering user and the subscription. Its columns are made from the other types'
//! (company columns prefixed `COMPANY_`, user columns `USER_`), and each checked row is split
//! into the records of those types, staged as if they had come in their own files: the user,
//! the company, the user's membership of it, the subscription and the user's seat on it.
//! Validation and activation then treat them like any migration dataset's rows.

use std::sync::LazyLock;

use crate::columns::{Column, DataType, Format, Need};
use crate::rows::{StagedRow, fingerprint, normalise};

/// The types an order is split into, in activation order.
pub const ORDER_TYPES: [DataType; 5] = [
    DataType::Users,
    DataType::Companies,
    DataType::Memberships,
    DataType::CompanyEntitlements,
    DataType::UserEntitlements,
];

/// The types whose records several orders may share (a company ordering twice): a record
/// repeated with the same values is one record.
pub const SHARED_TYPES: [DataType; 3] =
    [DataType::Users, DataType::Companies, DataType::Memberships];

/// The order's own key, which becomes its subscription's external id.
const ORDER_KEY: &str = "ORDER_EXTERNAL_ID";

/// The columns of an order, built once from the other types' definitions.
pub(crate) static COLUMNS: LazyLock<Vec<Column>> = LazyLock::new(|| {
    let mut columns = vec![Column {
        name: ORDER_KEY,
        format: Format::Text,
        need: Need::Required,
        default: None,
        example: "o-5001",
        description: "The order's id in the source system; it becomes the subscription's external id.",
    }];
    for (data_type, prefix) in [
        (DataType::Companies, "COMPANY_"),
        (DataType::Users, "USER_"),
    ] {
        columns.extend(data_type.columns().iter().map(|c| Column {
            name: leak(format!("{prefix}{}", c.name)),
            ..*c
        }));
    }
    columns.extend(
        DataType::CompanyEntitlements
            .columns()
            .iter()
            .filter(|c| subscription_source(c.name).is_none())
            .copied(),
    );
    columns
});

/// Column names are `&'static str` everywhere; the few made here live as long as the program.
fn leak(name: String) -> &'static str {
    Box::leak(name.into_boxed_str())
}

/// The order column a subscription column is taken from, when it is not its own.
fn subscription_source(column: &str) -> Option<&'static str> {
    match column {
        "EXTERNAL_ID" => Some(ORDER_KEY),
        "COMPANY_EXTERNAL_ID" => Some("COMPANY_EXTERNAL_ID"),
        "PURCHASED_BY_EXTERNAL_ID" => Some("USER_EXTERNAL_ID"),
        _ => None,
    }
}

/// The order column a column of `data_type` is taken from; `None` when orders do not carry it
/// (a membership's roles), so it takes its default.
fn source(data_type: DataType, column: &str) -> Option<String> {
    let name = match data_type {
        DataType::Users => format!("USER_{column}"),
        DataType::Companies => format!("COMPANY_{column}"),
        DataType::Memberships => column.to_owned(),
        DataType::CompanyEntitlements => subscription_source(column).unwrap_or(column).to_owned(),
        DataType::UserEntitlements => match column {
            "COMPANY_ENTITLEMENT_EXTERNAL_ID" => ORDER_KEY.to_owned(),
            other => other.to_owned(),
        },
        _ => return None,
    };
    COLUMNS.iter().any(|c| c.name == name).then_some(name)
}

/// Where a value of a split record comes from.
#[derive(Debug, Clone)]
enum Value {
    /// The order's value at this position.
    Order(usize),
    /// A column orders do not carry: its default, in stored form.
    Fixed(Option<String>),
}

/// How a checked order row becomes the records of [`ORDER_TYPES`].
#[derive(Debug, Clone)]
pub struct OrderSplit {
    records: Vec<(DataType, Vec<Value>)>,
}

impl Default for OrderSplit {
    fn default() -> Self {
        let records = ORDER_TYPES
            .iter()
            .map(|&data_type| {
                let values = data_type
                    .columns()
                    .iter()
                    .map(|column| {
                        match source(data_type, column.name)
                            .and_then(|name| COLUMNS.iter().position(|c| c.name == name))
                        {
                            Some(at) => Value::Order(at),
                            None => Value::Fixed(
                                column
                                    .default
                                    .and_then(|d| normalise(column.format, d).ok()),
                            ),
                        }
                    })
                    .collect();
                (data_type, values)
            })
            .collect();
        OrderSplit { records }
    }
}

impl OrderSplit {
    /// The records one checked order row stands for, each on the order's line. Custom
    /// attributes belong to the subscription.
    pub fn split(&self, order: &StagedRow) -> Vec<(DataType, StagedRow)> {
        self.records
            .iter()
            .map(|(data_type, sources)| {
                let values: Vec<Option<String>> = sources
                    .iter()
                    .map(|source| match source {
                        Value::Order(at) => order.values[*at].clone(),
                        Value::Fixed(value) => value.clone(),
                    })
                    .collect();
                let custom = (*data_type == DataType::CompanyEntitlements)
                    .then(|| order.custom.clone())
                    .flatten();
                let record = StagedRow {
                    line: order.line,
                    hash: fingerprint(&values, custom.as_deref()),
                    values,
                    custom,
                    // The order's warnings are reported once, with the order.
                    warnings: Vec::new(),
                };
                (*data_type, record)
            })
            .collect()
    }
}

/// What a split record is called in an order dataset's report.
pub fn record_name(data_type: DataType) -> &'static str {
    match data_type {
        DataType::Users => "user",
        DataType::Companies => "company",
        DataType::Memberships => "membership",
        DataType::CompanyEntitlements => "subscription",
        DataType::UserEntitlements => "seat",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::{CsvFile, TextEncoding};
    use crate::rows::Layout;

    fn checked(csv: &str) -> StagedRow {
        let mut file =
            CsvFile::open(std::io::Cursor::new(csv.to_owned()), TextEncoding::Utf8).expect("file");
        let (layout, warnings) = Layout::new(DataType::Orders, &file.header).expect("layout");
        assert!(warnings.is_empty(), "{warnings:?}");
        let row = file.next_row().expect("row").expect("a row");
        layout.check(&row).expect("a valid order")
    }

    #[test]
    fn an_order_is_its_user_company_membership_subscription_and_seat() {
        let order = checked(
            "ORDER_EXTERNAL_ID,COMPANY_EXTERNAL_ID,COMPANY_NAME,COMPANY_COUNTRY,USER_EXTERNAL_ID,USER_EMAIL_ADDRESS,EDITION_CODE,UNITS,CUSTOM:crm\n\
             o-1,c-1,Northwind,us,u-1,Ann@Example.com,E1,5,42\n",
        );
        let records = OrderSplit::default().split(&order);
        let of = |t: DataType| {
            records
                .iter()
                .find(|(d, _)| *d == t)
                .map(|(_, r)| r.clone())
                .expect("record")
        };
        let value = |t: DataType, column: &str| {
            let at = t
                .columns()
                .iter()
                .position(|c| c.name == column)
                .expect("column");
            of(t).values[at].clone()
        };
        assert_eq!(
            value(DataType::Users, "EXTERNAL_ID").as_deref(),
            Some("u-1")
        );
        assert_eq!(
            value(DataType::Users, "EMAIL_ADDRESS").as_deref(),
            Some("ann@example.com")
        );
        assert_eq!(value(DataType::Companies, "COUNTRY").as_deref(), Some("US"));
        assert_eq!(
            value(DataType::Memberships, "COMPANY_EXTERNAL_ID").as_deref(),
            Some("c-1")
        );
        assert_eq!(
            value(DataType::Memberships, "SYS_ADMIN").as_deref(),
            Some("0")
        );
        assert_eq!(
            value(DataType::CompanyEntitlements, "EXTERNAL_ID").as_deref(),
            Some("o-1")
        );
        assert_eq!(
            value(DataType::CompanyEntitlements, "PURCHASED_BY_EXTERNAL_ID").as_deref(),
            Some("u-1")
        );
        assert_eq!(
            value(
                DataType::UserEntitlements,
                "COMPANY_ENTITLEMENT_EXTERNAL_ID"
            )
            .as_deref(),
            Some("o-1")
        );
        assert_eq!(
            of(DataType::CompanyEntitlements).custom.as_deref(),
            Some(r#"{"crm":"42"}"#)
        );
        assert_eq!(of(DataType::Companies).custom, None);
        assert!(records.iter().all(|(_, r)| r.line == 2));
    }

    #[test]
    fn the_same_company_on_two_orders_is_the_same_record() {
        let header = "ORDER_EXTERNAL_ID,COMPANY_EXTERNAL_ID,COMPANY_NAME,USER_EXTERNAL_ID,USER_EMAIL_ADDRESS,EDITION_CODE,UNITS\n";
        let split = OrderSplit::default();
        let first = split.split(&checked(&format!(
            "{header}o-1,c-1,Northwind,u-1,a@x.com,E1,5\n"
        )));
        let second = split.split(&checked(&format!(
            "{header}o-2,c-1,Northwind,u-2,b@x.com,E1,3\n"
        )));
        let hash = |records: &[(DataType, StagedRow)], t: DataType| {
            records
                .iter()
                .find(|(d, _)| *d == t)
                .map(|(_, r)| r.hash.clone())
        };
        assert_eq!(
            hash(&first, DataType::Companies),
            hash(&second, DataType::Companies)
        );
        assert_ne!(
            hash(&first, DataType::Users),
            hash(&second, DataType::Users)
        );
    }
}
