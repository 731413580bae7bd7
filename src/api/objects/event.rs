//! The events `chatEvents` delivers, both carrying a cursor of the durable feed to
//! resume after.

use super::message::MessageView;
use crate::realtime::FeedEvent;
use crate::store::EventKind;
use async_graphql::{SimpleObject, ID};

/// A message was sent.
#[derive(SimpleObject)]
pub struct ChatMessageCreated<M: MessageView> {
    /// Pass as `after` to resume after this event.
    pub cursor: String,
    /// The new message.
    pub chat_message: M,
}

/// Messages were marked read by the other side.
#[derive(SimpleObject)]
pub struct ChatMessagesRead {
    /// Pass as `after` to resume after this event.
    pub cursor: String,
    /// The chat's seller.
    pub seller_id: ID,
    /// Whose messages were read: `Admin` or `Seller`.
    pub sent_by_type: String,
    /// The `readAt` they now have.
    pub read_at: String,
    /// The messages that changed.
    pub message_ids: Vec<ID>,
}

/// Wraps a feed event both APIs carry in one API's `ChatEvent` union; `None` for the
/// support inbox's operator-side events (which only the operator's union wraps).
pub fn to_union<M: MessageView, U>(event: &FeedEvent, created: fn(ChatMessageCreated<M>) -> U, read: fn(ChatMessagesRead) -> U) -> Option<U> {
    let cursor = event.position.encode();
    Some(match &event.kind {
        EventKind::ChatUpdated | EventKind::NoteCreated(_) => return None,
        EventKind::MessageCreated(message) => created(ChatMessageCreated { cursor, chat_message: M::from_record(message.clone()) }),
        EventKind::MessagesRead { sent_by, read_at, message_ids } => read(ChatMessagesRead {
            cursor,
            seller_id: ID(event.seller_id.gid()),
            sent_by_type: sent_by.as_str().to_owned(),
            read_at: read_at.to_rfc3339(),
            message_ids: message_ids.iter().map(|id| ID(id.gid())).collect(),
        }),
    })
}
