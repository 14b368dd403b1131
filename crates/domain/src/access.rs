//! Who may do what (docs/marketplaces.md), and how failed sign-ins slow an account down.

use crate::{Role, Timestamp};

/// Something a signed-in person or an API token asks to do inside one marketplace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Create marketplaces and place them in the hierarchy (platform admins only).
    ManageMarketplaces,
    ReadCompanies,
    WriteCompanies,
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

/// Whether any of `roles` grants `permission`.
pub fn allowed(roles: &[Role], permission: Permission) -> bool {
    roles.iter().any(|role| role.allows(permission))
}

/// Failed sign-ins recorded against one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInFailures {
    pub failures: i32,
    pub first_failure: Timestamp,
    pub locked_until: Option<Timestamp>,
}

/// How many wrong passwords an account tolerates, and for how long it then refuses to check.
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

impl SignInThrottle {
    /// When the account may try again, if it is locked at `now`.
    pub fn locked_until(
        &self,
        state: Option<&SignInFailures>,
        now: Timestamp,
    ) -> Option<Timestamp> {
        state
            .and_then(|s| s.locked_until)
            .filter(|until| *until > now)
    }

    /// The record after one more failure at `now`.
    pub fn after_failure(&self, state: Option<&SignInFailures>, now: Timestamp) -> SignInFailures {
        let fresh = SignInFailures {
            failures: 1,
            first_failure: now,
            locked_until: None,
        };
        let mut next = match state {
            Some(s) if now.millis() - s.first_failure.millis() < self.window_ms => SignInFailures {
                failures: s.failures + 1,
                ..*s
            },
            _ => fresh,
        };
        if next.failures >= self.max_failures {
            next.locked_until = Some(now.plus_millis(self.lock_ms));
        }
        next
    }
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
    fn five_failures_lock_the_account_for_a_while() {
        let throttle = SignInThrottle::default();
        let mut state = None;
        for minute in 0..5 {
            let now = Timestamp(minute * 60_000);
            assert_eq!(throttle.locked_until(state.as_ref(), now), None);
            state = Some(throttle.after_failure(state.as_ref(), now));
        }
        let locked = throttle.locked_until(state.as_ref(), Timestamp(5 * 60_000));
        assert_eq!(locked, Some(Timestamp(4 * 60_000 + 15 * 60_000)));
        assert_eq!(
            throttle.locked_until(state.as_ref(), Timestamp(20 * 60_000)),
            None
        );
    }

    #[test]
    fn old_failures_are_forgotten() {
        let throttle = SignInThrottle::default();
        let old = throttle.after_failure(None, Timestamp(0));
        let next = throttle.after_failure(Some(&old), Timestamp(16 * 60_000));
        assert_eq!(next.failures, 1);
    }
}
