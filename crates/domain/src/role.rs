use crate::text_enum;

text_enum! {
    /// What a signed-in person may do (docs/marketplaces.md). Every role but `PlatformAdmin` is held
    /// in one marketplace.
    Role, "role" {
        PlatformAdmin = "platform-admin",
        MarketplaceManager = "marketplace-manager",
        SalesSupport = "sales-support",
        CustomerSupport = "customer-support",
        Reseller = "reseller",
    }
}

impl Role {
    /// Whether this role belongs to one marketplace (all but the platform admin).
    pub fn is_marketplace_scoped(self) -> bool {
        self != Role::PlatformAdmin
    }
}

/// The roles a user holds in one company (a membership).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompanyRoles {
    pub company_admin: bool,
    pub billing_admin: bool,
    pub sales_support: bool,
    pub restricted_sales_support: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_case_insensitively() {
        assert_eq!(
            "Marketplace-Manager".parse::<Role>(),
            Ok(Role::MarketplaceManager)
        );
        assert!("admin".parse::<Role>().is_err());
        assert!(!Role::PlatformAdmin.is_marketplace_scoped());
    }
}
