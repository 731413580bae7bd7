//! How chat data is written for readers outside GraphQL (webhook deliveries, `marketchat
//! export`, the CLI's listings): times as RFC 3339, and a message as one JSON object.
//! Both APIs format their times here too, so every surface shows the same text.

use super::ids::{message_gid, seller_gid};
use super::Side;
use chrono::{DateTime, SecondsFormat};
use serde_json::{json, Value};

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-25T09:15:02.123Z`.
pub fn format_time(unix_ms: i64) -> String {
    DateTime::from_timestamp_millis(unix_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A message's fields as they are written out.
#[derive(Debug, Clone, Copy)]
pub struct WireMessage<'a> {
    /// Row number (written as its global ID).
    pub id: i64,
    /// The seller whose thread holds it.
    pub seller_id: i64,
    /// Who sent it.
    pub sent_by: Side,
    /// For operator messages: the operator key's label or user's name.
    pub sender_label: Option<&'a str>,
    /// The text.
    pub body: &'a str,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds when the other side read it.
    pub read_at: Option<i64>,
}

impl WireMessage<'_> {
    /// The whole message, as `marketchat export` prints it (one object a line).
    pub fn to_json(&self) -> Value {
        json!({
            "id": message_gid(self.id),
            "sellerId": seller_gid(self.seller_id),
            "sentByType": self.sent_by.as_str(),
            "sentBy": self.sender_label,
            "message": self.body,
            "createdAt": format_time(self.created_at),
            "readAt": self.read_at.map(format_time),
        })
    }

    /// The message inside a `chat_message.created` webhook event (the event names the
    /// seller, and a new message is unread).
    pub fn to_event_json(&self) -> Value {
        json!({
            "id": message_gid(self.id), "message": self.body, "sentByType": self.sent_by.as_str(),
            "sentBy": self.sender_label, "createdAt": format_time(self.created_at),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc_3339_utc_with_milliseconds() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_time(1_764_062_102_123), "2025-11-25T09:15:02.123Z");
    }
}
