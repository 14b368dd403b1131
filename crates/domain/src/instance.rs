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
