//! Resolver bodies both API roots share: sending, marking read and the `chatEvents`
//! subscription. Only the authorization and the arguments differ between the APIs; the
//! roots check and decode those, then call here.

use crate::domain::ids::{MessageId, SellerId};
use super::access::ensure_may_chat;
use super::context::ApiContext;
use super::error::{ApiError, Result};
use super::objects::message::MessageView;
use super::objects::payload::{into_payload, ChatMessageCreatePayload, ChatMessageReadPayload};
use crate::domain::cursor::EventCursor;
use crate::domain::ids::GlobalId;
use crate::metrics::SideLabels;
use crate::realtime::{FeedEvent, StreamError};
use crate::service::auth::Credential;
use crate::service::ServiceError;
use crate::store::CreateOutcome;
use async_graphql::{Context, ID};
use futures_util::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;

/// Cancelled when the connection must close (a subscriber fell too far behind).
#[derive(Clone, Default)]
pub struct ConnectionControl(pub CancellationToken);

/// Sends a message as the caller and shapes the payload.
pub async fn create_message<M: MessageView>(
    ctx: &Context<'_>,
    seller_id: SellerId,
    message: &str,
    client_mutation_id: Option<String>,
) -> Result<ChatMessageCreatePayload<M>> {
    let api = ApiContext::of(ctx);
    let principal = ensure_may_chat(ctx, "send messages")?;
    if let Some(credential) = ctx.data_opt::<Credential>() {
        api.limiter.send_with(*credential).map_err(ApiError::send_rate_limited)?;
    }
    let result = api.chat.send_message(principal, seller_id, message, client_mutation_id.as_deref()).await;
    let (outcome, errors) = into_payload(result)?;
    if let Some(CreateOutcome::Created(created)) = &outcome {
        let labels = SideLabels { sent_by: created.sent_by.as_str().to_owned() };
        api.metrics.messages_created.get_or_create(&labels).inc();
    }
    Ok(ChatMessageCreatePayload { chat_message: outcome.map(|o| M::from_record(o.message().clone())), errors, client_mutation_id })
}

/// Marks the other side's messages read as the caller and shapes the payload.
pub async fn mark_read(
    ctx: &Context<'_>,
    seller_id: SellerId,
    sent_by: &str,
    up_to: Option<&ID>,
    client_mutation_id: Option<String>,
) -> Result<ChatMessageReadPayload> {
    let principal = ensure_may_chat(ctx, "mark messages read")?;
    let result = match up_to.map(|id| GlobalId::decode_as::<MessageId>(id)).transpose() {
        Err(error) => Err(ServiceError::invalid("upTo", error.to_string())),
        Ok(up_to) => ApiContext::of(ctx).chat.mark_read(principal, seller_id, sent_by, up_to).await,
    };
    let (ids, errors) = into_payload(result)?;
    Ok(ChatMessageReadPayload { read_count: ids.map_or(0, |ids| ids.len() as i64), errors, client_mutation_id })
}

/// The error a subscription stream ends with; a subscriber too far behind also has its
/// connection closed.
fn stream_error(error: StreamError, control: Option<&ConnectionControl>) -> ApiError {
    if let (StreamError::TooSlow, Some(control)) = (&error, control) {
        control.0.cancel();
    }
    error.into()
}

/// The event stream for `seller_id` (every chat when `None`), resuming after `after`;
/// `wrap` puts each event in the calling API's `ChatEvent` union, or leaves it out
/// (`None`: an event that API does not carry).
pub async fn chat_events<U, W>(ctx: &Context<'_>, seller_id: Option<SellerId>, after: Option<String>, wrap: W) -> Result<impl Stream<Item = Result<U>> + use<U, W>>
where
    U: Send + 'static,
    W: Fn(&FeedEvent) -> Option<U> + Send + 'static,
{
    let after = after.map(|raw| EventCursor::decode(&raw)).transpose().map_err(|e| ApiError::bad_argument("after", e))?;
    let api = ApiContext::of(ctx);
    if seller_id.is_some() && !api.chat.chat_enabled().await? {
        return Err(StreamError::ChatDisabled.into());
    }
    let control = ctx.data_opt::<ConnectionControl>().cloned();
    let events = api.broker.subscribe(seller_id, after);
    Ok(events.filter_map(move |item| {
        let wrapped = match item {
            Ok(event) => wrap(&event).map(Ok),
            Err(error) => Some(Err(stream_error(error, control.as_ref()))),
        };
        std::future::ready(wrapped)
    }))
}

/// The newest readable feed position, as a cursor.
pub async fn current_cursor(ctx: &Context<'_>) -> Result<String> {
    Ok(ApiContext::of(ctx).chat.event_cursor().await?.encode())
}
