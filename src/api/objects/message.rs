//! The fields every `ChatMessage` has on both APIs, and how an API wraps a stored message.

use crate::domain::time::UnixMillis;
use crate::store::MessageRecord;
use crate::api::error::Result;
use async_graphql::{Context, Object, OutputType, ID};
use std::sync::Arc;

/// The fields every `ChatMessage` has on both APIs.
#[derive(Clone, Debug)]
pub struct MessageFields {
    /// The stored message.
    pub record: Arc<MessageRecord>,
    /// Whether `sentBy` names the operator's key or user (operator API only).
    pub reveal_sender: bool,
}

/// Registered under its own name only while merging; never left in a schema.
#[Object(name = "ChatMessageFields")]
impl MessageFields {
    /// Global ID.
    pub async fn id(&self, _ctx: &Context<'_>) -> Result<ID> {
        Ok(ID(self.record.id.gid()))
    }

    /// The text.
    async fn message(&self) -> &str {
        &self.record.body
    }

    /// `Admin` or `Seller`.
    async fn sent_by_type(&self) -> &'static str {
        self.record.sent_by.as_str()
    }

    /// When it was sent (RFC 3339, UTC, milliseconds).
    async fn created_at(&self) -> String {
        self.record.created_at.to_rfc3339()
    }

    /// When the other side read it; null until then.
    async fn read_at(&self) -> Option<String> {
        self.record.read_at.map(UnixMillis::to_rfc3339)
    }

    /// Operator API: the operator key's label or user's name. Seller API: always null.
    async fn sent_by(&self) -> Option<&str> {
        if self.reveal_sender {
            self.record.sender_label.as_deref()
        } else {
            None
        }
    }
}

/// A `ChatMessage` as one API shows it.
pub trait MessageView: OutputType + Clone {
    /// Wraps a stored message.
    fn from_record(record: MessageRecord) -> Self;
}
