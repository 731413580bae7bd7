//! `chatEvents(after:)`: the subscription both APIs share. Each event carries a cursor
//! from the durable feed; passing the last one back as `after` resumes without a gap.

use super::errors::{bad_argument, internal};
use super::operator::OperatorChatMessage;
use super::seller::SellerChatMessage;
use super::types::{format_time, MessageView};
use crate::domain::cursor::EventCursor;
use crate::domain::ids::{message_gid, seller_gid};
use crate::realtime::{Broker, StreamError};
use crate::service::ChatService;
use crate::store::{EventKind, StoredEvent};
use async_graphql::{Context, Error, ErrorExtensions, Result, SimpleObject, ID};
use futures_util::{Stream, StreamExt};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Cancelled when the connection must close (a subscriber fell too far behind).
#[derive(Clone, Default)]
pub struct ConnectionControl(pub CancellationToken);

/// A message was sent.
#[allow(clippy::duplicated_attributes)]
#[derive(SimpleObject)]
#[graphql(
    concrete(name = "ChatMessageCreated", params(SellerChatMessage)),
    concrete(name = "ChatMessageCreated", params(OperatorChatMessage))
)]
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

/// Wraps a stored event in one API's `ChatEvent` union.
fn to_union<M: MessageView, U>(
    event: &StoredEvent,
    created: fn(ChatMessageCreated<M>) -> U,
    read: fn(ChatMessagesRead) -> U,
) -> U {
    let cursor = event.position.encode();
    match &event.kind {
        EventKind::MessageCreated(message) => created(ChatMessageCreated { cursor, chat_message: M::from_record(message.clone()) }),
        EventKind::MessagesRead { sent_by, read_at, message_ids } => read(ChatMessagesRead {
            cursor,
            seller_id: ID(seller_gid(event.seller_id)),
            sent_by_type: sent_by.as_str().to_owned(),
            read_at: format_time(*read_at),
            message_ids: message_ids.iter().map(|id| ID(message_gid(*id))).collect(),
        }),
    }
}

fn stream_error(error: StreamError, control: Option<&ConnectionControl>) -> Error {
    match error {
        StreamError::TooSlow => {
            if let Some(control) = control {
                control.0.cancel();
            }
            Error::new(error.to_string()).extend_with(|_, e| e.set("code", "SLOW_CONSUMER"))
        }
        StreamError::ChatDisabled => Error::new(error.to_string()).extend_with(|_, e| e.set("code", "CHAT_DISABLED")),
        StreamError::Store(error) => internal(error),
    }
}

/// The event stream for `seller_id` (every chat when `None`), resuming after `after`;
/// `created` and `read` wrap each event in the calling API's `ChatEvent` union.
pub async fn chat_events<M, U>(
    ctx: &Context<'_>,
    seller_id: Option<i64>,
    after: Option<String>,
    created: fn(ChatMessageCreated<M>) -> U,
    read: fn(ChatMessagesRead) -> U,
) -> Result<impl Stream<Item = Result<U>> + use<M, U>>
where
    M: MessageView,
    U: Send + 'static,
{
    let after = after
        .map(|raw| EventCursor::decode(&raw))
        .transpose()
        .map_err(|e| bad_argument("after", e))?;
    let service = ctx.data_unchecked::<ChatService>();
    if seller_id.is_some() && !service.chat_enabled().await.map_err(internal)? {
        return Err(stream_error(StreamError::ChatDisabled, None));
    }
    let broker = ctx.data_unchecked::<Arc<Broker>>();
    let control = ctx.data_opt::<ConnectionControl>().cloned();
    let events = broker.subscribe(service.shared_store(), seller_id, after);
    Ok(events.map(move |item| match item {
        Ok(event) => Ok(to_union(&event, created, read)),
        Err(error) => Err(stream_error(error, control.as_ref())),
    }))
}

/// The newest readable feed position, as a cursor.
pub async fn current_cursor(ctx: &Context<'_>) -> Result<String> {
    let store = ctx.data_unchecked::<ChatService>().store();
    Ok(store.last_event_position().await.map_err(internal)?.encode())
}
