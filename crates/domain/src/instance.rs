use crate::text_enum;

text_enum! {
    /// What the last connection check of a Partner Center instance found.
    InstanceAuth, "instance authentication state" {
        /// Never checked.
        Unchecked = "unchecked",
        Authenticated = "authenticated",
        /// A partner user must consent again, and the new refresh token be saved.
        Expired = "expired",
        /// The settings are wrong (the reason says which).
        Failing = "failing",
    }
}

/// A tenant id as Entra writes it: a GUID, `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in hex.
pub fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}
