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
use crate::realtime::{EndReason, FeedEvent, StreamError};
use crate::service::auth::Credential;
use crate::service::ServiceError;
use crate::store::CreateOutcome;
use async_graphql::{Context, ID};
use futures_util::stream::{self, BoxStream};
use futures_util::StreamExt;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// Cancelled when the connection must close (a subscriber fell too far behind).
#[derive(Clone, Default)]
pub struct ConnectionControl(pub CancellationToken);

/// How `chatEvents` runs for the fan-out engine (request data); without it, it streams
/// the events itself.
#[derive(Clone)]
pub enum ChatEventsMode {
    /// Check everything as for a subscription, record what was asked, yield nothing: the
    /// engine delivers the events.
    Register(Registrations),
    /// Yield this one event (as every subscriber of the document sees it), unchecked.
    Render(FeedEvent),
    /// Yield the error that ends a subscription.
    End(EndReason),
}

/// What the `chatEvents` fields of a document asked for, in the register mode.
pub type Registrations = Arc<Mutex<Vec<Registration>>>;

/// One `chatEvents` field's checked arguments.
#[derive(Clone, Copy, Debug)]
pub struct Registration {
    /// The chat (every chat when `None`).
    pub seller_id: Option<SellerId>,
    /// Resume after this position (from now when `None`).
    pub after: Option<EventCursor>,
}

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

/// The event stream for the chat `caller` authorizes (`None`: every chat), resuming after
/// `after`; `wrap` puts each event in the calling API's `ChatEvent` union, or leaves it
/// out (`None`: an event that API does not carry). In the engine's modes
/// ([`ChatEventsMode`]) it only checks and records, or renders one given event.
pub async fn chat_events<U, W>(
    ctx: &Context<'_>,
    caller: impl FnOnce() -> Result<Option<SellerId>>,
    after: Option<String>,
    wrap: W,
) -> Result<BoxStream<'static, Result<U>>>
where
    U: Send + 'static,
    W: Fn(&FeedEvent) -> Option<U> + Send + 'static,
{
    let mode = ctx.data_opt::<ChatEventsMode>();
    match mode {
        Some(ChatEventsMode::Render(event)) => return Ok(stream::iter(wrap(event).map(Ok)).boxed()),
        Some(ChatEventsMode::End(reason)) => return Ok(stream::iter([Err(stream_error(reason.error(), None))]).boxed()),
        _ => {}
    }
    let seller_id = caller()?;
    let after = after.map(|raw| EventCursor::decode(&raw)).transpose().map_err(|e| ApiError::bad_argument("after", e))?;
    let api = ApiContext::of(ctx);
    if seller_id.is_some() && !api.chat.chat_enabled().await? {
        return Err(StreamError::ChatDisabled.into());
    }
    if let Some(ChatEventsMode::Register(registrations)) = mode {
        registrations.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(Registration { seller_id, after });
        return Ok(stream::empty().boxed());
    }
    let control = ctx.data_opt::<ConnectionControl>().cloned();
    let events = api.broker.subscribe(seller_id, after);
    Ok(events.filter_map(move |item| {
        let wrapped = match item {
            Ok(event) => wrap(&event).map(Ok),
            Err(error) => Some(Err(stream_error(error, control.as_ref()))),
        };
        std::future::ready(wrapped)
    })
    .boxed())
}

/// The newest readable feed position, as a cursor.
pub async fn current_cursor(ctx: &Context<'_>) -> Result<String> {
    Ok(ApiContext::of(ctx).chat.event_cursor().await?.encode())
}
