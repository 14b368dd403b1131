use std::collections::BTreeMap;

use crate::{CountryCode, Email, Origin, text_enum};

text_enum! {
    /// A company is pending until its first user activates (docs/marketplaces.md).
    CompanyStatus, "company status" {
        Pending = "pending",
        Active = "active",
        Suspended = "suspended",
    }
}

/// A postal address; every line is optional because sources rarely have them all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    pub street1: Option<String>,
    pub street2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub country: Option<CountryCode>,
}

/// A company (an *account* in BSS terms) as it is about to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCompany {
    /// The key the source system uses; unique per marketplace when present.
    pub external_id: Option<String>,
    pub name: String,
    pub address: Address,
    pub billing_address: Option<Address>,
    pub phone: Option<String>,
    /// The corporate e-mail address.
    pub email: Option<Email>,
    pub website: Option<String>,
    pub allow_login: bool,
    pub status: CompanyStatus,
    pub custom_attributes: BTreeMap<String, String>,
    pub origin: Origin,
}

impl NewCompany {
    /// A company with only a name; the other fields take their defaults.
    pub fn named(name: impl Into<String>, origin: Origin) -> Self {
        NewCompany {
            external_id: None,
            name: name.into(),
            address: Address::default(),
            billing_address: None,
            phone: None,
            email: None,
            website: None,
            allow_login: true,
            status: CompanyStatus::Pending,
            custom_attributes: BTreeMap::new(),
            origin,
        }
    }
}

text_enum! {
    /// Which of a company's two contacts this is; one person may be both.
    ContactKind, "contact kind" {
        Primary = "primary",
        BillTo = "bill_to",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub kind: ContactKind,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<Email>,
    pub phone: Option<String>,
}

/// The link between a company and a Microsoft tenant as seen through one Partner Center
/// instance. A tenant maps to at most one company per instance and marketplace.
///
/// Tenant ids and domain prefixes are kept in lower case, whatever case they came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantLink {
    pub instance_id: i64,
    pub tenant_id: String,
    /// The `*.onmicrosoft.com` prefix, in lower case (see [`domain_prefix`]).
    pub domain_prefix: Option<String>,
    /// The MPN id of the indirect reseller that serves this tenant.
    pub reseller_mpn_id: Option<String>,
}

/// A tenant's domain as its link keeps it: the prefix of its `onmicrosoft.com` domain, in lower
/// case (`Contoso.onmicrosoft.com` → `contoso`); another domain whole, in lower case.
pub fn domain_prefix(domain: &str) -> String {
    let domain = domain.trim().to_ascii_lowercase();
    match domain.strip_suffix(".onmicrosoft.com") {
        Some(prefix) => prefix.to_owned(),
        None => domain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_prefixes_are_kept_one_way() {
        assert_eq!(domain_prefix("Contoso.onmicrosoft.com"), "contoso");
        assert_eq!(domain_prefix("contoso"), "contoso");
        assert_eq!(domain_prefix(" CONTOSO.ONMICROSOFT.COM "), "contoso");
        assert_eq!(domain_prefix("contoso.com"), "contoso.com");
    }
}
