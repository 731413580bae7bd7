//! The Operator API's objects: `ChatMessage` (with its `seller`), `Chat`, `Seller`,
//! webhook endpoints with their delivery attempts, and the chat settings.

use super::connection::{message_page, Connection, Edge, PageInfo, TotalCount};
use super::support::{ChatNote, ChatNoteConnection, ChatStatusValue, OperatorUser};
use crate::domain::cursor::CursorError;
use crate::domain::ids::{GlobalId, NoteId};
use super::message::{MessageFields, MessageView};
use crate::api::access::ensure_settings_permission;
use crate::api::context::ApiContext;
use crate::api::error::{ApiError, Result};
use crate::domain::ids::{SellerId, WebhookId};
use crate::domain::paging::PageArgs;
use crate::domain::time::UnixMillis;
use crate::domain::Side;
use crate::store::{AttemptRecord, ChatRecord, MessageRecord, SellerRecord, WebhookRecord};
use async_graphql::{ComplexObject, Context, MergedObject, Object, SimpleObject, ID};
use std::sync::Arc;

/// The link from an operator-side message to its seller.
#[derive(Clone)]
pub struct MessageSellerLink(SellerId);

#[Object]
impl MessageSellerLink {
    /// The seller whose thread holds the message.
    async fn seller(&self, ctx: &Context<'_>) -> Result<SellerObject> {
        let seller = ApiContext::of(ctx).chat.seller(self.0).await?;
        seller.map(SellerObject).ok_or_else(|| ApiError::internal("message without seller"))
    }
}

/// `ChatMessage` on the Operator API: the shared fields plus `seller`.
#[derive(MergedObject, Clone)]
#[graphql(name = "ChatMessage")]
pub struct OperatorChatMessage(MessageFields, MessageSellerLink);

impl OperatorChatMessage {
    /// Global ID (for the `Node` interface).
    pub async fn id(&self, ctx: &Context<'_>) -> Result<ID> {
        self.0.id(ctx).await
    }
}

impl MessageView for OperatorChatMessage {
    fn from_record(record: MessageRecord) -> Self {
        let seller_id = record.seller_id;
        OperatorChatMessage(MessageFields { record: Arc::new(record), reveal_sender: true }, MessageSellerLink(seller_id))
    }
}

/// A seller account.
#[derive(Clone)]
pub struct SellerObject(pub SellerRecord);

#[Object(name = "Seller")]
impl SellerObject {
    /// Global ID.
    pub async fn id(&self, _ctx: &Context<'_>) -> Result<ID> {
        Ok(ID(self.0.id.gid()))
    }

    /// The seller's business name.
    async fn business_name(&self) -> &str {
        &self.0.business_name
    }

    /// The marketplace's own ID for this seller (set by `sellerUpsert` or the CLI); null
    /// when it has none.
    async fn external_id(&self) -> Option<&str> {
        self.0.external_id.as_deref()
    }

    /// The seller's one chat with the operator.
    async fn chat(&self, ctx: &Context<'_>) -> Result<ChatObject> {
        let chat = ApiContext::of(ctx).chat.chat(self.0.id).await?;
        chat.map(ChatObject).ok_or_else(|| ApiError::internal("seller without chat"))
    }
}

/// One seller's chat with the operator.
#[derive(Clone)]
pub struct ChatObject(pub ChatRecord);

#[Object(name = "Chat")]
impl ChatObject {
    /// Global ID.
    pub async fn id(&self, _ctx: &Context<'_>) -> Result<ID> {
        Ok(ID(self.0.seller.id.chat_gid()))
    }

    /// The seller on the other side.
    async fn seller(&self) -> SellerObject {
        SellerObject(self.0.seller.clone())
    }

    /// The newest message.
    async fn last_message(&self) -> Option<OperatorChatMessage> {
        self.0.last_message.clone().map(OperatorChatMessage::from_record)
    }

    /// Seller messages the operator has not read; at least 1 while the operator has the
    /// chat marked unread.
    async fn unread_count(&self) -> i64 {
        self.0.unread_for(Side::Admin)
    }

    /// Time of the newest message.
    async fn updated_at(&self) -> Option<String> {
        self.0.last_message.as_ref().map(|m| m.created_at.to_rfc3339())
    }

    /// createdAt of the oldest Seller message after the last Admin message; null when no
    /// Seller message waits for a reply.
    async fn awaiting_reply_since(&self) -> Option<String> {
        self.0.support.awaiting_since.map(|t| t.to_rfc3339())
    }

    /// OPEN or RESOLVED; a new Seller message reopens a resolved chat.
    async fn status(&self) -> ChatStatusValue {
        self.0.support.status.into()
    }

    /// The operator user the chat is assigned to; null when unassigned.
    async fn assignee(&self) -> Option<OperatorUser> {
        self.0.support.assignee.clone().map(OperatorUser::from)
    }

    /// Internal notes, newest first (`first` default 50, at most 500).
    async fn notes(&self, ctx: &Context<'_>, first: Option<i32>, after: Option<String>) -> Result<ChatNoteConnection> {
        let decode = |raw: &str| GlobalId::decode_as::<NoteId>(raw).map(NoteId::get).map_err(|_| CursorError);
        let page = PageArgs { first, after: after.as_deref(), ..Default::default() }.parse(decode).map_err(ApiError::bad_input)?;
        let found = ApiContext::of(ctx).support.notes(self.0.seller.id, page.cursor, page.limit).await?;
        let edges: Vec<Edge<ChatNote>> = found.items.into_iter().map(ChatNote::from).map(|n| Edge { cursor: n.id.to_string(), node: n }).collect();
        let page_info = PageInfo {
            has_next_page: found.has_more,
            has_previous_page: page.cursor.is_some(),
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        };
        Ok(ChatNoteConnection { page_info, nodes: edges.iter().map(|e| e.node.clone()).collect(), edges })
    }

    /// The thread, newest first.
    async fn messages(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<OperatorChatMessage>> {
        let args = PageArgs { first, after: after.as_deref(), last, before: before.as_deref() };
        message_page(&ApiContext::of(ctx).chat, self.0.seller.id, TotalCount::Known(self.0.message_count), args).await
    }
}

/// A webhook endpoint (never its secret).
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct WebhookEndpoint {
    /// Global ID.
    id: ID,
    /// Row number.
    #[graphql(skip)]
    number: WebhookId,
    /// Where deliveries are POSTed.
    url: String,
    /// The event types it receives.
    events: Vec<String>,
    /// When it was registered.
    created_at: String,
}

impl From<WebhookRecord> for WebhookEndpoint {
    fn from(record: WebhookRecord) -> Self {
        Self {
            id: ID(record.id.gid()),
            number: record.id,
            url: record.url,
            events: record.events,
            created_at: record.created_at.to_rfc3339(),
        }
    }
}

#[ComplexObject]
impl WebhookEndpoint {
    /// The latest delivery attempts, newest first (at most 100).
    async fn deliveries(&self, ctx: &Context<'_>, #[graphql(default = 20)] first: i32) -> Result<Vec<WebhookDeliveryAttempt>> {
        ensure_settings_permission(ctx)?;
        if !(1..=100).contains(&first) {
            return Err(ApiError::bad_argument("first", "must be between 1 and 100"));
        }
        let attempts = ApiContext::of(ctx).webhooks.attempts(self.number, i64::from(first)).await?;
        Ok(attempts.into_iter().map(WebhookDeliveryAttempt::from).collect())
    }
}

/// One attempt at delivering an event to a webhook endpoint.
#[derive(SimpleObject)]
pub struct WebhookDeliveryAttempt {
    /// When it was made.
    attempted_at: String,
    /// The HTTP status the endpoint answered, if it answered.
    status: Option<i32>,
    /// Why it failed (`HTTP 503`, `timed out`, `TLS certificate problem: …`), if it did.
    error: Option<String>,
    /// When the delivery is tried next, for its latest attempt while it is pending.
    next_retry_at: Option<String>,
    /// The event's ID (the same on every attempt of one delivery).
    event_id: String,
}

impl From<AttemptRecord> for WebhookDeliveryAttempt {
    fn from(record: AttemptRecord) -> Self {
        Self {
            attempted_at: record.attempted_at.to_rfc3339(),
            status: record.status.map(i32::from),
            error: record.error,
            next_retry_at: record.next_retry_at.map(UnixMillis::to_rfc3339),
            event_id: record.event_id,
        }
    }
}

/// The operator's chat settings.
#[derive(SimpleObject)]
pub struct ChatSettings {
    /// "Enable in-app chat": whether sellers can send.
    pub chat_enabled: bool,
}
