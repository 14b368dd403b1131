//! Which Google Workspace customer a company is, for User Sync from Google Workspace: its
//! customer id (`C0…`, as the Admin console shows it) or its primary domain.

use crate::ParseError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoogleCustomer {
    Id(String),
    Domain(String),
}

impl GoogleCustomer {
    /// A customer id: `C` and then 5 to 20 letters and digits.
    pub fn id(value: &str) -> Result<GoogleCustomer, ParseError> {
        let id = value.trim();
        let valid = id.len() >= 6
            && id.len() <= 21
            && id.starts_with('C')
            && id.chars().all(|c| c.is_ascii_alphanumeric());
        if valid {
            Ok(GoogleCustomer::Id(id.to_owned()))
        } else {
            Err(ParseError::new("Google customer id", value))
        }
    }

    /// A primary domain, lower-cased: labels of letters, digits and hyphens, two at least.
    pub fn domain(value: &str) -> Result<GoogleCustomer, ParseError> {
        let domain = value.trim().trim_end_matches('.').to_ascii_lowercase();
        let labels: Vec<&str> = domain.split('.').collect();
        let valid = labels.len() >= 2
            && domain.len() <= 253
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if valid {
            Ok(GoogleCustomer::Domain(domain))
        } else {
            Err(ParseError::new("Google Workspace domain", value))
        }
    }

    /// The id or the domain, as typed into `users.list`.
    pub fn value(&self) -> &str {
        match self {
            GoogleCustomer::Id(v) | GoogleCustomer::Domain(v) => v,
        }
    }
}

impl std::fmt::Display for GoogleCustomer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GoogleCustomer::Id(id) => write!(f, "customer {id}"),
            GoogleCustomer::Domain(domain) => write!(f, "domain {domain}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_domains_are_checked() {
        assert_eq!(
            GoogleCustomer::id(" C03az79cb "),
            Ok(GoogleCustomer::Id("C03az79cb".into()))
        );
        assert!(GoogleCustomer::id("03az79cb").is_err());
        assert!(GoogleCustomer::id("C0 3az").is_err());
        assert_eq!(
            GoogleCustomer::domain("Fabrikam.DE."),
            Ok(GoogleCustomer::Domain("fabrikam.de".into()))
        );
        assert!(GoogleCustomer::domain("fabrikam").is_err());
        assert!(GoogleCustomer::domain("fab rikam.de").is_err());
        assert!(GoogleCustomer::domain("-x.de").is_err());
    }
}
