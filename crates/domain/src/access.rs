//! Who may do what (docs/marketplaces.md), and how failed sign-ins slow an account down.

use crate::{Role, Timestamp};

/// Something a signed-in person or an API token asks to do inside one marketplace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Create marketplaces and place them in the hierarchy (platform admins only).
    ManageMarketplaces,
    ReadCompanies,
    WriteCompanies,
    /// Work Pending Companies (create, link, dismiss) and take a company out of *pending*:
    /// Marketplace Managers always; Sales Support and Customer Support only while the sync
    /// settings open it to them (`PendingOpenTo`, checked by [`may_manage_pending`]).
    ManagePendingCompanies,
    ReadUsers,
    WriteUsers,
    ReadCatalog,
    WriteCatalog,
    /// Partner Center instances, imports and sync settings.
    ManagePartnerCenter,
    ManageDatasets,
    ManageApiTokens,
    /// Read the e-mail that was kept in the outbox instead of being sent.
    ReadOutbox,
    ReadJobs,
}

impl Permission {
    pub const ALL: &'static [Permission] = &[
        Permission::ManageMarketplaces,
        Permission::ReadCompanies,
        Permission::WriteCompanies,
        Permission::ManagePendingCompanies,
        Permission::ReadUsers,
        Permission::WriteUsers,
        Permission::ReadCatalog,
        Permission::WriteCatalog,
        Permission::ManagePartnerCenter,
        Permission::ManageDatasets,
        Permission::ManageApiTokens,
        Permission::ReadOutbox,
        Permission::ReadJobs,
    ];
}

impl Role {
    /// Whether this role grants `permission` in its own marketplace.
    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::PlatformAdmin => true,
            Role::MarketplaceManager => permission != ManageMarketplaces,
            Role::SalesSupport => matches!(
                permission,
                ReadCompanies
                    | WriteCompanies
                    | ReadUsers
                    | WriteUsers
                    | ReadCatalog
                    | ManageDatasets
                    | ReadJobs
            ),
            Role::CustomerSupport => matches!(permission, ReadCompanies | ReadUsers | ReadCatalog),
            Role::Reseller => matches!(permission, ManageDatasets),
        }
    }
}

impl Role {
    /// Who outranks whom. Customer Support and Resellers stand level: neither may change users.
    fn rank(self) -> u8 {
        match self {
            Role::PlatformAdmin => 4,
            Role::MarketplaceManager => 3,
            Role::SalesSupport => 2,
            Role::CustomerSupport | Role::Reseller => 1,
        }
    }
}

/// Whether someone holding `actor` may change (edit, suspend, reactivate, invite) a user holding
/// `target`: never a user of a higher role than their own. A user with no role is changed by
/// anyone allowed to change users.
pub fn may_change(actor: &[Role], target: &[Role]) -> bool {
    let highest = |roles: &[Role]| roles.iter().map(|r| r.rank()).max().unwrap_or(0);
    highest(target) <= highest(actor)
}

/// Which roles besides Marketplace Managers a marketplace's sync settings let work its pending
/// companies. Both are off while Company Sync is off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PendingOpenTo {
    pub sales_support: bool,
    pub customer_support: bool,
}

/// Whether someone holding `roles` may work the pending companies of a marketplace whose
/// settings open them to `open`.
pub fn may_manage_pending(roles: &[Role], open: PendingOpenTo) -> bool {
    allowed(roles, Permission::ManagePendingCompanies)
        || roles.iter().any(|role| match role {
            Role::SalesSupport => open.sales_support,
            Role::CustomerSupport => open.customer_support,
            _ => false,
        })
}

/// Whether any of `roles` grants `permission`.
pub fn allowed(roles: &[Role], permission: Permission) -> bool {
    roles.iter().any(|role| role.allows(permission))
}

/// How many wrong passwords an account tolerates, and for how long it then refuses to check.
/// Storage applies it in one atomic step per attempt (`AccessStore::claim_sign_in_attempt`), so
/// that parallel guesses count as surely as sequential ones.
#[derive(Debug, Clone, Copy)]
pub struct SignInThrottle {
    pub max_failures: i32,
    /// Failures older than this are forgotten.
    pub window_ms: i64,
    pub lock_ms: i64,
}

impl Default for SignInThrottle {
    fn default() -> Self {
        SignInThrottle {
            max_failures: 5,
            window_ms: 15 * 60 * 1000,
            lock_ms: 15 * 60 * 1000,
        }
    }
}

/// Whether a password may be checked for an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInAttempt {
    /// Counted as a failure until a right password clears the count.
    Allowed,
    LockedUntil(Timestamp),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_follow_the_product_table() {
        use Permission::*;
        assert!(Role::MarketplaceManager.allows(ManagePartnerCenter));
        assert!(!Role::MarketplaceManager.allows(ManageMarketplaces));
        assert!(Role::SalesSupport.allows(WriteCompanies));
        assert!(!Role::SalesSupport.allows(ManagePartnerCenter));
        assert!(Role::CustomerSupport.allows(ReadUsers));
        assert!(!Role::CustomerSupport.allows(WriteUsers));
        assert!(Role::Reseller.allows(ManageDatasets));
        assert!(!Role::Reseller.allows(ReadCompanies));
        assert!(
            Permission::ALL
                .iter()
                .all(|p| Role::PlatformAdmin.allows(*p))
        );
        assert!(!allowed(&[], ReadCompanies));
    }

    #[test]
    fn pending_companies_open_to_support_only_by_their_toggle() {
        use Role::*;
        let closed = PendingOpenTo::default();
        assert!(may_manage_pending(&[MarketplaceManager], closed));
        assert!(!may_manage_pending(&[SalesSupport], closed));
        assert!(!may_manage_pending(&[CustomerSupport], closed));
        let sales = PendingOpenTo {
            sales_support: true,
            customer_support: false,
        };
        assert!(may_manage_pending(&[SalesSupport], sales));
        assert!(!may_manage_pending(&[CustomerSupport], sales));
        assert!(!may_manage_pending(&[Reseller], sales));
    }

    #[test]
    fn no_one_changes_a_user_of_a_higher_role() {
        use Role::*;
        assert!(may_change(&[SalesSupport], &[]));
        assert!(may_change(
            &[SalesSupport],
            &[SalesSupport, CustomerSupport]
        ));
        assert!(!may_change(&[SalesSupport], &[MarketplaceManager]));
        assert!(!may_change(
            &[SalesSupport],
            &[CustomerSupport, MarketplaceManager]
        ));
        assert!(may_change(&[MarketplaceManager], &[MarketplaceManager]));
        assert!(!may_change(&[MarketplaceManager], &[PlatformAdmin]));
        assert!(may_change(&[PlatformAdmin], &[MarketplaceManager]));
    }
}
