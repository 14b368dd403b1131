//! Microsoft tenants as the Import Customers tool audits them against a marketplace
//! (docs/import-customers.md): which Partner Center subscriptions the import brings in, and
//! where a tenant stands — against the marketplace, and in its Pending Companies
//! (docs/company-sync.md).

use crate::text_enum;

/// Whether the import brings a Partner Center subscription into the marketplace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Importability {
    /// Active, suspended or pending: the customer's, to be billed.
    Importable,
    /// An Azure plan: the Azure migration brings it in, not this tool.
    AzurePlan,
    /// Deleted, expired, disabled or cancelled: no longer the customer's.
    Ended,
}

/// What the import makes of a subscription with this Partner Center status and product type.
pub fn importability(status: Option<&str>, product_type: Option<&str>) -> Importability {
    if product_type.is_some_and(|t| t.eq_ignore_ascii_case("azure")) {
        return Importability::AzurePlan;
    }
    match status.map(str::to_ascii_lowercase).as_deref() {
        Some("active" | "suspended" | "pending") => Importability::Importable,
        _ => Importability::Ended,
    }
}

text_enum! {
    /// Where a tenant waiting in Pending Companies stands.
    PendingState, "pending company state" {
        Pending = "pending",
        Dismissed = "dismissed",
        /// An import run is creating its company.
        Creating = "creating",
        Created = "created",
        Linked = "linked",
    }
}

impl PendingState {
    /// Whether someone may still create, link or dismiss it.
    pub fn open(self) -> bool {
        matches!(self, PendingState::Pending | PendingState::Dismissed)
    }
}

text_enum! {
    /// Where a tenant stands against the marketplace.
    TenantStatus, "tenant status" {
        /// A company of the marketplace is linked to it, and its importable subscriptions are
        /// exactly the marketplace's Microsoft subscriptions of that company.
        Synced = "synced",
        /// A company is linked, but subscriptions are missing on one side or the other.
        OutOfSync = "out-of-sync",
        /// No company of the marketplace is linked to it.
        NotImported = "not-imported",
    }
}

impl TenantStatus {
    pub fn label(self) -> &'static str {
        match self {
            TenantStatus::Synced => "Synced",
            TenantStatus::OutOfSync => "Out of sync",
            TenantStatus::NotImported => "Not imported",
        }
    }

    /// The status of a tenant with `related` companies, `missing` Partner Center subscriptions
    /// the marketplace lacks and `extra` marketplace subscriptions Partner Center lacks.
    pub fn of(related: usize, missing: usize, extra: usize) -> TenantStatus {
        match (related, missing + extra) {
            (0, _) => TenantStatus::NotImported,
            (_, 0) => TenantStatus::Synced,
            _ => TenantStatus::OutOfSync,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ended_subscriptions_and_azure_plans_are_not_imported() {
        assert_eq!(
            importability(Some("Active"), None),
            Importability::Importable
        );
        assert_eq!(
            importability(Some("suspended"), Some("OnlineServicesNCE")),
            Importability::Importable
        );
        for ended in ["deleted", "expired", "disabled", "none"] {
            assert_eq!(importability(Some(ended), None), Importability::Ended);
        }
        assert_eq!(importability(None, None), Importability::Ended);
        assert_eq!(
            importability(Some("active"), Some("Azure")),
            Importability::AzurePlan
        );
    }

    #[test]
    fn a_tenant_is_synced_only_when_linked_and_nothing_differs() {
        assert_eq!(TenantStatus::of(0, 0, 0), TenantStatus::NotImported);
        assert_eq!(TenantStatus::of(1, 0, 0), TenantStatus::Synced);
        assert_eq!(TenantStatus::of(2, 1, 0), TenantStatus::OutOfSync);
        assert_eq!(TenantStatus::of(1, 0, 3), TenantStatus::OutOfSync);
        assert_eq!("out-of-sync".parse(), Ok(TenantStatus::OutOfSync));
    }
}
