use std::collections::BTreeMap;

use ::time::Date;

use crate::{Origin, text_enum};

text_enum! {
    SubscriptionStatus, "subscription status" {
        Pending = "pending",
        Active = "active",
        Suspended = "suspended",
        Cancelled = "cancelled",
        Failed = "failed",
    }
}

/// A company's subscription (entitlement) as it is about to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    pub external_id: Option<String>,
    pub company_id: i64,
    pub edition_id: i64,
    /// The user who bought it; must be a member of the company.
    pub purchased_by: Option<i64>,
    pub units: i64,
    /// When the customer became entitled, kept from the source system on migration.
    pub start_date: Option<Date>,
    /// When billing in this marketplace begins: later than `start_date` when a period was
    /// already invoiced elsewhere, so it is not billed twice.
    pub billing_start_date: Option<Date>,
    pub end_date: Option<Date>,
    pub billing_cycle: Option<String>,
    pub term: Option<String>,
    pub auto_renew: bool,
    pub status: SubscriptionStatus,
    /// The vendor's own id, such as the Partner Center subscription id.
    pub vendor_subscription_id: Option<String>,
    pub custom_attributes: BTreeMap<String, String>,
    pub origin: Origin,
}
