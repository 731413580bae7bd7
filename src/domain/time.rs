//! Points in time as the store keeps them: Unix milliseconds, shown as RFC 3339.

use chrono::{DateTime, SecondsFormat};
use std::time::Duration;

/// A point in time in Unix milliseconds (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct UnixMillis(i64);

impl UnixMillis {
    /// Wraps a count of milliseconds since 1970-01-01T00:00:00Z.
    pub const fn new(millis: i64) -> Self {
        Self(millis)
    }

    /// The milliseconds since the epoch.
    pub const fn get(self) -> i64 {
        self.0
    }

    /// RFC 3339 UTC with milliseconds, e.g. `2026-11-25T09:15:02.123Z`.
    pub fn to_rfc3339(self) -> String {
        DateTime::from_timestamp_millis(self.0)
            .unwrap_or_default()
            .to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    /// This time moved `span` later (saturating).
    pub fn plus(self, span: Duration) -> Self {
        Self(self.0.saturating_add(millis(span)))
    }

    /// This time moved `span` earlier (saturating).
    pub fn minus(self, span: Duration) -> Self {
        Self(self.0.saturating_sub(millis(span)))
    }

    /// How long after `earlier` this is (zero when it is not later).
    pub fn since(self, earlier: UnixMillis) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }
}

fn millis(span: Duration) -> i64 {
    i64::try_from(span.as_millis()).unwrap_or(i64::MAX)
}

impl From<i64> for UnixMillis {
    fn from(millis: i64) -> Self {
        Self(millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc_3339_utc_with_milliseconds() {
        assert_eq!(UnixMillis::new(0).to_rfc3339(), "1970-01-01T00:00:00.000Z");
        assert_eq!(UnixMillis::new(1_764_062_102_123).to_rfc3339(), "2025-11-25T09:15:02.123Z");
    }

    #[test]
    fn arithmetic_saturates_instead_of_overflowing() {
        let t = UnixMillis::new(10_000);
        assert_eq!(t.plus(Duration::from_secs(1)), UnixMillis::new(11_000));
        assert_eq!(t.minus(Duration::from_secs(1)), UnixMillis::new(9_000));
        assert_eq!(UnixMillis::new(i64::MAX).plus(Duration::from_secs(1)), UnixMillis::new(i64::MAX));
        assert_eq!(t.since(UnixMillis::new(4_000)), Duration::from_secs(6));
        assert_eq!(UnixMillis::new(4_000).since(t), Duration::ZERO);
    }
}
