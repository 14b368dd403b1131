use std::collections::BTreeMap;

use crate::{Email, Origin, text_enum};

text_enum! {
    /// Where a user stands between creation and sign-in (docs/marketplaces.md).
    UserStatus, "user status" {
        /// Exists but was never sent an invitation (every migrated user starts here).
        Created = "created",
        Invited = "invited",
        Active = "active",
        Suspended = "suspended",
    }
}

/// A marketplace user as it is about to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub external_id: Option<String>,
    pub email: Email,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub locale: Option<String>,
    pub phone: Option<String>,
    /// `false` makes a *managed user*: no sign-in, no e-mail.
    pub allow_login: bool,
    pub status: UserStatus,
    pub custom_attributes: BTreeMap<String, String>,
    pub origin: Origin,
}

impl NewUser {
    /// A user with only an e-mail address; the other fields take their defaults.
    pub fn with_email(email: Email, origin: Origin) -> Self {
        NewUser {
            external_id: None,
            email,
            first_name: None,
            last_name: None,
            locale: None,
            phone: None,
            allow_login: true,
            status: UserStatus::Created,
            custom_attributes: BTreeMap::new(),
            origin,
        }
    }
}
