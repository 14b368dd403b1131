//! Partner Center resources as the specification describes them, read tolerantly: every field
//! but an id is optional, unknown fields are ignored, enums match in any casing and keep values
//! they do not know, times take 0 to 7 fractional digits, error codes come as numbers or text.

use serde::{Deserialize, Deserializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Declares an enum read from text in any casing (`active`, `Active`, `ACTIVE`; underscores and
/// hyphens ignored, so `IsIndirectCloudSolutionProviderOf` is `is_indirect_…`), keeping an
/// unknown value rather than dropping it.
macro_rules! tolerant_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $($variant,)+
            /// A value this version does not know, as sent.
            Unknown(String),
        }

        impl $name {
            /// The value in the specification's snake case (or as sent, when unknown).
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Unknown(other) => other,
                }
            }

            pub fn parse(text: &str) -> Self {
                let key = normalise(text);
                $(if key == normalise($text) { return $name::$variant; })+
                $name::Unknown(text.to_owned())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Ok($name::parse(&String::deserialize(deserializer)?))
            }
        }
    };
}

fn normalise(text: &str) -> String {
    text.chars()
        .filter(|c| *c != '_' && *c != '-' && *c != ' ')
        .flat_map(char::to_lowercase)
        .collect()
}

tolerant_enum!(SubscriptionStatus {
    None = "none",
    Active = "active",
    Pending = "pending",
    Suspended = "suspended",
    Expired = "expired",
    Disabled = "disabled",
    Deleted = "deleted",
});

tolerant_enum!(BillingCycle {
    Monthly = "monthly",
    Annual = "annual",
    Triennial = "triennial",
    Biennial = "biennial",
    OneTime = "one_time",
    None = "none",
    Undetermined = "unknown",
});

tolerant_enum!(BillingType {
    None = "none",
    Usage = "usage",
    License = "license",
    Benefit = "benefit",
});

tolerant_enum!(RelationshipToPartner {
    None = "none",
    Reseller = "reseller",
    Advisor = "advisor",
    Syndication = "syndication",
    MicrosoftSupport = "microsoft_support",
});

tolerant_enum!(UserState {
    Active = "active",
    Inactive = "inactive",
});

tolerant_enum!(RelationshipType {
    IsIndirectCloudSolutionProviderOf = "is_indirect_cloud_solution_provider_of",
    IsIndirectResellerOf = "is_indirect_reseller_of",
});

/// A time as Partner Center sends it: ISO 8601 in UTC, with 0 to 7 fractional digits. A value
/// that does not parse is kept as text, never fatal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    pub text: String,
    pub parsed: Option<OffsetDateTime>,
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let parsed = OffsetDateTime::parse(&text, &Rfc3339).ok();
        Ok(Timestamp { text, parsed })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Address {
    pub country: Option<String>,
    pub region: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub address_line3: Option<String>,
    pub postal_code: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone_number: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CompanyProfile {
    pub tenant_id: Option<String>,
    pub domain: Option<String>,
    pub company_name: Option<String>,
    pub address: Option<Address>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BillingProfile {
    pub id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub culture: Option<String>,
    pub language: Option<String>,
    pub company_name: Option<String>,
    pub default_address: Option<Address>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    pub id: String,
    #[serde(default)]
    pub commerce_id: Option<String>,
    #[serde(default)]
    pub company_profile: Option<CompanyProfile>,
    #[serde(default)]
    pub billing_profile: Option<BillingProfile>,
    #[serde(default)]
    pub relationship_to_partner: Option<RelationshipToPartner>,
    /// Whether the partner holds delegated access; lists leave it out.
    #[serde(default)]
    pub allow_delegated_access: Option<bool>,
    #[serde(default)]
    pub custom_domains: Option<Vec<String>>,
    /// The tenant id of the indirect reseller the customer belongs to.
    #[serde(default)]
    pub associated_partner_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ItemType {
    pub id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: String,
    #[serde(default)]
    pub offer_id: Option<String>,
    #[serde(default)]
    pub offer_name: Option<String>,
    #[serde(default)]
    pub friendly_name: Option<String>,
    #[serde(default)]
    pub product_type: Option<ItemType>,
    #[serde(default)]
    pub quantity: Option<i64>,
    #[serde(default)]
    pub unit_type: Option<String>,
    #[serde(default)]
    pub creation_date: Option<Timestamp>,
    #[serde(default)]
    pub effective_start_date: Option<Timestamp>,
    #[serde(default)]
    pub commitment_end_date: Option<Timestamp>,
    #[serde(default)]
    pub cancellation_allowed_until_date: Option<Timestamp>,
    #[serde(default)]
    pub billing_cycle_end_date: Option<Timestamp>,
    #[serde(default)]
    pub status: Option<SubscriptionStatus>,
    #[serde(default)]
    pub auto_renew_enabled: Option<bool>,
    #[serde(default)]
    pub is_trial: Option<bool>,
    #[serde(default)]
    pub billing_type: Option<BillingType>,
    #[serde(default)]
    pub billing_cycle: Option<BillingCycle>,
    #[serde(default)]
    pub term_duration: Option<String>,
    /// The reseller of record's MPN id; empty for direct sales.
    #[serde(default)]
    pub partner_id: Option<String>,
    #[serde(default)]
    pub parent_subscription_id: Option<String>,
    #[serde(default)]
    pub entitlement_id: Option<String>,
    #[serde(default)]
    pub order_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AzureEntitlement {
    pub id: String,
    #[serde(default)]
    pub friendly_name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub subscription_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub user_principal_name: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub usage_location: Option<String>,
    #[serde(default)]
    pub state: Option<UserState>,
    #[serde(default)]
    pub soft_deletion_time: Option<Timestamp>,
}

/// An indirect reseller, from the provider's side.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartnerRelationship {
    /// The reseller's tenant id.
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub relationship_type: Option<RelationshipType>,
    #[serde(default)]
    pub state: Option<String>,
    /// The reseller's MPN id; newer documents call it `partnerId`.
    #[serde(default, alias = "partnerId")]
    pub mpn_id: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Link {
    pub uri: String,
    #[serde(default)]
    pub headers: Vec<LinkHeader>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LinkHeader {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Links {
    pub next: Option<Link>,
}

/// The collection envelope (§1.5).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Collection<T> {
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
    #[serde(default)]
    pub continuation_token: Option<String>,
    #[serde(default)]
    pub links: Option<Links>,
}

/// An error body: an ApiFault (code as number or text), or the gateway's shape.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ApiFault {
    #[serde(default, deserialize_with = "number_or_text")]
    pub code: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

fn number_or_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::String(s) => Some(s),
        _ => None,
    })
}

/// Parses a body, after removing the byte-order mark some answers start with.
pub fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice(body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_match_any_casing_and_keep_unknown_values() {
        assert_eq!(
            SubscriptionStatus::parse("Active"),
            SubscriptionStatus::Active
        );
        assert_eq!(BillingCycle::parse("ONE_TIME"), BillingCycle::OneTime);
        assert_eq!(
            RelationshipType::parse("IsIndirectCloudSolutionProviderOf"),
            RelationshipType::IsIndirectCloudSolutionProviderOf
        );
        assert_eq!(SubscriptionStatus::parse("frozen").as_str(), "frozen");
    }

    #[test]
    fn tolerant_bodies() {
        let body = b"\xEF\xBB\xBF{\"id\":\"s1\",\"status\":\"Suspended\",\"creationDate\":\"2021-01-14T16:57:15.0966728Z\",\"effectiveStartDate\":\"2017-04-10T00:00:00Z\",\"surprise\":1}";
        let s: Subscription = parse(body).expect("parses");
        assert_eq!(s.status, Some(SubscriptionStatus::Suspended));
        assert!(s.creation_date.and_then(|t| t.parsed).is_some());
        assert!(s.effective_start_date.and_then(|t| t.parsed).is_some());
        let fault: ApiFault =
            parse(br#"{"code": 20002, "description": "No relationship"}"#).expect("fault");
        assert_eq!(fault.code.as_deref(), Some("20002"));
        let fault: ApiFault = parse(br#"{"code": "600006"}"#).expect("fault");
        assert_eq!(fault.code.as_deref(), Some("600006"));
        let r: PartnerRelationship =
            parse(br#"{"id": "t", "partnerId": "123"}"#).expect("relationship");
        assert_eq!(r.mpn_id.as_deref(), Some("123"));
    }
}
