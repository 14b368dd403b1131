//! Who may change which user: no one edits, suspends, reactivates or invites a user of a higher
//! role than their own (`ferry_domain::may_change`).

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
