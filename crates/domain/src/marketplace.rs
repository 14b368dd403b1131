use crate::{ParseError, text_enum};

text_enum! {
    /// Where a marketplace sits in the hierarchy (docs/marketplaces.md).
    MarketplaceKind, "marketplace kind" {
        /// A root marketplace; it may have country tenants and simple tenants.
        Distributor = "distributor",
        /// A child that uses its parent's Partner Center instances live.
        CountryTenant = "country_tenant",
        /// A reseller's own storefront; it does not see inherited instances.
        SimpleTenant = "simple_tenant",
    }
}

impl MarketplaceKind {
    /// Whether a marketplace of this kind sees its parent's Partner Center instances.
    pub fn inherits_instances(self) -> bool {
        self == MarketplaceKind::CountryTenant
    }

    /// Checks where a marketplace of this kind may sit: a distributor is a root, a country
    /// tenant sits under a distributor, and a simple tenant under any marketplace.
    pub fn check_parent(self, parent: Option<MarketplaceKind>) -> Result<(), HierarchyError> {
        match (self, parent) {
            (MarketplaceKind::Distributor, None)
            | (MarketplaceKind::CountryTenant, Some(MarketplaceKind::Distributor))
            | (MarketplaceKind::SimpleTenant, Some(_)) => Ok(()),
            (MarketplaceKind::Distributor, Some(_)) => Err(HierarchyError::DistributorHasParent),
            (_, None) => Err(HierarchyError::TenantWithoutParent),
            (MarketplaceKind::CountryTenant, Some(_)) => {
                Err(HierarchyError::CountryTenantOutsideDistributor)
            }
        }
    }
}

/// Whether `text` is an MPN id (a Microsoft partner id): digits only, as Partner Center writes
/// them, 4 to 10 of them.
pub fn is_mpn_id(text: &str) -> bool {
    (4..=10).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

/// A marketplace placed where the hierarchy does not allow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HierarchyError {
    #[error("a distributor is a root marketplace and has no parent")]
    DistributorHasParent,
    #[error("a tenant marketplace needs a parent")]
    TenantWithoutParent,
    #[error("a country tenant's parent must be a distributor")]
    CountryTenantOutsideDistributor,
}

/// A marketplace's short name in URLs and on the command line: lower-case ASCII letters, digits
/// and single hyphens, 1 to 63 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    pub fn parse(value: &str) -> Result<Self, ParseError> {
        let ok = !value.is_empty()
            && value.len() <= 63
            && !value.starts_with('-')
            && !value.ends_with('-')
            && !value.contains("--")
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Slug(value.to_owned()))
        } else {
            Err(ParseError::new("slug", value))
        }
    }

    /// Derives a slug from a display name: "Contoso Cloud (EU)" becomes "contoso-cloud-eu".
    /// Returns `None` when the name has no ASCII letter or digit to build one from.
    pub fn from_name(name: &str) -> Option<Self> {
        let mut slug = String::new();
        for c in name.chars().flat_map(char::to_lowercase) {
            if c.is_ascii_alphanumeric() {
                slug.push(c);
            } else if !slug.is_empty() && !slug.ends_with('-') {
                slug.push('-');
            }
            if slug.len() >= 63 {
                break;
            }
        }
        let slug = slug.trim_end_matches('-');
        Slug::parse(slug).ok()
    }

    /// The same slug with a numeric suffix, for when the plain one is taken.
    pub fn with_suffix(&self, n: u32) -> Self {
        let suffix = format!("-{n}");
        let keep = self.0.len().min(63 - suffix.len());
        Slug(format!("{}{suffix}", self.0[..keep].trim_end_matches('-')))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Slug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_from_names() {
        let slug = |n| Slug::from_name(n).map(|s| s.as_str().to_owned());
        assert_eq!(
            slug("Contoso Cloud (EU)").as_deref(),
            Some("contoso-cloud-eu")
        );
        assert_eq!(slug("  --Fabrikam--  ").as_deref(), Some("fabrikam"));
        assert_eq!(slug("東京"), None);
        assert_eq!(slug(&"a".repeat(100)).map(|s| s.len()), Some(63));
    }

    #[test]
    fn slug_suffix_stays_valid() {
        let long = Slug::from_name(&"b".repeat(80)).expect("slug");
        let suffixed = long.with_suffix(12);
        assert!(Slug::parse(suffixed.as_str()).is_ok());
        assert!(suffixed.as_str().ends_with("-12"));
    }

    #[test]
    fn rejects_bad_slugs() {
        for bad in ["", "-a", "a-", "a--b", "A", "a b", "é"] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mpn_ids_are_digits() {
        assert!(is_mpn_id("4829113"));
        assert!(!is_mpn_id("48-29113"));
        assert!(!is_mpn_id("123"));
        assert!(!is_mpn_id(" 4829113"));
    }

    #[test]
    fn kinds_round_trip() {
        for kind in MarketplaceKind::ALL {
            assert_eq!(kind.as_str().parse::<MarketplaceKind>(), Ok(*kind));
        }
        assert!(MarketplaceKind::CountryTenant.inherits_instances());
        assert!(!MarketplaceKind::SimpleTenant.inherits_instances());
    }

    #[test]
    fn hierarchy_rules() {
        use MarketplaceKind::*;
        assert_eq!(Distributor.check_parent(None), Ok(()));
        assert_eq!(CountryTenant.check_parent(Some(Distributor)), Ok(()));
        assert_eq!(SimpleTenant.check_parent(Some(CountryTenant)), Ok(()));
        assert_eq!(
            Distributor.check_parent(Some(Distributor)),
            Err(HierarchyError::DistributorHasParent)
        );
        assert_eq!(
            SimpleTenant.check_parent(None),
            Err(HierarchyError::TenantWithoutParent)
        );
        assert_eq!(
            CountryTenant.check_parent(Some(SimpleTenant)),
            Err(HierarchyError::CountryTenantOutsideDistributor)
        );
    }
}
