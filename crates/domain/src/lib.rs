//! Ferry's marketplace types and the rules that govern them.
//!
//! Everything here is pure: no I/O, no SQL, no HTTP, no clock. Values that come from outside
//! (emails, country codes, slugs, role names) are parsed into types that cannot hold an invalid
//! value, so the layers above never re-check them.

mod access;
mod billing;
mod catalog;
mod company;
mod country;
mod dataset;
mod email;
mod google;
mod ids;
mod instance;
mod job;
mod marketplace;
pub mod matching;
mod role;
mod subscription;
mod tenant;
mod text;
mod time;
mod user;

pub use access::{
    PendingOpenTo, Permission, SignInAttempt, SignInThrottle, allowed, may_change,
    may_manage_pending,
};
pub use billing::{BillingCycle, billing_start};
pub use catalog::{
    Connector, NewEdition, NewProduct, OfferId, OfferMatch, PricingUnit, match_offer,
};
pub use company::{
    Address, CompanyStatus, Contact, ContactKind, NewCompany, TenantLink, domain_prefix,
};
pub use country::CountryCode;
pub use dataset::{DatasetKind, DatasetState, ReportOutcome};
pub use email::Email;
pub use google::GoogleCustomer;
pub use ids::{CompanyId, SubscriptionId, UserId};
pub use instance::{InstanceAuth, is_guid};
pub use job::{JobState, Progress};
pub use marketplace::{HierarchyError, MarketplaceKind, Slug, is_mpn_id};
pub use role::{CompanyRoles, Role};
pub use subscription::{NewSubscription, SubscriptionStatus};
pub use tenant::{Importability, PendingState, TenantStatus, importability};
pub use text::{MAX_TEXT_CHARS, TextError, text_problem};
pub use time::Timestamp;
pub use user::{NewUser, UserStatus};

/// Where a record came from, so reports, undo and audits can tell imports apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Typed in by a person in the web UI or through the API.
    Manual,
    /// Written by the activation of a dataset (its id).
    Dataset(i64),
    /// Written by an Import Customers run (its job id).
    Import(i64),
    /// Written by Company Sync or User Sync.
    Sync,
    /// Written by `ferry demo`.
    Demo,
}

impl Origin {
    pub fn kind(&self) -> &'static str {
        match self {
            Origin::Manual => "manual",
            Origin::Dataset(_) => "dataset",
            Origin::Import(_) => "import",
            Origin::Sync => "sync",
            Origin::Demo => "demo",
        }
    }

    pub fn reference(&self) -> Option<i64> {
        match self {
            Origin::Dataset(id) | Origin::Import(id) => Some(*id),
            _ => None,
        }
    }

    /// Rebuilds an origin from its stored kind and reference.
    pub fn from_parts(kind: &str, reference: Option<i64>) -> Result<Self, ParseError> {
        match (kind, reference) {
            ("manual", _) => Ok(Origin::Manual),
            ("dataset", Some(id)) => Ok(Origin::Dataset(id)),
            ("import", Some(id)) => Ok(Origin::Import(id)),
            ("sync", _) => Ok(Origin::Sync),
            ("demo", _) => Ok(Origin::Demo),
            _ => Err(ParseError::new("origin", kind)),
        }
    }
}

/// A value from outside that does not fit the type it was meant to be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: '{value}'")]
pub struct ParseError {
    pub what: &'static str,
    pub value: String,
}

impl ParseError {
    pub fn new(what: &'static str, value: impl Into<String>) -> Self {
        Self {
            what,
            value: value.into(),
        }
    }
}

/// Declares a closed set of names stored as text: `as_str` for storage and `FromStr` for
/// input, kept side by side so the two can never disagree.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::ParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let wanted = s.trim();
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(wanted))
                    .ok_or_else(|| $crate::ParseError::new($what, s))
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::ParseError;
            fn try_from(s: String) -> Result<Self, $crate::ParseError> {
                s.parse()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use text_enum;
