//! The Seller API (`/graphql/seller`): one seller's view of its single thread.

use super::errors::{bad_argument, internal, unauthenticated};
use super::types::{create_message, mark_read, message_page, ChatMessageCreatePayload, ChatMessageReadPayload, Connection, MessageFields, MessageView, TotalCount};
use crate::store::MessageRecord;
use std::sync::Arc;
use crate::domain::ids::{GlobalId, IdKind};
use crate::domain::paging::PageArgs;
use crate::domain::{Principal, Side};
use crate::service::ChatService;
use super::events::{chat_events, ChatMessageCreated, ChatMessagesRead};
use async_graphql::{Context, InputObject, Interface, MergedObject, Object, Result, Schema, Subscription, Union, ID};
use futures_util::Stream;

/// The Seller API schema.
pub type SellerSchema = Schema<SellerQuery, SellerMutation, SellerSubscription>;

/// The calling seller's row number (the HTTP layer only admits seller principals here).
fn caller(ctx: &Context<'_>) -> Result<i64> {
    match ctx.data_opt::<Principal>() {
        Some(Principal::Seller { seller_id }) => Ok(*seller_id),
        _ => Err(unauthenticated()),
    }
}

/// `ChatMessage` on the Seller API: the shared fields, with `sentBy` always null.
#[derive(MergedObject, Clone)]
#[graphql(name = "ChatMessage")]
pub struct SellerChatMessage(MessageFields);

impl SellerChatMessage {
    /// Global ID (for the `Node` interface).
    pub async fn id(&self, ctx: &Context<'_>) -> Result<ID> {
        self.0.id(ctx).await
    }
}

impl MessageView for SellerChatMessage {
    fn from_record(record: MessageRecord) -> Self {
        SellerChatMessage(MessageFields { record: Arc::new(record), reveal_sender: false })
    }
}

/// Objects a seller can fetch by global ID: only its own messages.
#[derive(Interface)]
#[graphql(name = "Node", field(name = "id", ty = "ID"))]
pub enum SellerNode {
    /// One of the caller's messages.
    ChatMessage(SellerChatMessage),
}

/// Seller API queries.
pub struct SellerQuery;

#[Object(name = "Query")]
impl SellerQuery {
    /// The caller's thread, newest first. `after` pages back in time.
    async fn chat_messages(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<SellerChatMessage>> {
        let args = PageArgs { first, after: after.as_deref(), last, before: before.as_deref() };
        let seller_id = caller(ctx)?;
        message_page(ctx.data_unchecked::<ChatService>(), seller_id, TotalCount::Thread(seller_id), args).await
    }

    /// Messages from the operator the caller has not read.
    async fn chat_unread_count(&self, ctx: &Context<'_>) -> Result<i64> {
        let chat = ctx.data_unchecked::<ChatService>().store().chat(caller(ctx)?).await.map_err(internal)?;
        Ok(chat.map_or(0, |c| c.unread_for(Side::Seller)))
    }

    /// The event feed's current position: read it before loading history, then pass it
    /// as `chatEvents(after:)` so nothing sent in between is missed.
    async fn chat_event_cursor(&self, ctx: &Context<'_>) -> Result<String> {
        caller(ctx)?;
        super::events::current_cursor(ctx).await
    }

    /// One of the caller's messages by global ID; null for anything else.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<SellerNode>> {
        let seller_id = caller(ctx)?;
        let id = GlobalId::decode(&id).map_err(|e| bad_argument("id", e))?;
        if id.kind != IdKind::ChatMessage {
            return Ok(None);
        }
        let message = ctx.data_unchecked::<ChatService>().store().message(id.number).await.map_err(internal)?;
        Ok(message
            .filter(|m| m.seller_id == seller_id)
            .map(|m| SellerNode::ChatMessage(SellerChatMessage::from_record(m))))
    }
}

/// Input of the seller's `chatMessageCreate`.
#[derive(InputObject)]
#[graphql(name = "ChatMessageCreateInput")]
pub struct SellerMessageCreateInput {
    /// The text; surrounding whitespace is trimmed.
    message: String,
    /// Repeat it to retry safely: the first message it created is returned.
    client_mutation_id: Option<String>,
}

/// Input of the seller's `chatMessageRead`.
#[derive(InputObject)]
#[graphql(name = "ChatMessageReadInput")]
pub struct SellerMessageReadInput {
    /// Whose messages to mark read: must be `"Admin"`.
    sent_by: String,
    /// Only messages up to and including this one.
    up_to: Option<ID>,
    /// Echoed back.
    client_mutation_id: Option<String>,
}

/// Seller API mutations.
pub struct SellerMutation;

#[Object(name = "Mutation")]
impl SellerMutation {
    /// Sends a message to the operator.
    async fn chat_message_create(
        &self,
        ctx: &Context<'_>,
        input: SellerMessageCreateInput,
    ) -> Result<ChatMessageCreatePayload<SellerChatMessage>> {
        create_message(ctx, caller(ctx)?, &input.message, input.client_mutation_id).await
    }

    /// Marks the operator's messages read.
    async fn chat_message_read(&self, ctx: &Context<'_>, input: SellerMessageReadInput) -> Result<ChatMessageReadPayload> {
        mark_read(ctx, caller(ctx)?, &input.sent_by, input.up_to.as_ref(), input.client_mutation_id).await
    }
}

/// An event in the caller's thread.
#[derive(Union)]
#[graphql(name = "ChatEvent")]
pub enum SellerChatEvent {
    /// A message was sent (by either side).
    ChatMessageCreated(ChatMessageCreated<SellerChatMessage>),
    /// The operator read the caller's messages, or the caller read the operator's.
    ChatMessagesRead(ChatMessagesRead),
}

/// Seller API subscriptions.
pub struct SellerSubscription;

#[Subscription(name = "Subscription")]
impl SellerSubscription {
    /// Events of the caller's thread. `after`: the last cursor received, to resume
    /// without a gap (missed events are replayed first).
    async fn chat_events(&self, ctx: &Context<'_>, after: Option<String>) -> Result<impl Stream<Item = Result<SellerChatEvent>>> {
        chat_events(ctx, Some(caller(ctx)?), after, SellerChatEvent::ChatMessageCreated, SellerChatEvent::ChatMessagesRead).await
    }
}
