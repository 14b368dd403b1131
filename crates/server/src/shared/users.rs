//! Who may change which user: no one edits, suspends, reactivates or invites a user of a higher
//! role than their own (`ferry_domain::may_change`); and no suspension leaves a marketplace
//! without an active Marketplace Manager, or signs out the person asking.

use std::collections::HashMap;

use ferry_domain::{Role, may_change};
use ferry_storage::{Store, StoreError};

/// The users among `ids` that someone holding `actor` may not change.
pub async fn outranking(
    store: &dyn Store,
    marketplace_id: i64,
    actor: &[Role],
    ids: &[i64],
) -> Result<Vec<i64>, StoreError> {
    let mut roles: HashMap<i64, Vec<Role>> = HashMap::new();
    for (user_id, role) in store.staff_roles(marketplace_id).await? {
        roles.entry(user_id).or_default().push(role);
    }
    Ok(ids
        .iter()
        .copied()
        .filter(|id| !may_change(actor, roles.get(id).map_or(&[], Vec::as_slice)))
        .collect())
}

/// Why `target` may not be suspended by `actor` (a user of the marketplace, or none for a token
/// or a platform admin), if it may not.
pub async fn suspension_refused(
    store: &dyn Store,
    marketplace_id: i64,
    actor: Option<i64>,
    target: i64,
) -> Result<Option<&'static str>, StoreError> {
    if actor == Some(target) {
        return Ok(Some("you cannot suspend yourself"));
    }
    let managers: Vec<i64> = store
        .staff_roles(marketplace_id)
        .await?
        .into_iter()
        .filter(|(_, role)| *role == Role::MarketplaceManager)
        .map(|(user, _)| user)
        .collect();
    let active = |id: i64| async move {
        let user = store.user(marketplace_id, id).await?;
        Ok::<_, StoreError>(user.is_some_and(|u| u.status == ferry_domain::UserStatus::Active))
    };
    if !managers.contains(&target) || !active(target).await? {
        return Ok(None);
    }
    for other in managers.iter().filter(|m| **m != target) {
        if active(*other).await? {
            return Ok(None);
        }
    }
    Ok(Some(
        "this is the last active Marketplace Manager: give another user the role first",
    ))
}
