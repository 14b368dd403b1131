//! Checks of a dataset's Microsoft records against Partner Center (docs/datasets.md), for a
//! marketplace that has them on: each tenant id must be a customer one of the marketplace's
//! instances knows, with the domain and country the file gives; each subscription must be one
//! of that customer's, with the offer id the file gives and as many licences as its
//! subscription's units. A suspended or deleted subscription is reported as a warning.
//!
//! What Partner Center says comes through [`TenantLookup`], so this module holds only the
//! comparing; Ferry's server answers it with the marketplace's instances.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use ferry_jobs::JobError;
use ferry_storage::{DatasetFinding, StagedMicrosoftRecord, Store};
use futures_util::future::join_all;

use crate::columns::DataType;

/// Records read and tenants asked about at a time.
const PAGE: i64 = 500;
const AT_ONCE: usize = 8;

/// A customer tenant as Partner Center knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantFacts {
    pub domain: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    pub subscriptions: Vec<SubscriptionFacts>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionFacts {
    pub id: String,
    pub offer_id: Option<String>,
    pub quantity: Option<i64>,
    /// As Partner Center spells it, in lower case (`active`, `suspended`…).
    pub status: Option<String>,
}

/// Asks Partner Center about a customer tenant, through the marketplace's instances.
#[async_trait]
pub trait TenantLookup: Send + Sync {
    /// `Ok(None)` when no instance of the marketplace has this customer; `Err` says why
    /// Partner Center could not be asked.
    async fn tenant(
        &self,
        marketplace_id: i64,
        tenant_id: &str,
    ) -> Result<Option<TenantFacts>, String>;
}

/// Checks every staged Microsoft customer and subscription of a dataset and records what
/// differs as findings; the rules that follow reject the rows with errors. Without a `lookup`
/// (a process that cannot reach Partner Center) every record is refused, saying so.
pub async fn check(
    store: &dyn Store,
    lookup: Option<&dyn TenantLookup>,
    dataset_id: i64,
    marketplace_id: i64,
) -> Result<(), JobError> {
    for data_type in [
        DataType::MicrosoftCustomers,
        DataType::MicrosoftSubscriptions,
    ] {
        let mut after = 0;
        loop {
            let records = store
                .staged_microsoft_records(dataset_id, data_type.part(), after, PAGE)
                .await?;
            let Some(last) = records.last().map(|r| r.line) else {
                break;
            };
            let tenants = ask(lookup, marketplace_id, &records).await;
            let findings: Vec<DatasetFinding> = records
                .iter()
                .filter_map(|record| {
                    let answer = &tenants[record.tenant_id.as_str()];
                    compare(record, answer).map(|f| f.stored(data_type, record))
                })
                .collect();
            store.add_findings(dataset_id, &findings).await?;
            after = last;
        }
    }
    Ok(())
}

type Answer = Result<Option<TenantFacts>, String>;

/// What Partner Center says of each tenant of `records`, asked a few at a time.
async fn ask<'a>(
    lookup: Option<&dyn TenantLookup>,
    marketplace_id: i64,
    records: &'a [StagedMicrosoftRecord],
) -> BTreeMap<&'a str, Answer> {
    let tenants: BTreeSet<&str> = records.iter().map(|r| r.tenant_id.as_str()).collect();
    let tenants: Vec<&str> = tenants.into_iter().collect();
    let mut answers = BTreeMap::new();
    for batch in tenants.chunks(AT_ONCE) {
        let asked = batch.iter().map(|t| ask_one(lookup, marketplace_id, t));
        answers.extend(batch.iter().copied().zip(join_all(asked).await));
    }
    answers
}

async fn ask_one(lookup: Option<&dyn TenantLookup>, marketplace_id: i64, tenant: &str) -> Answer {
    match lookup {
        Some(lookup) => lookup.tenant(marketplace_id, tenant).await,
        None => Err("this Ferry process has no Partner Center connection".to_owned()),
    }
}

/// What is wrong with one record, if anything.
struct Difference {
    severity: &'static str,
    code: &'static str,
    column: &'static str,
    message: String,
    value: Option<String>,
}

impl Difference {
    fn error(code: &'static str, column: &'static str, message: String, value: &str) -> Self {
        Difference {
            severity: "error",
            code,
            column,
            message,
            value: Some(value.to_owned()),
        }
    }

    fn stored(self, data_type: DataType, record: &StagedMicrosoftRecord) -> DatasetFinding {
        DatasetFinding {
            data_type: data_type.part().to_owned(),
            line: record.line,
            external_id: Some(
                record
                    .subscription_id
                    .clone()
                    .unwrap_or_else(|| record.tenant_id.clone()),
            ),
            severity: self.severity.to_owned(),
            code: self.code.to_owned(),
            column_name: Some(self.column.to_owned()),
            message: self.message,
            value: self.value,
        }
    }
}

fn compare(record: &StagedMicrosoftRecord, answer: &Answer) -> Option<Difference> {
    let tenant = &record.tenant_id;
    let facts = match answer {
        Err(reason) => {
            return Some(Difference::error(
                "PARTNER_CENTER_UNAVAILABLE",
                "TENANT_ID",
                format!("Partner Center could not be asked about this tenant: {reason}"),
                tenant,
            ));
        }
        Ok(None) => {
            return Some(Difference::error(
                "INVALID_TENANT_ID",
                "TENANT_ID",
                "no Partner Center customer of the marketplace's instances has this tenant id"
                    .to_owned(),
                tenant,
            ));
        }
        Ok(Some(facts)) => facts,
    };
    let Some(subscription_id) = &record.subscription_id else {
        return compare_customer(record, facts);
    };
    let Some(found) = facts
        .subscriptions
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(subscription_id))
    else {
        return Some(Difference::error(
            "INVALID_SUBSCRIPTION_ID",
            "SUBSCRIPTION_ID",
            "the tenant has no subscription with this id in Partner Center".to_owned(),
            subscription_id,
        ));
    };
    let offer = differs(
        ("INVALID_OFFER_ID", "OFFER_ID", "subscription's offer id"),
        record.offer_id.as_deref(),
        found.offer_id.as_deref(),
    );
    if offer.is_some() {
        return offer;
    }
    if let (Some(units), Some(quantity)) = (record.units, found.quantity)
        && units != quantity
    {
        return Some(Difference::error(
            "QUANTITY_MISMATCH",
            "COMPANY_ENTITLEMENT_EXTERNAL_ID",
            format!(
                "the subscription has {units} units here and a quantity of {quantity} in Partner Center"
            ),
            &units.to_string(),
        ));
    }
    match found.status.as_deref() {
        Some(status) if status != "active" => Some(Difference {
            severity: "warning",
            code: "SUBSCRIPTION_NOT_ACTIVE",
            column: "SUBSCRIPTION_ID",
            message: format!("Partner Center gives this subscription's status as {status}"),
            value: Some(subscription_id.clone()),
        }),
        _ => None,
    }
}

fn compare_customer(record: &StagedMicrosoftRecord, facts: &TenantFacts) -> Option<Difference> {
    differs(
        ("INVALID_DOMAIN", "DOMAIN", "tenant's domain"),
        record.domain.as_deref(),
        facts.domain.as_deref(),
    )
    .or_else(|| {
        differs(
            ("INVALID_COUNTRY", "COUNTRY", "tenant's country"),
            record.country.as_deref(),
            facts.country.as_deref(),
        )
    })
}

/// An error (code, column, what is compared) when the file gives a value Partner Center knows
/// otherwise, case aside.
fn differs(
    (code, column, what): (&'static str, &'static str, &str),
    given: Option<&str>,
    known: Option<&str>,
) -> Option<Difference> {
    let (given, known) = given.zip(known)?;
    (!given.eq_ignore_ascii_case(known)).then(|| {
        Difference::error(
            code,
            column,
            format!("Partner Center gives this {what} as {known}"),
            given,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription_row(offer: &str, units: Option<i64>) -> StagedMicrosoftRecord {
        StagedMicrosoftRecord {
            line: 2,
            tenant_id: "t-1".into(),
            subscription_id: Some("S-1".into()),
            domain: None,
            country: None,
            offer_id: Some(offer.into()),
            units,
        }
    }

    fn tenant(status: &str) -> Answer {
        Ok(Some(TenantFacts {
            domain: Some("northwind.onmicrosoft.com".into()),
            country: Some("US".into()),
            subscriptions: vec![SubscriptionFacts {
                id: "s-1".into(),
                offer_id: Some("OFFER:1".into()),
                quantity: Some(5),
                status: Some(status.into()),
            }],
        }))
    }

    fn code(
        record: &StagedMicrosoftRecord,
        answer: &Answer,
    ) -> Option<(&'static str, &'static str)> {
        compare(record, answer).map(|d| (d.severity, d.code))
    }

    #[test]
    fn a_subscription_is_compared_field_by_field() {
        let active = tenant("active");
        assert_eq!(code(&subscription_row("offer:1", Some(5)), &active), None);
        assert_eq!(
            code(&subscription_row("OFFER:2", Some(5)), &active),
            Some(("error", "INVALID_OFFER_ID"))
        );
        assert_eq!(
            code(&subscription_row("OFFER:1", Some(4)), &active),
            Some(("error", "QUANTITY_MISMATCH"))
        );
        assert_eq!(
            code(&subscription_row("OFFER:1", None), &tenant("suspended")),
            Some(("warning", "SUBSCRIPTION_NOT_ACTIVE"))
        );
        assert_eq!(
            code(
                &subscription_row("OFFER:1", Some(5)),
                &Err("timed out".into())
            ),
            Some(("error", "PARTNER_CENTER_UNAVAILABLE"))
        );
    }

    #[test]
    fn a_customer_is_compared_by_domain_and_country() {
        let customer = |domain: &str, country: &str| StagedMicrosoftRecord {
            domain: Some(domain.into()),
            country: Some(country.into()),
            subscription_id: None,
            offer_id: None,
            ..subscription_row("", None)
        };
        let known = tenant("active");
        assert_eq!(
            code(&customer("NORTHWIND.onmicrosoft.com", "us"), &known),
            None
        );
        assert_eq!(
            code(&customer("other.onmicrosoft.com", "US"), &known),
            Some(("error", "INVALID_DOMAIN"))
        );
        assert_eq!(
            code(&customer("northwind.onmicrosoft.com", "DE"), &known),
            Some(("error", "INVALID_COUNTRY"))
        );
        assert_eq!(
            code(&customer("northwind.onmicrosoft.com", "US"), &Ok(None)),
            Some(("error", "INVALID_TENANT_ID"))
        );
    }
}
