//! How chat data is written for readers outside GraphQL (webhook deliveries, `marketchat
//! export`, the CLI's listings): times as RFC 3339, and a message as one JSON object.
//! Both APIs format their times here too, so every surface shows the same text.

use super::ids::{MessageId, SellerId};
use super::time::UnixMillis;
use super::Side;
use serde_json::{json, Value};

/// A message's fields as they are written out.
#[derive(Debug, Clone, Copy)]
pub struct WireMessage<'a> {
    /// Row number (written as its global ID).
    pub id: MessageId,
    /// The seller whose thread holds it.
    pub seller_id: SellerId,
    /// Who sent it.
    pub sent_by: Side,
    /// For operator messages: the operator key's label or user's name.
    pub sender_label: Option<&'a str>,
    /// The text.
    pub body: &'a str,
    /// When it was sent.
    pub created_at: UnixMillis,
    /// When the other side read it.
    pub read_at: Option<UnixMillis>,
}

impl WireMessage<'_> {
    /// The whole message, as `marketchat export` prints it (one object a line).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id.gid(),
            "sellerId": self.seller_id.gid(),
            "sentByType": self.sent_by.as_str(),
            "sentBy": self.sender_label,
            "message": self.body,
            "createdAt": self.created_at.to_rfc3339(),
            "readAt": self.read_at.map(UnixMillis::to_rfc3339),
        })
    }

    /// The message inside a `chat_message.created` webhook event (the event names the
    /// seller, and a new message is unread).
    pub fn to_event_json(&self) -> Value {
        json!({
            "id": self.id.gid(), "message": self.body, "sentByType": self.sent_by.as_str(),
            "sentBy": self.sender_label, "createdAt": self.created_at.to_rfc3339(),
        })
    }
}
