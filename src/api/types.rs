//! GraphQL types both APIs share: messages, connections, page info, payload errors.

use super::auth::Credential;
use super::errors::{forbidden, internal, RATE_LIMITED};
use super::rate_limit::RateLimiter;
use super::operator::{ChatObject, OperatorChatMessage, SellerObject};
use super::seller::SellerChatMessage;
use crate::domain::cursor::MessageCursor;
use crate::domain::ids::{message_gid, GlobalId, IdKind};
use crate::domain::Principal;
use crate::domain::paging::{Direction, PageArgs, PageRequest};
use crate::service::{ChatService, ServiceError};
use crate::metrics::{Metrics, SideLabels};
use crate::store::{CreateOutcome, MessageRecord};
use async_graphql::{Context, Error, ErrorExtensions, Object, OutputType, Result, SimpleObject, ID};
use chrono::{DateTime, SecondsFormat};
use std::sync::Arc;

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-25T09:15:02.123Z`.
pub fn format_time(unix_ms: i64) -> String {
    DateTime::from_timestamp_millis(unix_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A user-fixable problem with a mutation's input.
#[derive(SimpleObject, Clone, Debug)]
pub struct ValidationError {
    /// The input field, or `base` for the request as a whole.
    pub field: String,
    /// What is wrong, in words.
    pub messages: Vec<String>,
}

impl ValidationError {
    /// One message on one field.
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self { field: field.to_owned(), messages: vec![message.into()] }
    }
}

/// Splits a service result into the payload's value and its `errors`, or a GraphQL
/// error for what the caller cannot fix.
pub fn into_payload<T>(result: Result<T, ServiceError>) -> Result<(Option<T>, Option<Vec<ValidationError>>)> {
    match result {
        Ok(value) => Ok((Some(value), None)),
        Err(ServiceError::Invalid { field, message }) => Ok((None, Some(vec![ValidationError::new(field, message)]))),
        Err(ServiceError::Store(error)) => Err(internal(error)),
    }
}

/// Relay page information.
#[derive(SimpleObject, Clone, Debug, Default)]
pub struct PageInfo {
    /// More items follow the last one.
    pub has_next_page: bool,
    /// Items precede the first one.
    pub has_previous_page: bool,
    /// Cursor of the first item.
    pub start_cursor: Option<String>,
    /// Cursor of the last item.
    pub end_cursor: Option<String>,
}

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
        Ok(ID(message_gid(self.record.id)))
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
        format_time(self.record.created_at)
    }

    /// When the other side read it; null until then.
    async fn read_at(&self) -> Option<String> {
        self.record.read_at.map(format_time)
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

/// One edge of a connection: a node and its cursor.
// The same GraphQL name twice is intended: each API's schema gets its own `ChatMessage`.
#[allow(clippy::duplicated_attributes)]
#[derive(SimpleObject, Clone)]
#[graphql(
    concrete(name = "ChatMessageEdge", params(SellerChatMessage)),
    concrete(name = "ChatMessageEdge", params(OperatorChatMessage)),
    concrete(name = "ChatEdge", params(ChatObject)),
    concrete(name = "SellerEdge", params(SellerObject))
)]
pub struct Edge<N: OutputType> {
    /// Opaque, stable position of the node.
    pub cursor: String,
    /// The item.
    pub node: N,
}

/// How a connection learns its `totalCount`: known already, or counted only when asked.
#[derive(Clone, Debug)]
pub enum TotalCount {
    /// Maintained on a row (a thread's message count) and already read.
    Known(i64),
    /// A thread's message count, read from its chat row only when asked for.
    Thread(i64),
    /// Chats matching the list's filters.
    Chats {
        /// `unreadOnly` as given.
        unread_only: bool,
        /// `search` as given.
        search: Option<String>,
    },
    /// Sellers matching `search`.
    Sellers {
        /// `search` as given.
        search: Option<String>,
    },
}

/// A Relay connection: `totalCount`, `pageInfo`, `nodes` and `edges`.
pub struct Connection<N: OutputType> {
    /// How to find the total.
    pub total: TotalCount,
    /// Page flags and cursors.
    pub page_info: PageInfo,
    /// The items with their cursors.
    pub edges: Vec<Edge<N>>,
}

impl<N: OutputType> Connection<N> {
    /// A connection over `items`, each paired with its cursor by `cursor_of`.
    pub fn new<T>(total: TotalCount, items: Vec<T>, cursor_of: impl Fn(&T) -> String, node_of: impl Fn(T) -> N) -> Self {
        let edges: Vec<Edge<N>> = items.into_iter().map(|item| Edge { cursor: cursor_of(&item), node: node_of(item) }).collect();
        let page_info = PageInfo {
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
            ..PageInfo::default()
        };
        Self { total, page_info, edges }
    }

    /// Sets the page flags.
    pub fn with_flags(mut self, has_next_page: bool, has_previous_page: bool) -> Self {
        self.page_info.has_next_page = has_next_page;
        self.page_info.has_previous_page = has_previous_page;
        self
    }
}

#[Object(
    concrete(name = "ChatMessageConnection", params(SellerChatMessage)),
    concrete(name = "ChatMessageConnection", params(OperatorChatMessage)),
    concrete(name = "ChatConnection", params(ChatObject)),
    concrete(name = "SellerConnection", params(SellerObject))
)]
impl<N: OutputType + Clone> Connection<N>
where
    Edge<N>: OutputType,
{
    /// Items in the whole list (not just this page).
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i64> {
        let store = ctx.data_unchecked::<ChatService>().store();
        let count = match &self.total {
            TotalCount::Known(count) => return Ok(*count),
            TotalCount::Thread(seller_id) => store.chat(*seller_id).await.map(|c| c.map_or(0, |c| c.message_count)),
            TotalCount::Chats { unread_only, search } => store.count_chats(*unread_only, search.as_deref()).await,
            TotalCount::Sellers { search } => store.count_sellers(search.as_deref()).await,
        };
        count.map_err(internal)
    }

    /// Where this page lies in the list.
    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }

    /// The items of this page.
    async fn nodes(&self) -> Vec<N> {
        self.edges.iter().map(|edge| edge.node.clone()).collect()
    }

    /// The items with their cursors.
    async fn edges(&self) -> &[Edge<N>] {
        &self.edges
    }
}

/// Reads one page of `seller_id`'s thread for the Relay arguments in `args`; `total`
/// says where `totalCount` comes from (a chat row the caller already has, or read lazily).
pub async fn message_page<M: MessageView>(
    service: &ChatService,
    seller_id: i64,
    total: TotalCount,
    args: PageArgs<'_>,
) -> Result<Connection<M>> {
    let page = args
        .parse(|raw| MessageCursor::decode_for(raw, seller_id).map(|cursor| cursor.seq))
        .map_err(super::errors::bad_input)?;
    let found = service.store().list_messages(seller_id, &page).await.map_err(internal)?;
    let (has_next, has_previous) = page_flags(service, seller_id, &page, found.has_more).await?;
    let cursor_of = |m: &MessageRecord| MessageCursor { seller_id, seq: m.seq }.encode();
    Ok(Connection::new(total, found.messages, cursor_of, M::from_record)
        .with_flags(has_next, has_previous))
}

/// Page flags (next, previous): the requested direction comes from the query; the
/// other from one indexed existence check beyond the cursor.
async fn page_flags(service: &ChatService, seller_id: i64, page: &PageRequest<i64>, has_more: bool) -> Result<(bool, bool)> {
    let beyond_cursor = match page.cursor {
        None => false,
        Some(seq) => service
            .store()
            .has_messages_beyond(seller_id, seq, page.direction == Direction::Forward)
            .await
            .map_err(internal)?,
    };
    Ok(match page.direction {
        Direction::Forward => (has_more, beyond_cursor),
        Direction::Backward => (beyond_cursor, has_more),
    })
}


/// Result of `chatMessageCreate`.
#[allow(clippy::duplicated_attributes)]
#[derive(SimpleObject)]
#[graphql(
    concrete(name = "ChatMessageCreatePayload", params(SellerChatMessage)),
    concrete(name = "ChatMessageCreatePayload", params(OperatorChatMessage))
)]
pub struct ChatMessageCreatePayload<M: MessageView> {
    /// The stored message (or, for a repeated `clientMutationId`, the original one).
    pub chat_message: Option<M>,
    /// What was wrong with the input; nothing was stored when this is non-empty.
    pub errors: Option<Vec<ValidationError>>,
    /// Echo of the input's `clientMutationId`.
    pub client_mutation_id: Option<String>,
}

impl<M: MessageView> ChatMessageCreatePayload<M> {
    /// A payload refusing the input with one error on `field`.
    pub fn invalid(field: &str, error: impl std::fmt::Display, client_mutation_id: Option<String>) -> Self {
        Self { chat_message: None, errors: Some(vec![ValidationError::new(field, error.to_string())]), client_mutation_id }
    }
}

/// Sends a message as the caller and shapes the payload.
pub async fn create_message<M: MessageView>(
    ctx: &Context<'_>,
    seller_id: i64,
    message: &str,
    client_mutation_id: Option<String>,
) -> Result<ChatMessageCreatePayload<M>> {
    let service = ctx.data_unchecked::<ChatService>();
    let principal = ctx.data_unchecked::<Principal>();
    if !principal.may_chat() {
        return Err(forbidden("your role may not send messages"));
    }
    if let Some(credential) = ctx.data_opt::<Credential>() {
        if let Err(limited) = ctx.data_unchecked::<Arc<RateLimiter>>().send_with(*credential) {
            let seconds = limited.retry_after_secs();
            return Err(Error::new(format!("send rate limit exceeded; retry after {seconds} s"))
                .extend_with(|_, e| {
                    e.set("code", RATE_LIMITED);
                    e.set("retryAfter", seconds);
                }));
        }
    }
    let result = service.send_message(principal, seller_id, message, client_mutation_id.as_deref()).await;
    let (outcome, errors) = into_payload(result)?;
    if let Some(CreateOutcome::Created(created)) = &outcome {
        let labels = SideLabels { sent_by: created.sent_by.as_str().to_owned() };
        ctx.data_unchecked::<Arc<Metrics>>().messages_created.get_or_create(&labels).inc();
    }
    Ok(ChatMessageCreatePayload {
        chat_message: outcome.map(|o| M::from_record(o.message().clone())),
        errors,
        client_mutation_id,
    })
}

/// Result of `chatMessageRead`.
#[derive(SimpleObject)]
pub struct ChatMessageReadPayload {
    /// How many messages this call marked read.
    pub read_count: i64,
    /// What was wrong with the input; nothing changed when this is non-empty.
    pub errors: Option<Vec<ValidationError>>,
    /// Echo of the input's `clientMutationId`.
    pub client_mutation_id: Option<String>,
}

impl ChatMessageReadPayload {
    /// A payload refusing the input with one error on `field`.
    pub fn invalid(field: &str, error: impl std::fmt::Display, client_mutation_id: Option<String>) -> Self {
        Self { read_count: 0, errors: Some(vec![ValidationError::new(field, error.to_string())]), client_mutation_id }
    }
}

/// Marks the other side's messages read as the caller and shapes the payload.
pub async fn mark_read(
    ctx: &Context<'_>,
    seller_id: i64,
    sent_by: &str,
    up_to: Option<&ID>,
    client_mutation_id: Option<String>,
) -> Result<ChatMessageReadPayload> {
    let service = ctx.data_unchecked::<ChatService>();
    let principal = ctx.data_unchecked::<Principal>();
    if !principal.may_chat() {
        return Err(forbidden("your role may not mark messages read"));
    }
    let result = match up_to.map(|id| GlobalId::decode_as(id, IdKind::ChatMessage)).transpose() {
        Err(error) => Err(ServiceError::invalid("upTo", error.to_string())),
        Ok(up_to) => service.mark_read(principal, seller_id, sent_by, up_to).await,
    };
    let (ids, errors) = into_payload(result)?;
    Ok(ChatMessageReadPayload { read_count: ids.map_or(0, |ids| ids.len() as i64), errors, client_mutation_id })
}

/// A message as `marketchat export` prints it (one JSON object a line).
pub fn export_record(message: &MessageRecord) -> serde_json::Value {
    serde_json::json!({
        "id": message_gid(message.id),
        "sellerId": crate::domain::ids::seller_gid(message.seller_id),
        "sentByType": message.sent_by.as_str(),
        "sentBy": message.sender_label,
        "message": message.body,
        "createdAt": format_time(message.created_at),
        "readAt": message.read_at.map(format_time),
    })
}
