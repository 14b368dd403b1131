//! Company Sync as both front doors use it: a change to the settings as typed, and what to say
//! when a decision on a pending company comes too late.

use ferry_domain::PendingState;
use ferry_storage::{Store, StoreError, SyncSettings};
use ferry_tenants::sync::SyncRefused;

/// The settings a form or a request changes; what it leaves out stays as it was.
#[derive(Debug, Clone, Default)]
pub struct SettingsChange {
    pub company_sync: Option<bool>,
    pub create_automatically: Option<bool>,
    pub invite_admins: Option<bool>,
    pub sales_support_pending: Option<bool>,
    pub customer_support_pending: Option<bool>,
    pub interval_minutes: Option<i32>,
    /// `Some(None)`: every instance the marketplace may use.
    pub instance_id: Option<Option<i64>>,
    pub user_sync_partner_center: Option<bool>,
    pub user_sync_google: Option<bool>,
    pub user_interval_minutes: Option<i32>,
    pub registration_reminders: Option<bool>,
}

impl SettingsChange {
    pub fn over(self, current: SyncSettings) -> SyncSettings {
        SyncSettings {
            company_sync: self.company_sync.unwrap_or(current.company_sync),
            create_automatically: self
                .create_automatically
                .unwrap_or(current.create_automatically),
            invite_admins: self.invite_admins.unwrap_or(current.invite_admins),
            sales_support_pending: self
                .sales_support_pending
                .unwrap_or(current.sales_support_pending),
            customer_support_pending: self
                .customer_support_pending
                .unwrap_or(current.customer_support_pending),
            interval_minutes: self.interval_minutes.unwrap_or(current.interval_minutes),
            instance_id: self.instance_id.unwrap_or(current.instance_id),
            user_sync_partner_center: self
                .user_sync_partner_center
                .unwrap_or(current.user_sync_partner_center),
            user_sync_google: self.user_sync_google.unwrap_or(current.user_sync_google),
            user_interval_minutes: self
                .user_interval_minutes
                .unwrap_or(current.user_interval_minutes),
            // On since it was first turned on; turning it on again changes nothing.
            reminders_since: match self.registration_reminders {
                Some(true) => current
                    .reminders_since
                    .or(Some(ferry_storage::now().millis())),
                Some(false) => None,
                None => current.reminders_since,
            },
        }
    }
}

/// Whether a refusal is the request's fault (invalid) or the state's (a conflict).
pub fn is_invalid(refused: &SyncRefused) -> bool {
    matches!(
        refused,
        SyncRefused::Interval
            | SyncRefused::UnknownInstance
            | SyncRefused::Import(ferry_tenants::ImportRefused::Unknown(_))
    )
}

/// What to say when linking pending company `id` was refused by the store: who decided it
/// first, or why the company cannot take the link.
pub async fn link_refusal(
    store: &dyn Store,
    marketplace_id: i64,
    id: i64,
    error: StoreError,
) -> Result<String, StoreError> {
    let StoreError::Conflict { key } = error else {
        return Err(error);
    };
    let Some(pending) = store.pending_company(marketplace_id, id).await? else {
        return Err(StoreError::NotFound {
            what: "pending company",
        });
    };
    let by = pending.decided_by.as_deref().unwrap_or("someone");
    let company = pending.company_name.as_deref().unwrap_or("a company");
    Ok(match pending.state {
        PendingState::Linked => {
            format!("{} was already linked to {company} by {by}.", pending.name)
        }
        PendingState::Created | PendingState::Creating => {
            format!("{}'s company was already created by {by}.", pending.name)
        }
        // The company's own link is taken: "company tenant link (a company links to …)".
        _ => format!("Not linked: the {key}."),
    })
}
