//! Ids of records that meet in one call — a user and a company, a subscription and a user —
//! typed so that the compiler tells them apart. (A dataset is named with its marketplace by
//! `ferry_storage::DatasetRef`.)

macro_rules! record_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

record_id!(
    /// The id of a user of a marketplace.
    UserId
);
record_id!(
    /// The id of a company of a marketplace.
    CompanyId
);
record_id!(
    /// The id of a subscription of a marketplace.
    SubscriptionId
);
