//! Who may do what (docs/marketplaces.md), and how failed sign-ins slow an account down.

use crate::{Role, Timestamp};

/// Something a signed-in person or an API token asks to do inside one marketplace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Create marketplaces and place them in the hierarchy (platform admins only).
    ManageMarketplaces,
    ReadCompanies,
    WriteCompanies,
    /// Take a company out of *pending* (activate or suspend it): Marketplace Managers, until
    /// the sync settings let Sales Support or Customer Support do it too.
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
