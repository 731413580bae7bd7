//! Support inbox rules (SPEC §12): chat status and list order, what a note and a saved
//! reply may hold, the `supportStats` period, and the median / p90 of durations.

use super::message::{MessageBody, MessageError, MessageRules};
use super::time::UnixMillis;
use chrono::{DateTime, NaiveDate};
use thiserror::Error;

/// Longest note or saved-reply body, in characters after trimming.
pub const MAX_NOTE_CHARS: usize = 2_000;
/// Longest saved-reply title, in characters after trimming.
pub const MAX_TITLE_CHARS: usize = 100;
/// Longest `supportStats` period, in days.
pub const MAX_PERIOD_DAYS: i64 = 366;
/// Milliseconds in a (UTC) day: a stored day number is Unix ms / this.
pub const DAY_MILLIS: i64 = 86_400_000;

/// Whether a chat still needs the support team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ChatStatus {
    /// Needs attention (the default; a Seller message reopens a resolved chat).
    #[default]
    Open,
    /// Done until the seller writes again.
    Resolved,
}

impl ChatStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChatStatus::Open => "open",
            ChatStatus::Resolved => "resolved",
        }
    }

    /// Reads a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "open" => Some(ChatStatus::Open),
            "resolved" => Some(ChatStatus::Resolved),
            _ => None,
        }
    }
}

/// The order of the operator's chat list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChatSort {
    /// Most recently active first.
    #[default]
    RecentActivity,
    /// Oldest `awaitingReplySince` first; only chats waiting for a reply.
    WaitingLongest,
}

/// Checks a note's text: the message rules, at most [`MAX_NOTE_CHARS`] characters.
pub fn parse_note(raw: &str, rules: &MessageRules) -> Result<String, MessageError> {
    Ok(MessageBody::parse(raw, &MessageRules { max_chars: MAX_NOTE_CHARS, ..*rules })?.into_string())
}

/// Checks a saved reply's title: the message rules, at most [`MAX_TITLE_CHARS`] characters.
pub fn parse_title(raw: &str, rules: &MessageRules) -> Result<String, MessageError> {
    Ok(MessageBody::parse(raw, &MessageRules { max_chars: MAX_TITLE_CHARS, ..*rules })?.into_string())
}

/// A `supportStats` period that is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PeriodError {
    /// Neither RFC 3339 nor `YYYY-MM-DD`.
    #[error("`{0}` must be an RFC 3339 time or a date YYYY-MM-DD")]
    Unreadable(&'static str),
    /// `to` is not after `from`.
    #[error("`to` must be after `from`")]
    Empty,
    /// Longer than [`MAX_PERIOD_DAYS`].
    #[error("the period may be at most {MAX_PERIOD_DAYS} days")]
    TooLong,
}

/// A half-open period `[from, to)` of at most [`MAX_PERIOD_DAYS`] days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// First instant in it.
    pub from: UnixMillis,
    /// First instant after it.
    pub to: UnixMillis,
}

impl Period {
    /// Reads `from` and `to`: RFC 3339 times, or dates (`from` the start of its UTC day,
    /// `to` the end of its UTC day, so `2026-12-01`..`2026-12-01` is that whole day).
    pub fn parse(from: &str, to: &str) -> Result<Self, PeriodError> {
        let from = instant(from, 0).ok_or(PeriodError::Unreadable("from"))?;
        let to = instant(to, DAY_MILLIS).ok_or(PeriodError::Unreadable("to"))?;
        if to <= from {
            return Err(PeriodError::Empty);
        }
        if to - from > MAX_PERIOD_DAYS * DAY_MILLIS {
            return Err(PeriodError::TooLong);
        }
        Ok(Self { from: UnixMillis::new(from), to: UnixMillis::new(to) })
    }

    /// The UTC day numbers it touches, `[first, last]` (the daily counters' granularity).
    pub fn days(self) -> (i64, i64) {
        (self.from.get().div_euclid(DAY_MILLIS), (self.to.get() - 1).div_euclid(DAY_MILLIS))
    }
}

/// Unix ms of an RFC 3339 time, or of a date's midnight plus `date_offset`.
fn instant(raw: &str, date_offset: i64) -> Option<i64> {
    let raw = raw.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(raw) {
        return Some(time.timestamp_millis());
    }
    let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis() + date_offset)
}

/// A day number as `YYYY-MM-DD` (UTC).
pub fn day_label(day: i64) -> String {
    DateTime::from_timestamp_millis(day * DAY_MILLIS).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

/// How many durations, their median and 90th percentile (nearest rank), in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DurationSummary {
    /// How many.
    pub count: i64,
    /// The median (the mean of the middle two for an even count); `None` when empty.
    pub median_seconds: Option<f64>,
    /// The nearest-rank 90th percentile; `None` when empty.
    pub p90_seconds: Option<f64>,
}

impl DurationSummary {
    /// Summarises durations in milliseconds.
    pub fn of(mut millis: Vec<i64>) -> Self {
        if millis.is_empty() {
            return Self::default();
        }
        millis.sort_unstable();
        let n = millis.len();
        let median = if n % 2 == 1 { millis[n / 2] as f64 } else { (millis[n / 2 - 1] + millis[n / 2]) as f64 / 2.0 };
        // Nearest rank: the smallest value with at least 90 % of the values at or below it.
        let rank = (0.9 * n as f64).ceil() as usize;
        let p90 = millis[rank.clamp(1, n) - 1] as f64;
        Self { count: n as i64, median_seconds: Some(median / 1000.0), p90_seconds: Some(p90 / 1000.0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p90_follow_nearest_rank() {
        let summary = DurationSummary::of((1..=10).map(|s| s * 1000).collect());
        assert_eq!(summary.count, 10);
        assert_eq!(summary.median_seconds, Some(5.5));
        assert_eq!(summary.p90_seconds, Some(9.0));
        let one = DurationSummary::of(vec![2500]);
        assert_eq!((one.median_seconds, one.p90_seconds), (Some(2.5), Some(2.5)));
        assert_eq!(DurationSummary::of(vec![]), DurationSummary::default());
    }

    #[test]
    fn a_period_reads_dates_as_whole_days_and_is_at_most_366_days() {
        let day = Period::parse("2026-12-01", "2026-12-01").unwrap();
        assert_eq!(day.to.get() - day.from.get(), DAY_MILLIS);
        assert_eq!(day.days().0, day.days().1);
        let exact = Period::parse("2026-12-01T10:00:00Z", "2026-12-02T10:00:00+00:00").unwrap();
        assert_eq!(exact.days().1 - exact.days().0, 1);
        assert_eq!(Period::parse("2026-01-01", "2026-12-31").map(|_| ()), Ok(()));
        assert_eq!(Period::parse("2025-01-01", "2026-12-31"), Err(PeriodError::TooLong));
        assert_eq!(Period::parse("2026-12-02", "2026-12-01"), Err(PeriodError::Empty));
        assert_eq!(Period::parse("yesterday", "2026-12-01"), Err(PeriodError::Unreadable("from")));
        assert_eq!(day_label(day.days().0), "2026-12-01");
    }
}
