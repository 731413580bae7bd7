//! The Operator API (`/graphql/operator`): every seller's chat, one operator persona.

use super::errors::{bad_argument, bad_input, forbidden, internal, unauthenticated};
use super::types::{
    create_message, format_time, mark_read, message_page, ChatMessageCreatePayload, ChatMessageReadPayload, Connection,
    MessageFields, MessageView, TotalCount,
};
use crate::domain::cursor::{ChatCursor, SellerCursor};
use crate::domain::ids::{chat_gid, seller_gid, GlobalId, IdKind};
use crate::domain::paging::PageArgs;
use crate::domain::{Principal, Side};
use crate::service::ChatService;
use crate::store::{ChatListQuery, ChatRecord, MessageRecord, SellerListQuery, SellerRecord};
use super::events::{chat_events, ChatMessageCreated, ChatMessagesRead};
use async_graphql::{ComplexObject, Context, InputObject, Interface, MergedObject, Object, Result, Schema, SimpleObject, Subscription, Union, ID};
use futures_util::Stream;
use std::sync::Arc;

/// The Operator API schema.
pub type OperatorSchema = Schema<OperatorQuery, OperatorMutation, OperatorSubscription>;

fn service<'a>(ctx: &Context<'a>) -> &'a ChatService {
    ctx.data_unchecked::<ChatService>()
}

/// Refuses anything but an operator credential.
fn ensure_operator(ctx: &Context<'_>) -> Result<()> {
    match ctx.data_opt::<Principal>() {
        Some(Principal::Operator { .. }) => Ok(()),
        _ => Err(unauthenticated()),
    }
}

/// Decodes a `sellerId` argument of a query.
fn seller_argument(raw: &ID) -> Result<i64> {
    GlobalId::decode_as(raw, IdKind::Seller).map_err(|e| bad_argument("sellerId", e))
}

/// The link from an operator-side message to its seller.
#[derive(Clone)]
pub struct MessageSellerLink(i64);

#[Object]
impl MessageSellerLink {
    /// The seller whose thread holds the message.
    async fn seller(&self, ctx: &Context<'_>) -> Result<SellerObject> {
        let seller = service(ctx).store().seller(self.0).await.map_err(internal)?;
        seller.map(SellerObject).ok_or_else(|| internal("message without seller"))
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
        OperatorChatMessage(
            MessageFields { record: Arc::new(record), reveal_sender: true },
            MessageSellerLink(seller_id),
        )
    }
}

/// A seller account.
#[derive(Clone)]
pub struct SellerObject(pub SellerRecord);

#[Object(name = "Seller")]
impl SellerObject {
    /// Global ID.
    pub async fn id(&self, _ctx: &Context<'_>) -> Result<ID> {
        Ok(ID(seller_gid(self.0.id)))
    }

    /// The seller's business name.
    async fn business_name(&self) -> &str {
        &self.0.business_name
    }

    /// The seller's one chat with the operator.
    async fn chat(&self, ctx: &Context<'_>) -> Result<ChatObject> {
        let chat = service(ctx).store().chat(self.0.id).await.map_err(internal)?;
        chat.map(ChatObject).ok_or_else(|| internal("seller without chat"))
    }
}

/// One seller's chat with the operator.
#[derive(Clone)]
pub struct ChatObject(pub ChatRecord);

#[Object(name = "Chat")]
impl ChatObject {
    /// Global ID.
    pub async fn id(&self, _ctx: &Context<'_>) -> Result<ID> {
        Ok(ID(chat_gid(self.0.seller.id)))
    }

    /// The seller on the other side.
    async fn seller(&self) -> SellerObject {
        SellerObject(self.0.seller.clone())
    }

    /// The newest message.
    async fn last_message(&self) -> Option<OperatorChatMessage> {
        self.0.last_message.clone().map(OperatorChatMessage::from_record)
    }

    /// Seller messages the operator has not read.
    async fn unread_count(&self) -> i64 {
        self.0.unread_for(Side::Admin)
    }

    /// Time of the newest message.
    async fn updated_at(&self) -> Option<String> {
        self.0.last_message.as_ref().map(|m| format_time(m.created_at))
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
        message_page(service(ctx), self.0.seller.id, TotalCount::Known(self.0.message_count), args).await
    }
}

/// Objects the operator can fetch by global ID.
#[derive(Interface)]
#[graphql(name = "Node", field(name = "id", ty = "ID"))]
pub enum OperatorNode {
    /// A message in any thread.
    ChatMessage(OperatorChatMessage),
    /// A seller's chat.
    Chat(ChatObject),
    /// A seller.
    Seller(SellerObject),
}

/// Operator API queries.
pub struct OperatorQuery;

#[Object(name = "Query")]
impl OperatorQuery {
    /// Chats with at least one message, most recently active first.
    async fn chats(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        unread_only: Option<bool>,
        search: Option<String>,
    ) -> Result<Connection<ChatObject>> {
        ensure_operator(ctx)?;
        let page = PageArgs { first, after: after.as_deref(), ..Default::default() }
            .parse(ChatCursor::decode)
            .map_err(bad_input)?;
        let unread_only = unread_only.unwrap_or(false);
        let query = ChatListQuery { limit: page.limit, after: page.cursor, unread_only, search: search.clone() };
        let found = service(ctx).store().list_chats(&query).await.map_err(internal)?;
        let cursor_of = |chat: &ChatRecord| ChatCursor { last_message_id: chat.last_message.as_ref().map_or(0, |m| m.id) }.encode();
        Ok(Connection::new(TotalCount::Chats { unread_only, search }, found.items, cursor_of, ChatObject)
            .with_flags(found.has_more, page.cursor.is_some()))
    }

    /// One seller's chat; null for an unknown seller.
    async fn chat(&self, ctx: &Context<'_>, seller_id: ID) -> Result<Option<ChatObject>> {
        ensure_operator(ctx)?;
        let chat = service(ctx).store().chat(seller_argument(&seller_id)?).await.map_err(internal)?;
        Ok(chat.map(ChatObject))
    }

    /// One seller's thread, newest first.
    async fn chat_messages(
        &self,
        ctx: &Context<'_>,
        seller_id: ID,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<OperatorChatMessage>> {
        ensure_operator(ctx)?;
        let seller_id = seller_argument(&seller_id)?;
        let Some(chat) = service(ctx).store().chat(seller_id).await.map_err(internal)? else {
            return Err(bad_argument("sellerId", "does not exist"));
        };
        let args = PageArgs { first, after: after.as_deref(), last, before: before.as_deref() };
        message_page(service(ctx), seller_id, TotalCount::Known(chat.message_count), args).await
    }

    /// All sellers by business name.
    async fn sellers(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        search: Option<String>,
    ) -> Result<Connection<SellerObject>> {
        ensure_operator(ctx)?;
        let page = PageArgs { first, after: after.as_deref(), ..Default::default() }
            .parse(SellerCursor::decode)
            .map_err(bad_input)?;
        let has_previous = page.cursor.is_some();
        let query = SellerListQuery { limit: page.limit, after: page.cursor, search: search.clone() };
        let found = service(ctx).store().list_sellers(&query).await.map_err(internal)?;
        let cursor_of = |s: &SellerRecord| SellerCursor { name_key: s.business_name.to_lowercase(), seller_id: s.id }.encode();
        Ok(Connection::new(TotalCount::Sellers { search }, found.items, cursor_of, SellerObject)
            .with_flags(found.has_more, has_previous))
    }

    /// Seller messages the operator has not read, over all chats.
    async fn chat_unread_count(&self, ctx: &Context<'_>) -> Result<i64> {
        ensure_operator(ctx)?;
        service(ctx).store().operator_unread_total().await.map_err(internal)
    }

    /// The event feed's current position: read it before loading chats, then pass it as
    /// `chatEvents(after:)` so nothing sent in between is missed.
    async fn chat_event_cursor(&self, ctx: &Context<'_>) -> Result<String> {
        ensure_operator(ctx)?;
        super::events::current_cursor(ctx).await
    }

    /// Registered webhook endpoints (Full Admins and operator API keys).
    async fn webhook_endpoints(&self, ctx: &Context<'_>) -> Result<Vec<WebhookEndpoint>> {
        ensure_settings_permission(ctx)?;
        let all = service(ctx).store().list_webhooks().await.map_err(internal)?;
        Ok(all.into_iter().filter(|e| e.removed_at.is_none()).map(WebhookEndpoint::from).collect())
    }

    /// The operator's settings.
    async fn chat_settings(&self, ctx: &Context<'_>) -> Result<ChatSettings> {
        ensure_operator(ctx)?;
        let chat_enabled = service(ctx).chat_enabled().await.map_err(internal)?;
        Ok(ChatSettings { chat_enabled })
    }

    /// Any message, chat or seller by global ID.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<OperatorNode>> {
        ensure_operator(ctx)?;
        let id = GlobalId::decode(&id).map_err(|e| bad_argument("id", e))?;
        let store = service(ctx).store();
        let node = match id.kind {
            IdKind::ChatMessage => store.message(id.number).await.map_err(internal)?.map(|m| OperatorNode::ChatMessage(OperatorChatMessage::from_record(m))),
            IdKind::Chat => store.chat(id.number).await.map_err(internal)?.map(|c| OperatorNode::Chat(ChatObject(c))),
            IdKind::Seller => store.seller(id.number).await.map_err(internal)?.map(|s| OperatorNode::Seller(SellerObject(s))),
            IdKind::ApiKey | IdKind::WebhookEndpoint | IdKind::OperatorUser | IdKind::SellerUser => None,
        };
        Ok(node)
    }
}

/// Input of the operator's `chatMessageCreate`.
#[derive(InputObject)]
#[graphql(name = "ChatMessageCreateInput")]
pub struct OperatorMessageCreateInput {
    /// The seller whose thread to write into.
    seller_id: ID,
    /// The text; surrounding whitespace is trimmed.
    message: String,
    /// Repeat it to retry safely: the first message it created is returned.
    client_mutation_id: Option<String>,
}

/// Input of the operator's `chatMessageRead`.
#[derive(InputObject)]
#[graphql(name = "ChatMessageReadInput")]
pub struct OperatorMessageReadInput {
    /// The seller whose thread to mark.
    seller_id: ID,
    /// Whose messages to mark read: must be `"Seller"`.
    sent_by: String,
    /// Only messages up to and including this one.
    up_to: Option<ID>,
    /// Echoed back.
    client_mutation_id: Option<String>,
}

/// A webhook endpoint (never its secret).
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct WebhookEndpoint {
    /// Global ID.
    id: ID,
    /// Row number.
    #[graphql(skip)]
    number: i64,
    /// Where deliveries are POSTed.
    url: String,
    /// The event types it receives.
    events: Vec<String>,
    /// When it was registered.
    created_at: String,
}

impl From<crate::store::WebhookRecord> for WebhookEndpoint {
    fn from(record: crate::store::WebhookRecord) -> Self {
        Self {
            id: ID(GlobalId::new(IdKind::WebhookEndpoint, record.id).encode()),
            number: record.id,
            url: record.url,
            events: record.events,
            created_at: format_time(record.created_at),
        }
    }
}

#[ComplexObject]
impl WebhookEndpoint {
    /// The latest delivery attempts, newest first (at most 100).
    async fn deliveries(&self, ctx: &Context<'_>, #[graphql(default = 20)] first: i32) -> Result<Vec<WebhookDeliveryAttempt>> {
        ensure_settings_permission(ctx)?;
        if !(1..=100).contains(&first) {
            return Err(bad_argument("first", "must be between 1 and 100"));
        }
        let attempts = service(ctx).store().webhook_attempts(self.number, i64::from(first)).await.map_err(internal)?;
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

impl From<crate::store::AttemptRecord> for WebhookDeliveryAttempt {
    fn from(record: crate::store::AttemptRecord) -> Self {
        Self {
            attempted_at: format_time(record.attempted_at),
            status: record.status.map(i32::from),
            error: record.error,
            next_retry_at: record.next_retry_at.map(format_time),
            event_id: record.event_id,
        }
    }
}

/// Input of `webhookEndpointCreate`.
#[derive(InputObject)]
pub struct WebhookEndpointCreateInput {
    /// An http(s) URL.
    url: String,
    /// `chat_message.created`, `chat_message.read` (default: both).
    events: Option<Vec<String>>,
}

/// Result of `webhookEndpointCreate`.
#[derive(SimpleObject)]
pub struct WebhookEndpointCreatePayload {
    /// The new endpoint.
    webhook_endpoint: Option<WebhookEndpoint>,
    /// Its signing secret, shown only in this answer.
    secret: Option<String>,
    /// What was wrong with the input.
    errors: Option<Vec<super::types::ValidationError>>,
}

/// Input of `webhookEndpointDelete`.
#[derive(InputObject)]
pub struct WebhookEndpointDeleteInput {
    /// The endpoint's ID.
    id: ID,
}

/// Result of `webhookEndpointDelete`.
#[derive(SimpleObject)]
pub struct WebhookEndpointDeletePayload {
    /// Whether an endpoint was removed.
    removed: bool,
    /// What was wrong with the input.
    errors: Option<Vec<super::types::ValidationError>>,
}

fn ensure_settings_permission(ctx: &Context<'_>) -> Result<()> {
    ensure_operator(ctx)?;
    if ctx.data_unchecked::<Principal>().may_change_settings() {
        Ok(())
    } else {
        Err(forbidden("only a Full Admin may change settings"))
    }
}

/// The operator's chat settings.
#[derive(SimpleObject)]
pub struct ChatSettings {
    /// "Enable in-app chat": whether sellers can send.
    chat_enabled: bool,
}

/// Input of `chatSettingsUpdate`.
#[derive(InputObject)]
pub struct ChatSettingsUpdateInput {
    /// "Enable in-app chat".
    chat_enabled: bool,
}

/// Operator API mutations.
pub struct OperatorMutation;

#[Object(name = "Mutation")]
impl OperatorMutation {
    /// Registers a webhook endpoint (Full Admins and operator API keys).
    async fn webhook_endpoint_create(&self, ctx: &Context<'_>, input: WebhookEndpointCreateInput) -> Result<WebhookEndpointCreatePayload> {
        ensure_settings_permission(ctx)?;
        let invalid = |field: &str, message: String| WebhookEndpointCreatePayload {
            webhook_endpoint: None,
            secret: None,
            errors: Some(vec![super::types::ValidationError::new(field, message)]),
        };
        let policy = ctx.data_opt::<crate::webhooks::DestinationPolicy>().copied().unwrap_or_default();
        let url = match crate::webhooks::check_url(&input.url, policy) {
            Ok(url) => url,
            Err(message) => return Ok(invalid("url", message)),
        };
        let events = match crate::webhooks::parse_event_types(input.events.map(|e| e.join(",")).as_deref()) {
            Ok(events) => events,
            Err(message) => return Ok(invalid("events", message)),
        };
        let secret = crate::webhooks::new_secret();
        let record = service(ctx).store().create_webhook(&url, &secret, &events, service(ctx).now()).await.map_err(internal)?;
        Ok(WebhookEndpointCreatePayload { webhook_endpoint: Some(record.into()), secret: Some(secret), errors: None })
    }

    /// Removes a webhook endpoint (Full Admins and operator API keys).
    async fn webhook_endpoint_delete(&self, ctx: &Context<'_>, input: WebhookEndpointDeleteInput) -> Result<WebhookEndpointDeletePayload> {
        ensure_settings_permission(ctx)?;
        let id = match GlobalId::decode_as(&input.id, IdKind::WebhookEndpoint) {
            Ok(id) => id,
            Err(error) => {
                return Ok(WebhookEndpointDeletePayload {
                    removed: false,
                    errors: Some(vec![super::types::ValidationError::new("id", error.to_string())]),
                })
            }
        };
        let removed = service(ctx).store().remove_webhook(id, service(ctx).now()).await.map_err(internal)?;
        Ok(WebhookEndpointDeletePayload { removed, errors: None })
    }

    /// Changes settings (operator API keys and Full Admin users only).
    async fn chat_settings_update(&self, ctx: &Context<'_>, input: ChatSettingsUpdateInput) -> Result<ChatSettings> {
        ensure_settings_permission(ctx)?;
        service(ctx).set_chat_enabled(input.chat_enabled).await.map_err(internal)?;
        Ok(ChatSettings { chat_enabled: input.chat_enabled })
    }

    /// Sends a message into a seller's thread.
    async fn chat_message_create(
        &self,
        ctx: &Context<'_>,
        input: OperatorMessageCreateInput,
    ) -> Result<ChatMessageCreatePayload<OperatorChatMessage>> {
        ensure_operator(ctx)?;
        match GlobalId::decode_as(&input.seller_id, IdKind::Seller) {
            Ok(seller_id) => create_message(ctx, seller_id, &input.message, input.client_mutation_id).await,
            Err(error) => Ok(ChatMessageCreatePayload::invalid("sellerId", error, input.client_mutation_id)),
        }
    }

    /// Marks a seller's messages read.
    async fn chat_message_read(&self, ctx: &Context<'_>, input: OperatorMessageReadInput) -> Result<ChatMessageReadPayload> {
        ensure_operator(ctx)?;
        match GlobalId::decode_as(&input.seller_id, IdKind::Seller) {
            Ok(seller_id) => mark_read(ctx, seller_id, &input.sent_by, input.up_to.as_ref(), input.client_mutation_id).await,
            Err(error) => Ok(ChatMessageReadPayload::invalid("sellerId", error, input.client_mutation_id)),
        }
    }
}

/// An event in any chat.
#[derive(Union)]
#[graphql(name = "ChatEvent")]
pub enum OperatorChatEvent {
    /// A message was sent (by either side).
    ChatMessageCreated(ChatMessageCreated<OperatorChatMessage>),
    /// A seller read the operator's messages, or the operator read a seller's.
    ChatMessagesRead(ChatMessagesRead),
}

/// Operator API subscriptions.
pub struct OperatorSubscription;

#[Subscription(name = "Subscription")]
impl OperatorSubscription {
    /// Events of every chat. `after`: the last cursor received, to resume without a
    /// gap (missed events are replayed first).
    async fn chat_events(&self, ctx: &Context<'_>, after: Option<String>) -> Result<impl Stream<Item = Result<OperatorChatEvent>>> {
        ensure_operator(ctx)?;
        chat_events(ctx, None, after, OperatorChatEvent::ChatMessageCreated, OperatorChatEvent::ChatMessagesRead).await
    }
}
