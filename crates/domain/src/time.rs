/// A point in time as milliseconds since the Unix epoch, UTC.
///
/// Stored as a plain integer on every backend so that comparisons (job leases, "changed since")
/// mean the same thing in SQLite and PostgreSQL. The domain never reads the clock: callers pass
/// the time in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn plus_millis(self, millis: i64) -> Self {
        Timestamp(self.0.saturating_add(millis))
    }

    /// The day it falls on, in UTC.
    pub fn date(self) -> ::time::Date {
        let nanos = i128::from(self.0) * 1_000_000;
        ::time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .map_or(::time::Date::MIN, ::time::OffsetDateTime::date)
    }

    /// RFC 3339 text in UTC, for pages, reports and logs.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        ::time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|t| {
                t.format(&::time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| self.0.to_string())
    }
}

impl From<i64> for Timestamp {
    fn from(millis: i64) -> Self {
        Timestamp(millis)
    }
}
