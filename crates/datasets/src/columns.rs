//! The columns of every data type (docs/datasets.md). The validator, the staging tables and the
//! downloadable templates all read these definitions, so they never disagree.

use serde::Serialize;

/// What a column holds, and so how a value is checked and normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Text,
    Email,
    /// ISO 3166-1 alpha-2, stored upper case.
    Country,
    /// ISO 8601 date with optional time and offset, stored as `YYYY-MM-DD`.
    Date,
    /// TRUE/FALSE, true/false, 1/0, yes/no, stored as `1` or `0`.
    Bool,
    /// A whole number ≥ 0.
    Integer,
}

impl Format {
    pub fn describe(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Email => "e-mail address",
            Format::Country => "two-letter country code (ISO 3166-1)",
            Format::Date => "date, ISO 8601 (2017-03-21 or 2017-3-21T00:00:00+00:00)",
            Format::Bool => "TRUE or FALSE (also true/false, 1/0, yes/no)",
            Format::Integer => "whole number, 0 or more",
        }
    }
}

/// Whether a value must be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Need {
    Required,
    Optional,
    /// At least one column of the group must have a value (named by the group's first column).
    OneOf(&'static str),
    /// Required when any of the billing address columns has a value.
    WithBilling,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Column {
    /// The name in the file's header, upper snake case.
    pub name: &'static str,
    pub format: Format,
    pub need: Need,
    /// The value taken when the cell is empty.
    pub default: Option<&'static str>,
    pub example: &'static str,
    pub description: &'static str,
}

impl Column {
    /// The staging table's column for this one.
    pub fn field(&self) -> String {
        self.name.to_ascii_lowercase()
    }
}

const fn col(
    name: &'static str,
    format: Format,
    need: Need,
    example: &'static str,
    description: &'static str,
) -> Column {
    Column {
        name,
        format,
        need,
        default: None,
        example,
        description,
    }
}

const fn with_default(column: Column, default: &'static str) -> Column {
    Column {
        default: Some(default),
        ..column
    }
}

use Format::{Bool, Country, Date, Email, Integer, Text};
use Need::{OneOf, Optional, Required, WithBilling};

const USERS: &[Column] = &[
    col(
        "EXTERNAL_ID",
        Text,
        Required,
        "u-1001",
        "The user's id in the system the file comes from; the key.",
    ),
    col(
        "EMAIL_ADDRESS",
        Email,
        Required,
        "dana@northwind.example",
        "Sign-in address, unique in the marketplace.",
    ),
    col("FIRST_NAME", Text, Optional, "Dana", "Given name."),
    col("LAST_NAME", Text, Optional, "Whitfield", "Family name."),
    col("PHONE", Text, Optional, "+1 206 555 0100", "Phone number."),
    col(
        "LOCALE",
        Text,
        Optional,
        "en-US",
        "Language and region for e-mail and pages.",
    ),
    with_default(
        col(
            "IS_ALLOW_LOGIN_USER",
            Bool,
            Optional,
            "TRUE",
            "Whether the user may sign in.",
        ),
        "TRUE",
    ),
];

const COMPANIES: &[Column] = &[
    col(
        "EXTERNAL_ID",
        Text,
        Required,
        "c-2001",
        "The company's id in the system the file comes from; the key.",
    ),
    col("NAME", Text, Required, "Northwind Traders", "Company name."),
    col(
        "STREET1",
        Text,
        Optional,
        "400 Pine Street",
        "Address, first line.",
    ),
    col(
        "STREET2",
        Text,
        Optional,
        "Suite 1200",
        "Address, second line.",
    ),
    col("CITY", Text, Optional, "Seattle", "City."),
    col("STATE", Text, Optional, "WA", "State or region."),
    col("ZIP", Text, Optional, "98101", "Postal code."),
    col("COUNTRY", Country, Optional, "US", "Country."),
    col("PHONE", Text, Optional, "+1 206 555 0100", "Phone number."),
    col(
        "EMAIL",
        Email,
        Optional,
        "it@northwind.example",
        "Company e-mail address.",
    ),
    col(
        "WEBSITE",
        Text,
        Optional,
        "https://northwind.example",
        "Web site.",
    ),
    col(
        "BILLING_STREET1",
        Text,
        Optional,
        "",
        "Billing address, first line.",
    ),
    col(
        "BILLING_STREET2",
        Text,
        Optional,
        "",
        "Billing address, second line.",
    ),
    col("BILLING_CITY", Text, Optional, "", "Billing city."),
    col(
        "BILLING_STATE",
        Text,
        Optional,
        "",
        "Billing state or region.",
    ),
    col("BILLING_ZIP", Text, Optional, "", "Billing postal code."),
    col("BILLING_COUNTRY", Country, Optional, "", "Billing country."),
    col(
        "CREATED_BY_EXTERNAL_ID",
        Text,
        WithBilling,
        "",
        "External id of the user who owns the billing address; required when billing columns are given.",
    ),
    with_default(
        col(
            "ALLOW_LOGIN",
            Bool,
            Optional,
            "TRUE",
            "Whether the company's users may sign in.",
        ),
        "TRUE",
    ),
];

const MEMBERSHIPS: &[Column] = &[
    col(
        "USER_EXTERNAL_ID",
        Text,
        Required,
        "u-1001",
        "The member; a user of this dataset or of the marketplace.",
    ),
    col(
        "COMPANY_EXTERNAL_ID",
        Text,
        Required,
        "c-2001",
        "The company; of this dataset or of the marketplace.",
    ),
    with_default(
        col(
            "SYS_ADMIN",
            Bool,
            Optional,
            "TRUE",
            "Company administrator.",
        ),
        "FALSE",
    ),
    with_default(
        col(
            "BILLING_ADMIN",
            Bool,
            Optional,
            "FALSE",
            "Billing administrator.",
        ),
        "FALSE",
    ),
    with_default(
        col("SALES_SUPPORT", Bool, Optional, "FALSE", "Sales support."),
        "FALSE",
    ),
    with_default(
        col(
            "RESTRICTED_SALES_SUPPORT",
            Bool,
            Optional,
            "FALSE",
            "Restricted sales support.",
        ),
        "FALSE",
    ),
];

const RESELLER_ASSOCIATIONS: &[Column] = &[
    col(
        "COMPANY_EXTERNAL_ID",
        Text,
        Required,
        "c-2001",
        "The customer company; the key.",
    ),
    col(
        "RESELLER_COMPANY_EXTERNAL_ID",
        Text,
        Required,
        "DEMO-RESELLER",
        "The reseller company that manages it.",
    ),
];

const COMPANY_ENTITLEMENTS: &[Column] = &[
    col(
        "EXTERNAL_ID",
        Text,
        Required,
        "s-3001",
        "The subscription's id in the system the file comes from; the key.",
    ),
    col(
        "COMPANY_EXTERNAL_ID",
        Text,
        Required,
        "c-2001",
        "The subscribing company.",
    ),
    col(
        "PURCHASED_BY_EXTERNAL_ID",
        Text,
        Required,
        "u-1001",
        "The purchasing user, a member of the company.",
    ),
    col(
        "EDITION_PRICING_UUID",
        Text,
        OneOf("EDITION_PRICING_UUID"),
        "",
        "The edition's pricing plan id (one of the three edition columns).",
    ),
    col(
        "CHANNEL_SKU",
        Text,
        OneOf("EDITION_PRICING_UUID"),
        "",
        "The edition's channel SKU (one of the three edition columns).",
    ),
    col(
        "EDITION_CODE",
        Text,
        OneOf("EDITION_PRICING_UUID"),
        "M365-BASIC",
        "The edition's code (one of the three edition columns).",
    ),
    col(
        "PRICING_UNIT",
        Text,
        Optional,
        "USER",
        "The pricing unit; defaults to the edition's.",
    ),
    col(
        "UNITS",
        Integer,
        Required,
        "10",
        "Units (seats) bought; at least the edition's included units.",
    ),
    col(
        "START_DATE",
        Date,
        Optional,
        "2024-01-01",
        "Start of the subscription.",
    ),
    col(
        "END_DATE",
        Date,
        Optional,
        "2024-12-31",
        "End of the current term.",
    ),
    col(
        "BILLING_CYCLE",
        Text,
        Optional,
        "MONTHLY",
        "How often the subscription is billed, as the edition offers it: MONTHLY or ANNUAL (the Catalog page lists each edition's cycles).",
    ),
    col(
        "TERM",
        Text,
        Optional,
        "P1Y",
        "The commitment, in ISO 8601, as the edition offers it: P1M (a month), P1Y (a year) or P3Y.",
    ),
    with_default(
        col(
            "AUTO_RENEW",
            Bool,
            Optional,
            "TRUE",
            "Whether the subscription renews.",
        ),
        "TRUE",
    ),
    col(
        "ORDER_STATUS",
        Text,
        Optional,
        "ACTIVE",
        "ACTIVE, SUSPENDED or CANCELLED; defaults to ACTIVE.",
    ),
    col(
        "VENDOR_ENTITLEMENT_ID",
        Text,
        Optional,
        "",
        "The vendor's id of the subscription.",
    ),
    col(
        "BILLED_UNTIL",
        Date,
        Optional,
        "2024-02-01",
        "Date up to which it has been billed.",
    ),
];

const USER_ENTITLEMENTS: &[Column] = &[
    col(
        "USER_EXTERNAL_ID",
        Text,
        Required,
        "u-1001",
        "The user given a seat.",
    ),
    col(
        "COMPANY_ENTITLEMENT_EXTERNAL_ID",
        Text,
        Required,
        "s-3001",
        "The subscription the seat belongs to.",
    ),
];

const MICROSOFT_CUSTOMERS: &[Column] = &[
    col(
        "TENANT_ID",
        Text,
        Required,
        "6a2f8c1e-4b7d-4e0a-9c55-1d2e3f4a5b6c",
        "The customer's Microsoft tenant id; the key.",
    ),
    col(
        "COMPANY_EXTERNAL_ID",
        Text,
        Required,
        "c-2001",
        "The company the tenant belongs to.",
    ),
    col(
        "DOMAIN",
        Text,
        Optional,
        "northwind.onmicrosoft.com",
        "The tenant's default domain.",
    ),
    col("COUNTRY", Country, Optional, "US", "The tenant's country."),
    col(
        "RESELLER_MPN_ID",
        Text,
        Optional,
        "",
        "MPN id of the indirect reseller of record.",
    ),
];

const MICROSOFT_SUBSCRIPTIONS: &[Column] = &[
    col(
        "SUBSCRIPTION_ID",
        Text,
        Required,
        "3f6e9a12-7b8c-4d5e-a6f7-0918273645aa",
        "The Partner Center subscription id; the key.",
    ),
    col(
        "TENANT_ID",
        Text,
        Required,
        "6a2f8c1e-4b7d-4e0a-9c55-1d2e3f4a5b6c",
        "The customer's tenant id.",
    ),
    col(
        "COMPANY_ENTITLEMENT_EXTERNAL_ID",
        Text,
        Required,
        "s-3001",
        "The subscription in the marketplace.",
    ),
    col(
        "OFFER_ID",
        Text,
        Required,
        "CFQ7TTC0LH18:0001:CFQ7TTC0K971",
        "The Microsoft offer id; must map to one edition.",
    ),
];

/// One kind of CSV in a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataType {
    Users,
    Companies,
    Memberships,
    ResellerAssociations,
    CompanyEntitlements,
    UserEntitlements,
    MicrosoftCustomers,
    MicrosoftSubscriptions,
    /// An order dataset's one file, split into the records of other types
    /// ([`crate::orders`]); not one of [`DataType::ALL`].
    Orders,
}

impl DataType {
    /// Every type, in the order activation applies them (references point backwards).
    pub const ALL: [DataType; 8] = [
        DataType::Users,
        DataType::Companies,
        DataType::Memberships,
        DataType::ResellerAssociations,
        DataType::CompanyEntitlements,
        DataType::UserEntitlements,
        DataType::MicrosoftCustomers,
        DataType::MicrosoftSubscriptions,
    ];

    /// The name of its part in an upload, its CLI flag without dashes, its staging table suffix.
    pub fn part(self) -> &'static str {
        match self {
            DataType::Users => "users",
            DataType::Companies => "companies",
            DataType::Memberships => "memberships",
            DataType::ResellerAssociations => "reseller_associations",
            DataType::CompanyEntitlements => "company_entitlements",
            DataType::UserEntitlements => "user_entitlements",
            DataType::MicrosoftCustomers => "microsoft_customers",
            DataType::MicrosoftSubscriptions => "microsoft_subscriptions",
            DataType::Orders => "orders",
        }
    }

    /// The name operators know it by (`USERS`, `COMPANY_ENTITLEMENTS`…).
    pub fn label(self) -> String {
        self.part().to_ascii_uppercase()
    }

    /// Every type a file can be uploaded as: the migration types, then orders.
    pub fn uploaded() -> impl Iterator<Item = DataType> {
        DataType::ALL.into_iter().chain([DataType::Orders])
    }

    pub fn from_part(part: &str) -> Option<DataType> {
        DataType::uploaded().find(|t| t.part() == part)
    }

    pub fn columns(self) -> &'static [Column] {
        match self {
            DataType::Users => USERS,
            DataType::Companies => COMPANIES,
            DataType::Memberships => MEMBERSHIPS,
            DataType::ResellerAssociations => RESELLER_ASSOCIATIONS,
            DataType::CompanyEntitlements => COMPANY_ENTITLEMENTS,
            DataType::UserEntitlements => USER_ENTITLEMENTS,
            DataType::MicrosoftCustomers => MICROSOFT_CUSTOMERS,
            DataType::MicrosoftSubscriptions => MICROSOFT_SUBSCRIPTIONS,
            DataType::Orders => &crate::orders::COLUMNS,
        }
    }

    /// The columns that identify a row; a row without them is unidentifiable.
    pub fn key(self) -> &'static [&'static str] {
        match self {
            DataType::Memberships => &["USER_EXTERNAL_ID", "COMPANY_EXTERNAL_ID"],
            DataType::UserEntitlements => &["USER_EXTERNAL_ID", "COMPANY_ENTITLEMENT_EXTERNAL_ID"],
            DataType::ResellerAssociations => &["COMPANY_EXTERNAL_ID"],
            DataType::MicrosoftCustomers => &["TENANT_ID"],
            DataType::MicrosoftSubscriptions => &["SUBSCRIPTION_ID"],
            DataType::Orders => &["ORDER_EXTERNAL_ID"],
            _ => &["EXTERNAL_ID"],
        }
    }

    /// The entity a reference to this type names in `<ENTITY>_MISSING`.
    pub fn entity(self) -> &'static str {
        match self {
            DataType::Users => "USER",
            DataType::Companies => "COMPANY",
            DataType::Memberships => "MEMBERSHIP",
            DataType::ResellerAssociations => "RESELLER_ASSOCIATION",
            DataType::CompanyEntitlements => "COMPANY_ENTITLEMENT",
            DataType::UserEntitlements => "USER_ENTITLEMENT",
            DataType::MicrosoftCustomers => "MICROSOFT_CUSTOMER",
            DataType::MicrosoftSubscriptions => "MICROSOFT_SUBSCRIPTION",
            DataType::Orders => "ORDER",
        }
    }
}

/// A downloadable template: the header and one example row. What each column means is in
/// [`template_guide`], shown next to it, so the template itself can be uploaded as it is.
pub fn template(data_type: DataType) -> String {
    let columns = data_type.columns();
    let mut out = String::new();
    let header: Vec<&str> = columns.iter().map(|c| c.name).collect();
    out.push_str(&header.join(","));
    out.push('\n');
    let example: Vec<String> = columns.iter().map(|c| csv_cell(c.example)).collect();
    out.push_str(&example.join(","));
    out.push('\n');
    out
}

/// The description of a template's columns, for the page and `ferry dataset template`.
pub fn template_guide(data_type: DataType) -> String {
    let mut out = format!("{} columns\n", data_type.label());
    for column in data_type.columns() {
        let need = match column.need {
            Need::Required => "required".to_owned(),
            Need::Optional => "optional".to_owned(),
            Need::OneOf(first) => format!("one of the edition columns (from {first}) is required"),
            Need::WithBilling => "required when billing columns are given".to_owned(),
        };
        let default = column
            .default
            .map(|d| format!(", default {d}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {:<32} {need}; {}{default}. {}\n",
            column.name,
            column.format.describe(),
            column.description
        ));
    }
    out.push_str("  CUSTOM:<name>                    optional; a custom attribute named <name>.\n");
    out
}

fn csv_cell(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}
